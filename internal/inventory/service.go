package inventory

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/qrmfg/qrmfg/internal/idempotency"
	"github.com/qrmfg/qrmfg/internal/partid"
	"github.com/qrmfg/qrmfg/internal/qrmfg"
)

// EventSource is the CloudEvents source of inventory events.
const EventSource = "/qrmfg/inventory"

// Event types published by the inventory.
const (
	EventBatchAllocated = "inventory.batch.allocated"
	EventStatusChanged  = "inventory.item.status_changed"
	EventItemUpdated    = "inventory.item.updated"
	EventItemInstalled  = "inventory.item.installed"
	EventItemRemoved    = "inventory.item.removed"
	EventItemsImported  = "inventory.items.imported"
	EventStockLow       = "inventory.stock.low"
	EventStockRecovered = "inventory.stock.recovered"
)

// Limits bound what one request may ask.
type Limits struct {
	MaxBatch    int // items per allocation
	MaxPage     int // items per listing page
	MaxBulk     int // items per bulk transition
	MaxTraceDep int // genealogy depth
}

// DefaultLimits are the limits used when none are configured.
func DefaultLimits() Limits {
	return Limits{MaxBatch: 100_000, MaxPage: 1000, MaxBulk: 100_000, MaxTraceDep: 64}
}

// Service is the inventory's logic over a Store.
type Service struct {
	store  Store
	limits Limits
}

// NewService returns the inventory service.
func NewService(store Store, limits Limits) *Service {
	d := DefaultLimits()
	if limits.MaxBatch <= 0 {
		limits.MaxBatch = d.MaxBatch
	}
	if limits.MaxPage <= 0 {
		limits.MaxPage = d.MaxPage
	}
	if limits.MaxBulk <= 0 {
		limits.MaxBulk = d.MaxBulk
	}
	if limits.MaxTraceDep <= 0 {
		limits.MaxTraceDep = d.MaxTraceDep
	}
	return &Service{store: store, limits: limits}
}

// Limits returns the service's limits.
func (s *Service) Limits() Limits { return s.limits }

// AllocateRequest asks for count new items in a lot.
type AllocateRequest struct {
	ComponentType     string          `json:"component_type"`
	VendorCode        string          `json:"vendor_code"`
	LotNumber         string          `json:"lot_number"`
	Count             int             `json:"count"`
	ManufacturingDate string          `json:"manufacturing_date,omitempty"`
	WarrantyYears     int             `json:"warranty_years"`
	Attributes        json.RawMessage `json:"attributes,omitempty"`
	// Line is the production line of the batch's items (empty: none). A
	// caller restricted to lines must name one of them (or has only one).
	Line string `json:"line,omitempty"`
	// Claim, when set, is completed with the batch in the same transaction.
	Claim *idempotency.Claim `json:"-"`
	// MaxSerial, when set, refuses a batch that would pass this serial of
	// the lot (checked on the lot's counter in the allocation's
	// transaction); MaxSerialReason says why, for the error.
	MaxSerial       int64  `json:"max_serial,omitempty"`
	MaxSerialReason string `json:"max_serial_reason,omitempty"`
}

