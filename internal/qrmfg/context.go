package qrmfg

import (
	"context"
	"time"
)

// Actor is who performs an operation: a user, an API key, or the system itself.
type Actor struct {
	Kind  string   `json:"kind"` // "user", "api_key", "system"
	ID    string   `json:"id"`
	Name  string   `json:"name"`
	Role  string   `json:"role,omitempty"`
	Lines []string `json:"lines,omitempty"` // production lines the actor is restricted to; empty means all
}

// SystemActor is the actor for work qrmfg does on its own (relays, dispatchers).
var SystemActor = Actor{Kind: "system", ID: "system", Name: "system"}

type ctxKey int

const (
	actorKey ctxKey = iota
	requestIDKey
	traceParentKey
)

// WithActor returns a context that carries the acting identity.
func WithActor(ctx context.Context, a Actor) context.Context {
	return context.WithValue(ctx, actorKey, a)
}

// ActorFrom returns the actor in ctx, or SystemActor when none is set.
func ActorFrom(ctx context.Context) Actor {
	if a, ok := ctx.Value(actorKey).(Actor); ok {
		return a
	}
	return SystemActor
}

// WithRequestID returns a context that carries the request's correlation id.
func WithRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, requestIDKey, id)
}

// RequestID returns the correlation id in ctx, or "".
func RequestID(ctx context.Context) string {
	s, _ := ctx.Value(requestIDKey).(string)
	return s
}

// WithTraceParent returns a context that carries a W3C traceparent value.
func WithTraceParent(ctx context.Context, tp string) context.Context {
	return context.WithValue(ctx, traceParentKey, tp)
}

// TraceParent returns the traceparent in ctx, or "".
func TraceParent(ctx context.Context) string {
	s, _ := ctx.Value(traceParentKey).(string)
	return s
}

// Clock tells the time. Services take one so tests can fix it.
type Clock interface {
	Now() time.Time
}

// SystemClock is the wall clock, in UTC.
type SystemClock struct{}

// Now returns the current time in UTC, truncated to microseconds so that it
// survives a round trip through PostgreSQL unchanged.
func (SystemClock) Now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }
