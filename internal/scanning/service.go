package scanning

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"image"
	"log/slog"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/qrmfg/qrmfg/internal/inventory"
	"github.com/qrmfg/qrmfg/internal/partid"
	"github.com/qrmfg/qrmfg/internal/qrmfg"
	"github.com/qrmfg/qrmfg/internal/scanning/decode"
	"github.com/qrmfg/qrmfg/internal/scanning/grade"
	"github.com/qrmfg/qrmfg/internal/textfield"
)

// Service validates and records scans and runs sessions.
type Service struct {
	store    Store
	inv      Inventory
	payloads *partid.PayloadConfig
	opt      Options
	hub      *hub
	log      *slog.Logger
	decodes  *decodeGate
}

// NewService returns the scanning service. payloads must be the same
// configuration the generation service encodes with, so that signed codes
// verify.
func NewService(store Store, inv Inventory, payloads *partid.PayloadConfig, opt Options, log *slog.Logger) *Service {
	d := DefaultLimits()
	l := &opt.Limits
	if l.MaxUploadBytes <= 0 {
		l.MaxUploadBytes = d.MaxUploadBytes
	}
	if l.MaxImagePixels <= 0 {
		l.MaxImagePixels = d.MaxImagePixels
	}
	if l.MaxCodes <= 0 {
		l.MaxCodes = d.MaxCodes
	}
	if l.MaxExpected <= 0 {
		l.MaxExpected = d.MaxExpected
	}
	if l.MaxPage <= 0 {
		l.MaxPage = d.MaxPage
	}
	if opt.Decode == (decode.Options{}) {
		opt.Decode = decode.DefaultOptions()
	}
	opt.Decode.MaxBytes = l.MaxUploadBytes
	opt.Decode.MaxPixels = l.MaxImagePixels
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	decodes := newDecodeGate(opt.Budget)
	decodes.observe = opt.ObserveDecode
	return &Service{store: store, inv: inv, payloads: payloads, opt: opt, hub: newHub(), log: log, decodes: decodes}
}

// DecodeQueue reports the photo uploads waiting for decode room and those
// decoding now.
func (s *Service) DecodeQueue() (waiting, decoding int) {
	return int(s.decodes.waiting.Load()), int(s.decodes.decoding.Load())
}

// Limits returns the service's limits.
func (s *Service) Limits() Limits { return s.opt.Limits }

// WrongStatus lists the statuses that make any scan wrong_status: the item
// was voided (never made), scrapped or found defective, so it should not be
// in circulation. Ship sessions further require available or reserved.
var WrongStatus = []inventory.Status{inventory.StatusVoid, inventory.StatusScrapped, inventory.StatusDefective}

const (
	maxDeviceLen   = 100
	maxLocationLen = 200
	maxPayloadLen  = 7089 // the most characters a QR symbol holds (numeric, 40-L)
)

func (r *ScanRequest) validate() error {
	r.Device, r.Location, r.SessionID = strings.TrimSpace(r.Device), strings.TrimSpace(r.Location), strings.TrimSpace(r.SessionID)
	if len(r.Device) > maxDeviceLen || !utf8.ValidString(r.Device) {
		return qrmfg.FieldError("device", "device must be valid UTF-8 of at most %d bytes", maxDeviceLen)
	}
	if len(r.Location) > maxLocationLen || !utf8.ValidString(r.Location) {
		return qrmfg.FieldError("location", "location must be valid UTF-8 of at most %d bytes", maxLocationLen)
	}
	r.Device, r.Location = textfield.Sanitize(r.Device), textfield.Sanitize(r.Location)
	if len(r.SessionID) > 64 {
		return qrmfg.FieldError("session_id", "session_id is longer than 64 characters")
	}
	return nil
}

