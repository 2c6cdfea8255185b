// Package gcode turns QR matrices into GRBL 1.1 laser raster programs and
// estimates how long a program runs on a given machine.
//
// A program scans every module row of a code as runs of dark modules, several
// scan lines per module row, with the laser switched off over light gaps by
// G1 moves at S0 (the controller stays in laser mode), an overscan at both
// ends of every scan line so the head moves at the programmed feed while it
// burns, and S scaled to the machine's maximum spindle value ($30). The output
// uses only words GRBL 1.1 accepts and never contains a real-time command
// character or a '$' system command, so it can be streamed as is.
package gcode

import (
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"

	"github.com/qrmfg/qrmfg/internal/qr"
	"github.com/qrmfg/qrmfg/internal/qrmfg"
)

// Defaults and limits of the settings.
const (
	DefaultLineInterval = 0.1 // mm between scan lines (254 dpi)
	MaxCoordinate       = 10000.0
	MaxPasses           = 100
	MaxScanLinesPerRow  = 100 // scan lines per module row
	MaxDepth            = 10.0
	// MaxLineLength is the longest line GRBL accepts, terminator excluded
	// (its line buffer holds 80 characters including the terminator).
	MaxLineLength = 79
)

// Placement puts one code on the machine. Coordinates are work coordinates in
// millimetres with Y pointing away from the operator, as GRBL sees them.
type Placement struct {
	// X, Y is the lower-left corner of the code's footprint: the symbol plus
	// its quiet zone.
	X, Y float64
	// Rotation turns the symbol clockwise, seen from above: 0, 90, 180 or 270.
	Rotation int
	// Size is the side of the symbol without quiet zone in mm. Exactly one of
	// Size and Module is set.
	Size float64
	// Module is the side of one module in mm.
	Module float64
	// QuietZone is the margin around the symbol, in modules, that is left
	// unburned (the part's surface serves as the quiet zone).
	QuietZone int
}

// Laser holds the burn settings of a job.
type Laser struct {
	// Power is the laser power in percent of the machine's maximum ($30), 0 < Power ≤ 100.
	Power float64
	// Speed is the feed while burning, in mm/min.
	Speed float64
	// Passes is how many times each code is burned, at least 1.
	Passes int
	// Depth is the total target depth in mm. On a machine with a Z axis every
	// pass after the first lowers Z by Depth/Passes; without Z it is ignored.
	Depth float64
	// LineInterval is the distance between scan lines in mm, about the beam
	// width; 0 means DefaultLineInterval. Each module row gets
	// round(module/LineInterval) scan lines, at least one.
	LineInterval float64
	// Unidirectional scans every line left to right; by default lines
	// alternate direction (bidirectional).
	Unidirectional bool
	// ConstantPower uses M3; by default M4 (dynamic power, scaled by the
	// actual speed, so corners and ramps do not over-burn).
	ConstantPower bool
	// Overscan is the run-up before and after each scan line in mm; 0 means
	// computed as v²/(2a) from Speed and the X acceleration.
	Overscan float64
	// NoOverscan disables overscan.
	NoOverscan bool
	// Frame makes a preview program instead: it traces the footprint of every
	// code at Speed with the laser off (M5) and burns nothing.
	Frame bool
}

// Machine is what the generator and the estimator need to know about the
// controller; fill it from the GRBL settings ($$).
type Machine struct {
	MaxSpindle        float64    // $30, the S value of full power
	MaxRate           [3]float64 // $110..$112, mm/min
	Accel             [3]float64 // $120..$122, mm/s²
	JunctionDeviation float64    // $11, mm
	HasZ              bool       // the machine has a usable Z axis
}

// DefaultMachine returns the settings of the simulated controller (a typical
// diode laser): S 0..1000, 6000 mm/min and 1000 mm/s² on X and Y.
func DefaultMachine() Machine {
	return Machine{
		MaxSpindle:        1000,
		MaxRate:           [3]float64{6000, 6000, 1000},
		Accel:             [3]float64{1000, 1000, 100},
		JunctionDeviation: 0.01,
	}
}

// Job is everything needed to engrave: where, how hard, on what.
type Job struct {
	Placement Placement
	Laser     Laser
	Machine   Machine
}

// Tray is a grid of fixtures engraved in one run. Slot i is column i%Cols,
// row i/Cols; slot (0,0) has its origin at X, Y and the others follow at
// PitchX and PitchY. A code's Placement.X/Y is relative to its slot origin.
type Tray struct {
	Cols, Rows     int
	PitchX, PitchY float64
	X, Y           float64
}

