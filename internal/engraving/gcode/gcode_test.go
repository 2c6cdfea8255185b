package gcode

import (
	"bytes"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/qrmfg/qrmfg/internal/qr"
	"github.com/qrmfg/qrmfg/internal/qrmfg"
)

// randomMatrix returns a size×size matrix with about half the modules dark.
func randomMatrix(size int, seed uint64) *qr.Matrix {
	r := rand.New(rand.NewPCG(seed, 1))
	m := qr.NewMatrix(size)
	for y := range size {
		for x := range size {
			m.Set(x, y, r.IntN(2) == 0)
		}
	}
	return m
}

func testJob() Job {
	return Job{
		Placement: Placement{X: 10, Y: 20, Size: 10.5, QuietZone: 2},
		Laser:     Laser{Power: 60, Speed: 3000, Passes: 1, LineInterval: 0.1},
		Machine:   DefaultMachine(),
	}
}

// checkLine fails when a line could upset GRBL or is not one of the words
// the generator is allowed to use.
func checkLine(t testing.TB, i int, line string) {
	t.Helper()
	if len(line) > MaxLineLength || len(line) == 0 {
		t.Fatalf("line %d %q: length %d", i, line, len(line))
	}
	for _, c := range []byte(line) {
		if c == '?' || c == '!' || c == '~' || c == '$' || c < 0x20 || c >= 0x80 {
			t.Fatalf("line %d %q contains byte %#x", i, line, c)
		}
	}
	ws, err := parseWords(line)
	if err != nil {
		t.Fatalf("line %d %q: %v", i, line, err)
	}
	for _, w := range ws {
		ok := false
		switch w.letter {
		case 'G':
			ok = w.value == 0 || w.value == 1 || w.value == 4 || w.value == 20 || w.value == 21 || w.value == 90 || w.value == 91
		case 'M':
			ok = w.value == 2 || w.value == 3 || w.value == 4 || w.value == 5 || w.value == 30
		case 'X', 'Y', 'Z', 'F', 'S', 'P':
			ok = true
		}
		if !ok {
			t.Fatalf("line %d %q: word %c%g not allowed", i, line, w.letter, w.value)
		}
	}
}

// burned replays the program and returns, for each burn move, its Y and X
// range, plus the S values used while burning.
type burnSeg struct{ y, x0, x1 float64 }

func replay(t *testing.T, p *Program) (segs []burnSeg, sValues map[float64]bool, zs []float64) {
	t.Helper()
	var x, y, z, s float64
	laser := false
	sValues = map[float64]bool{}
	for i, line := range p.Lines {
		checkLine(t, i, line)
		ws, _ := parseWords(line)
		g := -1
		nx, ny, nz := x, y, z
		for _, w := range ws {
			switch w.letter {
			case 'G':
				g = int(w.value)
			case 'M':
				laser = w.value == 3 || w.value == 4
			case 'X':
				nx = w.value
			case 'Y':
				ny = w.value
			case 'Z':
				nz = w.value
			case 'S':
				s = w.value
			}
		}
		if g == 1 && laser && s > 0 {
			if ny != y {
				t.Fatalf("line %d %q: burn move not along X", i, line)
			}
			segs = append(segs, burnSeg{y, min(x, nx), max(x, nx)})
			sValues[s] = true
		}
		if nz != z {
			zs = append(zs, nz)
		}
		x, y, z = nx, ny, nz
	}
	return segs, sValues, zs
}

