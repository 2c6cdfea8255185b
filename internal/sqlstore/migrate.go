package sqlstore

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/qrmfg/qrmfg/internal/qrmfg"
)

//go:embed migrations
var migrationFS embed.FS

// Migration is one embedded schema change.
type Migration struct {
	Version int
	Name    string
	SQL     string
}

// MigrationStatus is a migration and whether it has been applied.
type MigrationStatus struct {
	Migration
	Applied   bool
	AppliedAt time.Time
}

// Migrations returns the embedded migrations of the database's dialect, in order.
func (db *DB) Migrations() ([]Migration, error) {
	dir := "migrations/" + db.dialect.String()
	entries, err := fs.ReadDir(migrationFS, dir)
	if err != nil {
		return nil, fmt.Errorf("read migrations: %w", err)
	}
	var ms []Migration
	for _, e := range entries {
		name := e.Name()
		if !strings.HasSuffix(name, ".sql") {
			continue
		}
		num, _, ok := strings.Cut(name, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil {
			return nil, fmt.Errorf("migration %s: file name must start with a number and '_'", name)
		}
		body, err := fs.ReadFile(migrationFS, dir+"/"+name)
		if err != nil {
			return nil, fmt.Errorf("read migration %s: %w", name, err)
		}
		ms = append(ms, Migration{Version: v, Name: strings.TrimSuffix(name, ".sql"), SQL: string(body)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].Version < ms[j].Version })
	return ms, nil
}

func (db *DB) ensureMigrationTable(ctx context.Context) error {
	ts := "TEXT"
	if db.dialect == Postgres {
		ts = "TIMESTAMPTZ"
	}
	_, err := db.write.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at `+ts+` NOT NULL)`)
	if err != nil {
		return fmt.Errorf("create schema_migrations: %w", mapError(err))
	}
	return nil
}

// MigrationStatus lists every embedded migration and whether it is applied.
func (db *DB) MigrationStatus(ctx context.Context) ([]MigrationStatus, error) {
	ms, err := db.Migrations()
	if err != nil {
		return nil, err
	}
	applied := map[int]time.Time{}
	exists, err := db.tableExists(ctx, "schema_migrations")
	if err != nil {
		return nil, err
	}
	if exists {
		rows, err := db.reader().query(ctx, `SELECT version, applied_at FROM schema_migrations`)
		if err != nil {
			return nil, fmt.Errorf("read schema_migrations: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var v int
			var at dbTime
			if err := rows.Scan(&v, &at); err != nil {
				return nil, fmt.Errorf("read schema_migrations: %w", err)
			}
			applied[v] = at.Time
		}
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("read schema_migrations: %w", err)
		}
	}
	out := make([]MigrationStatus, len(ms))
	for i, m := range ms {
		at, ok := applied[m.Version]
		out[i] = MigrationStatus{Migration: m, Applied: ok, AppliedAt: at}
	}
	return out, nil
}

func (db *DB) tableExists(ctx context.Context, name string) (bool, error) {
	var q string
	if db.dialect == Postgres {
		q = `SELECT count(*) FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = ?`
	} else {
		q = `SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?`
	}
	var n int
	if err := db.reader().queryRow(ctx, q, name).Scan(&n); err != nil {
		return false, fmt.Errorf("look up table %s: %w", name, mapError(err))
	}
	return n > 0, nil
}

// Migrate applies every pending migration, each in its own transaction, and
// returns the ones it applied. On PostgreSQL an advisory lock keeps two
// processes from migrating at once.
func (db *DB) Migrate(ctx context.Context) ([]Migration, error) {
	if err := db.ensureMigrationTable(ctx); err != nil {
		return nil, err
	}
	if db.dialect == Postgres {
		c, err := db.write.Conn(ctx)
		if err != nil {
			return nil, fmt.Errorf("migrate: %w", err)
		}
		defer c.Close()
		if _, err := c.ExecContext(ctx, `SELECT pg_advisory_lock(7714001)`); err != nil {
			return nil, fmt.Errorf("migrate: take lock: %w", err)
		}
		defer func() { _, _ = c.ExecContext(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock(7714001)`) }()
	}
	status, err := db.MigrationStatus(ctx)
	if err != nil {
		return nil, err
	}
	var done []Migration
	for _, s := range status {
		if s.Applied {
			continue
		}
		err := db.inTx(ctx, func(tx *txn) error {
			if _, err := tx.q.ExecContext(ctx, s.SQL); err != nil {
				return fmt.Errorf("migration %s: %w", s.Name, err)
			}
			_, err := tx.exec(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`,
				s.Version, s.Name, db.ts(tx.now))
			return err
		})
		if err != nil {
			return done, err
		}
		done = append(done, s.Migration)
	}
	return done, nil
}

// CheckSchema returns EUNAVAILABLE naming the pending migrations when the
// schema is behind the binary, and ECONFLICT when the database has migrations
// this binary does not know (it is older than the schema).
func (db *DB) CheckSchema(ctx context.Context) error {
	status, err := db.MigrationStatus(ctx)
	if err != nil {
		return err
	}
	var pending []string
	for _, s := range status {
		if !s.Applied {
			pending = append(pending, s.Name)
		}
	}
	if len(pending) > 0 {
		return qrmfg.Errorf(qrmfg.EUNAVAILABLE,
			"the %s schema is behind this binary: %d migration(s) pending (%s); run `qrmfg migrate up` first",
			db.dialect, len(pending), strings.Join(pending, ", "))
	}
	return nil
}
