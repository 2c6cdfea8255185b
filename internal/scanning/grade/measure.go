package grade

import (
	"image"
	"image/color"
	"math"

	"github.com/qrmfg/qrmfg/internal/scanning/decode"
)

// luma reads 8-bit luminance from an image, with fast paths for the types
// the standard decoders return.
type luma struct {
	b  image.Rectangle
	at func(x, y int) float64
}

func newLuma(img image.Image) *luma {
	l := &luma{b: img.Bounds()}
	switch p := img.(type) {
	case *image.YCbCr:
		l.at = func(x, y int) float64 { return float64(p.Y[p.YOffset(x, y)]) }
	case *image.Gray:
		l.at = func(x, y int) float64 { return float64(p.Pix[p.PixOffset(x, y)]) }
	case *image.NRGBA:
		l.at = func(x, y int) float64 {
			i := p.PixOffset(x, y)
			s := p.Pix[i : i+4 : i+4]
			a := uint32(s[3])
			return float64((uint32(s[0])*306+uint32(s[1])*601+uint32(s[2])*117+512)>>10*a/255 + 255 - a)
		}
	case *image.RGBA:
		l.at = func(x, y int) float64 {
			i := p.PixOffset(x, y)
			s := p.Pix[i : i+4 : i+4]
			return float64((uint32(s[0])*306 + uint32(s[1])*601 + uint32(s[2])*117 + 512) >> 10)
		}
	default:
		l.at = func(x, y int) float64 { return float64(color.GrayModel.Convert(img.At(x, y)).(color.Gray).Y) }
	}
	return l
}

// sample returns the bilinear luminance (0..255) at image point (x, y),
// where pixel (i, j) covers [i, i+1)×[j, j+1) relative to the bounds.
func (l *luma) sample(x, y float64) (float64, bool) {
	x -= 0.5
	y -= 0.5
	w, h := l.b.Dx(), l.b.Dy()
	if x < -0.5 || y < -0.5 || x > float64(w)-0.5 || y > float64(h)-0.5 || math.IsNaN(x) || math.IsNaN(y) {
		return 0, false
	}
	x0, y0 := int(math.Floor(x)), int(math.Floor(y))
	fx, fy := x-float64(x0), y-float64(y0)
	x1, y1 := min(max(x0+1, 0), w-1), min(max(y0+1, 0), h-1)
	x0, y0 = min(max(x0, 0), w-1), min(max(y0, 0), h-1)
	ox, oy := l.b.Min.X, l.b.Min.Y
	a := l.at(ox+x0, oy+y0)*(1-fx) + l.at(ox+x1, oy+y0)*fx
	b := l.at(ox+x0, oy+y1)*(1-fx) + l.at(ox+x1, oy+y1)*fx
	return a*(1-fy) + b*fy, true
}

// meter measures one symbol.
type meter struct {
	img  *luma
	grid decode.Grid
	n    int
	inv  bool
}

// aperture returns the mean reflectance (0..1) of module (col, row) over a
// 3×3 pattern of points inside a circle of Aperture module widths.
func (m *meter) aperture(col, row int) (float64, bool) {
	const d = Aperture / 4 // points at ±0.2 module: inside the 0.4-module radius
	var s float64
	for _, dy := range [3]float64{-d, 0, d} {
		for _, dx := range [3]float64{-d, 0, d} {
			p := m.grid.Transform.Apply(float64(col)+0.5+dx, float64(row)+0.5+dy)
			v, ok := m.img.sample(p.X, p.Y)
			if !ok {
				return 0, false
			}
			s += v
		}
	}
	return s / (9 * 255), true
}

// edgeSteps is the number of samples along the line between two module
// centres when an edge between them is located.
const edgeSteps = 16

// edge locates the crossing of the global threshold between the centres of
// two neighbouring modules (dx, dy is (1, 0) or (0, 1)) and returns its
// distance from the ideal boundary in module widths (positive towards the
// second module). ok is false when the profile does not cross.
func (m *meter) edge(col, row, dx, dy int, gt float64) (float64, bool) {
	var prof [edgeSteps + 1]float64
	for i := range prof {
		t := float64(i) / edgeSteps
		p := m.grid.Transform.Apply(float64(col)+0.5+t*float64(dx), float64(row)+0.5+t*float64(dy))
		v, ok := m.img.sample(p.X, p.Y)
		if !ok {
			return 0, false
		}
		prof[i] = v/255 - gt
	}
	best, found := 0.0, false
	for i := 0; i < edgeSteps; i++ {
		a, b := prof[i], prof[i+1]
		if (a < 0) == (b < 0) {
			continue
		}
		t := (float64(i) + a/(a-b)) / edgeSteps
		if !found || math.Abs(t-0.5) < math.Abs(best-0.5) {
			best, found = t, true
		}
	}
	return best - 0.5, found
}

