package grblsim

import (
	"bufio"
	"context"
	"math"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/qrmfg/qrmfg/internal/qrmfg"
)

type client struct {
	t     *testing.T
	c     net.Conn
	lines chan string
}

// start runs a simulator on a loopback port and connects a raw client.
func start(t *testing.T, cfg Config) (*Sim, *client) {
	t.Helper()
	sim, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go sim.Serve(ctx, ln)
	t.Cleanup(func() { cancel(); sim.Close() })
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	cl := &client{t: t, c: c, lines: make(chan string, 1000)}
	go func() {
		sc := bufio.NewScanner(c)
		for sc.Scan() {
			if l := strings.TrimSpace(sc.Text()); l != "" {
				cl.lines <- l
			}
		}
		close(cl.lines)
	}()
	cl.expect(Banner)
	return sim, cl
}

func (c *client) send(s string) {
	c.t.Helper()
	if _, err := c.c.Write([]byte(s)); err != nil {
		c.t.Fatal(err)
	}
}

func (c *client) next() string {
	c.t.Helper()
	select {
	case l, ok := <-c.lines:
		if !ok {
			c.t.Fatal("connection closed")
		}
		return l
	case <-time.After(5 * time.Second):
		c.t.Fatal("no answer within 5 s")
	}
	return ""
}

func (c *client) expect(want string) {
	c.t.Helper()
	if got := c.next(); got != want {
		c.t.Fatalf("got %q, want %q", got, want)
	}
}

// until reads lines up to and including one that starts with prefix.
func (c *client) until(prefix string) []string {
	c.t.Helper()
	var got []string
	for {
		l := c.next()
		got = append(got, l)
		if strings.HasPrefix(l, prefix) {
			return got
		}
	}
}

func TestProtocolAnswers(t *testing.T) {
	t.Parallel()
	_, c := start(t, Config{TimeScale: 100, ID: "sim-1"})
	c.send("$$\n")
	got := c.until("ok")
	if got[0] != "$0=10" || !contains(got, "$30=1000") || !contains(got, "$32=1") || !contains(got, "$110=6000.000") || !contains(got, "$132=50.000") {
		t.Errorf("$$ answered %q", got)
	}
	c.send("$I\n")
	if got := c.until("ok"); len(got) != 3 || got[0] != "[VER:1.1h.20190825:sim-1]" || got[1] != "[OPT:V,15,128]" {
		t.Errorf("$I answered %q", got)
	}
	c.send("?")
	if got := c.next(); !strings.HasPrefix(got, "<Idle|MPos:0.000,0.000,0.000|Bf:15,128|FS:0,0") {
		t.Errorf("status %q", got)
	}
	for _, tc := range []struct{ line, want string }{
		{"G2 X1 Y1 I1", "error:20"},
		{"G1 X1", "error:22"},
		{"G1 X1 X2 F100", "error:25"},
		{"$Q", "error:3"},
		{"G1 X1e", "error:2"},
		{"G1 #1", "error:1"},
		{strings.Repeat("G0X1", 21), "error:11"},
		{"", "ok"},
		{"g21 (comment) g90", "ok"},
		{"$G", "[GC:G0 G54 G17 G21 G90 G94 M5 M9 T0 F0 S0]"},
	} {
		c.send(tc.line + "\n")
		if got := c.next(); got != tc.want {
			t.Errorf("%q: got %q, want %q", tc.line, got, tc.want)
		}
		if strings.HasPrefix(tc.want, "[") {
			c.expect("ok")
		}
	}
}

func contains(ls []string, s string) bool {
	for _, l := range ls {
		if l == s {
			return true
		}
	}
	return false
}

// TestMotionClock checks the virtual clock against the trapezoid by hand.
func TestMotionClock(t *testing.T) {
	t.Parallel()
	sim, c := start(t, Config{TimeScale: 200})
	c.send("G1 X100 F6000\n")
	c.expect("ok")
	waitIdle(t, sim)
	// 100 mm/s after 0.1 s (5 mm), 90 mm cruise, 0.1 s down: 1.1 s.
	if got := sim.Stats().MotionTime.Seconds(); math.Abs(got-1.1) > 0.002 {
		t.Errorf("motion time %.4f s, want 1.1 s", got)
	}
	if p := sim.Position(); p != [3]float64{100, 0, 0} {
		t.Errorf("position %v", p)
	}
	// Collinear blocks keep their speed through the junction.
	c.send("G1 X150\nG1 X200\n")
	c.expect("ok")
	c.expect("ok")
	waitIdle(t, sim)
	if got := sim.Stats().MotionTime.Seconds() - 1.1; math.Abs(got-1.1) > 0.002 {
		t.Errorf("two collinear blocks took %.4f s, want 1.1 s", got)
	}
}

