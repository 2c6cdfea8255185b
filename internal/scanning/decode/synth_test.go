package decode

import (
	"context"
	"fmt"
	"image"
	"image/color"
	"math"
	"testing"

	"github.com/makiuchi-d/gozxing"
	zxdecoder "github.com/makiuchi-d/gozxing/qrcode/decoder"
	"github.com/makiuchi-d/gozxing/qrcode/encoder"
)

// symbolOf encodes text with ZXing's encoder (an independent implementation)
// at the given level, returning the module matrix (true = dark), the version
// and the mask it chose.
func symbolOf(tb testing.TB, text string, level zxdecoder.ErrorCorrectionLevel) ([][]bool, int, int) {
	tb.Helper()
	hints := map[gozxing.EncodeHintType]interface{}{gozxing.EncodeHintType_CHARACTER_SET: "UTF-8"}
	q, err := encoder.Encoder_encode(text, level, hints)
	if err != nil {
		tb.Fatal(err)
	}
	m := q.GetMatrix()
	mods := make([][]bool, m.GetHeight())
	for y := range mods {
		mods[y] = make([]bool, m.GetWidth())
		for x := range mods[y] {
			mods[y][x] = m.Get(x, y) == 1
		}
	}
	return mods, q.GetVersion().GetVersionNumber(), q.GetMaskPattern()
}

// scene draws symbols into a grey canvas through homographies that map module
// coordinates to canvas pixels, supersampled 4×4 per pixel so edges are
// anti-aliased like a camera's.
type scene struct {
	w, h     int
	bg       float64 // canvas luminance outside any symbol's quiet zone
	dark     float64
	light    float64
	symbols  [][][]bool
	forwards []Homography // module → pixel
}

func (s *scene) add(mods [][]bool, h Homography) {
	s.symbols = append(s.symbols, mods)
	s.forwards = append(s.forwards, h)
}

func (s *scene) render() *image.Gray {
	img := image.NewGray(image.Rect(0, 0, s.w, s.h))
	inv := make([]Homography, len(s.forwards))
	for i, f := range s.forwards {
		inv[i] = f.adjoint()
	}
	// Bounding boxes (with a 4-module quiet zone) limit the per-pixel work.
	type box struct{ x0, y0, x1, y1 int }
	boxes := make([]box, len(s.symbols))
	for i, f := range s.forwards {
		n := float64(len(s.symbols[i]))
		b := box{s.w, s.h, 0, 0}
		for _, c := range [][2]float64{{-4, -4}, {n + 4, -4}, {n + 4, n + 4}, {-4, n + 4}} {
			p := f.Apply(c[0], c[1])
			b.x0, b.y0 = min(b.x0, int(p.X)-1), min(b.y0, int(p.Y)-1)
			b.x1, b.y1 = max(b.x1, int(p.X)+2), max(b.y1, int(p.Y)+2)
		}
		boxes[i] = box{max(b.x0, 0), max(b.y0, 0), min(b.x1, s.w), min(b.y1, s.h)}
	}
	for y := 0; y < s.h; y++ {
		for x := 0; x < s.w; x++ {
			img.Pix[y*img.Stride+x] = byte(s.bg)
		}
	}
	for i, mods := range s.symbols {
		n := len(mods)
		b := boxes[i]
		for y := b.y0; y < b.y1; y++ {
			for x := b.x0; x < b.x1; x++ {
				var sum float64
				inside := 0
				for sy := 0; sy < 4; sy++ {
					for sx := 0; sx < 4; sx++ {
						p := inv[i].Apply(float64(x)+(float64(sx)+0.5)/4, float64(y)+(float64(sy)+0.5)/4)
						if p.X < -4 || p.Y < -4 || p.X >= float64(n)+4 || p.Y >= float64(n)+4 {
							sum += s.bg
							continue
						}
						inside++
						mx, my := int(math.Floor(p.X)), int(math.Floor(p.Y))
						if mx >= 0 && my >= 0 && mx < n && my < n && mods[my][mx] {
							sum += s.dark
						} else {
							sum += s.light
						}
					}
				}
				if inside > 0 {
					img.Pix[y*img.Stride+x] = byte(sum/16 + 0.5)
				}
			}
		}
	}
	return img
}