// gridUniformity measures where the module edges really are. The symbol is
// cut into tiles of a few modules; in each tile the mean displacement of its
// vertical edges (x) and horizontal edges (y) from the decoder's grid is
// taken, averaging dark-to-light and light-to-dark edges separately first so
// that print growth does not move the estimate. The tiles' measured centres
// are fitted with an affine grid (least squares): AN is the relative
// difference of its X and Y module pitches. GN is the largest distance of a
// measured tile centre from the best projective grid through them, in
// module widths (see below).
func (m *meter) gridUniformity(sym *symbol, gt float64) (an, gn float64) {
	n := m.n
	tile := 3
	nt := (n + tile - 1) / tile
	type acc struct {
		s [2][2]float64
		c [2][2]int
	} // [axis][polarity]
	tiles := make([]acc, nt*nt)
	for row := 0; row < n; row++ {
		for col := 0; col < n; col++ {
			t := &tiles[(row/tile)*nt+col/tile]
			for axis, d := range [2][2]int{{1, 0}, {0, 1}} {
				c2, r2 := col+d[0], row+d[1]
				if c2 >= n || r2 >= n {
					continue
				}
				a, b := sym.dark(col, row), sym.dark(c2, r2)
				if a == b {
					continue
				}
				off, ok := m.edge(col, row, d[0], d[1], gt)
				if !ok || math.Abs(off) > 0.5 {
					continue
				}
				pol := 0
				if a {
					pol = 1
				}
				t.s[axis][pol] += off
				t.c[axis][pol]++
			}
		}
	}
	type pt struct{ u, v, x, y float64 }
	var pts []pt
	for ty := 0; ty < nt; ty++ {
		for tx := 0; tx < nt; tx++ {
			t := tiles[ty*nt+tx]
			var off [2]float64
			ok := true
			for axis := range 2 {
				k := 0
				for pol := range 2 {
					if t.c[axis][pol] > 0 {
						off[axis] += t.s[axis][pol] / float64(t.c[axis][pol])
						k++
					}
				}
				if k == 0 {
					ok = false
					break
				}
				off[axis] /= float64(k)
			}
			if !ok {
				continue
			}
			u := (float64(tx*tile) + float64(min((tx+1)*tile, n))) / 2
			v := (float64(ty*tile) + float64(min((ty+1)*tile, n))) / 2
			p := m.grid.Transform.Apply(u+off[0], v+off[1])
			pts = append(pts, pt{u, v, p.X, p.Y})
		}
	}
	// Affine least squares: x = a0 + a1 u + a2 v, y = b0 + b1 u + b2 v.
	fit := func() (a, b [3]float64, ok bool) {
		var s [3][3]float64
		var rx, ry [3]float64
		for _, p := range pts {
			f := [3]float64{1, p.u, p.v}
			for i := range 3 {
				for j := range 3 {
					s[i][j] += f[i] * f[j]
				}
				rx[i] += f[i] * p.x
				ry[i] += f[i] * p.y
			}
		}
		inv, ok := invert3(s)
		if !ok {
			return a, b, false
		}
		for i := range 3 {
			for j := range 3 {
				a[i] += inv[i][j] * rx[j]
				b[i] += inv[i][j] * ry[j]
			}
		}
		return a, b, true
	}
	a, b, ok := fit()
	if len(pts) < 4 || !ok {
		// Too few edges to measure (a tiny or blurred symbol): fall back
		// on the decoder's grid, whose sides give the axial ratio.
		h := m.grid.Transform
		nn := float64(n)
		p00, p10, p01, p11 := h.Apply(0, 0), h.Apply(nn, 0), h.Apply(0, nn), h.Apply(nn, nn)
		x := (math.Hypot(p10.X-p00.X, p10.Y-p00.Y) + math.Hypot(p11.X-p01.X, p11.Y-p01.Y)) / 2
		y := (math.Hypot(p01.X-p00.X, p01.Y-p00.Y) + math.Hypot(p11.X-p10.X, p11.Y-p10.Y)) / 2
		return 2 * math.Abs(x-y) / (x + y), 0
	}
	x := math.Hypot(a[1], b[1])
	y := math.Hypot(a[2], b[2])
	pitch := (x + y) / 2
	an = math.Abs(x-y) / pitch
	// GN against the best projective grid, so that a photo taken at an
	// angle (a homography of the printed grid) does not count as damage:
	// the measured points are brought back to module units through the
	// affine fit, a homography is fitted to them, and GN is the largest
	// residual. With too few points for that, the affine residual is used.
	det := a[1]*b[2] - a[2]*b[1]
	q := make([][4]float64, len(pts)) // u, v, measured u, measured v
	for i, p := range pts {
		dx, dy := p.x-a[0], p.y-b[0]
		q[i] = [4]float64{p.u, p.v, (b[2]*dx - a[2]*dy) / det, (-b[1]*dx + a[1]*dy) / det}
	}
	h, ok := fitHomography(q)
	for _, p := range q {
		eu, ev := p[0], p[1]
		if ok {
			d := h[6]*p[0] + h[7]*p[1] + 1
			eu = (h[0]*p[0] + h[1]*p[1] + h[2]) / d
			ev = (h[3]*p[0] + h[4]*p[1] + h[5]) / d
		}
		gn = max(gn, math.Hypot(p[2]-eu, p[3]-ev))
	}
	return an, gn
}

