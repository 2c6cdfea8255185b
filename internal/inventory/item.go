// Package inventory owns the parts qrmfg tracks: items and their lifecycle,
// per-item history, serial allocation, genealogy, stock thresholds and alerts,
// and analytics. Storage is behind the Store interface; events leave through
// the outbox that the store writes in the same transaction as the change.
package inventory

import (
	"encoding/json"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/qrmfg/qrmfg/internal/qrmfg"
)

// Status is an item's lifecycle state.
type Status string

const (
	StatusGenerated   Status = "generated"
	StatusEngraved    Status = "engraved"
	StatusAvailable   Status = "available"
	StatusReserved    Status = "reserved"
	StatusShipped     Status = "shipped"
	StatusInstalled   Status = "installed"
	StatusReturned    Status = "returned"
	StatusQuarantined Status = "quarantined"
	StatusDefective   Status = "defective"
	StatusScrapped    Status = "scrapped"
	StatusVoid        Status = "void"
)

// transitions is the one table of allowed lifecycle moves.
var transitions = map[Status][]Status{
	StatusGenerated:   {StatusEngraved, StatusVoid, StatusDefective},
	StatusEngraved:    {StatusAvailable, StatusQuarantined, StatusDefective, StatusScrapped, StatusVoid},
	StatusAvailable:   {StatusReserved, StatusShipped, StatusInstalled, StatusQuarantined, StatusDefective, StatusScrapped},
	StatusReserved:    {StatusAvailable, StatusShipped, StatusInstalled, StatusQuarantined},
	StatusShipped:     {StatusReturned, StatusInstalled},
	StatusInstalled:   {StatusAvailable, StatusReturned, StatusDefective, StatusScrapped},
	StatusReturned:    {StatusAvailable, StatusQuarantined, StatusDefective, StatusScrapped},
	StatusQuarantined: {StatusAvailable, StatusDefective, StatusScrapped},
	StatusDefective:   {StatusScrapped, StatusQuarantined},
	StatusScrapped:    {},
	StatusVoid:        {},
}

// Statuses returns every status in lifecycle order.
func Statuses() []Status {
	return []Status{StatusGenerated, StatusEngraved, StatusAvailable, StatusReserved, StatusShipped,
		StatusInstalled, StatusReturned, StatusQuarantined, StatusDefective, StatusScrapped, StatusVoid}
}

// ParseStatus validates a status name.
func ParseStatus(s string) (Status, error) {
	st := Status(strings.ToLower(strings.TrimSpace(s)))
	if _, ok := transitions[st]; !ok {
		names := make([]string, 0, len(transitions))
		for _, x := range Statuses() {
			names = append(names, string(x))
		}
		return "", qrmfg.FieldError("status", "unknown status %q; expected one of %s", s, strings.Join(names, ", "))
	}
	return st, nil
}

// AllowedNext returns the statuses an item in status s may move to.
func AllowedNext(s Status) []Status { return slices.Clone(transitions[s]) }

// CanTransition reports whether from → to is allowed.
func CanTransition(from, to Status) bool { return slices.Contains(transitions[from], to) }

// TransitionTable returns the whole table, for documentation and the UI.
func TransitionTable() map[Status][]Status {
	out := make(map[Status][]Status, len(transitions))
	for k, v := range transitions {
		out[k] = slices.Clone(v)
	}
	return out
}

// Item is one tracked part.
type Item struct {
	UID               string          `json:"uid"`
	ComponentType     string          `json:"component_type"`
	VendorCode        string          `json:"vendor_code"`
	LotNumber         string          `json:"lot_number"`
	Serial            int64           `json:"serial"`
	ManufacturingDate string          `json:"manufacturing_date,omitempty"`
	WarrantyYears     int             `json:"warranty_years"`
	WarrantyEnd       string          `json:"warranty_end,omitempty"`
	Status            Status          `json:"status"`
	Location          string          `json:"location"`
	Line              string          `json:"line,omitempty"` // production line; empty: none
	Attributes        json.RawMessage `json:"attributes"`
	BatchID           string          `json:"batch_id,omitempty"`
	ParentUID         string          `json:"parent_uid,omitempty"`
	LastSeenAt        *time.Time      `json:"last_seen_at,omitempty"`
	LastSeenLocation  string          `json:"last_seen_location,omitempty"`
	CreatedAt         time.Time       `json:"created_at"`
	UpdatedAt         time.Time       `json:"updated_at"`
	Version           int64           `json:"version"`
}

// HistoryEntry is one recorded change of an item.
type HistoryEntry struct {
	ID      int64     `json:"id"`
	ItemUID string    `json:"item_uid"`
	Kind    string    `json:"kind"` // status, location, attributes, installed, removed, seen
	From    string    `json:"from,omitempty"`
	To      string    `json:"to,omitempty"`
	Actor   string    `json:"actor,omitempty"`
	Reason  string    `json:"reason,omitempty"`
	EventID string    `json:"event_id,omitempty"`
	At      time.Time `json:"at"`
}

