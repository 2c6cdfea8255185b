package sqlstore

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/qrmfg/qrmfg/internal/idempotency"
	"github.com/qrmfg/qrmfg/internal/inventory"
	"github.com/qrmfg/qrmfg/internal/qrmfg"
)

// InventoryStore is the inventory's storage.
type InventoryStore struct{ db *DB }

var _ inventory.Store = (*InventoryStore)(nil)

// Inventory returns the inventory store on db.
func (db *DB) Inventory() *InventoryStore { return &InventoryStore{db: db} }

const itemColumns = `uid, component_type, vendor_code, lot_number, serial, COALESCE(manufacturing_date, ''),
	warranty_years, COALESCE(warranty_end, ''), status, location, attributes, COALESCE(batch_id, ''),
	COALESCE(parent_uid, ''), last_seen_at, last_seen_location, created_at, updated_at, version, line`

type rowScanner interface{ Scan(dest ...any) error }

func scanItem(r rowScanner) (inventory.Item, error) {
	var it inventory.Item
	var attrs jsonText
	var seen, created, updated dbTime
	err := r.Scan(&it.UID, &it.ComponentType, &it.VendorCode, &it.LotNumber, &it.Serial, &it.ManufacturingDate,
		&it.WarrantyYears, &it.WarrantyEnd, &it.Status, &it.Location, &attrs, &it.BatchID,
		&it.ParentUID, &seen, &it.LastSeenLocation, &created, &updated, &it.Version, &it.Line)
	if err != nil {
		return it, err
	}
	it.Attributes = compactJSON(attrs)
	it.LastSeenAt, it.CreatedAt, it.UpdatedAt = seen.ptr(), created.Time, updated.Time
	return it, nil
}

func notFound(err error, format string, args ...any) error {
	if errors.Is(err, sql.ErrNoRows) {
		return qrmfg.Errorf(qrmfg.ENOTFOUND, format, args...)
	}
	return mapError(err)
}

// GetItem implements inventory.Store.
func (s *InventoryStore) GetItem(ctx context.Context, uid string) (inventory.Item, error) {
	it, err := scanItem(s.db.reader().queryRow(ctx, `SELECT `+itemColumns+` FROM items WHERE uid = ?`, uid))
	if err != nil {
		return it, notFound(err, "item %s does not exist", uid)
	}
	return it, nil
}

// getItemsChunk bounds the uids of one IN list (SQLite allows 32,766
// parameters, PostgreSQL 65,535).
const getItemsChunk = 500

// GetItems implements inventory.Store.
func (s *InventoryStore) GetItems(ctx context.Context, uids []string) ([]inventory.Item, error) {
	out := make([]inventory.Item, 0, len(uids))
	for len(uids) > 0 {
		chunk := uids[:min(len(uids), getItemsChunk)]
		uids = uids[len(chunk):]
		var err error
		if out, err = s.appendItems(ctx, out, chunk); err != nil {
			return nil, fmt.Errorf("get items: %w", err)
		}
	}
	return out, nil
}

// appendItems appends the items among uids (one IN list) to out.
func (s *InventoryStore) appendItems(ctx context.Context, out []inventory.Item, uids []string) ([]inventory.Item, error) {
	args := make([]any, len(uids))
	for i, u := range uids {
		args[i] = u
	}
	return s.queryItems(ctx, out, `SELECT `+itemColumns+` FROM items WHERE uid IN (`+placeholders(len(uids))+`)`, args...)
}

// queryItems appends the items a query selects (itemColumns) to out.
func (s *InventoryStore) queryItems(ctx context.Context, out []inventory.Item, query string, args ...any) ([]inventory.Item, error) {
	rows, err := s.db.reader().query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		it, err := scanItem(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, it)
	}
	return out, mapError(rows.Err())
}

var sortColumns = map[inventory.SortField]string{
	inventory.SortUID: "uid", inventory.SortCreatedAt: "created_at", inventory.SortUpdatedAt: "updated_at", inventory.SortSerial: "serial",
}

