package sqlstore_test

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/qrmfg/qrmfg/internal/inventory"
	"github.com/qrmfg/qrmfg/internal/partid"
	"github.com/qrmfg/qrmfg/internal/qrmfg"
	"github.com/qrmfg/qrmfg/internal/scanning"
	"github.com/qrmfg/qrmfg/internal/sqlstore"
	"github.com/qrmfg/qrmfg/internal/sqlstore/sqltest"
)

type scanBundle struct {
	db   *sqlstore.DB
	inv  *inventory.Service
	svc  *scanning.Service
	keys *partid.PayloadConfig
}

func scanSetup(t testing.TB, db *sqlstore.DB) scanBundle {
	t.Helper()
	pc := &partid.PayloadConfig{Keys: partid.NewKeyring()}
	if err := pc.Keys.AddHMAC("K1", []byte("0123456789abcdef0123456789abcdef"), true); err != nil {
		t.Fatal(err)
	}
	inv := newService(db)
	return scanBundle{db: db, inv: inv, keys: pc,
		svc: scanning.NewService(db.Scanning(), inv, pc, scanning.Options{}, nil)}
}

func verdicts(r scanning.ScanResult) []scanning.Verdict {
	out := make([]scanning.Verdict, len(r.Codes))
	for i, c := range r.Codes {
		out[i] = c.Verdict
	}
	return out
}

func outboxCount(t *testing.T, db *sqlstore.DB, typ string) int {
	t.Helper()
	var n int
	q := `SELECT COUNT(*) FROM outbox WHERE type = ?`
	if db.Dialect() == sqlstore.Postgres {
		q = `SELECT COUNT(*) FROM outbox WHERE type = $1`
	}
	if err := db.SQL().QueryRow(q, typ).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestScanVerdicts(t *testing.T) {
	t.Parallel()
	sqltest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := qrmfg.WithActor(context.Background(), qrmfg.Actor{Kind: "user", ID: "u-7"})
		b := scanSetup(t, db)
		mustAllocate(t, b.inv, "L2025-09", 3)
		if _, err := b.inv.Transition(ctx, inventory.TransitionRequest{UID: "PAD-V0100-L2025-09-00002", To: inventory.StatusVoid}); err != nil {
			t.Fatal(err)
		}
		id, _ := partid.Parse("PAD-V0100-L2025-09-00003")
		signed, err := b.keys.Encode(partid.FormatSigned, id, time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		tampered := signed[:len(signed)-1] + map[bool]string{true: "A", false: "B"}[signed[len(signed)-1] != 'A']
		res, err := b.svc.ScanTexts(ctx, []string{" PAD-V0100-L2025-09-00001\r\n", "PAD-V0100-L2025-09-00002", "PAD-V0100-L2025-09-00099",
			"hello world", signed, tampered}, scanning.ScanRequest{Device: "wedge-1", Location: "dock 3"})
		if err != nil {
			t.Fatal(err)
		}
		want := []scanning.Verdict{scanning.VerdictValid, scanning.VerdictWrongStatus, scanning.VerdictUnknown,
			scanning.VerdictMalformed, scanning.VerdictValid, scanning.VerdictInvalidSignature}
		if got := verdicts(res); !slices.Equal(got, want) {
			t.Fatalf("verdicts %v, want %v", got, want)
		}
		c := res.Codes[0]
		if c.UID != "PAD-V0100-L2025-09-00001" || c.Item == nil || c.Item.Status != inventory.StatusGenerated ||
			c.Actor != "u-7" || c.Location != "dock 3" || c.Device != "wedge-1" || c.Source != scanning.SourceText {
			t.Errorf("first outcome %+v", c)
		}
		if n := outboxCount(t, db, scanning.EventScanRecorded); n != 6 {
			t.Errorf("%d scan events in the outbox, want 6", n)
		}
		page, err := b.svc.ListScans(ctx, scanning.ScanFilter{Verdict: scanning.VerdictWrongStatus})
		if err != nil || len(page.Scans) != 1 || page.Scans[0].UID != "PAD-V0100-L2025-09-00002" {
			t.Fatalf("wrong_status scans %+v, %v", page, err)
		}
		// Without a session, the same code twice is two valid scans.
		res, err = b.svc.ScanTexts(ctx, []string{"PAD-V0100-L2025-09-00001", "PAD-V0100-L2025-09-00001"}, scanning.ScanRequest{})
		if err != nil || !slices.Equal(verdicts(res), []scanning.Verdict{scanning.VerdictValid, scanning.VerdictValid}) {
			t.Fatalf("repeat without session: %v, %v", verdicts(res), err)
		}
		_, err = b.svc.ScanTexts(ctx, []string{"PAD-V0100-L2025-09-00001", "  "}, scanning.ScanRequest{})
		wantCode(t, err, qrmfg.EINVALID)
		_, err = b.svc.ScanTexts(ctx, []string{"PAD-V0100-L2025-09-00001"}, scanning.ScanRequest{SessionID: "nope"})
		wantCode(t, err, qrmfg.ENOTFOUND)
	})
}

