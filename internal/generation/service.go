package generation

import (
	"archive/zip"
	"bufio"
	"context"
	"encoding/csv"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"time"

	"github.com/qrmfg/qrmfg/internal/inventory"
	"github.com/qrmfg/qrmfg/internal/partid"
	"github.com/qrmfg/qrmfg/internal/qrmfg"
	"github.com/qrmfg/qrmfg/internal/render"
)

// Inventory is what generation needs of the inventory: the in-process
// *inventory.Service, or an HTTP client to it in the distributed shape.
type Inventory interface {
	AllocateBatch(ctx context.Context, req inventory.AllocateRequest) (inventory.Batch, error)
	GetBatch(ctx context.Context, id string) (inventory.Batch, error)
	Get(ctx context.Context, uid string) (inventory.ItemDetail, error)
}

// Batch states.
const (
	StatusCompleted = "completed" // codes can be downloaded (rendered on demand or from the artifact)
	StatusQueued    = "queued"    // allocated; waiting to render the artifact
	StatusRunning   = "running"   // rendering the artifact
	StatusFailed    = "failed"
)

// Record is a generated batch: its recipe and, for background batches, the
// progress of its artifact.
type Record struct {
	BatchID   string    `json:"batch_id"`
	Spec      Spec      `json:"spec"`
	Format    string    `json:"format"`
	Status    string    `json:"status"`
	Done      int       `json:"done"`
	Total     int       `json:"total"`
	Error     string    `json:"error,omitempty"`
	Artifact  string    `json:"-"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Store keeps batch records.
type Store interface {
	// SaveRecord inserts or replaces a record.
	SaveRecord(ctx context.Context, r Record) error
	// GetRecord returns ENOTFOUND when the batch was not generated here.
	GetRecord(ctx context.Context, batchID string) (Record, error)
	// Unfinished lists queued and running records, oldest first.
	Unfinished(ctx context.Context) ([]Record, error)
}

// Options configure the service.
type Options struct {
	// AsyncThreshold: batches larger than this run in the background.
	AsyncThreshold int
	// DataDir holds the artifacts of background batches.
	DataDir string
	// Workers bounds the goroutines rendering one batch (default GOMAXPROCS).
	Workers int
	Log     *slog.Logger
	// Generated, when set, is told of every allocated batch: its payload
	// format, its artifact format (json, zip, pdf) and how many codes.
	Generated func(payload partid.Format, format string, codes int)
}

// ArtifactFormats lists the artifact formats of a batch.
var ArtifactFormats = []string{FormatJSON, FormatZIP, FormatPDF}

// Service generates batches.
type Service struct {
	inv      Inventory
	payloads *partid.PayloadConfig
	store    Store
	opt      Options
	workers  int
	log      *slog.Logger

	mu      sync.Mutex
	subs    map[string]map[chan Record]struct{}
	running map[string]struct{} // batches whose artifact renders here
	jobs    sync.WaitGroup
}

// NewService returns the generation service.
func NewService(inv Inventory, payloads *partid.PayloadConfig, store Store, opt Options) *Service {
	if opt.AsyncThreshold <= 0 {
		opt.AsyncThreshold = 5000
	}
	if opt.Log == nil {
		opt.Log = slog.New(slog.DiscardHandler)
	}
	w := opt.Workers
	if w <= 0 {
		w = runtime.GOMAXPROCS(0)
	}
	if payloads == nil {
		payloads = &partid.PayloadConfig{}
	}
	return &Service{inv: inv, payloads: payloads, store: store, opt: opt, workers: w, log: opt.Log,
		subs: map[string]map[chan Record]struct{}{}, running: map[string]struct{}{}}
}

// Request is POST /qr/generate: the seed's body plus payload, format and style.
type Request struct {
	ComponentType     string          `json:"component_type"`
	VendorCode        string          `json:"vendor_code"`
	LotNumber         string          `json:"lot_number"`
	ManufacturingDate string          `json:"manufacturing_date,omitempty"`
	Count             int             `json:"count"`
	WarrantyYears     int             `json:"warranty_years,omitempty"`
	Attributes        json.RawMessage `json:"attributes,omitempty"`
	Line              string          `json:"line,omitempty"` // production line of the items
	Payload           string          `json:"payload,omitempty"`
	Format            string          `json:"format,omitempty"`
	Style             StyleRequest    `json:"style,omitempty"`
	// RequestBase is scheme://host of the request, the base of url
	// payloads when QRMFG_PAYLOAD_BASE_URL is not set.
	RequestBase string `json:"-"`
}

// Result is an allocated batch ready to be packaged.
type Result struct {
	Batch  inventory.Batch
	Record Record
	Async  bool
	c      compiled
}

// planned is a validated generation request, before anything is allocated.
type planned struct {
	spec   Spec
	c      compiled
	format string
	id     partid.ID // the lot; Serial unset
	mfg    time.Time
	top    int64 // the largest serial whose code passes every bound
	why    error // why the serial after top does not
}

// plan validates a request as Generate does, allocating nothing: the
// payload format, the style, the output format, the lot and every bound
// the batch's codes must pass.
func (s *Service) plan(req Request) (planned, error) {
	var p planned
	p.spec = Spec{Payload: partid.Format(req.Payload), Style: req.Style}
	if p.spec.Payload == "" {
		p.spec.Payload = partid.FormatUID
	}
	if p.spec.Payload == partid.FormatURL {
		p.spec.BaseURL = s.payloads.BaseURL
		if p.spec.BaseURL == "" && req.RequestBase != "" {
			p.spec.BaseURL = req.RequestBase + partid.ItemURLPath
		}
	}
	var err error
	if p.c, err = p.spec.compile(s.payloads); err != nil {
		return p, err
	}
	p.format = req.Format
	if p.format == "" {
		p.format = FormatJSON
	}
	if p.format != FormatJSON && p.format != FormatZIP && p.format != FormatPDF {
		return p, qrmfg.FieldError("format", "format %q: expected json, zip or pdf", req.Format)
	}
	if err := partid.ValidateLot(req.ComponentType, req.VendorCode, req.LotNumber); err != nil {
		return p, err
	}
	// Check every bound before allocating: a request that cannot render
	// must not consume serials. Codes that only fit up to some serial cap
	// the allocation, which refuses a batch that would pass it.
	p.mfg, _ = time.Parse(time.DateOnly, req.ManufacturingDate)
	p.id = partid.ID{Type: req.ComponentType, Vendor: req.VendorCode, Lot: req.LotNumber}
	p.top, p.why, err = s.reach(p.c, p.format, p.id, p.mfg, req.Count)
	return p, err
}

// Preview renders, as a PNG, the code a request's batch would carry on
// the first serial of its lot (serial 1), after the validation of
// Generate, without allocating anything.
func (s *Service) Preview(req Request) (*Rendered, error) {
	p, err := s.plan(req)
	if err != nil {
		return nil, err
	}
	id := p.id
	id.Serial = 1
	payload, sym, err := p.c.symbol(id, p.mfg)
	if err != nil {
		return nil, err
	}
	var e render.PNGEncoder
	data, err := e.Append(nil, sym.Matrix, p.c.style)
	if err != nil {
		return nil, err
	}
	return &Rendered{Data: data, ContentType: "image/png", Payload: payload}, nil
}

// Generate validates the request, allocates the batch and records its spec.
// Small batches come back ready to package (Write); batches over the
// threshold come back Async, with their artifact rendering in the background.
func (s *Service) Generate(ctx context.Context, req Request) (*Result, error) {
	p, err := s.plan(req)
	if err != nil {
		return nil, err
	}
	spec, c, format, top, why := p.spec, p.c, p.format, p.top, p.why
	alloc := inventory.AllocateRequest{ComponentType: req.ComponentType, VendorCode: req.VendorCode,
		LotNumber: req.LotNumber, Count: req.Count, ManufacturingDate: req.ManufacturingDate,
		WarrantyYears: req.WarrantyYears, Attributes: req.Attributes, Line: req.Line}
	if top < partid.MaxSerial {
		alloc.MaxSerial, alloc.MaxSerialReason = top, qrmfg.ErrorMessage(why)
	}
	b, err := s.inv.AllocateBatch(ctx, alloc)
	if err != nil {
		return nil, err
	}
	now := time.Now().UTC()
	rec := Record{BatchID: b.ID, Spec: spec, Format: format, Status: StatusCompleted, Done: b.Count, Total: b.Count, CreatedAt: now, UpdatedAt: now}
	res := &Result{Batch: b, c: c}
	if b.Count > s.opt.AsyncThreshold {
		rec.Status, rec.Done = StatusQueued, 0
		res.Async = true
	}
	if err := s.store.SaveRecord(ctx, rec); err != nil {
		return nil, err
	}
	res.Record = rec
	if s.opt.Generated != nil {
		s.opt.Generated(spec.Payload, format, b.Count)
	}
	if res.Async {
		s.startJob(rec, b)
	}
	return res, nil
}

// MaxZIPBytes bounds the size of a batch's ZIP.
const MaxZIPBytes = 2 << 30

// reach checks, before anything is allocated, every code a batch can
// produce. A payload (and so its symbol and images) grows only with the
// digits of the serial, so the last serial of each width stands for all of
// its width: the narrowest must pass (its error is returned), and top is
// the largest serial whose code passes, with why the next one does not.
func (s *Service) reach(c compiled, format string, id partid.ID, mfg time.Time, count int) (top int64, why, err error) {
	narrowest := int64(1)
	for range partid.SerialWidth {
		narrowest *= 10
	}
	narrowest--
	for last := narrowest; ; last = min(last*10+9, partid.MaxSerial) {
		id.Serial = last
		if err := s.check(c, format, id, mfg, count); err != nil {
			if last == narrowest {
				return 0, nil, err
			}
			return top, err, nil
		}
		top = last
		if last == partid.MaxSerial {
			return top, nil, nil
		}
	}
}

// check renders the code of id as the batch's recipe and format would and
// returns the first bound it breaks, naming the field: the payload format
// and its configuration, the symbol's capacity, the image size, the label
// of a PDF and the size of a ZIP of count such codes.
func (s *Service) check(c compiled, format string, id partid.ID, mfg time.Time, count int) error {
	payload, sym, err := c.symbol(id, mfg)
	if err != nil {
		return err
	}
	n, qz, px := sym.Matrix.Size(), c.style.QuietZone, c.style.ModulePx
	if side := c.side(sym.Matrix); side > render.MaxImagePx {
		return qrmfg.FieldError("style.module_px", "the code of %s is %d modules plus a quiet zone of 2×%d at %d px per module: %d px, over the %d px image limit (module_px at most %d)",
			id, n, qz, px, side, render.MaxImagePx, render.MaxImagePx/(n+2*qz))
	}
	switch format {
	case FormatPDF:
		sheet, err := render.NewLabelSheet(io.Discard, c.sheet, c.style)
		if err != nil {
			return styleField(err)
		}
		if err := sheet.Add(sym.Matrix, id.String()); err != nil {
			return styleField(err)
		}
	case FormatZIP:
		var wk worker
		size := int64(zipEntryOverhead + 2*len(id.String()) + len(payload))
		if c.png {
			b, err := wk.png.Append(nil, sym.Matrix, c.style)
			if err != nil {
				return styleField(err)
			}
			size += int64(len(b)) + zipEntryOverhead
		}
		if c.svg {
			b, err := wk.svg.Append(nil, sym.Matrix, c.style)
			if err != nil {
				return styleField(err)
			}
			size += int64(len(b)) + zipEntryOverhead
		}
		if total := size * int64(count); total > MaxZIPBytes {
			return qrmfg.FieldError("count", "%d codes of about %d bytes each make a ZIP of %.1f GiB, over the limit of %d GiB: generate fewer codes at once or use a smaller style.module_px",
				count, size, float64(total)/(1<<30), MaxZIPBytes>>30)
		}
	}
	return nil
}

// zipEntryOverhead is what a ZIP adds per file: local header, data
// descriptor and central directory entry, without the name.
const zipEntryOverhead = 30 + 16 + 46

// Open returns a generated batch for packaging.
func (s *Service) Open(ctx context.Context, batchID string) (*Result, error) {
	rec, err := s.store.GetRecord(ctx, batchID)
	if err != nil {
		return nil, err
	}
	b, err := s.inv.GetBatch(ctx, batchID)
	if err != nil {
		return nil, err
	}
	c, err := rec.Spec.compile(s.payloads)
	if err != nil {
		return nil, err
	}
	return &Result{Batch: b, Record: rec, c: c}, nil
}

// Check tells whether a generated batch can be written in format, before
// anything of it is sent: the recipe's bounds for its largest code and its
// count (a batch made as JSON may be too large to download as a ZIP).
func (s *Service) Check(r *Result, format string) error {
	mfg, _ := time.Parse(time.DateOnly, r.Batch.ManufacturingDate)
	id := partid.ID{Type: r.Batch.ComponentType, Vendor: r.Batch.VendorCode, Lot: r.Batch.LotNumber, Serial: r.Batch.LastSerial()}
	return s.check(r.c, format, id, mfg, r.Batch.Count)
}

// Item is one code of a JSON answer.
type Item struct {
	UID     string `json:"uid"`
	Payload string `json:"payload"`
	PNG     string `json:"png_url"`
	SVG     string `json:"svg_url"`
}

// eachPayload calls fn with the uid and payload of every item of the batch,
// in serial order, without rendering anything.
func (s *Service) eachPayload(ctx context.Context, r *Result, fn func(uid, payload string) error) error {
	mfg, _ := time.Parse(time.DateOnly, r.Batch.ManufacturingDate)
	id := partid.ID{Type: r.Batch.ComponentType, Vendor: r.Batch.VendorCode, Lot: r.Batch.LotNumber}
	for i := range r.Batch.Count {
		id.Serial = r.Batch.FirstSerial + int64(i)
		p, err := r.c.payloads.Encode(r.c.payload, id, mfg)
		if err != nil {
			return err
		}
		if err := fn(id.String(), p); err != nil {
			return err
		}
		if i%4096 == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
	}
	return ctx.Err()
}

// Items lists the codes of a batch with links to their images.
func (s *Service) Items(ctx context.Context, r *Result, linkBase string) ([]Item, error) {
	items := make([]Item, 0, r.Batch.Count)
	err := s.eachPayload(ctx, r, func(uid, p string) error {
		items = append(items, Item{UID: uid, Payload: p, PNG: linkBase + "/qr/items/" + uid + ".png", SVG: linkBase + "/qr/items/" + uid + ".svg"})
		return nil
	})
	if err != nil {
		return nil, err
	}
	return items, nil
}

// WriteZIP streams the batch as a ZIP: one image per item (stored, PNG is
// already compressed) and manifest.csv (uid, payload, files). Memory stays
// constant whatever the count.
func (s *Service) WriteZIP(ctx context.Context, w io.Writer, r *Result, progress func(done int)) error {
	bw := bufio.NewWriterSize(w, 256<<10)
	zw := zip.NewWriter(bw)
	var manifest [][3]string
	mod := time.Now()
	done := 0
	err := s.renderBatch(ctx, r.Batch, r.c, what{png: r.c.png, svg: r.c.svg}, func(c *code) error {
		files := ""
		for _, f := range []struct {
			ext  string
			data []byte
		}{{".png", c.PNG}, {".svg", c.SVG}} {
			if f.data == nil {
				continue
			}
			fw, err := zw.CreateHeader(&zip.FileHeader{Name: c.UID + f.ext, Method: zip.Store, Modified: mod})
			if err != nil {
				return err
			}
			if _, err := fw.Write(f.data); err != nil {
				return err
			}
			if files != "" {
				files += " "
			}
			files += c.UID + f.ext
		}
		manifest = append(manifest, [3]string{c.UID, c.Payload, files})
		done++
		if progress != nil && done%1024 == 0 {
			progress(done)
		}
		return nil
	})
	if err != nil {
		return err
	}
	mw, err := zw.CreateHeader(&zip.FileHeader{Name: "manifest.csv", Method: zip.Deflate, Modified: mod})
	if err != nil {
		return err
	}
	cw := csv.NewWriter(mw)
	_ = cw.Write([]string{"uid", "payload", "files"})
	for _, m := range manifest {
		_ = cw.Write(m[:])
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return err
	}
	if err := zw.Close(); err != nil {
		return err
	}
	if progress != nil {
		progress(done)
	}
	return bw.Flush()
}

// WritePDF streams the batch as label sheets, the uid under each code.
func (s *Service) WritePDF(ctx context.Context, w io.Writer, r *Result, progress func(done int)) error {
	bw := bufio.NewWriterSize(w, 256<<10)
	sheet, err := render.NewLabelSheet(bw, r.c.sheet, r.c.style)
	if err != nil {
		return err
	}
	done := 0
	err = s.renderBatch(ctx, r.Batch, r.c, what{matrix: true}, func(c *code) error {
		if err := sheet.Add(c.Matrix, c.UID); err != nil {
			return err
		}
		done++
		if progress != nil && done%256 == 0 {
			progress(done)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if err := sheet.Close(); err != nil {
		return err
	}
	if progress != nil {
		progress(done)
	}
	return bw.Flush()
}

// WriteCSV streams uid and payload of every item.
func (s *Service) WriteCSV(ctx context.Context, w io.Writer, r *Result) error {
	cw := csv.NewWriter(w)
	_ = cw.Write([]string{"uid", "payload"})
	if err := s.eachPayload(ctx, r, func(uid, p string) error { return cw.Write([]string{uid, p}) }); err != nil {
		return err
	}
	cw.Flush()
	return cw.Error()
}

// Artifact returns the path of a finished background batch's file in the
// given format, or "" when there is none.
func (s *Service) Artifact(r *Result, format string) string {
	if r.Record.Status != StatusCompleted || r.Record.Artifact == "" || r.Record.Format != format {
		return ""
	}
	if _, err := os.Stat(r.Record.Artifact); err != nil {
		return ""
	}
	return r.Record.Artifact
}

func (s *Service) artifactPath(batchID, format string) string {
	return filepath.Join(s.opt.DataDir, "batches", batchID+"."+format)
}

// Each renders every item of the batch in serial order and calls fn with
// its uid, payload and images (PNG and/or SVG as the recipe asks).
func (s *Service) Each(ctx context.Context, r *Result, fn func(uid, payload string, png, svg []byte) error) error {
	return s.renderBatch(ctx, r.Batch, r.c, what{png: r.c.png, svg: r.c.svg}, func(c *code) error {
		return fn(c.UID, c.Payload, c.PNG, c.SVG)
	})
}
