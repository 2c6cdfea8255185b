package decode

import (
	"fmt"
	"testing"

	"github.com/makiuchi-d/gozxing"
	"github.com/makiuchi-d/gozxing/common"
	multidetector "github.com/makiuchi-d/gozxing/multi/qrcode/detector"
	zxdecoder "github.com/makiuchi-d/gozxing/qrcode/decoder"
	"github.com/makiuchi-d/gozxing/qrcode/detector"
)

// TestFinderMatchesGozxing checks that the run-by-run row scans find the
// same finder-pattern candidates and triples as gozxing's pixel-by-pixel
// Find and DetectMulti, on scenes with several codes, noise and blur, in
// both polarities.
func TestFinderMatchesGozxing(t *testing.T) {
	t.Parallel()
	mods, _, _ := symbolOf(t, "PAD-V0100-L2025-09-00001", zxdecoder.ErrorCorrectionLevel_M)
	var bz binarizer
	for i, ms := range []float64{2.2, 3, 4.5} {
		s := newScene(420, 333)
		s.add(mods, placement(len(mods), ms, 110, 100, 12))
		s.add(mods, placement(len(mods), ms*0.9, 300, 220, -31))
		img := s.render()
		addNoise(img, 30, uint32(i+1))
		if i == 2 {
			img = boxBlur(img, 1)
		}
		g := grayOf(img)
		for _, inverted := range []bool{false, true} {
			m, err := bz.hybrid(g, inverted)
			if err != nil {
				t.Fatal(err)
			}
			f := detector.NewFinderPatternFinder(m, nil)
			info, err := f.Find(nil)
			f2, info2, err2 := findSingle(m)
			want, got := finderString(f.GetPossibleCenters()), finderString(f2.GetPossibleCenters())
			if err == nil && err2 == nil {
				want += finderString([]*detector.FinderPattern{info.GetTopLeft(), info.GetTopRight(), info.GetBottomLeft()})
				got += finderString([]*detector.FinderPattern{info2.GetTopLeft(), info2.GetTopRight(), info2.GetBottomLeft()})
			}
			if want != got || (err == nil) != (err2 == nil) {
				t.Errorf("scene %d inverted=%v: single finder %s, gozxing %s", i, inverted, got, want)
			}
			for _, tryHarder := range []bool{false, true} {
				var h map[gozxing.DecodeHintType]interface{}
				if tryHarder {
					h = map[gozxing.DecodeHintType]interface{}{gozxing.DecodeHintType_TRY_HARDER: true}
				}
				rs, _ := multidetector.NewMultiDetector(m).DetectMulti(h)
				if want, got := resultsString(rs), resultsString(detectMulti(m, tryHarder)); want != got {
					t.Errorf("scene %d inverted=%v tryHarder=%v: multi %s, gozxing %s", i, inverted, tryHarder, got, want)
				}
			}
		}
	}
}

func finderString(cs []*detector.FinderPattern) string {
	s := ""
	for _, c := range cs {
		s += fmt.Sprintf("(%.3f,%.3f,%.3f,%d)", c.GetX(), c.GetY(), c.GetEstimatedModuleSize(), c.GetCount())
	}
	return s
}

func resultsString(rs []*common.DetectorResult) string {
	s := ""
	for _, r := range rs {
		for _, p := range r.GetPoints() {
			s += fmt.Sprintf("(%.3f,%.3f)", p.GetX(), p.GetY())
		}
		s += fmt.Sprint(r.GetBits().GetHeight(), ";")
	}
	return s
}

// TestFinderCrossExact checks finderState.cross, in integers, against
// gozxing's float foundPatternCross on every run-length pattern with runs
// of up to 24 pixels (and a sample of longer ones).
func TestFinderCrossExact(t *testing.T) {
	t.Parallel()
	var s finderState
	check := func(c [5]int) {
		s.count = c
		if got, want := s.cross(), detector.FinderPatternFinder_foundPatternCross(c[:]); got != want {
			t.Fatalf("%v: %v, want %v", c, got, want)
		}
	}
	const n = 25
	for a := 0; a < n; a++ {
		for b := 0; b < n; b++ {
			for c := 0; c < 3*n; c++ {
				for d := 0; d < n; d++ {
					for e := 0; e < n; e++ {
						if c < n || (a+b+d+e)%7 == 0 {
							check([5]int{a, b, c, d, e})
						}
					}
				}
			}
		}
	}
	for m := 1; m < 400; m += 7 {
		for k := -m; k <= m; k++ {
			check([5]int{m, m, 3*m + k, m, m})
			check([5]int{m + k/2, m, 3 * m, m, m - k/3})
		}
	}
}
