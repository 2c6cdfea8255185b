// Package grblsim is a GRBL 1.1 laser controller in software. It speaks the
// GRBL serial protocol over TCP or a pseudo-terminal (the same bytes a real
// controller sends: banner, ok/error:N, ALARM:N, status reports, $$ and $I),
// keeps GRBL's 128-byte receive buffer and 15-block planner, moves with
// acceleration on a virtual clock that runs TimeScale times faster than the
// wall clock, and renders what the beam burned into a grey image of the work
// area. Faults (disconnects, alarms, errors, silent status, resets, a slow
// consumer) can be injected to test drivers. See docs/adr/0004-grbl-simulator.md.
package grblsim

import (
	"context"
	"errors"
	"fmt"
	"image"
	"io"
	"maps"
	"math"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/qrmfg/qrmfg/internal/qrmfg"
)

// Version strings reported by the simulator.
const (
	Banner  = "Grbl 1.1h ['$' for help]"
	Version = "1.1h.20190825"
)

// Config configures a simulator. The zero value is a usable machine running
// in real time.
type Config struct {
	// Settings override GRBL settings ($$) by number, e.g. {30: 255, 110: 3000}.
	Settings map[int]float64
	// TimeScale is how many virtual seconds pass per wall-clock second; 0 means 1.
	TimeScale float64
	// Resolution of the burn image in pixels per mm; 0 means 10.
	Resolution float64
	// BeamWidth is the diameter of the burned track in mm; 0 means 0.1.
	BeamWidth float64
	// BurnGain maps power to darkness: a pixel hit at power fraction p gets
	// darkness min(1, BurnGain·p). 0 means 2 (half power burns black).
	BurnGain float64
	// RXBufferSize is the serial receive buffer in bytes; 0 means 128.
	RXBufferSize int
	// PlannerBlocks is the number of motion blocks the planner holds; 0 means 15.
	PlannerBlocks int
	// NoResetOnConnect keeps the controller running when a client connects.
	// By default a new connection resets it, as opening the USB serial port
	// of an Arduino-based controller does (DTR).
	NoResetOnConnect bool
	// HomingLock starts the controller in Alarm until $H or $X, as GRBL does
	// with homing enabled ($22=1).
	HomingLock bool
	// FullLookahead holds running motion until the planner is full or no
	// line has arrived for 50 ms (wall clock): a host that is never late.
	// The motion clock then measures the motion model alone, without the
	// stops a slow host causes by letting the planner run dry (counted in
	// Stats.PlannerEmptied). GRBL does not wait, but at TimeScale S the
	// host has S times less time to refill the planner than it would have
	// on a real machine, so at high scales the stops are an artefact of the
	// time compression: a raster line of a few milliseconds on the machine
	// must be sent, parsed and acknowledged within microseconds of wall
	// time. Feed hold, the door and resets are not delayed.
	FullLookahead bool
	// ID is the build info string reported by $I.
	ID string
	// Faults are injected from the start; change them with SetFaults.
	Faults Faults
}

// Faults are failures the simulator injects. Line numbers count the G-code
// lines the controller takes from its receive buffer since the faults were
// set (1 = the first); 0 disables a fault.
type Faults struct {
	// DropAfterLines closes the connection when that many lines have been taken.
	DropAfterLines int
	// AlarmAtLine raises ALARM:AlarmCode instead of executing that line.
	AlarmAtLine, AlarmCode int
	// ErrorAtLine answers error:ErrorCode instead of executing that line.
	ErrorAtLine, ErrorCode int
	// ResetAtLine restarts the controller (power loss): position lost, banner sent.
	ResetAtLine int
	// DoorAtLine opens the safety door when that line is taken.
	DoorAtLine int
	// MuteStatus stops answering '?'.
	MuteStatus bool
	// LineDelay is spent (wall clock) before each line is taken from the
	// receive buffer: a slow consumer that overflows a driver which does not
	// count characters.
	LineDelay time.Duration
}

