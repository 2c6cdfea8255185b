// Package audit is the append-only, hash-chained audit log of qrmfg. Every
// entry stores the hash of its predecessor and its own hash over a canonical
// encoding, so an edited, deleted, inserted or moved row breaks the chain at
// exactly that row. A chain alone cannot show that its tail was cut off or
// that the whole log was recomputed, so the log also issues checkpoints
// (size, root hash = hash of the last entry, time) signed with Ed25519, meant
// to be exported off the box; VerifyAgainst compares the log with one.
package audit

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"github.com/qrmfg/qrmfg/internal/qrmfg"
	"github.com/qrmfg/qrmfg/internal/textfield"
)

// Outcome is how the audited operation ended.
type Outcome string

// Outcomes.
const (
	Success Outcome = "success"
	Denied  Outcome = "denied"
	Failed  Outcome = "failed"
)

// Valid reports whether o is a known outcome.
func (o Outcome) Valid() bool { return o == Success || o == Denied || o == Failed }

// Actor is who did it.
type Actor struct {
	Kind string `json:"kind"` // user, api_key, system, anonymous
	ID   string `json:"id"`
	Name string `json:"name"`
}

// Entry is one audit record. Seq, Time, PrevHash and Hash are assigned by the
// store on Append.
type Entry struct {
	Seq        int64           `json:"seq"`
	Time       time.Time       `json:"time"`
	Actor      Actor           `json:"actor"`
	Action     string          `json:"action"` // e.g. "auth.login", "inventory.item.transition"
	ObjectType string          `json:"object_type,omitempty"`
	ObjectID   string          `json:"object_id,omitempty"`
	Before     json.RawMessage `json:"before,omitempty"`
	After      json.RawMessage `json:"after,omitempty"`
	RequestID  string          `json:"request_id,omitempty"`
	Outcome    Outcome         `json:"outcome"`
	// Lines are the production lines the entry concerns: those of its
	// actor when restricted and of the objects it touched (see
	// qrmfg.ConcernedLines). Empty: none.
	Lines    []string  `json:"lines,omitempty"`
	PrevHash HashValue `json:"prev_hash"`
	Hash     HashValue `json:"hash"`
}

// HashValue is a SHA-256 hash, hex in JSON.
type HashValue []byte

// MarshalText encodes the hash as hex.
func (h HashValue) MarshalText() ([]byte, error) { return []byte(hex.EncodeToString(h)), nil }

// UnmarshalText decodes hex.
func (h *HashValue) UnmarshalText(b []byte) error {
	v, err := hex.DecodeString(string(b))
	if err != nil {
		return qrmfg.Errorf(qrmfg.EINVALID, "hash is not hex: %v", err)
	}
	*h = v
	return nil
}

// String returns the hash in hex.
func (h HashValue) String() string { return hex.EncodeToString(h) }

// Genesis is the prev_hash of the first entry: 32 zero bytes.
var Genesis = HashValue(make([]byte, sha256.Size))

// TimeLayout is how times enter the hash: UTC, microseconds, fixed width. The
// store keeps microseconds, so the time survives a round trip unchanged.
const TimeLayout = "2006-01-02T15:04:05.000000Z"

// ComputeHash returns SHA-256 over the canonical encoding of e: a version tag,
// then every field except Seq and Hash as a length-prefixed byte string, in a
// fixed order, ending with PrevHash. Seq is left out on purpose: the position
// of a row is fixed by the chain itself, and leaving it out lets Verify tell a
// changed row (its own hash fails) from an intact row in the wrong place
// (its hash holds, its link does not).
func (e Entry) ComputeHash() HashValue {
	var buf bytes.Buffer
	buf.WriteString("qrmfg.audit.v1\x00")
	put := func(b []byte) {
		var n [binary.MaxVarintLen64]byte
		buf.Write(n[:binary.PutUvarint(n[:], uint64(len(b)))])
		buf.Write(b)
	}
	for _, s := range []string{e.Time.UTC().Format(TimeLayout), e.Actor.Kind, e.Actor.ID, e.Actor.Name, e.Action,
		e.ObjectType, e.ObjectID} {
		put([]byte(s))
	}
	put(e.Before)
	put(e.After)
	put([]byte(e.RequestID))
	put([]byte(e.Outcome))
	put(e.PrevHash)
	if len(e.Lines) > 0 {
		// Only entries with lines have the field, so the hashes of
		// earlier entries stay what they were.
		put([]byte(strings.Join(e.Lines, "\x00")))
	}
	h := sha256.Sum256(buf.Bytes())
	return h[:]
}