// AllocateBatch reserves a contiguous range of serials in the lot and inserts
// its items (status generated) and the batch event in one transaction.
func (s *Service) AllocateBatch(ctx context.Context, req AllocateRequest) (Batch, error) {
	if err := partid.ValidateLot(req.ComponentType, req.VendorCode, req.LotNumber); err != nil {
		return Batch{}, err
	}
	if req.Count < 1 {
		return Batch{}, qrmfg.FieldError("count", "count must be at least 1, got %d", req.Count)
	}
	if req.Count > s.limits.MaxBatch {
		return Batch{}, qrmfg.FieldError("count", "count %d is over the limit of %d items per batch (QRMFG_MAX_BATCH)", req.Count, s.limits.MaxBatch)
	}
	if req.WarrantyYears < 0 || req.WarrantyYears > 100 {
		return Batch{}, qrmfg.FieldError("warranty_years", "warranty_years must be between 0 and 100, got %d", req.WarrantyYears)
	}
	mfg, err := parseDate("manufacturing_date", req.ManufacturingDate)
	if err != nil {
		return Batch{}, err
	}
	attrs, err := normaliseAttributes(req.Attributes)
	if err != nil {
		return Batch{}, err
	}
	line, err := qrmfg.NewObjectLine(ctx, req.Line, "allocate on")
	if err != nil {
		return Batch{}, err
	}
	warrantyEnd := ""
	if !mfg.IsZero() && req.WarrantyYears > 0 {
		warrantyEnd = mfg.AddDate(req.WarrantyYears, 0, 0).Format(time.DateOnly)
	}
	actor := qrmfg.ActorFrom(ctx)
	var batch Batch
	err = s.store.Update(ctx, func(ctx context.Context, tx Tx) error {
		first, err := tx.NextSerials(ctx, req.ComponentType, req.VendorCode, req.LotNumber, req.Count)
		if err != nil {
			return err
		}
		if first+int64(req.Count)-1 > partid.MaxSerial {
			return qrmfg.FieldError("count", "lot %s has only %d serials left", req.LotNumber, max(0, partid.MaxSerial-first+1))
		}
		if last := first + int64(req.Count) - 1; req.MaxSerial > 0 && last > req.MaxSerial {
			return qrmfg.FieldError("count", "the batch would reach serial %d of lot %s, past %d (%d of its serials are left below it): %s",
				last, req.LotNumber, req.MaxSerial, max(0, req.MaxSerial-first+1), req.MaxSerialReason)
		}
		batch = Batch{
			ID: qrmfg.NewID(), ComponentType: req.ComponentType, VendorCode: req.VendorCode,
			LotNumber: req.LotNumber, FirstSerial: first, Count: req.Count,
			ManufacturingDate: req.ManufacturingDate, WarrantyYears: req.WarrantyYears,
			Attributes: attrs, CreatedBy: actor.ID, CreatedAt: tx.Now(), Line: line,
		}
		if err := tx.InsertBatch(ctx, batch, warrantyEnd); err != nil {
			return err
		}
		ev, err := qrmfg.NewEvent(ctx, EventSource, EventBatchAllocated, batch.ID, batchEventData(batch))
		if err != nil {
			return err
		}
		if err := tx.Emit(ctx, ev); err != nil {
			return err
		}
		if req.Claim != nil {
			body, err := json.Marshal(batch)
			if err != nil {
				return err
			}
			return tx.CompleteClaim(ctx, req.Claim, 201, body)
		}
		return nil
	})
	if err != nil {
		return Batch{}, err
	}
	return batch, nil
}

type batchEvent struct {
	BatchID       string `json:"batch_id"`
	ComponentType string `json:"component_type"`
	VendorCode    string `json:"vendor_code"`
	LotNumber     string `json:"lot_number"`
	FirstSerial   int64  `json:"first_serial"`
	LastSerial    int64  `json:"last_serial"`
	Count         int    `json:"count"`
	FirstUID      string `json:"first_uid"`
	LastUID       string `json:"last_uid"`
}

func batchEventData(b Batch) batchEvent {
	id := partid.ID{Type: b.ComponentType, Vendor: b.VendorCode, Lot: b.LotNumber, Serial: b.FirstSerial}
	first := id.String()
	id.Serial = b.LastSerial()
	return batchEvent{b.ID, b.ComponentType, b.VendorCode, b.LotNumber, b.FirstSerial, b.LastSerial(), b.Count, first, id.String()}
}

// UIDs returns the uids of a batch in serial order.
func (b Batch) UIDs() []string {
	out := make([]string, b.Count)
	id := partid.ID{Type: b.ComponentType, Vendor: b.VendorCode, Lot: b.LotNumber}
	for i := range out {
		id.Serial = b.FirstSerial + int64(i)
		out[i] = id.String()
	}
	return out
}

// GetBatch returns a batch by id.
func (s *Service) GetBatch(ctx context.Context, id string) (Batch, error) {
	b, err := s.store.GetBatch(ctx, id)
	if err == nil && !qrmfg.LineVisible(ctx, b.Line) {
		return Batch{}, qrmfg.Errorf(qrmfg.ENOTFOUND, "batch %s does not exist", id)
	}
	return b, err
}

// ItemDetail is an item with its history and its directly installed parts.
type ItemDetail struct {
	Item
	History  []HistoryEntry `json:"history"`
	Children []string       `json:"children"`
}

// Get returns an item with its history.
func (s *Service) Get(ctx context.Context, uid string) (ItemDetail, error) {
	if _, err := partid.Parse(uid); err != nil {
		return ItemDetail{}, err
	}
	it, err := s.store.GetItem(ctx, uid)
	if err == nil {
		err = checkVisible(ctx, it)
	}
	if err != nil {
		return ItemDetail{}, err
	}
	h, err := s.store.History(ctx, uid)
	if err != nil {
		return ItemDetail{}, err
	}
	kids, err := s.store.Children(ctx, uid)
	if err != nil {
		return ItemDetail{}, err
	}
	d := ItemDetail{Item: it, History: h, Children: make([]string, 0, len(kids))}
	for _, k := range kids {
		d.Children = append(d.Children, k.UID)
	}
	return d, nil
}

