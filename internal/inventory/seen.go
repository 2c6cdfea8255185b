package inventory

import (
	"context"
	"encoding/json"
	"time"

	"github.com/qrmfg/qrmfg/internal/partid"
	"github.com/qrmfg/qrmfg/internal/qrmfg"
)

// Item returns one item without its history (the cheap lookup scanning
// does for every code). ENOTFOUND when no item has the uid, or when it is on
// a production line the actor may not see.
func (s *Service) Item(ctx context.Context, uid string) (Item, error) {
	if _, err := partid.Parse(uid); err != nil {
		return Item{}, err
	}
	it, err := s.store.GetItem(ctx, uid)
	if err == nil {
		err = checkVisible(ctx, it)
	}
	return it, err
}

// Items returns the items with the given uids that exist and the caller may
// see, by uid; uids that are no part id, unknown or on another production
// line are left out. One query per 500 uids, where Item would take one each.
func (s *Service) Items(ctx context.Context, uids []string) (map[string]Item, error) {
	valid := make([]string, 0, len(uids))
	for _, u := range uids {
		if _, err := partid.Parse(u); err == nil {
			valid = append(valid, u)
		}
	}
	found, err := s.store.GetItems(ctx, valid)
	if err != nil {
		return nil, err
	}
	out := make(map[string]Item, len(found))
	for _, it := range found {
		if checkVisible(ctx, it) == nil {
			out[it.UID] = it
		}
	}
	return out, nil
}

// SeenConsumer is the consumer name under which the inventory follows scans.
const SeenConsumer = "inventory.last-seen"

// SeenPattern is the event type the consumer subscribes to.
const SeenPattern = "scanning.scan.recorded"

// seenData is the part of a scanning.scan.recorded event the inventory reads.
type seenData struct {
	UID      string    `json:"uid"`
	Verdict  string    `json:"verdict"`
	Location string    `json:"location"`
	At       time.Time `json:"at"`
}

// HandleScanRecorded records an item's last-seen time and location from a
// scanning.scan.recorded event. Scans that identified an item (verdict
// valid, duplicate or wrong_status) count; a scan older than the item's
// last sighting changes nothing, and an empty location keeps the previous
// one. A "seen" history entry is written when the last-seen location
// changes. Redelivered events are ignored (the event id is marked processed
// in the same transaction), so the handler is idempotent.
func (s *Service) HandleScanRecorded(ctx context.Context, ev qrmfg.Event) error {
	var d seenData
	if err := json.Unmarshal(ev.Data, &d); err != nil {
		return qrmfg.Errorf(qrmfg.EINVALID, "event %s: data is not a scan: %v", ev.ID, err)
	}
	if d.UID == "" || (d.Verdict != "valid" && d.Verdict != "duplicate" && d.Verdict != "wrong_status") {
		return nil
	}
	if d.At.IsZero() {
		d.At = ev.Time
	}
	return s.store.Update(ctx, func(ctx context.Context, tx Tx) error {
		fresh, err := tx.MarkProcessed(ctx, SeenConsumer, ev.ID)
		if err != nil || !fresh {
			return err
		}
		it, err := tx.LockItem(ctx, d.UID)
		if qrmfg.ErrorCode(err) == qrmfg.ENOTFOUND {
			return nil // deleted since; nothing to record
		}
		if err != nil {
			return err
		}
		if it.LastSeenAt != nil && it.LastSeenAt.After(d.At) {
			return nil
		}
		from := it.LastSeenLocation
		at := d.At.UTC()
		it.LastSeenAt = &at
		if d.Location != "" {
			it.LastSeenLocation = d.Location
		}
		if err := tx.UpdateItem(ctx, &it); err != nil {
			return err
		}
		if it.LastSeenLocation == from {
			return nil
		}
		return tx.AddHistory(ctx, HistoryEntry{ItemUID: it.UID, Kind: "seen", From: from, To: it.LastSeenLocation,
			Actor: qrmfg.ActorFrom(ctx).ID, Reason: "scanned", EventID: ev.ID, At: tx.Now()})
	})
}