// ScanImage finds every QR code in an encoded photo (PNG, JPEG, GIF, WebP),
// grades each mark, validates and records each code.
//
// The decode is admitted within Options.Budget: a photo larger than the
// whole budget is decoded downscaled (ImageInfo.Downscale).
//
// Errors: ETOOLARGE when the photo is over MaxUploadBytes or declares more
// than MaxImagePixels; EINVALID for an empty, unknown or corrupt image, one
// too large for the budget even at a quarter of its size, or a bad request
// field; EUNAVAILABLE (with retry_after_seconds) when the budget stays taken
// by other decodes for Budget.Wait; ENOTFOUND / ECONFLICT for a missing or
// closed session.
// A photo with no code is no error: the answer lists no codes.
func (s *Service) ScanImage(ctx context.Context, data []byte, req ScanRequest) (ScanResult, error) {
	if err := req.validate(); err != nil {
		return ScanResult{}, err
	}
	start := time.Now()
	ph, release, err := loadPhoto(ctx, s.decodes, data, s.opt.Limits.MaxUploadBytes, s.opt.Limits.MaxImagePixels)
	if err != nil {
		return ScanResult{}, err
	}
	inputs, err := s.readPhoto(ctx, ph)
	release()
	if err != nil {
		return ScanResult{}, err
	}
	sum := sha256.Sum256(data)
	info := &ImageInfo{Width: ph.width, Height: ph.height, Format: ph.format, SHA256: hex.EncodeToString(sum[:])}
	if ph.scale > 1 {
		info.Downscale = ph.scale
	}
	info.DecodeMS = float64(time.Since(start).Microseconds()) / 1000
	res, err := s.record(ctx, req, SourceImage, info.SHA256, inputs)
	if err != nil {
		return ScanResult{}, err
	}
	res.Image = info
	return res, nil
}

// readPhoto finds and grades every code in a loaded photo; positions are in
// the photo's pixels.
func (s *Service) readPhoto(ctx context.Context, ph photo) ([]input, error) {
	codes, err := decode.Image(ctx, ph.img, s.opt.Decode)
	if err != nil {
		return nil, err
	}
	inputs := make([]input, len(codes))
	for i, c := range codes {
		in := input{payload: c.Text, symbol: SymbolOf(c)}
		if !s.opt.NoGrade {
			if g, err := grade.Measure(ph.img, c); err == nil {
				in.grade = &g
			} else {
				s.log.Warn("cannot grade a decoded code", "err", err)
			}
		}
		if k := float64(ph.scale); k > 1 {
			in.symbol.ModuleSize *= k
			for j := range in.symbol.Corners {
				in.symbol.Corners[j].X *= k
				in.symbol.Corners[j].Y *= k
			}
		}
		inputs[i] = in
	}
	return inputs, nil
}

// DecodeImage loads an encoded photo, its limits checked on the header
// before any pixel is decoded: a PNG straight to a grey plane (pngGray),
// any other format with decode.Load. It keeps the image, which grading
// needs. Errors: ETOOLARGE with the limit in its detail, or EINVALID naming
// the field "image" for an empty, unknown or corrupt image.
func DecodeImage(data []byte, maxBytes int64, maxPixels int) (image.Image, string, error) {
	if cfg, format, err := image.DecodeConfig(bytes.NewReader(data)); err == nil && format == "png" &&
		int64(len(data)) <= maxBytes && cfg.Width > 0 && cfg.Height > 0 && int64(cfg.Width)*int64(cfg.Height) <= int64(maxPixels) {
		g, err := pngGray(data)
		if err != nil {
			return nil, "", &qrmfg.Error{Code: qrmfg.EINVALID, Field: "image", Message: fmt.Sprintf("png image is corrupt: %v", err), Err: err}
		}
		return g, "png", nil
	}
	img, format, err := decode.Load(context.Background(), data, decode.Options{MaxBytes: maxBytes, MaxPixels: maxPixels})
	if e := qrmfg.AsError(err); e != nil {
		e.Field = "image"
		if e.Code == qrmfg.ETOOLARGE {
			limit := any(maxBytes)
			if int64(len(data)) <= maxBytes {
				limit = maxPixels
			}
			_ = e.WithDetail("limit", limit)
		}
	}
	return img, format, err
}