// TestGenerateBurnsExactlyTheDarkModules replays the program and checks that
// every scan line burns exactly the dark modules of its row, for every
// rotation and scan direction.
func TestGenerateBurnsExactlyTheDarkModules(t *testing.T) {
	t.Parallel()
	m := randomMatrix(21, 7)
	for _, rot := range []int{0, 90, 180, 270} {
		for _, uni := range []bool{false, true} {
			job := testJob()
			job.Placement.Rotation = rot
			job.Laser.Unidirectional = uni
			p, err := Generate(m, job)
			if err != nil {
				t.Fatal(err)
			}
			mod := 0.5
			k := 5 // 0.5 mm / 0.1 mm
			segs, sv, _ := replay(t, p)
			if len(sv) != 1 || !sv[600] {
				t.Fatalf("S values %v, want only 600 (60%% of $30=1000)", sv)
			}
			got := map[[2]int]int{}
			for _, sg := range segs {
				row := int(math.Floor((20 + 1 + 21*mod - sg.y) / mod))
				c0 := int(math.Round((sg.x0 - 11) / mod))
				c1 := int(math.Round((sg.x1 - 11) / mod))
				for c := c0; c < c1; c++ {
					got[[2]int{c, row}]++
				}
			}
			dark := rotated(m, rot)
			for y := range 21 {
				for x := range 21 {
					want := 0
					if dark(x, y) {
						want = k
					}
					if got[[2]int{x, y}] != want {
						t.Fatalf("rot %d uni %v: module (%d,%d) burned %d times, want %d", rot, uni, x, y, got[[2]int{x, y}], want)
					}
				}
			}
			darkCount := 0
			for y := range 21 {
				for x := range 21 {
					if m.Dark(x, y) {
						darkCount++
					}
				}
			}
			if want := float64(darkCount*k) * mod; math.Abs(p.BurnLength-want) > 1e-6 {
				t.Fatalf("burn length %g, want %g", p.BurnLength, want)
			}
		}
	}
}

func TestGenerateHeaderFooterAndOverscan(t *testing.T) {
	t.Parallel()
	p, err := Generate(randomMatrix(21, 3), testJob())
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(p.Lines[:4], ";"); got != "G21;G90;M5;M4 S0" {
		t.Errorf("header %q", got)
	}
	if got := strings.Join(p.Lines[len(p.Lines)-3:], ";"); got != "M5;G0 X0 Y0;M2" {
		t.Errorf("footer %q", got)
	}
	// 3000 mm/min = 50 mm/s, a = 1000 mm/s²: v²/2a = 1.25 mm.
	if p.OverscanUsed != 1.25 {
		t.Errorf("overscan %g, want 1.25", p.OverscanUsed)
	}
	if want := float64(p.ScanLines) * 2 * 1.25; math.Abs(p.OverscanLength-want) > 1e-6 {
		t.Errorf("overscan length %g, want %g", p.OverscanLength, want)
	}
	if p.Bounds.MinX != 11-1.25 {
		t.Errorf("bounds %+v: min X want %g", p.Bounds, 11-1.25)
	}
	job := testJob()
	job.Laser.ConstantPower, job.Laser.NoOverscan = true, true
	p, err = Generate(randomMatrix(21, 3), job)
	if err != nil {
		t.Fatal(err)
	}
	if p.Lines[3] != "M3 S0" || p.OverscanLength != 0 {
		t.Errorf("M3 without overscan: line 3 %q, overscan %g", p.Lines[3], p.OverscanLength)
	}
}

func TestGeneratePassesAndDepth(t *testing.T) {
	t.Parallel()
	job := testJob()
	job.Laser.Passes, job.Laser.Depth = 3, 0.3
	job.Machine.HasZ = true
	p, err := Generate(randomMatrix(21, 5), job)
	if err != nil {
		t.Fatal(err)
	}
	one := testJob()
	p1, _ := Generate(randomMatrix(21, 5), one)
	if math.Abs(p.BurnLength-3*p1.BurnLength) > 1e-6 {
		t.Errorf("3 passes burn %g, want 3×%g", p.BurnLength, p1.BurnLength)
	}
	_, _, zs := replay(t, p)
	if want := []float64{-0.1, -0.2, 0}; len(zs) != 3 || zs[0] != want[0] || zs[1] != want[1] || zs[2] != want[2] {
		t.Errorf("Z steps %v, want %v", zs, want)
	}
	job.Machine.HasZ = false
	p, _ = Generate(randomMatrix(21, 5), job)
	if _, _, zs := replay(t, p); len(zs) != 0 {
		t.Errorf("machine without Z got Z moves %v", zs)
	}
}

