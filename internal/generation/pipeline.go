package generation

import (
	"context"
	"runtime"
	"time"

	"github.com/qrmfg/qrmfg/internal/inventory"
	"github.com/qrmfg/qrmfg/internal/partid"
	"github.com/qrmfg/qrmfg/internal/qr"
	"github.com/qrmfg/qrmfg/internal/render"
)

// code is one rendered item.
type code struct {
	UID     string
	Payload string
	PNG     []byte
	SVG     []byte
	Matrix  *qr.Matrix
}

// what selects the outputs the pipeline produces.
type what struct{ png, svg, matrix bool }

const chunkSize = 128

type chunk struct {
	first int64 // serial
	n     int
	codes []code
	err   error
	done  chan struct{}
}

// worker holds one goroutine's reusable encoder and renderers.
type worker struct {
	enc *qr.Encoder
	png render.PNGEncoder
	svg render.SVGEncoder
	sym qr.Symbol
}

// renderBatch encodes and renders every item of b on all cores and calls
// emit for each in serial order. Memory stays bounded: at most a few chunks
// per core are in flight, whatever the batch size.
func (s *Service) renderBatch(ctx context.Context, b inventory.Batch, c compiled, w what, emit func(*code) error) error {
	mfg, _ := time.Parse(time.DateOnly, b.ManufacturingDate)
	id := partid.ID{Type: b.ComponentType, Vendor: b.VendorCode, Lot: b.LotNumber}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	per, err := s.perChunk(b, c, w, id, mfg)
	if err != nil {
		return err
	}
	workers := max(1, min(s.workers, runtime.GOMAXPROCS(0)))
	todo := make(chan *chunk)
	order := make(chan *chunk, workers*4)
	for range workers {
		go func() {
			wk := &worker{enc: qr.NewEncoder()}
			for ch := range todo {
				ch.codes = make([]code, ch.n)
				for i := range ch.n {
					if ch.err = s.renderOne(wk, id, ch.first+int64(i), mfg, c, w, &ch.codes[i]); ch.err != nil {
						break
					}
				}
				close(ch.done)
			}
		}()
	}
	go func() {
		defer close(todo)
		defer close(order)
		for off := 0; off < b.Count; off += per {
			ch := &chunk{first: b.FirstSerial + int64(off), n: min(per, b.Count-off), done: make(chan struct{})}
			select {
			case order <- ch:
			case <-ctx.Done():
				return
			}
			select {
			case todo <- ch:
			case <-ctx.Done():
				return
			}
		}
	}()
	for ch := range order {
		select {
		case <-ch.done:
		case <-ctx.Done():
			return ctx.Err()
		}
		if ch.err != nil {
			return ch.err
		}
		for i := range ch.codes {
			if err := emit(&ch.codes[i]); err != nil {
				return err
			}
		}
	}
	return ctx.Err()
}

// chunkPixels bounds the image pixels of a chunk, so that the chunks in
// flight stay within a few megabytes however large the images are.
const chunkPixels = 1 << 26

// perChunk is how many codes a chunk of the batch holds: chunkSize, fewer
// when its images are large (sized by its last, largest code).
func (s *Service) perChunk(b inventory.Batch, c compiled, w what, id partid.ID, mfg time.Time) (int, error) {
	if !w.png && !w.svg || b.Count < 1 {
		return chunkSize, nil
	}
	id.Serial = b.LastSerial()
	_, sym, err := c.symbol(id, mfg)
	if err != nil {
		return 0, err
	}
	side := c.side(sym.Matrix)
	return max(1, min(chunkSize, chunkPixels/(side*side))), nil
}

// symbol returns the payload and symbol of an item.
func (c compiled) symbol(id partid.ID, mfg time.Time) (string, *qr.Symbol, error) {
	payload, err := c.payloads.Encode(c.payload, id, mfg)
	if err != nil {
		return "", nil, err
	}
	sym, err := qr.Encode(payload, c.opts)
	return payload, sym, err
}

// side is the width of m's image in pixels.
func (c compiled) side(m *qr.Matrix) int {
	return (m.Size() + 2*c.style.QuietZone) * c.style.ModulePx
}

func (s *Service) renderOne(wk *worker, id partid.ID, serial int64, mfg time.Time, c compiled, w what, out *code) error {
	id.Serial = serial
	out.UID = id.String()
	payload, err := c.payloads.Encode(c.payload, id, mfg)
	if err != nil {
		return err
	}
	out.Payload = payload
	if w.matrix {
		wk.sym.Matrix = nil // the code keeps its own matrix
	}
	if err := wk.enc.EncodeTo(&wk.sym, payload, c.opts); err != nil {
		return err
	}
	if w.matrix {
		out.Matrix = wk.sym.Matrix
	}
	if w.png {
		if out.PNG, err = wk.png.Append(nil, wk.sym.Matrix, c.style); err != nil {
			return err
		}
	}
	if w.svg {
		if out.SVG, err = wk.svg.Append(nil, wk.sym.Matrix, c.style); err != nil {
			return err
		}
	}
	return nil
}