// SymbolOf describes the symbol a decoded code was read from.
func SymbolOf(c decode.Code) *Symbol {
	sym := &Symbol{Model: c.Model, Version: c.Version, Level: c.Level, Mask: c.Mask, Inverted: c.Inverted, Mirrored: c.Mirrored,
		ErrorsCorrected: c.ErrorsCorrected, ECCapacity: c.ECCapacity, ModuleSize: c.ModuleSize}
	for _, p := range c.Corners {
		sym.Corners = append(sym.Corners, ImagePoint{X: p.X, Y: p.Y})
	}
	return sym
}

// ScanTexts validates and records codes read as text by a handheld scanner
// (surrounding white space, such as a keyboard wedge's line end, is
// trimmed). Errors as ScanImage, and EINVALID naming codes[i] for an empty
// or over-long code or too many codes.
func (s *Service) ScanTexts(ctx context.Context, codes []string, req ScanRequest) (ScanResult, error) {
	if err := req.validate(); err != nil {
		return ScanResult{}, err
	}
	if len(codes) == 0 {
		return ScanResult{}, qrmfg.FieldError("codes", "give at least one code")
	}
	if len(codes) > s.opt.Limits.MaxCodes {
		return ScanResult{}, qrmfg.FieldError("codes", "%d codes is over the limit of %d per request", len(codes), s.opt.Limits.MaxCodes)
	}
	inputs := make([]input, len(codes))
	for i, c := range codes {
		c = strings.TrimSpace(c)
		if c == "" {
			return ScanResult{}, qrmfg.FieldError(fmt.Sprintf("codes[%d]", i), "code is empty")
		}
		if len(c) > maxPayloadLen {
			return ScanResult{}, qrmfg.FieldError(fmt.Sprintf("codes[%d]", i), "code is %d bytes, more than a QR symbol holds", len(c))
		}
		inputs[i] = input{payload: c}
	}
	return s.record(ctx, req, SourceText, "", inputs)
}

// input is one code to validate and record.
type input struct {
	payload string
	grade   *grade.MarkGrade
	symbol  *Symbol
}

// check is the verdict of one payload before duplicates are considered.
type check struct {
	verdict Verdict
	reason  string
	uid     string
	format  string
	item    *inventory.Item
}

// decodePayload parses a payload and verifies its signature; the check
// has a verdict when that fails, and the item's uid to look up otherwise.
func (s *Service) decodePayload(payload string) check {
	if !utf8.ValidString(payload) {
		return check{verdict: VerdictMalformed, reason: "payload is not valid UTF-8"}
	}
	d, err := s.payloads.Decode(payload)
	if err != nil {
		c := check{reason: qrmfg.ErrorMessage(err)}
		switch partid.Verdict(err) {
		case partid.VerdictInvalidSignature:
			c.verdict = VerdictInvalidSignature
		case partid.VerdictUnknownKey:
			c.verdict, c.reason = VerdictInvalidSignature, "signed with a key this server does not know: "+c.reason
		default:
			c.verdict = VerdictMalformed
		}
		return c
	}
	return check{uid: d.ID.String(), format: string(d.Format)}
}