func (s *InventoryStore) where(f inventory.ItemFilter) (string, []any) {
	var conds []string
	var args []any
	add := func(c string, a ...any) { conds = append(conds, c); args = append(args, a...) }
	if len(f.Statuses) == 1 {
		add("status = ?", string(f.Statuses[0]))
	} else if len(f.Statuses) > 1 {
		ph := placeholders(len(f.Statuses))
		for _, st := range f.Statuses {
			args = append(args, string(st))
		}
		conds = append(conds, "status IN ("+ph+")")
	}
	if f.ComponentType != "" {
		add("component_type = ?", f.ComponentType)
	}
	if f.VendorCode != "" {
		add("vendor_code = ?", f.VendorCode)
	}
	if f.LotNumber != "" {
		add("lot_number = ?", f.LotNumber)
	}
	if f.Location != "" {
		// The second term lets SQLite match the partial index (location <> '').
		add("location = ? AND location <> ''", f.Location)
	}
	if f.BatchID != "" {
		add("batch_id = ?", f.BatchID)
	}
	if f.Line != "" {
		add("line = ?", f.Line)
	}
	if len(f.Lines) > 0 {
		// A restricted caller sees its lines' items and those of no line.
		ph := placeholders(len(f.Lines) + 1)
		args = append(args, "")
		for _, l := range f.Lines {
			args = append(args, l)
		}
		conds = append(conds, "line IN ("+ph+")")
	}
	if f.SerialFrom > 0 {
		add("serial >= ?", f.SerialFrom)
	}
	if f.SerialTo > 0 {
		add("serial <= ?", f.SerialTo)
	}
	if f.ParentUID != "" {
		add("parent_uid = ?", f.ParentUID)
	}
	if f.UIDPrefix != "" {
		// A range instead of LIKE, so the primary key index serves it on both databases.
		add("uid >= ? AND uid < ?", f.UIDPrefix, f.UIDPrefix+"\U0010FFFF")
	}
	if f.CreatedFrom != nil {
		add("created_at >= ?", s.db.ts(*f.CreatedFrom))
	}
	if f.CreatedTo != nil {
		add("created_at < ?", s.db.ts(*f.CreatedTo))
	}
	if len(conds) == 0 {
		return "", nil
	}
	return " WHERE " + strings.Join(conds, " AND "), args
}

// ListItems implements inventory.Store with keyset pagination.
func (s *InventoryStore) ListItems(ctx context.Context, f inventory.ItemFilter) (inventory.ItemPage, error) {
	where, args := s.where(f)
	col := sortColumns[f.Sort]
	dir, cmp := "ASC", ">"
	if f.Desc {
		dir, cmp = "DESC", "<"
	}
	q := `SELECT ` + itemColumns + ` FROM items` + where
	if f.Cursor != "" {
		c, err := inventory.DecodeCursor(f.Cursor, f.Sort, f.Desc)
		if err != nil {
			return inventory.ItemPage{}, err
		}
		conj := " AND "
		if where == "" {
			conj = " WHERE "
		}
		if col == "uid" {
			q += conj + "uid " + cmp + " ?"
			args = append(args, c.UID)
		} else {
			v, err := s.cursorValue(f.Sort, c.Value)
			if err != nil {
				return inventory.ItemPage{}, err
			}
			q += conj + "(" + col + " " + cmp + " ? OR (" + col + " = ? AND uid " + cmp + " ?))"
			args = append(args, v, v, c.UID)
		}
	}
	q += " ORDER BY " + col + " " + dir
	if col != "uid" {
		q += ", uid " + dir
	}
	q += " LIMIT ?"
	items, err := s.queryItems(ctx, make([]inventory.Item, 0, min(f.Limit, 256)), q, append(args, f.Limit+1)...)
	if err != nil {
		return inventory.ItemPage{}, fmt.Errorf("list items: %w", err)
	}
	page := inventory.ItemPage{Items: items}
	if len(page.Items) > f.Limit {
		page.Items = page.Items[:f.Limit]
		last := page.Items[f.Limit-1]
		c := inventory.Cursor{Sort: f.Sort, Desc: f.Desc, UID: last.UID}
		switch f.Sort {
		case inventory.SortCreatedAt:
			c.Value = last.CreatedAt.Format(time.RFC3339Nano)
		case inventory.SortUpdatedAt:
			c.Value = last.UpdatedAt.Format(time.RFC3339Nano)
		case inventory.SortSerial:
			c.Value = strconv.FormatInt(last.Serial, 10)
		}
		page.NextCursor = c.Encode()
	}
	if f.WithTotal {
		where, args := s.where(f)
		var n int64
		if err := s.db.reader().queryRow(ctx, `SELECT count(*) FROM items`+where, args...).Scan(&n); err != nil {
			return page, fmt.Errorf("count items: %w", mapError(err))
		}
		page.Total = &n
	}
	return page, nil
}