// Stats are counters of the simulator since it started.
type Stats struct {
	Connections int
	// Lines is every line taken from the receive buffer; GcodeLines only the
	// G-code lines (not '$' commands, not empty), both since the current
	// connection was opened.
	Lines, GcodeLines int
	// RXOverflows counts bytes dropped because the receive buffer was full;
	// MaxRXUsed is the fullest the buffer has been.
	RXOverflows, MaxRXUsed int
	// MotionTime is the virtual time spent executing motion blocks and
	// dwells (the motion clock); BurnTime the part of it with the laser on.
	MotionTime, BurnTime time.Duration
	// PlannerEmptied counts the times motion stopped because the planner ran
	// out of blocks (once at the end of each job when the driver keeps up).
	PlannerEmptied int
	Resets         int
	Alarms         []int
	// DroppedAt is when the DropAfterLines fault last closed the connection.
	DroppedAt     time.Time
	StatusReports int
}

type state int

const (
	stIdle state = iota
	stRun
	stHold
	stDoor
	stAlarm
	stHome
	stCheck
)

type blockKind int

const (
	bkMotion blockKind = iota
	bkDwell
	bkSync // spindle change or program end: the machine stops here
)

type block struct {
	kind           blockKind
	start, target  [3]float64
	unit           [3]float64
	length         float64
	nominal, accel float64 // mm/s, mm/s²
	maxEntry       float64
	entry          float64 // planned, mm/s
	rapid          bool
	spindle        int // 0 off, 3 (M3) or 4 (M4)
	s              float64
	line           int // N word, 0 if none
	dwell          float64
	progress       float64 // mm done (motion) or s done (dwell)
}

// conn is the client currently attached.
type conn struct {
	rw     io.ReadWriteCloser
	mu     sync.Mutex
	queue  []byte
	wake   chan struct{}
	closed bool
}

func (c *conn) send(b []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return
	}
	c.queue = append(c.queue, b...)
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

func (c *conn) writer() {
	for range c.wake {
		c.mu.Lock()
		b := c.queue
		c.queue = nil
		closed := c.closed
		c.mu.Unlock()
		if closed {
			return
		}
		if len(b) > 0 {
			if _, err := c.rw.Write(b); err != nil {
				c.rw.Close()
				return
			}
		}
	}
}

func (c *conn) close() {
	c.mu.Lock()
	if !c.closed {
		c.closed = true
		close(c.wake)
	}
	c.mu.Unlock()
	c.rw.Close()
}