// placement returns the homography putting an n-module symbol with module
// side ms pixels, centred at (cx, cy), rotated by deg degrees.
func placement(n int, ms, cx, cy, deg float64) Homography {
	a := deg * math.Pi / 180
	c, s := math.Cos(a)*ms, math.Sin(a)*ms
	half := float64(n) / 2
	// p = R·ms·(m - half) + centre
	return Homography{c, -s, cx - c*half + s*half, s, c, cy - s*half - c*half, 0, 0, 1}
}

func newScene(w, h int) *scene { return &scene{w: w, h: h, bg: 255, dark: 0, light: 255} }

// mustDecode decodes img and returns the codes, failing on error.
func mustDecode(tb testing.TB, img image.Image, opts Options) []Code {
	tb.Helper()
	codes, err := Image(context.Background(), img, opts)
	if err != nil {
		tb.Fatalf("Image: %v", err)
	}
	return codes
}

// checkCorners asserts each decoded corner lies within tol module sides of
// the true one.
func checkCorners(tb testing.TB, c Code, want Homography, n int) {
	tb.Helper()
	fn := float64(n)
	truth := [4]Point2f{want.Apply(0, 0), want.Apply(fn, 0), want.Apply(fn, fn), want.Apply(0, fn)}
	for i := range truth {
		d := math.Hypot(c.Corners[i].X-truth[i].X, c.Corners[i].Y-truth[i].Y)
		if d > 1.5*c.ModuleSize {
			tb.Errorf("corner %d at %.1f,%.1f, want %.1f,%.1f (off by %.1f px, module %.1f px)", i, c.Corners[i].X, c.Corners[i].Y, truth[i].X, truth[i].Y, d, c.ModuleSize)
		}
	}
}

const partText = "PAD-V0100-L2025-09-00001"

func TestRotations(t *testing.T) {
	t.Parallel()
	mods, version, mask := symbolOf(t, partText, zxdecoder.ErrorCorrectionLevel_M)
	n := len(mods)
	for deg := 0; deg < 360; deg += 15 {
		t.Run(fmt.Sprint(deg), func(t *testing.T) {
			t.Parallel()
			s := newScene(300, 300)
			h := placement(n, 6, 150, 150, float64(deg))
			s.add(mods, h)
			codes := mustDecode(t, s.render(), DefaultOptions())
			if len(codes) != 1 {
				t.Fatalf("got %d codes, want 1", len(codes))
			}
			c := codes[0]
			if c.Text != partText || c.Version != version || c.Mask != mask || c.Level != "M" {
				t.Errorf("got %q v%d mask %d level %s, want %q v%d mask %d M", c.Text, c.Version, c.Mask, c.Level, partText, version, mask)
			}
			if math.Abs(c.ModuleSize-6) > 0.5 {
				t.Errorf("module size %.2f, want 6", c.ModuleSize)
			}
			checkCorners(t, c, h, n)
		})
	}
}

func TestPerspective(t *testing.T) {
	t.Parallel()
	mods, _, _ := symbolOf(t, "https://qrmfg.example/p/PAD-V0100-L2025-09-00001?lot=L2025-09", zxdecoder.ErrorCorrectionLevel_Q)
	n := float64(len(mods))
	quads := map[string][4]Point2f{
		"keystone": {{120, 80}, {380, 100}, {420, 420}, {80, 400}},
		"tilted":   {{60, 140}, {400, 60}, {440, 380}, {110, 440}},
		"steep":    {{120, 70}, {380, 70}, {440, 440}, {60, 440}},
	}
	for name, q := range quads {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			h := quadToQuad([4]Point2f{{0, 0}, {n, 0}, {n, n}, {0, n}}, q)
			s := newScene(500, 500)
			s.add(mods, h)
			codes := mustDecode(t, s.render(), DefaultOptions())
			if len(codes) != 1 || codes[0].Text != "https://qrmfg.example/p/PAD-V0100-L2025-09-00001?lot=L2025-09" {
				t.Fatalf("got %+v, want the one code", texts(codes))
			}
			checkCorners(t, codes[0], h, len(mods))
		})
	}
}

