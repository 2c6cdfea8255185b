// Package sqlstore implements the stores of every context over database/sql,
// for SQLite (modernc.org/sqlite, pure Go) and PostgreSQL (pgx), with portable
// SQL and a small dialect shim. Transactions stay inside this package behind
// callbacks; services never see *sql.Tx.
package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/qrmfg/qrmfg/internal/qrmfg"
)

// Dialect is the SQL flavour of a database.
type Dialect int

const (
	SQLite Dialect = iota
	Postgres
)

func (d Dialect) String() string {
	if d == Postgres {
		return "postgres"
	}
	return "sqlite"
}

// Options configure Open.
type Options struct {
	// URL is a postgres:// URL, or empty / a file path / sqlite:// URL for SQLite.
	URL string
	// SQLitePath is the database file when URL is empty.
	SQLitePath string
	// PoolSize and MaxOverflow size the PostgreSQL pool: PoolSize idle
	// connections kept, PoolSize+MaxOverflow open at most.
	PoolSize, MaxOverflow int
	// BusyTimeout is how long SQLite waits on a lock.
	BusyTimeout time.Duration
}

// DB is an open database: a writer pool and a reader pool (the same pool on
// PostgreSQL; one writer connection and several readers on SQLite).
type DB struct {
	dialect Dialect
	write   *sql.DB
	read    *sql.DB
	clock   qrmfg.Clock
	notify  func()
}

// Open opens the database described by opt. It does not migrate.
func Open(ctx context.Context, opt Options, clock qrmfg.Clock) (*DB, error) {
	if clock == nil {
		clock = qrmfg.SystemClock{}
	}
	if isPostgresURL(opt.URL) {
		return openPostgres(ctx, opt, clock)
	}
	return openSQLite(ctx, opt, clock)
}

func isPostgresURL(u string) bool {
	return strings.HasPrefix(u, "postgres://") || strings.HasPrefix(u, "postgresql://")
}

func openPostgres(ctx context.Context, opt Options, clock qrmfg.Clock) (*DB, error) {
	db, err := sql.Open("pgx", opt.URL)
	if err != nil {
		return nil, fmt.Errorf("open postgres: %w", err)
	}
	size := max(opt.PoolSize, 1)
	db.SetMaxIdleConns(size)
	db.SetMaxOpenConns(size + max(opt.MaxOverflow, 0))
	db.SetConnMaxIdleTime(5 * time.Minute)
	if err := db.PingContext(ctx); err != nil {
		_ = db.Close()
		return nil, qrmfg.Errorf(qrmfg.EUNAVAILABLE, "cannot reach PostgreSQL at %s: %v", redactURL(opt.URL), err)
	}
	return &DB{dialect: Postgres, write: db, read: db, clock: clock}, nil
}

func openSQLite(ctx context.Context, opt Options, clock qrmfg.Clock) (*DB, error) {
	// As config.SQLitePath reads them: sqlite:///rel.db is relative,
	// sqlite:////abs.db absolute. SQLitePath, when given, is the URL
	// already resolved.
	path := opt.SQLitePath
	if path == "" && opt.URL != "" {
		path = strings.TrimPrefix(strings.TrimPrefix(opt.URL, "sqlite:///"), "file:")
	}
	if path == "" {
		return nil, qrmfg.Errorf(qrmfg.EINVALID, "no SQLite path given")
	}
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o750); err != nil {
			return nil, fmt.Errorf("create data directory %s: %w", dir, err)
		}
	}
	busy := opt.BusyTimeout
	if busy <= 0 {
		busy = 5 * time.Second
	}
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", busy.Milliseconds()))
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", "synchronous(NORMAL)")
	q.Add("_time_format", "sqlite")
	wq := url.Values{}
	for k, v := range q {
		wq[k] = v
	}
	wq.Set("_txlock", "immediate")
	write, err := sql.Open("sqlite", "file:"+path+"?"+wq.Encode())
	if err != nil {
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	// One writer: SQLite serialises writers anyway; one connection turns lock
	// contention into queueing in the pool instead of SQLITE_BUSY.
	write.SetMaxOpenConns(1)
	write.SetMaxIdleConns(1)
	write.SetConnMaxIdleTime(0)
	write.SetConnMaxLifetime(0)
	if err := write.PingContext(ctx); err != nil {
		_ = write.Close()
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	q.Add("_pragma", "query_only(1)")
	read, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		_ = write.Close()
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	read.SetMaxOpenConns(8)
	read.SetMaxIdleConns(8)
	return &DB{dialect: SQLite, write: write, read: read, clock: clock}, nil
}

// Dialect returns the database's SQL flavour.
func (db *DB) Dialect() Dialect { return db.dialect }

// Close closes both pools.
func (db *DB) Close() error {
	err := db.write.Close()
	if db.read != db.write {
		err = errors.Join(err, db.read.Close())
	}
	return err
}

// Ping checks that the database answers.
func (db *DB) Ping(ctx context.Context) error {
	if err := db.write.PingContext(ctx); err != nil {
		return qrmfg.Errorf(qrmfg.EUNAVAILABLE, "database unreachable: %v", err)
	}
	return nil
}

// Pools returns the connection pools by role, for their statistics:
// "writer", and "reader" when it is a pool of its own (SQLite).
func (db *DB) Pools() map[string]*sql.DB {
	p := map[string]*sql.DB{"writer": db.write}
	if db.read != db.write {
		p["reader"] = db.read
	}
	return p
}

// SQL returns the writer pool, for tests and tools that need raw access.
func (db *DB) SQL() *sql.DB { return db.write }

// rebind turns ? placeholders into $1, $2… for PostgreSQL. Question marks in
// string literals are not supported (the package never writes any).
func (db *DB) rebind(q string) string {
	if db.dialect != Postgres || !strings.Contains(q, "?") {
		return q
	}
	var b strings.Builder
	b.Grow(len(q) + 8)
	n := 0
	for i := 0; i < len(q); i++ {
		if q[i] == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(q[i])
	}
	return b.String()
}

// forUpdate is the row-locking suffix of a SELECT inside a transaction.
func (db *DB) forUpdate() string {
	if db.dialect == Postgres {
		return " FOR UPDATE"
	}
	return "" // the single writer connection already serialises writers
}

// querier is what *sql.DB and *sql.Tx have in common.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// conn binds a querier to the dialect, rebinding placeholders on the way.
type conn struct {
	db *DB
	q  querier
}

func (c conn) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	r, err := c.q.ExecContext(ctx, c.db.rebind(query), args...)
	return r, mapError(err)
}

