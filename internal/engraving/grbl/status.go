package grbl

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Status is a parsed status report (<Idle|MPos:...|...>).
type Status struct {
	State    string // Idle, Run, Hold, Jog, Alarm, Door, Check, Home, Sleep
	SubState int    // Hold:0/1, Door:0..3; -1 when absent
	MPos     [3]float64
	WPos     [3]float64 // MPos minus the last work coordinate offset
	Feed     float64    // mm/min
	Speed    float64    // spindle / laser S value
	// PlannerFree and RXFree are the Bf: field; -1 when not reported.
	PlannerFree, RXFree int
	Line                int    // Ln: line number, 0 when absent
	Pins                string // Pn: input pins (X Y Z P D H R S)
	Overrides           [3]int // Ov: feed, rapid, spindle percent; zero when absent
	Accessory           string // A: S (laser on, M3), C (laser on, M4), F, M
	At                  time.Time
}

// LaserOn reports whether the status says the spindle (laser) output is on.
func (s Status) LaserOn() bool { return strings.ContainsAny(s.Accessory, "SC") }

// parseStatus parses a report. wco holds the last work coordinate offset,
// updated when the report carries one.
func parseStatus(l string, wco *[3]float64) (Status, error) {
	st := Status{SubState: -1, PlannerFree: -1, RXFree: -1}
	fields := strings.Split(l[1:len(l)-1], "|")
	state, sub, ok := strings.Cut(fields[0], ":")
	st.State = state
	if ok {
		n, err := strconv.Atoi(sub)
		if err != nil {
			return st, fmt.Errorf("bad substate %q", sub)
		}
		st.SubState = n
	}
	var mpos, wpos *[3]float64
	for _, f := range fields[1:] {
		k, v, ok := strings.Cut(f, ":")
		if !ok {
			return st, fmt.Errorf("bad field %q", f)
		}
		nums := func() ([]float64, error) {
			var out []float64
			for _, p := range strings.Split(v, ",") {
				x, err := strconv.ParseFloat(p, 64)
				if err != nil {
					return nil, fmt.Errorf("bad number in %q", f)
				}
				out = append(out, x)
			}
			return out, nil
		}
		switch k {
		case "MPos", "WPos", "WCO":
			xs, err := nums()
			if err != nil || len(xs) < 3 {
				return st, fmt.Errorf("bad position %q", f)
			}
			p := [3]float64{xs[0], xs[1], xs[2]}
			switch k {
			case "MPos":
				mpos = &p
			case "WPos":
				wpos = &p
			default:
				*wco = p
			}
		case "Bf":
			xs, err := nums()
			if err != nil || len(xs) != 2 {
				return st, fmt.Errorf("bad buffer %q", f)
			}
			st.PlannerFree, st.RXFree = int(xs[0]), int(xs[1])
		case "Ln":
			n, err := strconv.Atoi(v)
			if err != nil {
				return st, fmt.Errorf("bad line %q", f)
			}
			st.Line = n
		case "FS", "F":
			xs, err := nums()
			if err != nil || len(xs) == 0 {
				return st, fmt.Errorf("bad feed %q", f)
			}
			st.Feed = xs[0]
			if len(xs) > 1 {
				st.Speed = xs[1]
			}
		case "Pn":
			st.Pins = v
		case "Ov":
			xs, err := nums()
			if err != nil || len(xs) != 3 {
				return st, fmt.Errorf("bad overrides %q", f)
			}
			st.Overrides = [3]int{int(xs[0]), int(xs[1]), int(xs[2])}
		case "A":
			st.Accessory = v
		}
	}
	for i := range 3 {
		switch {
		case mpos != nil:
			st.MPos[i] = mpos[i]
			st.WPos[i] = mpos[i] - wco[i]
		case wpos != nil:
			st.WPos[i] = wpos[i]
			st.MPos[i] = wpos[i] + wco[i]
		}
	}
	return st, nil
}

// Settings are the controller's $$ values.
type Settings struct {
	Values            map[int]float64 // every $n=value read
	StatusMask        int             // $10
	JunctionDeviation float64         // $11, mm
	SoftLimits        bool            // $20
	HardLimits        bool            // $21
	Homing            bool            // $22
	MaxSpindle        float64         // $30, S of full power
	MinSpindle        float64         // $31
	LaserMode         bool            // $32
	StepsPerMM        [3]float64      // $100..$102
	MaxRate           [3]float64      // $110..$112, mm/min
	Accel             [3]float64      // $120..$122, mm/s²
	MaxTravel         [3]float64      // $130..$132, mm
}

func parseSettings(lines []string) Settings {
	s := Settings{Values: map[int]float64{}}
	for _, l := range lines {
		if !strings.HasPrefix(l, "$") {
			continue
		}
		k, v, ok := strings.Cut(l[1:], "=")
		if !ok {
			continue
		}
		n, err1 := strconv.Atoi(k)
		// Some builds append a comment: "$30=1000 (rpm max)".
		v, _, _ = strings.Cut(v, " ")
		x, err2 := strconv.ParseFloat(v, 64)
		if err1 != nil || err2 != nil {
			continue
		}
		s.Values[n] = x
	}
	g := s.Values
	s.StatusMask = int(g[10])
	s.JunctionDeviation = g[11]
	s.SoftLimits, s.HardLimits, s.Homing = g[20] == 1, g[21] == 1, g[22] == 1
	s.MaxSpindle, s.MinSpindle, s.LaserMode = g[30], g[31], g[32] == 1
	for i := range 3 {
		s.StepsPerMM[i] = g[100+i]
		s.MaxRate[i] = g[110+i]
		s.Accel[i] = g[120+i]
		s.MaxTravel[i] = g[130+i]
	}
	return s
}

func parseInfo(lines []string) Info {
	var in Info
	for _, l := range lines {
		switch {
		case strings.HasPrefix(l, "[VER:") && strings.HasSuffix(l, "]"):
			v := l[len("[VER:") : len(l)-1]
			in.Version, in.ID, _ = strings.Cut(v, ":")
		case strings.HasPrefix(l, "[OPT:") && strings.HasSuffix(l, "]"):
			parts := strings.Split(l[len("[OPT:"):len(l)-1], ",")
			in.Options = parts[0]
			if len(parts) >= 3 {
				in.PlannerBlocks, _ = strconv.Atoi(parts[1])
				in.RXBufferSize, _ = strconv.Atoi(parts[2])
			}
		}
	}
	if in.PlannerBlocks == 0 {
		in.PlannerBlocks = 15
	}
	return in
}