// Kind classifies a program line for statistics and estimates.
type Kind uint8

// Line kinds.
const (
	KindSetup    Kind = iota // modal and spindle commands, no motion
	KindBurn                 // G1 with the laser on
	KindGap                  // G1 at S0 between dark runs of a scan line
	KindOverscan             // G1 at S0 before and after a scan line
	KindTravel               // G0 and frame moves
)

// Part is the line range of one code in a program, so progress can be
// followed per part: the code is fully sent when line End-1 is acknowledged.
type Part struct {
	Index      int     // position in the list of codes given
	Col, Row   int     // tray slot (0,0 for a single code)
	X, Y       float64 // lower-left corner of the footprint, mm
	Side       float64 // side of the footprint, mm
	Start, End int     // lines [Start, End) of Program.Lines
}

// Rect is an axis-aligned rectangle in mm.
type Rect struct{ MinX, MinY, MaxX, MaxY float64 }

// Program is a generated G-code program and what is known about it.
type Program struct {
	Lines []string
	Kinds []Kind // the kind of each line, parallel to Lines
	Parts []Part
	// Bounds is the area the head sweeps, overscan included, the final
	// return to the origin excluded.
	Bounds Rect
	// Lengths of the moves in mm over all passes.
	BurnLength, GapLength, OverscanLength, TravelLength float64
	// ScanLines is the number of scan lines over all codes and passes.
	ScanLines int
	// LineInterval is the effective distance between scan lines in mm, and
	// OverscanUsed the overscan in mm.
	LineInterval, OverscanUsed float64
}

// WriteTo writes the program, one line per "\n", to w.
func (p *Program) WriteTo(w io.Writer) (int64, error) {
	var n int64
	for _, l := range p.Lines {
		k, err := io.WriteString(w, l+"\n")
		n += int64(k)
		if err != nil {
			return n, fmt.Errorf("gcode: write: %w", err)
		}
	}
	return n, nil
}

// PartsDone returns how many parts have all their lines among the first
// acked lines. An acknowledged line is planned, not yet executed.
func (p *Program) PartsDone(acked int) int {
	n := 0
	for _, pt := range p.Parts {
		if pt.End <= acked {
			n++
		}
	}
	return n
}

// Generate returns the raster program that engraves one code.
func Generate(m *qr.Matrix, job Job) (*Program, error) {
	return GenerateTray([]*qr.Matrix{m}, Tray{Cols: 1, Rows: 1}, job)
}