// TestSteepPerspective reads symbols sheared like qr-real's 30a.webp: one
// finder pattern twice the module size of another and the legs at about
// 140 degrees, where neither ZXing's triple selection nor a grid placed by
// the finder centres reads them; the finder patterns' corners do
// (cornerGrid). None of these three read before.
func TestSteepPerspective(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, text string
		quad       [4]Point2f
	}{
		{"v2", "MECARD:N:test;;", [4]Point2f{{170, 140}, {420, 90}, {280, 300}, {110, 400}}},
		{"v4", "https://qrmfg.example/p/PAD-V0100-L2025-09-00001?lot=L2025-09", [4]Point2f{{165, 150}, {430, 70}, {295, 295}, {95, 410}}},
		{"v4-wide", "https://qrmfg.example/p/PAD-V0100-L2025-09-00001?lot=L2025-09", [4]Point2f{{150, 160}, {440, 60}, {300, 290}, {80, 420}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			mods, _, _ := symbolOf(t, tc.text, zxdecoder.ErrorCorrectionLevel_M)
			n := float64(len(mods))
			h := quadToQuad([4]Point2f{{0, 0}, {n, 0}, {n, n}, {0, n}}, tc.quad)
			s := newScene(500, 500)
			s.add(mods, h)
			codes := mustDecode(t, s.render(), DefaultOptions())
			if len(codes) != 1 || codes[0].Text != tc.text {
				t.Fatalf("got %q, want the one code", texts(codes))
			}
			checkCorners(t, codes[0], h, len(mods))
		})
	}
}

func texts(cs []Code) []string {
	var out []string
	for _, c := range cs {
		out = append(out, c.Text)
	}
	return out
}

func TestInverted(t *testing.T) {
	t.Parallel()
	mods, _, _ := symbolOf(t, partText, zxdecoder.ErrorCorrectionLevel_H)
	s := newScene(260, 260)
	s.bg, s.dark, s.light = 30, 200, 40 // light marks on dark metal
	s.add(mods, placement(len(mods), 5, 130, 130, 20))
	img := s.render()
	t.Run("OK", func(t *testing.T) {
		t.Parallel()
		codes := mustDecode(t, img, DefaultOptions())
		if len(codes) != 1 || codes[0].Text != partText || !codes[0].Inverted {
			t.Fatalf("got %q (inverted %v), want %q inverted", texts(codes), len(codes) == 1 && codes[0].Inverted, partText)
		}
	})
	t.Run("NotTried", func(t *testing.T) {
		t.Parallel()
		if codes := mustDecode(t, img, Options{}); len(codes) != 0 {
			t.Fatalf("without TryInverted got %q, want nothing", texts(codes))
		}
	})
}

func TestLowContrastAndBlur(t *testing.T) {
	t.Parallel()
	mods, _, _ := symbolOf(t, partText, zxdecoder.ErrorCorrectionLevel_M)
	for _, tc := range []struct {
		name        string
		dark, light float64
		blur        int
		noise       float64
	}{
		{"contrast-40", 110, 150, 0, 0},
		{"contrast-25-noise", 120, 145, 0, 4},
		{"blur-2px", 0, 255, 2, 0},
		{"blur-and-contrast", 90, 170, 2, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := newScene(240, 240)
			s.bg, s.dark, s.light = tc.light, tc.dark, tc.light
			s.add(mods, placement(len(mods), 5, 120, 120, 8))
			img := boxBlur(s.render(), tc.blur)
			addNoise(img, tc.noise, 7)
			codes := mustDecode(t, img, DefaultOptions())
			if len(codes) != 1 || codes[0].Text != partText {
				t.Fatalf("got %q, want %q", texts(codes), partText)
			}
		})
	}
}

