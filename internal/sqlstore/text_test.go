package sqlstore_test

import (
	"context"
	"testing"

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
