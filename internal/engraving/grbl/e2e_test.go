package grbl

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/qrmfg/qrmfg/internal/engraving/gcode"
	"github.com/qrmfg/qrmfg/internal/engraving/gcode/gcodetest"
	"github.com/qrmfg/qrmfg/internal/engraving/grblsim"
	"github.com/qrmfg/qrmfg/internal/qr"
)

const testID = "PAD-V0100-L2025-09-00001"

// startSim runs a simulator on a loopback port and returns its tcp:// address.
func startSim(t testing.TB, cfg grblsim.Config) (*grblsim.Sim, string) {
	t.Helper()
	sim, err := grblsim.New(cfg)
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
	return sim, "tcp://" + ln.Addr().String()
}

func dial(t testing.TB, addr string) *Conn {
	t.Helper()
	c, err := Dial(context.Background(), addr, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// MachineOf maps the controller's settings to what the generator needs.
func machineOf(s Settings) gcode.Machine {
	return gcode.Machine{MaxSpindle: s.MaxSpindle, MaxRate: s.MaxRate, Accel: s.Accel, JunctionDeviation: s.JunctionDeviation}
}

func testJob(c *Conn) gcode.Job {
	return gcode.Job{
		Placement: gcode.Placement{X: 10, Y: 10, Module: 0.5, QuietZone: 4},
		Laser:     gcode.Laser{Power: 80, Speed: 3000, Passes: 1, LineInterval: 0.1},
		Machine:   machineOf(c.Settings()),
	}
}

// streamChecked streams p and checks the flow-control invariants on every
// progress report.
func streamChecked(t testing.TB, c *Conn, lines []string) (Progress, error) {
	t.Helper()
	var last Progress
	var bad []string
	err := c.Stream(context.Background(), lines, func(p Progress) {
		if p.InFlight > 127 || p.InFlight < 0 {
			bad = append(bad, fmt.Sprintf("%d bytes in flight", p.InFlight))
		}
		if p.Status.RXFree < -1 || p.Status.PlannerFree < -1 {
			bad = append(bad, fmt.Sprintf("Bf:%d,%d", p.Status.PlannerFree, p.Status.RXFree))
		}
		if p.Acked < last.Acked || p.Acked > p.Sent {
			bad = append(bad, fmt.Sprintf("acked %d after %d, sent %d", p.Acked, last.Acked, p.Sent))
		}
		last = p
	})
	if len(bad) > 0 {
		t.Fatalf("flow control broken: %v", bad[:min(5, len(bad))])
	}
	return last, err
}

func decodePart(t *testing.T, sim *grblsim.Sim, pt gcode.Part) []string {
	t.Helper()
	return gcodetest.Decode(t, sim.ImageRect(pt.X, pt.Y, pt.X+pt.Side, pt.Y+pt.Side))
}

// TestClosedLoop: part id → QR matrix → G-code → driver → simulator → burn
// image → zbarimg → the same id, over TCP and over a pseudo-terminal.
func TestClosedLoop(t *testing.T) {
	t.Parallel()
	for _, transport := range []string{"tcp", "pty", "tcp-qrencode"} {
		t.Run(transport, func(t *testing.T) {
			m := gcodetest.Matrix
			if transport == "tcp-qrencode" {
				m = gcodetest.QREncodeMatrix // the matrix of an encoder we did not write
			}
			t.Parallel()
			sim, addr := startSim(t, grblsim.Config{TimeScale: 200})
			if transport == "pty" {
				pty, err := grblsim.OpenPTY()
				if err != nil {
					t.Skipf("no pseudo-terminal: %v", err)
				}
				ctx, cancel := context.WithCancel(context.Background())
				t.Cleanup(cancel)
				go sim.ServeConn(ctx, pty)
				addr = "serial://" + pty.SlavePath() + "?baud=115200"
			}
			c := dial(t, addr)
			if c.Info().RXBufferSize != 128 || c.Info().PlannerBlocks != 15 || !c.Settings().LaserMode || c.Settings().MaxSpindle != 1000 {
				t.Fatalf("handshake: info %+v, settings %+v", c.Info(), c.Settings())
			}
			p, err := gcode.Generate(m(t, testID), testJob(c))
			if err != nil {
				t.Fatal(err)
			}
			last, err := streamChecked(t, c, p.Lines)
			if err != nil {
				t.Fatal(err)
			}
			if !last.Done || last.Acked != len(p.Lines) || last.Status.State != "Idle" {
				t.Fatalf("last progress %+v", last)
			}
			if got := decodePart(t, sim, p.Parts[0]); !slices.Equal(got, []string{testID}) {
				t.Fatalf("decoded %q, want %q", got, testID)
			}
			if st := sim.Stats(); st.RXOverflows != 0 {
				t.Fatalf("%d RX overflows", st.RXOverflows)
			}
			t.Logf("%s: %d lines, %d bytes max in RX", transport, len(p.Lines), sim.Stats().MaxRXUsed)
		})
	}
}

// TestTray burns 20 codes in one program and decodes each from its slot.
func TestTray(t *testing.T) {
	t.Parallel()
	ids := make([]string, 20)
	codes := make([]*qr.Matrix, 20)
	for i := range ids {
		ids[i] = fmt.Sprintf("PAD-V0100-L2025-09-%05d", i+1)
		codes[i] = gcodetest.Matrix(t, ids[i])
	}
	sim, addr := startSim(t, grblsim.Config{TimeScale: 1000})
	c := dial(t, addr)
	job := testJob(c)
	job.Placement.X, job.Placement.Y, job.Placement.QuietZone = 1, 1, 3
	p, err := gcode.GenerateTray(codes, gcode.Tray{Cols: 5, Rows: 4, PitchX: 20, PitchY: 20, X: 5, Y: 5}, job)
	if err != nil {
		t.Fatal(err)
	}
	done := 0
	err = c.Stream(context.Background(), p.Lines, func(pr Progress) {
		if n := p.PartsDone(pr.Acked); n < done {
			t.Errorf("parts done went back from %d to %d", done, n)
		} else {
			done = n
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if done != 20 {
		t.Fatalf("%d parts done", done)
	}
	for i, pt := range p.Parts {
		if got := decodePart(t, sim, pt); !slices.Equal(got, []string{ids[i]}) {
			t.Errorf("slot %d (col %d row %d): decoded %q, want %q", i, pt.Col, pt.Row, got, ids[i])
		}
	}
	st := sim.Stats()
	t.Logf("tray of 20: %d lines, motion %v virtual, %d RX overflows, planner emptied %d times", len(p.Lines), st.MotionTime.Round(time.Millisecond), st.RXOverflows, st.PlannerEmptied)
}

func longProgram(t testing.TB, c *Conn) *gcode.Program {
	t.Helper()
	m := gcodetest.Matrix(t, testID)
	job := testJob(c)
	job.Laser.Passes = 2
	p, err := gcode.Generate(m, job)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Lines) < 2000 {
		t.Fatalf("program has %d lines, want ≥ 2000", len(p.Lines))
	}
	return p
}

// T25 (a): the link drops after k random lines, 20 times. Every job ends
// in ErrDisconnected, detected within 2 s, and after reconnecting no
// G-code line reaches the controller.
func TestDisconnectMidJob(t *testing.T) {
	t.Parallel()
	sim, addr := startSim(t, grblsim.Config{TimeScale: 1000})
	c := dial(t, addr)
	p := longProgram(t, c)
	c.Close()
	r := rand.New(rand.NewPCG(25, 1))
	var interrupted, resent int
	var worst time.Duration
	for run := range 20 {
		k := 10 + r.IntN(len(p.Lines)-20)
		c := dial(t, addr)
		if c.NeedsHoming() || c.Alarm() != nil || c.LastStatus().State == "Alarm" {
			if err := c.Home(context.Background()); err != nil {
				t.Fatalf("run %d: home: %v", run, err)
			}
		}
		sim.SetFaults(grblsim.Faults{DropAfterLines: k})
		_, err := streamChecked(t, c, p.Lines)
		detected := time.Since(sim.Stats().DroppedAt)
		if !errors.Is(err, ErrDisconnected) {
			t.Fatalf("run %d (drop at line %d): got %v, want ErrDisconnected", run, k, err)
		}
		interrupted++
		worst = max(worst, detected)
		c.Close()
		// Reconnect, wait, and count what the controller received.
		c2 := dial(t, addr)
		time.Sleep(50 * time.Millisecond)
		resent += sim.Stats().GcodeLines
		c2.Close()
	}
	if interrupted != 20 || resent != 0 || worst > 2*time.Second {
		t.Fatalf("interrupted %d/20, %d lines resent, detection p100 %v", interrupted, resent, worst)
	}
	t.Logf("RESULT T25a disconnects=20 interrupted=%d resent_lines=%d detect_p100=%v", interrupted, resent, worst.Round(time.Microsecond))
}

// T25 (b): the controller restarts mid-job. The job ends in ErrReset and
// the machine must be homed before the next job.
func TestResetMidJob(t *testing.T) {
	t.Parallel()
	sim, addr := startSim(t, grblsim.Config{TimeScale: 1000})
	c := dial(t, addr)
	p := longProgram(t, c)
	sim.SetFaults(grblsim.Faults{ResetAtLine: 700})
	if _, err := streamChecked(t, c, p.Lines); !errors.Is(err, ErrReset) {
		t.Fatalf("got %v, want ErrReset", err)
	}
	if !c.NeedsHoming() {
		t.Fatal("position lost but homing not required")
	}
	if err := c.Stream(context.Background(), p.Lines[:5], nil); !errors.Is(err, ErrHomingRequired) {
		t.Fatalf("next job: got %v, want ErrHomingRequired", err)
	}
	if err := c.Unlock(context.Background()); !errors.Is(err, ErrHomingRequired) {
		t.Fatalf("unlock: got %v, want ErrHomingRequired", err)
	}
	before := sim.Stats().GcodeLines
	if err := c.Home(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := sim.Stats().GcodeLines; got != before {
		t.Fatalf("homing sent %d G-code lines", got-before)
	}
	if err := c.Stream(context.Background(), []string{"G21", "G90", "G0 X1 Y1", "G0 X0 Y0"}, nil); err != nil {
		t.Fatalf("job after homing: %v", err)
	}
}

// T25 (c): status queries go unanswered. The job ends in ErrStalled within 2 s.
func TestStalledStatus(t *testing.T) {
	t.Parallel()
	sim, addr := startSim(t, grblsim.Config{TimeScale: 20})
	c := dial(t, addr)
	p := longProgram(t, c)
	var muted time.Time
	var once sync.Once
	err := c.Stream(context.Background(), p.Lines, func(pr Progress) {
		if pr.Acked >= 100 {
			once.Do(func() {
				muted = time.Now()
				sim.SetFaults(grblsim.Faults{MuteStatus: true})
			})
		}
	})
	detected := time.Since(muted)
	if !errors.Is(err, ErrStalled) {
		t.Fatalf("got %v, want ErrStalled", err)
	}
	if detected > 2*time.Second {
		t.Fatalf("stall detected after %v, want ≤ 2 s", detected)
	}
	sim.SetFaults(grblsim.Faults{})
	c2 := dial(t, addr)
	time.Sleep(50 * time.Millisecond)
	if n := sim.Stats().GcodeLines; n != 0 {
		t.Fatalf("%d lines resent after reconnecting", n)
	}
	c2.Close()
	t.Logf("RESULT T25c stall_detect=%v", detected.Round(time.Millisecond))
}

// T26: alarms and errors stop the job; no line is written after an alarm;
// the machine stays locked until unlocked or homed as the alarm requires.
func TestAlarmsAndErrors(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name        string
		faults      grblsim.Faults
		alarm       int
		errCode     int
		needsHoming bool
	}{
		{"Alarm1HardLimit", grblsim.Faults{AlarmAtLine: 300, AlarmCode: 1}, 1, 0, true},
		{"Alarm2SoftLimit", grblsim.Faults{AlarmAtLine: 300, AlarmCode: 2}, 2, 0, false},
		{"Alarm3ResetInMotion", grblsim.Faults{AlarmAtLine: 300, AlarmCode: 3}, 3, 0, true},
		{"Alarm9HomingFail", grblsim.Faults{AlarmAtLine: 300, AlarmCode: 9}, 9, 0, true},
		{"Error20", grblsim.Faults{ErrorAtLine: 300, ErrorCode: 20}, 0, 20, false},
		{"Error9", grblsim.Faults{ErrorAtLine: 300, ErrorCode: 9}, 0, 9, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			sim, addr := startSim(t, grblsim.Config{TimeScale: 200})
			c := dial(t, addr)
			p := longProgram(t, c)
			var mu sync.Mutex
			afterAlarm := 0
			c.onStreamWrite = func(string) {
				if c.alarm != nil { // c.mu is held
					mu.Lock()
					afterAlarm++
					mu.Unlock()
				}
			}
			sim.SetFaults(tc.faults)
			last, err := streamChecked(t, c, p.Lines)
			if tc.alarm != 0 {
				var a *AlarmError
				if !errors.As(err, &a) || a.Code != tc.alarm || a.Text != AlarmText(tc.alarm) || a.NeedsHoming != tc.needsHoming {
					t.Fatalf("got %v, want ALARM:%d", err, tc.alarm)
				}
				if afterAlarm != 0 {
					t.Fatalf("%d lines written after ALARM:%d", afterAlarm, tc.alarm)
				}
				st, err := c.Status(context.Background())
				if err != nil || st.State != "Alarm" || st.LaserOn() || sim.LaserOn() {
					t.Fatalf("after alarm: status %+v (%v), sim laser on %v", st, err, sim.LaserOn())
				}
				if err := c.Stream(context.Background(), p.Lines[:3], nil); err == nil {
					t.Fatal("a job ran while in alarm")
				}
				err = c.Unlock(context.Background())
				if tc.needsHoming {
					if !errors.Is(err, ErrHomingRequired) {
						t.Fatalf("unlock after ALARM:%d: got %v, want ErrHomingRequired", tc.alarm, err)
					}
					err = c.Home(context.Background())
				}
				if err != nil {
					t.Fatalf("recover: %v", err)
				}
			} else {
				var e *Error
				if !errors.As(err, &e) || e.Code != tc.errCode || e.Line != 299 || e.Text != ErrorText(tc.errCode) {
					t.Fatalf("got %v, want error:%d on line 300", err, tc.errCode)
				}
				// The job stopped: the machine is idle, its buffers flushed,
				// and it took no more than the lines already in flight.
				st, err := c.Status(context.Background())
				if err != nil || st.State != "Idle" || st.LaserOn() {
					t.Fatalf("after error: %+v %v", st, err)
				}
				time.Sleep(50 * time.Millisecond)
				if taken := sim.Stats().GcodeLines; taken > 300+64 {
					t.Fatalf("controller took %d lines after error at 300 (acked %d)", taken, last.Acked)
				}
			}
			if err := c.Stream(context.Background(), []string{"G0 X1 Y1", "G0 X0 Y0"}, nil); err != nil {
				t.Fatalf("job after recovery: %v", err)
			}
		})
	}
}

// T26: hold and door switch the laser off; the driver sends nothing while
// the door is open and finishes the job after Resume.
func TestHoldAndDoorLaserOff(t *testing.T) {
	t.Parallel()
	sim, addr := startSim(t, grblsim.Config{TimeScale: 20})
	c := dial(t, addr)
	m := gcodetest.Matrix(t, testID)
	p, err := gcode.Generate(m, testJob(c))
	if err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	var mu sync.Mutex
	written := 0
	c.onStreamWrite = func(string) { mu.Lock(); written++; mu.Unlock() }
	writes := func() int { mu.Lock(); defer mu.Unlock(); return written }
	go func() { errc <- c.Stream(context.Background(), p.Lines, nil) }()
	waitFor := func(what string, cond func(Status) bool) Status {
		t.Helper()
		var seen []string
		for range 100 {
			st, err := c.Status(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if cond(st) {
				return st
			}
			if s := fmt.Sprintf("%s:%d", st.State, st.SubState); len(seen) == 0 || seen[len(seen)-1] != s {
				seen = append(seen, s)
			}
			time.Sleep(10 * time.Millisecond)
		}
		t.Fatalf("no %s; saw %v", what, seen)
		return Status{}
	}
	waitFor("burning", func(st Status) bool { return st.State == "Run" && st.LaserOn() })
	events, laserOff := 0, 0
	for range 3 {
		if err := c.Hold(); err != nil {
			t.Fatal(err)
		}
		st := waitFor("Hold:0", func(st Status) bool { return st.State == "Hold" && st.SubState == 0 })
		events++
		if !st.LaserOn() && !sim.LaserOn() {
			laserOff++
		}
		c.Resume()
		time.Sleep(30 * time.Millisecond)

		sim.OpenDoor()
		st = waitFor("Door:1", func(st Status) bool { return st.State == "Door" && st.SubState == 1 })
		events++
		if !st.LaserOn() && !sim.LaserOn() {
			laserOff++
		}
		sent := writes()
		time.Sleep(300 * time.Millisecond)
		if got := writes(); got != sent {
			t.Fatalf("driver wrote %d lines while the door was open", got-sent)
		}
		sim.CloseDoor()
		c.Resume()
		time.Sleep(30 * time.Millisecond)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if laserOff != events {
		t.Fatalf("laser off in %d of %d hold/door events", laserOff, events)
	}
	if got := decodePart(t, sim, p.Parts[0]); !slices.Equal(got, []string{testID}) {
		t.Fatalf("after holds and doors decoded %q", got)
	}
	t.Logf("RESULT T26 hold_door_events=%d laser_off=%d", events, laserOff)
}

// T26 flow control: 100 short jobs on a slow controller, no RX overflow.
func TestSlowControllerNoOverflow(t *testing.T) {
	t.Parallel()
	sim, addr := startSim(t, grblsim.Config{TimeScale: 1000, Faults: grblsim.Faults{LineDelay: 300 * time.Microsecond}})
	c := dial(t, addr)
	job := make([]string, 0, 24)
	job = append(job, "G21", "G90", "M4 S0")
	for i := range 20 {
		job = append(job, fmt.Sprintf("G1 X%d.125 Y%d.5 S%d F3000", 10+i%7, 10+i%5, 100*(i%10)))
	}
	job = append(job, "M5")
	maxInFlight := 0
	for range 100 {
		last, err := streamChecked(t, c, job)
		if err != nil {
			t.Fatal(err)
		}
		if !last.Done {
			t.Fatal("job not done")
		}
		maxInFlight = max(maxInFlight, last.InFlight)
	}
	st := sim.Stats()
	if st.RXOverflows != 0 || st.MaxRXUsed > 127 {
		t.Fatalf("%d RX overflows, %d bytes max in the RX buffer", st.RXOverflows, st.MaxRXUsed)
	}
	t.Logf("RESULT T26 flow jobs=100 lines=%d rx_overflows=%d max_rx_used=%d", st.GcodeLines, st.RXOverflows, st.MaxRXUsed)
}

// TestEstimateMatchesSimulator compares gcode.EstimateProgram with the time
// the simulator's motion clock measured for the same program.
func TestEstimateMatchesSimulator(t *testing.T) {
	t.Parallel()
	m := gcodetest.Matrix(t, testID)
	type row struct {
		name      string
		edit      func(*gcode.Job)
		est, meas time.Duration
		emptied   int
		share     string
	}
	rows := []row{
		{name: "3000mm/min bidi M4", edit: func(*gcode.Job) {}},
		{name: "1500mm/min bidi M4", edit: func(j *gcode.Job) { j.Laser.Speed = 1500 }},
		{name: "6000mm/min bidi M4", edit: func(j *gcode.Job) { j.Laser.Speed = 6000 }},
		{name: "3000mm/min uni M3", edit: func(j *gcode.Job) { j.Laser.Unidirectional, j.Laser.ConstantPower = true, true }},
		{name: "3000mm/min rot90 2 passes", edit: func(j *gcode.Job) { j.Placement.Rotation, j.Laser.Passes = 90, 2 }},
		{name: "3000mm/min no overscan", edit: func(j *gcode.Job) { j.Laser.NoOverscan = true }},
	}
	// Each program runs on its own simulator, in parallel. FullLookahead
	// keeps a slow test host (the race detector, a loaded CI runner) from
	// letting the planner run dry: "stops" counts the times motion stopped
	// for want of blocks (1 = only at the end).
	var wg sync.WaitGroup
	for i := range rows {
		wg.Add(1)
		go func(r *row) {
			defer wg.Done()
			sim, addr := startSim(t, grblsim.Config{TimeScale: 25, FullLookahead: true})
			c, err := Dial(context.Background(), addr, Options{})
			if err != nil {
				t.Error(err)
				return
			}
			defer c.Close()
			job := testJob(c)
			r.edit(&job)
			p, err := gcode.Generate(m, job)
			if err != nil {
				t.Error(err)
				return
			}
			est, err := gcode.EstimateProgram(p, job.Machine)
			if err != nil {
				t.Error(err)
				return
			}
			before := sim.Stats()
			if err := c.Stream(context.Background(), p.Lines, nil); err != nil {
				t.Error(err)
				return
			}
			after := sim.Stats()
			r.est, r.meas = est.Total, after.MotionTime-before.MotionTime
			r.emptied = after.PlannerEmptied - before.PlannerEmptied
			r.share = est.String()
		}(&rows[i])
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	t.Logf("%-28s %10s %10s %7s %7s  %s", "program", "estimate", "simulated", "error", "stops", "estimate breakdown")
	for _, r := range rows {
		e := (r.est.Seconds() - r.meas.Seconds()) / r.meas.Seconds()
		t.Logf("%-28s %9.3fs %9.3fs %+6.2f%% %7d  %s", r.name, r.est.Seconds(), r.meas.Seconds(), 100*e, r.emptied, r.share)
		if math.Abs(e) > 0.05 {
			t.Errorf("%s: estimate %v vs simulated %v: error %.1f%% > 5%%", r.name, r.est, r.meas, 100*e)
		}
	}
}