// classify decodes every input's payload, looks the items up (all in one
// go) and gives each check its verdict for a scan of this kind.
func (s *Service) classify(ctx context.Context, inputs []input, kind Kind) ([]check, error) {
	checks := make([]check, len(inputs))
	var uids []string
	for i, in := range inputs {
		checks[i] = s.decodePayload(in.payload)
		if checks[i].verdict == "" {
			uids = append(uids, checks[i].uid)
		}
	}
	items := map[string]inventory.Item{}
	if len(uids) > 0 {
		var err error
		if items, err = s.inv.Items(ctx, uids); err != nil {
			return nil, fmt.Errorf("look up items: %w", err)
		}
	}
	for i := range checks {
		c := &checks[i]
		if c.verdict != "" {
			continue
		}
		it, ok := items[c.uid]
		if !ok {
			c.verdict, c.reason = VerdictUnknown, fmt.Sprintf("no item %s in the inventory", c.uid)
			continue
		}
		c.item = &it
		c.verdict = VerdictValid
		if slices.Contains(WrongStatus, it.Status) {
			c.verdict, c.reason = VerdictWrongStatus, fmt.Sprintf("item %s is %s", c.uid, it.Status)
		} else if kind == KindShip && it.Status != inventory.StatusAvailable && it.Status != inventory.StatusReserved {
			c.verdict, c.reason = VerdictWrongStatus, fmt.Sprintf("item %s is %s; only available or reserved items ship", c.uid, it.Status)
		}
	}
	return checks, nil
}

// record classifies the inputs and records them in one transaction, with
// their events; duplicates within the session are decided there.
func (s *Service) record(ctx context.Context, req ScanRequest, source, hash string, inputs []input) (ScanResult, error) {
	var sess *Session
	if req.SessionID != "" {
		got, err := s.getSession(ctx, req.SessionID)
		if err != nil {
			return ScanResult{}, err
		}
		if got.Status != SessionOpen {
			return ScanResult{}, qrmfg.Errorf(qrmfg.ECONFLICT, "session %s is closed", got.ID)
		}
		sess = &got
	}
	kind := Kind("")
	location := req.Location
	if sess != nil {
		kind = sess.Kind
		if location == "" {
			location = sess.Location
		}
	}
	checks, err := s.classify(ctx, inputs, kind)
	if err != nil {
		return ScanResult{}, err
	}
	actor := qrmfg.ActorFrom(ctx).ID
	out := ScanResult{Codes: make([]Outcome, len(inputs))}
	err = s.store.Update(ctx, func(ctx context.Context, tx Tx) error {
		if sess != nil {
			cur, err := tx.LockSession(ctx, sess.ID)
			if err != nil {
				return err
			}
			if cur.Status != SessionOpen {
				return qrmfg.Errorf(qrmfg.ECONFLICT, "session %s is closed", cur.ID)
			}
		}
		for i, in := range inputs {
			c := checks[i]
			sc := Scan{ID: qrmfg.NewID(), Payload: textfield.Sanitize(in.payload), Verdict: c.verdict, Reason: c.reason, UID: c.uid, Format: c.format,
				Source: source, Device: req.Device, Location: location, Actor: actor, SessionID: req.SessionID,
				ImageSHA256: hash, Grade: in.grade, At: tx.Now()}
			if sess != nil && c.item != nil {
				first, expected, err := tx.ClaimSeen(ctx, sess.ID, c.uid, sc.ID, c.verdict)
				if err != nil {
					return err
				}
				sc.Unexpected = !expected
				switch {
				case !first:
					sc.Verdict, sc.Reason = VerdictDuplicate, fmt.Sprintf("item %s was already scanned in this session", c.uid)
				case !expected && sc.Verdict == VerdictValid:
					sc.Reason = fmt.Sprintf("item %s is not in the session's expected set", c.uid)
				}
			}
			if err := tx.InsertScan(ctx, sc); err != nil {
				return err
			}
			if err := tx.Emit(ctx, scanEvent(ctx, sc)); err != nil {
				return err
			}
			o := Outcome{Scan: sc, Symbol: in.symbol}
			if it := c.item; it != nil {
				o.Item = &ItemSummary{UID: it.UID, ComponentType: it.ComponentType, VendorCode: it.VendorCode, LotNumber: it.LotNumber,
					Status: it.Status, Location: it.Location}
			}
			out.Codes[i] = o
		}
		return nil
	})
	if err != nil {
		return ScanResult{}, err
	}
	if req.Verification {
		s.recordMarkGrades(ctx, out.Codes)
	}
	if sess != nil {
		counts, err := s.store.SessionCounts(ctx, sess.ID)
		if err != nil {
			return ScanResult{}, err
		}
		out.Session = &counts
		scans := make([]Scan, len(out.Codes))
		for i, o := range out.Codes {
			scans[i] = o.Scan
		}
		s.hub.publish(sess.ID, SessionUpdate{Type: "scans", Scans: scans, Counts: &counts})
	}
	return out, nil
}

