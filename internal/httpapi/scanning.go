package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/qrmfg/qrmfg/internal/qrmfg"
	"github.com/qrmfg/qrmfg/internal/scanning"
	"github.com/qrmfg/qrmfg/internal/textfield"
)

// scanUploadPath is the photo upload; its body may be as large as the
// scanning service's MaxUploadBytes rather than the API's MaxBodyBytes.
const scanUploadPath = "/scanning/scan"

type scanTextsInput struct {
	Body struct {
		Codes     []string `json:"codes" minItems:"1" doc:"Codes as read by a handheld scanner; surrounding white space is trimmed" example:"[\"PAD-V0100-L2025-09-00001\"]"`
		SessionID string   `json:"session_id,omitempty" maxLength:"64" doc:"Session the scans belong to"`
		Device    string   `json:"device,omitempty" maxLength:"100" example:"wedge-3"`
		Location  string   `json:"location,omitempty" maxLength:"200" doc:"Where the codes were read; defaults to the session's location" example:"dock 3"`
	}
}

type scanResultOutput struct {
	Body scanning.ScanResult
}

type listScansInput struct {
	UID       string    `query:"uid" doc:"Scans of this item" example:"PAD-V0100-L2025-09-00001"`
	SessionID string    `query:"session_id"`
	Verdict   string    `query:"verdict" enum:"valid,unknown,invalid_signature,malformed,wrong_status,duplicate"`
	From      time.Time `query:"from" doc:"RFC 3339; inclusive"`
	To        time.Time `query:"to" doc:"RFC 3339; exclusive"`
	Limit     int       `query:"limit" default:"100" doc:"Page size, 1 to 1000"`
	Cursor    string    `query:"cursor" doc:"next_cursor of the previous page"`
	pageQuery
}

type listScansOutput struct {
	Link string `header:"Link" doc:"rel=next link to the following page"`
	Body scanning.ScanPage
}

type openSessionInput struct {
	Body struct {
		Kind     string            `json:"kind" enum:"receive,move,count,stocktake,qc,ship"`
		Name     string            `json:"name,omitempty" maxLength:"200"`
		Location string            `json:"location,omitempty" maxLength:"200" doc:"Where the session takes place; receive and move sessions move found items here"`
		Expected scanning.Expected `json:"expected" doc:"Exactly one of lot, filter or uids"`
		Line     string            `json:"line,omitempty" maxLength:"64" doc:"Production line of the session; a caller restricted to lines must name one of them (default: its only line)"`
	}
}

type sessionOutput struct {
	Body scanning.Session
}

type SessionIDPath struct {
	ID string `path:"id" maxLength:"64"`
}

type sessionViewOutput struct {
	Body scanning.SessionView
}

type closeSessionInput struct {
	SessionIDPath
	Body struct {
		Apply bool `json:"apply" doc:"Apply the reconciliation to the inventory (move, ship, flag missing)"`
	}
}