// List returns a page of items.
func (s *Service) List(ctx context.Context, f ItemFilter) (ItemPage, error) {
	if err := s.validateFilter(ctx, &f, true); err != nil {
		return ItemPage{}, err
	}
	return s.store.ListItems(ctx, f)
}

func (s *Service) validateFilter(ctx context.Context, f *ItemFilter, paged bool) error {
	f.Lines = qrmfg.LineScope(ctx)
	if f.BatchID != "" {
		// A batch is a serial range of one lot: the lot index serves it.
		b, err := s.GetBatch(ctx, f.BatchID)
		if err != nil {
			return err
		}
		if (f.ComponentType != "" && f.ComponentType != b.ComponentType) || (f.VendorCode != "" && f.VendorCode != b.VendorCode) ||
			(f.LotNumber != "" && f.LotNumber != b.LotNumber) {
			return qrmfg.FieldError("batch_id", "batch %s belongs to %s-%s-%s, which the other filters exclude", b.ID, b.ComponentType, b.VendorCode, b.LotNumber)
		}
		f.ComponentType, f.VendorCode, f.LotNumber = b.ComponentType, b.VendorCode, b.LotNumber
		f.SerialFrom, f.SerialTo, f.BatchID = b.FirstSerial, b.LastSerial(), ""
	}
	if paged {
		if f.Limit == 0 {
			f.Limit = 50
		}
		if f.Limit < 1 || f.Limit > s.limits.MaxPage {
			return qrmfg.FieldError("limit", "limit must be between 1 and %d, got %d", s.limits.MaxPage, f.Limit)
		}
	}
	switch f.Sort {
	case "":
		f.Sort = SortUID
	case SortUID, SortCreatedAt, SortUpdatedAt, SortSerial:
	default:
		return qrmfg.FieldError("sort", "cannot sort by %q; expected uid, created_at, updated_at or serial", f.Sort)
	}
	if f.CreatedFrom != nil && f.CreatedTo != nil && f.CreatedTo.Before(*f.CreatedFrom) {
		return qrmfg.FieldError("created_to", "created_to is before created_from")
	}
	if f.Cursor != "" {
		if _, err := DecodeCursor(f.Cursor, f.Sort, f.Desc); err != nil {
			return err
		}
	}
	return nil
}

// Cursor is the position after the last item of a page.
type Cursor struct {
	Sort  SortField `json:"s"`
	Desc  bool      `json:"d,omitempty"`
	Value string    `json:"v"`
	UID   string    `json:"u"`
}

// DecodeCursor parses an opaque cursor and checks it belongs to the same ordering.
func DecodeCursor(s string, sort SortField, desc bool) (Cursor, error) {
	var c Cursor
	raw, err := base64URL.DecodeString(s)
	if err == nil {
		err = json.Unmarshal(raw, &c)
	}
	if err != nil || c.UID == "" {
		return Cursor{}, qrmfg.FieldError("cursor", "cursor is not one this server issued")
	}
	if c.Sort != sort || c.Desc != desc {
		return Cursor{}, qrmfg.FieldError("cursor", "cursor was issued for sort=%s desc=%v; repeat the same sort to continue", c.Sort, c.Desc)
	}
	return c, nil
}

// Encode returns the opaque form of a cursor.
func (c Cursor) Encode() string {
	raw, _ := json.Marshal(c)
	return base64URL.EncodeToString(raw)
}

// TransitionRequest moves one item to a new status.
type TransitionRequest struct {
	UID    string
	To     Status
	Reason string
	// Version, when non-zero, must equal the item's version (optimistic concurrency).
	Version int64
	// CausedBy is the id of the event that caused the change, if any.
	CausedBy string
}

// Transition moves an item to another status. A move the lifecycle forbids
// is ECONFLICT with the allowed next states in the error's detail.
func (s *Service) Transition(ctx context.Context, req TransitionRequest) (Item, error) {
	if _, err := partid.Parse(req.UID); err != nil {
		return Item{}, err
	}
	if _, err := ParseStatus(string(req.To)); err != nil {
		return Item{}, err
	}
	var out Item
	err := s.store.Update(ctx, func(ctx context.Context, tx Tx) error {
		it, err := tx.LockItem(ctx, req.UID)
		if err == nil {
			err = checkVisible(ctx, it)
		}
		if err != nil {
			return err
		}
		if req.Version != 0 && req.Version != it.Version {
			return qrmfg.Errorf(qrmfg.ECONFLICT, "item %s is at version %d, not %d: reload it and try again", it.UID, it.Version, req.Version).
				WithDetail("version", it.Version)
		}
		if err := s.transition(ctx, tx, &it, req.To, req.Reason, req.CausedBy); err != nil {
			return err
		}
		out = it
		return s.checkStock(ctx, tx, map[[2]string]bool{{it.ComponentType, it.VendorCode}: true})
	})
	return out, err
}