// Sim is a simulated GRBL controller. Create it with New, serve it with
// Serve, ListenAndServe or ServeConn, and Close it when done.
type Sim struct {
	cfg   Config
	scale float64

	mu   sync.Mutex
	cond *sync.Cond

	settings map[int]float64
	id       string

	st            state
	holdDone      bool // hold or door: motion has stopped
	doorOpen      bool
	resetRequired bool // after a critical alarm nothing runs until a soft reset
	alarm         int
	gen           int // incremented on every reset

	rx      []byte
	planner []*block

	pos   [3]float64
	v     float64 // current speed, mm/s
	modal modalState
	lastU [3]float64 // unit vector of the last planned motion block
	lastN float64    // nominal speed of the last planned motion block

	lastLine   time.Time // when the protocol last took a line
	idleTimer  *time.Timer
	cur        *conn
	faults     Faults
	faultLines int
	stats      Stats
	reports    int
	ovFeed     int
	ovRapid    int
	ovSpindle  int

	res  float64
	beam float64
	gain float64
	w, h int
	dark []uint8
	span burnSpan

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

type modalState struct {
	motion   int // 0 or 1
	absolute bool
	inches   bool
	feed     float64 // mm/min
	s        float64
	spindle  int
	line     int
}

func defaultModal() modalState { return modalState{absolute: true} }

// DefaultSettings are the $$ values of the simulated machine: a 200×200 mm
// diode laser, S 0..1000, laser mode on, 6000 mm/min and 1000 mm/s² on X/Y.
func DefaultSettings() map[int]float64 {
	return map[int]float64{
		0: 10, 1: 25, 2: 0, 3: 0, 4: 0, 5: 0, 6: 0, 10: 3, 11: 0.010, 12: 0.002, 13: 0,
		20: 0, 21: 0, 22: 1, 23: 0, 24: 25, 25: 500, 26: 250, 27: 1,
		30: 1000, 31: 0, 32: 1,
		100: 80, 101: 80, 102: 400, 110: 6000, 111: 6000, 112: 1000,
		120: 1000, 121: 1000, 122: 100, 130: 200, 131: 200, 132: 50,
	}
}

// New returns a simulator with cfg; its controller runs until Close.
func New(cfg Config) (*Sim, error) {
	s := &Sim{cfg: cfg, settings: DefaultSettings(), id: cfg.ID, ovFeed: 100, ovRapid: 100, ovSpindle: 100}
	maps.Copy(s.settings, cfg.Settings)
	for _, k := range slices.Sorted(maps.Keys(cfg.Settings)) {
		if _, ok := DefaultSettings()[k]; !ok {
			return nil, qrmfg.FieldError("settings", "$%d is not a GRBL setting", k)
		}
	}
	s.scale = cfg.TimeScale
	if s.scale == 0 {
		s.scale = 1
	}
	s.res, s.beam, s.gain = cfg.Resolution, cfg.BeamWidth, cfg.BurnGain
	if s.res == 0 {
		s.res = 10
	}
	if s.beam == 0 {
		s.beam = 0.1
	}
	if s.gain == 0 {
		s.gain = 2
	}
	if cfg.RXBufferSize == 0 {
		s.cfg.RXBufferSize = 128
	}
	if cfg.PlannerBlocks == 0 {
		s.cfg.PlannerBlocks = 15
	}
	switch {
	case !(s.scale > 0) || math.IsInf(s.scale, 0):
		return nil, qrmfg.FieldError("time_scale", "time scale must be > 0")
	case !(s.res > 0 && s.res <= 100):
		return nil, qrmfg.FieldError("resolution", "resolution must be in (0, 100] px/mm")
	case !(s.beam > 0 && s.beam < 10):
		return nil, qrmfg.FieldError("beam_width", "beam width must be in (0, 10) mm")
	case s.cfg.RXBufferSize < 16 || s.cfg.PlannerBlocks < 2:
		return nil, qrmfg.FieldError("rx_buffer_size", "buffers too small")
	case !(s.settings[130] > 0 && s.settings[131] > 0 && s.settings[130]*s.settings[131]*s.res*s.res <= 1<<26):
		return nil, qrmfg.FieldError("settings", "work area $130×$131 at %g px/mm must be positive and at most 64 Mpx", s.res)
	case !(s.settings[30] > 0):
		return nil, qrmfg.FieldError("settings", "$30 must be > 0")
	}
	for _, k := range []int{110, 111, 112, 120, 121, 122} {
		if !(s.settings[k] > 0) {
			return nil, qrmfg.FieldError("settings", "$%d must be > 0", k)
		}
	}
	s.w = int(math.Ceil(s.settings[130] * s.res))
	s.h = int(math.Ceil(s.settings[131] * s.res))
	s.dark = make([]uint8, s.w*s.h)
	s.faults = cfg.Faults
	s.modal = defaultModal()
	if cfg.HomingLock {
		s.st = stAlarm
	}
	s.cond = sync.NewCond(&s.mu)
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.wg.Add(2)
	go s.protocolLoop()
	go s.executorLoop()
	return s, nil
}

// Close stops the controller and disconnects the client.
func (s *Sim) Close() error {
	s.cancel()
	s.mu.Lock()
	if s.cur != nil {
		s.cur.close()
		s.cur = nil
	}
	s.cond.Broadcast()
	s.mu.Unlock()
	s.wg.Wait()
	return nil
}

// ListenAndServe listens on the TCP address addr and serves until ctx ends.
func (s *Sim) ListenAndServe(ctx context.Context, addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("grblsim: listen: %w", err)
	}
	return s.Serve(ctx, ln)
}

