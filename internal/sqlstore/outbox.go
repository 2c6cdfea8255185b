package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/qrmfg/qrmfg/internal/idempotency"
	"github.com/qrmfg/qrmfg/internal/qrmfg"
)

// emit writes an event to the outbox in the transaction and, after commit,
// wakes the relay.
func (t *txn) emit(ctx context.Context, ev qrmfg.Event) error {
	if ev.ID == "" {
		ev.ID = qrmfg.NewID()
	}
	if ev.Time.IsZero() {
		ev.Time = t.now
	}
	q := `INSERT INTO outbox (id, type, source, subject, time, data, traceparent, correlation_id, actor_kind, actor_id, actor_name, lines)
		VALUES (?, ?, ?, ?, ?, ` + t.db.jsonb() + `, ?, ?, ?, ?, ?, ?)`
	_, err := t.exec(ctx, q, ev.ID, ev.Type, ev.Source, ev.Subject, t.db.ts(ev.Time), jsonValue(ev.Data), ev.TraceParent, ev.CorrelationID,
		ev.ActorKind, ev.ActorID, ev.ActorName, listJSON(ev.Lines))
	if err != nil {
		return fmt.Errorf("write event %s to the outbox: %w", ev.Type, err)
	}
	if n := t.db.notify; n != nil && len(t.afterCommit) == 0 {
		t.afterCommit = append(t.afterCommit, n)
	}
	return nil
}

// SetOutboxNotifier registers a function called after every commit that
// wrote to the outbox (the relay's wake-up).
func (db *DB) SetOutboxNotifier(fn func()) { db.notify = fn }

// OutboxEvent is an event waiting in the outbox.
type OutboxEvent struct {
	Seq      int64
	Attempts int
	qrmfg.Event
}

// Outbox is the relay's view of the outbox table.
type Outbox struct{ db *DB }

// Outbox returns the outbox on db.
func (db *DB) Outbox() *Outbox { return &Outbox{db: db} }

// MaxAttempts is how often the relay tries an event before leaving it in the
// outbox as a dead letter (unsent, with its last error) for an operator.
const MaxAttempts = 20

// Unsent returns up to limit unsent events in commit order, skipping dead letters.
func (o *Outbox) Unsent(ctx context.Context, limit int) ([]OutboxEvent, error) {
	rows, err := o.db.reader().query(ctx, `SELECT seq, attempts, id, type, source, subject, time, data, traceparent, correlation_id,
		actor_kind, actor_id, actor_name, lines FROM outbox WHERE sent_at IS NULL AND attempts < ? ORDER BY seq LIMIT ?`, MaxAttempts, limit)
	if err != nil {
		return nil, fmt.Errorf("read outbox: %w", err)
	}
	defer rows.Close()
	var out []OutboxEvent
	for rows.Next() {
		var e OutboxEvent
		var at dbTime
		var data jsonText
		var lines string
		if err := rows.Scan(&e.Seq, &e.Attempts, &e.ID, &e.Type, &e.Source, &e.Subject, &at, &data, &e.TraceParent, &e.CorrelationID,
			&e.ActorKind, &e.ActorID, &e.ActorName, &lines); err != nil {
			return nil, fmt.Errorf("read outbox: %w", err)
		}
		if e.Lines, err = parseList(lines); err != nil {
			return nil, fmt.Errorf("read outbox: %w", err)
		}
		e.Time, e.Data, e.SpecVersion, e.DataContentType = at.Time, []byte(data), "1.0", "application/json"
		out = append(out, e)
	}
	return out, mapError(rows.Err())
}

// MarkSent records that events were published.
func (o *Outbox) MarkSent(ctx context.Context, seqs []int64) error {
	if len(seqs) == 0 {
		return nil
	}
	return o.db.inTx(ctx, func(t *txn) error {
		for _, s := range seqs {
			if _, err := t.exec(ctx, `UPDATE outbox SET sent_at = ?, attempts = attempts + 1 WHERE seq = ?`, o.db.ts(t.now), s); err != nil {
				return fmt.Errorf("mark event sent: %w", err)
			}
		}
		return nil
	})
}

