package inventory

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/qrmfg/qrmfg/internal/qrmfg"
)

// EngravedConsumer is the consumer name under which the inventory follows
// completed engraving jobs.
const EngravedConsumer = "inventory.engraving"

// EngravedPattern is the event type the consumer subscribes to.
const EngravedPattern = "engraving.job.completed"

// engravedData is the part of an engraving.job.completed event the
// inventory reads.
type engravedData struct {
	JobID    string   `json:"job_id"`
	ItemUIDs []string `json:"item_uids"`
}

// HandleJobCompleted moves every item of a completed engraving job from
// generated to engraved, with the event's id as the cause in the items'
// history. The event id is marked processed in the same transaction, so a
// redelivered event changes nothing. An item no longer generated (voided or
// marked defective meanwhile, or already engraved) is left as it is: the
// engraving does not overrule a later decision.
func (s *Service) HandleJobCompleted(ctx context.Context, ev qrmfg.Event) error {
	var d engravedData
	if err := json.Unmarshal(ev.Data, &d); err != nil {
		return qrmfg.Errorf(qrmfg.EINVALID, "event %s: data is not a completed engraving job: %v", ev.ID, err)
	}
	if len(d.ItemUIDs) == 0 {
		return nil
	}
	return s.store.Update(ctx, func(ctx context.Context, tx Tx) error {
		fresh, err := tx.MarkProcessed(ctx, EngravedConsumer, ev.ID)
		if err != nil || !fresh {
			return err
		}
		keys := map[[2]string]bool{}
		for _, uid := range d.ItemUIDs {
			it, err := tx.LockItem(ctx, uid)
			if qrmfg.ErrorCode(err) == qrmfg.ENOTFOUND {
				continue
			}
			if err != nil {
				return err
			}
			if it.Status != StatusGenerated {
				continue
			}
			if err := s.transition(ctx, tx, &it, StatusEngraved, fmt.Sprintf("engraving job %s completed", d.JobID), ev.ID); err != nil {
				return err
			}
			keys[[2]string{it.ComponentType, it.VendorCode}] = true
		}
		return s.checkStock(ctx, tx, keys)
	})
}
