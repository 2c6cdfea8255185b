package sqlstore_test

import (
	"context"
	"testing"

	"github.com/qrmfg/qrmfg/internal/inventory"
	"github.com/qrmfg/qrmfg/internal/partid"
	"github.com/qrmfg/qrmfg/internal/qrmfg"
	"github.com/qrmfg/qrmfg/internal/scanning"
	"github.com/qrmfg/qrmfg/internal/sqlstore"
	"github.com/qrmfg/qrmfg/internal/sqlstore/sqltest"
)

// TestTextTheDatabaseRefuses: a NUL character or invalid UTF-8 that gets
// past the API is the client's error (invalid, 422), not an internal one,
// on PostgreSQL, which refuses it; SQLite finds nothing.
func TestTextTheDatabaseRefuses(t *testing.T) {
	t.Parallel()
	sqltest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		want := qrmfg.EINVALID
		if db.Dialect() == sqlstore.SQLite {
			want = qrmfg.ENOTFOUND
		}
		for _, uid := range []string{"PAD\x00", "PAD\xff"} {
			if _, err := db.Inventory().GetItem(ctx, uid); qrmfg.ErrorCode(err) != want {
				t.Errorf("GetItem(%q) = %v, want %s", uid, err, want)
			}
			if _, err := db.Scanning().ListScans(ctx, scanning.ScanFilter{UID: uid, Limit: 10}); err != nil && qrmfg.ErrorCode(err) != qrmfg.EINVALID {
				t.Errorf("ListScans(%q) = %v, want no error or invalid", uid, err)
			}
		}
	})
}

// TestSessionNameMustBeText: the scanning service refuses a session name or
// location with a NUL character or invalid UTF-8 on both databases, naming
// the field, and opens nothing.
func TestSessionNameMustBeText(t *testing.T) {
	t.Parallel()
	sqltest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		inv := inventory.NewService(db.Inventory(), inventory.DefaultLimits())
		if _, err := inv.AllocateBatch(ctx, inventory.AllocateRequest{ComponentType: "PAD", VendorCode: "V0100", LotNumber: "L2025-09", Count: 2}); err != nil {
			t.Fatal(err)
		}
		svc := scanning.NewService(db.Scanning(), inv, &partid.PayloadConfig{Keys: partid.NewKeyring()}, scanning.Options{}, nil)
		lot := scanning.Expected{Lot: &scanning.ExpectedLot{ComponentType: "PAD", VendorCode: "V0100", LotNumber: "L2025-09"}}
		for _, c := range []struct{ name, location, field string }{
			{"night\x00shift", "", "name"},
			{"night\xffshift", "", "name"},
			{"night shift", "dock\x003", "location"},
		} {
			_, err := svc.OpenSession(ctx, scanning.SessionRequest{Kind: "count", Name: c.name, Location: c.location, Expected: lot})
			if e := qrmfg.AsError(err); e == nil || e.Code != qrmfg.EINVALID || e.Field != c.field {
				t.Errorf("OpenSession(name %q, location %q) = %v, want invalid %s", c.name, c.location, err, c.field)
			}
		}
		var n int
		if err := db.SQL().QueryRow(`SELECT count(*) FROM scan_sessions`).Scan(&n); err != nil || n != 0 {
			t.Errorf("%d sessions stored (%v), want none", n, err)
		}
	})
}
