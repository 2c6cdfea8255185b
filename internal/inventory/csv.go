package inventory

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/qrmfg/qrmfg/internal/csvcell"
	"github.com/qrmfg/qrmfg/internal/partid"
	"github.com/qrmfg/qrmfg/internal/qrmfg"
	"github.com/qrmfg/qrmfg/internal/textfield"
)

// csvColumns are the columns of an export, in order. Imports accept any
// order by header name; uid is required, the others optional.
var csvColumns = []string{"uid", "component_type", "vendor_code", "lot_number", "serial", "manufacturing_date",
	"warranty_years", "warranty_end", "status", "location", "attributes", "batch_id", "parent_uid", "created_at", "updated_at", "line"}

// ExportCSV streams every item matching f as CSV, in uid order.
func (s *Service) ExportCSV(ctx context.Context, f ItemFilter, w io.Writer) error {
	if err := s.validateFilter(ctx, &f, false); err != nil {
		return err
	}
	cw := csv.NewWriter(w)
	if err := cw.Write(csvColumns); err != nil {
		return err
	}
	rec := make([]string, len(csvColumns))
	err := s.store.EachItem(ctx, f, func(it Item) error {
		rec[0], rec[1], rec[2], rec[3] = it.UID, it.ComponentType, it.VendorCode, it.LotNumber
		rec[4], rec[5] = strconv.FormatInt(it.Serial, 10), it.ManufacturingDate
		rec[6], rec[7], rec[8], rec[9] = strconv.Itoa(it.WarrantyYears), it.WarrantyEnd, string(it.Status), it.Location
		rec[10], rec[11], rec[12] = string(it.Attributes), it.BatchID, it.ParentUID
		rec[13], rec[14] = it.CreatedAt.Format(time.RFC3339Nano), it.UpdatedAt.Format(time.RFC3339Nano)
		rec[15] = it.Line
		for i := range rec {
			// Free text (a location, say) must not open as a formula;
			// ImportCSV takes the guard off again.
			rec[i] = csvcell.Safe(rec[i])
		}
		return cw.Write(rec)
	})
	if err != nil {
		return err
	}
	cw.Flush()
	return cw.Error()
}

// RowError is one bad row of an import.
type RowError struct {
	Line   int    `json:"line"`
	Column string `json:"column,omitempty"`
	Reason string `json:"reason"`
}

// ImportReport is the outcome of an import or its dry run.
type ImportReport struct {
	DryRun   bool       `json:"dry_run"`
	Rows     int        `json:"rows"`
	Valid    int        `json:"valid"`
	Imported int        `json:"imported"`
	Errors   []RowError `json:"errors"`
}

// MaxImportRows bounds one import.
const MaxImportRows = 100_000

// ImportCSV reads items from CSV. Every row is checked first; nothing is
// written unless all rows are valid, and a dry run writes nothing at all.
// The report lists every bad row (up to 1,000) with its line and reason.
func (s *Service) ImportCSV(ctx context.Context, r io.Reader, dryRun bool) (ImportReport, error) {
	rep := ImportReport{DryRun: dryRun, Errors: []RowError{}}
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true
	header, err := cr.Read()
	if err != nil {
		if errors.Is(err, io.EOF) {
			return rep, qrmfg.FieldError("file", "the CSV file is empty: expected a header row with at least uid")
		}
		return rep, qrmfg.FieldError("file", "cannot read the CSV header: %v", err)
	}
	col := map[string]int{}
	var names []string // the columns by index (header is reused by the reader)
	known := map[string]bool{}
	for _, c := range csvColumns {
		known[c] = true
	}
	for i, h := range header {
		h = strings.ToLower(strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")))
		if !known[h] {
			return rep, qrmfg.FieldError("file", "unknown column %q in the header; known columns: %s", h, strings.Join(csvColumns, ", "))
		}
		if _, dup := col[h]; dup {
			return rep, qrmfg.FieldError("file", "column %q appears twice in the header", h)
		}
		col[h] = i
		names = append(names, h)
	}
	if _, ok := col["uid"]; !ok {
		return rep, qrmfg.FieldError("file", "the header has no uid column")
	}
	var items []Item
	seen := map[string]int{}
	addErr := func(line int, column, format string, args ...any) {
		if len(rep.Errors) < 1000 {
			rep.Errors = append(rep.Errors, RowError{Line: line, Column: column, Reason: fmt.Sprintf(format, args...)})
		}
	}
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		line, _ := cr.FieldPos(0)
		rep.Rows++
		if err != nil {
			addErr(line, "", "%v", err)
			var pe *csv.ParseError
			if errors.As(err, &pe) && !errors.Is(pe.Err, csv.ErrFieldCount) {
				break // the rest of the file cannot be trusted
			}
			continue
		}
		if rep.Rows > MaxImportRows {
			return rep, qrmfg.FieldError("file", "the file has more than %d rows; split it", MaxImportRows)
		}
		if len(rec) != len(header) {
			addErr(line, "", "row has %d fields, the header has %d", len(rec), len(header))
			continue
		}
		if i, bad := badCell(rec); bad != "" {
			addErr(line, names[i], "%s %s", names[i], bad)
			continue
		}
		for i := range rec {
			rec[i] = csvcell.Restore(rec[i])
		}
		it, cerr, reason := rowToItem(ctx, rec, col)
		if reason != "" {
			addErr(line, cerr, "%s", reason)
			continue
		}
		if first, dup := seen[it.UID]; dup {
			addErr(line, "uid", "uid %s already appears on line %d", it.UID, first)
			continue
		}
		seen[it.UID] = line
		items = append(items, it)
	}
	// Rows that are valid on their own may still clash with stored items.
	// An item of a line the actor may not see is reported as nothing
	// (exactly as a uid that does not exist, so that a dry run tells no one
	// which uids other lines hold); the import itself still cannot take its
	// uid (see errTaken).
	for _, it := range items {
		if got, err := s.store.GetItem(ctx, it.UID); err == nil && qrmfg.LineVisible(ctx, got.Line) {
			addErr(seen[it.UID], "uid", "item %s already exists", it.UID)
		} else if err != nil && qrmfg.ErrorCode(err) != qrmfg.ENOTFOUND {
			return rep, err
		}
	}
	rep.Valid = rep.Rows - countLines(rep.Errors)
	if len(rep.Errors) > 0 || dryRun || len(items) == 0 {
		if len(items) == 0 && len(rep.Errors) == 0 && !dryRun {
			return rep, qrmfg.FieldError("file", "the CSV file has a header but no rows")
		}
		return rep, nil
	}
	err = s.store.Update(ctx, func(ctx context.Context, tx Tx) error {
		now := tx.Now()
		touched := map[[2]string]bool{}
		for i := range items {
			items[i].CreatedAt, items[i].UpdatedAt, items[i].Version = now, now, 1
			touched[[2]string{items[i].ComponentType, items[i].VendorCode}] = true
		}
		if err := tx.InsertItems(ctx, items); err != nil {
			if qrmfg.ErrorCode(err) == qrmfg.ECONFLICT {
				return errTaken()
			}
			return err
		}
		ev, err := qrmfg.NewEvent(ctx, EventSource, EventItemsImported, "", map[string]any{"count": len(items), "first_uid": items[0].UID})
		if err != nil {
			return err
		}
		if err := tx.Emit(ctx, ev); err != nil {
			return err
		}
		return s.checkStock(ctx, tx, touched)
	})
	if err != nil {
		return rep, err
	}
	rep.Imported = len(items)
	return rep, nil
}