// transition changes it's status inside tx, with history and event.
func (s *Service) transition(ctx context.Context, tx Tx, it *Item, to Status, reason, causedBy string) error {
	from := it.Status
	if from == to {
		return qrmfg.Errorf(qrmfg.ECONFLICT, "item %s is already %s", it.UID, to).WithDetail("allowed", AllowedNext(from))
	}
	if !CanTransition(from, to) {
		allowed := AllowedNext(from)
		names := make([]string, len(allowed))
		for i, a := range allowed {
			names[i] = string(a)
		}
		msg := "none: " + string(from) + " is final"
		if len(names) > 0 {
			msg = strings.Join(names, ", ")
		}
		return qrmfg.Errorf(qrmfg.ECONFLICT, "item %s cannot go from %s to %s; allowed next: %s", it.UID, from, to, msg).
			WithDetail("from", from).WithDetail("to", to).WithDetail("allowed", allowed)
	}
	it.Status = to
	if err := tx.UpdateItem(ctx, it); err != nil {
		return err
	}
	actor := qrmfg.ActorFrom(ctx)
	ev, err := qrmfg.NewEvent(ctx, EventSource, EventStatusChanged, it.UID, map[string]any{
		"uid": it.UID, "from": from, "to": to, "reason": reason, "actor": actor.ID,
		"component_type": it.ComponentType, "vendor_code": it.VendorCode, "lot_number": it.LotNumber,
		"caused_by": causedBy,
	})
	if err != nil {
		return err
	}
	ev.ID = qrmfg.NewID()
	if err := tx.Emit(ctx, ev); err != nil {
		return err
	}
	return tx.AddHistory(ctx, HistoryEntry{ItemUID: it.UID, Kind: "status", From: string(from), To: string(to),
		Actor: actor.ID, Reason: reason, EventID: firstNonEmpty(causedBy, ev.ID), At: tx.Now()})
}

// BulkTransitionRequest moves many items: listed by uid, or a whole lot.
type BulkTransitionRequest struct {
	UIDs          []string `json:"uids,omitempty"`
	ComponentType string   `json:"component_type,omitempty"`
	VendorCode    string   `json:"vendor_code,omitempty"`
	LotNumber     string   `json:"lot_number,omitempty"`
	To            Status   `json:"to"`
	Reason        string   `json:"reason,omitempty"`
}

// BulkFailure names one item a bulk transition could not move.
type BulkFailure struct {
	UID    string `json:"uid"`
	Code   string `json:"code"`
	Reason string `json:"reason"`
}

// BulkResult reports a bulk transition.
type BulkResult struct {
	Changed int `json:"changed"`
}