// Batch is one allocation: a contiguous range of serials in a lot.
type Batch struct {
	ID                string          `json:"id"`
	ComponentType     string          `json:"component_type"`
	VendorCode        string          `json:"vendor_code"`
	LotNumber         string          `json:"lot_number"`
	FirstSerial       int64           `json:"first_serial"`
	Count             int             `json:"count"`
	ManufacturingDate string          `json:"manufacturing_date,omitempty"`
	WarrantyYears     int             `json:"warranty_years"`
	Line              string          `json:"line,omitempty"`
	Attributes        json.RawMessage `json:"attributes"`
	CreatedBy         string          `json:"created_by,omitempty"`
	CreatedAt         time.Time       `json:"created_at"`
}

// LastSerial is the highest serial of the batch.
func (b Batch) LastSerial() int64 { return b.FirstSerial + int64(b.Count) - 1 }

// SortField names a column items can be ordered by.
type SortField string

const (
	SortUID       SortField = "uid"
	SortCreatedAt SortField = "created_at"
	SortUpdatedAt SortField = "updated_at"
	SortSerial    SortField = "serial"
)

// ItemFilter selects items. Nil and empty fields do not filter.
type ItemFilter struct {
	Statuses      []Status
	ComponentType string
	VendorCode    string
	LotNumber     string
	Location      string
	Line          string   // items of this production line
	Lines         []string // restriction: only items of these lines (or of none); set from the actor
	UIDPrefix     string
	BatchID       string
	SerialFrom    int64 // with the lot: serials >= SerialFrom
	SerialTo      int64 // with the lot: serials <= SerialTo
	ParentUID     string
	CreatedFrom   *time.Time
	CreatedTo     *time.Time
	Sort          SortField
	Desc          bool
	Limit         int
	Cursor        string
	WithTotal     bool
}

// ItemPage is one page of a listing.
type ItemPage struct {
	Items      []Item `json:"items"`
	NextCursor string `json:"next_cursor,omitempty"`
	Total      *int64 `json:"total,omitempty"`
}

// Threshold is the least number of available items wanted for a component
// type, optionally for one vendor ("" means every vendor together), on one
// production line (its items only) or, with no line, on the whole plant
// (every line's items).
type Threshold struct {
	ComponentType string    `json:"component_type"`
	VendorCode    string    `json:"vendor_code"`
	Line          string    `json:"line"`
	MinAvailable  int64     `json:"min_available"`
	UpdatedAt     time.Time `json:"updated_at"`
}

// Alert states.
const (
	AlertOpen         = "open"
	AlertAcknowledged = "acknowledged"
	AlertResolved     = "resolved"
)

// Alert is a raised low-stock condition.
type Alert struct {
	ID             string     `json:"id"`
	ComponentType  string     `json:"component_type"`
	VendorCode     string     `json:"vendor_code"`
	Line           string     `json:"line" doc:"The line of its threshold; empty: the whole plant"`
	Threshold      int64      `json:"threshold"`
	Available      int64      `json:"available"`
	State          string     `json:"state"`
	RaisedAt       time.Time  `json:"raised_at"`
	AcknowledgedAt *time.Time `json:"acknowledged_at,omitempty"`
	AcknowledgedBy string     `json:"acknowledged_by,omitempty"`
	ResolvedAt     *time.Time `json:"resolved_at,omitempty"`
}

// Count is a labelled number.
type Count struct {
	Key   string `json:"key"`
	Count int64  `json:"count"`
}

// DayCount is the number of items that reached a status on one UTC day.
type DayCount struct {
	Day       string `json:"day"`
	Generated int64  `json:"generated"`
	Engraved  int64  `json:"engraved"`
	Shipped   int64  `json:"shipped"`
}

// StockLevel compares available stock with its threshold.
type StockLevel struct {
	ComponentType string `json:"component_type"`
	VendorCode    string `json:"vendor_code"`
	Line          string `json:"line"`
	Available     int64  `json:"available"`
	MinAvailable  int64  `json:"min_available"`
	Low           bool   `json:"low"`
}

// Analytics is the summary the dashboard shows.
type Analytics struct {
	ByStatus []Count      `json:"by_status"`
	ByType   []Count      `json:"by_type"`
	ByVendor []Count      `json:"by_vendor"`
	ByLot    []Count      `json:"by_lot"`
	PerDay   []DayCount   `json:"per_day"`
	Stock    []StockLevel `json:"stock"`
}

// Node is an item in a genealogy tree.
type Node struct {
	Item     Item    `json:"item"`
	Children []*Node `json:"children,omitempty"`
}

func sortCounts(cs []Count) {
	sort.Slice(cs, func(i, j int) bool { return cs[i].Key < cs[j].Key })
}
