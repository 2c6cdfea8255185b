package decode

import (
	"math"

	"github.com/makiuchi-d/gozxing"
)

// cornerRays is the number of directions finderCorners looks along.
const cornerRays = 96

// finderCorners finds the four outer corners of the finder pattern centred
// at c (module size about ms pixels) on the binarized image m (dark: the
// symbol's dark, also for an inverted symbol's negative): along rays
// from the centre it finds the outer edge of the dark ring (dark core, light
// ring, dark ring, light outside) and, in each quadrant of the symbol's
// axes u (towards the top-right pattern) and v (towards the bottom-left
// one), keeps the edge point farthest along that quadrant's diagonal. The
// corners come in the order (−u,−v), (+u,−v), (−u,+v), (+u,+v). Under
// strong perspective these twelve points of the three patterns pin the
// symbol's homography down where their centres and module sizes cannot.
func finderCorners(m *gozxing.BitMatrix, c Point2f, ms float64, u, v Point2f) ([4]Point2f, bool) {
	var corners [4]Point2f
	var best [4]float64
	for i := range best {
		best[i] = math.Inf(-1)
	}
	// Skew coordinates of a point in the frame of the unit axes u, v.
	nu, nv := math.Hypot(u.X, u.Y), math.Hypot(v.X, v.Y)
	if nu == 0 || nv == 0 || ms <= 0 {
		return corners, false
	}
	ux, uy, vx, vy := u.X/nu, u.Y/nu, v.X/nv, v.Y/nv
	det := ux*vy - uy*vx
	if math.Abs(det) < 0.2 {
		return corners, false
	}
	w, h := m.GetWidth(), m.GetHeight()
	dark := func(x, y float64) (bool, bool) {
		xi, yi := int(math.Floor(x)), int(math.Floor(y))
		if xi < 0 || yi < 0 || xi >= w || yi >= h {
			return false, false
		}
		return m.Get(xi, yi), true
	}
	maxR := 12 * ms
	found := 0
	for k := range cornerRays {
		a := 2 * math.Pi * float64(k) / cornerRays
		dx, dy := math.Cos(a), math.Sin(a)
		state := 0 // 0 core, 1 light ring, 2 dark ring
		edge := -1.0
		for r := 0.0; r < maxR; r += 0.5 {
			d, ok := dark(c.X+dx*r, c.Y+dy*r)
			if !ok {
				break
			}
			switch {
			case state == 0 && !d:
				state = 1
			case state == 1 && d:
				state = 2
			case state == 2 && !d:
				edge = r
			}
			if edge >= 0 {
				break
			}
		}
		if edge < 0 {
			continue
		}
		found++
		px, py := dx*edge, dy*edge
		// p = a·û + b·v̂
		ea := (px*vy - py*vx) / det
		eb := (ux*py - uy*px) / det
		for q := range 4 {
			sa, sb := float64(2*(q&1)-1), float64(2*(q>>1)-1)
			if score := sa*ea + sb*eb; score > best[q] && ea*sa > 0 && eb*sb > 0 {
				best[q] = score
				corners[q] = Point2f{c.X + px, c.Y + py}
			}
		}
	}
	if found < cornerRays/2 {
		return corners, false
	}
	for _, b := range best {
		if math.IsInf(b, -1) {
			return corners, false
		}
	}
	return corners, true
}

// triangleCorners finds the outer corners of the three finder patterns
// (top-left, top-right, bottom-left) of a triple, or reports false when a
// pattern's corners cannot be found.
func triangleCorners(m *gozxing.BitMatrix, finders [3]Point2f, sizes [3]float64) ([3][4]Point2f, bool) {
	tl, tr, bl := finders[0], finders[1], finders[2]
	u := Point2f{tr.X - tl.X, tr.Y - tl.Y}
	v := Point2f{bl.X - tl.X, bl.Y - tl.Y}
	var out [3][4]Point2f
	for i, f := range finders {
		corners, ok := finderCorners(m, f, sizes[i], u, v)
		if !ok {
			return out, false
		}
		out[i] = corners
	}
	return out, true
}

// cornerGrid is the correspondences of a d×d symbol's three finder centres
// and their outer corners.
func cornerGrid(finders [3]Point2f, corners [3][4]Point2f, d int) []corr {
	fd := float64(d)
	origins := [3]Point2f{{0, 0}, {fd - 7, 0}, {0, fd - 7}}
	cs := make([]corr, 0, 15)
	for i, f := range finders {
		o := origins[i]
		cs = append(cs, corr{Point2f{o.X + 3.5, o.Y + 3.5}, f})
		for q, p := range corners[i] {
			cs = append(cs, corr{Point2f{o.X + 7*float64(q&1), o.Y + 7*float64(q>>1)}, p})
		}
	}
	return cs
}

// cornerRead reads a triple whose grid comes from its finder patterns'
// corners (cornerGrid), for each dimension of dims: sampled as fitted, then
// refitted to the alignment patterns, then to all function patterns.
func cornerRead(m *gozxing.BitMatrix, l *gray, finders [3]Point2f, sizes [3]float64, dims [2]int, inverted bool) (*symbol, Homography, int, bool) {
	corners, ok := triangleCorners(m, finders, sizes)
	if !ok {
		return nil, Homography{}, 0, false
	}
	for _, d := range dims {
		if d < 21 || d > 177 {
			continue
		}
		cs := cornerGrid(finders, corners, d)
		h := fitHomography(cs)
		if s, err := sampleAndRead(m, h, d); err == nil {
			return s, h, d, true
		}
		if s, h, err := readRefined(m, l, h, cs, d, inverted, refitAll); err == nil {
			return s, h, d, true
		}
	}
	return nil, Homography{}, 0, false
}

// perspectiveOf tells how steeply a finder triple's symbol is seen: strong
// when its module sizes are more than 1.6 times apart or its legs meet at
// less than 45 or more than 135 degrees, and steep in the latter case. Only
// strong triples are worth the corner search (for the others the finder
// centres place the grid), and only the corner search reads steep ones.
func perspectiveOf(finders [3]Point2f, sizes [3]float64) (strong, steep bool) {
	tl, tr, bl := finders[0], finders[1], finders[2]
	ux, uy, vx, vy := tr.X-tl.X, tr.Y-tl.Y, bl.X-tl.X, bl.Y-tl.Y
	cos := (ux*vx + uy*vy) / (math.Hypot(ux, uy) * math.Hypot(vx, vy))
	steep = math.Abs(cos) > math.Cos(45*math.Pi/180)
	lo, hi := min(sizes[0], sizes[1], sizes[2]), max(sizes[0], sizes[1], sizes[2])
	return steep || lo > 0 && hi/lo > 1.6, steep
}
