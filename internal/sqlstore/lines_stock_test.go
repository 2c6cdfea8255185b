package sqlstore_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/qrmfg/qrmfg/internal/inventory"
	"github.com/qrmfg/qrmfg/internal/qrmfg"
	"github.com/qrmfg/qrmfg/internal/sqlstore"
	"github.com/qrmfg/qrmfg/internal/sqlstore/sqltest"
)

// lineOne is an operator restricted to LINE-1.
func lineOne(ctx context.Context) context.Context {
	return qrmfg.WithActor(ctx, qrmfg.Actor{Kind: "user", ID: "u1", Name: "u1", Role: "supervisor", Lines: []string{"LINE-1"}})
}

// TestStockFollowsLines (item 12): analytics count a restricted actor's
// lines and no line only; thresholds and alerts carry a line; a LINE-1
// supervisor can neither set, see, delete nor acknowledge LINE-2's or
// the plant-wide ones, and LINE-2 stock does not move LINE-1's threshold.
func TestStockFollowsLines(t *testing.T) {
	t.Parallel()
	sqltest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		svc := newService(db)
		admin := context.Background()
		one := lineOne(admin)
		for _, b := range []inventory.AllocateRequest{
			{ComponentType: "PAD", VendorCode: "V0001", LotNumber: "L1", Count: 2, Line: "LINE-1"},
			{ComponentType: "PAD", VendorCode: "V0002", LotNumber: "SECRET2", Count: 7, Line: "LINE-2"},
		} {
			if _, err := svc.AllocateBatch(admin, b); err != nil {
				t.Fatal(err)
			}
		}
		// LINE-2 has 7 available pads, LINE-1 none.
		for i := 1; i <= 7; i++ {
			uid := "PAD-V0002-SECRET2-0000" + string(rune('0'+i))
			for _, to := range []inventory.Status{inventory.StatusEngraved, inventory.StatusAvailable} {
				if _, err := svc.Transition(admin, inventory.TransitionRequest{UID: uid, To: to}); err != nil {
					t.Fatal(err)
				}
			}
		}
		th2, err := svc.SetThreshold(admin, inventory.Threshold{ComponentType: "PAD", Line: "LINE-2", MinAvailable: 10})
		if err != nil || th2.Line != "LINE-2" {
			t.Fatalf("LINE-2 threshold: %+v %v", th2, err)
		}
		if _, err := svc.SetThreshold(admin, inventory.Threshold{ComponentType: "PAD", MinAvailable: 100}); err != nil {
			t.Fatal(err)
		}
		th1, err := svc.SetThreshold(one, inventory.Threshold{ComponentType: "PAD", MinAvailable: 1})
		if err != nil || th1.Line != "LINE-1" {
			t.Fatalf("the LINE-1 supervisor's threshold: %+v %v, want one on LINE-1", th1, err)
		}
		if _, err := svc.SetThreshold(one, inventory.Threshold{ComponentType: "PAD", Line: "LINE-2", MinAvailable: 0}); qrmfg.ErrorCode(err) != qrmfg.EFORBIDDEN {
			t.Errorf("a LINE-1 supervisor sets a LINE-2 threshold: %v", err)
		}
		all, err := svc.Alerts(admin, "open")
		if err != nil || len(all) != 3 {
			t.Fatalf("open alerts as the admin: %+v %v, want LINE-1's, LINE-2's and the plant's", all, err)
		}
		var alert2 string
		for _, a := range all {
			if a.Line == "LINE-2" {
				alert2 = a.ID
			}
			if want := map[string]int64{"LINE-1": 0, "LINE-2": 7, "": 7}[a.Line]; a.Available != want {
				t.Errorf("alert of line %q counts %d available, want %d", a.Line, a.Available, want)
			}
		}
		// What the LINE-1 supervisor sees.
		seen := func(v any) string {
			b, _ := json.Marshal(v)
			return string(b)
		}
		ths, err := svc.Thresholds(one)
		if err != nil || len(ths) != 1 || ths[0].Line != "LINE-1" {
			t.Errorf("thresholds as LINE-1: %s %v", seen(ths), err)
		}
		as, err := svc.Alerts(one, "")
		if err != nil || len(as) != 1 || as[0].Line != "LINE-1" {
			t.Errorf("alerts as LINE-1: %s %v", seen(as), err)
		}
		if _, err := svc.AcknowledgeAlert(one, alert2); qrmfg.ErrorCode(err) != qrmfg.ENOTFOUND {
			t.Errorf("acknowledge LINE-2's alert as LINE-1: %v", err)
		}
		for _, line := range []string{"LINE-2", "LINE-3"} {
			if err := svc.DeleteThreshold(one, "PAD", "", line); qrmfg.ErrorCode(err) != qrmfg.ENOTFOUND || strings.Contains(qrmfg.ErrorMessage(err), line) {
				t.Errorf("delete the %s threshold as LINE-1: %v", line, err)
			}
		}
		an, err := svc.Analytics(one, time.Time{}, time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		if s := seen(an); strings.Contains(s, "V0002") || strings.Contains(s, "SECRET2") || strings.Contains(s, "LINE-2") || strings.Contains(s, `"key":"available"`) {
			t.Errorf("analytics as LINE-1 show LINE-2: %s", s)
		}
		if len(an.ByStatus) != 1 || an.ByStatus[0].Count != 2 || len(an.Stock) != 1 || an.Stock[0].Line != "LINE-1" {
			t.Errorf("analytics as LINE-1: %s, want its 2 generated items and its threshold", seen(an))
		}
		if s := seen(mustAnalytics(t, svc, admin)); !strings.Contains(s, "SECRET2") || !strings.Contains(s, `"line":"LINE-2"`) {
			t.Errorf("analytics as the admin miss LINE-2: %s", s)
		}
		// LINE-2's alert stands, unacknowledged; LINE-2's threshold too.
		if as, _ := svc.Alerts(admin, "open"); len(as) != 3 {
			t.Errorf("open alerts after LINE-1's attempts: %s", seen(as))
		}
	})
}

