package grade_test

import (
	"context"
	"image"
	"math"
	"strings"
	"testing"

	"github.com/qrmfg/qrmfg/internal/qr"
	"github.com/qrmfg/qrmfg/internal/scanning/decode"
	"github.com/qrmfg/qrmfg/internal/scanning/grade"
)

const payload = "PAD-V0100-L2025-09-00042"

// scene describes a synthetic photo of a symbol: grey levels, size, and an
// optional warp from image pixels back to module coordinates.
type scene struct {
	dark, light float64
	module      float64 // pixels per module
	quiet       int
	stretchX    float64                       // horizontal scale of the whole symbol (1 = none)
	keystone    float64                       // perspective: relative width change from the top edge to the bottom
	wave        float64                       // sideways shift of each row by wave·sin(2π·row/size), in modules
	tilt        float64                       // true perspective: x' = x/(1+tilt·x/width), a homography
	damage      func(m *qr.Matrix) *qr.Matrix // module damage before rendering
	level       qr.Level
}

func baseScene() scene {
	return scene{dark: 20, light: 235, module: 8, quiet: 4, stretchX: 1, level: qr.M}
}

func render(t testing.TB, sc scene) (image.Image, *qr.Matrix) {
	t.Helper()
	sym, err := qr.Encode(payload, qr.Options{Level: sc.level})
	if err != nil {
		t.Fatal(err)
	}
	m := sym.Matrix
	if sc.damage != nil {
		m = sc.damage(m)
	}
	n := m.Size()
	total := float64(n + 2*sc.quiet)
	w := int(math.Ceil(total * sc.module * sc.stretchX))
	h := int(math.Ceil(total * sc.module))
	img := image.NewGray(image.Rect(0, 0, w, h))
	const ss = 3
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			var acc float64
			for j := 0; j < ss; j++ {
				for i := 0; i < ss; i++ {
					px := (float64(x) + (float64(i)+0.5)/ss) / (sc.module * sc.stretchX)
					py := (float64(y) + (float64(j)+0.5)/ss) / sc.module
					v := py - float64(sc.quiet)
					c := total / 2
					px = c + (px-c)/(1+sc.keystone*(py-c)/total)
					px -= sc.wave * math.Sin(2*math.Pi*v/float64(n))
					if sc.tilt != 0 { // inverse of x' = x/(1+tilt·x/total), y' = y/(1+tilt·x/total)
						px, py = px/(1-sc.tilt*px/total), py/(1-sc.tilt*px/total)
						v = py - float64(sc.quiet)
					}
					u := int(math.Floor(px)) - sc.quiet
					vv := int(math.Floor(v))
					if m.Dark(u, vv) {
						acc += sc.dark
					} else {
						acc += sc.light
					}
				}
			}
			img.Pix[y*img.Stride+x] = uint8(math.Round(acc / (ss * ss)))
		}
	}
	return img, m
}