// MarkFailed records a failed publish attempt.
func (o *Outbox) MarkFailed(ctx context.Context, seq int64, cause error) error {
	msg := cause.Error()
	if len(msg) > 500 {
		msg = msg[:500]
	}
	return o.db.inTx(ctx, func(t *txn) error {
		_, err := t.exec(ctx, `UPDATE outbox SET attempts = attempts + 1, last_error = ? WHERE seq = ?`, msg, seq)
		return err
	})
}

// Prune deletes events sent before cutoff and returns how many it deleted.
func (o *Outbox) Prune(ctx context.Context, cutoff time.Time) (int64, error) {
	var n int64
	err := o.db.inTx(ctx, func(t *txn) error {
		res, err := t.exec(ctx, `DELETE FROM outbox WHERE sent_at IS NOT NULL AND sent_at < ?`, o.db.ts(cutoff))
		if err != nil {
			return err
		}
		n, _ = res.RowsAffected()
		return nil
	})
	return n, err
}

// Pending counts unsent events, dead letters included.
func (o *Outbox) Pending(ctx context.Context) (int64, error) {
	var n int64
	err := o.db.reader().queryRow(ctx, `SELECT count(*) FROM outbox WHERE sent_at IS NULL`).Scan(&n)
	return n, mapError(err)
}

// Backlog describes the unsent events of the outbox.
type Backlog struct {
	// Pending counts unsent events, dead letters included.
	Pending int64
	// DeadLetters counts the events the relay gave up on (MaxAttempts).
	DeadLetters int64
	// Oldest is the time of the oldest unsent event that is not a dead
	// letter; zero when there is none.
	Oldest time.Time
}

// Backlog reports what waits in the outbox.
func (o *Outbox) Backlog(ctx context.Context) (Backlog, error) {
	var b Backlog
	r := o.db.reader()
	var dead sql.NullInt64
	if err := r.queryRow(ctx, `SELECT count(*), sum(CASE WHEN attempts >= ? THEN 1 ELSE 0 END) FROM outbox WHERE sent_at IS NULL`,
		MaxAttempts).Scan(&b.Pending, &dead); err != nil {
		return b, mapError(err)
	}
	b.DeadLetters = dead.Int64
	if b.Pending == b.DeadLetters {
		return b, nil
	}
	var at dbTime
	err := r.queryRow(ctx, `SELECT time FROM outbox WHERE sent_at IS NULL AND attempts < ? ORDER BY seq LIMIT 1`, MaxAttempts).Scan(&at)
	if errors.Is(err, sql.ErrNoRows) { // sent between the two reads
		return b, nil
	}
	b.Oldest = at.Time
	return b, mapError(err)
}

// Idempotency is the store of idempotency keys.
type Idempotency struct{ db *DB }

var _ idempotency.Store = (*Idempotency)(nil)

// Idempotency returns the idempotency key store on db.
func (db *DB) Idempotency() *Idempotency { return &Idempotency{db: db} }

