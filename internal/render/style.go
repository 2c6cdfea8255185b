// Package render turns a qr.Matrix into images people and machines read: PNG
// (a purpose-built encoder, see docs/adr/0003-png-encoder.md), SVG, terminal
// text and PDF label sheets.
package render

import (
	"image/color"
	"math"
	"math/bits"

	"github.com/qrmfg/qrmfg/internal/qr"
	"github.com/qrmfg/qrmfg/internal/qrmfg"
)

// Limits enforced by Validate and the renderers.
const (
	// MinQuietZone is the smallest quiet zone, in modules, a style may ask
	// for. ISO/IEC 18004 asks for 4; 2 and 3 still decode with common readers
	// when the surface around the code is plain, so they are allowed for
	// small labels and parts. Below 2 is refused.
	MinQuietZone = 2
	// MaxQuietZone bounds the quiet zone, in modules.
	MaxQuietZone = 100
	// MinContrast is the smallest symbol contrast accepted: the difference
	// of the relative luminances of the two colours (alpha composited over
	// white), as a fraction. 0.40 is the ISO/IEC 15415 grade C boundary for
	// symbol contrast (A ≥ 70%, B ≥ 55%, C ≥ 40%, D ≥ 20%).
	MinContrast = 0.40
	// MaxImagePx is the largest width (= height) of a raster image, in pixels.
	MaxImagePx = 16384
)

// Style says how a matrix is drawn. Fields are taken literally; start from
// DefaultStyle and change what you need.
type Style struct {
	// ModulePx is the side of a module in pixels (PNG, SVG without ModuleMM).
	ModulePx int
	// QuietZone is the light margin around the symbol, in modules.
	QuietZone int
	// Foreground is the ink and Background the substrate. Normally the dark
	// modules are inked; the ink must be the darker colour.
	Foreground, Background color.RGBA
	// Invert inks the light modules and the quiet zone instead, so the dark
	// modules show the substrate: light-on-dark marks (reflectance reversal,
	// e.g. white toner on black, or a laser that lightens the surface).
	Invert bool
	// DPI is the physical resolution written into PNG files (pHYs chunk);
	// 0 writes none.
	DPI int
	// ModuleMM is the physical side of a module in millimetres, used for the
	// width and height of SVG and for PDF label sheets (0: SVG sized in px,
	// label sheets pick the largest module that fits the label).
	ModuleMM float64
}

// DefaultStyle is 10 px modules, a 4-module quiet zone, black on white.
func DefaultStyle() Style {
	return Style{
		ModulePx:   10,
		QuietZone:  4,
		Foreground: color.RGBA{0, 0, 0, 255},
		Background: color.RGBA{255, 255, 255, 255},
	}
}

// Validate refuses a style whose output would not decode or cannot be made,
// with an EINVALID error naming the field.
func (s Style) Validate() error {
	if s.ModulePx < 1 {
		return qrmfg.FieldError("module_px", "module size %d px: must be at least 1", s.ModulePx)
	}
	if err := checkQuietZone(s.QuietZone); err != nil {
		return err
	}
	if s.DPI < 0 || s.DPI > 100_000 {
		return qrmfg.FieldError("dpi", "DPI %d is out of range 0..100000", s.DPI)
	}
	if math.IsNaN(s.ModuleMM) || s.ModuleMM < 0 || s.ModuleMM > 100 {
		return qrmfg.FieldError("module_mm", "module size %g mm is out of range 0..100", s.ModuleMM)
	}
	for _, c := range []struct {
		name string
		c    color.RGBA
	}{{"foreground", s.Foreground}, {"background", s.Background}} {
		if c.c.R > c.c.A || c.c.G > c.c.A || c.c.B > c.c.A {
			return qrmfg.FieldError(c.name, "%s colour %v is not alpha-premultiplied (a component exceeds alpha)", c.name, c.c)
		}
	}
	fg, bg := luminance(s.Foreground), luminance(s.Background)
	if fg >= bg {
		return qrmfg.FieldError("foreground", "foreground (luminance %.2f) must be darker than background (%.2f); set invert for light-on-dark marks", fg, bg)
	}
	if bg-fg < MinContrast {
		return qrmfg.FieldError("foreground", "symbol contrast %.0f%% between foreground and background is below %.0f%% (ISO/IEC 15415 grade C)", 100*(bg-fg), 100*MinContrast)
	}
	return nil
}

func checkQuietZone(qz int) error {
	if qz < MinQuietZone {
		return qrmfg.FieldError("quiet_zone", "quiet zone of %d modules is below the minimum of %d (ISO/IEC 18004 asks for 4)", qz, MinQuietZone)
	}
	if qz > MaxQuietZone {
		return qrmfg.FieldError("quiet_zone", "quiet zone of %d modules is above the maximum of %d", qz, MaxQuietZone)
	}
	return nil
}

// luminance is the relative luminance (WCAG / sRGB, linear light) of c
// composited over white, from 0 (black) to 1 (white).
func luminance(c color.RGBA) float64 {
	lin := func(premul uint8) float64 {
		// Over white: premultiplied colour plus (1-alpha) of white.
		v := (float64(premul) + float64(255-c.A)) / 255
		if v <= 0.04045 {
			return v / 12.92
		}
		return math.Pow((v+0.055)/1.055, 2.4)
	}
	return 0.2126*lin(c.R) + 0.7152*lin(c.G) + 0.0722*lin(c.B)
}

// colours returns the colours of the dark modules and of the light modules
// and quiet zone, after Invert.
func (s Style) colours() (dark, light color.RGBA) {
	if s.Invert {
		return s.Background, s.Foreground
	}
	return s.Foreground, s.Background
}

// checkMatrix refuses a nil or empty matrix.
func checkMatrix(m *qr.Matrix) error {
	if m == nil || m.Size() == 0 {
		return qrmfg.FieldError("matrix", "the matrix is empty")
	}
	return nil
}

// nextRun returns the first run of dark modules [start, end) in row at or
// after x, or start == n when there is none.
func nextRun(row []uint64, n, x int) (start, end int) {
	start = scan(row, n, x, false)
	if start >= n {
		return n, n
	}
	return start, scan(row, n, start, true)
}

// scan returns the first x' >= x whose module differs from dark (the first
// light module when dark is true, the first dark one otherwise), or n.
func scan(row []uint64, n, x int, dark bool) int {
	for x < n {
		w := row[x>>6]
		if dark {
			w = ^w
		}
		w >>= uint(x) & 63
		if w != 0 {
			x += bits.TrailingZeros64(w)
			return min(x, n)
		}
		x = (x | 63) + 1
	}
	return n
}
