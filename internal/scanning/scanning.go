// Package scanning reads part codes back: from photos (every QR code in the
// image, decoded by the decode subpackage and graded by the grade
// subpackage) and as text from handheld scanners. Each code is validated
// (payload format, signature, inventory status, duplicate within a session)
// and recorded as a scan event; the scanning.scan.recorded event it writes to
// the outbox in the same transaction carries the item's last-seen time and
// place to the inventory. Sessions (receive, move, count, QC, ship) collect
// scans against an expected set and close with a reconciliation that can be
// applied to the inventory.
package scanning

import (
	"context"
	"time"

	"github.com/qrmfg/qrmfg/internal/inventory"
	"github.com/qrmfg/qrmfg/internal/qrmfg"
	"github.com/qrmfg/qrmfg/internal/scanning/decode"
	"github.com/qrmfg/qrmfg/internal/scanning/grade"
)

// EventSource is the CloudEvents source of scanning events.
const EventSource = "/qrmfg/scanning"

// Event types published by scanning.
const (
	EventScanRecorded  = "scanning.scan.recorded"
	EventSessionOpened = "scanning.session.opened"
	EventSessionClosed = "scanning.session.closed"
)

// Verdict is what validation concluded about one code.
type Verdict string

// The verdicts.
const (
	// VerdictValid: a well-formed payload (signature verified when it has
	// one) naming an item in a status the scan accepts.
	VerdictValid Verdict = "valid"
	// VerdictUnknown: the payload is well formed but no item has its uid.
	VerdictUnknown Verdict = "unknown"
	// VerdictInvalidSignature: the tag or signature does not verify, or
	// its key is not in the keyring.
	VerdictInvalidSignature Verdict = "invalid_signature"
	// VerdictMalformed: the text is none of the payload formats.
	VerdictMalformed Verdict = "malformed"
	// VerdictWrongStatus: the item exists but its status says it should
	// not be here (see WrongStatus).
	VerdictWrongStatus Verdict = "wrong_status"
	// VerdictDuplicate: the item was already scanned in the session.
	VerdictDuplicate Verdict = "duplicate"
)

// Verdicts lists every verdict.
var Verdicts = []Verdict{VerdictValid, VerdictUnknown, VerdictInvalidSignature, VerdictMalformed, VerdictWrongStatus, VerdictDuplicate}

// ParseVerdict validates a verdict name.
func ParseVerdict(s string) (Verdict, error) {
	for _, v := range Verdicts {
		if string(v) == s {
			return v, nil
		}
	}
	return "", qrmfg.FieldError("verdict", "verdict %q is unknown; use valid, unknown, invalid_signature, malformed, wrong_status or duplicate", s)
}

// Invalid reports whether the verdict is a problem a session counts as
// invalid (everything but valid and duplicate).
func (v Verdict) Invalid() bool { return v != VerdictValid && v != VerdictDuplicate }

// Source says how a scan arrived.
const (
	SourceImage = "image"
	SourceText  = "text"
)

// Scan is one recorded read of one code.
type Scan struct {
	ID      string  `json:"id"`
	Payload string  `json:"payload"`
	Verdict Verdict `json:"verdict"`
	// Reason explains a verdict other than valid, for people.
	Reason string `json:"reason,omitempty"`
	// UID is the item the payload names ("" when it names none).
	UID string `json:"uid,omitempty"`
	// Format is the payload format (uid, url, gs1, signed, ed25519).
	Format    string `json:"format,omitempty"`
	Source    string `json:"source"`
	Device    string `json:"device,omitempty"`
	Location  string `json:"location,omitempty"`
	Actor     string `json:"actor,omitempty"`
	SessionID string `json:"session_id,omitempty"`
	// Unexpected is set on a session's scan of a known item that is not in
	// the session's expected set (a warning; the verdict stays).
	Unexpected bool `json:"unexpected,omitempty"`
	// ImageSHA256 is the hex SHA-256 of the uploaded image bytes.
	ImageSHA256 string           `json:"image_sha256,omitempty"`
	Grade       *grade.MarkGrade `json:"grade,omitempty"`
	At          time.Time        `json:"at"`
}

