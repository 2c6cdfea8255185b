package httpapi

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/qrmfg/qrmfg/internal/generation"
	"github.com/qrmfg/qrmfg/internal/qrmfg"
)

type generateInput struct {
	Body generation.Request
}

type batchIDInput struct {
	ID string `path:"id" doc:"Batch id"`
}

type downloadInput struct {
	ID     string `path:"id"`
	Format string `query:"format" enum:"zip,pdf,json,csv" default:"zip"`
}

// BatchStatus is a generated batch's state with its links.
type BatchStatus struct {
	generation.Record
	Links map[string]string `json:"links"`
}

type batchStatusOutput struct {
	Body BatchStatus
}

type itemImageInput struct {
	File        string `path:"file" doc:"The uid with the image extension: .png, .svg, .pdf or .txt" example:"PAD-V0100-L2025-09-00001.png"`
	IfNoneMatch string `header:"If-None-Match"`
	// Style overrides of the batch's recipe; zero values keep the recipe's.
	ModulePx   int     `query:"module_px" doc:"Module side in pixels (PNG, SVG)"`
	QuietZone  int     `query:"quiet_zone" doc:"Light margin in modules (at least 2)"`
	Foreground string  `query:"foreground" doc:"Ink colour, #RRGGBB"`
	Background string  `query:"background" doc:"Substrate colour, #RRGGBB"`
	Invert     bool    `query:"invert" doc:"Light-on-dark: ink the light modules"`
	ECLevel    string  `query:"ec_level" doc:"Error correction L, M, Q or H"`
	DPI        int     `query:"dpi" doc:"Physical resolution written into PNG files"`
	ModuleMM   float64 `query:"module_mm" doc:"Physical module size in mm (SVG size, PDF label)"`
	Payload    string  `query:"payload" doc:"ignored: the payload format is the batch's" hidden:"true"`
}

// style is the request's overrides of the batch's style.
func (in *itemImageInput) style() *generation.StyleRequest {
	st := &generation.StyleRequest{ModulePx: in.ModulePx, Foreground: in.Foreground, Background: in.Background,
		Invert: in.Invert, ECLevel: in.ECLevel, DPI: in.DPI, ModuleMM: in.ModuleMM}
	if in.QuietZone != 0 {
		st.QuietZone = &in.QuietZone
	}
	return st
}

type itemImageOutput struct {
	ContentType  string `header:"Content-Type"`
	ETag         string `header:"ETag"`
	CacheControl string `header:"Cache-Control"`
	XPayload     string `header:"X-QR-Payload"`
	Status       int
	Body         []byte
}

func batchLinks(id string) map[string]string {
	return map[string]string{
		"self":   "/qr/batches/" + id,
		"events": "/qr/batches/" + id + "/events",
		"zip":    "/qr/batches/" + id + "/download?format=zip",
		"pdf":    "/qr/batches/" + id + "/download?format=pdf",
		"csv":    "/qr/batches/" + id + "/download?format=csv",
		"items":  "/inventory/items?batch_id=" + id,
	}
}

// binary documents a response that is a file of one of the media types.
func binary(desc string, types ...string) *huma.Response {
	r := &huma.Response{Description: desc, Content: map[string]*huma.MediaType{}}
	for _, t := range types {
		r.Content[t] = &huma.MediaType{Schema: &huma.Schema{Type: "string", Format: "binary"}}
	}
	return r
}

