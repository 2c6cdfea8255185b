package grblsim

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// GRBL error codes the simulator answers.
const (
	errExpectedLetter = 1
	errBadNumber      = 2
	errInvalidDollar  = 3
	errNegative       = 4
	errHomingDisabled = 5
	errNotIdle        = 8
	errLocked         = 9
	errOverflow       = 11
	errUnsupported    = 20
	errModalGroup     = 21
	errNoFeed         = 22
	errRepeatedWord   = 25
)

// protocolLoop takes complete lines from the receive buffer and executes
// them, answering ok or error:N, like GRBL's protocol_main_loop.
func (s *Sim) protocolLoop() {
	defer s.wg.Done()
	for {
		s.mu.Lock()
		for s.ctx.Err() == nil && (s.resetRequired || !hasLine(s.rx)) {
			s.cond.Wait()
		}
		if s.ctx.Err() != nil {
			s.mu.Unlock()
			return
		}
		delay := s.faults.LineDelay
		gen := s.gen
		s.mu.Unlock()
		if delay > 0 {
			time.Sleep(delay)
		}
		s.mu.Lock()
		if s.gen != gen || !hasLine(s.rx) {
			s.mu.Unlock()
			continue
		}
		i := slices.IndexFunc(s.rx, func(b byte) bool { return b == '\n' || b == '\r' })
		raw := string(s.rx[:i])
		s.rx = append(s.rx[:0], s.rx[i+1:]...)
		s.stats.Lines++
		s.lastLine = time.Now()
		s.executeLocked(raw)
		s.mu.Unlock()
	}
}

func hasLine(rx []byte) bool {
	return slices.ContainsFunc(rx, func(b byte) bool { return b == '\n' || b == '\r' })
}

// clean strips spaces, comments and control characters and upper-cases the
// line, as GRBL's serial parser does.
func clean(raw string) string {
	var b strings.Builder
	comment := false
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		switch {
		case comment:
			if c == ')' {
				comment = false
			}
		case c == '(':
			comment = true
		case c == ';':
			return b.String()
		case c <= ' ':
		default:
			if c >= 'a' && c <= 'z' {
				c -= 'a' - 'A'
			}
			b.WriteByte(c)
		}
	}
	return b.String()
}

// reply answers a line; a negative code means the line was already answered
// or is never answered (a reset or an alarm intervened).
func (s *Sim) reply(code int) {
	switch {
	case code < 0:
		return
	case code == 0:
		s.sendLocked("ok")
	default:
		s.sendLocked("error:" + strconv.Itoa(code))
	}
}

func (s *Sim) executeLocked(raw string) {
	if len(raw) >= 80 {
		s.reply(errOverflow)
		return
	}
	line := clean(raw)
	if line == "" {
		s.reply(0)
		return
	}
	if line[0] == '$' {
		s.reply(s.systemLocked(line))
		return
	}
	s.stats.GcodeLines++
	s.faultLines++
	f, n := s.faults, s.faultLines
	switch {
	case f.DropAfterLines > 0 && n >= f.DropAfterLines:
		s.faults.DropAfterLines = 0
		s.stats.DroppedAt = time.Now()
		if s.cur != nil {
			s.cur.close()
			s.cur = nil
		}
		return
	case f.ResetAtLine == n:
		s.resetLocked(false)
		return
	case f.AlarmAtLine == n && f.AlarmCode == 3:
		// Reset while in motion: ALARM:3, then the reset's banner.
		s.raiseLocked(3)
		s.resetLocked(true)
		return
	case f.AlarmAtLine == n && f.AlarmCode > 0:
		s.raiseLocked(f.AlarmCode)
		if !s.resetRequired {
			s.reply(errLocked) // the line is answered, like every line after it
		}
		return
	case f.ErrorAtLine == n && f.ErrorCode > 0:
		s.reply(f.ErrorCode)
		return
	case f.DoorAtLine == n:
		s.openDoorLocked()
	}
	if s.st == stAlarm {
		s.reply(errLocked)
		return
	}
	s.reply(s.gcodeLocked(line))
}

