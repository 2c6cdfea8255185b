package decode

import (
	"math"

	zxdecoder "github.com/makiuchi-d/gozxing/qrcode/decoder"
)

// funcModule is a module of a symbol's function patterns with its known
// colour.
type funcModule struct {
	x, y int
	dark bool
}

// functionPatterns lists the finder patterns with their separators, the
// timing patterns and the alignment patterns of a d×d symbol: the modules a
// grid fit can be scored on because their colour is known before decoding.
// The slice is shared (built once per dimension): read only.
func functionPatterns(d int) []funcModule {
	return functionPatternsOf.get(d, buildFunctionPatterns)
}

// functionPatternsOf caches functionPatterns by dimension.
var functionPatternsOf = newTableCache[[]funcModule](178)

func buildFunctionPatterns(d int) []funcModule {
	var out []funcModule
	finder := func(ox, oy int) {
		for y := -1; y <= 7; y++ {
			for x := -1; x <= 7; x++ {
				px, py := ox+x, oy+y
				if px < 0 || py < 0 || px >= d || py >= d {
					continue
				}
				in := x >= 0 && x <= 6 && y >= 0 && y <= 6
				ring := x == 0 || x == 6 || y == 0 || y == 6
				core := x >= 2 && x <= 4 && y >= 2 && y <= 4
				out = append(out, funcModule{px, py, in && (ring || core)})
			}
		}
	}
	finder(0, 0)
	finder(d-7, 0)
	finder(0, d-7)
	for i := 8; i < d-8; i++ {
		out = append(out, funcModule{i, 6, i%2 == 0}, funcModule{6, i, i%2 == 0})
	}
	if v, err := zxdecoder.Version_GetVersionForNumber((d - 17) / 4); err == nil {
		for _, c := range alignmentCenters(v) {
			for y := -2; y <= 2; y++ {
				for x := -2; x <= 2; x++ {
					ring := x == -2 || x == 2 || y == -2 || y == 2
					out = append(out, funcModule{c[0] + x, c[1] + y, ring || (x == 0 && y == 0)})
				}
			}
		}
	}
	return out
}

// fitScore measures how well grid h lays the function patterns fp over the
// grey plane: the mean contrast, in the expected direction, between the
// samples and their midpoint. Higher is better.
func fitScore(l *gray, h Homography, fp []funcModule, inverted bool, vals []float64) float64 {
	// h.Apply and gray.at inlined (the same arithmetic): this loop is most
	// of a grid fit's time.
	w, ht, pix := l.w, l.h, l.pix
	fw, fh := float64(w)-0.5, float64(ht)-0.5
	mw, mh := float64(w-1), float64(ht-1)
	var sum float64
	for i, f := range fp {
		mx, my := float64(f.x)+0.5, float64(f.y)+0.5
		d := h[6]*mx + h[7]*my + h[8]
		x := (h[0]*mx+h[1]*my+h[2])/d - 0.5
		y := (h[3]*mx+h[4]*my+h[5])/d - 0.5
		v := -1.0
		if x >= -0.5 && y >= -0.5 && x <= fw && y <= fh {
			// Clamped by comparisons: x and y are not NaN here, and
			// the builtin min and max on floats pay for NaN and the
			// sign of zero.
			if x < 0 {
				x = 0
			} else if x > mw {
				x = mw
			}
			if y < 0 {
				y = 0
			} else if y > mh {
				y = mh
			}
			x0, y0 := int(x), int(y)
			fx, fy := x-float64(x0), y-float64(y0)
			// The four neighbours, the far ones clamped to the edge.
			dx, dy := 1, w
			if x0 >= w-1 {
				dx = 0
			}
			if y0 >= ht-1 {
				dy = 0
			}
			q := pix[y0*w+x0:]
			p01, p10, p11 := q[dx], q[dy], q[dy+dx]
			top := float64(q[0])*(1-fx) + float64(p01)*fx
			bot := float64(p10)*(1-fx) + float64(p11)*fx
			v = top*(1-fy) + bot*fy
		}
		vals[i] = v
		sum += v
	}
	mid := sum / float64(len(fp))
	var s float64
	for i, f := range fp {
		if vals[i] < 0 {
			s -= 128
			continue
		}
		c := mid - vals[i] // positive when darker than the midpoint
		if f.dark == inverted {
			c = -c
		}
		s += c
	}
	return s / float64(len(fp))
}

