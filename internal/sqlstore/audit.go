package sqlstore

import (
	"context"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/qrmfg/qrmfg/internal/audit"
	"github.com/qrmfg/qrmfg/internal/qrmfg"
)

// AuditStore implements audit.Store.
type AuditStore struct{ db *DB }

var _ audit.Store = (*AuditStore)(nil)

// Audit returns the audit log store.
func (db *DB) Audit() *AuditStore { return &AuditStore{db: db} }

const auditColumns = `seq, time, actor_kind, actor_id, actor_name, action, object_type, object_id, before, after, request_id, outcome, prev_hash, hash, lines`

func nullJSON(b json.RawMessage) any {
	if len(b) == 0 {
		return nil
	}
	return string(b)
}

// Append implements audit.Store. The head row is read FOR UPDATE (PostgreSQL)
// or under the single writer (SQLite), so appends are serialised and each
// links to the one before.
func (s *AuditStore) Append(ctx context.Context, e audit.Entry) (audit.Entry, error) {
	err := s.db.inTx(ctx, func(t *txn) error {
		var err error
		e, err = s.appendTx(ctx, t, e)
		return err
	})
	if err != nil {
		return audit.Entry{}, err
	}
	return e, nil
}

// AppendForEvent implements audit.EventStore: the entry is appended and the
// event marked handled by consumer in one transaction, so a redelivered
// event is appended once.
func (s *AuditStore) AppendForEvent(ctx context.Context, consumer, eventID string, e audit.Entry) (audit.Entry, bool, error) {
	fresh := false
	err := s.db.inTx(ctx, func(t *txn) error {
		res, err := t.exec(ctx, `INSERT INTO processed_events (consumer, event_id, handled_at) VALUES (?, ?, ?)
			ON CONFLICT (consumer, event_id) DO NOTHING`, consumer, eventID, s.db.ts(t.now))
		if err != nil {
			return fmt.Errorf("mark event %s handled: %w", eventID, err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return nil // appended by an earlier delivery
		}
		fresh = true
		e, err = s.appendTx(ctx, t, e)
		return err
	})
	if err != nil {
		return audit.Entry{}, false, err
	}
	return e, fresh, nil
}

func (s *AuditStore) appendTx(ctx context.Context, t *txn, e audit.Entry) (audit.Entry, error) {
	var seq int64
	var head string
	if err := t.queryRow(ctx, `SELECT seq, hash FROM audit_head WHERE id = 1`+s.db.forUpdate()).Scan(&seq, &head); err != nil {
		return e, fmt.Errorf("read audit head: %w", mapError(err))
	}
	prev, err := hex.DecodeString(head)
	if err != nil {
		return e, fmt.Errorf("audit head hash is not hex: %w", err)
	}
	if e.Time.IsZero() {
		e.Time = t.now
	}
	e.Seq, e.PrevHash = seq+1, prev
	e.Hash = e.ComputeHash()
	if _, err := t.exec(ctx, `INSERT INTO audit_entries (`+auditColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		e.Seq, s.db.ts(e.Time), e.Actor.Kind, e.Actor.ID, e.Actor.Name, e.Action, e.ObjectType, e.ObjectID,
		nullJSON(e.Before), nullJSON(e.After), e.RequestID, string(e.Outcome), e.PrevHash.String(), e.Hash.String(), listJSON(e.Lines)); err != nil {
		return e, fmt.Errorf("insert audit entry: %w", err)
	}
	if _, err := t.exec(ctx, `UPDATE audit_head SET seq = ?, hash = ? WHERE id = 1`, e.Seq, e.Hash.String()); err != nil {
		return e, fmt.Errorf("advance audit head: %w", err)
	}
	return e, nil
}

func scanAudit(row interface{ Scan(...any) error }) (audit.Entry, error) {
	var e audit.Entry
	var tm dbTime
	var before, after sql.NullString
	var outcome, prev, hash, lines string
	if err := row.Scan(&e.Seq, &tm, &e.Actor.Kind, &e.Actor.ID, &e.Actor.Name, &e.Action, &e.ObjectType, &e.ObjectID,
		&before, &after, &e.RequestID, &outcome, &prev, &hash, &lines); err != nil {
		return audit.Entry{}, err
	}
	// Lines that do not decode are kept as one line, so that verification
	// reports the row instead of failing to read it.
	if l, err := parseList(lines); err == nil {
		e.Lines = l
	} else {
		e.Lines = []string{lines}
	}
	e.Time, e.Outcome = tm.Time, audit.Outcome(outcome)
	if before.Valid {
		e.Before = json.RawMessage(before.String)
	}
	if after.Valid {
		e.After = json.RawMessage(after.String)
	}
	// A hash that is not hex is kept as its raw bytes so that verification
	// reports the row instead of failing to read it.
	var err error
	if e.PrevHash, err = hex.DecodeString(prev); err != nil {
		e.PrevHash = []byte(prev)
	}
	if e.Hash, err = hex.DecodeString(hash); err != nil {
		e.Hash = []byte(hash)
	}
	return e, nil
}

// auditReader reads the log through one conn: the reader pool, or a
// snapshot transaction.
type auditReader struct {
	db *DB
	c  conn
}

// Snapshot implements audit.Store: a read-only REPEATABLE READ transaction
// on PostgreSQL, a read transaction (one WAL snapshot) on SQLite.
func (s *AuditStore) Snapshot(ctx context.Context, fn func(audit.Reader) error) error {
	var opts *sql.TxOptions
	if s.db.dialect == Postgres {
		opts = &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true}
	}
	tx, err := s.db.read.BeginTx(ctx, opts)
	if err != nil {
		return fmt.Errorf("begin audit snapshot: %w", mapError(err))
	}
	defer func() { _ = tx.Rollback() }()
	return fn(auditReader{db: s.db, c: conn{db: s.db, q: tx}})
}

