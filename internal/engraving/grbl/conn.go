// Package grbl drives GRBL 1.1 laser controllers over a serial port or TCP.
//
// A Conn performs the handshake (banner, $$ settings, $I build info, laser
// mode check), polls the status at most 5 times a second, and streams
// programs with GRBL's character-counting protocol: never more than 127
// unacknowledged bytes in the controller's 128-byte receive buffer. A job
// stops on error:N, ALARM:N, a controller reset, a disconnect or a stalled
// status poll, and the driver never sends a line again on its own after an
// interruption: the operator decides what happens to a job that may have
// started.
package grbl

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/qrmfg/qrmfg/internal/qrmfg"
)

// Errors of a connection or a job. Test them with errors.Is.
var (
	// ErrDisconnected: the link to the controller is gone (read or write failed).
	ErrDisconnected = &qrmfg.Error{Code: qrmfg.EUNAVAILABLE, Message: "the engraver disconnected"}
	// ErrStalled: the controller stopped answering status queries.
	ErrStalled = &qrmfg.Error{Code: qrmfg.EUNAVAILABLE, Message: "the engraver stopped answering status queries"}
	// ErrReset: the controller restarted during a job (banner); its position is lost.
	ErrReset = &qrmfg.Error{Code: qrmfg.EUNAVAILABLE, Message: "the engraver reset during the job; position lost, home it before the next job"}
	// ErrCanceled: the job was cancelled (Cancel or its context).
	ErrCanceled = &qrmfg.Error{Code: qrmfg.ECONFLICT, Message: "the job was cancelled"}
	// ErrHomingRequired: the machine position is unknown; Home first.
	ErrHomingRequired = &qrmfg.Error{Code: qrmfg.ECONFLICT, Message: "the engraver must be homed ($H) first"}
	// ErrAlarmState: the controller is in Alarm; Unlock or Home first.
	ErrAlarmState = &qrmfg.Error{Code: qrmfg.ECONFLICT, Message: "the engraver is in alarm; unlock or home it first"}
	// ErrNotLaserMode: $32 is not 1, so G0 moves would burn.
	ErrNotLaserMode = &qrmfg.Error{Code: qrmfg.ECONFLICT, Message: "laser mode is off on the engraver ($32=0); set $32=1"}
	// ErrNotGRBL: no GRBL banner came, even after a soft reset.
	ErrNotGRBL = &qrmfg.Error{Code: qrmfg.EUNAVAILABLE, Message: "the device does not answer like GRBL 1.1"}
)

// Options tune a connection. Zero values take the defaults.
type Options struct {
	// HandshakeTimeout bounds the handshake; default 5 s. Half of it is
	// spent waiting for the banner before a soft reset is sent.
	HandshakeTimeout time.Duration
	// PollInterval is the status polling period; default and minimum 200 ms (5 Hz).
	PollInterval time.Duration
	// StallTimeout: no status report for this long ends the connection with
	// ErrStalled; default 1.5 s, so a stall is detected within 2 s.
	StallTimeout time.Duration
	// CommandTimeout bounds a command's answer; default 5 s (homing 2 min).
	CommandTimeout time.Duration
	// AllowNonLaser accepts a controller with $32=0.
	AllowNonLaser bool
	// RXBufferSize overrides the receive buffer size reported by $I; the
	// driver keeps at most RXBufferSize-1 bytes in flight. Default 128.
	RXBufferSize int
	// Logger receives debug logs; nil discards them.
	Logger *slog.Logger
}