func (s *Server) registerGeneration() {
	gen := s.svc.Generation
	tags := []string{"qr"}
	huma.Register(s.api, huma.Operation{OperationID: "generate", Method: http.MethodPost, Path: "/qr/generate",
		Summary: "Generate a batch of QR codes", Tags: tags,
		Description: "Allocates count items in the lot through the inventory, builds their payloads and renders the codes. " +
			"format=json answers the items with links to their images; zip streams one image per item and manifest.csv; pdf streams label sheets. " +
			"Batches over QRMFG_ASYNC_BATCH_THRESHOLD answer 202 with the batch id and render in the background.",
		Responses: map[string]*huma.Response{
			"200": binary("The batch: JSON items, a ZIP of images, or PDF label sheets", "application/json", "application/zip", "application/pdf"),
			"202": {Description: "Accepted: the batch renders in the background", Content: map[string]*huma.MediaType{"application/json": {}}},
		},
		Errors: []int{http.StatusUnprocessableEntity, http.StatusConflict}},
		func(ctx context.Context, in *generateInput) (*huma.StreamResponse, error) {
			if err := s.spend(ctx, s.opt.Limits.Codes, "codes", in.Body.Count); err != nil {
				return nil, err
			}
			in.Body.RequestBase, _ = ctx.Value(requestBaseKey{}).(string)
			res, err := gen.Generate(ctx, in.Body)
			if err != nil {
				return nil, s.fail(ctx, err)
			}
			return &huma.StreamResponse{Body: func(hc huma.Context) {
				if res.Async {
					st := BatchStatus{Record: res.Record, Links: batchLinks(res.Batch.ID)}
					hc.SetHeader("Content-Type", "application/json")
					hc.SetHeader("Location", "/qr/batches/"+res.Batch.ID)
					hc.SetStatus(http.StatusAccepted)
					_ = json.NewEncoder(hc.BodyWriter()).Encode(st)
					return
				}
				s.writeBatch(ctx, hc, gen, res, res.Record.Format)
			}}, nil
		})
	huma.Register(s.api, huma.Operation{OperationID: "preview-code", Method: http.MethodPost, Path: "/qr/preview",
		Summary: "Preview the code of a batch before generating it", Tags: tags,
		Description: "The body of /qr/generate, validated the same way (a bad style or lot is 422 naming the field), but nothing is allocated: " +
			"the answer is a PNG of the code the lot's serial 1 would carry with the requested payload format and style; X-QR-Payload is its payload.",
		Responses: map[string]*huma.Response{"200": binary("The code", "image/png")},
		Errors:    []int{http.StatusUnprocessableEntity}},
		func(ctx context.Context, in *generateInput) (*itemImageOutput, error) {
			in.Body.RequestBase, _ = ctx.Value(requestBaseKey{}).(string)
			img, err := gen.Preview(in.Body)
			if err != nil {
				return nil, s.fail(ctx, err)
			}
			return &itemImageOutput{ContentType: img.ContentType, CacheControl: "no-store", XPayload: img.Payload, Status: http.StatusOK, Body: img.Data}, nil
		})
	huma.Register(s.api, huma.Operation{OperationID: "get-generated-batch", Method: http.MethodGet, Path: "/qr/batches/{id}",
		Summary: "A generated batch: recipe, state and progress", Tags: tags},
		func(ctx context.Context, in *batchIDInput) (*batchStatusOutput, error) {
			r, err := gen.Open(ctx, in.ID)
			if err != nil {
				return nil, s.fail(ctx, err)
			}
			return &batchStatusOutput{Body: BatchStatus{Record: r.Record, Links: batchLinks(in.ID)}}, nil
		})
	huma.Register(s.api, huma.Operation{OperationID: "batch-events", Method: http.MethodGet, Path: "/qr/batches/{id}/events",
		Summary: "Progress of a batch as server-sent events", Tags: tags,
		Description: "Each event is a `progress` with the batch record as JSON; the stream ends after the completed or failed state.",
		Responses:   sseResponses()},
		func(ctx context.Context, in *batchIDInput) (*huma.StreamResponse, error) {
			r, err := gen.Open(ctx, in.ID)
			if err != nil {
				return nil, s.fail(ctx, err)
			}
			return &huma.StreamResponse{Body: func(hc huma.Context) {
				ch, stop := gen.Subscribe(in.ID)
				defer stop()
				w := startSSE(hc)
				send := func(rec generation.Record) bool {
					return w.send("progress", rec) && rec.Status != generation.StatusCompleted && rec.Status != generation.StatusFailed
				}
				if !send(r.Record) {
					return
				}
				tick := time.NewTicker(2 * time.Second)
				defer tick.Stop()
				for {
					select {
					case rec := <-ch:
						if !send(rec) {
							return
						}
					case <-tick.C:
						// Poll too: in the distributed shape the job may run in another process.
						cur, err := gen.Open(ctx, in.ID)
						if err != nil || !send(cur.Record) {
							return
						}
					case <-ctx.Done():
						return
					}
				}
			}}, nil
		})
	huma.Register(s.api, huma.Operation{OperationID: "download-batch", Method: http.MethodGet, Path: "/qr/batches/{id}/download",
		Summary: "Download a generated batch as ZIP, PDF, JSON or CSV", Tags: tags,
		Responses: map[string]*huma.Response{"200": binary("The batch", "application/zip", "application/pdf", "application/json", "text/csv")},
		Errors:    []int{http.StatusNotFound, http.StatusConflict}},
		func(ctx context.Context, in *downloadInput) (*huma.StreamResponse, error) {
			r, err := gen.Open(ctx, in.ID)
			if err != nil {
				return nil, s.fail(ctx, err)
			}
			if r.Record.Status == generation.StatusQueued || r.Record.Status == generation.StatusRunning {
				if r.Record.Format == in.Format {
					return nil, s.fail(ctx, qrmfg.Errorf(qrmfg.ECONFLICT, "batch %s is %s (%d of %d rendered); follow /qr/batches/%s/events",
						in.ID, r.Record.Status, r.Record.Done, r.Record.Total, in.ID))
				}
			}
			return &huma.StreamResponse{Body: func(hc huma.Context) { s.writeBatch(ctx, hc, gen, r, in.Format) }}, nil
		})
	huma.Register(s.api, huma.Operation{OperationID: "item-image", Method: http.MethodGet, Path: "/qr/items/{file}",
		Summary: "One item's code as PNG, SVG, PDF or terminal text", Tags: tags,
		Description: "Rendered on demand with the batch's recipe; style query parameters override it. Answers carry an ETag; If-None-Match gives 304.",
		Responses:   map[string]*huma.Response{"200": binary("The image", "image/png", "image/svg+xml", "application/pdf", "text/plain")}},
		func(ctx context.Context, in *itemImageInput) (*itemImageOutput, error) {
			dot := strings.LastIndexByte(in.File, '.')
			if dot < 0 {
				return nil, s.fail(ctx, qrmfg.FieldError("file", "%q has no extension: use .png, .svg, .pdf or .txt", in.File))
			}
			img, err := gen.RenderItem(ctx, in.File[:dot], in.File[dot+1:], in.style())
			if err != nil {
				return nil, s.fail(ctx, err)
			}
			out := &itemImageOutput{ETag: img.ETag, CacheControl: "private, max-age=3600", XPayload: img.Payload}
			if in.IfNoneMatch == img.ETag {
				out.Status = http.StatusNotModified
				return out, nil
			}
			out.ContentType, out.Body, out.Status = img.ContentType, img.Data, http.StatusOK
			return out, nil
		})
}