func (s *Server) registerScanning() {
	svc := s.svc.Scanning
	tags := []string{"scanning"}
	s.registerScanUpload(tags)
	huma.Register(s.api, huma.Operation{OperationID: "scan-texts", Method: http.MethodPost, Path: "/scanning/scans",
		Summary: "Validate and record codes read as text", Tags: tags, MaxBodyBytes: s.opt.MaxBodyBytes,
		Description: "For handheld scanners (keyboard wedge): one or many codes per request. Each code gets a verdict: " +
			"valid, unknown, invalid_signature, malformed, wrong_status (void, scrapped or defective items; in ship sessions anything not available or reserved) " +
			"or duplicate (already scanned in the session)."},
		func(ctx context.Context, in *scanTextsInput) (*scanResultOutput, error) {
			b := in.Body
			res, err := svc.ScanTexts(ctx, b.Codes, scanning.ScanRequest{SessionID: b.SessionID, Device: b.Device, Location: b.Location})
			if err != nil {
				return nil, s.fail(ctx, err)
			}
			return &scanResultOutput{Body: res}, nil
		})
	huma.Register(s.api, huma.Operation{OperationID: "list-scans", Method: http.MethodGet, Path: "/scanning/scans",
		Summary: "List recorded scans, newest first", Tags: tags},
		func(ctx context.Context, in *listScansInput) (*listScansOutput, error) {
			f := scanning.ScanFilter{UID: in.UID, SessionID: in.SessionID, Verdict: scanning.Verdict(in.Verdict), Limit: in.Limit, Cursor: in.Cursor}
			if in.Limit == 0 {
				f.Limit = -1
			}
			if !in.From.IsZero() {
				f.From = &in.From
			}
			if !in.To.IsZero() {
				f.To = &in.To
			}
			page, err := svc.ListScans(ctx, f)
			if err != nil {
				return nil, s.fail(ctx, err)
			}
			return &listScansOutput{Body: page, Link: in.nextLink("cursor", page.NextCursor)}, nil
		})
	huma.Register(s.api, huma.Operation{OperationID: "open-session", Method: http.MethodPost, Path: "/scanning/sessions",
		Summary: "Open a scanning session", Tags: tags, DefaultStatus: http.StatusCreated, MaxBodyBytes: s.opt.MaxBodyBytes,
		Description: "A lot or an inventory filter is resolved now (a snapshot); without explicit statuses void, scrapped and defective items are not expected."},
		func(ctx context.Context, in *openSessionInput) (*sessionOutput, error) {
			b := in.Body
			sess, err := svc.OpenSession(ctx, scanning.SessionRequest{Kind: b.Kind, Name: b.Name, Location: b.Location, Expected: b.Expected, Line: b.Line})
			if err != nil {
				return nil, s.fail(ctx, err)
			}
			return &sessionOutput{Body: sess}, nil
		})
	huma.Register(s.api, huma.Operation{OperationID: "get-session", Method: http.MethodGet, Path: "/scanning/sessions/{id}",
		Summary: "A session with its live counts and latest warnings", Tags: tags},
		func(ctx context.Context, in *SessionIDPath) (*sessionViewOutput, error) {
			v, err := svc.GetSession(ctx, in.ID)
			if err != nil {
				return nil, s.fail(ctx, err)
			}
			return &sessionViewOutput{Body: v}, nil
		})
	huma.Register(s.api, huma.Operation{OperationID: "close-session", Method: http.MethodPost, Path: "/scanning/sessions/{id}/close",
		Summary: "Close a session and reconcile it", Tags: tags,
		Description: "With apply: receive, move and count sessions move every item seen to the session's location; ship sessions ship the found items; " +
			"missing items get the attribute `missing` (session, kind, location, time). Items the inventory refuses are listed under applied.failed."},
		func(ctx context.Context, in *closeSessionInput) (*sessionOutput, error) {
			sess, err := svc.Close(ctx, in.ID, in.Body.Apply)
			if err != nil {
				return nil, s.fail(ctx, err)
			}
			return &sessionOutput{Body: sess}, nil
		})
	for _, f := range []struct{ ext, ctype string }{{"csv", "text/csv; charset=utf-8"}, {"pdf", "application/pdf"}} {
		huma.Register(s.api, huma.Operation{OperationID: "session-report-" + f.ext, Method: http.MethodGet, Path: "/scanning/sessions/{id}/report." + f.ext,
			Summary: "Reconciliation report as " + strings.ToUpper(f.ext), Tags: tags,
			Description: "The stored reconciliation of a closed session, or the one so far of an open session.",
			Responses: map[string]*huma.Response{"200": {Description: "The report",
				Content: map[string]*huma.MediaType{strings.Split(f.ctype, ";")[0]: {Schema: &huma.Schema{Type: "string", Format: "binary"}}}}}},
			func(ctx context.Context, in *SessionIDPath) (*huma.StreamResponse, error) {
				sess, err := svc.Report(ctx, in.ID)
				if err != nil {
					return nil, s.fail(ctx, err)
				}
				return &huma.StreamResponse{Body: func(hc huma.Context) {
					hc.SetHeader("Content-Type", f.ctype)
					hc.SetHeader("Content-Disposition", fmt.Sprintf(`attachment; filename="session-%s.%s"`, sess.ID, f.ext))
					write := scanning.WriteCSV
					if f.ext == "pdf" {
						write = scanning.WritePDF
					}
					if err := write(hc.BodyWriter(), sess); err != nil {
						s.log.Warn("write session report", "session", sess.ID, "err", err)
					}
				}}, nil
			})
	}
	huma.Register(s.api, huma.Operation{OperationID: "session-events", Method: http.MethodGet, Path: "/scanning/sessions/{id}/events",
		Summary: "Live session updates as server-sent events", Tags: tags,
		Description: "`session` (the session view) first, then `scans` (new scans with the counts after them) as they arrive, " +
			"`counts` when a poll sees other changes, and `closed` (the reconciled session), after which the stream ends.",
		Responses: sseResponses()},
		func(ctx context.Context, in *SessionIDPath) (*huma.StreamResponse, error) {
			v, err := svc.GetSession(ctx, in.ID)
			if err != nil {
				return nil, s.fail(ctx, err)
			}
			return &huma.StreamResponse{Body: func(hc huma.Context) { s.sessionEvents(ctx, hc, svc, v) }}, nil
		})
}