// ItemSummary is what an answer shows of the scanned item.
type ItemSummary struct {
	UID           string           `json:"uid"`
	ComponentType string           `json:"component_type"`
	VendorCode    string           `json:"vendor_code"`
	LotNumber     string           `json:"lot_number"`
	Status        inventory.Status `json:"status"`
	Location      string           `json:"location"`
}

// ImagePoint is an image position in pixels.
type ImagePoint struct {
	X float64 `json:"x"`
	Y float64 `json:"y"`
}

// Symbol describes the QR symbol a code was read from.
type Symbol struct {
	// Model is 2, or 1 for an original QR Code Model 1 symbol (versions 1
	// to 14, not graded).
	Model    int    `json:"model"`
	Version  int    `json:"version"`
	Level    string `json:"level"`
	Mask     int    `json:"mask"`
	Inverted bool   `json:"inverted,omitempty"`
	Mirrored bool   `json:"mirrored,omitempty"`
	// ErrorsCorrected of ECCapacity codewords were corrected.
	ErrorsCorrected int     `json:"errors_corrected"`
	ECCapacity      int     `json:"ec_capacity"`
	ModuleSize      float64 `json:"module_size"`
	// Corners are top-left, top-right, bottom-right, bottom-left in the
	// symbol's reading orientation.
	Corners []ImagePoint `json:"corners"`
}

// Outcome is the answer for one code.
type Outcome struct {
	Scan
	Item   *ItemSummary `json:"item,omitempty"`
	Symbol *Symbol      `json:"symbol,omitempty"`
}

// ScanResult is the answer to a scan request.
type ScanResult struct {
	Codes []Outcome `json:"codes"`
	// Image is set for photos.
	Image *ImageInfo `json:"image,omitempty"`
	// Session is the session's live counts after the scan, when the scans
	// belong to one.
	Session *Counts `json:"session,omitempty"`
}

// ImageInfo describes an uploaded photo.
type ImageInfo struct {
	Width    int     `json:"width"`
	Height   int     `json:"height"`
	Format   string  `json:"format"`
	SHA256   string  `json:"sha256"`
	DecodeMS float64 `json:"decode_ms"`
	// Downscale is set when the photo was decoded at 1/Downscale of its
	// size to fit the server's decode memory; positions are still in the
	// photo's pixels.
	Downscale int `json:"downscale,omitempty"`
}

// ScanRequest carries what is common to the codes of one request.
type ScanRequest struct {
	SessionID string `json:"session_id,omitempty"`
	Device    string `json:"device,omitempty"`
	Location  string `json:"location,omitempty"`
	// Verification marks the photo as the check of a fresh engraving: the
	// grade of each valid code is also written to the item's attribute
	// "mark_grade" ({"grade", "overall", "scan_id", "at"}).
	Verification bool `json:"verification,omitempty"`
}

// ScanFilter selects scans. Empty fields do not filter.
type ScanFilter struct {
	UID       string
	SessionID string
	Verdict   Verdict
	From, To  *time.Time // At in [From, To)
	// Lines restricts the listing to an actor's lines (set from the actor;
	// nil: no restriction): scans of an item of another line, and scans
	// made in a session of another line, are left out. Scans of no item
	// (malformed, unknown) outside a session stay visible: they name
	// nothing of a line.
	Lines []string
	Limit int
	// Cursor is the NextCursor of the previous page.
	Cursor string
}

// ScanPage is one page of scans, newest first.
type ScanPage struct {
	Scans      []Scan `json:"scans"`
	NextCursor string `json:"next_cursor,omitempty"`
}

