package sqlstore_test

import (
	"context"
	"strings"
	"testing"

	"github.com/qrmfg/qrmfg/internal/inventory"
	"github.com/qrmfg/qrmfg/internal/qrmfg"
	"github.com/qrmfg/qrmfg/internal/sqlstore"
	"github.com/qrmfg/qrmfg/internal/sqlstore/sqltest"
)

// TestProductionLines: an actor restricted to a line sees and touches the
// items of its line (and of no line) only; to it the others do not exist.
func TestProductionLines(t *testing.T) {
	t.Parallel()
	sqltest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		svc := newService(db)
		admin := context.Background()
		alloc := func(ctx context.Context, lot, line string) (inventory.Batch, error) {
			return svc.AllocateBatch(ctx, inventory.AllocateRequest{ComponentType: "PAD", VendorCode: "V0100", LotNumber: lot, Count: 3, Line: line})
		}
		if _, err := alloc(admin, "L1", "LINE-1"); err != nil {
			t.Fatal(err)
		}
		b2, err := alloc(admin, "L2", "LINE-2")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := alloc(admin, "L0", ""); err != nil {
			t.Fatal(err)
		}
		one := qrmfg.WithActor(admin, qrmfg.Actor{Kind: "user", ID: "u1", Name: "u1", Role: "operator", Lines: []string{"LINE-1"}})
		page, err := svc.List(one, inventory.ItemFilter{Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		if len(page.Items) != 6 {
			t.Fatalf("restricted listing: %d items, want 6 (3 of LINE-1, 3 of no line)", len(page.Items))
		}
		for _, it := range page.Items {
			if it.Line == "LINE-2" {
				t.Fatalf("restricted listing shows %s of LINE-2", it.UID)
			}
		}
		other := "PAD-V0100-L2-00001"
		if _, err := svc.Get(one, other); qrmfg.ErrorCode(err) != qrmfg.ENOTFOUND {
			t.Errorf("get across lines: %v", err)
		}
		if _, err := svc.GetBatch(one, b2.ID); qrmfg.ErrorCode(err) != qrmfg.ENOTFOUND {
			t.Errorf("batch across lines: %v", err)
		}
		if _, err := svc.Transition(one, inventory.TransitionRequest{UID: other, To: inventory.StatusEngraved}); qrmfg.ErrorCode(err) != qrmfg.ENOTFOUND {
			t.Errorf("transition across lines: %v", err)
		}
		loc := "RACK-9"
		if _, err := svc.Update(one, other, inventory.ItemUpdate{Location: &loc}); qrmfg.ErrorCode(err) != qrmfg.ENOTFOUND {
			t.Errorf("update across lines: %v", err)
		}
		// The batch look-up (scan classification) leaves the other line out too.
		if got, err := svc.Items(one, []string{other, "PAD-V0100-L1-00001", "PAD-V0100-L0-00001"}); err != nil || len(got) != 2 {
			t.Errorf("batch look-up across lines: %v %v", got, err)
		} else if _, seen := got[other]; seen {
			t.Errorf("batch look-up shows %s of LINE-2", other)
		}
		if _, err := svc.BulkTransition(one, inventory.BulkTransitionRequest{UIDs: []string{"PAD-V0100-L1-00001", other}, To: inventory.StatusEngraved}); err == nil {
			t.Error("bulk transition across lines succeeded")
		}
		if it, _ := svc.Item(admin, "PAD-V0100-L1-00001"); it.Status != inventory.StatusGenerated {
			t.Errorf("the refused bulk transition changed %s", it.UID)
		}
		if _, err := svc.Install(one, "PAD-V0100-L1-00001", other, ""); qrmfg.ErrorCode(err) != qrmfg.ENOTFOUND {
			t.Errorf("install into another line's assembly: %v", err)
		}
		if _, err := svc.Transition(one, inventory.TransitionRequest{UID: "PAD-V0100-L1-00002", To: inventory.StatusEngraved}); err != nil {
			t.Errorf("transition on the own line: %v", err)
		}
		// Allocation: the only line by default, another line refused.
		b, err := alloc(one, "L3", "")
		if err != nil || b.Line != "LINE-1" {
			t.Fatalf("allocation by a one-line actor: %+v %v", b, err)
		}
		if _, err := alloc(one, "L4", "LINE-2"); qrmfg.ErrorCode(err) != qrmfg.EFORBIDDEN {
			t.Errorf("allocation on another line: %v", err)
		}
		two := qrmfg.WithActor(admin, qrmfg.Actor{Kind: "user", ID: "u2", Lines: []string{"LINE-1", "LINE-2"}})
		if _, err := alloc(two, "L5", ""); qrmfg.ErrorCode(err) != qrmfg.EINVALID {
			t.Errorf("allocation without a line by a two-line actor: %v", err)
		}
		// The export follows the listing.
		var csv strings.Builder
		if err := svc.ExportCSV(one, inventory.ItemFilter{}, &csv); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(csv.String(), "LINE-2") || !strings.Contains(csv.String(), "LINE-1") {
			t.Errorf("restricted export:\n%s", csv.String())
		}
		// Unrestricted callers filter by line.
		page, err = svc.List(admin, inventory.ItemFilter{Line: "LINE-1", Limit: 100})
		if err != nil || len(page.Items) != 6 || page.Items[0].Line != "LINE-1" {
			t.Fatalf("filter by line: %d items, %v", len(page.Items), err)
		}
	})
}
