package decode

import (
	"errors"
	"math"
	"sort"

	"github.com/makiuchi-d/gozxing"
	zxdecoder "github.com/makiuchi-d/gozxing/qrcode/decoder"
	"github.com/makiuchi-d/gozxing/qrcode/detector"
)

// corr is a correspondence between a point in module space and one in the
// pixel space of a pyramid level.
type corr struct{ m, p Point2f }

// retry reads a candidate whose plain sampling failed. It tries the two
// dimensions of dims (the estimate and the next larger one: estimates run
// small on tilted symbols), the alignment pattern align, when known, with
// the first. For each it fits the grid to every alignment pattern it can find
// (not only the bottom-right one, which is what lets strongly tilted large
// symbols read), samples the binarized image, and failing that fits the grid
// to all function patterns on the grey image (fitGrid) and samples again. It
// gives up at once on a QR Model 1 symbol (errModel1).
func retry(m *gozxing.BitMatrix, l *gray, finders [3]Point2f, align *Point2f, dims [2]int, inverted bool, stages retryStages) (*symbol, Homography, int, error) {
	tl, tr, bl := finders[0], finders[1], finders[2]
	n := dims[0]
	for _, d := range dims {
		if d < 21 || d > 177 {
			continue
		}
		fd := float64(d)
		cs := []corr{{Point2f{3.5, 3.5}, tl}, {Point2f{fd - 3.5, 3.5}, tr}, {Point2f{3.5, fd - 3.5}, bl}}
		if align != nil && d == n && d > 21 {
			cs = append(cs, corr{Point2f{fd - 6.5, fd - 6.5}, *align})
		} else {
			// No alignment pattern: a parallelogram's fourth corner.
			cs = append(cs, corr{Point2f{fd - 3.5, fd - 3.5}, Point2f{tr.X - tl.X + bl.X, tr.Y - tl.Y + bl.Y}})
		}
		s, h, e := readRefined(m, l, fitHomography(cs), cs, d, inverted, stages)
		if e == nil {
			return s, h, d, nil
		} else if errors.Is(e, errModel1) {
			return nil, h, d, e
		}
	}
	return nil, Homography{}, 0, errNoSymbol
}

// readRefined reads a d×d symbol from grid h, fitted to the
// correspondences cs: refitted to every alignment pattern it can find and
// sampled (stage refitAlign; without it, that sampling failed before), then
// fitted to all function patterns and sampled again (stage refitFunction;
// larger symbols have alignment patterns enough for alignGrid, and a fit of
// theirs costs too much). It returns the last grid tried.
func readRefined(m *gozxing.BitMatrix, l *gray, h Homography, cs []corr, d int, inverted bool, stages retryStages) (*symbol, Homography, error) {
	if d > 21 {
		h = alignGrid(m, h, d, cs)
	}
	if stages&refitAlign != 0 {
		if s, e := sampleAndRead(m, h, d); e == nil || errors.Is(e, errModel1) {
			return s, h, e
		}
	}
	if d > maxFitDimension || stages&refitFunction == 0 {
		return nil, h, errNoSymbol
	}
	fitted := refitFrom(l, h, d, inverted)
	s, e := sampleAndRead(m, fitted, d)
	return s, fitted, e
}

// refitFrom fits a d×d grid to the function patterns of l (fitGrid),
// starting from the finder centres and the bottom-right corner where h puts
// them.
func refitFrom(l *gray, h Homography, d int, inverted bool) Homography {
	fd := float64(d)
	var start []corr
	for _, q := range []Point2f{{3.5, 3.5}, {fd - 3.5, 3.5}, {3.5, fd - 3.5}, {fd - 3.5, fd - 3.5}} {
		start = append(start, corr{q, h.Apply(q.X, q.Y)})
	}
	return fitGrid(l, start, d, inverted)
}

// retryStages selects the stages of retry: the refit to the alignment
// patterns (cheap: tried in the first round already) and the fit to all
// function patterns.
type retryStages int

const (
	refitAlign retryStages = 1 << iota
	refitFunction
	refitAll = refitAlign | refitFunction
)

// maxFitDimension is the largest symbol (version 10) whose grid fitGrid fits.
const maxFitDimension = 57

// sampleAndRead samples the binarized matrix m at the module centres of
// grid h and reads the symbol. (Grey-level sampling with an Otsu threshold
// was tried here too; since the grid fit, it read nothing the binary
// sampling did not, on qr-real or the engraved-mark set.)
func sampleAndRead(m *gozxing.BitMatrix, h Homography, d int) (*symbol, error) {
	bits := sampleBits(m, h, d)
	if bits == nil {
		return nil, errNoSymbol
	}
	return readSymbol(bits)
}