// writeBatch streams a batch in a format. An error before the first byte is
// answered as a problem; after it, the stream is cut (never finished as if
// whole), logged and audited as failed.
func (s *Server) writeBatch(ctx context.Context, hc huma.Context, gen *generation.Service, r *generation.Result, format string) {
	id := r.Batch.ID
	// The batch id of a ZIP or PDF answer, for clients and the audit trail.
	hc.SetHeader("X-Batch-ID", id)
	if path := gen.Artifact(r, format); path != "" {
		f, err := os.Open(path)
		if err == nil {
			defer f.Close()
			st, _ := f.Stat()
			w := hc.BodyWriter()
			if rw, ok := w.(http.ResponseWriter); ok {
				setDownload(hc, format, id)
				http.ServeContent(rw, withCtx(hc, ctx), id+"."+format, st.ModTime(), f)
				return
			}
		}
	}
	if err := gen.Check(r, format); err != nil {
		s.streamFailed(ctx, hc, err)
		return
	}
	setDownload(hc, format, id)
	w := hc.BodyWriter()
	var err error
	switch format {
	case generation.FormatZIP:
		err = gen.WriteZIP(ctx, w, r, nil)
	case generation.FormatPDF:
		err = gen.WritePDF(ctx, w, r, nil)
	case generation.FormatCSV:
		err = gen.WriteCSV(ctx, w, r)
	default:
		var items []generation.Item
		if items, err = gen.Items(ctx, r, ""); err == nil {
			err = json.NewEncoder(w).Encode(map[string]any{"batch": r.Batch, "payload": r.Record.Spec.Payload, "items": items,
				"links": batchLinks(id)})
		}
	}
	if err != nil {
		s.log.Error("batch stream failed", "batch", id, "format", format, "request_id", qrmfg.RequestID(ctx), "err", err)
		s.streamFailed(ctx, hc, err)
	}
}

func setDownload(hc huma.Context, format, id string) {
	ct := map[string]string{generation.FormatZIP: "application/zip", generation.FormatPDF: "application/pdf",
		generation.FormatCSV: "text/csv; charset=utf-8", generation.FormatJSON: "application/json"}[format]
	hc.SetHeader("Content-Type", ct)
	if format != generation.FormatJSON {
		hc.SetHeader("Content-Disposition", fmt.Sprintf(`attachment; filename="%s.%s"`, id, format))
	}
	hc.SetHeader("X-Batch-ID", id)
}

func withCtx(hc huma.Context, ctx context.Context) *http.Request {
	u := hc.URL()
	r, _ := http.NewRequestWithContext(ctx, hc.Method(), u.String(), nil)
	for _, h := range []string{"Range", "If-Range", "If-Modified-Since", "If-None-Match"} {
		if v := hc.Header(h); v != "" {
			r.Header.Set(h, v)
		}
	}
	return r
}

type requestBaseKey struct{}

// requestBase is scheme://host of the request as the client sent it: a
// trusted proxy's X-Forwarded-Proto and X-Forwarded-Host are believed, as
// for the client's address.
func (s *Server) requestBase(r *http.Request) string {
	scheme, host := "http", r.Host
	if r.TLS != nil {
		scheme = "https"
	}
	if _, viaProxy := peerOf(r, s.opt.TrustedProxies); viaProxy {
		if p := strings.ToLower(strings.TrimSpace(r.Header.Get("X-Forwarded-Proto"))); p == "https" || p == "http" {
			scheme = p
		}
		if h, _, _ := strings.Cut(r.Header.Get("X-Forwarded-Host"), ","); strings.TrimSpace(h) != "" {
			host = strings.TrimSpace(h)
		}
	}
	return scheme + "://" + host
}
