package qrmfg

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"time"
)

// Event is the envelope of every event qrmfg publishes. The attribute names are
// those of CloudEvents 1.0 (id, source, type, subject, time, data); the extension
// attributes carry the trace context and the request's correlation id.
type Event struct {
	ID              string          `json:"id"`
	Source          string          `json:"source"`
	SpecVersion     string          `json:"specversion"`
	Type            string          `json:"type"`
	Subject         string          `json:"subject,omitempty"`
	Time            time.Time       `json:"time"`
	DataContentType string          `json:"datacontenttype,omitempty"`
	Data            json.RawMessage `json:"data,omitempty"`
	// TraceParent is the W3C trace context of the request that caused the event.
	TraceParent string `json:"traceparent,omitempty"`
	// CorrelationID is the request id of the request that caused the event.
	CorrelationID string `json:"correlationid,omitempty"`
	// ActorKind, ActorID and ActorName say who caused the event (the
	// request's user or API key, or the system), for the audit log.
	ActorKind string `json:"actorkind,omitempty"`
	ActorID   string `json:"actorid,omitempty"`
	ActorName string `json:"actorname,omitempty"`
	// Lines are the production lines the event concerns (see
	// ConcernedLines); empty: none.
	Lines []string `json:"lines,omitempty"`
}

// NewEvent builds an event with its data marshalled as JSON. ID and Time are
// filled by the store that writes it to the outbox when left empty.
func NewEvent(ctx context.Context, source, typ, subject string, data any) (Event, error) {
	raw, err := json.Marshal(data)
	if err != nil {
		return Event{}, &Error{Code: EINTERNAL, Message: "cannot encode event data", Err: err}
	}
	a := ActorFrom(ctx)
	return Event{
		ActorKind:       a.Kind,
		ActorID:         a.ID,
		ActorName:       a.Name,
		Lines:           ConcernedLines(ctx),
		Source:          source,
		SpecVersion:     "1.0",
		Type:            typ,
		Subject:         subject,
		DataContentType: "application/json",
		Data:            raw,
		CorrelationID:   RequestID(ctx),
		TraceParent:     TraceParent(ctx),
	}, nil
}

// Handler handles one delivered event. Delivery is at least once: a handler
// must be idempotent (remember the event ids it has handled).
type Handler func(ctx context.Context, ev Event) error

// Bus moves committed events from the outbox to their subscribers. The
// in-process bus and the RabbitMQ adapter both implement it.
type Bus interface {
	// Publish delivers ev to every subscriber whose pattern matches ev.Type.
	// It returns when the bus has accepted the event (for a broker: confirmed).
	Publish(ctx context.Context, ev Event) error
	// Subscribe registers h under a durable consumer name for event types that
	// match pattern ("inventory.item.*", "#" for all). Events published after
	// the call are delivered.
	Subscribe(name, pattern string, h Handler) error
	// Close stops delivery and waits for running handlers.
	Close() error
}

// NewID returns a random, time-ordered identifier (a UUIDv7 in text form),
// used for events, batches and other records that need a unique id.
func NewID() string {
	var b [16]byte
	ms := uint64(time.Now().UnixMilli())
	b[0], b[1], b[2], b[3], b[4], b[5] = byte(ms>>40), byte(ms>>32), byte(ms>>24), byte(ms>>16), byte(ms>>8), byte(ms)
	if _, err := rand.Read(b[6:]); err != nil {
		panic("crypto/rand failed: " + err.Error()) // never happens on supported platforms
	}
	b[6] = b[6]&0x0f | 0x70
	b[8] = b[8]&0x3f | 0x80
	const hexd = "0123456789abcdef"
	out := make([]byte, 36)
	j := 0
	for i, c := range b {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			out[j] = '-'
			j++
		}
		out[j], out[j+1] = hexd[c>>4], hexd[c&15]
		j += 2
	}
	return string(out)
}
