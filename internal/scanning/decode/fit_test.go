package decode

import "testing"

// TestFitScoreSamples checks the samples of fitScore, which inlines the
// homography and the bilinear interpolation, against Homography.Apply and
// gray.at exactly, on random grids that run partly off the plane.
func TestFitScoreSamples(t *testing.T) {
	t.Parallel()
	l := &gray{w: 97, h: 61, pix: make([]byte, 97*61), scale: 1}
	rnd := uint64(7)
	next := func() float64 {
		rnd = rnd*6364136223846793005 + 1442695040888963407
		return float64(rnd>>11) / (1 << 53)
	}
	for i := range l.pix {
		l.pix[i] = byte(next() * 256)
	}
	for _, d := range []int{21, 25, 45} {
		fp := functionPatterns(d)
		vals := make([]float64, len(fp))
		fd := float64(d)
		for k := range 2000 {
			var cs []corr
			for _, m := range []Point2f{{3.5, 3.5}, {fd - 3.5, 3.5}, {3.5, fd - 3.5}, {fd - 3.5, fd - 3.5}} {
				cs = append(cs, corr{m, Point2f{next()*140 - 20, next()*100 - 20}})
			}
			h := fitHomography(cs)
			fitScore(l, h, fp, k%2 == 0, vals)
			for i, f := range fp {
				p := h.Apply(float64(f.x)+0.5, float64(f.y)+0.5)
				want, ok := l.at(p.X, p.Y)
				if !ok {
					want = -1
				}
				if vals[i] != want && !(vals[i] != vals[i] && want != want) {
					t.Fatalf("d=%d grid %d module %v: %v, want %v", d, k, f, vals[i], want)
				}
			}
		}
	}
}