func (s *Server) sessionEvents(ctx context.Context, hc huma.Context, svc *scanning.Service, v scanning.SessionView) {
	ch, stop := svc.Subscribe(v.ID)
	defer stop()
	w := startSSE(hc)
	send := w.send
	if !send("session", v) || v.Status != scanning.SessionOpen {
		return
	}
	last := v.Counts
	tick := time.NewTicker(2 * time.Second)
	defer tick.Stop()
	for {
		select {
		case u := <-ch:
			if !send(u.Type, u) || u.Type == "closed" {
				return
			}
			if u.Counts != nil {
				last = *u.Counts
			}
		case <-tick.C:
			// Poll too: scans may arrive through another process. Only the
			// status and the counts are needed, not GetSession's warnings.
			cur, counts, err := svc.SessionCounts(ctx, v.ID)
			if err != nil {
				return
			}
			if cur.Status != scanning.SessionOpen {
				rep, err := svc.Report(ctx, v.ID)
				if err == nil {
					send("closed", scanning.SessionUpdate{Type: "closed", Counts: &counts, Session: &rep})
				}
				return
			}
			if counts != last {
				last = counts
				if !send("counts", scanning.SessionUpdate{Type: "counts", Counts: &counts}) {
					return
				}
			}
		case <-ctx.Done():
			return
		}
	}
}

// registerScanUpload registers the photo upload as a plain handler, so the
// multipart body is streamed with its own size limit, and documents it in
// the OpenAPI document.
func (s *Server) registerScanUpload(tags []string) {
	s.mux.HandleFunc("POST "+scanUploadPath, s.guard("scan-image", s.scanUpload))
	schema := &huma.Schema{Type: "object", Required: []string{"image"}, Properties: map[string]*huma.Schema{
		"image":        {Type: "string", Format: "binary", Description: "The photo: PNG, JPEG, GIF or WebP"},
		"session_id":   {Type: "string", MaxLength: ptr(64)},
		"device":       {Type: "string", MaxLength: ptr(100)},
		"location":     {Type: "string", MaxLength: ptr(200)},
		"verification": {Type: "boolean", Description: "The photo checks a fresh engraving: each valid code's grade is also written to the item's attribute mark_grade"},
	}}
	result := s.api.OpenAPI().Components.Schemas.Schema(
		reflect.TypeFor[scanning.ScanResult](), true, "ScanResult")
	s.api.OpenAPI().AddOperation(&huma.Operation{OperationID: "scan-image", Method: http.MethodPost, Path: scanUploadPath,
		Summary: "Find, grade, validate and record every QR code in a photo", Tags: tags,
		Description: fmt.Sprintf("multipart/form-data with the photo in field `image` (at most %d bytes and %d pixels) and optional "+
			"`session_id`, `device`, `location`. Each code found is answered with its verdict, the item, an indicative ISO/IEC 15415 grade and its corners. "+
			"A photo with no code answers an empty list; an unreadable image is 422, an oversized one 413. "+
			"Photos are decoded within a memory budget: one larger than the budget is decoded downscaled (image.downscale), "+
			"and when the budget is taken by other uploads the answer is 503 with Retry-After.",
			s.svc.Scanning.Limits().MaxUploadBytes, s.svc.Scanning.Limits().MaxImagePixels),
		RequestBody: &huma.RequestBody{Required: true, Content: map[string]*huma.MediaType{"multipart/form-data": {Schema: schema}}},
		Responses: map[string]*huma.Response{
			"200":     {Description: "The codes found", Content: map[string]*huma.MediaType{"application/json": {Schema: result}}},
			"default": {Description: "Error", Content: map[string]*huma.MediaType{"application/problem+json": {}}},
		}})
}

