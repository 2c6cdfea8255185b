package sqlstore

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/qrmfg/qrmfg/internal/qrmfg"
	"github.com/qrmfg/qrmfg/internal/scanning"
	"github.com/qrmfg/qrmfg/internal/scanning/grade"
)

// ScanningStore keeps scans and scanning sessions.
type ScanningStore struct{ db *DB }

var _ scanning.Store = (*ScanningStore)(nil)

// Scanning returns the scanning store on db.
func (db *DB) Scanning() *ScanningStore { return &ScanningStore{db: db} }

const scanColumns = `id, at, payload, verdict, reason, item_uid, format, source, device, location, actor, session_id, unexpected, image_sha256, grade`

func scanScan(r rowScanner) (scanning.Scan, error) {
	var sc scanning.Scan
	var at dbTime
	var g jsonText
	var verdict string
	if err := r.Scan(&sc.ID, &at, &sc.Payload, &verdict, &sc.Reason, &sc.UID, &sc.Format, &sc.Source, &sc.Device,
		&sc.Location, &sc.Actor, &sc.SessionID, &sc.Unexpected, &sc.ImageSHA256, &g); err != nil {
		return sc, err
	}
	sc.Verdict, sc.At = scanning.Verdict(verdict), at.Time
	if len(g) > 0 {
		var rep grade.MarkGrade
		if err := json.Unmarshal(g, &rep); err != nil {
			return sc, fmt.Errorf("decode grade of scan %s: %w", sc.ID, err)
		}
		sc.Grade = &rep
	}
	return sc, nil
}

// ListScans implements scanning.Store.
func (s *ScanningStore) ListScans(ctx context.Context, f scanning.ScanFilter) (scanning.ScanPage, error) {
	var where []string
	var args []any
	add := func(cond string, v any) {
		where = append(where, cond)
		args = append(args, v)
	}
	if f.UID != "" {
		add("item_uid = ?", f.UID)
	}
	if f.SessionID != "" {
		add("session_id = ?", f.SessionID)
	}
	if f.Verdict != "" {
		add("verdict = ?", string(f.Verdict))
	}
	if f.From != nil {
		add("at >= ?", s.db.ts(*f.From))
	}
	if f.To != nil {
		add("at < ?", s.db.ts(*f.To))
	}
	if f.Cursor != "" {
		add("id < ?", f.Cursor)
	}
	if len(f.Lines) > 0 {
		// A restricted caller sees no scan of another line's item and none
		// made in another line's session; scans of no item (or of an item
		// not in the inventory) outside a session stay visible. Both probes
		// are primary-key lookups.
		ph := placeholders(len(f.Lines) + 1)
		where = append(where,
			`NOT EXISTS (SELECT 1 FROM items i WHERE i.uid = scans.item_uid AND i.line NOT IN (`+ph+`))`,
			`NOT EXISTS (SELECT 1 FROM scan_sessions ss WHERE ss.id = scans.session_id AND ss.line NOT IN (`+ph+`))`)
		for range 2 {
			args = append(args, "")
			for _, l := range f.Lines {
				args = append(args, l)
			}
		}
	}
	q := `SELECT ` + scanColumns + ` FROM scans`
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, " AND ")
	}
	q += fmt.Sprintf(` ORDER BY id DESC LIMIT %d`, f.Limit+1)
	rows, err := s.db.reader().query(ctx, q, args...)
	if err != nil {
		return scanning.ScanPage{}, fmt.Errorf("list scans: %w", err)
	}
	defer rows.Close()
	page := scanning.ScanPage{Scans: []scanning.Scan{}}
	for rows.Next() {
		sc, err := scanScan(rows)
		if err != nil {
			return scanning.ScanPage{}, err
		}
		page.Scans = append(page.Scans, sc)
	}
	if err := rows.Err(); err != nil {
		return scanning.ScanPage{}, fmt.Errorf("list scans: %w", mapError(err))
	}
	if len(page.Scans) > f.Limit {
		page.Scans = page.Scans[:f.Limit]
		page.NextCursor = page.Scans[f.Limit-1].ID
	}
	return page, nil
}

const sessionColumns = `id, kind, name, location, expected, status, expected_count, created_by, created_at, closed_at, closed_by, reconciliation, line, apply_pending`

func scanSession(r rowScanner) (scanning.Session, error) {
	var ss scanning.Session
	var kind string
	var expected, recon jsonText
	var created, closed dbTime
	if err := r.Scan(&ss.ID, &kind, &ss.Name, &ss.Location, &expected, &ss.Status, &ss.ExpectedCount, &ss.CreatedBy,
		&created, &closed, &ss.ClosedBy, &recon, &ss.Line, &ss.ApplyPending); err != nil {
		return ss, err
	}
	ss.Kind, ss.CreatedAt, ss.ClosedAt = scanning.Kind(kind), created.Time, closed.ptr()
	if err := json.Unmarshal(expected, &ss.Expected); err != nil {
		return ss, fmt.Errorf("decode expected set of session %s: %w", ss.ID, err)
	}
	if len(recon) > 0 {
		var r scanning.Reconciliation
		if err := json.Unmarshal(recon, &r); err != nil {
			return ss, fmt.Errorf("decode reconciliation of session %s: %w", ss.ID, err)
		}
		ss.Reconciliation = &r
	}
	return ss, nil
}

