package audit

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/qrmfg/qrmfg/internal/qrmfg"
)

// Committed changes. Every state change of qrmfg writes an event to the
// outbox in the same transaction as the change; the log follows all of them
// (consumer EventsConsumer, pattern EventsPattern) and appends one entry per
// event: who (the event's actor), what (its type), which object (its
// subject), the change (its data), the request id. Delivery is at least
// once; EventStore appends each event once. So a change that committed is in
// the log even when the process died before the gateway wrote its own record
// of the request.

// EventsConsumer is the consumer name under which the log follows events.
const EventsConsumer = "audit.changes"

// EventsPattern matches every event.
const EventsPattern = "#"

// EventStore appends an entry for an event once.
type EventStore interface {
	// AppendForEvent appends e and marks the event handled by consumer in
	// one transaction; it returns the entry as stored, or fresh = false when
	// an earlier delivery appended it.
	AppendForEvent(ctx context.Context, consumer, eventID string, e Entry) (got Entry, fresh bool, err error)
}

// EventEntry is the entry that records a committed change.
func EventEntry(ev qrmfg.Event) Entry {
	actor := Actor{Kind: ev.ActorKind, ID: ev.ActorID, Name: ev.ActorName}
	if actor.Kind == "" {
		actor = Actor{Kind: qrmfg.SystemActor.Kind, ID: qrmfg.SystemActor.ID, Name: qrmfg.SystemActor.Name}
	}
	objectType := ev.Type // "inventory.item.status_changed" → "inventory.item"
	if i := strings.LastIndexByte(ev.Type, '.'); i > 0 {
		objectType = ev.Type[:i]
	}
	return Entry{Time: ev.Time, Actor: actor, Action: ev.Type, ObjectType: objectType, ObjectID: ev.Subject,
		After: ev.Data, RequestID: ev.CorrelationID, Outcome: Success, Lines: ev.Lines}
}

// HandleEvent is the bus handler that records a committed change. Events of
// the types in skip are not recorded (scans: a live camera records one per
// frame, and the scans table is their record).
func (l *Log) HandleEvent(store EventStore, skip ...string) qrmfg.Handler {
	return func(ctx context.Context, ev qrmfg.Event) error {
		if slices.Contains(skip, ev.Type) {
			return nil
		}
		e, err := Normalize(EventEntry(ev))
		if err != nil {
			return fmt.Errorf("audit entry for event %s: %w", ev.ID, err)
		}
		got, fresh, err := store.AppendForEvent(ctx, EventsConsumer, ev.ID, e)
		if err != nil {
			return fmt.Errorf("audit event %s (%s): %w", ev.ID, ev.Type, err)
		}
		if fresh {
			l.checkpointIfDue(ctx, got.Seq)
		}
		return nil
	}
}
