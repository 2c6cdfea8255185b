package gcode

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/qrmfg/qrmfg/internal/qrmfg"
)

// Estimate is the predicted run time of a program, split by what the head
// does. Total is the sum of the parts.
type Estimate struct {
	Total    time.Duration
	Burn     time.Duration // G1 with the laser on
	Gap      time.Duration // G1 at S0 over light modules inside a scan line
	Overscan time.Duration // run-up and run-out of the scan lines
	Travel   time.Duration // G0, Z steps and frame moves
	Dwell    time.Duration // G4
	Blocks   int           // motion blocks planned
}

// Share returns the fractions of Total spent burning, in gaps, in overscan
// and travelling (dwell included in travel).
func (e Estimate) Share() (burn, gap, overscan, travel float64) {
	t := float64(e.Total)
	if t == 0 {
		return 0, 0, 0, 0
	}
	return float64(e.Burn) / t, float64(e.Gap) / t, float64(e.Overscan) / t, float64(e.Travel+e.Dwell) / t
}

func (e Estimate) String() string {
	b, g, o, t := e.Share()
	return fmt.Sprintf("%v (burn %.1f%%, gap %.1f%%, overscan %.1f%%, travel %.1f%%)",
		e.Total.Round(time.Millisecond), 100*b, 100*g, 100*o, 100*t)
}

// EstimateProgram predicts how long p runs on machine m. See EstimateLines.
func EstimateProgram(p *Program, m Machine) (Estimate, error) {
	kinds := p.Kinds
	if len(kinds) != len(p.Lines) {
		kinds = nil
	}
	return estimate(p.Lines, kinds, m)
}

// EstimateLines predicts how long a G-code program runs on machine m. It
// models GRBL's motion: every block accelerates, cruises and decelerates
// (trapezoid) with the acceleration and rate limited per axis ($110..$112,
// $120..$122), junction speeds follow GRBL's junction deviation ($11), the
// look-ahead spans the whole program, and the machine stops at spindle
// changes and dwells. Laser-off G1 moves are counted as gaps.
func EstimateLines(lines []string, m Machine) (Estimate, error) {
	return estimate(lines, nil, m)
}

type estBlock struct {
	length   float64
	unit     [3]float64
	nominal  float64 // mm/s
	accel    float64 // mm/s²
	maxEntry float64 // mm/s
	kind     Kind
}

// limitByAxis returns the largest value along unit that keeps every axis
// component within its limit (GRBL's limit_value_by_axis_maximum).
func limitByAxis(limits [3]float64, unit [3]float64) float64 {
	v := math.Inf(1)
	for i, u := range unit {
		if u != 0 {
			v = min(v, math.Abs(limits[i]/u))
		}
	}
	return v
}

// junctionSpeed is GRBL's maximum speed through the corner between two
// blocks with unit vectors a (incoming) and b (outgoing).
func junctionSpeed(a, b [3]float64, accel [3]float64, deviation float64) float64 {
	cos := -(a[0]*b[0] + a[1]*b[1] + a[2]*b[2])
	if cos > 0.999999 {
		return 0 // reversal
	}
	if cos < -0.999999 {
		return math.Inf(1) // straight on
	}
	var ju [3]float64
	n := 0.0
	for i := range ju {
		ju[i] = b[i] - a[i]
		n += ju[i] * ju[i]
	}
	n = math.Sqrt(n)
	for i := range ju {
		ju[i] /= n
	}
	aj := limitByAxis(accel, ju)
	sin := math.Sqrt(0.5 * (1 - cos))
	return math.Sqrt(aj * deviation * sin / (1 - sin))
}

// trapezoid returns the time to cover length at most at nominal, entering
// at v0 and leaving at v1, with acceleration a.
func trapezoid(length, v0, v1, nominal, a float64) float64 {
	dAcc := (nominal*nominal - v0*v0) / (2 * a)
	dDec := (nominal*nominal - v1*v1) / (2 * a)
	if dAcc+dDec <= length {
		return (nominal-v0)/a + (nominal-v1)/a + (length-dAcc-dDec)/nominal
	}
	peak := math.Sqrt((2*a*length + v0*v0 + v1*v1) / 2)
	peak = max(peak, v0, v1)
	return (peak-v0)/a + (peak-v1)/a
}

// word is one letter and its number in a G-code line.
type word struct {
	letter byte
	value  float64
}

// parseWords splits a line such as "G1 X1.5 S300" into words. It accepts
// upper- and lower-case letters and spaces, and nothing else.
func parseWords(line string) ([]word, error) {
	var ws []word
	s := strings.ToUpper(line)
	for i := 0; i < len(s); {
		c := s[i]
		if c == ' ' {
			i++
			continue
		}
		if c < 'A' || c > 'Z' {
			return nil, fmt.Errorf("unexpected %q", c)
		}
		j := i + 1
		for j < len(s) && (s[j] == '.' || s[j] == '-' || s[j] == '+' || (s[j] >= '0' && s[j] <= '9')) {
			j++
		}
		v, err := strconv.ParseFloat(s[i+1:j], 64)
		if err != nil {
			return nil, fmt.Errorf("bad number after %c", c)
		}
		ws = append(ws, word{c, v})
		i = j
	}
	return ws, nil
}