func (s *InventoryStore) cursorValue(sort inventory.SortField, v string) (any, error) {
	switch sort {
	case inventory.SortSerial:
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return nil, qrmfg.FieldError("cursor", "cursor is not one this server issued")
		}
		return n, nil
	default:
		t, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			return nil, qrmfg.FieldError("cursor", "cursor is not one this server issued")
		}
		return s.db.ts(t), nil
	}
}

// EachItem implements inventory.Store, reading in pages so no read
// transaction stays open for the whole export.
func (s *InventoryStore) EachItem(ctx context.Context, f inventory.ItemFilter, fn func(inventory.Item) error) error {
	f.Sort, f.Desc, f.Limit, f.Cursor, f.WithTotal = inventory.SortUID, false, 1000, "", false
	for {
		page, err := s.ListItems(ctx, f)
		if err != nil {
			return err
		}
		for _, it := range page.Items {
			if err := fn(it); err != nil {
				return err
			}
		}
		if page.NextCursor == "" {
			return nil
		}
		f.Cursor = page.NextCursor
	}
}

// History implements inventory.Store.
func (s *InventoryStore) History(ctx context.Context, uid string) ([]inventory.HistoryEntry, error) {
	rows, err := s.db.reader().query(ctx, `SELECT id, item_uid, kind, from_value, to_value, actor, reason, event_id, at
		FROM item_history WHERE item_uid = ? ORDER BY id`, uid)
	if err != nil {
		return nil, fmt.Errorf("item history: %w", err)
	}
	defer rows.Close()
	out := []inventory.HistoryEntry{}
	for rows.Next() {
		var h inventory.HistoryEntry
		var at dbTime
		if err := rows.Scan(&h.ID, &h.ItemUID, &h.Kind, &h.From, &h.To, &h.Actor, &h.Reason, &h.EventID, &at); err != nil {
			return nil, fmt.Errorf("item history: %w", err)
		}
		h.At = at.Time
		out = append(out, h)
	}
	return out, mapError(rows.Err())
}

// Children implements inventory.Store.
func (s *InventoryStore) Children(ctx context.Context, uid string) ([]inventory.Item, error) {
	out, err := s.queryItems(ctx, nil, `SELECT `+itemColumns+` FROM items WHERE parent_uid = ? ORDER BY uid`, uid)
	if err != nil {
		return nil, fmt.Errorf("children of %s: %w", uid, err)
	}
	return out, nil
}

// GetBatch implements inventory.Store.
func (s *InventoryStore) GetBatch(ctx context.Context, id string) (inventory.Batch, error) {
	var b inventory.Batch
	var attrs jsonText
	var created dbTime
	var mfg sql.NullString
	err := s.db.reader().queryRow(ctx, `SELECT id, component_type, vendor_code, lot_number, first_serial, count,
		manufacturing_date, warranty_years, attributes, created_by, created_at, line FROM batches WHERE id = ?`, id).
		Scan(&b.ID, &b.ComponentType, &b.VendorCode, &b.LotNumber, &b.FirstSerial, &b.Count, &mfg, &b.WarrantyYears, &attrs, &b.CreatedBy, &created, &b.Line)
	if err != nil {
		return b, notFound(err, "batch %s does not exist", id)
	}
	b.ManufacturingDate, b.Attributes, b.CreatedAt = mfg.String, []byte(attrs), created.Time
	return b, nil
}

