// Package degrade makes engraved-mark test images: it takes clean QR symbols
// and renders them the way a camera sees a laser or dot-peen mark on metal,
// with low contrast, inversion (light marks on dark metal), blur, noise,
// tilt, a curved (cylindrical) surface, over- and under-burn, dotted modules
// and brushed-metal texture. Everything is drawn from a seeded generator, so
// a set is the same on every machine and run.
package degrade

import (
	"encoding/csv"
	"fmt"
	"image"
	"image/png"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"

	"github.com/qrmfg/qrmfg/internal/qr"
)

// Params describe one degradation.
type Params struct {
	ModulePx float64 // module side in pixels before tilt
	Rotation float64 // degrees, in the image plane
	// Tilt is the perspective of a symbol seen at an angle: its top edge
	// is (1-Tilt) times as long as its bottom edge, and its height is
	// foreshortened to match (0 = face-on).
	Tilt float64
	// Curvature bends the symbol around a cylinder whose axis is vertical:
	// the symbol spans Curvature radians of its circumference (0 = flat).
	Curvature float64
	// Mark and Surface are the luminances (0-255) of burnt modules and of
	// bare metal. Mark > Surface is an inverted (light-on-dark) mark.
	Mark, Surface float64
	// Burn grows (>0, over-burn) or shrinks (<0, under-burn) each dark
	// module's side by this fraction of a module.
	Burn float64
	// Dotted draws each dark module as a round dot (pulsed laser, dot peen).
	Dotted bool
	// MarkVariation is the standard deviation of the per-module luminance
	// of marks (uneven burn), in luminance units.
	MarkVariation float64
	Texture       float64 // amplitude of brushed-metal streaks
	Blur          float64 // Gaussian blur sigma in pixels
	Noise         float64 // Gaussian sensor noise sigma
}

// Contrast returns |Mark-Surface|.
func (p Params) Contrast() float64 { return math.Abs(p.Mark - p.Surface) }

// Render draws m with a 4-module quiet zone under p. rng drives the
// per-module and per-pixel randomness.
func Render(m *qr.Matrix, p Params, rng *rand.Rand) *image.Gray {
	n := m.Size()
	ms := p.ModulePx
	side := float64(n+8) * ms
	diag := side * 1.45
	w := int(math.Ceil(diag))
	img := image.NewGray(image.Rect(0, 0, w, w))
	c := float64(w) / 2

	// Per-module mark luminance (uneven burn).
	markLum := make([]float64, n*n)
	for i := range markLum {
		markLum[i] = p.Mark + rng.NormFloat64()*p.MarkVariation
	}
	// Brushed metal: horizontal streaks in symbol space.
	streak := make([]float64, w)
	for i := range streak {
		streak[i] = rng.NormFloat64()
	}
	for i := 1; i < len(streak); i++ { // smooth a little
		streak[i] = 0.6*streak[i-1] + 0.4*streak[i]
	}

	rot := p.Rotation * math.Pi / 180
	cosR, sinR := math.Cos(rot), math.Sin(rot)
	half := side / 2
	// The tilt is a true perspective: the square symbol maps onto a
	// trapezoid, and each pixel is mapped back through the inverse.
	k := 1 - p.Tilt
	tilt := squareToQuad([4][2]float64{{-half * k, -half * (1 - p.Tilt/2)}, {half * k, -half * (1 - p.Tilt/2)}, {half, half}, {-half, half}})
	untilt := adjoint(tilt)
	const ss = 3 // supersampling per axis
	for y := 0; y < w; y++ {
		for x := 0; x < w; x++ {
			var sum float64
			for sy := 0; sy < ss; sy++ {
				for sx := 0; sx < ss; sx++ {
					px := float64(x) + (float64(sx)+0.5)/ss - c
					py := float64(y) + (float64(sy)+0.5)/ss - c
					// Undo rotation.
					u := cosR*px + sinR*py
					v := -sinR*px + cosR*py
					// Undo the tilt: back to the unit square, then to
					// symbol space.
					if p.Tilt > 0 {
						a, b := apply(untilt, u, v)
						u, v = (a-0.5)*side, (b-0.5)*side
					}
					// Undo the cylinder: the visible x is R·sin(θ).
					if p.Curvature > 0 {
						r := side / p.Curvature
						if math.Abs(u) >= r {
							sum += p.Surface
							continue
						}
						u = r * math.Asin(u/r)
					}
					mx := (u + half) / ms
					my := (v + half) / ms
					lum := p.Surface + p.Texture*streak[min(max(int(my*ms), 0), w-1)]
					if d, idx := dark(m, mx-4, my-4, p); d {
						lum = markLum[idx]
					}
					sum += lum
				}
			}
			img.Pix[y*img.Stride+x] = clamp(sum / (ss * ss))
		}
	}
	if p.Blur > 0 {
		gaussBlur(img, p.Blur)
	}
	if p.Noise > 0 {
		for i, v := range img.Pix {
			img.Pix[i] = clamp(float64(v) + rng.NormFloat64()*p.Noise)
		}
	}
	return img
}