// GetSession implements scanning.Store.
func (s *ScanningStore) GetSession(ctx context.Context, id string) (scanning.Session, error) {
	ss, err := scanSession(s.db.reader().queryRow(ctx, `SELECT `+sessionColumns+` FROM scan_sessions WHERE id = ?`, id))
	if err != nil {
		return ss, notFound(err, "scanning session %s does not exist", id)
	}
	return ss, nil
}

// UnfinishedCloses implements scanning.Store.
func (s *ScanningStore) UnfinishedCloses(ctx context.Context) ([]scanning.Session, error) {
	rows, err := s.db.reader().query(ctx, `SELECT `+sessionColumns+` FROM scan_sessions
		WHERE status = 'closed' AND reconciliation IS NULL ORDER BY closed_at`)
	if err != nil {
		return nil, mapError(err)
	}
	defer rows.Close()
	var out []scanning.Session
	for rows.Next() {
		ss, err := scanSession(rows)
		if err != nil {
			return nil, mapError(err)
		}
		out = append(out, ss)
	}
	return out, mapError(rows.Err())
}

// SessionCounts implements scanning.Store.
func (s *ScanningStore) SessionCounts(ctx context.Context, id string) (scanning.Counts, error) {
	var c scanning.Counts
	r := s.db.reader()
	if err := r.queryRow(ctx, `SELECT expected_count FROM scan_sessions WHERE id = ?`, id).Scan(&c.Expected); err != nil {
		return c, notFound(err, "scanning session %s does not exist", id)
	}
	var seen int
	err := r.queryRow(ctx, `SELECT COUNT(*), COUNT(e.uid) FROM scan_session_items i
		LEFT JOIN scan_session_expected e ON e.session_id = i.session_id AND e.uid = i.uid
		WHERE i.session_id = ?`, id).Scan(&seen, &c.Found)
	if err != nil {
		return c, fmt.Errorf("session %s items: %w", id, mapError(err))
	}
	c.Unexpected = seen - c.Found
	c.Missing = c.Expected - c.Found
	err = r.queryRow(ctx, `SELECT COUNT(*),
			COALESCE(SUM(CASE WHEN verdict = 'duplicate' THEN 1 ELSE 0 END), 0),
			COALESCE(SUM(CASE WHEN verdict NOT IN ('valid', 'duplicate') THEN 1 ELSE 0 END), 0),
			COUNT(DISTINCT NULLIF(device, ''))
		FROM scans WHERE session_id = ?`, id).Scan(&c.Scans, &c.Duplicates, &c.Invalid, &c.Devices)
	if err != nil {
		return c, fmt.Errorf("session %s scans: %w", id, mapError(err))
	}
	return c, nil
}

