package sqlstore_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/qrmfg/qrmfg/internal/inventory"
	"github.com/qrmfg/qrmfg/internal/sqlstore"
	"github.com/qrmfg/qrmfg/internal/sqlstore/sqltest"
)

// TestOutboxBacklog: the backlog counts unsent events and dead letters and
// dates the oldest event still to publish (dead letters excluded).
func TestOutboxBacklog(t *testing.T) {
	t.Parallel()
	sqltest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		ob := db.Outbox()
		if b, err := ob.Backlog(ctx); err != nil || b != (sqlstore.Backlog{}) {
			t.Fatalf("empty outbox: %+v, %v", b, err)
		}
		before := time.Now()
		if _, err := newService(db).AllocateBatch(ctx, inventory.AllocateRequest{ComponentType: "PAD", VendorCode: "V0100", LotNumber: "L1", Count: 2}); err != nil {
			t.Fatal(err)
		}
		b, err := ob.Backlog(ctx)
		if err != nil || b.Pending != 1 || b.DeadLetters != 0 || b.Oldest.Before(before.Add(-time.Second)) || b.Oldest.After(time.Now().Add(time.Second)) {
			t.Fatalf("one unsent event: %+v, %v (allocated at %v)", b, err, before)
		}
		evs, err := ob.Unsent(ctx, 10)
		if err != nil || len(evs) != 1 {
			t.Fatalf("unsent: %d, %v", len(evs), err)
		}
		for range sqlstore.MaxAttempts {
			if err := ob.MarkFailed(ctx, evs[0].Seq, errors.New("broker down")); err != nil {
				t.Fatal(err)
			}
		}
		if b, err := ob.Backlog(ctx); err != nil || b.Pending != 1 || b.DeadLetters != 1 || !b.Oldest.IsZero() {
			t.Fatalf("one dead letter: %+v, %v", b, err)
		}
		if err := ob.MarkSent(ctx, []int64{evs[0].Seq}); err != nil {
			t.Fatal(err)
		}
		if b, err := ob.Backlog(ctx); err != nil || b != (sqlstore.Backlog{}) {
			t.Fatalf("all sent: %+v, %v", b, err)
		}
	})
}
