package render

import (
	"fmt"
	"image/color"
	"io"
	"strconv"
	"sync"

	"github.com/qrmfg/qrmfg/internal/qr"
)

// SVGEncoder writes QR matrices as SVG documents, reusing its buffer between
// calls. It is not safe for concurrent use; SVG uses a pool of them.
type SVGEncoder struct{ buf []byte }

var svgPool = sync.Pool{New: func() any { return new(SVGEncoder) }}

// SVG writes m as an SVG document: one rectangle for the light colour and
// one <path> of the dark modules, each horizontal run of dark modules one
// subpath ("M x y h w v1 h-w z"), shape-rendering="crispEdges". The viewBox
// is in modules, quiet zone included; width and height are in millimetres
// when s.ModuleMM is set, else in pixels (s.ModulePx per module).
func SVG(w io.Writer, m *qr.Matrix, s Style) error {
	e := svgPool.Get().(*SVGEncoder)
	defer svgPool.Put(e)
	return e.Encode(w, m, s)
}

// Encode writes m as SVG; see SVG.
func (e *SVGEncoder) Encode(w io.Writer, m *qr.Matrix, s Style) error {
	b, err := e.Append(e.buf[:0], m, s)
	e.buf = b
	if err != nil {
		return err
	}
	if _, err := w.Write(b); err != nil {
		return fmt.Errorf("render: write SVG: %w", err)
	}
	return nil
}

// Append appends the SVG document of m in style s to dst.
func (e *SVGEncoder) Append(dst []byte, m *qr.Matrix, s Style) ([]byte, error) {
	if err := checkMatrix(m); err != nil {
		return dst, err
	}
	if err := s.Validate(); err != nil {
		return dst, err
	}
	n, qz := m.Size(), s.QuietZone
	side := n + 2*qz
	dark, light := s.colours()

	b := append(dst, `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 `...)
	b = strconv.AppendInt(b, int64(side), 10)
	b = append(b, ' ')
	b = strconv.AppendInt(b, int64(side), 10)
	b = append(b, `" width="`...)
	b = appendLength(b, side, s)
	b = append(b, `" height="`...)
	b = appendLength(b, side, s)
	b = append(b, `" shape-rendering="crispEdges">`...)
	if light.A != 0 {
		b = append(b, `<rect width="100%" height="100%"`...)
		b = appendFill(b, light)
		b = append(b, `/>`...)
	}
	b = append(b, `<path`...)
	b = appendFill(b, dark)
	b = append(b, ` d="`...)
	for y := 0; y < n; y++ {
		row := m.Row(y)
		var ys [8]byte // " y" then "h"
		yb := append(appendInt(append(ys[:0], ' '), y+qz), 'h')
		for x := 0; x < n; {
			x0, x1 := nextRun(row, n, x)
			if x0 >= n {
				break
			}
			b = append(b, 'M')
			b = appendInt(b, x0+qz)
			b = append(b, yb...)
			b = appendInt(b, x1-x0)
			b = append(b, "v1h-"...)
			b = appendInt(b, x1-x0)
			b = append(b, 'z')
			x = x1
		}
	}
	b = append(b, "\"/></svg>\n"...)
	return b, nil
}

func appendLength(b []byte, modules int, s Style) []byte {
	if s.ModuleMM > 0 {
		b = strconv.AppendFloat(b, float64(modules)*s.ModuleMM, 'f', -1, 64)
		return append(b, "mm"...)
	}
	return strconv.AppendInt(b, int64(modules*s.ModulePx), 10)
}

const hexDigits = "0123456789abcdef"

// appendFill appends ` fill="#rrggbb"` and a fill-opacity when translucent.
func appendFill(b []byte, c color.RGBA) []byte {
	nc := nrgba(c)
	b = append(b, ` fill="#`...)
	for _, v := range [3]uint8{nc.R, nc.G, nc.B} {
		b = append(b, hexDigits[v>>4], hexDigits[v&15])
	}
	b = append(b, '"')
	if nc.A != 255 {
		b = append(b, ` fill-opacity="`...)
		b = strconv.AppendFloat(b, float64(nc.A)/255, 'f', 3, 64)
		b = append(b, '"')
	}
	return b
}

// appendInt appends a non-negative int; the 0-999 coordinates of a symbol
// come from a table.
func appendInt(b []byte, v int) []byte {
	if uint(v) < uint(len(decimals)) {
		d := &decimals[v]
		return append(b, d.s[:d.n]...)
	}
	return strconv.AppendInt(b, int64(v), 10)
}

var decimals = func() (t [1000]struct {
	s [3]byte
	n uint8
}) {
	for i := range t {
		t[i].n = uint8(copy(t[i].s[:], strconv.Itoa(i)))
	}
	return t
}()
