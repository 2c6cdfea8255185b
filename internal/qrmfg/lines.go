package qrmfg

import (
	"context"
	"slices"
	"strings"
	"sync"
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
// The line is noted for the audit trail (see ConcernedLines).
func CheckLine(ctx context.Context, line, what, id string) error {
	NoteLines(ctx, line)
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
	NoteLines(ctx, line)
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

// The audit trail. An operation concerns the lines of its actor (when
// restricted) and the lines of the objects it checked (CheckLine) or created
// (NewObjectLine). The gateway opens a note per request (WithLineNotes); the
// audit entries and events of the request carry ConcernedLines, and an actor
// restricted to lines reads only entries whose lines are all among its own.

type lineNotes struct {
	mu    sync.Mutex
	lines []string
}

type lineNotesKey struct{}

// WithLineNotes returns a context in which CheckLine and NewObjectLine note
// the lines of the objects an operation touches.
func WithLineNotes(ctx context.Context) context.Context {
	return context.WithValue(ctx, lineNotesKey{}, &lineNotes{})
}

// NoteLines notes lines the operation in ctx concerns (an account granted
// them, say) for its audit entry; without WithLineNotes it does nothing.
func NoteLines(ctx context.Context, lines ...string) {
	n, ok := ctx.Value(lineNotesKey{}).(*lineNotes)
	if !ok {
		return
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, l := range lines {
		if l != "" && !slices.Contains(n.lines, l) {
			n.lines = append(n.lines, l)
		}
	}
}

// ConcernedLines returns the lines the operation in ctx concerns, sorted: the
// actor's lines and the lines noted so far. Empty: no line.
func ConcernedLines(ctx context.Context) []string {
	out := slices.Clone(LineScope(ctx))
	if n, ok := ctx.Value(lineNotesKey{}).(*lineNotes); ok {
		n.mu.Lock()
		out = append(out, n.lines...)
		n.mu.Unlock()
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// LinesVisible reports whether the actor in ctx may read a record that
// concerns lines: every one of them is among its own (a record of no line
// is visible to everyone).
func LinesVisible(ctx context.Context, lines []string) bool {
	for _, l := range lines {
		if !LineVisible(ctx, l) {
			return false
		}
	}
	return true
}