// Claim implements idempotency.Store.
func (s *Idempotency) Claim(ctx context.Context, scope, key, hash string, lease time.Duration) (*idempotency.Claim, *idempotency.Record, error) {
	token := qrmfg.NewID()
	var rec *idempotency.Record
	err := s.db.inTx(ctx, func(t *txn) error {
		var state, storedHash string
		var status int
		var resp string
		var created dbTime
		err := t.queryRow(ctx, `SELECT state, request_hash, status_code, response, created_at FROM idempotency_keys
			WHERE scope = ? AND key = ?`+s.db.forUpdate(), scope, key).Scan(&state, &storedHash, &status, &resp, &created)
		switch {
		case err == nil:
			if storedHash != hash {
				return qrmfg.FieldError("Idempotency-Key", "Idempotency-Key %q was already used with a different request body", key)
			}
			if state == "done" {
				rec = &idempotency.Record{Status: status, Response: []byte(resp)}
				return nil
			}
			if t.now.Sub(created.Time) < lease {
				return qrmfg.Errorf(qrmfg.ECONFLICT, "a request with Idempotency-Key %q is still running; retry later", key)
			}
			_, err = t.exec(ctx, `UPDATE idempotency_keys SET response = ?, created_at = ? WHERE scope = ? AND key = ?`,
				token, s.db.ts(t.now), scope, key)
			return err
		case isNoRows(err):
			res, err := t.exec(ctx, `INSERT INTO idempotency_keys (scope, key, request_hash, state, response, created_at)
				VALUES (?, ?, ?, 'running', ?, ?) ON CONFLICT (scope, key) DO NOTHING`, scope, key, hash, token, s.db.ts(t.now))
			if err != nil {
				return err
			}
			if n, _ := res.RowsAffected(); n == 0 {
				// Two first requests raced: the other one holds the key now.
				return qrmfg.Errorf(qrmfg.ECONFLICT, "a request with Idempotency-Key %q is still running; retry later", key)
			}
			return nil
		default:
			return mapError(err)
		}
	})
	if err != nil {
		return nil, nil, err
	}
	if rec != nil {
		return nil, rec, nil
	}
	return &idempotency.Claim{Scope: scope, Key: key, Token: token}, nil, nil
}

// Release implements idempotency.Store.
func (s *Idempotency) Release(ctx context.Context, c *idempotency.Claim) error {
	return s.db.inTx(ctx, func(t *txn) error {
		_, err := t.exec(ctx, `DELETE FROM idempotency_keys WHERE scope = ? AND key = ? AND state = 'running' AND response = ?`,
			c.Scope, c.Key, c.Token)
		return err
	})
}

// completeClaim stores a finished request's answer in the same transaction
// as its work. The running claim keeps its token in the response column.
func (t *txn) completeClaim(ctx context.Context, c *idempotency.Claim, status int, response []byte) error {
	res, err := t.exec(ctx, `UPDATE idempotency_keys SET state = 'done', status_code = ?, response = ?
		WHERE scope = ? AND key = ? AND state = 'running' AND response = ?`, status, string(response), c.Scope, c.Key, c.Token)
	if err != nil {
		return fmt.Errorf("complete idempotency key: %w", err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return qrmfg.Errorf(qrmfg.ECONFLICT, "Idempotency-Key %q was taken over by another request", c.Key)
	}
	return nil
}

// MarkProcessed records that consumer handled the event, in its own
// transaction, and reports whether it was new. Consumers that change state
// call ProcessOnce instead, which does both in one transaction.
func (db *DB) ProcessOnce(ctx context.Context, consumer, eventID string, fn func(ctx context.Context) error) (bool, error) {
	var fresh bool
	err := db.inTx(ctx, func(t *txn) error {
		res, err := t.exec(ctx, `INSERT INTO processed_events (consumer, event_id, handled_at) VALUES (?, ?, ?)
			ON CONFLICT (consumer, event_id) DO NOTHING`, consumer, eventID, db.ts(t.now))
		if err != nil {
			return err
		}
		n, _ := res.RowsAffected()
		fresh = n == 1
		return nil
	})
	if err != nil || !fresh {
		return false, err
	}
	if err := fn(ctx); err != nil {
		// Forget the mark so the redelivery is handled again.
		_ = db.inTx(context.WithoutCancel(ctx), func(t *txn) error {
			_, err := t.exec(ctx, `DELETE FROM processed_events WHERE consumer = ? AND event_id = ?`, consumer, eventID)
			return err
		})
		return false, err
	}
	return true, nil
}

func isNoRows(err error) bool { return errors.Is(err, sql.ErrNoRows) }