func TestScanListingPagesAndFilters(t *testing.T) {
	t.Parallel()
	sqltest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		b := scanSetup(t, db)
		mustAllocate(t, b.inv, "L2025-09", 2)
		start := time.Now().Add(-time.Second)
		for i := 0; i < 5; i++ {
			if _, err := b.svc.ScanTexts(ctx, []string{"PAD-V0100-L2025-09-00001", "PAD-V0100-L2025-09-00002", "junk"}, scanning.ScanRequest{}); err != nil {
				t.Fatal(err)
			}
		}
		var all []string
		f := scanning.ScanFilter{Limit: 4}
		for {
			page, err := b.svc.ListScans(ctx, f)
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range page.Scans {
				all = append(all, s.ID)
			}
			if page.NextCursor == "" {
				break
			}
			f.Cursor = page.NextCursor
		}
		if len(all) != 15 || !slices.IsSortedFunc(all, func(a, b string) int { return -compare(a, b) }) {
			t.Fatalf("paged %d scans (newest first?) %v", len(all), all)
		}
		page, err := b.svc.ListScans(ctx, scanning.ScanFilter{UID: "PAD-V0100-L2025-09-00002", From: &start})
		if err != nil || len(page.Scans) != 5 {
			t.Fatalf("by uid: %d scans, %v", len(page.Scans), err)
		}
		future := time.Now().Add(time.Hour)
		page, err = b.svc.ListScans(ctx, scanning.ScanFilter{From: &future})
		if err != nil || len(page.Scans) != 0 {
			t.Fatalf("future: %d scans, %v", len(page.Scans), err)
		}
		_, err = b.svc.ListScans(ctx, scanning.ScanFilter{Verdict: "great"})
		wantCode(t, err, qrmfg.EINVALID)
	})
}

