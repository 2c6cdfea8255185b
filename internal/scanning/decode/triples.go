package decode

import (
	"math"
	"sort"

	"github.com/makiuchi-d/gozxing/qrcode/detector"
)

// maxTripleCenters bounds the finder-pattern candidates combined into
// triples (C(8,3) = 56 triples at most).
const maxTripleCenters = 8

// looseTriples forms finder-pattern triples from candidate centres that
// ZXing's selection refused. ZXing wants the three module sizes within
// about 40% of each other; a symbol seen at an angle has a near finder
// pattern much larger than its far ones. Triples are kept when their
// geometry is that of a QR symbol in perspective: legs at 25-155 degrees
// (beyond 45-135 only the corner search of decodeLoose reads them), leg
// lengths within a factor of two, module sizes within a factor of 2.5.
func looseTriples(centers []*detector.FinderPattern) []*detector.FinderPatternInfo {
	cs := mostConfirmed(centers, maxTripleCenters)
	var out []*detector.FinderPatternInfo
	for i := 0; i < len(cs); i++ {
		for j := i + 1; j < len(cs); j++ {
			for k := j + 1; k < len(cs); k++ {
				// ZXing takes the top-left pattern to be the one
				// opposite the longest side, which perspective can make
				// the wrong one: try each as the corner.
				t := [3]*detector.FinderPattern{cs[i], cs[j], cs[k]}
				for corner := 0; corner < 3; corner++ {
					out = appendTriple(out, t[corner], t[(corner+1)%3], t[(corner+2)%3])
				}
			}
		}
	}
	return out
}

// mostConfirmed returns the (at most) n candidates of centers confirmed
// most often, in that order, in a new slice.
func mostConfirmed(centers []*detector.FinderPattern, n int) []*detector.FinderPattern {
	cs := append([]*detector.FinderPattern(nil), centers...)
	sort.SliceStable(cs, func(i, j int) bool { return cs[i].GetCount() > cs[j].GetCount() })
	if len(cs) > n {
		cs = cs[:n]
	}
	return cs
}

// appendTriple appends to out the triple of top-left pattern tl, bl and tr
// (these two swapped when need be: top-right is clockwise from bottom-left
// around the top-left, image y growing downwards) when its geometry is
// plausible.
func appendTriple(out []*detector.FinderPatternInfo, tl, bl, tr *detector.FinderPattern) []*detector.FinderPatternInfo {
	if cross(tl, tr, bl) < 0 {
		bl, tr = tr, bl
	}
	if plausibleTriple(bl, tl, tr) {
		out = append(out, detector.NewFinderPatternInfo(bl, tl, tr))
	}
	return out
}

// cross is the z component of (b-a)×(c-a).
func cross(a, b, c *detector.FinderPattern) float64 {
	return (b.GetX()-a.GetX())*(c.GetY()-a.GetY()) - (b.GetY()-a.GetY())*(c.GetX()-a.GetX())
}

func plausibleTriple(bl, tl, tr *detector.FinderPattern) bool {
	ms := []float64{bl.GetEstimatedModuleSize(), tl.GetEstimatedModuleSize(), tr.GetEstimatedModuleSize()}
	lo, hi := min(ms[0], ms[1], ms[2]), max(ms[0], ms[1], ms[2])
	if lo <= 0 || hi/lo > 2.5 {
		return false
	}
	ux, uy := tr.GetX()-tl.GetX(), tr.GetY()-tl.GetY()
	vx, vy := bl.GetX()-tl.GetX(), bl.GetY()-tl.GetY()
	lu, lv := math.Hypot(ux, uy), math.Hypot(vx, vy)
	if lu == 0 || lv == 0 || max(lu, lv)/min(lu, lv) > 2 {
		return false
	}
	cos := (ux*vx + uy*vy) / (lu * lv)
	if math.Abs(cos) > math.Cos(25*math.Pi/180) {
		return false
	}
	// 14 to 170 modules between finder centres (versions 1 to 40), with
	// room for the module-size estimates being off.
	mean := (ms[0] + ms[1] + ms[2]) / 3
	modules := (lu + lv) / 2 / mean
	return modules > 7 && modules < 250
}

// maxPairCenters bounds the finder-pattern candidates paired by pairTriples.
const maxPairCenters = 6

// pairTriples completes pairs of finder patterns into triples by putting the
// missing third where it must be if the pair is the top edge, the left edge
// or the diagonal of a square symbol, on either side. A finder pattern lost
// to compression, glare or damage then no longer loses the symbol: the
// grid fit and Reed-Solomon decide which guess, if any, is right.
func pairTriples(centers []*detector.FinderPattern) []*detector.FinderPatternInfo {
	cs := mostConfirmed(centers, maxPairCenters)
	var out []*detector.FinderPatternInfo
	for i := 0; i < len(cs); i++ {
		for j := i + 1; j < len(cs); j++ {
			p, q := cs[i], cs[j]
			mp, mq := p.GetEstimatedModuleSize(), q.GetEstimatedModuleSize()
			if max(mp, mq)/min(mp, mq) > 2 {
				continue
			}
			ms := (mp + mq) / 2
			dx, dy := q.GetX()-p.GetX(), q.GetY()-p.GetY()
			if dist := math.Hypot(dx, dy) / ms; dist < 10 || dist > 250 {
				continue
			}
			at := func(x, y float64) *detector.FinderPattern { return detector.NewFinderPattern1(x, y, ms) }
			for _, s := range []float64{1, -1} {
				// p–q an edge with the corner at p or at q, the third
				// pattern at a right angle; or p–q the diagonal, the
				// corner off its midpoint.
				hyps := [][3]*detector.FinderPattern{
					{p, q, at(p.GetX()-s*dy, p.GetY()+s*dx)},
					{q, p, at(q.GetX()-s*dy, q.GetY()+s*dx)},
					{at((p.GetX()+q.GetX())/2-s*dy/2, (p.GetY()+q.GetY())/2+s*dx/2), p, q},
				}
				for _, h := range hyps {
					out = appendTriple(out, h[0], h[2], h[1])
				}
			}
		}
	}
	return out
}
