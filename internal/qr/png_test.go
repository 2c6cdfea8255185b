package qr

import (
	"image"
	"image/color"
	"image/png"
	"os"
	"testing"
)

// writePNG writes sym as a black-on-white PNG with scale pixels per module
// and a four-module quiet zone: a test-only stand-in for internal/render.
func writePNG(tb testing.TB, path string, m *Matrix, scale int) {
	tb.Helper()
	const quiet = 4
	side := (m.Size() + 2*quiet) * scale
	img := image.NewGray(image.Rect(0, 0, side, side))
	for i := range img.Pix {
		img.Pix[i] = 0xFF
	}
	for y := range m.Size() {
		for x := range m.Size() {
			if !m.Dark(x, y) {
				continue
			}
			for dy := range scale {
				for dx := range scale {
					img.SetGray((x+quiet)*scale+dx, (y+quiet)*scale+dy, color.Gray{})
				}
			}
		}
	}
	f, err := os.Create(path)
	if err != nil {
		tb.Fatal(err)
	}
	if err := png.Encode(f, img); err != nil {
		tb.Fatal(err)
	}
	if err := f.Close(); err != nil {
		tb.Fatal(err)
	}
}
