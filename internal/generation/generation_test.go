package generation

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"fmt"
	"image/png"
	"sync"
	"testing"
	"time"

	"github.com/qrmfg/qrmfg/internal/inventory"
	"github.com/qrmfg/qrmfg/internal/partid"
	"github.com/qrmfg/qrmfg/internal/qrmfg"
)

// memInventory allocates in memory: the seam generation talks to.
type memInventory struct {
	mu      sync.Mutex
	next    int64
	batches map[string]inventory.Batch
	calls   int
}

func (m *memInventory) AllocateBatch(_ context.Context, r inventory.AllocateRequest) (inventory.Batch, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.calls++
	if r.Count < 1 {
		return inventory.Batch{}, qrmfg.FieldError("count", "count must be at least 1")
	}
	if r.MaxSerial > 0 && m.next+int64(r.Count) > r.MaxSerial {
		return inventory.Batch{}, qrmfg.FieldError("count", "past serial %d: %s", r.MaxSerial, r.MaxSerialReason)
	}
	b := inventory.Batch{ID: fmt.Sprintf("b%d", m.calls), ComponentType: r.ComponentType, VendorCode: r.VendorCode,
		LotNumber: r.LotNumber, FirstSerial: m.next + 1, Count: r.Count, ManufacturingDate: r.ManufacturingDate}
	m.next += int64(r.Count)
	if m.batches == nil {
		m.batches = map[string]inventory.Batch{}
	}
	m.batches[b.ID] = b
	return b, nil
}

func (m *memInventory) GetBatch(_ context.Context, id string) (inventory.Batch, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	b, ok := m.batches[id]
	if !ok {
		return b, qrmfg.Errorf(qrmfg.ENOTFOUND, "no batch %s", id)
	}
	return b, nil
}

func (m *memInventory) Get(context.Context, string) (inventory.ItemDetail, error) {
	return inventory.ItemDetail{}, qrmfg.Errorf(qrmfg.ENOTFOUND, "not here")
}

type memStore struct {
	mu   sync.Mutex
	recs map[string]Record
}

func (s *memStore) SaveRecord(_ context.Context, r Record) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.recs == nil {
		s.recs = map[string]Record{}
	}
	s.recs[r.BatchID] = r
	return nil
}

func (s *memStore) GetRecord(_ context.Context, id string) (Record, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.recs[id]
	if !ok {
		return r, qrmfg.Errorf(qrmfg.ENOTFOUND, "no record %s", id)
	}
	return r, nil
}

func (s *memStore) Unfinished(context.Context) ([]Record, error) { return nil, nil }

func newTestService(t *testing.T) (*Service, *memInventory) {
	inv := &memInventory{}
	return NewService(inv, &partid.PayloadConfig{}, &memStore{}, Options{DataDir: t.TempDir(), Workers: 4}), inv
}

// TestZIPOrderAndContent: the parallel pipeline emits every code once, in
// serial order, each a valid PNG of the expected size.
func TestZIPOrderAndContent(t *testing.T) {
	t.Parallel()
	svc, _ := newTestService(t)
	ctx := context.Background()
	res, err := svc.Generate(ctx, Request{ComponentType: "PAD", VendorCode: "V1", LotNumber: "L1", Count: 1000, Format: FormatZIP})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := svc.WriteZIP(ctx, &buf, res, nil); err != nil {
		t.Fatal(err)
	}
	zr, err := zip.NewReader(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		t.Fatal(err)
	}
	if len(zr.File) != 1001 || zr.File[1000].Name != "manifest.csv" {
		t.Fatalf("%d entries", len(zr.File))
	}
	for i, f := range zr.File[:1000] {
		if want := fmt.Sprintf("PAD-V1-L1-%05d.png", i+1); f.Name != want {
			t.Fatalf("entry %d is %s, want %s", i, f.Name, want)
		}
		if i%97 == 0 {
			rc, _ := f.Open()
			img, err := png.Decode(rc)
			if err != nil || img.Bounds().Dx() != (21+8)*10 {
				t.Fatalf("%s: %v %v", f.Name, err, img.Bounds())
			}
		}
	}
}

// TestCancelStopsRendering: a client that goes away stops the work.
func TestCancelStopsRendering(t *testing.T) {
	t.Parallel()
	svc, _ := newTestService(t)
	ctx, cancel := context.WithCancel(context.Background())
	res, err := svc.Generate(ctx, Request{ComponentType: "PAD", VendorCode: "V1", LotNumber: "L1", Count: 100000, Format: FormatZIP})
	if err != nil {
		t.Fatal(err)
	}
	w := &cancelAfter{n: 64 << 10, cancel: cancel}
	done := make(chan error, 1)
	go func() { done <- svc.WriteZIP(ctx, w, res, nil) }()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("WriteZIP after cancel: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("rendering did not stop after cancel")
	}
}

type cancelAfter struct {
	n      int
	cancel func()
}

func (w *cancelAfter) Write(p []byte) (int, error) {
	w.n -= len(p)
	if w.n < 0 {
		w.cancel()
	}
	return len(p), nil
}

// TestRefusedBeforeAllocation: a recipe that cannot render uses no serials.
func TestRefusedBeforeAllocation(t *testing.T) {
	t.Parallel()
	svc, inv := newTestService(t)
	q := 0
	for _, req := range []Request{
		{ComponentType: "PAD", VendorCode: "V1", LotNumber: "L1", Count: 5, Style: StyleRequest{Foreground: "#808080", Background: "#7F7F7F"}},
		{ComponentType: "PAD", VendorCode: "V1", LotNumber: "L1", Count: 5, Style: StyleRequest{QuietZone: &q}},
		{ComponentType: "PAD", VendorCode: "V1", LotNumber: "L1", Count: 5, Payload: "signed"}, // no key configured
		{ComponentType: "PAD", VendorCode: "V1", LotNumber: "L1", Count: 5, Format: "gif"},
		{ComponentType: "PAD", VendorCode: "V1", LotNumber: "L1", Count: 5, Style: StyleRequest{Sheet: "a0"}},
	} {
		if _, err := svc.Generate(context.Background(), req); qrmfg.ErrorCode(err) != qrmfg.EINVALID {
			t.Errorf("%+v: %v, want invalid", req, err)
		}
	}
	if inv.calls != 0 {
		t.Fatalf("%d allocations for refused requests", inv.calls)
	}
}

func TestBackgroundBatch(t *testing.T) {
	t.Parallel()
	inv := &memInventory{}
	svc := NewService(inv, &partid.PayloadConfig{}, &memStore{}, Options{DataDir: t.TempDir(), AsyncThreshold: 10})
	res, err := svc.Generate(context.Background(), Request{ComponentType: "PAD", VendorCode: "V1", LotNumber: "L1", Count: 500, Format: FormatPDF})
	if err != nil || !res.Async {
		t.Fatalf("async: %v %v", res, err)
	}
	svc.Wait()
	r, err := svc.Open(context.Background(), res.Batch.ID)
	if err != nil || r.Record.Status != StatusCompleted || r.Record.Done != 500 {
		t.Fatalf("record %+v %v", r.Record, err)
	}
	path := svc.Artifact(r, FormatPDF)
	if path == "" {
		t.Fatal("no artifact")
	}
	var buf bytes.Buffer
	if err := svc.WriteCSV(context.Background(), &buf, r); err != nil || bytes.Count(buf.Bytes(), []byte("\n")) != 501 {
		t.Fatalf("csv: %v", err)
	}
}