func ptr[T any](v T) *T { return &v }

// scanUpload serves POST /scanning/scan.
func (s *Server) scanUpload(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	svc := s.svc.Scanning
	if err := s.spend(ctx, s.opt.Limits.Uploads, "uploads", 1); err != nil {
		var p *Problem
		if errors.As(err, &p) {
			writeProblem(w, p)
		}
		return
	}
	req, data, err := readScanUpload(r, svc.Limits().MaxUploadBytes)
	if err == nil {
		var res scanning.ScanResult
		res, err = svc.ScanImage(ctx, data, req)
		if err == nil {
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Cache-Control", "no-store")
			_ = json.NewEncoder(w).Encode(res)
			return
		}
	}
	p := s.fail(ctx, err)
	writeProblem(w, p)
}

// readScanUpload streams the multipart body: the image part up to limit
// bytes, the small text fields up to 1 KiB each; any other field is refused.
func readScanUpload(r *http.Request, limit int64) (scanning.ScanRequest, []byte, error) {
	var req scanning.ScanRequest
	mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/form-data" || params["boundary"] == "" {
		return req, nil, qrmfg.Errorf(qrmfg.EBADREQUEST, "send the photo as multipart/form-data in the field \"image\"")
	}
	mr, err := r.MultipartReader()
	if err != nil {
		return req, nil, qrmfg.Errorf(qrmfg.EBADREQUEST, "malformed multipart body: %v", err)
	}
	var data []byte
	seen := map[string]bool{}
	for parts := 0; ; parts++ {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return req, nil, bodyError(err)
		}
		name := part.FormName()
		if parts >= 8 {
			return req, nil, qrmfg.Errorf(qrmfg.EBADREQUEST, "too many parts in the multipart body")
		}
		if seen[name] {
			return req, nil, qrmfg.FieldError(name, "field %q is given twice", name)
		}
		seen[name] = true
		switch name {
		case "image":
			data, err = io.ReadAll(io.LimitReader(part, limit+1))
			if err != nil {
				return req, nil, bodyError(err)
			}
			if int64(len(data)) > limit {
				return req, nil, qrmfg.Errorf(qrmfg.ETOOLARGE, "image is more than the limit of %d bytes", limit).WithDetail("limit", limit)
			}
		case "session_id", "device", "location", "verification":
			b, err := io.ReadAll(io.LimitReader(part, 1025))
			if err != nil {
				return req, nil, bodyError(err)
			}
			if len(b) > 1024 {
				return req, nil, qrmfg.FieldError(name, "field %q is longer than 1024 bytes", name)
			}
			if err := textfield.Check(name, string(b)); err != nil {
				return req, nil, err
			}
			switch name {
			case "session_id":
				req.SessionID = string(b)
			case "device":
				req.Device = string(b)
			case "verification":
				v, err := strconv.ParseBool(string(b))
				if err != nil {
					return req, nil, qrmfg.FieldError(name, "verification must be true or false")
				}
				req.Verification = v
			default:
				req.Location = string(b)
			}
		default:
			return req, nil, qrmfg.FieldError(name, "unknown field %q; send image, session_id, device, location, verification", name)
		}
		_ = part.Close()
	}
	if !seen["image"] {
		return req, nil, qrmfg.FieldError("image", "the multipart body has no \"image\" field")
	}
	return req, data, nil
}

func bodyError(err error) error {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return qrmfg.Errorf(qrmfg.ETOOLARGE, "request body is more than the limit of %d bytes", mbe.Limit)
	}
	return qrmfg.Errorf(qrmfg.EBADREQUEST, "malformed multipart body: %v", err)
}