// Inventory is what scanning needs from the inventory; *inventory.Service
// satisfies it.
type Inventory interface {
	// Item returns ENOTFOUND when no item has the uid.
	Item(ctx context.Context, uid string) (inventory.Item, error)
	// Items returns the items among uids that exist, by uid.
	Items(ctx context.Context, uids []string) (map[string]inventory.Item, error)
	List(ctx context.Context, f inventory.ItemFilter) (inventory.ItemPage, error)
	Update(ctx context.Context, uid string, up inventory.ItemUpdate) (inventory.Item, error)
	Transition(ctx context.Context, req inventory.TransitionRequest) (inventory.Item, error)
}

var _ Inventory = (*inventory.Service)(nil)

// Store is the storage scanning needs. Reads run outside a transaction;
// writes run inside Update.
type Store interface {
	// ListScans returns one page of scans, newest first; the filter is
	// validated.
	ListScans(ctx context.Context, f ScanFilter) (ScanPage, error)
	// GetSession returns ENOTFOUND when no session has the id.
	GetSession(ctx context.Context, id string) (Session, error)
	// SessionCounts returns the live counts of a session.
	SessionCounts(ctx context.Context, id string) (Counts, error)
	// SessionExpected returns the expected uids, sorted.
	SessionExpected(ctx context.Context, id string) ([]string, error)
	// SessionSeen returns the distinct items seen in a session, sorted by uid.
	SessionSeen(ctx context.Context, id string) ([]Seen, error)
	// UnfinishedCloses returns the closed sessions without a stored
	// reconciliation, oldest first.
	UnfinishedCloses(ctx context.Context) ([]Session, error)
	// Update runs fn in one transaction.
	Update(ctx context.Context, fn func(ctx context.Context, tx Tx) error) error
}

// Tx is a write transaction; every row it writes carries Now().
type Tx interface {
	Now() time.Time
	// LockSession reads a session for update; ENOTFOUND when absent.
	LockSession(ctx context.Context, id string) (Session, error)
	// InsertSession writes a new session and its expected uids.
	InsertSession(ctx context.Context, s Session, expected []string) error
	// UpdateSession writes a session's status, closing time, reconciliation
	// and apply_pending.
	UpdateSession(ctx context.Context, s Session) error
	// ClaimSeen records that uid was seen in the session by the scan and
	// reports whether it is the first time and whether uid is expected.
	ClaimSeen(ctx context.Context, sessionID, uid, scanID string, v Verdict) (first, expected bool, err error)
	// InsertScan writes a scan.
	InsertScan(ctx context.Context, s Scan) error
	// Emit writes an event to the outbox; it is published after commit.
	Emit(ctx context.Context, ev qrmfg.Event) error
}

// Limits bound what one request may carry.
type Limits struct {
	// MaxUploadBytes is the largest photo; MaxImagePixels the most pixels
	// a photo may declare.
	MaxUploadBytes int64
	MaxImagePixels int
	// MaxCodes is the most text codes one request may carry.
	MaxCodes int
	// MaxExpected is the largest expected set of a session.
	MaxExpected int
	// MaxPage is the largest page of scans.
	MaxPage int
}

// DefaultLimits are used for zero fields.
func DefaultLimits() Limits {
	return Limits{MaxUploadBytes: 20 << 20, MaxImagePixels: 40_000_000, MaxCodes: 1000, MaxExpected: 100_000, MaxPage: 1000}
}

// Options configure a Service.
type Options struct {
	Limits Limits
	// Decode tunes the decoder; its limits are overridden by Limits.
	Decode decode.Options
	// Grade turns mark grading of photos on (default on: set NoGrade to skip).
	NoGrade bool
	// Budget bounds the photo decodes in flight.
	Budget Budget
	// ObserveDecode, when set, is told of every admitted photo decode how
	// long it waited for room in Budget and how long it then held it.
	ObserveDecode func(wait, held time.Duration)
}