func (s *AuditStore) r() auditReader { return auditReader{db: s.db, c: s.db.reader()} }

// Scan implements audit.Store.
func (s *AuditStore) Scan(ctx context.Context, f audit.Filter, fn func(audit.Entry) error) error {
	return s.r().Scan(ctx, f, fn)
}

// Head implements audit.Store.
func (s *AuditStore) Head(ctx context.Context) (int64, audit.HashValue, error) {
	return s.r().Head(ctx)
}

// Entry implements audit.Store.
func (s *AuditStore) Entry(ctx context.Context, seq int64) (audit.Entry, error) {
	return s.r().Entry(ctx, seq)
}

// Scan implements audit.Reader.
func (s auditReader) Scan(ctx context.Context, f audit.Filter, fn func(audit.Entry) error) error {
	var where []string
	var args []any
	add := func(cond string, v any) { where = append(where, cond); args = append(args, v) }
	if f.ActorID != "" {
		add("actor_id = ?", f.ActorID)
	}
	if p, ok := strings.CutSuffix(f.Action, ".*"); ok {
		add("action LIKE ? ESCAPE '\\'", likeEscape(p)+".%")
	} else if f.Action != "" {
		add("action = ?", f.Action)
	}
	if f.ObjectType != "" {
		add("object_type = ?", f.ObjectType)
	}
	if f.ObjectID != "" {
		add("object_id = ?", f.ObjectID)
	}
	if f.Outcome != "" {
		add("outcome = ?", string(f.Outcome))
	}
	if !f.Since.IsZero() {
		add("time >= ?", s.db.ts(f.Since))
	}
	if !f.Until.IsZero() {
		add("time < ?", s.db.ts(f.Until))
	}
	if f.AfterSeq > 0 {
		add("seq > ?", f.AfterSeq)
	}
	q := `SELECT ` + auditColumns + ` FROM audit_entries`
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, " AND ")
	}
	q += ` ORDER BY seq`
	if f.Limit > 0 && f.Visible == nil {
		q += fmt.Sprintf(` LIMIT %d`, f.Limit)
	}
	kept := 0
	rows, err := s.c.query(ctx, q, args...)
	if err != nil {
		return fmt.Errorf("read audit log: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		e, err := scanAudit(rows)
		if err != nil {
			return fmt.Errorf("read audit log: %w", mapError(err))
		}
		if f.Visible != nil && !f.Visible(e) {
			continue
		}
		if err := fn(e); err != nil {
			return err
		}
		if kept++; f.Limit > 0 && kept == f.Limit {
			break
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read audit log: %w", mapError(err))
	}
	return nil
}

func likeEscape(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

// Head implements audit.Reader.
func (s auditReader) Head(ctx context.Context) (int64, audit.HashValue, error) {
	var seq int64
	var h string
	if err := s.c.queryRow(ctx, `SELECT seq, hash FROM audit_head WHERE id = 1`).Scan(&seq, &h); err != nil {
		return 0, nil, fmt.Errorf("read audit head: %w", mapError(err))
	}
	b, err := hex.DecodeString(h)
	if err != nil {
		return 0, nil, fmt.Errorf("audit head hash is not hex: %w", err)
	}
	return seq, b, nil
}

// Entry implements audit.Reader.
func (s auditReader) Entry(ctx context.Context, seq int64) (audit.Entry, error) {
	e, err := scanAudit(s.c.queryRow(ctx, `SELECT `+auditColumns+` FROM audit_entries WHERE seq = ?`, seq))
	if err != nil {
		return audit.Entry{}, notFound(err, "audit entry %d does not exist", seq)
	}
	return e, nil
}

// SaveCheckpoint implements audit.Store.
func (s *AuditStore) SaveCheckpoint(ctx context.Context, c audit.Checkpoint) error {
	return s.db.inTx(ctx, func(t *txn) error {
		_, err := t.exec(ctx, `INSERT INTO audit_checkpoints (size, root, time, key_id, signature) VALUES (?, ?, ?, ?, ?)`,
			c.Size, c.Root.String(), s.db.ts(c.Time), c.KeyID, hex.EncodeToString(c.Signature))
		if err != nil {
			return fmt.Errorf("store audit checkpoint: %w", err)
		}
		return nil
	})
}

// Checkpoints implements audit.Store.
func (s *AuditStore) Checkpoints(ctx context.Context) ([]audit.Checkpoint, error) {
	rows, err := s.db.reader().query(ctx, `SELECT size, root, time, key_id, signature FROM audit_checkpoints ORDER BY size, time`)
	if err != nil {
		return nil, fmt.Errorf("read audit checkpoints: %w", err)
	}
	defer rows.Close()
	var out []audit.Checkpoint
	for rows.Next() {
		var c audit.Checkpoint
		var root, sig string
		var tm dbTime
		if err := rows.Scan(&c.Size, &root, &tm, &c.KeyID, &sig); err != nil {
			return nil, fmt.Errorf("read audit checkpoints: %w", mapError(err))
		}
		c.Time = tm.Time
		var e1, e2 error
		c.Root, e1 = hex.DecodeString(root)
		c.Signature, e2 = hex.DecodeString(sig)
		if err := errors.Join(e1, e2); err != nil {
			return nil, qrmfg.Errorf(qrmfg.EINTERNAL, "audit checkpoint of size %d is not hex: %v", c.Size, err)
		}
		out = append(out, c)
	}
	return out, mapError(rows.Err())
}
