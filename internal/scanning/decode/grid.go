package decode

import (
	"image"
	"math"
)

// Point2f is a point in image pixel coordinates. (0, 0) is the top-left corner
// of the top-left pixel of the image's bounds, so the centre of pixel (x, y)
// is (x+0.5, y+0.5) relative to Bounds().Min.
type Point2f struct{ X, Y float64 }

func (p Point2f) near(q Point2f, tol float64) bool { return math.Hypot(p.X-q.X, p.Y-q.Y) <= tol }

// Homography is a plane projective transform in row-major order:
// x' = (H[0]x + H[1]y + H[2]) / (H[6]x + H[7]y + H[8]), y' likewise with H[3..5].
type Homography [9]float64

// Apply maps (x, y) through h.
func (h Homography) Apply(x, y float64) Point2f {
	d := h[6]*x + h[7]*y + h[8]
	return Point2f{(h[0]*x + h[1]*y + h[2]) / d, (h[3]*x + h[4]*y + h[5]) / d}
}

func (h Homography) mul(o Homography) Homography {
	var r Homography
	for i := 0; i < 3; i++ {
		for j := 0; j < 3; j++ {
			r[3*i+j] = h[3*i]*o[j] + h[3*i+1]*o[3+j] + h[3*i+2]*o[6+j]
		}
	}
	return r
}

func (h Homography) adjoint() Homography {
	return Homography{
		h[4]*h[8] - h[5]*h[7], h[2]*h[7] - h[1]*h[8], h[1]*h[5] - h[2]*h[4],
		h[5]*h[6] - h[3]*h[8], h[0]*h[8] - h[2]*h[6], h[2]*h[3] - h[0]*h[5],
		h[3]*h[7] - h[4]*h[6], h[1]*h[6] - h[0]*h[7], h[0]*h[4] - h[1]*h[3],
	}
}

// squareToQuad maps the unit square (0,0),(1,0),(1,1),(0,1) onto q.
func squareToQuad(q [4]Point2f) Homography {
	dx3 := q[0].X - q[1].X + q[2].X - q[3].X
	dy3 := q[0].Y - q[1].Y + q[2].Y - q[3].Y
	if dx3 == 0 && dy3 == 0 {
		return Homography{
			q[1].X - q[0].X, q[3].X - q[0].X, q[0].X,
			q[1].Y - q[0].Y, q[3].Y - q[0].Y, q[0].Y,
			0, 0, 1,
		}
	}
	dx1, dx2 := q[1].X-q[2].X, q[3].X-q[2].X
	dy1, dy2 := q[1].Y-q[2].Y, q[3].Y-q[2].Y
	den := dx1*dy2 - dx2*dy1
	g := (dx3*dy2 - dx2*dy3) / den
	hh := (dx1*dy3 - dx3*dy1) / den
	return Homography{
		q[1].X - q[0].X + g*q[1].X, q[3].X - q[0].X + hh*q[3].X, q[0].X,
		q[1].Y - q[0].Y + g*q[1].Y, q[3].Y - q[0].Y + hh*q[3].Y, q[0].Y,
		g, hh, 1,
	}
}

// quadToQuad returns the homography mapping quadrilateral from onto to.
func quadToQuad(from, to [4]Point2f) Homography {
	return squareToQuad(to).mul(squareToQuad(from).adjoint())
}

// Grid is the sampling geometry of a decoded symbol: Transform maps module
// coordinates to image pixel coordinates. Module (col, row) covers the square
// [col, col+1)×[row, row+1) of module space, with (0, 0) the top-left module
// of the symbol in its reading orientation (finder patterns top-left,
// top-right and bottom-left), so its centre is Transform.Apply(col+0.5, row+0.5).
type Grid struct {
	Size      int // modules per side, without the quiet zone
	Transform Homography
}

// Center returns the image position of the centre of module (col, row).
func (g Grid) Center(col, row int) Point2f {
	return g.Transform.Apply(float64(col)+0.5, float64(row)+0.5)
}

// ModuleSize returns the mean side of a module in image pixels, measured
// along the symbol's edges.
func (g Grid) ModuleSize() float64 {
	n := float64(g.Size)
	c := [4]Point2f{g.Transform.Apply(0, 0), g.Transform.Apply(n, 0), g.Transform.Apply(n, n), g.Transform.Apply(0, n)}
	var s float64
	for i := range c {
		j := (i + 1) % 4
		s += math.Hypot(c[j].X-c[i].X, c[j].Y-c[i].Y)
	}
	return s / (4 * n)
}

// Sample measures the luminance (0 black to 255 white) of img at the centre
// of every module of the grid, bilinearly interpolated, row-major:
// Sample(img)[row*Size+col]. Modules whose centre falls outside the image read
// as -1. A mark-quality grader builds reflectance statistics (symbol
// contrast, modulation, fixed-pattern damage) on these values and on the
// decoded Modules.
func (g Grid) Sample(img image.Image) []float64 {
	return g.sampleGray(grayOf(img))
}

func (g Grid) sampleGray(p *gray) []float64 {
	out := make([]float64, g.Size*g.Size)
	for row := 0; row < g.Size; row++ {
		for col := 0; col < g.Size; col++ {
			c := g.Center(col, row)
			v, ok := p.at(c.X, c.Y)
			if !ok {
				v = -1
			}
			out[row*g.Size+col] = v
		}
	}
	return out
}
