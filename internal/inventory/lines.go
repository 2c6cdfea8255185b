package inventory

import (
	"context"
	"slices"
	"strings"

	"github.com/qrmfg/qrmfg/internal/qrmfg"
)

// Production lines. An item (and its batch) may belong to a line; a user or
// API key restricted to lines (the actor's Lines) sees and touches only the
// items of those lines and of no line. To a restricted caller an item of
// another line does not exist: ENOTFOUND, so ids cannot be probed.

// lineScope returns the lines the acting identity is restricted to; nil: all.
func lineScope(ctx context.Context) []string { return qrmfg.ActorFrom(ctx).Lines }

// Visible reports whether the acting identity may see an object of line.
func Visible(ctx context.Context, line string) bool {
	scope := lineScope(ctx)
	return len(scope) == 0 || line == "" || slices.Contains(scope, line)
}

// checkVisible returns ENOTFOUND for an item the actor may not see.
func checkVisible(ctx context.Context, it Item) error {
	if Visible(ctx, it.Line) {
		return nil
	}
	return qrmfg.Errorf(qrmfg.ENOTFOUND, "item %s does not exist", it.UID)
}

// allocationLine decides the line of a new batch: the requested one, which a
// restricted actor must hold; a restricted actor with one line gets it by
// default.
func allocationLine(ctx context.Context, line string) (string, error) {
	line = strings.TrimSpace(line)
	if len(line) > 64 {
		return "", qrmfg.FieldError("line", "line must be at most 64 characters")
	}
	scope := lineScope(ctx)
	if len(scope) == 0 {
		return line, nil
	}
	if line == "" {
		if len(scope) == 1 {
			return scope[0], nil
		}
		return "", qrmfg.FieldError("line", "line is required: you work on lines %s", strings.Join(scope, ", "))
	}
	if !slices.Contains(scope, line) {
		return "", qrmfg.Errorf(qrmfg.EFORBIDDEN, "you may not allocate on line %q; your lines are %s", line, strings.Join(scope, ", ")).
			WithDetail("field", "line")
	}
	return line, nil
}