func (o *Options) defaults() {
	if o.HandshakeTimeout <= 0 {
		o.HandshakeTimeout = 5 * time.Second
	}
	if o.PollInterval < 200*time.Millisecond {
		o.PollInterval = 200 * time.Millisecond
	}
	if o.StallTimeout <= 0 {
		o.StallTimeout = 1500 * time.Millisecond
	}
	if o.CommandTimeout <= 0 {
		o.CommandTimeout = 5 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

// Info is the build info of $I.
type Info struct {
	Version       string // e.g. 1.1h.20190825
	ID            string // the machine's $I= string
	Options       string // option letters of [OPT:]
	PlannerBlocks int    // planner blocks free when idle
	RXBufferSize  int    // serial receive buffer in bytes
}

// Conn is a connection to one controller. Its methods are safe for
// concurrent use; one command or stream runs at a time, while Hold, Resume
// and Cancel act at once through real-time bytes.
type Conn struct {
	rw   io.ReadWriteCloser
	opts Options
	log  *slog.Logger

	wmu sync.Mutex // serialises writes; taken after mu, never before
	cmd sync.Mutex // one command or stream at a time

	mu          sync.Mutex
	changed     chan struct{} // closed and replaced on every event
	resp        chan int      // 0 for ok, N for error:N, in order
	skip        int           // responses still due to lines of an interrupted job
	dirty       bool          // a job was interrupted with lines in flight; reset before the next command
	push        []string      // other messages since the current command began
	status      Status
	statusSeq   uint64
	lastReport  time.Time
	wco         [3]float64
	banners     int
	alarm       *AlarmError
	resetNeeded bool // "[MSG:Reset to continue]"
	needsHoming bool
	err         error // terminal
	canceling   bool
	holdReq     bool // Hold was called and Resume not yet

	settings Settings
	info     Info
	rxLimit  int
	done     chan struct{}
	stopPoll chan struct{}
	closeOne sync.Once

	// onStreamWrite, when set (tests), sees every streamed line as it is
	// written, with c.mu held.
	onStreamWrite func(line string)
}

// New performs the handshake over an open transport (a serial port, a TCP
// connection, a pipe) and returns the connection; rw is closed on error.
func New(ctx context.Context, rw io.ReadWriteCloser, opts Options) (*Conn, error) {
	opts.defaults()
	c := &Conn{rw: rw, opts: opts, log: opts.Logger, changed: make(chan struct{}),
		resp: make(chan int, 1024), done: make(chan struct{}), stopPoll: make(chan struct{})}
	go c.reader()
	if err := c.handshake(ctx); err != nil {
		c.Close()
		return nil, err
	}
	go c.poller()
	return c, nil
}

func (c *Conn) handshake(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, c.opts.HandshakeTimeout)
	defer cancel()
	half, cancelHalf := context.WithTimeout(ctx, c.opts.HandshakeTimeout/2)
	err := c.wait(half, func() bool { return c.banners > 0 })
	cancelHalf()
	if err != nil && c.failure() == nil && ctx.Err() == nil {
		c.log.Debug("grbl: no banner, sending a soft reset")
		if err = c.writeRT(0x18); err == nil {
			err = c.wait(ctx, func() bool { return c.banners > 0 })
		}
	}
	if err != nil {
		if f := c.failure(); f != nil {
			return f
		}
		return fmt.Errorf("%w: no banner: %w", ErrNotGRBL, err)
	}
	// Let the messages that follow the banner arrive ([MSG:'$H'|'$X' to unlock]).
	time.Sleep(20 * time.Millisecond)
	lines, err := c.command(ctx, "$$", c.opts.CommandTimeout)
	if err != nil {
		return fmt.Errorf("grbl: read settings: %w", err)
	}
	c.settings = parseSettings(lines)
	lines, err = c.command(ctx, "$I", c.opts.CommandTimeout)
	if err != nil {
		return fmt.Errorf("grbl: read build info: %w", err)
	}
	c.info = parseInfo(lines)
	size := c.opts.RXBufferSize
	if size == 0 {
		size = c.info.RXBufferSize
	}
	if size == 0 {
		size = 128
	}
	c.rxLimit = size - 1
	if !c.opts.AllowNonLaser && !c.settings.LaserMode {
		return ErrNotLaserMode
	}
	// Learn the state.
	if err := c.writeRT('?'); err != nil {
		return err
	}
	return c.wait(ctx, func() bool { return c.statusSeq > 0 })
}

// Settings returns the controller's $$ settings read at connect time.
func (c *Conn) Settings() Settings { return c.settings }

// Info returns the $I build info read at connect time.
func (c *Conn) Info() Info { return c.info }

// NeedsHoming reports whether the machine position is lost (after ALARM:1,
// ALARM:3, a homing failure or a reset during a job) until Home succeeds.
func (c *Conn) NeedsHoming() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.needsHoming
}

// Alarm returns the alarm the controller is in, or nil.
func (c *Conn) Alarm() *AlarmError {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.alarm == nil {
		return nil
	}
	a := *c.alarm
	return &a
}

