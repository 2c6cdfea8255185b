package main

import (
	"fmt"
	"io"
	"os"
	"time"
)

// progress draws one line on a terminal, redrawn in place with the count,
// the rate and the time left; it writes nothing when the stream is not a
// terminal (piped, redirected to a file), so logs and scripts stay clean.
type progress struct {
	w     io.Writer // nil when not a terminal
	label string
	total int // 0: unknown
	unit  string
	now   func() time.Time
	start time.Time
	drawn time.Time
	done  int
	width int // of the last line drawn, to blank it
}

// redrawEvery keeps a fast loop from spending its time drawing.
const redrawEvery = 100 * time.Millisecond

// isTerminal reports whether w is a character device such as a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// newProgress starts a progress line on m's standard error for total units
// (0 when the total is not known).
func (m *Main) newProgress(label string, total int, unit string) *progress {
	p := &progress{label: label, total: total, unit: unit, now: time.Now}
	if isTerminal(m.Stderr) {
		p.w = m.Stderr
	}
	p.start = p.now()
	return p
}

// Add counts n more units done.
func (p *progress) Add(n int) { p.Set(p.done + n) }

// Set records that done units are done and redraws the line when due.
func (p *progress) Set(done int) {
	p.done = done
	if p.w == nil {
		return
	}
	now := p.now()
	if now.Sub(p.drawn) < redrawEvery && (p.total == 0 || done < p.total) {
		return
	}
	p.drawn = now
	p.draw(p.line(now))
}

// line is the text of the progress line at now.
func (p *progress) line(now time.Time) string {
	elapsed := now.Sub(p.start)
	s := fmt.Sprintf("%s: %d", p.label, p.done)
	if p.total > 0 {
		s += fmt.Sprintf("/%d %s (%.0f%%)", p.total, p.unit, 100*float64(p.done)/float64(p.total))
	} else {
		s += " " + p.unit
	}
	if elapsed >= time.Second/2 && p.done > 0 {
		rate := float64(p.done) / elapsed.Seconds()
		s += fmt.Sprintf(", %.0f/s", rate)
		if p.total > p.done {
			left := time.Duration(float64(p.total-p.done) / rate * float64(time.Second))
			s += ", " + left.Round(time.Second).String() + " left"
		}
	}
	return s
}

func (p *progress) draw(s string) {
	pad := max(p.width-len(s), 0)
	fmt.Fprintf(p.w, "\r%s%*s", s, pad, "")
	p.width = len(s)
}

// Finish blanks the line, so what follows starts on a clean one.
func (p *progress) Finish() {
	if p.w == nil || p.width == 0 {
		return
	}
	fmt.Fprintf(p.w, "\r%*s\r", p.width, "")
	p.width = 0
}
