package render

import (
	"image"
	"image/color"
	"image/png"
	"io"
	"testing"
	"time"

	"github.com/qrmfg/qrmfg/internal/qr"
)

// benchMatrix is a version-2 (25×25) symbol: 330×330 px at DefaultStyle.
func benchMatrix(b *testing.B) *qr.Matrix {
	b.Helper()
	m := qrencodeMatrix(b, testText)
	if m.Size() != 25 {
		b.Fatalf("test symbol is %d modules, want 25 (version 2)", m.Size())
	}
	return m
}

// reportRate reports operations per wall-clock second, and per second of
// this process's CPU time ("cpu-" prefix): on a shared, loaded machine the
// wall-clock rate drops when other processes take the core, the CPU-time
// rate much less. Call startCPU after the setup.
func reportRate(b *testing.B, unit string) {
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), unit)
	if cpu := processCPU() - cpuStart; cpu > 0 && cpuStart > 0 {
		b.ReportMetric(float64(b.N)/cpu.Seconds(), "cpu-"+unit)
	}
}

var cpuStart time.Duration

// startCPU marks the start of the timed loop for reportRate.
func startCPU() { cpuStart = processCPU() }

func BenchmarkPNG(b *testing.B) {
	m := benchMatrix(b)
	s := DefaultStyle()
	b.Run("qrmfg", func(b *testing.B) {
		var e PNGEncoder
		var out []byte
		b.ReportAllocs()
		startCPU()
		for b.Loop() {
			out, _ = e.Append(out[:0], m, s)
		}
		b.ReportMetric(float64(len(out)), "B/png")
		reportRate(b, "png/s")
	})
	b.Run("qrmfg-pool-writer", func(b *testing.B) {
		b.ReportAllocs()
		startCPU()
		for b.Loop() {
			if err := PNG(io.Discard, m, s); err != nil {
				b.Fatal(err)
			}
		}
		reportRate(b, "png/s")
	})
	for _, c := range []struct {
		name  string
		level png.CompressionLevel
	}{{"image-png-default", png.DefaultCompression}, {"image-png-bestspeed", png.BestSpeed}} {
		b.Run(c.name, func(b *testing.B) {
			// Fair to image/png: a 1-bit paletted image and a reused encoder
			// buffer pool, so only the encoding is measured.
			side := (m.Size() + 2*s.QuietZone) * s.ModulePx
			img := image.NewPaletted(image.Rect(0, 0, side, side), color.Palette{color.White, color.Black})
			for y := 0; y < side; y++ {
				for x := 0; x < side; x++ {
					if m.Dark(x/s.ModulePx-s.QuietZone, y/s.ModulePx-s.QuietZone) {
						img.Pix[y*img.Stride+x] = 1
					}
				}
			}
			enc := png.Encoder{CompressionLevel: c.level, BufferPool: &pool{}}
			var w countingWriter
			b.ReportAllocs()
			startCPU()
			for b.Loop() {
				w.n = 0
				if err := enc.Encode(&w, img); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(w.n), "B/png")
			reportRate(b, "png/s")
		})
	}
}

type pool struct{ b *png.EncoderBuffer }

func (p *pool) Get() *png.EncoderBuffer  { return p.b }
func (p *pool) Put(b *png.EncoderBuffer) { p.b = b }

func BenchmarkSVG(b *testing.B) {
	m := benchMatrix(b)
	s := DefaultStyle()
	b.Run("render", func(b *testing.B) {
		var e SVGEncoder
		var out []byte
		b.ReportAllocs()
		startCPU()
		for b.Loop() {
			out, _ = e.Append(out[:0], m, s)
		}
		b.SetBytes(int64(len(out)))
		reportRate(b, "svg/s")
	})
	b.Run("pool-writer", func(b *testing.B) {
		b.ReportAllocs()
		startCPU()
		for b.Loop() {
			if err := SVG(io.Discard, m, s); err != nil {
				b.Fatal(err)
			}
		}
		reportRate(b, "svg/s")
	})
}

func BenchmarkText(b *testing.B) {
	m := benchMatrix(b)
	s := DefaultStyle()
	b.ReportAllocs()
	startCPU()
	for b.Loop() {
		if err := Text(io.Discard, m, s); err != nil {
			b.Fatal(err)
		}
	}
	reportRate(b, "text/s")
}

// BenchmarkEncodeAndRender measures the whole path of one code: qr.Encode
// of a 24-character id at level M (version 2) plus the render.
func BenchmarkEncodeAndRender(b *testing.B) {
	s := DefaultStyle()
	run := func(b *testing.B, unit string, render func(m *qr.Matrix)) {
		enc := qr.NewEncoder()
		var sym qr.Symbol
		b.ReportAllocs()
		startCPU()
		for b.Loop() {
			if err := enc.EncodeTo(&sym, testText, qr.Options{Level: qr.M}); err != nil {
				b.Fatal(err)
			}
			render(sym.Matrix)
		}
		if sym.Version != 2 {
			b.Fatalf("version %d, want 2", sym.Version)
		}
		reportRate(b, unit)
	}
	b.Run("png", func(b *testing.B) {
		var e PNGEncoder
		var out []byte
		run(b, "png/s", func(m *qr.Matrix) { out, _ = e.Append(out[:0], m, s) })
	})
	b.Run("svg", func(b *testing.B) {
		var e SVGEncoder
		var out []byte
		run(b, "svg/s", func(m *qr.Matrix) { out, _ = e.Append(out[:0], m, s) })
	})
}