// recordMarkGrades writes the grade of each valid code to its item. The scan
// is already recorded; a failure here is logged, not returned, so the
// verification's answer still reaches the engraver.
func (s *Service) recordMarkGrades(ctx context.Context, codes []Outcome) {
	for _, c := range codes {
		if c.Verdict != VerdictValid || c.Grade == nil {
			continue
		}
		attr, _ := json.Marshal(map[string]any{"mark_grade": map[string]any{
			"grade": c.Grade.Letter, "overall": c.Grade.Overall, "scan_id": c.ID, "at": c.At.UTC().Format(time.RFC3339)}})
		if _, err := s.inv.Update(ctx, c.UID, inventory.ItemUpdate{Attributes: attr, Reason: "engraving verification scan " + c.ID}); err != nil {
			s.log.Warn("cannot record the mark grade on the item", "uid", c.UID, "scan", c.ID, "err", err)
		}
	}
}

// ScanEventData is the data of a scanning.scan.recorded event.
type ScanEventData struct {
	ScanID    string    `json:"scan_id"`
	UID       string    `json:"uid,omitempty"`
	Verdict   Verdict   `json:"verdict"`
	Payload   string    `json:"payload"`
	Device    string    `json:"device,omitempty"`
	Location  string    `json:"location,omitempty"`
	SessionID string    `json:"session_id,omitempty"`
	Actor     string    `json:"actor,omitempty"`
	Grade     string    `json:"grade,omitempty"`
	Source    string    `json:"source,omitempty"`
	At        time.Time `json:"at"`
}

func scanEvent(ctx context.Context, sc Scan) qrmfg.Event {
	d := ScanEventData{ScanID: sc.ID, UID: sc.UID, Verdict: sc.Verdict, Payload: sc.Payload, Device: sc.Device,
		Location: sc.Location, SessionID: sc.SessionID, Actor: sc.Actor, Source: sc.Source, At: sc.At}
	if sc.Grade != nil {
		d.Grade = sc.Grade.Letter
	}
	subject := sc.UID
	if subject == "" {
		subject = sc.ID
	}
	ev, _ := qrmfg.NewEvent(ctx, EventSource, EventScanRecorded, subject, d) // the data always encodes
	ev.ID = qrmfg.NewID()
	ev.Time = sc.At
	return ev
}

// ListScans returns scans matching f, newest first.
func (s *Service) ListScans(ctx context.Context, f ScanFilter) (ScanPage, error) {
	if f.Limit == 0 {
		f.Limit = 100
	}
	if f.Limit < 1 || f.Limit > s.opt.Limits.MaxPage {
		return ScanPage{}, qrmfg.FieldError("limit", "limit must be 1 to %d", s.opt.Limits.MaxPage)
	}
	if f.Verdict != "" {
		if _, err := ParseVerdict(string(f.Verdict)); err != nil {
			return ScanPage{}, err
		}
	}
	if f.From != nil && f.To != nil && !f.From.Before(*f.To) {
		return ScanPage{}, qrmfg.FieldError("to", "to must be after from")
	}
	if f.UID != "" {
		if _, err := partid.Parse(f.UID); err != nil {
			return ScanPage{}, err
		}
	}
	if len(f.Cursor) > 64 || strings.ContainsAny(f.Cursor, " '\"") {
		return ScanPage{}, qrmfg.FieldError("cursor", "cursor is not one this API returned")
	}
	f.Lines = qrmfg.LineScope(ctx)
	return s.store.ListScans(ctx, f)
}