func boxBlur(img *image.Gray, r int) *image.Gray {
	if r == 0 {
		return img
	}
	b := img.Bounds()
	out := image.NewGray(b)
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			var sum, n int
			for dy := -r; dy <= r; dy++ {
				for dx := -r; dx <= r; dx++ {
					p := image.Pt(x+dx, y+dy)
					if p.In(b) {
						sum += int(img.GrayAt(p.X, p.Y).Y)
						n++
					}
				}
			}
			out.SetGray(x, y, color.Gray{Y: uint8(sum / n)})
		}
	}
	return out
}

// addNoise adds deterministic pseudo-random noise of amplitude amp.
func addNoise(img *image.Gray, amp float64, seed uint32) {
	if amp == 0 {
		return
	}
	x := seed
	for i, v := range img.Pix {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		d := (float64(x%2001)/1000 - 1) * amp
		img.Pix[i] = uint8(math.Max(0, math.Min(255, float64(v)+d)))
	}
}

func TestSeveralCodes(t *testing.T) {
	t.Parallel()
	want := []string{"PAD-V0100-L2025-09-00001", "PAD-V0100-L2025-09-00002", "PAD-V0100-L2025-09-00003", "PAD-V0100-L2025-09-00004"}
	s := newScene(640, 480)
	centres := [][2]float64{{160, 120}, {480, 120}, {160, 360}, {480, 360}}
	for i, text := range want {
		mods, _, _ := symbolOf(t, text, zxdecoder.ErrorCorrectionLevel_M)
		s.add(mods, placement(len(mods), 5, centres[i][0], centres[i][1], float64(10*i)))
	}
	codes := mustDecode(t, s.render(), DefaultOptions())
	got := texts(codes)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("got %q, want %q in reading order", got, want)
	}
}

func TestSmallCodeInLargeFrame(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("renders a 12-megapixel frame")
	}
	mods, _, _ := symbolOf(t, partText, zxdecoder.ErrorCorrectionLevel_M)
	s := newScene(4000, 3000)
	s.bg = 200
	h := placement(len(mods), 4, 3100, 2300, 30)
	s.add(mods, h)
	codes := mustDecode(t, s.render(), DefaultOptions())
	if len(codes) != 1 || codes[0].Text != partText {
		t.Fatalf("got %q, want %q", texts(codes), partText)
	}
	checkCorners(t, codes[0], h, len(mods))
}

func TestMetadataAndGrid(t *testing.T) {
	t.Parallel()
	mods, version, mask := symbolOf(t, partText, zxdecoder.ErrorCorrectionLevel_H)
	n := len(mods)
	// Damage a few data modules away from the function patterns.
	damaged := make([][]bool, n)
	for y := range mods {
		damaged[y] = append([]bool(nil), mods[y]...)
	}
	for _, p := range [][2]int{{10, 10}, {11, 12}, {12, 14}, {n - 3, 12}, {10, n - 2}} {
		damaged[p[1]][p[0]] = !damaged[p[1]][p[0]]
	}
	s := newScene(300, 300)
	s.add(damaged, placement(n, 8, 150, 150, 0))
	img := s.render()
	codes := mustDecode(t, img, DefaultOptions())
	if len(codes) != 1 {
		t.Fatalf("got %d codes, want 1", len(codes))
	}
	c := codes[0]
	if c.Text != partText || c.Version != version || c.Mask != mask || c.Level != "H" {
		t.Fatalf("got %q v%d mask %d %s, want %q v%d mask %d H", c.Text, c.Version, c.Mask, c.Level, partText, version, mask)
	}
	// Version 2-H: 4 blocks of 22 EC codewords... whatever the layout, the
	// damage must show and fit in the capacity.
	if c.ErrorsCorrected < 1 || c.ErrorsCorrected > c.ECCapacity || c.WorstBlock <= 0 || c.WorstBlock > 1 {
		t.Errorf("ErrorsCorrected %d of %d (worst block %.2f), want some damage within capacity", c.ErrorsCorrected, c.ECCapacity, c.WorstBlock)
	}
	if c.Grid.Size != n || c.Modules.Size() != n {
		t.Fatalf("grid %d, modules %d, want %d", c.Grid.Size, c.Modules.Size(), n)
	}
	vals := c.Grid.Sample(img)
	for y := 0; y < n; y++ {
		for x := 0; x < n; x++ {
			if c.Modules.Dark(x, y) != damaged[y][x] {
				t.Fatalf("sampled module %d,%d dark=%v, rendered %v", x, y, c.Modules.Dark(x, y), damaged[y][x])
			}
			v := vals[y*n+x]
			if (v < 128) != damaged[y][x] || (v > 20 && v < 235) {
				t.Fatalf("reflectance at module %d,%d is %.0f, want near %v", x, y, v, map[bool]int{true: 0, false: 255}[damaged[y][x]])
			}
		}
	}
	if !c.Grid.Transform.Apply(0, 0).near(Point2f{150 - 4*float64(n), 150 - 4*float64(n)}, 1) {
		t.Errorf("grid origin at %v", c.Grid.Transform.Apply(0, 0))
	}
}