// squareToQuad returns the homography (row-major 3×3) mapping the unit
// square (0,0),(1,0),(1,1),(0,1) onto q.
func squareToQuad(q [4][2]float64) [9]float64 {
	dx3 := q[0][0] - q[1][0] + q[2][0] - q[3][0]
	dy3 := q[0][1] - q[1][1] + q[2][1] - q[3][1]
	dx1, dx2 := q[1][0]-q[2][0], q[3][0]-q[2][0]
	dy1, dy2 := q[1][1]-q[2][1], q[3][1]-q[2][1]
	den := dx1*dy2 - dx2*dy1
	g := (dx3*dy2 - dx2*dy3) / den
	h := (dx1*dy3 - dx3*dy1) / den
	return [9]float64{
		q[1][0] - q[0][0] + g*q[1][0], q[3][0] - q[0][0] + h*q[3][0], q[0][0],
		q[1][1] - q[0][1] + g*q[1][1], q[3][1] - q[0][1] + h*q[3][1], q[0][1],
		g, h, 1,
	}
}

// adjoint is the inverse of h up to scale.
func adjoint(h [9]float64) [9]float64 {
	return [9]float64{
		h[4]*h[8] - h[5]*h[7], h[2]*h[7] - h[1]*h[8], h[1]*h[5] - h[2]*h[4],
		h[5]*h[6] - h[3]*h[8], h[0]*h[8] - h[2]*h[6], h[2]*h[3] - h[0]*h[5],
		h[3]*h[7] - h[4]*h[6], h[1]*h[6] - h[0]*h[7], h[0]*h[4] - h[1]*h[3],
	}
}

func apply(h [9]float64, x, y float64) (float64, float64) {
	d := h[6]*x + h[7]*y + h[8]
	return (h[0]*x + h[1]*y + h[2]) / d, (h[3]*x + h[4]*y + h[5]) / d
}

// dark reports whether module-space point (x, y) is covered by a mark, and
// the index of the module that marks it.
func dark(m *qr.Matrix, x, y float64, p Params) (bool, int) {
	n := m.Size()
	cx, cy := int(math.Floor(x)), int(math.Floor(y))
	half := 0.5 + p.Burn/2
	for j := cy - 1; j <= cy+1; j++ {
		for i := cx - 1; i <= cx+1; i++ {
			if i < 0 || j < 0 || i >= n || j >= n || !m.Dark(i, j) {
				continue
			}
			dx, dy := x-(float64(i)+0.5), y-(float64(j)+0.5)
			if p.Dotted {
				if dx*dx+dy*dy <= half*half*0.9 {
					return true, j*n + i
				}
			} else if math.Abs(dx) <= half && math.Abs(dy) <= half {
				return true, j*n + i
			}
		}
	}
	return false, 0
}

func clamp(v float64) uint8 { return uint8(math.Max(0, math.Min(255, math.Round(v)))) }

// gaussBlur blurs img in place with a separable Gaussian of the given sigma.
func gaussBlur(img *image.Gray, sigma float64) {
	r := int(math.Ceil(3 * sigma))
	k := make([]float64, 2*r+1)
	var ks float64
	for i := range k {
		d := float64(i - r)
		k[i] = math.Exp(-d * d / (2 * sigma * sigma))
		ks += k[i]
	}
	for i := range k {
		k[i] /= ks
	}
	w, h := img.Rect.Dx(), img.Rect.Dy()
	tmp := make([]float64, w*h)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			var s float64
			for i, kv := range k {
				xx := min(max(x+i-r, 0), w-1)
				s += kv * float64(img.Pix[y*img.Stride+xx])
			}
			tmp[y*w+x] = s
		}
	}
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			var s float64
			for i, kv := range k {
				yy := min(max(y+i-r, 0), h-1)
				s += kv * tmp[yy*w+x]
			}
			img.Pix[y*img.Stride+x] = clamp(s)
		}
	}
}