func estimate(lines []string, kinds []Kind, m Machine) (Estimate, error) {
	var est Estimate
	for i := range 2 {
		if !(m.MaxRate[i] > 0) || !(m.Accel[i] > 0) {
			return est, qrmfg.FieldError("machine", "max rate ($11%d) and acceleration ($12%d) must be > 0", i, i)
		}
	}
	var (
		pos      [3]float64
		absolute = true
		scale    = 1.0 // mm per unit
		feed     float64
		s        float64
		spindle  bool
		motion   = 0
		blocks   []estBlock
		segments [][]estBlock // runs of blocks between forced stops
	)
	flush := func() {
		if len(blocks) > 0 {
			segments = append(segments, blocks)
			blocks = nil
		}
	}
	var dwell time.Duration
	for n, line := range lines {
		ws, err := parseWords(line)
		if err != nil {
			return est, qrmfg.FieldError("gcode", "line %d %q: %v", n+1, line, err)
		}
		target := pos
		moved, isDwell := false, false
		pWord := 0.0
		var kindOf Kind = 255
		if kinds != nil {
			kindOf = kinds[n]
		}
		for _, w := range ws {
			switch w.letter {
			case 'G':
				switch w.value {
				case 0, 1:
					motion = int(w.value)
				case 4:
					isDwell = true
				case 20:
					scale = 25.4
				case 21:
					scale = 1
				case 90:
					absolute = true
				case 91:
					absolute = false
				default:
					return est, qrmfg.FieldError("gcode", "line %d %q: unsupported G%g", n+1, line, w.value)
				}
			case 'M':
				switch w.value {
				case 3, 4:
					spindle = true
					flush()
				case 5:
					spindle = false
					flush()
				case 2, 30:
					flush()
				default:
					return est, qrmfg.FieldError("gcode", "line %d %q: unsupported M%g", n+1, line, w.value)
				}
			case 'X', 'Y', 'Z':
				ax := int(w.letter - 'X')
				if absolute {
					target[ax] = w.value * scale
				} else {
					target[ax] = pos[ax] + w.value*scale
				}
				moved = true
			case 'F':
				feed = w.value * scale / 60
			case 'S':
				s = w.value
			case 'P':
				pWord = w.value
			case 'N':
			default:
				return est, qrmfg.FieldError("gcode", "line %d %q: unsupported word %c", n+1, line, w.letter)
			}
		}
		if isDwell { // G4 is not modal: it waits for the planner to empty, then dwells
			flush()
			dwell += time.Duration(pWord * float64(time.Second))
			continue
		}
		if !moved {
			continue
		}
		var d [3]float64
		l2 := 0.0
		for i := range d {
			d[i] = target[i] - pos[i]
			l2 += d[i] * d[i]
		}
		pos = target
		length := math.Sqrt(l2)
		if length < 1e-6 {
			continue
		}
		var u [3]float64
		for i := range u {
			u[i] = d[i] / length
			if u[i] != 0 && (!(m.MaxRate[i] > 0) || !(m.Accel[i] > 0)) {
				return est, qrmfg.FieldError("machine", "line %d moves axis %c but its max rate or acceleration is 0", n+1, 'X'+i)
			}
		}
		b := estBlock{length: length, unit: u, accel: limitByAxis(m.Accel, u)}
		rate := limitByAxis(m.MaxRate, u) / 60
		if motion == 1 {
			if !(feed > 0) {
				return est, qrmfg.FieldError("gcode", "line %d %q: G1 without a feed rate", n+1, line)
			}
			rate = min(rate, feed)
		}
		b.nominal = rate
		switch {
		case kindOf != 255:
			b.kind = kindOf
		case motion == 0:
			b.kind = KindTravel
		case spindle && s > 0:
			b.kind = KindBurn
		default:
			b.kind = KindGap
		}
		if len(blocks) > 0 {
			p := blocks[len(blocks)-1]
			j := junctionSpeed(p.unit, u, m.Accel, m.JunctionDeviation)
			b.maxEntry = min(j, p.nominal, b.nominal)
		}
		blocks = append(blocks, b)
	}
	flush()
	var total float64
	add := func(k Kind, t float64) {
		d := time.Duration(t * float64(time.Second))
		switch k {
		case KindBurn:
			est.Burn += d
		case KindGap:
			est.Gap += d
		case KindOverscan:
			est.Overscan += d
		default:
			est.Travel += d
		}
		total += t
	}
	for _, bs := range segments {
		// v[i] is the speed at the start of block i; v[len] = 0.
		v := make([]float64, len(bs)+1)
		for i := range bs {
			v[i] = bs[i].maxEntry
		}
		for i := len(bs) - 1; i >= 0; i-- {
			v[i] = min(v[i], math.Sqrt(v[i+1]*v[i+1]+2*bs[i].accel*bs[i].length))
		}
		for i := range bs {
			v[i+1] = min(v[i+1], math.Sqrt(v[i]*v[i]+2*bs[i].accel*bs[i].length))
		}
		for i, b := range bs {
			add(b.kind, trapezoid(b.length, v[i], v[i+1], b.nominal, b.accel))
		}
		est.Blocks += len(bs)
	}
	est.Dwell = dwell
	est.Total = est.Burn + est.Gap + est.Overscan + est.Travel + est.Dwell
	return est, nil
}
