// Package sqltest opens throw-away databases for tests: a SQLite file in a
// temporary directory, or a fresh schema in the test PostgreSQL, dropped when
// the test ends.
package sqltest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"testing"

	"github.com/qrmfg/qrmfg/internal/sqlstore"
)

// DefaultPostgresURL is the PostgreSQL the project's machines run on loopback.
const DefaultPostgresURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// PostgresURL returns QRMFG_TEST_DATABASE_URL or the default.
func PostgresURL() string {
	if u := os.Getenv("QRMFG_TEST_DATABASE_URL"); u != "" {
		return u
	}
	return DefaultPostgresURL
}

// Dialects lists the dialects every store test runs against.
var Dialects = []sqlstore.Dialect{sqlstore.SQLite, sqlstore.Postgres}

// Open returns a migrated, empty database of the dialect. A PostgreSQL test
// fails when the server is unreachable under CI=true and skips otherwise.
func Open(tb testing.TB, d sqlstore.Dialect) *sqlstore.DB {
	tb.Helper()
	u := URL(tb, d)
	db, err := sqlstore.Open(context.Background(), sqlstore.Options{URL: u, PoolSize: 4, MaxOverflow: 16}, nil)
	if err != nil {
		tb.Fatalf("open %s: %v", d, err)
	}
	tb.Cleanup(func() { _ = db.Close() })
	if _, err := db.Migrate(context.Background()); err != nil {
		tb.Fatalf("migrate %s: %v", d, err)
	}
	return db
}

// URL returns a database URL of the dialect for this test alone: a SQLite
// file in a temporary directory, or a PostgreSQL URL whose search_path is a
// new schema that is dropped when the test ends.
func URL(tb testing.TB, d sqlstore.Dialect) string {
	tb.Helper()
	if d == sqlstore.SQLite {
		return "sqlite:///" + filepath.Join(tb.TempDir(), "qrmfg.db") // sqlite:////abs: absolute
	}
	base := PostgresURL()
	admin, err := sql.Open("pgx", base)
	if err == nil {
		err = admin.PingContext(context.Background())
	}
	if err != nil {
		if os.Getenv("CI") == "true" {
			tb.Fatalf("PostgreSQL at %s is unreachable under CI=true: %v", base, err)
		}
		tb.Skipf("PostgreSQL at %s is unreachable (%v); skipping the PostgreSQL half (set QRMFG_TEST_DATABASE_URL)", base, err)
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	schema := "qrmfg_test_" + hex.EncodeToString(b[:])
	if _, err := admin.Exec(`CREATE SCHEMA ` + schema); err != nil {
		tb.Fatalf("create schema: %v", err)
	}
	tb.Cleanup(func() {
		_, _ = admin.Exec(`DROP SCHEMA ` + schema + ` CASCADE`)
		_ = admin.Close()
	})
	pu, err := url.Parse(base)
	if err != nil {
		tb.Fatalf("parse %s: %v", base, err)
	}
	q := pu.Query()
	q.Set("search_path", schema)
	pu.RawQuery = q.Encode()
	return pu.String()
}

// Each runs f as a subtest for every dialect.
func Each(t *testing.T, f func(t *testing.T, db *sqlstore.DB)) {
	t.Helper()
	for _, d := range Dialects {
		t.Run(d.String(), func(t *testing.T) {
			t.Parallel()
			f(t, Open(t, d))
		})
	}
}
