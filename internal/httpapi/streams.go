package httpapi

import (
	"sync"

	"github.com/qrmfg/qrmfg/internal/qrmfg"
)

// StreamLimits bound the server-sent event streams open at once. Each open
// stream holds a connection, and so a file descriptor, for as long as the
// client listens.
type StreamLimits struct {
	// PerIdentity is how many streams one user or API key may hold (429 beyond).
	PerIdentity int
	// Total is how many streams the process holds (503 beyond).
	Total int
	// FDReserve is how many file descriptors under the open-file limit streams
	// never take: the health checks, logins and other requests, the database
	// and files need them.
	FDReserve int
	// OpenFiles is the process's open-file limit (RLIMIT_NOFILE; 0: unknown).
	OpenFiles uint64
}

// streamRetryAfter is the Retry-After of a refused stream, in seconds.
const streamRetryAfter = 5

// streamGate admits server-sent event streams within StreamLimits.
type streamGate struct {
	mu          sync.Mutex
	open        int
	per         map[string]int
	perIdentity int
	total       int
}

// newStreamGate returns the gate for l. The total is lowered to the
// open-file limit minus the reserve.
func newStreamGate(l StreamLimits) *streamGate {
	nofile := l.OpenFiles
	g := &streamGate{per: map[string]int{}, perIdentity: l.PerIdentity, total: l.Total}
	if g.perIdentity <= 0 {
		g.perIdentity = 16
	}
	if g.total <= 0 {
		g.total = 4096
	}
	if nofile > 0 {
		reserve := uint64(max(l.FDReserve, 0))
		room := 0
		if nofile > reserve {
			room = int(min(nofile-reserve, uint64(g.total)))
		}
		g.total = room
	}
	return g
}

// Open is the number of streams open now.
func (g *streamGate) Open() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.open
}

// Total is the number of streams the process admits at once.
func (g *streamGate) Total() int { return g.total }

// acquire admits one stream of identity, or returns the ERATELIMITED error
// (the identity holds its share) or the EUNAVAILABLE one (the process holds
// all it may). release must be called when the stream ends.
func (g *streamGate) acquire(identity string) (release func(), err error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.per[identity] >= g.perIdentity {
		return nil, qrmfg.Errorf(qrmfg.ERATELIMITED, "%d event streams are open for this user or API key, the most allowed at once; close one first", g.perIdentity).
			WithDetail("retry_after_seconds", streamRetryAfter).WithDetail("limit", g.perIdentity)
	}
	if g.open >= g.total {
		return nil, qrmfg.Errorf(qrmfg.EUNAVAILABLE, "the server holds the most event streams it may (%d); try again later", g.total).
			WithDetail("retry_after_seconds", streamRetryAfter)
	}
	g.open++
	g.per[identity]++
	var once sync.Once
	return func() {
		once.Do(func() {
			g.mu.Lock()
			defer g.mu.Unlock()
			g.open--
			if g.per[identity]--; g.per[identity] <= 0 {
				delete(g.per, identity)
			}
		})
	}, nil
}