// Serve accepts clients on ln until ctx ends. One client is attached at a
// time, as on a serial port: a new connection replaces the previous one.
func (s *Sim) Serve(ctx context.Context, ln net.Listener) error {
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil || s.ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("grblsim: accept: %w", err)
		}
		go s.ServeConn(ctx, c) //nolint:errcheck // the error only reports the client going away
	}
}

// ServeConn serves one client (a TCP connection, a PTY) until it goes away
// or ctx ends, and closes it.
func (s *Sim) ServeConn(ctx context.Context, rw io.ReadWriteCloser) error {
	c := &conn{rw: rw, wake: make(chan struct{}, 1)}
	go c.writer()
	stop := context.AfterFunc(ctx, c.close)
	defer stop()
	s.mu.Lock()
	if s.cur != nil {
		s.cur.close()
	}
	s.cur = c
	s.stats.Connections++
	s.stats.Lines, s.stats.GcodeLines = 0, 0
	if s.cfg.NoResetOnConnect {
		s.sendLocked("\r\n" + Banner)
	} else {
		s.resetLocked(false)
	}
	s.mu.Unlock()
	buf := make([]byte, 256)
	for {
		n, err := rw.Read(buf)
		s.mu.Lock()
		if s.cur != c {
			s.mu.Unlock()
			return nil
		}
		for _, b := range buf[:n] {
			s.receiveLocked(b)
		}
		if err != nil {
			s.cur = nil
			s.mu.Unlock()
			c.close()
			if errors.Is(err, io.EOF) {
				return nil
			}
			return fmt.Errorf("grblsim: read: %w", err)
		}
		s.mu.Unlock()
	}
}

// SetFaults replaces the injected faults and restarts their line count.
func (s *Sim) SetFaults(f Faults) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = f
	s.faultLines = 0
}

// Stats returns a copy of the counters.
func (s *Sim) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stats
	st.Alarms = slices.Clone(s.stats.Alarms)
	return st
}

// State returns the machine state as GRBL names it in status reports,
// e.g. "Idle", "Hold:0", "Door:1", "Alarm".
func (s *Sim) State() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stateNameLocked()
}

// Position returns the machine position in mm.
func (s *Sim) Position() [3]float64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pos
}

// CloseDoor closes the safety door; a '~' then resumes.
func (s *Sim) CloseDoor() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.doorOpen = false
	s.cond.Broadcast()
}

// OpenDoor opens the safety door, as the door switch or 0x84 does.
func (s *Sim) OpenDoor() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.openDoorLocked()
}

// LaserOn reports whether the beam is firing right now.
func (s *Sim) LaserOn() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.laserPowerLocked() > 0
}

// Image returns what has been burned so far: the work area ($130×$131 mm)
// at Resolution px/mm, white (255) unburned, black fully burned. Pixel (0,0)
// is the machine's top-left corner (X 0, Y $131).
func (s *Sim) Image() *image.Gray {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.flushSpanLocked()
	img := image.NewGray(image.Rect(0, 0, s.w, s.h))
	for i, d := range s.dark {
		img.Pix[i] = 255 - d
	}
	return img
}

// ImageRect returns the part of Image covering the machine rectangle
// [x0,x1]×[y0,y1] in mm.
func (s *Sim) ImageRect(x0, y0, x1, y1 float64) *image.Gray {
	img := s.Image()
	r := image.Rect(int(math.Floor(x0*s.res)), s.h-int(math.Ceil(y1*s.res)),
		int(math.Ceil(x1*s.res)), s.h-int(math.Floor(y0*s.res))).Intersect(img.Rect)
	return img.SubImage(r).(*image.Gray)
}

// ClearImage erases the burn image (a fresh workpiece).
func (s *Sim) ClearImage() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.dark)
}

