package decode

import (
	"errors"
	"math"
	"math/bits"
	"sort"

	"github.com/makiuchi-d/gozxing"
	"github.com/makiuchi-d/gozxing/common"
	multidetector "github.com/makiuchi-d/gozxing/multi/qrcode/detector"
	"github.com/makiuchi-d/gozxing/qrcode/detector"
)

// The row scans of ZXing's finder-pattern search (FinderPatternFinder.Find
// and MultiFinderPatternFinder.FindMulti), run over the runs of each row's
// bit words instead of pixel by pixel: the same state machine, the same
// calls into gozxing for the cross checks and the selection, the same
// candidates, at a fraction of the cost (the row scans were a third of the
// first round's time).

// rowRuns walks the runs of one matrix row.
type rowRuns struct {
	words []uint32
	n     int
}

// next returns the end of the run that starts at j (its colour is that of
// pixel j).
func (r rowRuns) next(j int, black bool) int {
	for j < r.n {
		k := j >> 5
		w := r.words[k]
		if black {
			w = ^w
		}
		if w >>= uint(j & 31); w != 0 {
			return min(j+bits.TrailingZeros32(w), r.n)
		}
		j = (k + 1) << 5
	}
	return r.n
}

func (r rowRuns) black(j int) bool { return r.words[j>>5]>>uint(j&31)&1 != 0 }

// finderState is the five-run state machine of the finder-pattern scan:
// counts of the runs dark, light, dark, light, dark, and which is current.
type finderState struct {
	count [5]int
	state int
}

func (s *finderState) clear() { *s = finderState{} }

func (s *finderState) shift2() {
	s.count = [5]int{s.count[2], s.count[3], s.count[4], 1, 0}
	s.state = 3
}

// cross is FinderPatternFinder_foundPatternCross without the call: it runs
// at every light run that ends five runs. ZXing's test |total/7 − c| <
// total/14 (three times both sides for the centre run) is made exact in
// integers, multiplied by 14: |2·total − 14c| < total. The float version
// gives the same verdicts: the two sides never come closer than 1/14
// unless total/7 is exact (see TestFinderCrossExact).
func (s *finderState) cross() bool {
	c := &s.count
	if c[0] == 0 || c[1] == 0 || c[2] == 0 || c[3] == 0 || c[4] == 0 {
		return false
	}
	total := c[0] + c[1] + c[2] + c[3] + c[4]
	if total < 7 {
		return false
	}
	t2 := 2 * total
	return absInt(t2-14*c[0]) < total &&
		absInt(t2-14*c[1]) < total &&
		absInt(3*t2-14*c[2]) < 3*total &&
		absInt(t2-14*c[3]) < total &&
		absInt(t2-14*c[4]) < total
}

func absInt(v int) int {
	if v < 0 {
		return -v
	}
	return v
}

// run adds a run of length n; for a light run that ends a candidate
// (state 4) it returns true before counting anything, and the caller
// decides with candidateDone.
func (s *finderState) run(black bool, n int) bool {
	switch {
	case black:
		if s.state&1 == 1 {
			s.state++
		}
		s.count[s.state] += n
	case s.state&1 == 1:
		s.count[s.state] += n
	case s.state == 4:
		return true
	default:
		s.state++
		s.count[s.state] += n
	}
	return false
}

// candidateDone finishes the light run of length n that ended a candidate:
// after a confirmed centre the counts restart (its first pixel is not
// counted, as in ZXing); after a rejected one they shift by two.
func (s *finderState) candidateDone(confirmed bool, n int) {
	if confirmed {
		s.clear()
		if n > 1 {
			s.state = 1
			s.count[1] = n - 1
		}
		return
	}
	s.shift2()
	s.count[3] += n - 1
}

func rowOf(m *gozxing.BitMatrix, y int, ba *gozxing.BitArray) rowRuns {
	ba = m.GetRow(y, ba)
	return rowRuns{words: ba.GetBitArray(), n: m.GetWidth()}
}