func compare(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func TestSessionReconcileAndApply(t *testing.T) {
	t.Parallel()
	sqltest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		b := scanSetup(t, db)
		mustAllocate(t, b.inv, "L2025-09", 5)
		mustAllocate(t, b.inv, "L2025-10", 1)
		if _, err := b.inv.Transition(ctx, inventory.TransitionRequest{UID: "PAD-V0100-L2025-09-00005", To: inventory.StatusVoid}); err != nil {
			t.Fatal(err)
		}
		sess, err := b.svc.OpenSession(ctx, scanning.SessionRequest{Kind: "receive", Location: "rack B2",
			Expected: scanning.Expected{Lot: &scanning.ExpectedLot{ComponentType: "PAD", VendorCode: "V0100", LotNumber: "L2025-09"}}})
		if err != nil {
			t.Fatal(err)
		}
		if sess.ExpectedCount != 4 { // the void item is not expected
			t.Fatalf("expected %d items, want 4", sess.ExpectedCount)
		}
		req := scanning.ScanRequest{SessionID: sess.ID, Device: "cam-1"}
		res, err := b.svc.ScanTexts(ctx, []string{"PAD-V0100-L2025-09-00001", "PAD-V0100-L2025-09-00002", "PAD-V0100-L2025-09-00001"}, req)
		if err != nil {
			t.Fatal(err)
		}
		if got := verdicts(res); !slices.Equal(got, []scanning.Verdict{"valid", "valid", "duplicate"}) {
			t.Fatalf("verdicts %v", got)
		}
		if res.Codes[0].Location != "rack B2" {
			t.Errorf("scan location %q, want the session's", res.Codes[0].Location)
		}
		req.Device = "wedge-2"
		res, err = b.svc.ScanTexts(ctx, []string{"PAD-V0100-L2025-10-00001", "PAD-V0100-L2025-09-00002", "garbage"}, req)
		if err != nil {
			t.Fatal(err)
		}
		if got := verdicts(res); !slices.Equal(got, []scanning.Verdict{"valid", "duplicate", "malformed"}) {
			t.Fatalf("verdicts %v", got)
		}
		if !res.Codes[0].Unexpected || res.Codes[1].Unexpected {
			t.Errorf("unexpected flags %v, %v", res.Codes[0].Unexpected, res.Codes[1].Unexpected)
		}
		want := scanning.Counts{Expected: 4, Found: 2, Missing: 2, Unexpected: 1, Duplicates: 2, Invalid: 1, Scans: 6, Devices: 2}
		if *res.Session != want {
			t.Fatalf("live counts %+v, want %+v", *res.Session, want)
		}
		view, err := b.svc.GetSession(ctx, sess.ID)
		if err != nil || view.Counts != want || len(view.Warnings) != 4 {
			t.Fatalf("view %+v, %v", view, err)
		}
		closed, err := b.svc.Close(ctx, sess.ID, true)
		if err != nil {
			t.Fatal(err)
		}
		r := closed.Reconciliation
		if !slices.Equal(r.Found, []string{"PAD-V0100-L2025-09-00001", "PAD-V0100-L2025-09-00002"}) ||
			!slices.Equal(r.Missing, []string{"PAD-V0100-L2025-09-00003", "PAD-V0100-L2025-09-00004"}) ||
			!slices.Equal(r.Unexpected, []string{"PAD-V0100-L2025-10-00001"}) || len(r.Duplicates) != 2 || len(r.Invalid) != 1 {
			t.Fatalf("reconciliation %+v", r)
		}
		if r.Applied == nil || r.Applied.Moved != 3 || r.Applied.Flagged != 2 || len(r.Applied.Failed) != 0 {
			t.Fatalf("applied %+v", r.Applied)
		}
		it, _ := b.inv.Get(ctx, "PAD-V0100-L2025-10-00001")
		if it.Location != "rack B2" {
			t.Errorf("unexpected item not moved: %q", it.Location)
		}
		it, _ = b.inv.Get(ctx, "PAD-V0100-L2025-09-00003")
		var attrs map[string]map[string]string
		if err := json.Unmarshal(it.Attributes, &attrs); err != nil || attrs["missing"]["session_id"] != sess.ID {
			t.Errorf("missing item attributes %s", it.Attributes)
		}
		_, err = b.svc.Close(ctx, sess.ID, false)
		wantCode(t, err, qrmfg.ECONFLICT)
		_, err = b.svc.ScanTexts(ctx, []string{"PAD-V0100-L2025-09-00003"}, req)
		wantCode(t, err, qrmfg.ECONFLICT)
		got, err := b.svc.Report(ctx, sess.ID)
		if err != nil || got.Status != scanning.SessionClosed || got.Reconciliation == nil || got.Reconciliation.Applied == nil {
			t.Fatalf("stored report %+v, %v", got, err)
		}
	})
}