func (s *Sim) systemLocked(line string) int {
	idle := s.st == stIdle || s.st == stAlarm
	switch {
	case line == "$":
		s.sendLocked("[HLP:$$ $# $G $I $N $x=val $Nx=line $J=line $SLP $C $X $H ~ ! ? ctrl-x]")
	case line == "$$":
		for _, k := range slices.Sorted(maps.Keys(s.settings)) {
			s.sendLocked(fmt.Sprintf("$%d=%s", k, settingString(k, s.settings[k])))
		}
	case line == "$I":
		s.sendLocked("[VER:" + Version + ":" + s.id + "]")
		s.sendLocked(fmt.Sprintf("[OPT:V,%d,%d]", s.cfg.PlannerBlocks, s.cfg.RXBufferSize))
	case strings.HasPrefix(line, "$I="):
		if !idle {
			return errNotIdle
		}
		s.id = line[3:]
	case line == "$G":
		m := s.modal
		units, dist, spindle := "G21", "G90", "M5"
		if m.inches {
			units = "G20"
		}
		if !m.absolute {
			dist = "G91"
		}
		if m.spindle != 0 {
			spindle = "M" + strconv.Itoa(m.spindle)
		}
		s.sendLocked(fmt.Sprintf("[GC:G%d G54 G17 %s %s G94 %s M9 T0 F%g S%g]", m.motion, units, dist, spindle, m.feed, m.s))
	case line == "$#":
		for _, p := range []string{"G54", "G55", "G56", "G57", "G58", "G59", "G28", "G30", "G92"} {
			s.sendLocked("[" + p + ":0.000,0.000,0.000]")
		}
		s.sendLocked("[TLO:0.000]")
		s.sendLocked("[PRB:0.000,0.000,0.000:0]")
	case line == "$X":
		if s.st == stAlarm {
			s.st, s.alarm = stIdle, 0
			s.sendLocked("[MSG:Caution: Unlocked]")
			s.cond.Broadcast()
		}
	case line == "$H":
		if s.settings[22] != 1 {
			return errHomingDisabled
		}
		if !idle {
			return errNotIdle
		}
		s.homeLocked()
	case line == "$C":
		if !idle {
			return errNotIdle
		}
		if s.st == stCheck {
			s.reply(0)
			s.resetLocked(true)
			s.sendLocked("[MSG:Disabled]")
			return -1
		}
		s.st = stCheck
		s.sendLocked("[MSG:Enabled]")
	case len(line) > 1 && line[1] >= '0' && line[1] <= '9':
		k, v, ok := strings.Cut(line[1:], "=")
		if !ok {
			return errInvalidDollar
		}
		n, err := strconv.Atoi(k)
		if err != nil {
			return errInvalidDollar
		}
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return errBadNumber
		}
		if _, ok := s.settings[n]; !ok {
			return errInvalidDollar
		}
		if f < 0 {
			return errNegative
		}
		if !idle {
			return errNotIdle
		}
		s.settings[n] = f
	default:
		return errInvalidDollar
	}
	return 0
}

func settingString(k int, v float64) string {
	switch k {
	case 0, 1, 2, 3, 4, 5, 6, 10, 13, 20, 21, 22, 23, 26, 30, 31, 32:
		return strconv.FormatFloat(v, 'f', -1, 64)
	}
	return strconv.FormatFloat(v, 'f', 3, 64)
}

// homeLocked runs the homing cycle: the head returns to the machine origin
// at the homing seek rate ($25), which then becomes position 0.
func (s *Sim) homeLocked() {
	s.st = stHome
	d := math.Hypot(s.pos[0], s.pos[1]) + math.Abs(s.pos[2])
	rate := s.settings[25] / 60
	gen := s.gen
	s.mu.Unlock()
	time.Sleep(time.Duration(d / rate / s.scale * float64(time.Second)))
	s.mu.Lock()
	if s.gen != gen {
		return // reset during homing
	}
	s.pos = [3]float64{}
	s.st, s.alarm = stIdle, 0
	s.cond.Broadcast()
}

type gword struct {
	letter byte
	value  float64
}