func skipOf(height int, tryHarder bool) int {
	iSkip := (3 * height) / (4 * detector.FinderPatternFinder_MAX_MODULES)
	if iSkip < detector.FinderPatternFinder_MIN_SKIP || tryHarder {
		iSkip = detector.FinderPatternFinder_MIN_SKIP
	}
	return iSkip
}

// findSingle is FinderPatternFinder.Find (without hints) with the row scan
// done run by run. It returns the finder, whose possible centres the loose
// triples use, and ZXing's triple, if any.
func findSingle(m *gozxing.BitMatrix) (*detector.FinderPatternFinder, *detector.FinderPatternInfo, error) {
	f := detector.NewFinderPatternFinder(m, nil)
	maxI, maxJ := m.GetHeight(), m.GetWidth()
	iSkip := skipOf(maxI, false)
	ba := gozxing.NewBitArray(maxJ)
	done, hasSkipped := false, false
	for i := iSkip - 1; i < maxI && !done; i += iSkip {
		row := rowOf(m, i, ba)
		var s finderState
		stopRow := false
		for j := 0; j < maxJ && !stopRow; {
			black := row.black(j)
			e := row.next(j, black)
			if s.run(black, e-j) {
				confirmed := s.cross() && f.HandlePossibleCenter(s.count[:], i, j)
				if confirmed {
					iSkip = 2
					if hasSkipped {
						done = f.HaveMultiplyConfirmedCenters()
					} else {
						// FindRowSkip sets the finder's hasSkipped when it
						// sees two confirmed centres.
						hasSkipped = confirmedCenters(f) >= 2
						if rowSkip := f.FindRowSkip(); rowSkip > s.count[2] {
							i += rowSkip - s.count[2] - iSkip
							stopRow = true
						}
					}
				}
				s.candidateDone(confirmed, e-j)
			}
			j = e
		}
		if !stopRow && s.cross() && f.HandlePossibleCenter(s.count[:], i, maxJ) {
			iSkip = s.count[0]
			if hasSkipped {
				done = f.HaveMultiplyConfirmedCenters()
			}
		}
	}
	if len(f.GetPossibleCenters()) > maxSingleCenters {
		// Many symbols (or texture): ZXing's selection of one triple is
		// cubic in the candidates, and the many-symbol search reads them.
		return f, nil, errManyCenters
	}
	fps, err := f.SelectBestPatterns()
	if err != nil {
		return f, nil, err
	}
	bl, tl, tr := gozxing.ResultPoint_OrderBestPatterns(fps[0], fps[1], fps[2])
	return f, detector.NewFinderPatternInfo(bl.(*detector.FinderPattern), tl.(*detector.FinderPattern), tr.(*detector.FinderPattern)), nil
}

// maxSingleCenters is the most finder-pattern candidates for which
// findSingle selects ZXing's one triple.
const maxSingleCenters = 2 * maxMultiCenters

var errManyCenters = errors.New("decode: too many finder-pattern candidates for one symbol")

func confirmedCenters(f *detector.FinderPatternFinder) int {
	cs := f.GetPossibleCenters()
	if len(cs) <= 1 {
		return 0
	}
	n := 0
	for _, c := range cs {
		if c.GetCount() >= detector.FinderPatternFinder_CENTER_QUORUM {
			n++
		}
	}
	return n
}

// detectMulti is MultiDetector.DetectMulti with the row scan of
// MultiFinderPatternFinder.FindMulti done run by run.
func detectMulti(m *gozxing.BitMatrix, tryHarder bool) []*common.DetectorResult {
	return processTriples(m, selectMultipleBestPatterns(multiCenters(m, skipOf(m.GetHeight(), tryHarder))))
}