func TestGenerateFrame(t *testing.T) {
	t.Parallel()
	job := testJob()
	job.Laser.Frame = true
	p, err := Generate(randomMatrix(21, 5), job)
	if err != nil {
		t.Fatal(err)
	}
	segs, _, _ := replay(t, p)
	if len(segs) != 0 || p.BurnLength != 0 {
		t.Fatalf("frame burns %d segments", len(segs))
	}
	for _, l := range p.Lines {
		if strings.HasPrefix(l, "M3") || strings.HasPrefix(l, "M4") {
			t.Fatalf("frame turns the laser on: %q", l)
		}
	}
	// 10.5 mm symbol + 2×2 modules of 0.5 mm = 12.5 mm footprint.
	if b := p.Bounds; b.MaxX != 22.5 || b.MaxY != 32.5 {
		t.Errorf("frame bounds %+v, want max 22.5, 32.5", b)
	}
}

func TestGenerateTrayParts(t *testing.T) {
	t.Parallel()
	codes := make([]*qr.Matrix, 7)
	for i := range codes {
		codes[i] = randomMatrix(21, uint64(i))
	}
	job := testJob()
	job.Placement.X, job.Placement.Y = 1, 1
	tray := Tray{Cols: 3, Rows: 3, PitchX: 20, PitchY: 25, X: 5, Y: 5}
	p, err := GenerateTray(codes, tray, job)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Parts) != 7 {
		t.Fatalf("%d parts", len(p.Parts))
	}
	for i, pt := range p.Parts {
		if pt.Col != i%3 || pt.Row != i/3 || pt.X != 5+float64(i%3)*20+1 || pt.Y != 5+float64(i/3)*25+1 {
			t.Fatalf("part %d: %+v", i, pt)
		}
		if i > 0 && pt.Start != p.Parts[i-1].End {
			t.Fatalf("part %d starts at %d, previous ended at %d", i, pt.Start, p.Parts[i-1].End)
		}
		sub := &Program{Lines: append([]string{"M4 S0"}, p.Lines[pt.Start:pt.End]...)}
		segs, _, _ := replay(t, sub)
		if len(segs) == 0 {
			t.Fatalf("part %d burns nothing", i)
		}
		for _, s := range segs {
			if s.x0 < pt.X || s.x1 > pt.X+pt.Side || s.y < pt.Y || s.y > pt.Y+pt.Side {
				t.Fatalf("part %d burns %+v outside its footprint %+v", i, s, pt)
			}
		}
	}
	if p.PartsDone(p.Parts[2].End) != 3 || p.PartsDone(p.Parts[2].End-1) != 2 {
		t.Errorf("PartsDone wrong")
	}
	var buf bytes.Buffer
	meta, err := Write(&buf, codes, tray, job)
	if err != nil {
		t.Fatal(err)
	}
	if buf.String() != strings.Join(p.Lines, "\n")+"\n" || meta.BurnLength != p.BurnLength || len(meta.Parts) != 7 {
		t.Errorf("Write differs from GenerateTray")
	}
}