func parseLine(line string) ([]gword, int) {
	var ws []gword
	for i := 0; i < len(line); {
		c := line[i]
		if c < 'A' || c > 'Z' {
			return nil, errExpectedLetter
		}
		j := i + 1
		for j < len(line) && (line[j] == '.' || line[j] == '-' || line[j] == '+' || (line[j] >= '0' && line[j] <= '9')) {
			j++
		}
		v, err := strconv.ParseFloat(line[i+1:j], 64)
		if err != nil || math.IsInf(v, 0) {
			return nil, errBadNumber
		}
		ws = append(ws, gword{c, v})
		i = j
	}
	return ws, 0
}

// gcodeLocked parses and executes one G-code block; 0 means ok.
func (s *Sim) gcodeLocked(line string) int {
	ws, code := parseLine(line)
	if code != 0 {
		return code
	}
	m := s.modal
	from := s.plannedPosLocked()
	target := from
	moved, dwell, motionSet := false, false, false
	var pval float64
	seen := map[byte]bool{}
	spindleChange, end := false, false
	for _, w := range ws {
		switch w.letter {
		case 'G':
			switch w.value {
			case 0, 1:
				if motionSet {
					return errModalGroup
				}
				motionSet = true
				m.motion = int(w.value)
			case 4:
				dwell = true
			case 17, 54, 94:
			case 20:
				m.inches = true
			case 21:
				m.inches = false
			case 90:
				m.absolute = true
			case 91:
				m.absolute = false
			default:
				return errUnsupported
			}
			continue
		case 'M':
			switch w.value {
			case 3, 4:
				spindleChange = m.spindle != int(w.value)
				m.spindle = int(w.value)
			case 5:
				spindleChange = m.spindle != 0
				m.spindle = 0
			case 2, 30:
				end = true
			case 8, 9:
			default:
				return errUnsupported
			}
			continue
		}
		if seen[w.letter] {
			return errRepeatedWord
		}
		seen[w.letter] = true
		switch w.letter {
		case 'X', 'Y', 'Z':
			moved = true
		case 'F':
			if w.value < 0 {
				return errNegative
			}
		case 'S', 'P':
			if w.value < 0 {
				return errNegative
			}
		case 'N':
		case 'T':
		default:
			return errUnsupported
		}
	}
	unit := 1.0
	if m.inches {
		unit = 25.4
	}
	for _, w := range ws {
		switch w.letter {
		case 'X', 'Y', 'Z':
			ax := int(w.letter - 'X')
			if m.absolute {
				target[ax] = w.value * unit
			} else {
				target[ax] = from[ax] + w.value*unit
			}
			if dwell {
				return errUnsupported // axis words with G4
			}
		case 'F':
			m.feed = w.value * unit
		case 'S':
			m.s = w.value
		case 'P':
			pval = w.value
		case 'N':
			m.line = int(w.value)
		}
	}
	if moved && m.motion == 1 && !(m.feed > 0) {
		return errNoFeed
	}
	if moved && s.settings[20] == 1 {
		if target[0] < 0 || target[0] > s.settings[130] || target[1] < 0 || target[1] > s.settings[131] {
			s.raiseLocked(2)
			return -1
		}
	}
	if s.st == stCheck {
		s.modal = m
		return 0
	}
	gen := s.gen
	if spindleChange {
		if !s.queueLocked(&block{kind: bkSync}, gen) {
			return -1
		}
	}
	if dwell {
		if !s.queueLocked(&block{kind: bkDwell, dwell: pval}, gen) {
			return -1
		}
	}
	if moved {
		b := s.motionBlock(m, target)
		if b != nil && !s.queueLocked(b, gen) {
			return -1
		}
	}
	if end {
		if !s.queueLocked(&block{kind: bkSync}, gen) {
			return -1
		}
		m.spindle, m.motion, m.absolute = 0, 1, true
	}
	s.modal = m
	return 0
}

func limitByAxis(limits [3]float64, unit [3]float64) float64 {
	v := math.Inf(1)
	for i, u := range unit {
		if u != 0 {
			v = min(v, math.Abs(limits[i]/u))
		}
	}
	return v
}

// plannedPosLocked is where the head will be when the planner is empty.
func (s *Sim) plannedPosLocked() [3]float64 {
	for i := len(s.planner) - 1; i >= 0; i-- {
		if s.planner[i].kind == bkMotion {
			return s.planner[i].target
		}
	}
	return s.pos
}

