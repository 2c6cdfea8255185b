package grblsim

import (
	"math"
	"runtime"
	"time"
)

// tick is the step of the motion loop in virtual seconds.
const tick = 0.0002

// executorLoop moves the head through the planned blocks on the virtual
// clock, a fixed-step integration of speed under the acceleration limit (the
// stepper loop), and keeps it in step with the wall clock at TimeScale.
func (s *Sim) executorLoop() {
	defer s.wg.Done()
	var (
		realStart time.Time
		virt      float64 // virtual seconds since realStart
		paced     bool
		ticks     int
	)
	s.mu.Lock()
	defer s.mu.Unlock()
	for {
		for s.ctx.Err() == nil && !s.canMoveLocked() {
			paced = false
			s.cond.Wait()
		}
		if s.ctx.Err() != nil {
			return
		}
		if !paced {
			realStart, virt, paced = time.Now(), 0, true
		}
		dt := s.stepLocked(tick)
		virt += dt
		ahead := time.Duration(virt/s.scale*float64(time.Second)) - time.Since(realStart)
		ticks++
		switch {
		case ahead > 2*time.Millisecond:
			s.mu.Unlock()
			time.Sleep(ahead)
			s.mu.Lock()
		case ticks%256 == 0: // let the protocol and the reader in
			s.mu.Unlock()
			runtime.Gosched()
			s.mu.Lock()
		}
	}
}

// lookaheadIdle is how long FullLookahead waits for more lines.
const lookaheadIdle = 50 * time.Millisecond

func (s *Sim) canMoveLocked() bool {
	if len(s.planner) == 0 {
		return false
	}
	// A feed hold, the door or a reset act at once: only running motion
	// waits for more lines.
	if s.cfg.FullLookahead && s.st == stRun && len(s.planner) < s.cfg.PlannerBlocks {
		if wait := lookaheadIdle - time.Since(s.lastLine); wait > 0 {
			if s.idleTimer == nil {
				s.idleTimer = time.AfterFunc(wait, func() {
					s.mu.Lock()
					s.idleTimer = nil
					s.cond.Broadcast()
					s.mu.Unlock()
				})
			}
			return false
		}
	}
	switch s.st {
	case stRun:
		return true
	case stHold, stDoor:
		return !s.holdDone
	}
	return false
}

// stepLocked advances the motion by up to dt virtual seconds and returns
// the time used.
func (s *Sim) stepLocked(dt float64) float64 {
	b := s.planner[0]
	switch b.kind {
	case bkSync:
		s.popLocked()
		return 0
	case bkDwell:
		if s.st != stRun {
			s.holdDone = true
			return 0
		}
		step := min(dt, b.dwell-b.progress)
		b.progress += step
		s.stats.MotionTime += dur(step)
		if b.progress >= b.dwell-1e-12 {
			s.popLocked()
		}
		return step
	}
	holding := s.st != stRun
	v0 := s.v
	var v1 float64
	if holding {
		v1 = max(0, v0-b.accel*dt)
	} else {
		rem := b.length - b.progress
		exit := s.exitLocked()
		v1 = min(b.nominal, v0+b.accel*dt, math.Sqrt(exit*exit+2*b.accel*max(0, rem-v0*dt)))
		v1 = max(v1, min(v0, exit)) // never slow below the exit speed because of the look-ahead of one tick
	}
	used := dt
	ds := (v0 + v1) / 2 * dt
	rem := b.length - b.progress
	if ds >= rem {
		// The block ends inside this tick: find when, at constant acceleration.
		acc := (v1 - v0) / dt
		if math.Abs(acc) < 1e-9 {
			used = rem / max(v0, 1e-9)
		} else {
			disc := v0*v0 + 2*acc*rem
			used = (-v0 + math.Sqrt(max(0, disc))) / acc
		}
		used = min(max(used, 0), dt)
		v1 = v0 + acc*used
		ds = rem
	}
	power := s.laserPowerLocked()
	from := s.pos
	b.progress += ds
	for i := range s.pos {
		s.pos[i] = b.start[i] + b.unit[i]*b.progress
	}
	s.v = v1
	s.stats.MotionTime += dur(used)
	if power > 0 {
		s.stats.BurnTime += dur(used)
		s.burnLocked(from, s.pos, power)
	} else {
		s.flushSpanLocked()
	}
	if b.progress >= b.length-1e-9 {
		s.pos = b.target
		s.popLocked()
	}
	if holding && s.v == 0 {
		s.holdDone = true
		s.flushSpanLocked()
		s.cond.Broadcast()
	}
	return used
}

func dur(sec float64) time.Duration { return time.Duration(sec * float64(time.Second)) }

func (s *Sim) popLocked() {
	s.flushSpanLocked()
	s.planner[0] = nil
	s.planner = s.planner[1:]
	if len(s.planner) == 0 {
		s.v = 0
		if s.st == stRun {
			s.st = stIdle
			s.stats.PlannerEmptied++
		}
		s.lastN = 0
	} else {
		s.replanLocked()
	}
	s.cond.Broadcast()
}

// burnSpan is a stretch of track burned at about the same power, drawn at
// once when it ends.
type burnSpan struct {
	on       bool
	from, to [3]float64
	power    float64
}

func (s *Sim) burnLocked(from, to [3]float64, power float64) {
	sp := &s.span
	if sp.on && math.Abs(sp.power-power) < 0.02 && sp.to == from {
		sp.to = to
		return
	}
	s.flushSpanLocked()
	*sp = burnSpan{on: true, from: from, to: to, power: power}
}

// flushSpanLocked draws the open span: every pixel whose centre lies within
// half the beam width of the track (at least half a pixel) darkens to min(1, gain·power).
func (s *Sim) flushSpanLocked() {
	sp := s.span
	if !sp.on {
		return
	}
	s.span.on = false
	d := uint8(math.Round(255 * min(1, s.gain*sp.power)))
	// A track at least one pixel wide, so a beam as wide as a pixel never
	// falls between two pixel centres.
	r := max(s.beam/2, 0.5/s.res) + 1e-6
	ax, ay, bx, by := sp.from[0], sp.from[1], sp.to[0], sp.to[1]
	x0 := int(math.Floor((min(ax, bx) - r) * s.res))
	x1 := int(math.Ceil((max(ax, bx) + r) * s.res))
	y0 := int(math.Floor((min(ay, by) - r) * s.res))
	y1 := int(math.Ceil((max(ay, by) + r) * s.res))
	dx, dy := bx-ax, by-ay
	l2 := dx*dx + dy*dy
	for py := max(y0, 0); py <= min(y1, s.h-1); py++ {
		cy := (float64(py) + 0.5) / s.res // machine Y of the pixel row, counted from the bottom
		row := s.h - 1 - py
		for px := max(x0, 0); px <= min(x1, s.w-1); px++ {
			cx := (float64(px) + 0.5) / s.res
			t := 0.0
			if l2 > 0 {
				t = min(1, max(0, ((cx-ax)*dx+(cy-ay)*dy)/l2))
			}
			ex, ey := ax+t*dx-cx, ay+t*dy-cy
			if ex*ex+ey*ey <= r*r {
				if i := row*s.w + px; s.dark[i] < d {
					s.dark[i] = d
				}
			}
		}
	}
}