// GenerateTray returns one program that engraves codes[i] in slot i of the
// tray. All passes of a code are done before the head moves to the next slot.
func GenerateTray(codes []*qr.Matrix, tray Tray, job Job) (*Program, error) {
	p := &Program{Bounds: Rect{math.Inf(1), math.Inf(1), math.Inf(-1), math.Inf(-1)}}
	err := generate(codes, tray, job, p, func(k Kind, line string) error {
		p.Lines = append(p.Lines, line)
		p.Kinds = append(p.Kinds, k)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return p, nil
}

// Write streams the program for codes on tray to w without keeping its
// lines, and returns the program's metadata (Lines and Kinds left empty,
// Parts still indexed by line number).
func Write(w io.Writer, codes []*qr.Matrix, tray Tray, job Job) (*Program, error) {
	p := &Program{Bounds: Rect{math.Inf(1), math.Inf(1), math.Inf(-1), math.Inf(-1)}}
	err := generate(codes, tray, job, p, func(_ Kind, line string) error {
		if _, err := io.WriteString(w, line+"\n"); err != nil {
			return fmt.Errorf("gcode: write: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return p, nil
}

func (j *Job) validate(codes []*qr.Matrix, tray Tray) error {
	pl, l, mc := j.Placement, j.Laser, j.Machine
	finite := func(vs ...float64) bool {
		for _, v := range vs {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return false
			}
		}
		return true
	}
	if !finite(pl.X, pl.Y, pl.Size, pl.Module, l.Power, l.Speed, l.Depth, l.LineInterval, l.Overscan,
		mc.MaxSpindle, mc.MaxRate[0], mc.MaxRate[1], mc.MaxRate[2], mc.Accel[0], mc.Accel[1], mc.Accel[2],
		mc.JunctionDeviation, tray.X, tray.Y, tray.PitchX, tray.PitchY) {
		return qrmfg.FieldError("job", "settings must be finite numbers")
	}
	switch {
	case len(codes) == 0:
		return qrmfg.FieldError("codes", "no code to engrave")
	case tray.Cols < 1 || tray.Rows < 1:
		return qrmfg.FieldError("tray", "tray needs at least one column and one row, got %d×%d", tray.Cols, tray.Rows)
	case len(codes) > tray.Cols*tray.Rows:
		return qrmfg.FieldError("tray", "%d codes do not fit a %d×%d tray", len(codes), tray.Cols, tray.Rows)
	case pl.Rotation != 0 && pl.Rotation != 90 && pl.Rotation != 180 && pl.Rotation != 270:
		return qrmfg.FieldError("placement.rotation", "rotation must be 0, 90, 180 or 270, got %d", pl.Rotation)
	case (pl.Size > 0) == (pl.Module > 0):
		return qrmfg.FieldError("placement.size", "set exactly one of size and module size (both > 0 mm)")
	case pl.Size < 0 || pl.Module < 0:
		return qrmfg.FieldError("placement.size", "size must be > 0 mm")
	case pl.QuietZone < 0 || pl.QuietZone > 40:
		return qrmfg.FieldError("placement.quiet_zone", "quiet zone must be 0..40 modules, got %d", pl.QuietZone)
	case !(l.Power > 0 && l.Power <= 100):
		return qrmfg.FieldError("power", "power must be in (0, 100] percent, got %g", l.Power)
	case !(l.Speed > 0):
		return qrmfg.FieldError("speed", "speed must be > 0 mm/min, got %g", l.Speed)
	case mc.MaxRate[0] > 0 && l.Speed > mc.MaxRate[0]:
		return qrmfg.FieldError("speed", "speed %g mm/min exceeds the machine's X max rate $110=%g", l.Speed, mc.MaxRate[0])
	case l.Passes < 1 || l.Passes > MaxPasses:
		return qrmfg.FieldError("passes", "passes must be 1..%d, got %d", MaxPasses, l.Passes)
	case l.Depth < 0 || l.Depth > MaxDepth:
		return qrmfg.FieldError("depth", "depth must be 0..%g mm, got %g", float64(MaxDepth), l.Depth)
	case l.LineInterval < 0 || (l.LineInterval > 0 && l.LineInterval < 0.01):
		return qrmfg.FieldError("line_interval", "line interval must be ≥ 0.01 mm, got %g", l.LineInterval)
	case l.Overscan < 0 || l.Overscan > 100:
		return qrmfg.FieldError("overscan", "overscan must be 0..100 mm, got %g", l.Overscan)
	case !(mc.MaxSpindle > 0):
		return qrmfg.FieldError("machine.max_spindle", "the machine's max spindle value $30 must be > 0, got %g", mc.MaxSpindle)
	case !l.NoOverscan && l.Overscan == 0 && !(mc.Accel[0] > 0):
		return qrmfg.FieldError("machine.accel", "X acceleration $120 must be > 0 to compute the overscan")
	case tray.PitchX < 0 || tray.PitchY < 0:
		return qrmfg.FieldError("tray.pitch", "tray pitch must be ≥ 0 mm")
	}
	for i, c := range codes {
		if c == nil || c.Size() < 1 || c.Size() > 177 {
			return qrmfg.FieldError(fmt.Sprintf("codes[%d]", i), "code must be a matrix of 1..177 modules")
		}
	}
	return nil
}

// layout is the geometry of one code.
type layout struct {
	n      int     // modules per side
	module float64 // mm
	side   float64 // footprint side, mm
	k      int     // scan lines per module row
}

func (j *Job) layout(m *qr.Matrix) (layout, error) {
	pl := j.Placement
	n := m.Size()
	mod := pl.Module
	if pl.Size > 0 {
		mod = pl.Size / float64(n)
	}
	if mod < 0.01 {
		return layout{}, qrmfg.FieldError("placement.size", "module size %.4f mm is below 0.01 mm", mod)
	}
	interval := j.Laser.LineInterval
	if interval == 0 {
		interval = DefaultLineInterval
	}
	k := max(1, int(math.Round(mod/interval)))
	if k > MaxScanLinesPerRow {
		return layout{}, qrmfg.FieldError("line_interval", "%d scan lines per module (module %.3f mm, interval %.3f mm) is more than %d", k, mod, interval, MaxScanLinesPerRow)
	}
	return layout{n: n, module: mod, side: mod * float64(n+2*pl.QuietZone), k: k}, nil
}

// rotated returns a function reading module (x, y) of the symbol as it lies
// on the machine after turning it clockwise by rot degrees (y = 0 the top row).
func rotated(m *qr.Matrix, rot int) func(x, y int) bool {
	n := m.Size()
	switch rot {
	case 90:
		return func(x, y int) bool { return m.Dark(y, n-1-x) }
	case 180:
		return func(x, y int) bool { return m.Dark(n-1-x, n-1-y) }
	case 270:
		return func(x, y int) bool { return m.Dark(n-1-y, x) }
	}
	return m.Dark
}

type emitter struct {
	p     *Program
	sink  func(Kind, string) error
	err   error
	x, y  float64 // current position
	z     float64
	s     float64 // modal S
	fSet  bool
	lines int
	known bool // x, y known (after the first absolute move)
	rate  float64
}

func num(v float64) string {
	s := strconv.FormatFloat(v, 'f', 3, 64)
	s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	if s == "-0" || s == "" {
		s = "0"
	}
	return s
}

func (e *emitter) emit(k Kind, line string) {
	if e.err != nil {
		return
	}
	if len(line) > MaxLineLength {
		e.err = qrmfg.Errorf(qrmfg.EINTERNAL, "gcode: line %q is longer than %d characters", line, MaxLineLength)
		return
	}
	e.err = e.sink(k, line)
	e.lines++
}

func (e *emitter) bound(x, y float64) {
	b := &e.p.Bounds
	b.MinX, b.MinY = min(b.MinX, x), min(b.MinY, y)
	b.MaxX, b.MaxY = max(b.MaxX, x), max(b.MaxY, y)
}

// rapid moves with the laser off to (x, y).
func (e *emitter) rapid(x, y float64) {
	if e.known && x == e.x && y == e.y {
		return
	}
	var b strings.Builder
	b.WriteString("G0")
	if !e.known || x != e.x {
		b.WriteString(" X" + num(x))
	}
	if !e.known || y != e.y {
		b.WriteString(" Y" + num(y))
	}
	if e.known {
		e.p.TravelLength += math.Hypot(x-e.x, y-e.y)
	}
	e.x, e.y, e.known = x, y, true
	e.bound(x, y)
	e.emit(KindTravel, b.String())
}

// feed moves along X at the job's feed with power s (an S value).
func (e *emitter) feed(k Kind, x, s float64) {
	if x == e.x {
		return
	}
	line := "G1 X" + num(x)
	if s != e.s {
		line += " S" + num(s)
		e.s = s
	}
	if !e.fSet {
		line += " F" + num(e.rate)
		e.fSet = true
	}
	d := math.Abs(x - e.x)
	switch k {
	case KindBurn:
		e.p.BurnLength += d
	case KindGap:
		e.p.GapLength += d
	case KindOverscan:
		e.p.OverscanLength += d
	}
	e.x = x
	e.bound(x, e.y)
	e.emit(k, line)
}

func (e *emitter) zMove(z float64) {
	if z == e.z {
		return
	}
	e.p.TravelLength += math.Abs(z - e.z)
	e.z = z
	e.emit(KindTravel, "G0 Z"+num(z))
}

func generate(codes []*qr.Matrix, tray Tray, job Job, p *Program, sink func(Kind, string) error) error {
	if err := job.validate(codes, tray); err != nil {
		return err
	}
	lays := make([]layout, len(codes))
	for i, c := range codes {
		l, err := job.layout(c)
		if err != nil {
			return err
		}
		lays[i] = l
	}
	pl, lz, mc := job.Placement, job.Laser, job.Machine
	// The footprint must fit its slot when there are several slots.
	for i, l := range lays {
		if tray.Cols > 1 && pl.X+l.side > tray.PitchX {
			return qrmfg.FieldError("tray.pitch_x", "code %d (%.2f mm at X offset %.2f) does not fit the tray pitch %.2f mm", i, l.side, pl.X, tray.PitchX)
		}
		if tray.Rows > 1 && pl.Y+l.side > tray.PitchY {
			return qrmfg.FieldError("tray.pitch_y", "code %d (%.2f mm at Y offset %.2f) does not fit the tray pitch %.2f mm", i, l.side, pl.Y, tray.PitchY)
		}
	}
	over := 0.0
	if !lz.NoOverscan {
		over = lz.Overscan
		if over == 0 {
			v := lz.Speed / 60
			over = v * v / (2 * mc.Accel[0])
		}
		over = math.Ceil(over*1000) / 1000
	}
	p.OverscanUsed = over
	// Every coordinate must stay printable in a short line.
	last := len(codes) - 1
	for _, xy := range [][2]float64{
		{tray.X + pl.X - over, tray.Y + pl.Y},
		{tray.X + float64(last%tray.Cols)*tray.PitchX + pl.X + lays[last].side + over,
			tray.Y + float64(last/tray.Cols)*tray.PitchY + pl.Y + lays[last].side},
	} {
		if math.Abs(xy[0]) > MaxCoordinate || math.Abs(xy[1]) > MaxCoordinate {
			return qrmfg.FieldError("placement", "coordinates beyond ±%g mm", float64(MaxCoordinate))
		}
	}
	sOn := math.Round(lz.Power/100*mc.MaxSpindle*1000) / 1000
	if sOn <= 0 {
		return qrmfg.FieldError("power", "power %g%% of $30=%g rounds to S0", lz.Power, mc.MaxSpindle)
	}
	useZ := mc.HasZ && lz.Depth > 0
	zStep := 0.0
	if useZ {
		zStep = lz.Depth / float64(lz.Passes)
	}

	e := &emitter{p: p, sink: sink, rate: lz.Speed, s: -1}
	e.emit(KindSetup, "G21")
	e.emit(KindSetup, "G90")
	e.emit(KindSetup, "M5")
	if !lz.Frame {
		if lz.ConstantPower {
			e.emit(KindSetup, "M3 S0")
		} else {
			e.emit(KindSetup, "M4 S0")
		}
		e.s = 0
	}
	forward := true
	for i, c := range codes {
		l := lays[i]
		col, row := i%tray.Cols, i/tray.Cols
		ox := tray.X + float64(col)*tray.PitchX + pl.X
		oy := tray.Y + float64(row)*tray.PitchY + pl.Y
		part := Part{Index: i, Col: col, Row: row, X: ox, Y: oy, Side: l.side, Start: e.lines}
		if lz.Frame {
			e.rapid(ox, oy)
			for _, pt := range [][2]float64{{ox + l.side, oy}, {ox + l.side, oy + l.side}, {ox, oy + l.side}, {ox, oy}} {
				line := "G1 X" + num(pt[0]) + " Y" + num(pt[1])
				if !e.fSet {
					line += " F" + num(e.rate)
					e.fSet = true
				}
				e.p.TravelLength += math.Hypot(pt[0]-e.x, pt[1]-e.y)
				e.x, e.y = pt[0], pt[1]
				e.bound(e.x, e.y)
				e.emit(KindTravel, line)
			}
			part.End = e.lines
			p.Parts = append(p.Parts, part)
			continue
		}
		dark := rotated(c, pl.Rotation)
		q := float64(pl.QuietZone)
		x0 := ox + q*l.module // left edge of the symbol
		yTop := oy + (q+float64(l.n))*l.module
		runs := make([][2]int, 0, l.n)
		for pass := range lz.Passes {
			if useZ {
				e.zMove(-float64(pass) * zStep)
			}
			for y := range l.n {
				runs = runs[:0]
				for x := 0; x < l.n; x++ {
					if !dark(x, y) {
						continue
					}
					s := x
					for x < l.n && dark(x, y) {
						x++
					}
					runs = append(runs, [2]int{s, x})
				}
				if len(runs) == 0 {
					continue
				}
				for s := range l.k {
					sy := yTop - (float64(y)+(float64(s)+0.5)/float64(l.k))*l.module
					sy = math.Round(sy*1000) / 1000
					p.ScanLines++
					xs := func(mx int) float64 { return x0 + float64(mx)*l.module }
					if forward {
						e.rapid(xs(runs[0][0])-over, sy)
						e.feed(KindOverscan, xs(runs[0][0]), 0)
						for r, run := range runs {
							if r > 0 {
								e.feed(KindGap, xs(run[0]), 0)
							}
							e.feed(KindBurn, xs(run[1]), sOn)
						}
						e.feed(KindOverscan, xs(runs[len(runs)-1][1])+over, 0)
					} else {
						e.rapid(xs(runs[len(runs)-1][1])+over, sy)
						e.feed(KindOverscan, xs(runs[len(runs)-1][1]), 0)
						for r := len(runs) - 1; r >= 0; r-- {
							if r < len(runs)-1 {
								e.feed(KindGap, xs(runs[r][1]), 0)
							}
							e.feed(KindBurn, xs(runs[r][0]), sOn)
						}
						e.feed(KindOverscan, xs(runs[0][0])-over, 0)
					}
					if !lz.Unidirectional {
						forward = !forward
					}
				}
			}
		}
		if useZ {
			e.zMove(0)
		}
		part.End = e.lines
		p.Parts = append(p.Parts, part)
	}
	e.emit(KindSetup, "M5")
	b := p.Bounds
	e.rapid(0, 0)
	p.Bounds = b
	e.emit(KindSetup, "M2")
	p.LineInterval = 0
	if len(lays) > 0 {
		p.LineInterval = lays[0].module / float64(lays[0].k)
	}
	return e.err
}