func TestGenerateRejectsBadSettings(t *testing.T) {
	t.Parallel()
	m := randomMatrix(21, 1)
	cases := []struct {
		name  string
		field string
		edit  func(*Job, *Tray, *[]*qr.Matrix)
	}{
		{"ErrRotation", "placement.rotation", func(j *Job, _ *Tray, _ *[]*qr.Matrix) { j.Placement.Rotation = 45 }},
		{"ErrBothSizes", "placement.size", func(j *Job, _ *Tray, _ *[]*qr.Matrix) { j.Placement.Module = 0.5 }},
		{"ErrNoSize", "placement.size", func(j *Job, _ *Tray, _ *[]*qr.Matrix) { j.Placement.Size = 0 }},
		{"ErrPower", "power", func(j *Job, _ *Tray, _ *[]*qr.Matrix) { j.Laser.Power = 101 }},
		{"ErrPowerZero", "power", func(j *Job, _ *Tray, _ *[]*qr.Matrix) { j.Laser.Power = 0 }},
		{"ErrSpeed", "speed", func(j *Job, _ *Tray, _ *[]*qr.Matrix) { j.Laser.Speed = 0 }},
		{"ErrSpeedOverMax", "speed", func(j *Job, _ *Tray, _ *[]*qr.Matrix) { j.Laser.Speed = 9000 }},
		{"ErrPasses", "passes", func(j *Job, _ *Tray, _ *[]*qr.Matrix) { j.Laser.Passes = 0 }},
		{"ErrDepth", "depth", func(j *Job, _ *Tray, _ *[]*qr.Matrix) { j.Laser.Depth = -1 }},
		{"ErrNaN", "job", func(j *Job, _ *Tray, _ *[]*qr.Matrix) { j.Placement.X = math.NaN() }},
		{"ErrFar", "placement", func(j *Job, _ *Tray, _ *[]*qr.Matrix) { j.Placement.X = 1e6 }},
		{"ErrInterval", "line_interval", func(j *Job, _ *Tray, _ *[]*qr.Matrix) { j.Laser.LineInterval = 0.001 }},
		{"ErrMaxSpindle", "machine.max_spindle", func(j *Job, _ *Tray, _ *[]*qr.Matrix) { j.Machine.MaxSpindle = 0 }},
		{"ErrNoCodes", "codes", func(_ *Job, _ *Tray, c *[]*qr.Matrix) { *c = nil }},
		{"ErrNilCode", "codes[0]", func(_ *Job, _ *Tray, c *[]*qr.Matrix) { *c = []*qr.Matrix{nil} }},
		{"ErrTrayFull", "tray", func(_ *Job, tr *Tray, c *[]*qr.Matrix) { *c = []*qr.Matrix{m, m}; tr.Cols = 1 }},
		{"ErrPitch", "tray.pitch_x", func(_ *Job, tr *Tray, c *[]*qr.Matrix) { tr.Cols, tr.PitchX, tr.PitchY = 2, 5, 50 }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			job, tray, codes := testJob(), Tray{Cols: 1, Rows: 1}, []*qr.Matrix{m}
			tc.edit(&job, &tray, &codes)
			_, err := GenerateTray(codes, tray, job)
			e := qrmfg.AsError(err)
			if e == nil || e.Code != qrmfg.EINVALID || e.Field != tc.field {
				t.Fatalf("got %v, want EINVALID on %s", err, tc.field)
			}
		})
	}
}

func TestEstimateTrapezoid(t *testing.T) {
	t.Parallel()
	m := DefaultMachine() // 1000 mm/s², 6000 mm/min
	cases := []struct {
		name  string
		lines []string
		want  float64 // seconds
	}{
		// 100 mm/s: 0.1 s up (5 mm), 90 mm cruise (0.9 s), 0.1 s down.
		{"OneMove", []string{"G1 X100 F6000"}, 1.1},
		// Collinear blocks do not stop at the junction.
		{"Collinear", []string{"G1 X50 F6000", "G1 X100"}, 1.1},
		// A reversal stops: two separate 50 mm moves.
		{"Reversal", []string{"G1 X50 F6000", "G1 X0"}, 2 * (0.2 + 0.4)},
		// Too short to reach 100 mm/s: 2 mm peak sqrt(2000) mm/s.
		{"Triangle", []string{"G1 X2 F6000"}, 2 * math.Sqrt(2000) / 1000},
		// A dwell and an M5 force a stop.
		{"Dwell", []string{"G1 X50 F6000", "G4 P0.5", "G1 X100"}, 2*0.6 + 0.5},
		{"Inches", []string{"G20", "G1 X1 F60"}, 25.4/(25.4*60/60) + 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e, err := EstimateLines(tc.lines, m)
			if err != nil {
				t.Fatal(err)
			}
			want := tc.want
			if tc.name == "Inches" {
				// 25.4 mm at 25.4 mm/s with 0.0254 s ramps on each side.
				v := 25.4
				want = 2*v/1000 + (25.4-v*v/1000)/v
			}
			if got := e.Total.Seconds(); math.Abs(got-want) > 1e-6 {
				t.Fatalf("estimate %.6f s, want %.6f s", got, want)
			}
		})
	}
	if _, err := EstimateLines([]string{"G2 X1 Y1 I1"}, m); qrmfg.ErrorCode(err) != qrmfg.EINVALID {
		t.Errorf("G2: got %v, want EINVALID", err)
	}
	if _, err := EstimateLines([]string{"G1 X1"}, m); qrmfg.ErrorCode(err) != qrmfg.EINVALID {
		t.Errorf("G1 without F: got %v, want EINVALID", err)
	}
}