func waitIdle(t *testing.T, sim *Sim) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for sim.State() != "Idle" {
		if time.Now().After(deadline) {
			t.Fatalf("still %s after 10 s", sim.State())
		}
		time.Sleep(time.Millisecond)
	}
}

func TestBurnImage(t *testing.T) {
	t.Parallel()
	sim, c := start(t, Config{TimeScale: 200, Resolution: 10})
	c.send("M4 S1000\nG0 X10 Y10\nG1 X20 F3000\nG0 X10 Y12\nG1 X20 S0\nM5\n")
	for range 6 {
		c.expect("ok")
	}
	waitIdle(t, sim)
	img := sim.Image()
	at := func(x, y float64) uint8 { return img.GrayAt(int(x*10), img.Rect.Dy()-1-int(y*10)).Y }
	if at(15, 10) != 0 {
		t.Errorf("burned line at (15,10) is %d, want black", at(15, 10))
	}
	if at(15, 11) != 255 || at(15, 12) != 255 || at(5, 5) != 255 {
		t.Errorf("unburned pixels: G0 %d, S0 %d, elsewhere %d; want 255", at(15, 11), at(15, 12), at(5, 5))
	}
	// M4 lowers the power while the head accelerates: the start of the line is lighter.
	if at(10.05, 10) < 64 {
		t.Errorf("M4 start of line is black; want lighter while accelerating")
	}
}

func TestRXOverflowIsCounted(t *testing.T) {
	t.Parallel()
	sim, c := start(t, Config{TimeScale: 100, Faults: Faults{LineDelay: 20 * time.Millisecond}})
	// A sender that does not count characters: 40 lines at once.
	c.send(strings.Repeat("G1 X1 F1000 S0\n", 40))
	time.Sleep(100 * time.Millisecond)
	if st := sim.Stats(); st.RXOverflows == 0 || st.MaxRXUsed != 128 {
		t.Errorf("overflows %d, max used %d; want > 0 and 128", st.RXOverflows, st.MaxRXUsed)
	}
}

func TestHoldResumeAndSoftReset(t *testing.T) {
	t.Parallel()
	sim, c := start(t, Config{TimeScale: 20})
	c.send("M3 S500\nG1 X100 F3000\n")
	c.expect("ok")
	c.expect("ok")
	time.Sleep(20 * time.Millisecond)
	c.send("!")
	time.Sleep(20 * time.Millisecond)
	c.send("?")
	st := c.next()
	if !strings.HasPrefix(st, "<Hold:0") || strings.Contains(st, "|A:") {
		t.Fatalf("after feed hold: %q, want Hold:0 with the laser off", st)
	}
	x := sim.Position()[0]
	c.send("~")
	time.Sleep(20 * time.Millisecond)
	if sim.Position()[0] <= x {
		t.Fatalf("no motion after resume")
	}
	c.send("\x18")
	c.expect("ALARM:3")
	c.expect(Banner)
	c.expect("[MSG:'$H'|'$X' to unlock]")
	c.send("G0 X0\n")
	c.expect("error:9")
	c.send("$H\n")
	c.expect("ok")
	c.send("?")
	if st := c.next(); !strings.HasPrefix(st, "<Idle|MPos:0.000,0.000,0.000") {
		t.Fatalf("after homing: %q", st)
	}
}

