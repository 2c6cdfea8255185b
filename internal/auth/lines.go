package auth

import (
	"context"
	"slices"
	"strings"

	"github.com/qrmfg/qrmfg/internal/qrmfg"
)

// Production lines of accounts. An actor restricted to lines (see
// qrmfg.LineScope) grants only what it holds itself: the users it creates or
// changes and the API keys it makes are restricted to some of its own lines,
// never to none (which would mean all). Users and keys that reach beyond its
// lines (every unrestricted account among them) do not exist for it, so it
// can neither reset their passwords, disable them nor list them.

// withinScope reports whether an account restricted to lines stays inside
// the lines of the actor in ctx.
func withinScope(ctx context.Context, lines []string) bool {
	scope := qrmfg.LineScope(ctx)
	if len(scope) == 0 {
		return true
	}
	if len(lines) == 0 {
		return false
	}
	for _, l := range lines {
		if !slices.Contains(scope, l) {
			return false
		}
	}
	return true
}

// checkGrant refuses lines beyond the lines of the actor in ctx (EFORBIDDEN
// naming the field lines).
func checkGrant(ctx context.Context, lines []string) error {
	qrmfg.NoteLines(ctx, lines...)
	if withinScope(ctx, lines) {
		return nil
	}
	scope := strings.Join(qrmfg.LineScope(ctx), ", ")
	if len(lines) == 0 {
		return qrmfg.Errorf(qrmfg.EFORBIDDEN, "lines is required: you may grant only your own lines (%s), not every line", scope).
			WithDetail("field", "lines")
	}
	return qrmfg.Errorf(qrmfg.EFORBIDDEN, "you may not grant lines %s; your lines are %s", strings.Join(lines, ", "), scope).
		WithDetail("field", "lines")
}

// managedUser returns the user with id when the actor in ctx may manage it
// and ENOTFOUND, as for a missing user, otherwise.
func (s *Service) managedUser(ctx context.Context, id string) (User, error) {
	u, err := s.store.UserByID(ctx, id)
	if err != nil {
		return User{}, err
	}
	qrmfg.NoteLines(ctx, u.Lines...)
	if !withinScope(ctx, u.Lines) {
		return User{}, qrmfg.Errorf(qrmfg.ENOTFOUND, "user %s does not exist", id)
	}
	return u, nil
}