// alignGrid looks for each alignment pattern of a version-(d-17)/4 symbol
// near where h predicts it, nearest the top-left finder first, and refits h
// to everything found after each hit.
func alignGrid(m *gozxing.BitMatrix, h Homography, d int, cs []corr) Homography {
	v, err := zxdecoder.Version_GetVersionForNumber((d - 17) / 4)
	if err != nil {
		return h
	}
	aps := alignmentCenters(v)
	sort.Slice(aps, func(i, j int) bool { return aps[i][0]+aps[i][1] < aps[j][0]+aps[j][1] })
	// The estimated bottom-right point is a guess, not a measurement: drop it
	// once two real alignment patterns are found.
	guess := len(cs) == 4 && cs[3].m.X == float64(d)-3.5
	base := cs
	var found []corr
	for _, a := range aps {
		mx, my := float64(a[0])+0.5, float64(a[1])+0.5
		p := h.Apply(mx, my)
		ms := localModuleSize(h, mx, my)
		if math.IsNaN(p.X) || math.IsNaN(ms) || ms < 1 {
			continue
		}
		r := int(math.Ceil(3.5 * ms))
		x0, y0 := int(p.X)-r, int(p.Y)-r
		x1, y1 := int(p.X)+r, int(p.Y)+r
		x0, y0 = max(x0, 0), max(y0, 0)
		x1, y1 = min(x1, m.GetWidth()-1), min(y1, m.GetHeight()-1)
		if float64(x1-x0) < 3*ms || float64(y1-y0) < 3*ms {
			continue
		}
		f := detector.NewAlignmentPatternFinder(m, x0, y0, x1-x0, y1-y0, ms, nil)
		got, e := f.Find()
		if e != nil {
			continue
		}
		q := Point2f{got.GetX(), got.GetY()}
		if math.Hypot(q.X-p.X, q.Y-p.Y) > 2.5*ms {
			continue
		}
		found = append(found, corr{Point2f{mx, my}, q})
		all := append([]corr(nil), base...)
		if guess && len(found) >= 2 {
			all = all[:3]
		}
		h = fitHomography(append(all, found...))
	}
	return h
}

// localModuleSize is the side of module (x, y) in pixels under h.
func localModuleSize(h Homography, x, y float64) float64 {
	a, b, c := h.Apply(x, y), h.Apply(x+1, y), h.Apply(x, y+1)
	return (math.Hypot(b.X-a.X, b.Y-a.Y) + math.Hypot(c.X-a.X, c.Y-a.Y)) / 2
}

// sampleBits samples m at the centres of the d×d modules under h. It
// returns nil when the grid leaves the image.
func sampleBits(m *gozxing.BitMatrix, h Homography, d int) *gozxing.BitMatrix {
	bits, err := gozxing.NewSquareBitMatrix(d)
	if err != nil {
		return nil
	}
	w, ht := m.GetWidth(), m.GetHeight()
	for y := 0; y < d; y++ {
		for x := 0; x < d; x++ {
			p := h.Apply(float64(x)+0.5, float64(y)+0.5)
			if math.IsNaN(p.X) || math.IsNaN(p.Y) || p.X < -1 || p.Y < -1 || p.X > float64(w)+1 || p.Y > float64(ht)+1 {
				return nil
			}
			if m.Get(min(max(int(p.X), 0), w-1), min(max(int(p.Y), 0), ht-1)) {
				bits.Set(x, y)
			}
		}
	}
	return bits
}

// fitHomography returns the homography mapping module to pixel coordinates
// that fits cs best in the least-squares sense (exactly for four points).
func fitHomography(cs []corr) Homography {
	if len(cs) == 4 {
		return quadToQuad([4]Point2f{cs[0].m, cs[1].m, cs[3].m, cs[2].m}, [4]Point2f{cs[0].p, cs[1].p, cs[3].p, cs[2].p})
	}
	// Normal equations of the linearised (DLT) problem with h8 = 1.
	var a [8][9]float64
	add := func(row [8]float64, rhs float64) {
		for i := 0; i < 8; i++ {
			for j := 0; j < 8; j++ {
				a[i][j] += row[i] * row[j]
			}
			a[i][8] += row[i] * rhs
		}
	}
	for _, c := range cs {
		x, y, u, v := c.m.X, c.m.Y, c.p.X, c.p.Y
		add([8]float64{x, y, 1, 0, 0, 0, -x * u, -y * u}, u)
		add([8]float64{0, 0, 0, x, y, 1, -x * v, -y * v}, v)
	}
	for col := 0; col < 8; col++ {
		piv := col
		for r := col + 1; r < 8; r++ {
			if math.Abs(a[r][col]) > math.Abs(a[piv][col]) {
				piv = r
			}
		}
		a[col], a[piv] = a[piv], a[col]
		if math.Abs(a[col][col]) < 1e-12 {
			return quadToQuad([4]Point2f{cs[0].m, cs[1].m, cs[3].m, cs[2].m}, [4]Point2f{cs[0].p, cs[1].p, cs[3].p, cs[2].p})
		}
		for r := 0; r < 8; r++ {
			if r == col {
				continue
			}
			f := a[r][col] / a[col][col]
			for k := col; k < 9; k++ {
				a[r][k] -= f * a[col][k]
			}
		}
	}
	var h Homography
	for i := 0; i < 8; i++ {
		h[i] = a[i][8] / a[i][i]
	}
	h[8] = 1
	return h
}