func (s *Sim) motionBlock(m modalState, target [3]float64) *block {
	start := s.plannedPosLocked()
	var d [3]float64
	l2 := 0.0
	for i := range d {
		d[i] = target[i] - start[i]
		l2 += d[i] * d[i]
	}
	length := math.Sqrt(l2)
	if length < 1e-6 {
		return nil
	}
	b := &block{kind: bkMotion, start: start, target: target, length: length, rapid: m.motion == 0,
		spindle: m.spindle, s: m.s, line: m.line}
	for i := range d {
		b.unit[i] = d[i] / length
	}
	rates := [3]float64{s.settings[110], s.settings[111], s.settings[112]}
	acc := [3]float64{s.settings[120], s.settings[121], s.settings[122]}
	b.accel = limitByAxis(acc, b.unit)
	b.nominal = limitByAxis(rates, b.unit) / 60
	if !b.rapid {
		b.nominal = min(b.nominal, m.feed/60)
	}
	return b
}

// queueLocked waits for room in the planner and appends b; false when a
// reset or an alarm intervened.
func (s *Sim) queueLocked(b *block, gen int) bool {
	for len(s.planner) >= s.cfg.PlannerBlocks && s.gen == gen && s.st != stAlarm && s.ctx.Err() == nil {
		s.cond.Wait()
	}
	if s.gen != gen || s.st == stAlarm || s.ctx.Err() != nil {
		return false
	}
	if b.kind == bkMotion {
		// GRBL's junction deviation: the fastest speed through the corner.
		last := len(s.planner) - 1
		if last >= 0 && s.planner[last].kind == bkMotion {
			b.maxEntry = min(junction(s.lastU, b.unit, s.settings), s.lastN, b.nominal)
		}
		s.lastU, s.lastN = b.unit, b.nominal
	} else {
		s.lastN = 0
	}
	s.planner = append(s.planner, b)
	s.replanLocked()
	if s.st == stIdle {
		s.st = stRun
	}
	s.cond.Broadcast()
	return true
}

func junction(prev, u [3]float64, settings map[int]float64) float64 {
	cos := -(prev[0]*u[0] + prev[1]*u[1] + prev[2]*u[2])
	if cos > 0.999999 {
		return 0
	}
	if cos < -0.999999 {
		return math.Inf(1)
	}
	var ju [3]float64
	n := 0.0
	for i := range ju {
		ju[i] = u[i] - prev[i]
		n += ju[i] * ju[i]
	}
	n = math.Sqrt(n)
	for i := range ju {
		ju[i] /= n
	}
	a := limitByAxis([3]float64{settings[120], settings[121], settings[122]}, ju)
	sin := math.Sqrt(0.5 * (1 - cos))
	return math.Sqrt(a * settings[11] * sin / (1 - sin))
}

// replanLocked recomputes the entry speeds of the queued blocks: backward
// from a stop after the last block, forward from the current speed of the
// block being executed.
func (s *Sim) replanLocked() {
	p := s.planner
	next := 0.0
	for i := len(p) - 1; i >= 1; i-- {
		b := p[i]
		if b.kind != bkMotion {
			b.entry, next = 0, 0
			continue
		}
		b.entry = min(b.maxEntry, math.Sqrt(next*next+2*b.accel*b.length))
		next = b.entry
	}
	if len(p) < 2 {
		return
	}
	v, rem, a := 0.0, 0.0, 0.0
	if p[0].kind == bkMotion {
		v, rem, a = s.v, p[0].length-p[0].progress, p[0].accel
	}
	for i := 1; i < len(p); i++ {
		b := p[i]
		if b.kind != bkMotion {
			v, rem, a = 0, 0, 0
			continue
		}
		b.entry = min(b.entry, math.Sqrt(v*v+2*a*rem))
		v, rem, a = b.entry, b.length, b.accel
	}
}

// exitLocked is the speed the executing block must end at.
func (s *Sim) exitLocked() float64 {
	if len(s.planner) > 1 && s.planner[1].kind == bkMotion {
		return s.planner[1].entry
	}
	return 0
}