// SessionExpected implements scanning.Store.
func (s *ScanningStore) SessionExpected(ctx context.Context, id string) ([]string, error) {
	rows, err := s.db.reader().query(ctx, `SELECT uid FROM scan_session_expected WHERE session_id = ? ORDER BY uid`, id)
	if err != nil {
		return nil, fmt.Errorf("session %s expected: %w", id, err)
	}
	defer rows.Close()
	out := []string{}
	for rows.Next() {
		var u string
		if err := rows.Scan(&u); err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	return out, mapError(rows.Err())
}

// SessionSeen implements scanning.Store.
func (s *ScanningStore) SessionSeen(ctx context.Context, id string) ([]scanning.Seen, error) {
	rows, err := s.db.reader().query(ctx, `SELECT i.uid, i.scan_id, i.verdict, i.seen_at, e.uid IS NOT NULL
		FROM scan_session_items i LEFT JOIN scan_session_expected e ON e.session_id = i.session_id AND e.uid = i.uid
		WHERE i.session_id = ? ORDER BY i.uid`, id)
	if err != nil {
		return nil, fmt.Errorf("session %s seen: %w", id, err)
	}
	defer rows.Close()
	out := []scanning.Seen{}
	for rows.Next() {
		var x scanning.Seen
		var v string
		var at dbTime
		if err := rows.Scan(&x.UID, &x.ScanID, &v, &at, &x.Expected); err != nil {
			return nil, err
		}
		x.Verdict, x.At = scanning.Verdict(v), at.Time
		out = append(out, x)
	}
	return out, mapError(rows.Err())
}

// Update implements scanning.Store.
func (s *ScanningStore) Update(ctx context.Context, fn func(ctx context.Context, tx scanning.Tx) error) error {
	return s.db.inTx(ctx, func(t *txn) error { return fn(ctx, &scanTx{txn: t}) })
}

type scanTx struct{ *txn }

func (t *scanTx) Now() time.Time { return t.now }

func (t *scanTx) LockSession(ctx context.Context, id string) (scanning.Session, error) {
	ss, err := scanSession(t.queryRow(ctx, `SELECT `+sessionColumns+` FROM scan_sessions WHERE id = ?`+t.db.forUpdate(), id))
	if err != nil {
		return ss, notFound(err, "scanning session %s does not exist", id)
	}
	return ss, nil
}

func (t *scanTx) InsertSession(ctx context.Context, ss scanning.Session, expected []string) error {
	exp, err := json.Marshal(ss.Expected)
	if err != nil {
		return fmt.Errorf("encode expected set: %w", err)
	}
	_, err = t.exec(ctx, `INSERT INTO scan_sessions (id, kind, name, location, expected, status, expected_count, created_by, created_at, line)
		VALUES (?, ?, ?, ?, `+t.db.jsonb()+`, ?, ?, ?, ?, ?)`,
		ss.ID, string(ss.Kind), ss.Name, ss.Location, string(exp), ss.Status, len(expected), ss.CreatedBy, t.db.ts(ss.CreatedAt), ss.Line)
	if err != nil {
		return fmt.Errorf("insert session %s: %w", ss.ID, err)
	}
	const chunk = 400
	for len(expected) > 0 {
		n := min(chunk, len(expected))
		q := `INSERT INTO scan_session_expected (session_id, uid) VALUES ` + strings.TrimSuffix(strings.Repeat("(?, ?), ", n), ", ")
		args := make([]any, 0, 2*n)
		for _, u := range expected[:n] {
			args = append(args, ss.ID, u)
		}
		if _, err := t.exec(ctx, q, args...); err != nil {
			return fmt.Errorf("insert expected items of session %s: %w", ss.ID, err)
		}
		expected = expected[n:]
	}
	return nil
}

func (t *scanTx) UpdateSession(ctx context.Context, ss scanning.Session) error {
	var recon any
	if ss.Reconciliation != nil {
		b, err := json.Marshal(ss.Reconciliation)
		if err != nil {
			return fmt.Errorf("encode reconciliation: %w", err)
		}
		recon = string(b)
	}
	res, err := t.exec(ctx, `UPDATE scan_sessions SET status = ?, closed_at = ?, closed_by = ?, reconciliation = `+t.db.jsonb()+`, apply_pending = ? WHERE id = ?`,
		ss.Status, t.db.nullTS(ss.ClosedAt), ss.ClosedBy, recon, ss.ApplyPending, ss.ID)
	if err != nil {
		return fmt.Errorf("update session %s: %w", ss.ID, err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return qrmfg.Errorf(qrmfg.ENOTFOUND, "scanning session %s does not exist", ss.ID)
	}
	return nil
}

func (t *scanTx) ClaimSeen(ctx context.Context, sessionID, uid, scanID string, v scanning.Verdict) (first, expected bool, err error) {
	res, err := t.exec(ctx, `INSERT INTO scan_session_items (session_id, uid, scan_id, verdict, seen_at) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (session_id, uid) DO NOTHING`, sessionID, uid, scanID, string(v), t.db.ts(t.now))
	if err != nil {
		return false, false, fmt.Errorf("claim %s in session %s: %w", uid, sessionID, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, false, fmt.Errorf("claim %s in session %s: %w", uid, sessionID, err)
	}
	var one int
	err = t.queryRow(ctx, `SELECT 1 FROM scan_session_expected WHERE session_id = ? AND uid = ?`, sessionID, uid).Scan(&one)
	switch {
	case err == nil:
		expected = true
	case !isNoRows(err):
		return false, false, fmt.Errorf("is %s expected in session %s: %w", uid, sessionID, mapError(err))
	}
	return n == 1, expected, nil
}

func (t *scanTx) InsertScan(ctx context.Context, sc scanning.Scan) error {
	var g, overall any
	if sc.Grade != nil {
		b, err := json.Marshal(sc.Grade)
		if err != nil {
			return fmt.Errorf("encode grade: %w", err)
		}
		g, overall = string(b), sc.Grade.Overall
	}
	_, err := t.exec(ctx, `INSERT INTO scans (`+scanColumns+`, grade_overall)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, `+t.db.jsonb()+`, ?)`,
		sc.ID, t.db.ts(sc.At), sc.Payload, string(sc.Verdict), sc.Reason, sc.UID, sc.Format, sc.Source, sc.Device,
		sc.Location, sc.Actor, sc.SessionID, sc.Unexpected, sc.ImageSHA256, g, overall)
	if err != nil {
		return fmt.Errorf("insert scan: %w", err)
	}
	return nil
}

func (t *scanTx) Emit(ctx context.Context, ev qrmfg.Event) error { return t.emit(ctx, ev) }