func TestEstimateShares(t *testing.T) {
	t.Parallel()
	job := testJob()
	p, err := Generate(randomMatrix(25, 9), job)
	if err != nil {
		t.Fatal(err)
	}
	e, err := EstimateProgram(p, job.Machine)
	if err != nil {
		t.Fatal(err)
	}
	// Lower bound: the burn length at full feed.
	if min := time.Duration(p.BurnLength / 50 * float64(time.Second)); e.Burn < min-time.Millisecond {
		t.Errorf("burn time %v below %v at full feed", e.Burn, min)
	}
	b, g, o, tr := e.Share()
	if math.Abs(b+g+o+tr-1) > 1e-9 || b == 0 || o == 0 || tr == 0 {
		t.Errorf("shares %g %g %g %g", b, g, o, tr)
	}
	t.Logf("25×25 code, 10.5 mm, 0.1 mm interval, 3000 mm/min: %d lines, %s", len(p.Lines), e)
}

func FuzzProgram(f *testing.F) {
	f.Add([]byte("PAD-V0100-L2025-09-00001"), uint8(21), uint8(0), 60.0, 3000.0, uint8(1), 0.1, 10.0, 10.0, uint8(0))
	f.Add([]byte{0xff, 0x00, 0xaa}, uint8(1), uint8(3), 100.0, 1.0, uint8(4), 0.01, -5.0, 9999.0, uint8(0xff))
	f.Add([]byte{}, uint8(177), uint8(2), 0.001, 6000.0, uint8(2), 5.0, 0.0, 0.0, uint8(0x0f))
	f.Fuzz(func(t *testing.T, payload []byte, size, rot uint8, power, speed float64, passes uint8, interval, x, y float64, flags uint8) {
		n := int(size)
		m := qr.NewMatrix(n)
		for i := range n * n {
			if len(payload) > 0 && payload[(i/8)%len(payload)]>>(i%8)&1 == 1 {
				m.Set(i%n, i/n, true)
			}
		}
		job := Job{
			Placement: Placement{X: x, Y: y, Rotation: int(rot%5) * 90, Module: 0.2 + float64(flags%4)*0.3, QuietZone: int(flags>>4) % 5},
			Laser: Laser{Power: power, Speed: speed, Passes: int(passes % 4), Depth: float64(flags%3) * 0.1,
				LineInterval: interval, Unidirectional: flags&16 != 0, ConstantPower: flags&32 != 0,
				NoOverscan: flags&64 != 0, Frame: flags&128 != 0},
			Machine: DefaultMachine(),
		}
		job.Machine.HasZ = flags&8 != 0
		p, err := Generate(m, job)
		if err != nil {
			if qrmfg.ErrorCode(err) != qrmfg.EINVALID {
				t.Fatalf("error %v is not EINVALID", err)
			}
			return
		}
		for i, l := range p.Lines {
			checkLine(t, i, l)
		}
		if _, err := EstimateProgram(p, job.Machine); err != nil {
			t.Fatalf("estimate of a generated program: %v", err)
		}
	})
}

func BenchmarkProgram(b *testing.B) {
	for _, size := range []int{25, 57} {
		m := randomMatrix(size, 11)
		job := testJob()
		job.Placement.Size = 0.5 * float64(size)
		b.Run(map[int]string{25: "v2-25x25", 57: "v10-57x57"}[size], func(b *testing.B) {
			var lines int
			for b.Loop() {
				p, err := Generate(m, job)
				if err != nil {
					b.Fatal(err)
				}
				lines = len(p.Lines)
			}
			b.ReportMetric(float64(lines), "lines/code")
		})
	}
}

func BenchmarkEstimate(b *testing.B) {
	p, err := Generate(randomMatrix(25, 11), testJob())
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := EstimateProgram(p, DefaultMachine()); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(p.Lines)), "lines")
}
