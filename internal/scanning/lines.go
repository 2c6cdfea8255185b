package scanning

import (
	"context"

	"github.com/qrmfg/qrmfg/internal/qrmfg"
)

// Production lines. A scanning session may belong to a line, set when it
// opens. A user or API key restricted to lines (the actor's Lines) sees and
// touches only the sessions of those lines and of no line: to it the others
// do not exist (ENOTFOUND with the message of a missing one, so ids cannot
// be probed). Its scan listing leaves out the scans of another line's items
// and those made in another line's sessions (see ScanFilter.Lines).

// checkSession returns ENOTFOUND for a session the actor may not see.
func checkSession(ctx context.Context, sess Session) error {
	return qrmfg.CheckLine(ctx, sess.Line, "scanning session", sess.ID)
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
