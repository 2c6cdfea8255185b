package scanning

import (
	"bytes"
	"context"
	"image"
	"image/color"
	"image/png"
	"log/slog"
	"math"
	"testing"
	"time"

	"github.com/qrmfg/qrmfg/internal/qr"
	"github.com/qrmfg/qrmfg/internal/qrmfg"
	"github.com/qrmfg/qrmfg/internal/scanning/decode"
)

// codePhoto is a white 16-bit RGBA PNG of w×h pixels with one QR code of
// text, px pixels a module, its top-left corner at (x0, y0).
func codePhoto(t *testing.T, text string, w, h, x0, y0, px int) []byte {
	t.Helper()
	sym, err := qr.Encode(text, qr.Options{})
	if err != nil {
		t.Fatal(err)
	}
	img := image.NewNRGBA64(image.Rect(0, 0, w, h))
	white, black := color.NRGBA64{0xffff, 0xffff, 0xffff, 0xffff}, color.NRGBA64{0, 0, 0, 0xffff}
	for y := range h {
		for x := range w {
			mx, my := (x-x0)/px, (y-y0)/px
			c := white
			if x >= x0 && y >= y0 && mx < sym.Matrix.Size() && my < sym.Matrix.Size() && sym.Matrix.Dark(mx, my) {
				c = black
			}
			img.SetNRGBA64(x, y, c)
		}
	}
	var buf bytes.Buffer
	if err := (&png.Encoder{CompressionLevel: png.BestSpeed}).Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func budgetService(b Budget) *Service {
	return &Service{opt: Options{Decode: decode.DefaultOptions(), Limits: DefaultLimits()},
		log: slog.New(slog.DiscardHandler), decodes: newDecodeGate(b)}
}

// TestPhotoBudget: a photo that needs more than the decode memory at full
// size is decoded downscaled, its code still read and placed in the
// photo's own pixels; while the memory is taken another upload is refused
// with EUNAVAILABLE and a retry time, or waits for it when allowed to; a
// photo too large even at a quarter is refused naming the image.
func TestPhotoBudget(t *testing.T) {
	const w, h, x0, y0, px = 1600, 1200, 500, 300, 12
	data := codePhoto(t, "PAD-V0100-L2025-09-00001", w, h, x0, y0, px)
	cfg := image.Config{Width: w, Height: h}
	full, half := photoCost(cfg, "png", 1), photoCost(cfg, "png", 2)
	if full <= half {
		t.Fatalf("cost at full size %d, at half %d", full, half)
	}
	ctx := context.Background()
	s := budgetService(Budget{Memory: half, Wait: 0})
	ph, release, err := loadPhoto(ctx, s.decodes, data, 1<<30, 1<<30)
	if err != nil {
		t.Fatal(err)
	}
	if ph.scale != 2 || ph.width != w || ph.height != h || ph.img.Bounds().Dx() != w/2 {
		t.Errorf("loaded at scale %d, %d×%d, plane %v; want scale 2 of %d×%d", ph.scale, ph.width, ph.height, ph.img.Bounds(), w, h)
	}
	// The memory is taken: another upload is refused at once.
	_, _, err = loadPhoto(ctx, s.decodes, data, 1<<30, 1<<30)
	if e := qrmfg.AsError(err); e == nil || e.Code != qrmfg.EUNAVAILABLE || e.Detail["retry_after_seconds"] == nil {
		t.Errorf("second upload while the memory is taken: %v, want EUNAVAILABLE with retry_after_seconds", err)
	}
	inputs, err := s.readPhoto(ctx, ph)
	release()
	if err != nil || len(inputs) != 1 || inputs[0].payload != "PAD-V0100-L2025-09-00001" {
		t.Fatalf("read the downscaled photo: %v %+v", err, inputs)
	}
	tl := inputs[0].symbol.Corners[0]
	if math.Abs(tl.X-x0) > 2*px || math.Abs(tl.Y-y0) > 2*px || math.Abs(inputs[0].symbol.ModuleSize-px) > 2 {
		t.Errorf("top-left corner %+v module %.1f, want near (%d,%d) and %d in the photo's pixels", tl, inputs[0].symbol.ModuleSize, x0, y0, px)
	}
	if inputs[0].grade == nil {
		t.Error("the downscaled code was not graded")
	}

	// Allowed to wait, an upload gets the memory when it is given back.
	s = budgetService(Budget{Memory: half, Wait: 10 * time.Second})
	hold, err := s.decodes.acquire(ctx, half)
	if err != nil {
		t.Fatal(err)
	}
	time.AfterFunc(100*time.Millisecond, hold)
	if _, release, err := loadPhoto(ctx, s.decodes, data, 1<<30, 1<<30); err != nil {
		t.Errorf("waiting upload: %v", err)
	} else {
		release()
	}

	// Too large for the budget even at a quarter: 422 naming the image.
	s = budgetService(Budget{Memory: photoCost(cfg, "png", maxDownscale) - 1})
	_, _, err = loadPhoto(ctx, s.decodes, data, 1<<30, 1<<30)
	if e := qrmfg.AsError(err); e == nil || e.Code != qrmfg.EINVALID || e.Field != "image" {
		t.Errorf("photo too large for the budget: %v, want EINVALID naming image", err)
	}
}