// fitHomography fits u',v' = H(u,v) (h[8] = 1) to the points by linear
// least squares; ok is false with fewer than 6 points or a singular system.
func fitHomography(q [][4]float64) (h [8]float64, ok bool) {
	if len(q) < 6 {
		return h, false
	}
	var m [8][9]float64 // normal equations, augmented
	for _, p := range q {
		u, v, x, y := p[0], p[1], p[2], p[3]
		rows := [2][9]float64{
			{u, v, 1, 0, 0, 0, -u * x, -v * x, x},
			{0, 0, 0, u, v, 1, -u * y, -v * y, y},
		}
		for _, r := range rows {
			for i := range 8 {
				for j := range 9 {
					m[i][j] += r[i] * r[j]
				}
			}
		}
	}
	for c := range 8 {
		piv := c
		for r := c + 1; r < 8; r++ {
			if math.Abs(m[r][c]) > math.Abs(m[piv][c]) {
				piv = r
			}
		}
		if math.Abs(m[piv][c]) < 1e-9 {
			return h, false
		}
		m[c], m[piv] = m[piv], m[c]
		for r := range 8 {
			if r == c {
				continue
			}
			f := m[r][c] / m[c][c]
			for j := c; j < 9; j++ {
				m[r][j] -= f * m[c][j]
			}
		}
	}
	for i := range 8 {
		h[i] = m[i][8] / m[i][i]
	}
	return h, true
}

func invert3(m [3][3]float64) ([3][3]float64, bool) {
	var r [3][3]float64
	det := m[0][0]*(m[1][1]*m[2][2]-m[1][2]*m[2][1]) -
		m[0][1]*(m[1][0]*m[2][2]-m[1][2]*m[2][0]) +
		m[0][2]*(m[1][0]*m[2][1]-m[1][1]*m[2][0])
	if math.Abs(det) < 1e-12 {
		return r, false
	}
	r[0][0] = (m[1][1]*m[2][2] - m[1][2]*m[2][1]) / det
	r[0][1] = (m[0][2]*m[2][1] - m[0][1]*m[2][2]) / det
	r[0][2] = (m[0][1]*m[1][2] - m[0][2]*m[1][1]) / det
	r[1][0] = (m[1][2]*m[2][0] - m[1][0]*m[2][2]) / det
	r[1][1] = (m[0][0]*m[2][2] - m[0][2]*m[2][0]) / det
	r[1][2] = (m[0][2]*m[1][0] - m[0][0]*m[1][2]) / det
	r[2][0] = (m[1][0]*m[2][1] - m[1][1]*m[2][0]) / det
	r[2][1] = (m[0][1]*m[2][0] - m[0][0]*m[2][1]) / det
	r[2][2] = (m[0][0]*m[1][1] - m[0][1]*m[1][0]) / det
	return r, true
}
