package sqlstore_test

import (
	"context"
	"strings"
	"testing"

	"github.com/qrmfg/qrmfg/internal/inventory"
	"github.com/qrmfg/qrmfg/internal/qrmfg"
	"github.com/qrmfg/qrmfg/internal/scanning"
	"github.com/qrmfg/qrmfg/internal/sqlstore"
	"github.com/qrmfg/qrmfg/internal/sqlstore/sqltest"
)

// TestProductionLinesScanning: scanning sessions carry a line; an actor
// restricted to a line opens sessions on its line and touches only the
// sessions of its line (and of none); its scan listing leaves out another
// line's items and sessions. To it the others do not exist.
func TestProductionLinesScanning(t *testing.T) {
	t.Parallel()
	sqltest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		admin := context.Background()
		b := scanSetup(t, db)
		one := qrmfg.WithActor(admin, qrmfg.Actor{Kind: "user", ID: "u1", Name: "u1", Role: "operator", Lines: []string{"LINE-1"}})
		two := qrmfg.WithActor(admin, qrmfg.Actor{Kind: "user", ID: "u2", Lines: []string{"LINE-1", "LINE-2"}})
		for lot, line := range map[string]string{"L1": "LINE-1", "L2": "LINE-2", "L0": ""} {
			if _, err := b.inv.AllocateBatch(admin, inventory.AllocateRequest{ComponentType: "PAD", VendorCode: "V0100", LotNumber: lot, Count: 3, Line: line}); err != nil {
				t.Fatal(err)
			}
		}
		open := func(ctx context.Context, lot, line string) (scanning.Session, error) {
			return b.svc.OpenSession(ctx, scanning.SessionRequest{Kind: "count", Location: "RACK-1", Line: line,
				Expected: scanning.Expected{Lot: &scanning.ExpectedLot{ComponentType: "PAD", VendorCode: "V0100", LotNumber: lot}}})
		}

		// Opening: the only line by default, another line refused.
		s1, err := open(one, "L1", "")
		if err != nil || s1.Line != "LINE-1" {
			t.Fatalf("session of a one-line actor: %+v %v", s1, err)
		}
		if _, err := open(one, "L1", "LINE-2"); qrmfg.ErrorCode(err) != qrmfg.EFORBIDDEN {
			t.Errorf("session on another line: %v", err)
		}
		if _, err := open(two, "L1", ""); qrmfg.ErrorCode(err) != qrmfg.EINVALID {
			t.Errorf("session without a line by a two-line actor: %v", err)
		}
		s2, err := open(admin, "L2", "LINE-2")
		if err != nil || s2.Line != "LINE-2" {
			t.Fatalf("session on LINE-2: %+v %v", s2, err)
		}
		s0, err := open(admin, "L0", "")
		if err != nil || s0.Line != "" {
			t.Fatalf("session of no line: %+v %v", s0, err)
		}
		if got, err := db.Scanning().GetSession(admin, s1.ID); err != nil || got.Line != "LINE-1" {
			t.Fatalf("stored session: %+v %v", got, err)
		}

		// Another line's session does not exist for the restricted actor.
		_, missing := b.svc.GetSession(one, "no-such-session")
		if _, err := b.svc.GetSession(one, s2.ID); qrmfg.ErrorCode(err) != qrmfg.ENOTFOUND ||
			qrmfg.ErrorMessage(err) != strings.Replace(qrmfg.ErrorMessage(missing), "no-such-session", s2.ID, 1) {
			t.Errorf("get another line's session: %v (missing: %v)", err, missing)
		}
		if _, err := b.svc.Report(one, s2.ID); qrmfg.ErrorCode(err) != qrmfg.ENOTFOUND {
			t.Errorf("report of another line's session: %v", err)
		}
		if _, err := b.svc.Reconcile(one, s2.ID); qrmfg.ErrorCode(err) != qrmfg.ENOTFOUND {
			t.Errorf("reconcile another line's session: %v", err)
		}
		if _, err := b.svc.ScanTexts(one, []string{"PAD-V0100-L1-00001"}, scanning.ScanRequest{SessionID: s2.ID}); qrmfg.ErrorCode(err) != qrmfg.ENOTFOUND {
			t.Errorf("scan into another line's session: %v", err)
		}
		if _, err := b.svc.Close(one, s2.ID, false); qrmfg.ErrorCode(err) != qrmfg.ENOTFOUND {
			t.Errorf("close another line's session: %v", err)
		}
		if v, err := b.svc.GetSession(admin, s2.ID); err != nil || v.Status != scanning.SessionOpen || v.Counts.Scans != 0 {
			t.Fatalf("the refused actions changed session %s: %+v %v", s2.ID, v, err)
		}

		// The own line's session and one of no line work.
		res, err := b.svc.ScanTexts(one, []string{"PAD-V0100-L1-00001", "PAD-V0100-L1-00002"}, scanning.ScanRequest{SessionID: s1.ID, Device: "d1"})
		if err != nil || res.Session == nil || res.Session.Found != 2 {
			t.Fatalf("scan into the own line's session: %+v %v", res, err)
		}
		if _, err := b.svc.ScanTexts(one, []string{"PAD-V0100-L0-00001"}, scanning.ScanRequest{SessionID: s0.ID}); err != nil {
			t.Fatalf("scan into a session of no line: %v", err)
		}
		if _, err := b.svc.Report(one, s1.ID); err != nil {
			t.Errorf("report of the own line's session: %v", err)
		}
		closed, err := b.svc.Close(one, s1.ID, false)
		if err != nil || closed.Status != scanning.SessionClosed || closed.Line != "LINE-1" || closed.Reconciliation == nil || len(closed.Reconciliation.Found) != 2 {
			t.Fatalf("close the own line's session: %+v %v", closed, err)
		}

		// Scans: the admin scans LINE-2 items in and out of a session.
		if _, err := b.svc.ScanTexts(admin, []string{"PAD-V0100-L2-00001"}, scanning.ScanRequest{SessionID: s2.ID}); err != nil {
			t.Fatal(err)
		}
		if _, err := b.svc.ScanTexts(admin, []string{"PAD-V0100-L2-00002", "hello world"}, scanning.ScanRequest{}); err != nil {
			t.Fatal(err)
		}
		if _, err := b.svc.ScanTexts(admin, []string{"hello again"}, scanning.ScanRequest{SessionID: s2.ID}); err != nil {
			t.Fatal(err)
		}
		page, err := b.svc.ListScans(one, scanning.ScanFilter{Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, sc := range page.Scans {
			if strings.Contains(sc.UID, "-L2-") || sc.SessionID == s2.ID {
				t.Errorf("restricted scan listing shows %s (%s, session %s)", sc.ID, sc.Payload, sc.SessionID)
			}
			got = append(got, sc.Payload)
		}
		if len(page.Scans) != 4 {
			t.Errorf("restricted scan listing: %q, want the 3 scans of LINE-1 and no-line items and the malformed one outside a session", got)
		}
		if page, err := b.svc.ListScans(one, scanning.ScanFilter{SessionID: s2.ID, Limit: 100}); err != nil || len(page.Scans) != 0 {
			t.Errorf("restricted listing of another line's session: %d %v", len(page.Scans), err)
		}
		if page, err := b.svc.ListScans(admin, scanning.ScanFilter{Limit: 100}); err != nil || len(page.Scans) != 7 {
			t.Errorf("unrestricted scan listing: %d %v", len(page.Scans), err)
		}
	})
}