// BulkTransition moves every listed item, or none: when any item cannot move,
// nothing changes and the error lists the items at fault (up to 100).
func (s *Service) BulkTransition(ctx context.Context, req BulkTransitionRequest) (BulkResult, error) {
	if _, err := ParseStatus(string(req.To)); err != nil {
		return BulkResult{}, err
	}
	byLot := req.LotNumber != "" || req.ComponentType != "" || req.VendorCode != ""
	if byLot == (len(req.UIDs) > 0) {
		return BulkResult{}, qrmfg.FieldError("uids", "give either uids or component_type, vendor_code and lot_number")
	}
	if byLot {
		if err := partid.ValidateLot(req.ComponentType, req.VendorCode, req.LotNumber); err != nil {
			return BulkResult{}, err
		}
	}
	if len(req.UIDs) > s.limits.MaxBulk {
		return BulkResult{}, qrmfg.FieldError("uids", "%d uids is over the limit of %d", len(req.UIDs), s.limits.MaxBulk)
	}
	seen := make(map[string]bool, len(req.UIDs))
	for i, u := range req.UIDs {
		if _, err := partid.Parse(u); err != nil {
			return BulkResult{}, qrmfg.FieldError(fmt.Sprintf("uids[%d]", i), "%s", qrmfg.ErrorMessage(err))
		}
		if seen[u] {
			return BulkResult{}, qrmfg.FieldError(fmt.Sprintf("uids[%d]", i), "uid %s is listed twice", u)
		}
		seen[u] = true
	}
	var res BulkResult
	err := s.store.Update(ctx, func(ctx context.Context, tx Tx) error {
		uids := req.UIDs
		if byLot {
			var err error
			if uids, err = tx.LotUIDs(ctx, req.ComponentType, req.VendorCode, req.LotNumber); err != nil {
				return err
			}
			if len(uids) == 0 {
				return qrmfg.Errorf(qrmfg.ENOTFOUND, "lot %s-%s-%s has no items", req.ComponentType, req.VendorCode, req.LotNumber)
			}
			if len(uids) > s.limits.MaxBulk {
				return qrmfg.Errorf(qrmfg.EINVALID, "lot has %d items, over the bulk limit of %d", len(uids), s.limits.MaxBulk)
			}
		}
		var failures []BulkFailure
		touched := map[[2]string]bool{}
		for _, uid := range uids {
			it, err := tx.LockItem(ctx, uid)
			if err == nil {
				err = checkVisible(ctx, it)
			}
			if err == nil {
				err = s.transition(ctx, tx, &it, req.To, req.Reason, "")
			}
			if err != nil {
				if qrmfg.ErrorCode(err) == qrmfg.EINTERNAL {
					return err
				}
				if len(failures) < 100 {
					failures = append(failures, BulkFailure{UID: uid, Code: qrmfg.ErrorCode(err), Reason: qrmfg.ErrorMessage(err)})
				}
				continue
			}
			touched[[2]string{it.ComponentType, it.VendorCode}] = true
			res.Changed++
		}
		if len(failures) > 0 {
			return qrmfg.Errorf(qrmfg.ECONFLICT, "%d of %d items cannot move to %s; nothing was changed", len(uids)-res.Changed, len(uids), req.To).
				WithDetail("failures", failures)
		}
		return s.checkStock(ctx, tx, touched)
	})
	if err != nil {
		return BulkResult{}, err
	}
	return res, nil
}

// ItemUpdate changes an item's location or attributes. Nil fields are kept.
type ItemUpdate struct {
	Location *string `json:"location,omitempty"`
	// Attributes is merged into the item's attributes (RFC 7386 merge patch:
	// a null value removes a key).
	Attributes json.RawMessage `json:"attributes,omitempty"`
	Version    int64           `json:"version,omitempty"`
	Reason     string          `json:"reason,omitempty"`
}

// Update changes an item's location and attributes.
func (s *Service) Update(ctx context.Context, uid string, up ItemUpdate) (Item, error) {
	if _, err := partid.Parse(uid); err != nil {
		return Item{}, err
	}
	if up.Location == nil && len(up.Attributes) == 0 {
		return Item{}, qrmfg.FieldError("body", "nothing to update: give location or attributes")
	}
	if up.Location != nil && len(*up.Location) > 200 {
		return Item{}, qrmfg.FieldError("location", "location is longer than 200 characters")
	}
	var out Item
	err := s.store.Update(ctx, func(ctx context.Context, tx Tx) error {
		it, err := tx.LockItem(ctx, uid)
		if err == nil {
			err = checkVisible(ctx, it)
		}
		if err != nil {
			return err
		}
		if up.Version != 0 && up.Version != it.Version {
			return qrmfg.Errorf(qrmfg.ECONFLICT, "item %s is at version %d, not %d: reload it and try again", uid, it.Version, up.Version)
		}
		actor := qrmfg.ActorFrom(ctx)
		changes := map[string]any{"uid": uid}
		if up.Location != nil && *up.Location != it.Location {
			if err := tx.AddHistory(ctx, HistoryEntry{ItemUID: uid, Kind: "location", From: it.Location, To: *up.Location,
				Actor: actor.ID, Reason: up.Reason, At: tx.Now()}); err != nil {
				return err
			}
			changes["location"] = map[string]string{"from": it.Location, "to": *up.Location}
			it.Location = *up.Location
		}
		if len(up.Attributes) > 0 {
			merged, err := mergePatch(it.Attributes, up.Attributes)
			if err != nil {
				return err
			}
			if !bytes.Equal(merged, it.Attributes) {
				if err := tx.AddHistory(ctx, HistoryEntry{ItemUID: uid, Kind: "attributes", From: string(it.Attributes), To: string(merged),
					Actor: actor.ID, Reason: up.Reason, At: tx.Now()}); err != nil {
					return err
				}
				changes["attributes"] = merged
				it.Attributes = merged
			}
		}
		if len(changes) == 1 {
			out = it
			return nil
		}
		if err := tx.UpdateItem(ctx, &it); err != nil {
			return err
		}
		out = it
		ev, err := qrmfg.NewEvent(ctx, EventSource, EventItemUpdated, uid, changes)
		if err != nil {
			return err
		}
		return tx.Emit(ctx, ev)
	})
	return out, err
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