func mustAnalytics(t *testing.T, svc *inventory.Service, ctx context.Context) inventory.Analytics {
	t.Helper()
	an, err := svc.Analytics(ctx, time.Time{}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	return an
}

// TestImportDryRunIsNoOracle (item 12): a dry run by a LINE-1 actor
// answers for a LINE-2 uid exactly as for a uid that does not exist; the
// real import of it is refused without naming it and changes nothing.
func TestImportDryRunIsNoOracle(t *testing.T) {
	t.Parallel()
	sqltest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		svc := newService(db)
		admin := context.Background()
		one := lineOne(admin)
		if _, err := svc.AllocateBatch(admin, inventory.AllocateRequest{ComponentType: "PAD", VendorCode: "V0002", LotNumber: "L2", Count: 1, Line: "LINE-2"}); err != nil {
			t.Fatal(err)
		}
		report := func(uid string, dry bool) (string, error) {
			rep, err := svc.ImportCSV(one, strings.NewReader("uid,location,line\n"+uid+",RACK-1,LINE-1\n"), dry)
			rep.Imported = 0
			b, _ := json.Marshal(rep)
			return strings.ReplaceAll(string(b), uid, "UID"), err
		}
		taken, err1 := report("PAD-V0002-L2-00001", true)
		free, err2 := report("PAD-V0002-L2-00002", true)
		if taken != free || err1 != nil || err2 != nil {
			t.Errorf("dry run of a LINE-2 uid: %s %v; of a free uid: %s %v", taken, err1, free, err2)
		}
		_, err := report("PAD-V0002-L2-00001", false)
		if qrmfg.ErrorCode(err) != qrmfg.ECONFLICT || strings.Contains(qrmfg.ErrorMessage(err), "L2-00001") {
			t.Errorf("import of a LINE-2 uid as LINE-1: %v", err)
		}
		it, err := svc.Get(admin, "PAD-V0002-L2-00001")
		if err != nil || it.Line != "LINE-2" || it.Location != "" || it.Version != 1 {
			t.Errorf("the LINE-2 item after the import: %+v %v", it.Item, err)
		}
	})
}
