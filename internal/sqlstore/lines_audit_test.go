package sqlstore_test

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/qrmfg/qrmfg/internal/audit"
	"github.com/qrmfg/qrmfg/internal/inventory"
	"github.com/qrmfg/qrmfg/internal/qrmfg"
	"github.com/qrmfg/qrmfg/internal/sqlstore"
	"github.com/qrmfg/qrmfg/internal/sqlstore/sqltest"
)

// TestAuditFollowsLines (item 12): an audit entry concerns the lines of its
// actor and of the objects it touched; an actor restricted to LINE-1 lists
// and exports only entries of LINE-1 and of no line, never a LINE-2 user's
// request body, a change an admin made to a LINE-2 item, or the recorded
// event of either; pages stay full; the chain still verifies.
func TestAuditFollowsLines(t *testing.T) {
	t.Parallel()
	sqltest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		lg := auditLog(t, db, 0)
		svc := newService(db)
		bg := context.Background()
		if _, err := svc.AllocateBatch(bg, inventory.AllocateRequest{ComponentType: "PAD", VendorCode: "V0002", LotNumber: "L2", Count: 1, Line: "LINE-2"}); err != nil {
			t.Fatal(err)
		}
		user := func(name string, lines ...string) context.Context {
			return qrmfg.WithLineNotes(qrmfg.WithActor(bg, qrmfg.Actor{Kind: "user", ID: name, Name: name, Role: "supervisor", Lines: lines}))
		}
		record := func(ctx context.Context, secret string) {
			t.Helper()
			if _, err := lg.Record(ctx, "inventory.item.update", "item", "PAD-V0002-L2-00001", nil, map[string]any{"request": secret}, audit.Success); err != nil {
				t.Fatal(err)
			}
		}
		// A LINE-2 user's request; an admin's change of a LINE-2 item (the
		// service notes the item's line), and the event it emitted.
		record(user("op2", "LINE-2"), "LINE2-BODY-A")
		adminCtx := user("admin")
		loc := "LINE2-BODY-B"
		if _, err := svc.Update(adminCtx, "PAD-V0002-L2-00001", inventory.ItemUpdate{Location: &loc}); err != nil {
			t.Fatal(err)
		}
		record(adminCtx, "LINE2-BODY-C")
		ev, err := qrmfg.NewEvent(adminCtx, "test", "inventory.item.updated", "PAD-V0002-L2-00001", map[string]string{"location": "LINE2-BODY-D"})
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := db.Audit().AppendForEvent(bg, audit.EventsConsumer, ev.ID, audit.EventEntry(ev)); err != nil {
			t.Fatal(err)
		}
		// Entries LINE-1 may read: its own, and of no line.
		for range 3 {
			record(user("op1", "LINE-1"), "line one")
			record(user("admin"), "no line")
		}
		reader := user("sup1", "LINE-1")
		f := audit.Filter{}.ForReader(reader)
		var all []audit.Entry
		for after := int64(0); ; {
			f.AfterSeq, f.Limit = after, 2
			page, next, err := lg.List(reader, f)
			if err != nil {
				t.Fatal(err)
			}
			if next != 0 && len(page) != 2 {
				t.Errorf("a page of %d entries before the last, want 2", len(page))
			}
			all = append(all, page...)
			if after = next; next == 0 {
				break
			}
		}
		if len(all) != 6 {
			t.Errorf("LINE-1 lists %d entries, want its 3 and 3 of no line", len(all))
		}
		for _, format := range []string{"json", "csv"} {
			var buf bytes.Buffer
			if err := lg.Export(reader, &buf, audit.Filter{}.ForReader(reader), format); err != nil {
				t.Fatal(err)
			}
			if strings.Contains(buf.String(), "LINE2-") || strings.Count(buf.String(), "line one") != 3 {
				t.Errorf("LINE-1's %s export: %s", format, buf.String())
			}
		}
		var buf bytes.Buffer
		if err := lg.Export(bg, &buf, audit.Filter{}, "json"); err != nil {
			t.Fatal(err)
		}
		for _, s := range []string{"LINE2-BODY-A", "LINE2-BODY-C", "LINE2-BODY-D", `"lines":["LINE-2"]`} {
			if !strings.Contains(buf.String(), s) {
				t.Errorf("the unrestricted export lacks %s", s)
			}
		}
		if rep, err := lg.Verify(bg); err != nil || !rep.OK {
			t.Errorf("verify: %+v %v", rep, err)
		}
	})
}
