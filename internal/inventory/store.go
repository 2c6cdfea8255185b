package inventory

import (
	"context"
	"time"

	"github.com/qrmfg/qrmfg/internal/idempotency"
	"github.com/qrmfg/qrmfg/internal/qrmfg"
)

// Store is the storage the inventory needs. Reads run outside a transaction;
// every change runs inside Update, whose Tx writes events to the outbox in the
// same transaction.
type Store interface {
	// GetItem returns ENOTFOUND when no item has the uid.
	GetItem(ctx context.Context, uid string) (Item, error)
	// GetItems returns the items among uids that exist, in any order.
	GetItems(ctx context.Context, uids []string) ([]Item, error)
	// ListItems returns one page; the filter is already validated.
	ListItems(ctx context.Context, f ItemFilter) (ItemPage, error)
	// EachItem streams every item matching f (Limit and Cursor ignored) in uid order.
	EachItem(ctx context.Context, f ItemFilter, fn func(Item) error) error
	// History returns an item's changes, oldest first.
	History(ctx context.Context, uid string) ([]HistoryEntry, error)
	// Children returns the items installed directly in uid.
	Children(ctx context.Context, uid string) ([]Item, error)
	// GetBatch returns ENOTFOUND when no batch has the id.
	GetBatch(ctx context.Context, id string) (Batch, error)
	Thresholds(ctx context.Context) ([]Threshold, error)
	// Alerts lists alerts in a state ("" for all), newest first.
	Alerts(ctx context.Context, state string) ([]Alert, error)
	// Counts groups items by a column: status, component_type, vendor_code
	// or lot_number; with lines, only items of those lines and of no line.
	Counts(ctx context.Context, column string, lines []string) ([]Count, error)
	// PerDay counts items generated, engraved and shipped per UTC day in
	// [from, to); with lines, only items of those lines and of no line.
	PerDay(ctx context.Context, from, to time.Time, lines []string) ([]DayCount, error)
	// AvailableBy counts available items per (component type, vendor, line).
	AvailableBy(ctx context.Context) (map[[3]string]int64, error)
	// Update runs fn in one transaction.
	Update(ctx context.Context, fn func(ctx context.Context, tx Tx) error) error
}

// Tx is a write transaction. Every row it writes carries Now().
type Tx interface {
	Now() time.Time
	// NextSerials advances the lot's counter by count and returns the first
	// serial of the reserved range. Concurrent callers get disjoint ranges.
	NextSerials(ctx context.Context, typ, vendor, lot string, count int) (int64, error)
	// InsertBatch writes the batch and its Count items (status generated).
	InsertBatch(ctx context.Context, b Batch, warrantyEnd string) error
	// InsertItems writes items given in full (imports).
	InsertItems(ctx context.Context, items []Item) error
	// LockItem reads an item for update; ENOTFOUND when absent.
	LockItem(ctx context.Context, uid string) (Item, error)
	// LotUIDs returns the uids of a lot, in serial order.
	LotUIDs(ctx context.Context, typ, vendor, lot string) ([]string, error)
	// UpdateItem writes it if its stored version is still it.Version and
	// bumps the version; ECONFLICT when someone changed it meanwhile.
	UpdateItem(ctx context.Context, it *Item) error
	AddHistory(ctx context.Context, h HistoryEntry) error
	// CountAvailable counts available items of a type, of one vendor or of
	// all (""), of one line or of all ("").
	CountAvailable(ctx context.Context, typ, vendor, line string) (int64, error)
	// ThresholdsFor returns the thresholds of a type, of every line.
	ThresholdsFor(ctx context.Context, typ string) ([]Threshold, error)
	SetThreshold(ctx context.Context, t Threshold) error
	DeleteThreshold(ctx context.Context, typ, vendor, line string) error
	// OpenAlert returns the unresolved alert for (type, vendor, line), or nil.
	OpenAlert(ctx context.Context, typ, vendor, line string) (*Alert, error)
	GetAlert(ctx context.Context, id string) (Alert, error)
	SaveAlert(ctx context.Context, a Alert) error
	// Emit writes an event to the outbox; it is published after commit.
	Emit(ctx context.Context, ev qrmfg.Event) error
	// MarkProcessed records that consumer handled the event and reports
	// whether it is the first time. The mark commits or rolls back with the
	// transaction, so an idempotent consumer's change and its mark are one.
	MarkProcessed(ctx context.Context, consumer, eventID string) (bool, error)
	// CompleteClaim stores the answer of an idempotent request; ECONFLICT
	// when the claim was lost (the transaction must then roll back).
	CompleteClaim(ctx context.Context, c *idempotency.Claim, status int, response []byte) error
}