// Normalize validates an entry before it is appended and returns it with its
// JSON compacted (the stored bytes are what is hashed) and its time truncated
// to microseconds.
func Normalize(e Entry) (Entry, error) {
	if e.Action == "" || len(e.Action) > 100 {
		return Entry{}, qrmfg.FieldError("action", "audit action must be 1-100 characters")
	}
	if !e.Outcome.Valid() {
		return Entry{}, qrmfg.FieldError("outcome", "audit outcome must be success, denied or failed")
	}
	if e.Actor.Kind == "" {
		return Entry{}, qrmfg.FieldError("actor", "audit actor kind is required")
	}
	// A refused request is recorded with what it sent: a NUL character or
	// invalid UTF-8 (which PostgreSQL refuses in text) becomes U+FFFD.
	for _, p := range []*string{&e.Actor.ID, &e.Actor.Name, &e.Action, &e.ObjectType, &e.ObjectID, &e.RequestID} {
		*p = textfield.Sanitize(*p)
	}
	for _, p := range []*json.RawMessage{&e.Before, &e.After} {
		*p = bytes.ToValidUTF8(*p, []byte("\uFFFD"))
		if len(*p) == 0 || string(*p) == "null" {
			*p = nil
			continue
		}
		var b bytes.Buffer
		if err := json.Compact(&b, *p); err != nil {
			return Entry{}, qrmfg.Errorf(qrmfg.EINVALID, "audit before/after is not JSON: %v", err)
		}
		*p = b.Bytes()
	}
	e.Time = e.Time.UTC().Truncate(time.Microsecond)
	return e, nil
}

// Filter selects entries for listing and export. Zero fields do not filter.
type Filter struct {
	ActorID    string
	Action     string // exact, or a prefix ending in ".*"
	ObjectType string
	ObjectID   string
	Outcome    Outcome
	Since      time.Time // inclusive
	Until      time.Time // exclusive
	AfterSeq   int64     // cursor: entries with a larger seq
	Limit      int       // 0: no limit (Scan), default page size (List)
	// Visible, when set, keeps only the entries it accepts (the reader's
	// production lines: see ForReader); Limit counts the kept ones.
	Visible func(Entry) bool
}

// ForReader restricts f to the entries the actor in ctx may read: an actor
// restricted to lines reads the entries whose lines are all among its own.
func (f Filter) ForReader(ctx context.Context) Filter {
	if len(qrmfg.LineScope(ctx)) > 0 {
		f.Visible = func(e Entry) bool { return qrmfg.LinesVisible(ctx, e.Lines) }
	}
	return f
}

// Checkpoint is a signed statement that the log had Size entries and that
// the hash of entry Size was Root, at Time.
type Checkpoint struct {
	Size      int64     `json:"size"`
	Root      HashValue `json:"root"`
	Time      time.Time `json:"time"`
	KeyID     string    `json:"key_id"`
	Signature []byte    `json:"signature"` // Ed25519 over Message(); base64 in JSON
}

// Message is the byte string a checkpoint's signature covers.
func (c Checkpoint) Message() []byte {
	return []byte("qrmfg.audit.checkpoint.v1\n" + strconv.FormatInt(c.Size, 10) + "\n" + c.Root.String() + "\n" +
		c.Time.UTC().Format(TimeLayout) + "\n" + c.KeyID + "\n")
}

// Reader reads the log.
type Reader interface {
	// Scan calls fn for each entry matching f in ascending seq, streaming.
	Scan(ctx context.Context, f Filter, fn func(Entry) error) error
	// Head returns the number of entries and the hash of the last one
	// (Genesis when empty), as recorded by the head row.
	Head(ctx context.Context) (size int64, last HashValue, err error)
	// Entry returns the entry with seq, ENOTFOUND when there is none.
	Entry(ctx context.Context, seq int64) (Entry, error)
}

// Store keeps the log. Append assigns Seq (1, 2, …), Time (when zero) and
// PrevHash, computes Hash with ComputeHash and inserts the row, reading the
// previous hash under a lock so that concurrent appends never fork the chain.
type Store interface {
	Reader
	Append(ctx context.Context, e Entry) (Entry, error)
	// Snapshot calls fn with a Reader on which every read sees the same
	// committed state, so a verification is not confused by appends that
	// commit while it runs.
	Snapshot(ctx context.Context, fn func(Reader) error) error
	SaveCheckpoint(ctx context.Context, c Checkpoint) error
	// Checkpoints returns the stored checkpoints, oldest first.
	Checkpoints(ctx context.Context) ([]Checkpoint, error)
}