// fitGrid moves the four correspondences of cs in image space, by coordinate
// descent from half a module down to an eighth, to the homography under
// which the function patterns match the grey image best. It corrects the
// small errors of finder-centre estimates that throw the sampling of small,
// blurred or tilted symbols off by a module at the far corner. A grid that
// still fits badly after the coarse steps is given up.
func fitGrid(l *gray, cs []corr, d int, inverted bool) Homography {
	fp := functionPatterns(d)
	// bestVals holds the samples of the best grid h, vals those of the
	// grid tried: qualityOf needs no new sampling of h.
	vals, bestVals := make([]float64, len(fp)), make([]float64, len(fp))
	pts := append([]corr(nil), cs...)
	h := fitHomography(pts)
	best := fitScore(l, h, fp, inverted, bestVals)
	module := localModuleSize(h, float64(d)/2, float64(d)/2)
	// moves counts the accepted moves; failedAt[i][axis] is moves+1 when
	// both moves of that coordinate last failed with moves at its current
	// count (0: not known to fail). Nothing having moved since, they would
	// fail again, on the same points and the same scores: not re-tried.
	moves := 0
	for step := module / 2; step >= module/8; step /= 2 {
		if step < module/2 && qualityOf(best, bestVals) < minCoarseFit {
			break
		}
		var failedAt [4][2]int
		for improved, rounds := true, 0; improved && rounds < 8; rounds++ {
			if rounds == 2 && step == module/2 && qualityOf(best, bestVals) < minEarlyFit {
				// Far from fitting after two coarse rounds: fits that
				// read were all above 0.4 here.
				return h
			}
			improved = false
			for i := range pts {
				for axis := 0; axis < 2; axis++ {
					if i < len(failedAt) && failedAt[i][axis] == moves+1 {
						continue
					}
					moved := false
					for _, sign := range []float64{1, -1} {
						old := pts[i].p
						if axis == 0 {
							pts[i].p.X += sign * step
						} else {
							pts[i].p.Y += sign * step
						}
						hh := fitHomography(pts)
						if s := fitScore(l, hh, fp, inverted, vals); s > best {
							best, h, improved, moved = s, hh, true, true
							vals, bestVals = bestVals, vals
							moves++
							break
						}
						pts[i].p = old
					}
					if !moved && i < len(failedAt) {
						failedAt[i][axis] = moves + 1
					}
				}
			}
		}
	}
	return h
}

// minCoarseFit is the fit quality (qualityOf) below which a grid fit stops after its
// coarse (half-module) steps: on qr-real and the engraved-mark set every fit
// that read was above 0.83 there, and most that did not were below 0.5.
const minCoarseFit = 0.7

// minEarlyFit is the fit quality (qualityOf) below which a grid fit stops after two
// rounds of coarse steps (fits that read were all above 0.4 there; two
// thirds of those that did not were below 0.25).
const minEarlyFit = 0.25

// qualityOf is the fit quality of a grid of fitScore s with samples vals:
// s normalised by the mean absolute deviation of the samples from their
// midpoint, 1 when every function module lies on the expected side of it,
// 0 for no agreement, whatever the contrast.
func qualityOf(s float64, vals []float64) float64 {
	var sum, n float64
	for _, v := range vals {
		if v >= 0 {
			sum += v
			n++
		}
	}
	if n == 0 {
		return 0
	}
	mid := sum / n
	var dev float64
	for _, v := range vals {
		if v >= 0 {
			dev += math.Abs(v - mid)
		}
	}
	if dev == 0 {
		return 0
	}
	return s / (dev / float64(len(vals)))
}