// Err returns the error that ended the connection, or nil while it is usable.
func (c *Conn) Err() error { return c.failure() }

// Close closes the transport. It does not stop the machine: call Cancel
// first when a job may be running.
func (c *Conn) Close() error {
	var err error
	c.closeOne.Do(func() {
		close(c.stopPoll)
		c.fail(fmt.Errorf("grbl: connection closed: %w", ErrDisconnected))
		err = c.rw.Close()
	})
	return err
}

func (c *Conn) failure() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

func (c *Conn) fail(err error) {
	c.mu.Lock()
	if c.err == nil {
		c.err = err
	}
	c.notifyLocked()
	c.mu.Unlock()
}

func (c *Conn) notifyLocked() {
	close(c.changed)
	c.changed = make(chan struct{})
}

// wait blocks until cond (evaluated under c.mu) holds, the connection
// fails or ctx ends.
func (c *Conn) wait(ctx context.Context, cond func() bool) error {
	for {
		c.mu.Lock()
		if cond() {
			c.mu.Unlock()
			return nil
		}
		if c.err != nil {
			err := c.err
			c.mu.Unlock()
			return err
		}
		ch := c.changed
		c.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (c *Conn) write(b []byte) error {
	if err := c.failure(); err != nil {
		return err
	}
	c.wmu.Lock()
	_, err := c.rw.Write(b)
	c.wmu.Unlock()
	return c.writeFailed(err)
}

func (c *Conn) writeFailed(err error) error {
	if err == nil {
		return nil
	}
	err = fmt.Errorf("grbl: write: %w: %w", ErrDisconnected, err)
	c.fail(err)
	c.rw.Close()
	return err
}

func (c *Conn) writeRT(b byte) error { return c.write([]byte{b}) }

// reader dispatches everything the controller sends.
func (c *Conn) reader() {
	defer close(c.done)
	r := bufio.NewReaderSize(c.rw, 512)
	for {
		line, err := r.ReadString('\n')
		if l := strings.TrimSpace(line); l != "" {
			c.handle(l)
		}
		if err != nil {
			c.fail(fmt.Errorf("grbl: read: %w: %w", ErrDisconnected, err))
			c.rw.Close()
			return
		}
	}
}

func (c *Conn) handle(l string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case l == "ok" || strings.HasPrefix(l, "error:"):
		code := 0
		if l != "ok" {
			n, err := strconv.Atoi(l[len("error:"):])
			if err != nil || n <= 0 {
				n = -1
			}
			code = n
		}
		if c.skip > 0 {
			c.skip--
			return
		}
		select {
		case c.resp <- code:
		default:
			c.log.Warn("grbl: dropped a response: nobody is reading")
		}
	case strings.HasPrefix(l, "<") && strings.HasSuffix(l, ">"):
		st, err := parseStatus(l, &c.wco)
		if err != nil {
			c.log.Debug("grbl: bad status report", "line", l, "err", err)
			return
		}
		st.At = time.Now()
		c.status = st
		c.statusSeq++
		c.lastReport = st.At
	case strings.HasPrefix(l, "ALARM:"):
		n, _ := strconv.Atoi(l[len("ALARM:"):])
		c.alarm = &AlarmError{Code: n, Text: AlarmText(n), NeedsHoming: AlarmNeedsHoming(n)}
		if c.alarm.NeedsHoming {
			c.needsHoming = true
		}
		c.status.State = "Alarm"
	case strings.HasPrefix(l, "Grbl "):
		c.banners++
		c.skip = 0
		c.resetNeeded, c.holdReq = false, false
		for len(c.resp) > 0 {
			<-c.resp
		}
	case l == "[MSG:Reset to continue]":
		c.resetNeeded = true
	default:
		if len(c.push) < 256 {
			c.push = append(c.push, l)
		}
	}
	c.notifyLocked()
}

// poller asks for a status report every PollInterval and fails the
// connection when reports stop coming.
func (c *Conn) poller() {
	t := time.NewTicker(c.opts.PollInterval)
	defer t.Stop()
	c.mu.Lock()
	c.lastReport = time.Now()
	c.mu.Unlock()
	for {
		select {
		case <-c.stopPoll:
			return
		case <-c.done:
			return
		case <-t.C:
		}
		c.mu.Lock()
		silent := time.Since(c.lastReport)
		rehold := c.holdReq && c.status.State == "Run"
		c.mu.Unlock()
		if rehold && c.writeRT('!') != nil {
			return
		}
		if silent > c.opts.StallTimeout {
			c.fail(fmt.Errorf("grbl: no status report for %v: %w", silent.Round(time.Millisecond), ErrStalled))
			c.rw.Close()
			return
		}
		if c.writeRT('?') != nil {
			return
		}
	}
}

// command sends one line and waits for its ok, returning the messages the
// controller sent before it.
func (c *Conn) command(ctx context.Context, line string, timeout time.Duration) ([]string, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	c.mu.Lock()
	c.push = nil
	c.mu.Unlock()
	if err := c.write([]byte(line + "\n")); err != nil {
		return nil, err
	}
	for {
		c.mu.Lock()
		ch, err := c.changed, c.err
		c.mu.Unlock()
		if err != nil {
			return nil, err
		}
		select {
		case code := <-c.resp:
			c.mu.Lock()
			lines := c.push
			c.push = nil
			c.mu.Unlock()
			if code != 0 {
				return lines, &Error{Code: code, Text: ErrorText(code), Line: -1, Command: line}
			}
			return lines, nil
		case <-ch:
		case <-ctx.Done():
			// The answer may still come: do not take it for the next command.
			c.mu.Lock()
			c.skip++
			c.mu.Unlock()
			return nil, fmt.Errorf("grbl: %q: no answer: %w", line, ctx.Err())
		}
	}
}

// Command sends one command line (for example "$G" or "G0 X0 Y0") and
// returns the messages before its ok. It refuses while a stream runs.
func (c *Conn) Command(ctx context.Context, line string) ([]string, error) {
	if err := checkLine(line); err != nil {
		return nil, err
	}
	c.cmd.Lock()
	defer c.cmd.Unlock()
	return c.command(ctx, line, c.opts.CommandTimeout)
}

func checkLine(line string) error {
	if len(line) > 79 {
		return qrmfg.FieldError("gcode", "line %q is longer than 79 characters", line)
	}
	for i := 0; i < len(line); i++ {
		if b := line[i]; b < 0x20 || b >= 0x7f || b == '?' || b == '!' || b == '~' {
			return qrmfg.FieldError("gcode", "line %q contains the control or real-time byte %#x", line, b)
		}
	}
	return nil
}

// Status returns a fresh status report: the next one after the call.
func (c *Conn) Status(ctx context.Context) (Status, error) {
	c.mu.Lock()
	seq := c.statusSeq
	c.mu.Unlock()
	if err := c.writeRT('?'); err != nil {
		return Status{}, err
	}
	if err := c.wait(ctx, func() bool { return c.statusSeq > seq }); err != nil {
		return Status{}, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.status, nil
}

// LastStatus returns the latest status report without asking for a new one.
func (c *Conn) LastStatus() Status {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.status
}

// Hold pauses motion at once (feed hold, '!'); the laser goes off. GRBL
// ignores '!' while idle, so the hold is repeated whenever the machine is
// seen running again (its buffer started new motion), until Resume.
func (c *Conn) Hold() error {
	c.mu.Lock()
	c.holdReq = true
	c.mu.Unlock()
	return c.writeRT('!')
}

// Resume resumes after a hold, or after a safety door was closed ('~'),
// and asks for a status report so a stream sees the new state at once.
func (c *Conn) Resume() error {
	c.mu.Lock()
	c.holdReq = false
	c.mu.Unlock()
	if err := c.writeRT('~'); err != nil {
		return err
	}
	return c.writeRT('?')
}

// Cancel stops the job: a feed hold so the position is kept, a soft reset
// (0x18) that flushes the controller's buffers, then M5 so the laser is off.
// A running Stream returns ErrCanceled.
func (c *Conn) Cancel(ctx context.Context) error { return c.halt(ctx, false) }

// halt is Cancel; haveCmd tells whether the caller holds the command lock
// (a Stream halting after error:N).
func (c *Conn) halt(ctx context.Context, haveCmd bool) error {
	c.mu.Lock()
	c.canceling = true
	banners := c.banners
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		c.canceling, c.holdReq = false, false
		c.mu.Unlock()
	}()
	if err := c.Hold(); err != nil {
		return err
	}
	// Wait until the machine stands still with the position kept. GRBL
	// ignores '!' while idle, so an idle machine with lines still in its
	// buffers gets another '!' once they start moving it.
	hctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	for hctx.Err() == nil {
		st, err := c.Status(hctx)
		if err != nil || st.State == "Alarm" || st.State == "Door" || (st.State == "Hold" && st.SubState == 0) {
			break
		}
		if st.State == "Idle" && (st.PlannerFree < 0 || (st.PlannerFree >= c.info.PlannerBlocks && st.RXFree >= c.rxLimit+1)) {
			break
		}
		if st.State == "Idle" || st.State == "Run" {
			if err := c.Hold(); err != nil {
				cancel()
				return err
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	if err := c.writeRT(0x18); err != nil {
		return err
	}
	rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if err := c.wait(rctx, func() bool { return c.banners > banners }); err != nil {
		return fmt.Errorf("grbl: cancel: no reset banner: %w", err)
	}
	c.mu.Lock()
	c.dirty = false
	c.mu.Unlock()
	if !haveCmd {
		c.cmd.Lock()
		defer c.cmd.Unlock()
	}
	st, err := c.Status(rctx)
	if err != nil {
		return fmt.Errorf("grbl: cancel: %w", err)
	}
	if st.State == "Alarm" {
		return nil // a reset leaves the spindle off; M5 is locked out in alarm
	}
	if _, err := c.command(ctx, "M5", c.opts.CommandTimeout); err != nil {
		return fmt.Errorf("grbl: cancel: laser off: %w", err)
	}
	return nil
}

// resetIfNeeded sends a soft reset when the controller waits for one after
// a hard or soft limit alarm, or when answers to an interrupted job are still
// due (the reset flushes them, so they cannot be taken for the command's).
func (c *Conn) resetIfNeeded(ctx context.Context) error {
	c.mu.Lock()
	need, banners := c.resetNeeded || c.skip > 0 || c.dirty, c.banners
	c.mu.Unlock()
	if !need {
		return nil
	}
	// The reset byte follows every line already written, so the controller
	// flushes them and no answer to them can come after its banner.
	if err := c.writeRT(0x18); err != nil {
		return err
	}
	if err := c.wait(ctx, func() bool { return c.banners > banners }); err != nil {
		return err
	}
	c.mu.Lock()
	c.dirty = false
	c.mu.Unlock()
	return nil
}

// Unlock clears an alarm with $X. It refuses (ErrHomingRequired) when the
// alarm left the position unknown: Home instead.
func (c *Conn) Unlock(ctx context.Context) error {
	c.cmd.Lock()
	defer c.cmd.Unlock()
	if c.NeedsHoming() {
		return ErrHomingRequired
	}
	if err := c.resetIfNeeded(ctx); err != nil {
		return fmt.Errorf("grbl: unlock: %w", err)
	}
	if _, err := c.command(ctx, "$X", c.opts.CommandTimeout); err != nil {
		return fmt.Errorf("grbl: unlock: %w", err)
	}
	c.mu.Lock()
	c.alarm = nil
	c.mu.Unlock()
	return c.refresh(ctx)
}

// Home runs the homing cycle ($H), which also clears any alarm.
func (c *Conn) Home(ctx context.Context) error {
	c.cmd.Lock()
	defer c.cmd.Unlock()
	if err := c.resetIfNeeded(ctx); err != nil {
		return fmt.Errorf("grbl: home: %w", err)
	}
	if _, err := c.command(ctx, "$H", 2*time.Minute); err != nil {
		return fmt.Errorf("grbl: home: %w", err)
	}
	c.mu.Lock()
	c.alarm, c.needsHoming = nil, false
	c.mu.Unlock()
	return c.refresh(ctx)
}

// refresh replaces the last status with a fresh report, so a cleared alarm
// is not seen again.
func (c *Conn) refresh(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, c.opts.CommandTimeout)
	defer cancel()
	if _, err := c.Status(ctx); err != nil {
		return fmt.Errorf("grbl: status: %w", err)
	}
	return nil
}