// Thresholds implements inventory.Store.
func (s *InventoryStore) Thresholds(ctx context.Context) ([]inventory.Threshold, error) {
	return s.thresholds(ctx, s.db.reader(), "")
}

func (s *InventoryStore) thresholds(ctx context.Context, c conn, typ string) ([]inventory.Threshold, error) {
	q := `SELECT component_type, vendor_code, line, min_available, updated_at FROM stock_thresholds`
	var args []any
	if typ != "" {
		q += ` WHERE component_type = ?`
		args = append(args, typ)
	}
	rows, err := c.query(ctx, q+` ORDER BY component_type, vendor_code, line`, args...)
	if err != nil {
		return nil, fmt.Errorf("thresholds: %w", err)
	}
	defer rows.Close()
	out := []inventory.Threshold{}
	for rows.Next() {
		var t inventory.Threshold
		var at dbTime
		if err := rows.Scan(&t.ComponentType, &t.VendorCode, &t.Line, &t.MinAvailable, &at); err != nil {
			return nil, err
		}
		t.UpdatedAt = at.Time
		out = append(out, t)
	}
	return out, mapError(rows.Err())
}

const alertColumns = `id, component_type, vendor_code, threshold, available, state, raised_at, acknowledged_at, acknowledged_by, resolved_at, line`

func scanAlert(r rowScanner) (inventory.Alert, error) {
	var a inventory.Alert
	var raised, acked, resolved dbTime
	err := r.Scan(&a.ID, &a.ComponentType, &a.VendorCode, &a.Threshold, &a.Available, &a.State, &raised, &acked, &a.AcknowledgedBy, &resolved, &a.Line)
	a.RaisedAt, a.AcknowledgedAt, a.ResolvedAt = raised.Time, acked.ptr(), resolved.ptr()
	return a, err
}