// Resolution returns the image resolution in px/mm.
func (s *Sim) Resolution() float64 { return s.res }

func (s *Sim) sendLocked(line string) {
	if s.cur != nil {
		s.cur.send([]byte(line + "\r\n"))
	}
}

func (s *Sim) stateNameLocked() string {
	switch s.st {
	case stRun:
		return "Run"
	case stHold:
		if s.holdDone {
			return "Hold:0"
		}
		return "Hold:1"
	case stDoor:
		switch {
		case !s.holdDone:
			return "Door:2"
		case s.doorOpen:
			return "Door:1"
		}
		return "Door:0"
	case stAlarm:
		return "Alarm"
	case stHome:
		return "Home"
	case stCheck:
		return "Check"
	}
	return "Idle"
}

// receiveLocked handles one byte from the client: real-time commands act at
// once, everything else goes to the receive buffer or is lost when it is full.
func (s *Sim) receiveLocked(b byte) {
	switch b {
	case '?':
		if !s.faults.MuteStatus {
			s.sendLocked(s.statusLocked())
		}
		return
	case '!':
		if s.st == stRun {
			s.st, s.holdDone = stHold, s.v == 0
			s.cond.Broadcast()
		}
		return
	case '~':
		switch {
		case s.st == stHold && s.holdDone, s.st == stDoor && s.holdDone && !s.doorOpen:
			s.st, s.holdDone = stRun, false
			if len(s.planner) == 0 {
				s.st = stIdle
			}
			s.replanLocked()
		}
		s.cond.Broadcast()
		return
	case 0x18:
		s.resetLocked(true)
		return
	case 0x84:
		s.openDoorLocked()
		return
	case 0x90:
		s.ovFeed = 100
		return
	case 0x91, 0x92, 0x93, 0x94:
		d := map[byte]int{0x91: 10, 0x92: -10, 0x93: 1, 0x94: -1}[b]
		s.ovFeed = min(200, max(10, s.ovFeed+d))
		return
	case 0x95, 0x96, 0x97:
		s.ovRapid = map[byte]int{0x95: 100, 0x96: 50, 0x97: 25}[b]
		return
	case 0x99:
		s.ovSpindle = 100
		return
	case 0x9A, 0x9B, 0x9C, 0x9D:
		d := map[byte]int{0x9A: 10, 0x9B: -10, 0x9C: 1, 0x9D: -1}[b]
		s.ovSpindle = min(200, max(10, s.ovSpindle+d))
		return
	}
	if b >= 0x80 {
		return // other extended real-time commands are ignored
	}
	if len(s.rx) >= s.cfg.RXBufferSize {
		s.stats.RXOverflows++
		return
	}
	s.rx = append(s.rx, b)
	s.stats.MaxRXUsed = max(s.stats.MaxRXUsed, len(s.rx))
	if b == '\n' || b == '\r' {
		s.cond.Broadcast()
	}
}

func (s *Sim) openDoorLocked() {
	s.doorOpen = true
	if s.st == stAlarm || s.st == stDoor {
		return
	}
	moving := s.st == stRun || (s.st == stHold && !s.holdDone)
	s.st, s.holdDone = stDoor, !moving || s.v == 0
	s.sendLocked("[MSG:Check Door]")
	s.cond.Broadcast()
}

