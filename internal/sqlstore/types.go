package sqlstore

import (
	"database/sql/driver"
	"fmt"
	"strings"
	"time"
)

// tsLayout is how SQLite stores times: fixed width, UTC, so that text order
// is time order.
const tsLayout = "2006-01-02T15:04:05.000000Z"

// ts converts a time to the value the dialect stores.
func (db *DB) ts(t time.Time) any {
	if db.dialect == Postgres {
		return t.UTC()
	}
	return t.UTC().Format(tsLayout)
}

// nullTS is ts for an optional time.
func (db *DB) nullTS(t *time.Time) any {
	if t == nil || t.IsZero() {
		return nil
	}
	return db.ts(*t)
}

// dbTime scans a time stored by either dialect (time.Time from PostgreSQL,
// text from SQLite). NULL scans as the zero time.
type dbTime struct{ time.Time }

func (t *dbTime) Scan(v any) error {
	switch x := v.(type) {
	case nil:
		t.Time = time.Time{}
	case time.Time:
		t.Time = x.UTC()
	case string:
		return t.parse(x)
	case []byte:
		return t.parse(string(x))
	default:
		return fmt.Errorf("cannot scan %T into a time", v)
	}
	return nil
}

func (t *dbTime) parse(s string) error {
	for _, layout := range []string{tsLayout, time.RFC3339Nano, "2006-01-02 15:04:05.999999999-07:00", "2006-01-02 15:04:05"} {
		if p, err := time.Parse(layout, s); err == nil {
			t.Time = p.UTC()
			return nil
		}
	}
	return fmt.Errorf("cannot parse %q as a time", s)
}

// ptr returns a pointer to the time, or nil for the zero time.
func (t dbTime) ptr() *time.Time {
	if t.IsZero() {
		return nil
	}
	v := t.Time
	return &v
}

// jsonText scans JSON stored as TEXT (SQLite) or JSONB (PostgreSQL).
type jsonText []byte

func (j *jsonText) Scan(v any) error {
	switch x := v.(type) {
	case nil:
		*j = nil
	case string:
		*j = []byte(x)
	case []byte:
		*j = append((*j)[:0], x...)
	default:
		return fmt.Errorf("cannot scan %T into JSON", v)
	}
	return nil
}

var _ driver.Valuer = jsonValue(nil)

// jsonValue writes JSON as text; PostgreSQL casts it to JSONB.
type jsonValue []byte

func (j jsonValue) Value() (driver.Value, error) {
	if len(j) == 0 {
		return "{}", nil
	}
	return string(j), nil
}

// jsonb is the placeholder of a JSON value in the dialect.
func (db *DB) jsonb() string {
	if db.dialect == Postgres {
		return "CAST(? AS JSONB)"
	}
	return "?"
}

// placeholders is n comma-separated ? placeholders, for IN lists.
func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}