// Alerts implements inventory.Store.
func (s *InventoryStore) Alerts(ctx context.Context, state string) ([]inventory.Alert, error) {
	q := `SELECT ` + alertColumns + ` FROM stock_alerts`
	var args []any
	if state != "" {
		q += ` WHERE state = ?`
		args = append(args, state)
	}
	rows, err := s.db.reader().query(ctx, q+` ORDER BY raised_at DESC, id DESC`, args...)
	if err != nil {
		return nil, fmt.Errorf("alerts: %w", err)
	}
	defer rows.Close()
	out := []inventory.Alert{}
	for rows.Next() {
		a, err := scanAlert(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, mapError(rows.Err())
}

// Counts implements inventory.Store.
func (s *InventoryStore) Counts(ctx context.Context, column string, lines []string) ([]inventory.Count, error) {
	switch column {
	case "status", "component_type", "vendor_code", "lot_number":
	default:
		return nil, qrmfg.Errorf(qrmfg.EINTERNAL, "cannot count by %q", column)
	}
	where, args := s.where(inventory.ItemFilter{Lines: lines})
	rows, err := s.db.reader().query(ctx, `SELECT `+column+`, count(*) FROM items`+where+` GROUP BY `+column, args...)
	if err != nil {
		return nil, fmt.Errorf("count by %s: %w", column, err)
	}
	defer rows.Close()
	out := []inventory.Count{}
	for rows.Next() {
		var c inventory.Count
		if err := rows.Scan(&c.Key, &c.Count); err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, mapError(rows.Err())
}

// PerDay implements inventory.Store.
func (s *InventoryStore) PerDay(ctx context.Context, from, to time.Time, lines []string) ([]inventory.DayCount, error) {
	day := func(col string) string {
		if s.db.dialect == Postgres {
			return "to_char(" + col + " AT TIME ZONE 'UTC', 'YYYY-MM-DD')"
		}
		return "substr(" + col + ", 1, 10)"
	}
	// A restricted caller counts the items of its lines and of no line.
	var lineCond, historyCond string
	var lineArgs []any
	if where, args := s.where(inventory.ItemFilter{Lines: lines}); where != "" {
		cond := strings.TrimPrefix(where, " WHERE ")
		lineCond, lineArgs = " AND "+cond, args
		historyCond = " AND item_uid IN (SELECT uid FROM items WHERE " + cond + ")"
	}
	q := `SELECT d, sum(g), sum(e), sum(s) FROM (
		SELECT ` + day("created_at") + ` AS d, count(*) AS g, 0 AS e, 0 AS s FROM items
			WHERE created_at >= ? AND created_at < ?` + lineCond + ` GROUP BY 1
		UNION ALL
		SELECT ` + day("at") + ` AS d, 0, sum(CASE WHEN to_value = 'engraved' THEN 1 ELSE 0 END),
			sum(CASE WHEN to_value = 'shipped' THEN 1 ELSE 0 END) FROM item_history
			WHERE kind = 'status' AND to_value IN ('engraved', 'shipped') AND at >= ? AND at < ?` + historyCond + ` GROUP BY 1
	) t GROUP BY d ORDER BY d`
	f, t := s.db.ts(from), s.db.ts(to)
	args := append(append([]any{f, t}, lineArgs...), f, t)
	rows, err := s.db.reader().query(ctx, q, append(args, lineArgs...)...)
	if err != nil {
		return nil, fmt.Errorf("per-day counts: %w", err)
	}
	defer rows.Close()
	out := []inventory.DayCount{}
	for rows.Next() {
		var d inventory.DayCount
		if err := rows.Scan(&d.Day, &d.Generated, &d.Engraved, &d.Shipped); err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, mapError(rows.Err())
}

// AvailableBy implements inventory.Store.
func (s *InventoryStore) AvailableBy(ctx context.Context) (map[[3]string]int64, error) {
	rows, err := s.db.reader().query(ctx, `SELECT component_type, vendor_code, line, count(*) FROM items WHERE status = 'available' GROUP BY component_type, vendor_code, line`)
	if err != nil {
		return nil, fmt.Errorf("available stock: %w", err)
	}
	defer rows.Close()
	out := map[[3]string]int64{}
	for rows.Next() {
		var t, v, l string
		var n int64
		if err := rows.Scan(&t, &v, &l, &n); err != nil {
			return nil, err
		}
		out[[3]string{t, v, l}] = n
	}
	return out, mapError(rows.Err())
}

// Update implements inventory.Store.
func (s *InventoryStore) Update(ctx context.Context, fn func(ctx context.Context, tx inventory.Tx) error) error {
	return s.db.inTx(ctx, func(t *txn) error { return fn(ctx, &invTx{txn: t, s: s}) })
}

type invTx struct {
	*txn
	s *InventoryStore
}

func (t *invTx) Now() time.Time { return t.now }

func (t *invTx) NextSerials(ctx context.Context, typ, vendor, lot string, count int) (int64, error) {
	var next int64
	err := t.queryRow(ctx, `INSERT INTO lot_counters (component_type, vendor_code, lot_number, next_serial, updated_at)
		VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (component_type, vendor_code, lot_number)
		DO UPDATE SET next_serial = lot_counters.next_serial + ?, updated_at = excluded.updated_at
		RETURNING next_serial`, typ, vendor, lot, int64(count)+1, t.db.ts(t.now), int64(count)).Scan(&next)
	if err != nil {
		return 0, fmt.Errorf("advance lot counter: %w", mapError(err))
	}
	return next - int64(count), nil
}

func (t *invTx) InsertBatch(ctx context.Context, b inventory.Batch, warrantyEnd string) error {
	_, err := t.exec(ctx, `INSERT INTO batches (id, component_type, vendor_code, lot_number, first_serial, count,
		manufacturing_date, warranty_years, attributes, created_by, created_at, line) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		b.ID, b.ComponentType, b.VendorCode, b.LotNumber, b.FirstSerial, b.Count, nullStr(b.ManufacturingDate),
		b.WarrantyYears, jsonValue(b.Attributes), b.CreatedBy, t.db.ts(b.CreatedAt), b.Line)
	if err != nil {
		return fmt.Errorf("insert batch: %w", err)
	}
	prefix := b.ComponentType + "-" + b.VendorCode + "-" + b.LotNumber + "-"
	now := t.db.ts(t.now)
	// The items are generated by the database from the serial range: one
	// statement, no per-row round trips. The uid formatting matches partid.ID.String.
	var q string
	var args []any
	if t.db.dialect == Postgres {
		q = `INSERT INTO items (uid, component_type, vendor_code, lot_number, serial, manufacturing_date, warranty_years,
			warranty_end, status, location, attributes, batch_id, created_at, updated_at, version, line)
			SELECT ? || CASE WHEN n < 100000 THEN lpad(n::text, 5, '0') ELSE n::text END, ?, ?, ?, n, ?, ?, ?, 'generated', '',
				CAST(? AS JSONB), ?, ?, ?, 1, ?
			FROM generate_series(CAST(? AS BIGINT), CAST(? AS BIGINT)) AS n`
		args = []any{prefix, b.ComponentType, b.VendorCode, b.LotNumber, nullStr(b.ManufacturingDate), b.WarrantyYears,
			nullStr(warrantyEnd), jsonValue(b.Attributes), b.ID, now, now, b.Line, b.FirstSerial, b.LastSerial()}
	} else {
		q = `WITH RECURSIVE s(n) AS (SELECT ? UNION ALL SELECT n + 1 FROM s WHERE n < ?)
			INSERT INTO items (uid, component_type, vendor_code, lot_number, serial, manufacturing_date, warranty_years,
			warranty_end, status, location, attributes, batch_id, created_at, updated_at, version, line)
			SELECT ? || printf('%05d', n), ?, ?, ?, n, ?, ?, ?, 'generated', '', ?, ?, ?, ?, 1, ? FROM s`
		args = []any{b.FirstSerial, b.LastSerial(), prefix, b.ComponentType, b.VendorCode, b.LotNumber,
			nullStr(b.ManufacturingDate), b.WarrantyYears, nullStr(warrantyEnd), jsonValue(b.Attributes), b.ID, now, now, b.Line}
	}
	res, err := t.exec(ctx, q, args...)
	if err != nil {
		return fmt.Errorf("insert items of batch %s: %w", b.ID, err)
	}
	if n, err := res.RowsAffected(); err == nil && n != int64(b.Count) {
		return qrmfg.Errorf(qrmfg.EINTERNAL, "batch %s inserted %d items instead of %d", b.ID, n, b.Count)
	}
	return nil
}

func (t *invTx) InsertItems(ctx context.Context, items []inventory.Item) error {
	stmt := `INSERT INTO items (uid, component_type, vendor_code, lot_number, serial, manufacturing_date, warranty_years,
		warranty_end, status, location, attributes, created_at, updated_at, version, line)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ` + t.db.jsonb() + `, ?, ?, ?, ?)`
	lotMax := map[[3]string]int64{}
	for _, it := range items {
		_, err := t.exec(ctx, stmt, it.UID, it.ComponentType, it.VendorCode, it.LotNumber, it.Serial, nullStr(it.ManufacturingDate),
			it.WarrantyYears, nullStr(it.WarrantyEnd), string(it.Status), it.Location, jsonValue(it.Attributes),
			t.db.ts(it.CreatedAt), t.db.ts(it.UpdatedAt), it.Version, it.Line)
		if err != nil {
			return fmt.Errorf("insert item %s: %w", it.UID, err)
		}
		k := [3]string{it.ComponentType, it.VendorCode, it.LotNumber}
		lotMax[k] = max(lotMax[k], it.Serial)
	}
	// Imported serials are taken: the lot counter moves past them so an
	// allocation never issues them again.
	for k, m := range lotMax {
		_, err := t.exec(ctx, `INSERT INTO lot_counters (component_type, vendor_code, lot_number, next_serial, updated_at)
			VALUES (?, ?, ?, ?, ?) ON CONFLICT (component_type, vendor_code, lot_number)
			DO UPDATE SET next_serial = CASE WHEN lot_counters.next_serial > excluded.next_serial
				THEN lot_counters.next_serial ELSE excluded.next_serial END, updated_at = excluded.updated_at`,
			k[0], k[1], k[2], m+1, t.db.ts(t.now))
		if err != nil {
			return fmt.Errorf("raise lot counter: %w", err)
		}
	}
	return nil
}

func (t *invTx) LockItem(ctx context.Context, uid string) (inventory.Item, error) {
	it, err := scanItem(t.queryRow(ctx, `SELECT `+itemColumns+` FROM items WHERE uid = ?`+t.db.forUpdate(), uid))
	if err != nil {
		return it, notFound(err, "item %s does not exist", uid)
	}
	return it, nil
}

func (t *invTx) LotUIDs(ctx context.Context, typ, vendor, lot string) ([]string, error) {
	rows, err := t.query(ctx, `SELECT uid FROM items WHERE component_type = ? AND vendor_code = ? AND lot_number = ? ORDER BY serial`, typ, vendor, lot)
	if err != nil {
		return nil, fmt.Errorf("lot items: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var u string
		if err := rows.Scan(&u); err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	return out, mapError(rows.Err())
}

func (t *invTx) UpdateItem(ctx context.Context, it *inventory.Item) error {
	q := `UPDATE items SET status = ?, location = ?, attributes = ` + t.db.jsonb() + `, parent_uid = ?, last_seen_at = ?,
		last_seen_location = ?, updated_at = ?, version = version + 1 WHERE uid = ? AND version = ?`
	res, err := t.exec(ctx, q, string(it.Status), it.Location, jsonValue(it.Attributes), nullStr(it.ParentUID),
		t.db.nullTS(it.LastSeenAt), it.LastSeenLocation, t.db.ts(t.now), it.UID, it.Version)
	if err != nil {
		return fmt.Errorf("update item %s: %w", it.UID, err)
	}
	if n, err := res.RowsAffected(); err != nil || n != 1 {
		return qrmfg.Errorf(qrmfg.ECONFLICT, "item %s was changed by someone else; reload it and try again", it.UID)
	}
	it.Version++
	it.UpdatedAt = t.now
	return nil
}

func (t *invTx) AddHistory(ctx context.Context, h inventory.HistoryEntry) error {
	_, err := t.exec(ctx, `INSERT INTO item_history (item_uid, kind, from_value, to_value, actor, reason, event_id, at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, h.ItemUID, h.Kind, h.From, h.To, h.Actor, h.Reason, h.EventID, t.db.ts(h.At))
	if err != nil {
		return fmt.Errorf("record history of %s: %w", h.ItemUID, err)
	}
	return nil
}

func (t *invTx) CountAvailable(ctx context.Context, typ, vendor, line string) (int64, error) {
	q := `SELECT count(*) FROM items WHERE component_type = ? AND status = 'available'`
	args := []any{typ}
	if vendor != "" {
		q += ` AND vendor_code = ?`
		args = append(args, vendor)
	}
	if line != "" {
		q += ` AND line = ?`
		args = append(args, line)
	}
	var n int64
	if err := t.queryRow(ctx, q, args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("count available: %w", mapError(err))
	}
	return n, nil
}

func (t *invTx) ThresholdsFor(ctx context.Context, typ string) ([]inventory.Threshold, error) {
	return t.s.thresholds(ctx, t.conn, typ)
}

func (t *invTx) SetThreshold(ctx context.Context, th inventory.Threshold) error {
	_, err := t.exec(ctx, `INSERT INTO stock_thresholds (line, component_type, vendor_code, min_available, updated_at) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (line, component_type, vendor_code) DO UPDATE SET min_available = excluded.min_available, updated_at = excluded.updated_at`,
		th.Line, th.ComponentType, th.VendorCode, th.MinAvailable, t.db.ts(th.UpdatedAt))
	if err != nil {
		return fmt.Errorf("set threshold: %w", err)
	}
	return nil
}

func (t *invTx) DeleteThreshold(ctx context.Context, typ, vendor, line string) error {
	res, err := t.exec(ctx, `DELETE FROM stock_thresholds WHERE component_type = ? AND vendor_code = ? AND line = ?`, typ, vendor, line)
	if err != nil {
		return fmt.Errorf("delete threshold: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return qrmfg.Errorf(qrmfg.ENOTFOUND, "no threshold for %s/%s", typ, vendor)
	}
	return nil
}

func (t *invTx) OpenAlert(ctx context.Context, typ, vendor, line string) (*inventory.Alert, error) {
	a, err := scanAlert(t.queryRow(ctx, `SELECT `+alertColumns+` FROM stock_alerts
		WHERE line = ? AND component_type = ? AND vendor_code = ? AND state <> 'resolved' ORDER BY raised_at DESC LIMIT 1`, line, typ, vendor))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("open alert: %w", mapError(err))
	}
	return &a, nil
}

func (t *invTx) GetAlert(ctx context.Context, id string) (inventory.Alert, error) {
	a, err := scanAlert(t.queryRow(ctx, `SELECT `+alertColumns+` FROM stock_alerts WHERE id = ?`, id))
	if err != nil {
		return a, notFound(err, "alert %s does not exist", id)
	}
	return a, nil
}

func (t *invTx) SaveAlert(ctx context.Context, a inventory.Alert) error {
	_, err := t.exec(ctx, `INSERT INTO stock_alerts (`+alertColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET available = excluded.available, state = excluded.state,
			acknowledged_at = excluded.acknowledged_at, acknowledged_by = excluded.acknowledged_by, resolved_at = excluded.resolved_at`,
		a.ID, a.ComponentType, a.VendorCode, a.Threshold, a.Available, a.State, t.db.ts(a.RaisedAt),
		t.db.nullTS(a.AcknowledgedAt), a.AcknowledgedBy, t.db.nullTS(a.ResolvedAt), a.Line)
	if err != nil {
		return fmt.Errorf("save alert: %w", err)
	}
	return nil
}

func (t *invTx) Emit(ctx context.Context, ev qrmfg.Event) error { return t.emit(ctx, ev) }

func (t *invTx) MarkProcessed(ctx context.Context, consumer, eventID string) (bool, error) {
	res, err := t.exec(ctx, `INSERT INTO processed_events (consumer, event_id, handled_at) VALUES (?, ?, ?)
		ON CONFLICT (consumer, event_id) DO NOTHING`, consumer, eventID, t.db.ts(t.now))
	if err != nil {
		return false, fmt.Errorf("mark event %s processed by %s: %w", eventID, consumer, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("mark event %s processed by %s: %w", eventID, consumer, err)
	}
	return n == 1, nil
}

func (t *invTx) CompleteClaim(ctx context.Context, c *idempotency.Claim, status int, response []byte) error {
	return t.completeClaim(ctx, c, status, response)
}

func nullStr(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// compactJSON removes the spaces PostgreSQL puts into JSONB output, so both
// dialects return the same bytes.
func compactJSON(b []byte) json.RawMessage {
	if bytes.IndexByte(b, ' ') < 0 {
		return json.RawMessage(b)
	}
	var out bytes.Buffer
	if err := json.Compact(&out, b); err != nil {
		return json.RawMessage(b)
	}
	return out.Bytes()
}