func TestMirrored(t *testing.T) {
	t.Parallel()
	mods, _, _ := symbolOf(t, partText, zxdecoder.ErrorCorrectionLevel_M)
	n := len(mods)
	tr := make([][]bool, n)
	for y := range tr {
		tr[y] = make([]bool, n)
		for x := range tr[y] {
			tr[y][x] = mods[x][y]
		}
	}
	s := newScene(240, 240)
	s.add(tr, placement(n, 5, 120, 120, 0))
	codes := mustDecode(t, s.render(), DefaultOptions())
	if len(codes) != 1 || codes[0].Text != partText || !codes[0].Mirrored {
		t.Fatalf("got %q, want %q read mirrored", texts(codes), partText)
	}
	// Module (x, y) of the symbol is where the transposed render put it.
	c := codes[0]
	for y := 0; y < n; y++ {
		for x := 0; x < n; x++ {
			if c.Modules.Dark(x, y) != mods[y][x] {
				t.Fatalf("module %d,%d dark=%v, want %v", x, y, c.Modules.Dark(x, y), mods[y][x])
			}
		}
	}
}

func TestTextEncodings(t *testing.T) {
	t.Parallel()
	for _, text := range []string{"Ünïcödé Ω 測試", "0123456789012345", "HELLO WORLD $%*+-./:"} {
		mods, _, _ := symbolOf(t, text, zxdecoder.ErrorCorrectionLevel_L)
		s := newScene(260, 260)
		s.add(mods, placement(len(mods), 5, 130, 130, 0))
		codes := mustDecode(t, s.render(), DefaultOptions())
		if len(codes) != 1 || codes[0].Text != text {
			t.Errorf("got %q, want %q", texts(codes), text)
		}
	}
}

// TestDoubleQR reads a "double QR": a small code printed in the centre of a
// large one (which survives the loss on its error correction) and, as in
// the photographs, with one finder pattern of the small code lost, so that
// only a pair of its finder patterns is found.
func TestDoubleQR(t *testing.T) {
	t.Parallel()
	outer, _, _ := symbolOf(t, "OUTER CODE OF A DOUBLE QR, LEVEL H", zxdecoder.ErrorCorrectionLevel_H)
	inner, _, _ := symbolOf(t, "INNER-0042", zxdecoder.ErrorCorrectionLevel_M)
	n := len(inner)
	for y := n - 8; y < n; y++ {
		for x := 0; x < 8; x++ {
			inner[y][x] = false // the bottom-left finder pattern, erased
		}
	}
	s := newScene(480, 480)
	s.add(outer, placement(len(outer), 10, 240, 240, 0))
	s.add(inner, placement(n, 2.5, 240, 240, 0))
	got := texts(mustDecode(t, s.render(), DefaultOptions()))
	if len(got) != 2 {
		t.Fatalf("got %q, want the outer and the inner code", got)
	}
}