// badCell finds the first cell of a row holding text no database should
// take (a NUL character, invalid UTF-8): its index and the problem.
func badCell(rec []string) (int, string) {
	for i, v := range rec {
		if p := textfield.Problem(v); p != "" {
			return i, p
		}
	}
	return 0, ""
}

// errTaken is the answer to an import that met a stored item the actor may
// not see: nothing is written and no row is named.
func errTaken() error {
	return qrmfg.Errorf(qrmfg.ECONFLICT, "the import conflicts with items stored meanwhile or not visible to you; nothing was imported").
		WithDetail("field", "file")
}

func countLines(errs []RowError) int {
	lines := map[int]bool{}
	for _, e := range errs {
		lines[e.Line] = true
	}
	return len(lines)
}

// rowToItem validates one CSV row; on failure it returns the column and reason.
func rowToItem(ctx context.Context, rec []string, col map[string]int) (Item, string, string) {
	get := func(name string) string {
		if i, ok := col[name]; ok {
			return strings.TrimSpace(rec[i])
		}
		return ""
	}
	id, err := partid.Parse(get("uid"))
	if err != nil {
		return Item{}, "uid", qrmfg.ErrorMessage(err)
	}
	it := Item{UID: id.String(), ComponentType: id.Type, VendorCode: id.Vendor, LotNumber: id.Lot, Serial: id.Serial,
		Status: StatusAvailable, Attributes: json.RawMessage("{}")}
	for name, want := range map[string]string{"component_type": id.Type, "vendor_code": id.Vendor, "lot_number": id.Lot} {
		if v := get(name); v != "" && v != want {
			return Item{}, name, fmt.Sprintf("%s %q does not match the uid (%q)", name, v, want)
		}
	}
	if v := get("serial"); v != "" && v != strconv.FormatInt(id.Serial, 10) {
		return Item{}, "serial", fmt.Sprintf("serial %q does not match the uid (%d)", v, id.Serial)
	}
	if v := get("status"); v != "" {
		st, err := ParseStatus(v)
		if err != nil {
			return Item{}, "status", qrmfg.ErrorMessage(err)
		}
		it.Status = st
	}
	if _, err := parseDate("manufacturing_date", get("manufacturing_date")); err != nil {
		return Item{}, "manufacturing_date", qrmfg.ErrorMessage(err)
	}
	it.ManufacturingDate = get("manufacturing_date")
	if _, err := parseDate("warranty_end", get("warranty_end")); err != nil {
		return Item{}, "warranty_end", qrmfg.ErrorMessage(err)
	}
	it.WarrantyEnd = get("warranty_end")
	if v := get("warranty_years"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > 100 {
			return Item{}, "warranty_years", fmt.Sprintf("warranty_years %q is not a whole number from 0 to 100", v)
		}
		it.WarrantyYears = n
	}
	it.Location = get("location")
	if len(it.Location) > 200 {
		return Item{}, "location", "location is longer than 200 characters"
	}
	it.Line = get("line")
	if len(it.Line) > 64 {
		return Item{}, "line", "line is longer than 64 characters"
	}
	if !qrmfg.LineVisible(ctx, it.Line) || it.Line == "" && len(qrmfg.LineScope(ctx)) > 0 {
		return Item{}, "line", fmt.Sprintf("you may import only onto your production lines (%s)", strings.Join(qrmfg.LineScope(ctx), ", "))
	}
	if v := get("attributes"); v != "" {
		a, err := normaliseAttributes(json.RawMessage(v))
		if err != nil {
			return Item{}, "attributes", qrmfg.ErrorMessage(err)
		}
		it.Attributes = a
	}
	if v := get("parent_uid"); v != "" {
		return Item{}, "parent_uid", "parent_uid cannot be imported; install parts after the import"
	}
	return it, "", ""
}