// processTriples runs ZXing's detector (alignment search and sampling) on
// each triple, keeping those it can sample.
func processTriples(m *gozxing.BitMatrix, triples [][3]*detector.FinderPattern) []*common.DetectorResult {
	det := detector.NewDetector(m)
	var out []*common.DetectorResult
	for _, p := range triples {
		bl, tl, tr := gozxing.ResultPoint_OrderBestPatterns(p[0], p[1], p[2])
		info := detector.NewFinderPatternInfo(bl.(*detector.FinderPattern), tl.(*detector.FinderPattern), tr.(*detector.FinderPattern))
		if r, err := det.ProcessFinderPatternInfo(info); err == nil {
			out = append(out, r)
		}
	}
	return out
}

// multiCenters is the row scan of MultiFinderPatternFinder.FindMulti, run
// by run: every finder-pattern candidate of m, scanning every iSkip-th row
// (skipOf gives ZXing's choice).
func multiCenters(m *gozxing.BitMatrix, iSkip int) []*detector.FinderPattern {
	f := detector.NewFinderPatternFinder(m, nil)
	maxI, maxJ := m.GetHeight(), m.GetWidth()
	ba := gozxing.NewBitArray(maxJ)
	for i := iSkip - 1; i < maxI; i += iSkip {
		row := rowOf(m, i, ba)
		var s finderState
		for j := 0; j < maxJ; {
			black := row.black(j)
			e := row.next(j, black)
			if s.run(black, e-j) {
				s.candidateDone(s.cross() && f.HandlePossibleCenter(s.count[:], i, j), e-j)
			}
			j = e
		}
		if s.cross() {
			f.HandlePossibleCenter(s.count[:], i, maxJ)
		}
	}
	return f.GetPossibleCenters()
}

// selectMultipleBestPatterns is gozxing's (unexported)
// MultiFinderPatternFinder.selectMultipleBestPatterns (Apache-2.0): every
// triple of candidates with module sizes within 5% (or half a pixel), 9 to
// 180 modules a side, legs within 10% and a right angle within 10%.
func selectMultipleBestPatterns(cs []*detector.FinderPattern) [][3]*detector.FinderPattern {
	size := len(cs)
	if size < 3 {
		return nil
	}
	if size == 3 {
		return [][3]*detector.FinderPattern{{cs[0], cs[1], cs[2]}}
	}
	sort.Slice(cs, multidetector.ModuleSizeComparator(cs))
	apart := func(a, b *detector.FinderPattern) bool {
		ma, mb := a.GetEstimatedModuleSize(), b.GetEstimatedModuleSize()
		return math.Abs(ma-mb) > multidetector.DIFF_MODSIZE_CUTOFF && (ma-mb)/math.Min(ma, mb) >= multidetector.DIFF_MODSIZE_CUTOFF_PERCENT
	}
	var out [][3]*detector.FinderPattern
	for i1 := 0; i1 < size-2; i1++ {
		p1 := cs[i1]
		for i2 := i1 + 1; i2 < size-1; i2++ {
			p2 := cs[i2]
			if apart(p1, p2) {
				break
			}
			for i3 := i2 + 1; i3 < size; i3++ {
				p3 := cs[i3]
				if apart(p2, p3) {
					break
				}
				bl, tl, tr := gozxing.ResultPoint_OrderBestPatterns(p1, p2, p3)
				dA := gozxing.ResultPoint_Distance(tl, bl)
				dC := gozxing.ResultPoint_Distance(tr, bl)
				dB := gozxing.ResultPoint_Distance(tl, tr)
				modules := (dA + dB) / (p1.GetEstimatedModuleSize() * 2.0)
				if modules > multidetector.MAX_MODULE_COUNT_PER_EDGE || modules < multidetector.MIN_MODULE_COUNT_PER_EDGE {
					continue
				}
				if math.Abs((dA-dB)/math.Min(dA, dB)) >= 0.1 {
					continue
				}
				dCpy := math.Sqrt(dA*dA + dB*dB)
				if math.Abs((dC-dCpy)/math.Min(dC, dCpy)) >= 0.1 {
					continue
				}
				out = append(out, [3]*detector.FinderPattern{bl.(*detector.FinderPattern), tl.(*detector.FinderPattern), tr.(*detector.FinderPattern)})
			}
		}
	}
	return out
}
