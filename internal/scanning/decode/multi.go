package decode

import (
	"math"
	"sort"

	"github.com/makiuchi-d/gozxing"
	"github.com/makiuchi-d/gozxing/qrcode/detector"
)

// Many codes in one photo (a label sheet, a tray of parts) give the finder
// search hundreds of candidates. ZXing's multi-symbol selection tries every
// combination of three (cubic in the candidates, so it is only run for a
// few dozen) and keeps every triple that passes, many of them made of
// patterns of neighbouring symbols. groupTriples instead combines each
// candidate with its nearest neighbours only, ranks the triples by how
// square they are, and readGroups decodes them best first, dropping the
// patterns of each symbol read, so the triples that borrow them are never
// tried.

// triple is three finder-pattern candidates (indexes into the candidates)
// in the roles bottom-left, top-left, top-right, and how far their geometry
// is from a square symbol's (0 = exactly square).
type triple struct {
	bl, tl, tr int
	score      float64
}

const (
	// groupNeighbours is how many nearest candidates each candidate is
	// combined with.
	groupNeighbours = 10
	// maxGroupCenters bounds the candidates grouped: beyond it the image is
	// texture, and the most confirmed are kept.
	maxGroupCenters = 2000
	// maxStalePasses is how many passes in a row may read no new code of
	// many before the search ends.
	maxStalePasses = 2
	// groupFails is how many failed triples a candidate may be part of
	// before it is no longer tried.
	groupFails = 3
)

// groupTriples returns the plausible symbol triples among cs, best first:
// for each candidate as the top-left pattern, pairs of its nearest
// neighbours of a similar module size at 10 to 200 modules, with legs at
// 70 to 110 degrees and within 40% of each other in length.
func groupTriples(cs []*detector.FinderPattern) []triple {
	type near struct {
		i int
		d float64
	}
	var out []triple
	nb := make([]near, 0, 64)
	for a, pa := range cs {
		ma := pa.GetEstimatedModuleSize()
		if ma <= 0 {
			continue
		}
		nb = nb[:0]
		for b, pb := range cs {
			mb := pb.GetEstimatedModuleSize()
			if b == a || mb <= 0 || max(ma, mb)/min(ma, mb) > 1.5 {
				continue
			}
			d := math.Hypot(pb.GetX()-pa.GetX(), pb.GetY()-pa.GetY())
			if mods := 2 * d / (ma + mb); mods < 10 || mods > 200 {
				continue
			}
			nb = append(nb, near{b, d})
		}
		sort.Slice(nb, func(i, j int) bool { return nb[i].d < nb[j].d })
		if len(nb) > groupNeighbours {
			nb = nb[:groupNeighbours]
		}
		for i := 0; i < len(nb); i++ {
			for j := i + 1; j < len(nb); j++ {
				if t, ok := squareTriple(cs, a, nb[i].i, nb[j].i); ok {
					out = append(out, t)
				}
			}
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].score < out[j].score })
	return out
}

// squareTriple scores the triple with its corner at a and legs to b and c.
func squareTriple(cs []*detector.FinderPattern, a, b, c int) (triple, bool) {
	pa, pb, pc := cs[a], cs[b], cs[c]
	if cross(pa, pb, pc) < 0 {
		// Top-right is clockwise from bottom-left around the top-left.
		b, c = c, b
		pb, pc = pc, pb
	}
	ux, uy := pb.GetX()-pa.GetX(), pb.GetY()-pa.GetY()
	vx, vy := pc.GetX()-pa.GetX(), pc.GetY()-pa.GetY()
	lu, lv := math.Hypot(ux, uy), math.Hypot(vx, vy)
	if lu == 0 || lv == 0 {
		return triple{}, false
	}
	cos := math.Abs(ux*vx+uy*vy) / (lu * lv)
	ratio := max(lu, lv) / min(lu, lv)
	ms := [3]float64{pa.GetEstimatedModuleSize(), pb.GetEstimatedModuleSize(), pc.GetEstimatedModuleSize()}
	spread := max(ms[0], ms[1], ms[2]) / min(ms[0], ms[1], ms[2])
	if cos > 0.35 || ratio > 1.4 || spread > 1.5 {
		return triple{}, false
	}
	// b is the top-right pattern (u runs along the top edge), c the
	// bottom-left.
	return triple{bl: c, tl: a, tr: b, score: cos + (ratio - 1) + (spread - 1)}, true
}

// readGroups decodes the triples of groupTriples(cs) best first, each with
// the given retry stages, skipping triples with a pattern of a code already
// read or one that failed groupFails times.
func (sc *scanner) readGroups(cs []*detector.FinderPattern, m *gozxing.BitMatrix, l *gray, inverted bool, stages retryStages) {
	if len(cs) > maxGroupCenters {
		cs = mostConfirmed(cs, maxGroupCenters)
	}
	used := make([]bool, len(cs))
	fails := make([]int, len(cs))
	at := func(i int) Point2f { return Point2f{cs[i].GetX() * l.scale, cs[i].GetY() * l.scale} }
	for i := range cs {
		used[i] = sc.onFinder(at(i))
	}
	det := detector.NewDetector(m)
	for _, t := range groupTriples(cs) {
		if sc.ctx.Err() != nil {
			break
		}
		idx := [3]int{t.bl, t.tl, t.tr}
		if used[t.bl] || used[t.tl] || used[t.tr] ||
			fails[t.bl] >= groupFails || fails[t.tl] >= groupFails || fails[t.tr] >= groupFails {
			continue
		}
		info := detector.NewFinderPatternInfo(cs[t.bl], cs[t.tl], cs[t.tr])
		r, err := det.ProcessFinderPatternInfo(info)
		if err == nil && covered(sc.found, r, l.scale) {
			for _, i := range idx {
				used[i] = true
			}
			continue
		}
		if err == nil {
			if code, ok := sc.decodeCandidate(r, m, l, inverted, stages); ok {
				sc.add(code)
				for _, i := range idx {
					used[i] = true
				}
				for i := range cs {
					used[i] = used[i] || code.onFinder(at(i))
				}
				continue
			}
		}
		for _, i := range idx {
			fails[i]++
		}
	}
}

// anyUnread reports whether cs (level pixels of l) hold a plausible symbol
// triple none of whose patterns belongs to a code read.
func (sc *scanner) anyUnread(cs []*detector.FinderPattern, l *gray) bool {
	onRead := func(p *detector.FinderPattern) bool {
		return sc.onFinder(Point2f{p.GetX() * l.scale, p.GetY() * l.scale})
	}
	for _, t := range groupTriples(cs) {
		if !onRead(cs[t.bl]) && !onRead(cs[t.tl]) && !onRead(cs[t.tr]) {
			return true
		}
	}
	return false
}

// moreToRead reports whether a photo of many codes (one that readGroups
// ran on) is worth more passes (another binarization or scale): until two
// passes in a row read no new code, they may read the symbols the earlier
// ones missed or did not see.
func (sc *scanner) moreToRead() bool { return sc.many && sc.stale < maxStalePasses }

// medianModule is the median estimated module size of cs (not empty).
func medianModule(cs []*detector.FinderPattern) float64 {
	ms := make([]float64, len(cs))
	for i, c := range cs {
		ms[i] = c.GetEstimatedModuleSize()
	}
	sort.Float64s(ms)
	return ms[len(ms)/2]
}