func (c conn) query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	r, err := c.q.QueryContext(ctx, c.db.rebind(query), args...)
	return r, mapError(err)
}

func (c conn) queryRow(ctx context.Context, query string, args ...any) *sql.Row {
	return c.q.QueryRowContext(ctx, c.db.rebind(query), args...)
}

// reader returns a conn on the reader pool.
func (db *DB) reader() conn { return conn{db: db, q: db.read} }

// inTx runs fn in one write transaction: commit when fn returns nil, roll back
// otherwise. After-commit hooks registered on the transaction run after a
// successful commit.
func (db *DB) inTx(ctx context.Context, fn func(tx *txn) error) error {
	sqlTx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin transaction: %w", mapError(err))
	}
	tx := &txn{conn: conn{db: db, q: sqlTx}, now: db.clock.Now()}
	defer func() { _ = sqlTx.Rollback() }()
	if err := fn(tx); err != nil {
		return err
	}
	if err := sqlTx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", mapError(err))
	}
	for _, h := range tx.afterCommit {
		h()
	}
	return nil
}

// txn is a transaction in progress: a conn, one timestamp for every row it
// writes, and the hooks to run after it commits.
type txn struct {
	conn
	now         time.Time
	afterCommit []func()
}

// mapError turns driver errors into qrmfg errors where the cause is known:
// unique violations become ECONFLICT, lock time-outs EUNAVAILABLE, text
// PostgreSQL cannot store EINVALID. It matches
// driver error codes, never message text.
func mapError(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, sql.ErrNoRows) {
		return err
	}
	var pg *pgconn.PgError
	if errors.As(err, &pg) {
		switch pg.Code {
		case "23505":
			return &qrmfg.Error{Code: qrmfg.ECONFLICT, Message: "a record with the same key already exists", Err: err}
		case "23503":
			return &qrmfg.Error{Code: qrmfg.ECONFLICT, Message: "the record refers to one that does not exist", Err: err}
		case "40001", "40P01", "55P03":
			return &qrmfg.Error{Code: qrmfg.EUNAVAILABLE, Message: "the database is busy; retry", Err: err}
		case "22021", "22P05":
			// A NUL character or invalid UTF-8 in text or JSONB; the API
			// refuses such input first, naming the field.
			return &qrmfg.Error{Code: qrmfg.EINVALID, Message: "the text holds a NUL character or invalid UTF-8, which cannot be stored", Err: err}
		case "57P01", "57P02", "57P03", "08000", "08003", "08006":
			return &qrmfg.Error{Code: qrmfg.EUNAVAILABLE, Message: "the database is unavailable", Err: err}
		}
	}
	var lite *sqlite.Error
	if errors.As(err, &lite) {
		switch lite.Code() {
		case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
			return &qrmfg.Error{Code: qrmfg.ECONFLICT, Message: "a record with the same key already exists", Err: err}
		case sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY:
			return &qrmfg.Error{Code: qrmfg.ECONFLICT, Message: "the record refers to one that does not exist", Err: err}
		case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED:
			return &qrmfg.Error{Code: qrmfg.EUNAVAILABLE, Message: "the database is busy; retry", Err: err}
		}
	}
	return err
}

func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}