// Sample is one image of a set.
type Sample struct {
	Name   string
	Text   string
	Params Params
	Image  *image.Gray
}

// Set returns n samples drawn from seed: part-id payloads at levels M to H,
// each with a random mix of the degradations at strengths seen on real
// engraved parts (contrast 25-200, 40% inverted, a third dotted, tilt up
// to 0.35, curvature up to 1.2 rad, burn ±0.3 module, blur up to 1.6 px,
// noise up to 12). The same seed gives the same set.
func Set(seed uint64, n int) ([]Sample, error) {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	levels := []qr.Level{qr.M, qr.Q, qr.H}
	out := make([]Sample, 0, n)
	for i := 0; i < n; i++ {
		text := fmt.Sprintf("PAD-V%04d-L2025-%02d-%05d", rng.IntN(10000), 1+rng.IntN(12), rng.IntN(100000))
		sym, err := qr.Encode(text, qr.Options{Level: levels[rng.IntN(len(levels))]})
		if err != nil {
			return nil, fmt.Errorf("degrade: encode %q: %w", text, err)
		}
		contrast := 25 + rng.Float64()*175
		surface := 60 + rng.Float64()*150
		p := Params{
			ModulePx:      3 + rng.Float64()*5,
			Rotation:      rng.Float64() * 360,
			Tilt:          rng.Float64() * 0.35,
			Mark:          math.Max(0, surface-contrast),
			Surface:       surface,
			Burn:          (rng.Float64()*2 - 1) * 0.3,
			Dotted:        rng.IntN(3) == 0,
			MarkVariation: rng.Float64() * contrast * 0.15,
			Texture:       rng.Float64() * 10,
			Blur:          rng.Float64() * 1.6,
			Noise:         rng.Float64() * 12,
		}
		if rng.IntN(3) == 0 {
			p.Curvature = rng.Float64() * 1.2
		}
		if rng.IntN(5) < 2 { // light marks on dark metal
			p.Surface = 20 + rng.Float64()*80
			p.Mark = math.Min(255, p.Surface+contrast)
		}
		out = append(out, Sample{
			Name:   fmt.Sprintf("%03d.png", i),
			Text:   text,
			Params: p,
			Image:  Render(sym.Matrix, p, rng),
		})
	}
	return out, nil
}

// WriteSet writes the samples of Set(seed, n) as PNG files into dir with a
// manifest.csv (name, text, parameters), for inspection or other decoders.
func WriteSet(dir string, seed uint64, n int) error {
	set, err := Set(seed, n)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("degrade: %w", err)
	}
	f, err := os.Create(filepath.Join(dir, "manifest.csv"))
	if err != nil {
		return fmt.Errorf("degrade: %w", err)
	}
	defer f.Close()
	cw := csv.NewWriter(f)
	_ = cw.Write([]string{"name", "text", "module_px", "rotation", "tilt", "curvature", "mark", "surface", "burn", "dotted", "mark_variation", "texture", "blur", "noise"})
	ff := func(v float64) string { return strconv.FormatFloat(v, 'f', 2, 64) }
	for _, s := range set {
		p := s.Params
		if err := cw.Write([]string{s.Name, s.Text, ff(p.ModulePx), ff(p.Rotation), ff(p.Tilt), ff(p.Curvature), ff(p.Mark), ff(p.Surface), ff(p.Burn), strconv.FormatBool(p.Dotted), ff(p.MarkVariation), ff(p.Texture), ff(p.Blur), ff(p.Noise)}); err != nil {
			return fmt.Errorf("degrade: %w", err)
		}
		out, err := os.Create(filepath.Join(dir, s.Name))
		if err != nil {
			return fmt.Errorf("degrade: %w", err)
		}
		if err := png.Encode(out, s.Image); err != nil {
			out.Close()
			return fmt.Errorf("degrade: %w", err)
		}
		if err := out.Close(); err != nil {
			return fmt.Errorf("degrade: %w", err)
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("degrade: %w", err)
	}
	return f.Close()
}
