package audit

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/qrmfg/qrmfg/internal/qrmfg"
)

// Config configures a Log.
type Config struct {
	// SigningKey signs checkpoints. Required.
	SigningKey ed25519.PrivateKey
	// CheckpointEvery makes Append sign a checkpoint after every N entries
	// (0: only on demand).
	CheckpointEvery int64
	Clock           qrmfg.Clock
	Logger          *slog.Logger
}

// Log is the audit log service.
type Log struct {
	store Store
	cfg   Config
	keyID string
}

// KeyID names an Ed25519 public key: the hex of the first 8 bytes of its SHA-256.
func KeyID(pub ed25519.PublicKey) string {
	h := sha256.Sum256(pub)
	return hex.EncodeToString(h[:8])
}

// New returns a Log over store.
func New(store Store, cfg Config) (*Log, error) {
	if store == nil || len(cfg.SigningKey) != ed25519.PrivateKeySize {
		return nil, qrmfg.Errorf(qrmfg.EINVALID, "audit log needs a store and an Ed25519 signing key")
	}
	if cfg.Clock == nil {
		cfg.Clock = qrmfg.SystemClock{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Log{store: store, cfg: cfg, keyID: KeyID(cfg.SigningKey.Public().(ed25519.PublicKey))}, nil
}

// PublicKey returns the key that verifies this log's checkpoints.
func (l *Log) PublicKey() ed25519.PublicKey { return l.cfg.SigningKey.Public().(ed25519.PublicKey) }

// Append validates and appends e and returns it as stored. When a checkpoint
// is due it is signed after the append; a checkpoint failure is logged, not
// returned (the entry is in).
func (l *Log) Append(ctx context.Context, e Entry) (Entry, error) {
	e, err := Normalize(e)
	if err != nil {
		return Entry{}, err
	}
	e.Seq, e.PrevHash, e.Hash = 0, nil, nil
	if e.Time.IsZero() {
		e.Time = l.cfg.Clock.Now()
	}
	got, err := l.store.Append(ctx, e)
	if err != nil {
		return Entry{}, fmt.Errorf("append audit entry %s: %w", e.Action, err)
	}
	l.checkpointIfDue(ctx, got.Seq)
	return got, nil
}

// checkpointIfDue signs a checkpoint after the entry seq when seq is a
// multiple of CheckpointEvery.
func (l *Log) checkpointIfDue(ctx context.Context, seq int64) {
	if n := l.cfg.CheckpointEvery; n <= 0 || seq%n != 0 {
		return
	}
	if _, err := l.Checkpoint(ctx); err != nil {
		l.cfg.Logger.Error("audit checkpoint failed", "seq", seq, "err", err)
	}
}

// Record appends an entry for the actor and request id in ctx. before and
// after are marshalled to JSON (nil: none).
func (l *Log) Record(ctx context.Context, action, objectType, objectID string, before, after any, outcome Outcome) (Entry, error) {
	a := qrmfg.ActorFrom(ctx)
	e := Entry{Actor: Actor{Kind: a.Kind, ID: a.ID, Name: a.Name}, Action: action, ObjectType: objectType,
		ObjectID: objectID, RequestID: qrmfg.RequestID(ctx), Outcome: outcome, Lines: qrmfg.ConcernedLines(ctx)}
	var err error
	if e.Before, err = marshalOpt(before); err != nil {
		return Entry{}, err
	}
	if e.After, err = marshalOpt(after); err != nil {
		return Entry{}, err
	}
	return l.Append(ctx, e)
}

func marshalOpt(v any) (json.RawMessage, error) {
	if v == nil {
		return nil, nil
	}
	if r, ok := v.(json.RawMessage); ok {
		return r, nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode audit state: %w", err)
	}
	return b, nil
}

// Checkpoint signs and stores a checkpoint of the log as it is now.
func (l *Log) Checkpoint(ctx context.Context) (Checkpoint, error) {
	size, root, err := l.store.Head(ctx)
	if err != nil {
		return Checkpoint{}, err
	}
	c := Checkpoint{Size: size, Root: root, Time: l.cfg.Clock.Now().UTC().Truncate(time.Microsecond), KeyID: l.keyID}
	c.Signature = ed25519.Sign(l.cfg.SigningKey, c.Message())
	if err := l.store.SaveCheckpoint(ctx, c); err != nil {
		return Checkpoint{}, fmt.Errorf("store audit checkpoint: %w", err)
	}
	return c, nil
}

// VerifyCheckpoint checks the signature of c with pub.
func VerifyCheckpoint(pub ed25519.PublicKey, c Checkpoint) error {
	if c.KeyID != KeyID(pub) {
		return qrmfg.Errorf(qrmfg.EINVALID, "checkpoint of size %d was signed by key %s, not %s", c.Size, c.KeyID, KeyID(pub))
	}
	if !ed25519.Verify(pub, c.Message(), c.Signature) {
		return qrmfg.Errorf(qrmfg.EINVALID, "checkpoint of size %d has a bad signature", c.Size)
	}
	return nil
}

// Problem kinds reported by Verify and VerifyAgainst.
const (
	ProblemEdited     = "hash_mismatch"  // the row's content does not match its hash
	ProblemOutOfPlace = "prev_link"      // the row is intact but does not link to its predecessor (reordered, or rows removed and renumbered)
	ProblemInserted   = "inserted"       // the row is intact but was put in: the next row links past it
	ProblemMissing    = "seq_gap"        // a row is missing
	ProblemHead       = "head_mismatch"  // the head row disagrees with the last entry
	ProblemTruncated  = "truncated"      // fewer rows than a signed checkpoint covers
	ProblemRewritten  = "root_mismatch"  // the row a checkpoint covers has another hash
	ProblemCheckpoint = "bad_checkpoint" // a checkpoint's signature does not verify
)

// Problem is the first bad row found.
type Problem struct {
	Seq    int64  `json:"seq"`
	Kind   string `json:"kind"`
	Reason string `json:"reason"`
}

// Report is the result of a verification.
type Report struct {
	Entries  int64    `json:"entries"` // rows walked
	OK       bool     `json:"ok"`
	FirstBad *Problem `json:"first_bad,omitempty"`
}

// Verify walks the whole chain and reports the first bad row: a gap in seq,
// a row whose hash does not match its content, an intact row put in between
// two others (the next one links past it), an intact row that does not link
// to its predecessor (reordered), and a head row that disagrees with the last
// entry. A cut tail with a matching head, or a chain recomputed from some row
// on, passes: only VerifyAgainst a checkpoint held outside detects those.
func (l *Log) Verify(ctx context.Context) (Report, error) {
	return Verify(ctx, l.store)
}

// Verify is Log.Verify over any store. It reads one snapshot, so appends
// committed while it runs are neither seen nor taken for tampering.
func Verify(ctx context.Context, store Store) (Report, error) {
	var r Report
	err := store.Snapshot(ctx, func(rd Reader) error {
		var err error
		r, err = verify(ctx, rd)
		return err
	})
	return r, err
}

func verify(ctx context.Context, store Reader) (Report, error) {
	size, last, err := store.Head(ctx)
	if err != nil {
		return Report{}, err
	}
	var r Report
	prev, prevPrev, next := Genesis, HashValue(nil), int64(1)
	errStop := fmt.Errorf("stop")
	err = store.Scan(ctx, Filter{}, func(e Entry) error {
		r.Entries++
		switch {
		case e.Seq != next:
			r.FirstBad = &Problem{Seq: next, Kind: ProblemMissing, Reason: fmt.Sprintf("row %d is missing (the next row is %d)", next, e.Seq)}
		case !bytes.Equal(e.ComputeHash(), e.Hash):
			r.FirstBad = &Problem{Seq: e.Seq, Kind: ProblemEdited, Reason: fmt.Sprintf("row %d does not match its hash: its content was changed", e.Seq)}
		case prevPrev != nil && bytes.Equal(e.PrevHash, prevPrev):
			r.FirstBad = &Problem{Seq: e.Seq - 1, Kind: ProblemInserted, Reason: fmt.Sprintf("row %d was inserted: row %d links to row %d", e.Seq-1, e.Seq, e.Seq-2)}
		case !bytes.Equal(e.PrevHash, prev):
			r.FirstBad = &Problem{Seq: e.Seq, Kind: ProblemOutOfPlace, Reason: fmt.Sprintf("row %d is intact but does not link to row %d: rows were reordered, or rows removed and the rest renumbered", e.Seq, e.Seq-1)}
		default:
			prevPrev, prev, next = prev, e.Hash, next+1
			return nil
		}
		return errStop
	})
	if err != nil && !errors.Is(err, errStop) {
		return Report{}, err
	}
	if r.FirstBad == nil {
		if size != next-1 || !bytes.Equal(last, prev) {
			r.FirstBad = &Problem{Seq: min(size, next-1) + 1, Kind: ProblemHead,
				Reason: fmt.Sprintf("the head records %d rows, the table has %d: rows were removed or added behind the log's back", size, next-1)}
		}
	}
	r.OK = r.FirstBad == nil
	return r, nil
}

// VerifyAgainst verifies the chain and then checks it against checkpoints
// held outside the database (signatures checked with pub): every checkpoint's
// row must exist and carry its root hash. This is what detects a truncated
// tail or a log recomputed from some row on. The first failing checkpoint is
// reported (the earliest, so the bad range starts after the last good one).
func (l *Log) VerifyAgainst(ctx context.Context, pub ed25519.PublicKey, cps ...Checkpoint) (Report, error) {
	var r Report
	err := l.store.Snapshot(ctx, func(rd Reader) error {
		var err error
		r, err = verifyAgainst(ctx, rd, pub, cps)
		return err
	})
	return r, err
}

func verifyAgainst(ctx context.Context, rd Reader, pub ed25519.PublicKey, cps []Checkpoint) (Report, error) {
	r, err := verify(ctx, rd)
	if err != nil || !r.OK {
		return r, err
	}
	for _, c := range cps {
		if err := VerifyCheckpoint(pub, c); err != nil {
			r.FirstBad = &Problem{Seq: c.Size, Kind: ProblemCheckpoint, Reason: qrmfg.ErrorMessage(err)}
			break
		}
		if c.Size == 0 {
			continue
		}
		if c.Size > r.Entries {
			r.FirstBad = &Problem{Seq: r.Entries + 1, Kind: ProblemTruncated,
				Reason: fmt.Sprintf("the log has %d rows but a checkpoint signed at %s covers %d", r.Entries, c.Time.Format(TimeLayout), c.Size)}
			break
		}
		e, err := rd.Entry(ctx, c.Size)
		if err != nil {
			return Report{}, err
		}
		if !bytes.Equal(e.Hash, c.Root) {
			r.FirstBad = &Problem{Seq: c.Size, Kind: ProblemRewritten,
				Reason: fmt.Sprintf("row %d has hash %s but the checkpoint signed at %s says %s: the log was rewritten at or before row %d", c.Size, e.Hash, c.Time.Format(TimeLayout), c.Root, c.Size)}
			break
		}
	}
	r.OK = r.FirstBad == nil
	return r, nil
}

// VerifyStoredCheckpoints verifies the signatures of the checkpoints kept in
// the database and checks the log against them; a rewrite that also replaced
// the stored checkpoints fails here unless the signing key leaked.
func (l *Log) VerifyStoredCheckpoints(ctx context.Context) (Report, error) {
	cps, err := l.store.Checkpoints(ctx)
	if err != nil {
		return Report{}, err
	}
	return l.VerifyAgainst(ctx, l.PublicKey(), cps...)
}

// Size returns the number of entries in the log.
func (l *Log) Size(ctx context.Context) (int64, error) {
	n, _, err := l.store.Head(ctx)
	return n, err
}

// Checkpoints returns the stored checkpoints, oldest first.
func (l *Log) Checkpoints(ctx context.Context) ([]Checkpoint, error) { return l.store.Checkpoints(ctx) }

// DefaultPageSize and MaxPageSize bound List.
const (
	DefaultPageSize = 100
	MaxPageSize     = 1000
)

// List returns one page of entries matching f and the cursor of the next
// page (0 when this is the last).
func (l *Log) List(ctx context.Context, f Filter) ([]Entry, int64, error) {
	if f.Limit <= 0 {
		f.Limit = DefaultPageSize
	}
	if f.Limit > MaxPageSize {
		return nil, 0, qrmfg.FieldError("limit", "limit must be at most %d", MaxPageSize)
	}
	if !f.Since.IsZero() && !f.Until.IsZero() && !f.Since.Before(f.Until) {
		return nil, 0, qrmfg.FieldError("since", "since must be before until")
	}
	want := f.Limit
	f.Limit++
	var out []Entry
	if err := l.store.Scan(ctx, f, func(e Entry) error { out = append(out, e); return nil }); err != nil {
		return nil, 0, err
	}
	if len(out) > want {
		return out[:want], out[want-1].Seq, nil
	}
	return out, 0, nil
}