// resetLocked is GRBL's reset: flush buffers, stop, report, print the banner.
// softReset distinguishes 0x18 (an alarm when it interrupts motion) from a
// restart (power loss, DTR), after which the position is simply lost.
func (s *Sim) resetLocked(softReset bool) {
	s.flushSpanLocked()
	moving := (s.st == stRun || s.st == stHold || s.st == stDoor || s.st == stHome) && (s.v > 0 || len(s.planner) > 0) && !(s.holdDone && s.st == stHold)
	s.gen++
	s.stats.Resets++
	s.rx = s.rx[:0]
	s.planner = nil
	s.v = 0
	s.modal = defaultModal()
	s.lastN = 0
	s.resetRequired = false
	if s.st == stDoor {
		s.st = stIdle
	}
	switch {
	case softReset && moving:
		s.raiseLocked(3)
	case !softReset:
		s.pos = [3]float64{}
		s.alarm = 0
		s.st = stIdle
		if s.cfg.HomingLock {
			s.st = stAlarm
		}
	case s.st != stAlarm:
		s.st = stIdle
	}
	s.doorOpen = false
	s.sendLocked("\r\n" + Banner)
	if s.st == stAlarm {
		s.sendLocked("[MSG:'$H'|'$X' to unlock]")
	}
	s.cond.Broadcast()
}

// raiseLocked enters Alarm: motion stops at once and the planner is
// flushed. Hard and soft limit alarms (1, 2) also need a reset to continue.
func (s *Sim) raiseLocked(code int) {
	s.flushSpanLocked()
	s.st = stAlarm
	s.alarm = code
	s.planner = nil
	s.v = 0
	s.stats.Alarms = append(s.stats.Alarms, code)
	s.sendLocked("ALARM:" + strconv.Itoa(code))
	if code == 1 || code == 2 {
		s.resetRequired = true
		s.rx = s.rx[:0]
		s.sendLocked("[MSG:Reset to continue]")
	}
	s.cond.Broadcast()
}

func f3(v float64) string { return strconv.FormatFloat(v, 'f', 3, 64) }

func (s *Sim) statusLocked() string {
	s.stats.StatusReports++
	s.reports++
	var b strings.Builder
	b.WriteString("<" + s.stateNameLocked())
	mask := int(s.settings[10])
	if mask&1 != 0 {
		fmt.Fprintf(&b, "|MPos:%s,%s,%s", f3(s.pos[0]), f3(s.pos[1]), f3(s.pos[2]))
	} else {
		fmt.Fprintf(&b, "|WPos:%s,%s,%s", f3(s.pos[0]), f3(s.pos[1]), f3(s.pos[2]))
	}
	if mask&2 != 0 {
		fmt.Fprintf(&b, "|Bf:%d,%d", s.cfg.PlannerBlocks-len(s.planner), s.cfg.RXBufferSize-len(s.rx))
	}
	var speed float64
	if len(s.planner) > 0 && s.planner[0].line > 0 {
		fmt.Fprintf(&b, "|Ln:%d", s.planner[0].line)
	}
	if on := s.laserPowerLocked(); on > 0 && len(s.planner) > 0 {
		speed = s.planner[0].s
	}
	fmt.Fprintf(&b, "|FS:%d,%d", int(math.Round(s.v*60)), int(math.Round(speed)))
	if s.doorOpen {
		b.WriteString("|Pn:D")
	}
	switch s.reports % 10 {
	case 1:
		b.WriteString("|WCO:0.000,0.000,0.000")
	case 6:
		fmt.Fprintf(&b, "|Ov:%d,%d,%d", s.ovFeed, s.ovRapid, s.ovSpindle)
	}
	if s.laserPowerLocked() > 0 {
		if s.planner[0].spindle == 4 {
			b.WriteString("|A:C")
		} else {
			b.WriteString("|A:S")
		}
	}
	b.WriteString(">")
	return b.String()
}

// laserPowerLocked is the beam power right now as a fraction of $30.
func (s *Sim) laserPowerLocked() float64 {
	if s.st != stRun || len(s.planner) == 0 {
		return 0
	}
	b := s.planner[0]
	if b.kind != bkMotion || b.spindle == 0 || b.s <= 0 {
		return 0
	}
	laserMode := s.settings[32] == 1
	if laserMode && b.rapid {
		return 0
	}
	p := min(1, b.s/s.settings[30]) * float64(s.ovSpindle) / 100
	if b.spindle == 4 && laserMode && b.nominal > 0 {
		p *= min(1, s.v/b.nominal)
	}
	return min(p, 1)
}
