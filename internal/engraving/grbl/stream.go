package grbl

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/qrmfg/qrmfg/internal/qrmfg"
)

// Progress is reported while a program streams.
type Progress struct {
	Total int // lines in the program
	Sent  int // lines written to the controller
	// Acked is how many lines the controller acknowledged: they are parsed
	// and planned, not necessarily executed.
	Acked int
	// InFlight is the number of unacknowledged bytes in the receive buffer.
	InFlight int
	Status   Status // the latest status report
	// Done is set on the last report, once the machine is idle after the
	// last line: everything has been executed.
	Done bool
}

// Stream sends a program with character counting and returns when the
// machine has executed all of it (status Idle with an empty planner).
//
// The job stops, and no further line is sent, on: error:N (*Error, after
// halting the machine with a feed hold and a soft reset so the lines already
// buffered do not run), ALARM:N (*AlarmError), a controller reset
// (ErrReset), a disconnect (ErrDisconnected), a stalled status poll
// (ErrStalled), Cancel or ctx (ErrCanceled). While the safety door is open
// the driver sends nothing and waits for Resume; after Hold likewise. Lines
// are never resent. progress, if not nil, is called from Stream's goroutine
// on every acknowledgement and status report.
func (c *Conn) Stream(ctx context.Context, lines []string, progress func(Progress)) error {
	for i, l := range lines {
		if err := checkLine(l); err != nil {
			e := qrmfg.AsError(err)
			e.Message = fmt.Sprintf("line %d: %s", i+1, e.Message)
			return e
		}
		if len(l) > 0 && l[0] == '$' {
			return qrmfg.FieldError("gcode", "line %d %q: '$' commands cannot be streamed", i+1, l)
		}
	}
	c.cmd.Lock()
	defer c.cmd.Unlock()
	c.mu.Lock()
	switch {
	case c.err != nil:
		err := c.err
		c.mu.Unlock()
		return err
	case c.needsHoming:
		c.mu.Unlock()
		return ErrHomingRequired
	case c.alarm != nil || c.status.State == "Alarm":
		c.mu.Unlock()
		return ErrAlarmState
	}
	c.mu.Unlock()
	if err := c.resetIfNeeded(ctx); err != nil {
		return fmt.Errorf("grbl: flush the interrupted job: %w", err)
	}
	c.mu.Lock()
	banners := c.banners
	for len(c.resp) > 0 {
		<-c.resp
	}
	c.mu.Unlock()

	var (
		inflight []int // lengths of the unacknowledged lines
		sum      int
		p        = Progress{Total: len(lines)}
		lastSeq  uint64
		ackSeq   uint64 // status sequence when the last line was acked
	)
	// interrupt ends the job: the responses still due for the lines in
	// flight are never taken for later commands.
	interrupt := func(err error) error {
		c.mu.Lock()
		if len(inflight) > 0 {
			c.dirty = true
		}
		if c.banners == banners {
			n := len(inflight)
			for n > 0 && len(c.resp) > 0 {
				<-c.resp // already queued: answers one of our lines
				n--
			}
			c.skip += n
		}
		c.mu.Unlock()
		return err
	}
	report := func() {
		if progress != nil {
			progress(p)
		}
	}
	for {
		c.mu.Lock()
		st, seq, ch := c.status, c.statusSeq, c.changed
		alarm, failure, bannersNow, canceling, holdReq := c.alarm, c.err, c.banners, c.canceling, c.holdReq
		c.mu.Unlock()
		switch {
		case alarm != nil:
			a := *alarm
			a.Acked = p.Acked
			return interrupt(&a)
		case bannersNow != banners:
			if canceling {
				return ErrCanceled
			}
			c.mu.Lock()
			c.needsHoming = true
			c.mu.Unlock()
			return interrupt(ErrReset)
		case failure != nil:
			return interrupt(failure)
		case ctx.Err() != nil:
			err := c.halt(context.WithoutCancel(ctx), true)
			return interrupt(errors.Join(fmt.Errorf("%w: %w", ErrCanceled, ctx.Err()), err))
		}
		if seq != lastSeq {
			lastSeq = seq
			p.Status = st
			if p.Acked == len(lines) && seq > ackSeq && st.State == "Idle" &&
				(st.PlannerFree < 0 || st.PlannerFree >= c.info.PlannerBlocks) {
				p.Done = true
				report()
				return nil
			}
			report()
		}
		// Send what fits, unless the door is open or a hold is in progress.
		paused := st.State == "Door" || canceling || holdReq
		for !paused && p.Sent < len(lines) && sum+len(lines[p.Sent])+1 <= c.rxLimit {
			n := len(lines[p.Sent]) + 1
			sent, err := c.streamWrite(lines[p.Sent], banners)
			if err != nil {
				return interrupt(err)
			}
			if !sent {
				break // an alarm or a reset arrived: the top of the loop handles it
			}
			inflight = append(inflight, n)
			sum += n
			p.Sent++
			p.InFlight = sum
		}
		select {
		case code := <-c.resp:
			c.mu.Lock()
			alarmed := c.alarm != nil
			c.mu.Unlock()
			if alarmed {
				// An alarm came before this answer (error:9 for a line
				// already buffered): it answers the oldest line; the top of
				// the loop reports the alarm, not the error.
				if len(inflight) > 0 {
					sum -= inflight[0]
					inflight = inflight[1:]
				}
				continue
			}
			if len(inflight) == 0 {
				continue // a stray answer: nothing of ours is in flight
			}
			sum -= inflight[0]
			inflight = inflight[1:]
			p.Acked++
			p.InFlight = sum
			if code != 0 {
				e := &Error{Code: code, Text: ErrorText(code), Line: p.Acked - 1, Command: lines[p.Acked-1]}
				if err := c.halt(context.WithoutCancel(ctx), true); err != nil {
					return interrupt(errors.Join(e, err))
				}
				return e
			}
			if p.Acked == len(lines) {
				c.mu.Lock()
				ackSeq = c.statusSeq
				c.mu.Unlock()
				// One early query so a short job does not wait a poll period.
				if err := c.writeRT('?'); err != nil {
					return err
				}
			}
			report()
		case <-ch:
		case <-ctx.Done():
		case <-time.After(c.opts.PollInterval):
		}
	}
}

// streamWrite writes one program line unless an alarm, a reset or a failure
// has been seen. It holds c.mu while writing, so the reader cannot record an
// alarm between the check and the write: no line leaves after an alarm.
func (c *Conn) streamWrite(line string, banners int) (bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.alarm != nil || c.banners != banners || c.err != nil || c.status.State == "Door" || c.holdReq {
		return false, nil
	}
	c.wmu.Lock()
	_, err := c.rw.Write([]byte(line + "\n"))
	c.wmu.Unlock()
	if err != nil {
		err = fmt.Errorf("grbl: write: %w: %w", ErrDisconnected, err)
		if c.err == nil {
			c.err = err
		}
		c.notifyLocked()
		c.rw.Close()
		return false, err
	}
	if c.onStreamWrite != nil {
		c.onStreamWrite(line)
	}
	return true, nil
}