func measure(t testing.TB, sc scene) grade.MarkGrade {
	t.Helper()
	img, _ := render(t, sc)
	codes, err := decode.Image(context.Background(), img, decode.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	if len(codes) != 1 || codes[0].Text != payload {
		t.Fatalf("decoded %d codes, want the one symbol", len(codes))
	}
	r, err := grade.Measure(img, codes[0])
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestCleanRenderGradesA(t *testing.T) {
	t.Parallel()
	r := measure(t, baseScene())
	if r.Overall != 4 || r.Letter != "A" {
		t.Fatalf("clean render graded %s (%d): %+v", r.Letter, r.Overall, r)
	}
	if r.SC.Value < 0.8 || r.UEC.Value != 1 || r.FPD.Value != 0 || r.AN.Value > 0.02 || r.GN.Value > 0.1 {
		t.Errorf("clean render measured %+v", r)
	}
}

func TestInvertedCleanRenderGradesA(t *testing.T) {
	t.Parallel()
	sc := baseScene()
	sc.dark, sc.light = 235, 20
	r := measure(t, sc)
	if r.Overall != 4 {
		t.Fatalf("inverted clean render graded %s: %+v", r.Letter, r)
	}
}

// monotone checks that values move in one direction and grades never improve
// along the series, and that the series spans at least two grades.
func monotone(t *testing.T, name string, values []float64, grades []int, increasing bool) {
	t.Helper()
	for i := 1; i < len(values); i++ {
		if increasing && values[i] < values[i-1]-1e-9 || !increasing && values[i] > values[i-1]+1e-9 {
			t.Errorf("%s values not monotone: %v", name, values)
		}
		if grades[i] > grades[i-1] {
			t.Errorf("%s grades improved along the series: %v", name, grades)
		}
	}
	if grades[0] == grades[len(grades)-1] {
		t.Errorf("%s grade did not move: %v (values %v)", name, grades, values)
	}
}

func TestContrastLowersSC(t *testing.T) {
	t.Parallel()
	var sc, overall []float64
	var scG, ovG []int
	for _, c := range []float64{215, 160, 120, 80, 40} {
		s := baseScene()
		s.dark, s.light = 128-c/2, 128+c/2
		r := measure(t, s)
		sc = append(sc, r.SC.Value)
		scG = append(scG, r.SC.Grade)
		overall = append(overall, float64(r.Overall))
		ovG = append(ovG, r.Overall)
		if r.MOD.Grade != 4 || r.UEC.Grade != 4 || r.FPD.Grade != 4 {
			t.Errorf("contrast %v moved another parameter: %+v", c, r)
		}
	}
	monotone(t, "SC", sc, scG, false)
	monotone(t, "overall", overall, ovG, false)
	if scG[0] != 4 || scG[len(scG)-1] != 0 {
		t.Errorf("SC grades %v should run from A to F", scG)
	}
}

// flip returns a damage function that inverts the given modules.
func flip(mods [][2]int) func(*qr.Matrix) *qr.Matrix {
	return func(m *qr.Matrix) *qr.Matrix {
		n := m.Size()
		out := qr.NewMatrix(n)
		for y := 0; y < n; y++ {
			for x := 0; x < n; x++ {
				out.Set(x, y, m.Dark(x, y))
			}
		}
		for _, p := range mods {
			out.Set(p[0], p[1], !m.Dark(p[0], p[1]))
		}
		return out
	}
}

func TestDataDamageLowersUEC(t *testing.T) {
	t.Parallel()
	// 2×2 module spots in the data region, added one after the other.
	var spots [][2]int
	var uec []float64
	var grades []int
	for k := 0; k <= 4; k++ {
		if k > 0 {
			x0, y0 := 9+2*(k-1), 12
			spots = append(spots, [2]int{x0, y0}, [2]int{x0 + 1, y0}, [2]int{x0, y0 + 1}, [2]int{x0 + 1, y0 + 1})
		}
		s := baseScene()
		s.level = qr.Q
		s.damage = flip(append([][2]int(nil), spots...))
		r := measure(t, s)
		uec = append(uec, r.UEC.Value)
		grades = append(grades, r.UEC.Grade)
		if r.FPD.Grade != 4 || r.SC.Grade != 4 {
			t.Errorf("data damage moved FPD or SC: %+v", r)
		}
		if r.Overall > r.UEC.Grade {
			t.Errorf("overall %d above UEC %d", r.Overall, r.UEC.Grade)
		}
	}
	monotone(t, "UEC", uec, grades, false)
	for i := 1; i < len(uec); i++ {
		if uec[i] >= uec[i-1] {
			t.Errorf("UEC did not drop with more damage: %v", uec)
		}
	}
}

func TestFinderDamageLowersFPD(t *testing.T) {
	t.Parallel()
	var fpd []float64
	var grades []int
	var spots [][2]int
	for k := 0; k <= 4; k++ {
		if k > 0 {
			// The corners of the top-left finder, off the rows and columns
			// through its centre that the detector checks.
			spots = append(spots, [4][2]int{{0, 0}, {6, 0}, {0, 6}, {6, 6}}[k-1])
		}
		s := baseScene()
		s.damage = flip(append([][2]int(nil), spots...))
		r := measure(t, s)
		fpd = append(fpd, r.FPD.Value)
		grades = append(grades, r.FPD.Grade)
	}
	monotone(t, "FPD", fpd, grades, true)
	if grades[0] != 4 || grades[4] != 0 {
		t.Errorf("FPD grades %v should run from A to F", grades)
	}
}

func TestStretchLowersAN(t *testing.T) {
	t.Parallel()
	var an []float64
	var grades []int
	for _, k := range []float64{1, 1.05, 1.09, 1.13, 1.2} {
		s := baseScene()
		s.stretchX = k
		r := measure(t, s)
		an = append(an, r.AN.Value)
		grades = append(grades, r.AN.Grade)
		if r.GN.Grade < 3 {
			t.Errorf("uniform stretch %v gave a grid non-uniformity %+v", k, r.GN)
		}
	}
	monotone(t, "AN", an, grades, true)
	if grades[0] != 4 || grades[len(grades)-1] != 0 {
		t.Errorf("AN grades %v should run from A to F", grades)
	}
}

// TestKeystoneLowersGN narrows the symbol towards the top (each row scaled
// about the centre, a distortion no homography follows): the measured
// module edges leave the fitted grid further and further.
func TestKeystoneLowersGN(t *testing.T) {
	t.Parallel()
	var gn []float64
	var grades []int
	for _, k := range []float64{0, 0.05, 0.1, 0.15, 0.2} {
		s := baseScene()
		s.keystone = k
		r := measure(t, s)
		gn = append(gn, r.GN.Value)
		grades = append(grades, r.GN.Grade)
	}
	monotone(t, "GN", gn, grades, true)
}

// TestPerspectiveKeepsGN photographs the symbol at an angle (a true
// homography): GN is measured against the best projective grid and stays
// A, while the foreshortened axis lowers AN.
func TestPerspectiveKeepsGN(t *testing.T) {
	t.Parallel()
	var an []float64
	var grades []int
	for _, k := range []float64{0, 0.1, 0.2, 0.3} {
		s := baseScene()
		s.tilt = k
		r := measure(t, s)
		if r.GN.Grade != 4 {
			t.Errorf("tilt %v: GN %+v, want A", k, r.GN)
		}
		an = append(an, r.AN.Value)
		grades = append(grades, r.AN.Grade)
	}
	monotone(t, "AN under perspective", an, grades, true)
}

func TestMeasureRefusesCodeWithoutGrid(t *testing.T) {
	t.Parallel()
	img := image.NewGray(image.Rect(0, 0, 10, 10))
	if _, err := grade.Measure(img, decode.Code{}); err == nil {
		t.Fatal("graded a code with no grid")
	}
}

// TestMeasureRefusesModel1 checks that a QR Model 1 code, whose codewords
// lie elsewhere than a Model 2 symbol's of the same version, is not graded
// as if it were one.
func TestMeasureRefusesModel1(t *testing.T) {
	t.Parallel()
	img, _ := render(t, baseScene())
	codes, err := decode.Image(context.Background(), img, decode.DefaultOptions())
	if err != nil || len(codes) != 1 {
		t.Fatal(err)
	}
	c := codes[0]
	c.Model = 1
	if _, err := grade.Measure(img, c); err == nil || !strings.Contains(err.Error(), "Model 1") {
		t.Fatalf("a Model 1 code: got %v, want a refusal naming Model 1", err)
	}
}

func BenchmarkMeasure(b *testing.B) {
	img, _ := render(b, baseScene())
	codes, err := decode.Image(context.Background(), img, decode.DefaultOptions())
	if err != nil || len(codes) != 1 {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		if _, err := grade.Measure(img, codes[0]); err != nil {
			b.Fatal(err)
		}
	}
}
