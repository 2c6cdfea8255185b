package qrmfg

import (
	"context"
	"slices"
	"strings"
)

// Production lines. Items, machines, engraving jobs and scanning sessions
// may belong to a production line. An actor restricted to lines (Actor.Lines)
// sees and touches only objects of those lines and objects of no line; the
// services answer ENOTFOUND for the others, with the message of a missing
// object, so that ids cannot be probed.

// LineScope returns the lines the actor in ctx is restricted to; nil: all.
func LineScope(ctx context.Context) []string { return ActorFrom(ctx).Lines }

// LineVisible reports whether the actor in ctx may see an object of line.
func LineVisible(ctx context.Context, line string) bool {
	scope := LineScope(ctx)
	return len(scope) == 0 || line == "" || slices.Contains(scope, line)
}

// CheckLine returns ENOTFOUND, with the message of a missing object ("what
// id does not exist"), when the actor in ctx may not see an object of line.
func CheckLine(ctx context.Context, line, what, id string) error {
	if LineVisible(ctx, line) {
		return nil
	}
	return Errorf(ENOTFOUND, "%s %s does not exist", what, id)
}

// NewObjectLine decides the line of an object the actor in ctx creates: the
// requested one, which a restricted actor must hold; a restricted actor with
// one line gets it by default. what completes "you may not … line X" (for
// example "register a machine on").
func NewObjectLine(ctx context.Context, line, what string) (string, error) {
	line = strings.TrimSpace(line)
	if len(line) > 64 {
		return "", FieldError("line", "line must be at most 64 characters")
	}
	scope := LineScope(ctx)
	if len(scope) == 0 {
		return line, nil
	}
	if line == "" {
		if len(scope) == 1 {
			return scope[0], nil
		}
		return "", FieldError("line", "line is required: you work on lines %s", strings.Join(scope, ", "))
	}
	if !slices.Contains(scope, line) {
		return "", Errorf(EFORBIDDEN, "you may not %s line %q; your lines are %s", what, line, strings.Join(scope, ", ")).
			WithDetail("field", "line")
	}
	return line, nil
}