func TestShipSessionAndUIDList(t *testing.T) {
	t.Parallel()
	sqltest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		b := scanSetup(t, db)
		mustAllocate(t, b.inv, "L2025-09", 3)
		for _, u := range []string{"PAD-V0100-L2025-09-00001", "PAD-V0100-L2025-09-00002"} {
			for _, st := range []inventory.Status{inventory.StatusEngraved, inventory.StatusAvailable} {
				if _, err := b.inv.Transition(ctx, inventory.TransitionRequest{UID: u, To: st}); err != nil {
					t.Fatal(err)
				}
			}
		}
		sess, err := b.svc.OpenSession(ctx, scanning.SessionRequest{Kind: "ship",
			Expected: scanning.Expected{UIDs: []string{"PAD-V0100-L2025-09-00001", "PAD-V0100-L2025-09-00002", "PAD-V0100-L2025-09-00001"}}})
		if err != nil || sess.ExpectedCount != 2 {
			t.Fatalf("open: %+v, %v", sess, err)
		}
		res, err := b.svc.ScanTexts(ctx, []string{"PAD-V0100-L2025-09-00001", "PAD-V0100-L2025-09-00003"}, scanning.ScanRequest{SessionID: sess.ID})
		if err != nil || !slices.Equal(verdicts(res), []scanning.Verdict{"valid", "wrong_status"}) {
			t.Fatalf("ship scans %v, %v", verdicts(res), err)
		}
		closed, err := b.svc.Close(ctx, sess.ID, true)
		if err != nil || closed.Reconciliation.Applied.Shipped != 1 || closed.Reconciliation.Applied.Flagged != 1 {
			t.Fatalf("close: %+v, %v", closed.Reconciliation, err)
		}
		it, _ := b.inv.Get(ctx, "PAD-V0100-L2025-09-00001")
		if it.Status != inventory.StatusShipped {
			t.Errorf("found item is %s, want shipped", it.Status)
		}
		for _, bad := range []scanning.SessionRequest{
			{Kind: "party", Expected: scanning.Expected{UIDs: []string{"PAD-V0100-L2025-09-00001"}}},
			{Kind: "count"},
			{Kind: "move", Expected: scanning.Expected{UIDs: []string{"PAD-V0100-L2025-09-00001"}}},
			{Kind: "count", Expected: scanning.Expected{UIDs: []string{"nope"}}},
			{Kind: "count", Expected: scanning.Expected{Filter: &scanning.ExpectedFilter{}}},
		} {
			_, err := b.svc.OpenSession(ctx, bad)
			wantCode(t, err, qrmfg.EINVALID)
		}
	})
}

func TestSessionDuplicatesUnderConcurrency(t *testing.T) {
	t.Parallel()
	sqltest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		b := scanSetup(t, db)
		mustAllocate(t, b.inv, "L2025-09", 1)
		sess, err := b.svc.OpenSession(ctx, scanning.SessionRequest{Kind: "count",
			Expected: scanning.Expected{UIDs: []string{"PAD-V0100-L2025-09-00001"}}})
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		var mu sync.Mutex
		var got []scanning.Verdict
		for range 6 {
			wg.Go(func() {
				res, err := b.svc.ScanTexts(ctx, []string{"PAD-V0100-L2025-09-00001"}, scanning.ScanRequest{SessionID: sess.ID})
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				got = append(got, res.Codes[0].Verdict)
				mu.Unlock()
			})
		}
		wg.Wait()
		slices.Sort(got)
		if !slices.Equal(got, []scanning.Verdict{"duplicate", "duplicate", "duplicate", "duplicate", "duplicate", "valid"}) {
			t.Fatalf("verdicts %v, want one valid", got)
		}
	})
}

