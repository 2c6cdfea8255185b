package scanning

import (
	"context"
	"slices"
	"strings"

	"github.com/qrmfg/qrmfg/internal/inventory"
	"github.com/qrmfg/qrmfg/internal/qrmfg"
)

// Production lines. A scanning session may belong to a line, set when it
// opens. A user or API key restricted to lines (the actor's Lines) sees and
// touches only the sessions of those lines and of no line: to it the others
// do not exist (ENOTFOUND with the message of a missing one, so ids cannot
// be probed). Its scan listing leaves out the scans of another line's items
// and those made in another line's sessions (see ScanFilter.Lines).

// lineScope returns the lines the acting identity is restricted to; nil: all.
func lineScope(ctx context.Context) []string { return qrmfg.ActorFrom(ctx).Lines }

func sessionNotFound(id string) error {
	return qrmfg.Errorf(qrmfg.ENOTFOUND, "scanning session %s does not exist", id)
}

// checkSession returns ENOTFOUND for a session the actor may not see.
func checkSession(ctx context.Context, sess Session) error {
	if inventory.Visible(ctx, sess.Line) {
		return nil
	}
	return sessionNotFound(sess.ID)
}

// getSession reads a session the actor may see.
func (s *Service) getSession(ctx context.Context, id string) (Session, error) {
	sess, err := s.store.GetSession(ctx, id)
	if err == nil {
		err = checkSession(ctx, sess)
	}
	if err != nil {
		return Session{}, err
	}
	return sess, nil
}

// sessionLine decides the line of a new session: the requested one, which a
// restricted actor must hold; a restricted actor with one line gets it by
// default.
func sessionLine(ctx context.Context, line string) (string, error) {
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
		return "", qrmfg.Errorf(qrmfg.EFORBIDDEN, "you may not open a session on line %q; your lines are %s", line, strings.Join(scope, ", ")).
			WithDetail("field", "line")
	}
	return line, nil
}