func TestDoor(t *testing.T) {
	t.Parallel()
	sim, c := start(t, Config{TimeScale: 20})
	c.send("M4 S500\nG1 X100 F3000\n")
	c.expect("ok")
	c.expect("ok")
	time.Sleep(10 * time.Millisecond)
	c.send("\x84")
	c.expect("[MSG:Check Door]")
	time.Sleep(30 * time.Millisecond)
	c.send("?")
	if st := c.next(); !strings.HasPrefix(st, "<Door:1") || !strings.Contains(st, "Pn:D") || strings.Contains(st, "|A:") {
		t.Fatalf("door open: %q", st)
	}
	c.send("~")
	time.Sleep(10 * time.Millisecond)
	if sim.State() != "Door:1" {
		t.Fatalf("resumed with the door open: %s", sim.State())
	}
	sim.CloseDoor()
	c.send("~")
	waitIdle(t, sim)
	if p := sim.Position(); p[0] != 100 {
		t.Errorf("position %v after resume", p)
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	t.Parallel()
	for _, cfg := range []Config{
		{TimeScale: -1},
		{Settings: map[int]float64{999: 1}},
		{Settings: map[int]float64{130: 100000}},
		{BeamWidth: 20},
	} {
		if _, err := New(cfg); qrmfg.ErrorCode(err) != qrmfg.EINVALID {
			t.Errorf("%+v: got %v, want EINVALID", cfg, err)
		}
	}
}

func TestPTY(t *testing.T) {
	t.Parallel()
	p, err := OpenPTY()
	if err != nil {
		t.Skipf("no pseudo-terminal here: %v", err)
	}
	sim, err := New(Config{TimeScale: 100})
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go sim.ServeConn(ctx, p)
	f, err := openRaw(p.SlavePath())
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r := bufio.NewReader(f)
	f.Write([]byte("\x18"))
	for {
		l, err := r.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		if strings.TrimSpace(l) == Banner {
			break
		}
	}
	f.Write([]byte("$I\n"))
	for {
		l, err := r.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(l, "[VER:1.1h") {
			break
		}
		if l = strings.TrimSpace(l); l != "" && l != Banner {
			t.Fatalf("got %q, want [VER:...]", l)
		}
	}
}

func TestLineNumberInStatus(t *testing.T) {
	t.Parallel()
	_, c := start(t, Config{TimeScale: 5})
	c.send("N7 G1 X20 F1200\n")
	c.expect("ok")
	time.Sleep(20 * time.Millisecond)
	c.send("?")
	if st := c.next(); !strings.HasPrefix(st, "<Run|") || !strings.Contains(st, "|Ln:7|") {
		t.Fatalf("status %q, want Run with Ln:7", st)
	}
}

func TestSoftLimitAlarm(t *testing.T) {
	t.Parallel()
	_, c := start(t, Config{TimeScale: 100, Settings: map[int]float64{20: 1}})
	c.send("G0 X500\n")
	c.expect("ALARM:2")
	c.expect("[MSG:Reset to continue]")
	c.send("G0 X1\n") // ignored until reset
	c.send("\x18")
	c.expect(Banner)
	c.expect("[MSG:'$H'|'$X' to unlock]")
	c.send("$X\n")
	c.expect("[MSG:Caution: Unlocked]")
	c.expect("ok")
}

func BenchmarkSimulatedRaster(b *testing.B) {
	// Motion and burn rendering of 100 scan lines of 20 mm, without pacing.
	sim, err := New(Config{TimeScale: 1e9})
	if err != nil {
		b.Fatal(err)
	}
	defer sim.Close()
	for b.Loop() {
		sim.mu.Lock()
		for i := range 100 {
			y := 10 + float64(i)*0.1
			sim.pos = [3]float64{10, y, 0}
			sim.st = stRun
			sim.modal = modalState{motion: 1, absolute: true, feed: 3000, s: 800, spindle: 4}
			bl := sim.motionBlock(sim.modal, [3]float64{30, y, 0})
			sim.planner = []*block{bl}
			sim.v = 0
			for len(sim.planner) > 0 {
				sim.stepLocked(tick)
			}
		}
		sim.mu.Unlock()
	}
}

// TestFullLookaheadHoldIsImmediate: with FullLookahead a feed hold stops
// the head at once even while the host keeps sending lines, which would
// otherwise make running motion wait for a full planner.
func TestFullLookaheadHoldIsImmediate(t *testing.T) {
	t.Parallel()
	sim, c := start(t, Config{TimeScale: 10, FullLookahead: true})
	c.send("M3 S500\nG1 X100 F3000\n")
	c.expect("ok")
	c.expect("ok")
	deadline := time.Now().Add(2 * time.Second)
	for sim.Position()[0] == 0 { // motion starts once no line came for 50 ms
		if time.Now().After(deadline) {
			t.Fatal("no motion")
		}
		time.Sleep(2 * time.Millisecond)
	}
	c.send("!")
	for range 50 { // 10 ms apart: running motion would wait for the planner to fill
		c.send("G90\n?")
		for {
			l := c.next()
			if strings.HasPrefix(l, "<Hold:0") {
				if x := sim.Position()[0]; x >= 100 {
					t.Fatalf("held at X%.3f, the end of the move", x)
				}
				return
			}
			if strings.HasPrefix(l, "<") {
				break
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("the hold did not complete while lines kept arriving")
}