func TestLastSeenConsumerIsIdempotent(t *testing.T) {
	t.Parallel()
	sqltest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		b := scanSetup(t, db)
		mustAllocate(t, b.inv, "L2025-09", 1)
		uid := "PAD-V0100-L2025-09-00001"
		at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
		ev := func(id, loc string, at time.Time) qrmfg.Event {
			data, _ := json.Marshal(scanning.ScanEventData{ScanID: "s", UID: uid, Verdict: scanning.VerdictValid, Location: loc, At: at})
			return qrmfg.Event{ID: id, Type: scanning.EventScanRecorded, Data: data, Time: at}
		}
		for range 2 { // redelivery
			if err := b.inv.HandleScanRecorded(ctx, ev("e1", "dock 3", at)); err != nil {
				t.Fatal(err)
			}
		}
		// An older sighting arriving late changes nothing.
		if err := b.inv.HandleScanRecorded(ctx, ev("e0", "gate", at.Add(-time.Hour))); err != nil {
			t.Fatal(err)
		}
		it, err := b.inv.Get(ctx, uid)
		if err != nil {
			t.Fatal(err)
		}
		if it.LastSeenAt == nil || !it.LastSeenAt.Equal(at) || it.LastSeenLocation != "dock 3" {
			t.Fatalf("last seen %v at %q", it.LastSeenAt, it.LastSeenLocation)
		}
		seen := 0
		for _, h := range it.History {
			if h.Kind == "seen" {
				seen++
			}
		}
		if seen != 1 {
			t.Fatalf("%d seen history entries, want 1", seen)
		}
	})
}

// TestInterruptedCloseIsFinished: a process that dies after closing a
// session with apply, part way through the apply, leaves a closed session
// without a reconciliation; Resume finishes it, applying each change once.
func TestInterruptedCloseIsFinished(t *testing.T) {
	t.Parallel()
	sqltest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		b := scanSetup(t, db)
		mustAllocate(t, b.inv, "L2025-09", 3)
		uids := []string{"PAD-V0100-L2025-09-00001", "PAD-V0100-L2025-09-00002", "PAD-V0100-L2025-09-00003"}
		for _, u := range uids {
			for _, st := range []inventory.Status{inventory.StatusEngraved, inventory.StatusAvailable} {
				if _, err := b.inv.Transition(ctx, inventory.TransitionRequest{UID: u, To: st}); err != nil {
					t.Fatal(err)
				}
			}
		}
		sess, err := b.svc.OpenSession(ctx, scanning.SessionRequest{Kind: "ship", Expected: scanning.Expected{UIDs: uids}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := b.svc.ScanTexts(ctx, uids[:2], scanning.ScanRequest{SessionID: sess.ID}); err != nil {
			t.Fatal(err)
		}
		// The crash: the close committed, the first item shipped, then nothing.
		q := `UPDATE scan_sessions SET status = 'closed', closed_at = created_at, apply_pending = TRUE WHERE id = ?`
		if db.Dialect() == sqlstore.Postgres {
			q = strings.Replace(q, "?", "$1", 1)
		}
		if _, err := db.SQL().ExecContext(ctx, q, sess.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := b.inv.Transition(ctx, inventory.TransitionRequest{UID: uids[0], To: inventory.StatusShipped, Reason: "ship session " + sess.ID}); err != nil {
			t.Fatal(err)
		}
		if _, err := b.svc.ScanTexts(ctx, uids[2:], scanning.ScanRequest{SessionID: sess.ID}); qrmfg.ErrorCode(err) != qrmfg.ECONFLICT {
			t.Fatalf("a scan into the interrupted session: %v", err)
		}
		if err := b.svc.Resume(ctx); err != nil {
			t.Fatal(err)
		}
		got, err := b.svc.Report(ctx, sess.ID)
		if err != nil || got.Reconciliation == nil || got.ApplyPending {
			t.Fatalf("after resume: %+v, %v", got, err)
		}
		a := got.Reconciliation.Applied
		if a == nil || a.Shipped != 2 || a.Flagged != 1 || len(a.Failed) != 0 {
			t.Fatalf("applied %+v", a)
		}
		for i, want := range []inventory.Status{inventory.StatusShipped, inventory.StatusShipped, inventory.StatusAvailable} {
			if it, _ := b.inv.Item(ctx, uids[i]); it.Status != want {
				t.Errorf("%s is %s, want %s", uids[i], it.Status, want)
			}
		}
		// Nothing left to finish: a second Resume changes nothing.
		if err := b.svc.Resume(ctx); err != nil {
			t.Fatal(err)
		}
		if again, _ := b.svc.Report(ctx, sess.ID); again.Reconciliation.Applied.Shipped != 2 {
			t.Fatalf("second resume: %+v", again.Reconciliation.Applied)
		}
	})
}
