package engraving_test

import (
	"context"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/qrmfg/qrmfg/internal/engraving"
	"github.com/qrmfg/qrmfg/internal/engraving/grbl"
	"github.com/qrmfg/qrmfg/internal/engraving/grblsim"
	"github.com/qrmfg/qrmfg/internal/inventory"
	"github.com/qrmfg/qrmfg/internal/qrmfg"
)

// T25 (a) through the service: the link drops at a random line in 20 runs.
// Every job ends interrupted, none is resumed or re-queued, the machine is
// paused, and after reconnecting (with the next job queued) the controller
// receives no G-code line until an operator resumes the machine.
func TestDisconnectMidJob(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t)
	sim, m := b.sim(t, "sim-drop", grblsim.Config{TimeScale: 2000})
	uids := b.allocate(t, 21)
	r := rand.New(rand.NewPCG(25, 4))
	// Pause the machine while the jobs are queued, so each run starts when
	// the test says.
	pause(t, b, m.ID)
	ids := make([]string, len(uids))
	for i, uid := range uids {
		j, err := b.svc.Create(ctx, engraving.CreateRequest{ItemUID: uid, Laser: fastLaser})
		if err != nil {
			t.Fatal(err)
		}
		ids[i] = j.ID
	}
	total := 0
	resent := 0
	var worst time.Duration
	for run := range 20 {
		j, _ := b.svc.Get(ctx, ids[run])
		total = j.LinesTotal
		k := 10 + r.IntN(total-20)
		sim.SetFaults(grblsim.Faults{DropAfterLines: k})
		if _, err := b.svc.Resume(ctx, m.ID); err != nil {
			t.Fatal(err)
		}
		j = b.wait(t, ids[run], "end", final)
		detected := j.FinishedAt.Sub(sim.Stats().DroppedAt)
		worst = max(worst, detected)
		if j.Status != engraving.JobInterrupted || j.ErrorCode != "disconnected" || j.LinesAcked > k {
			t.Fatalf("run %d (drop after %d lines): job %s %s, %d acked", run, k, j.Status, j.ErrorCode, j.LinesAcked)
		}
		st, _ := b.svc.Machine(ctx, m.ID)
		if st.Connected || !st.Paused {
			t.Fatalf("run %d: machine after the drop: %+v", run, st)
		}
		// Reconnect; the next job is queued but nothing is sent.
		if _, err := b.svc.Connect(ctx, m.ID); err != nil {
			t.Fatalf("run %d: reconnect: %v", run, err)
		}
		time.Sleep(150 * time.Millisecond)
		resent += sim.Stats().GcodeLines
		if next, _ := b.svc.Get(ctx, ids[run+1]); next.Status != engraving.JobQueued {
			t.Fatalf("run %d: the next job is %s before the operator resumed the machine", run, next.Status)
		}
	}
	all, err := b.svc.List(ctx, engraving.JobFilter{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	counts := map[engraving.JobStatus]int{}
	for _, j := range all {
		counts[j.Status]++
		if j.Attempt != 1 || j.RetryOf != "" {
			t.Errorf("job %s is attempt %d of %q: nothing retries on its own", j.ID, j.Attempt, j.RetryOf)
		}
	}
	if counts[engraving.JobInterrupted] != 20 || counts[engraving.JobQueued] != 1 || len(all) != 21 || resent != 0 {
		t.Fatalf("jobs %v (of %d), %d lines sent after reconnecting", counts, len(all), resent)
	}
	for _, uid := range uids[:20] {
		if it, _ := b.inv.Get(ctx, uid); it.Status != inventory.StatusGenerated {
			t.Fatalf("item %s of an interrupted job is %s", uid, it.Status)
		}
	}
	t.Logf("RESULT T25a service runs=20 interrupted=%d auto_resumed=0 lines_after_reconnect=%d detection_p100=%v (program %d lines)",
		counts[engraving.JobInterrupted], resent, worst.Round(time.Millisecond), total)
}

func pause(t *testing.T, b *bundle, machineID string) {
	t.Helper()
	_, err := b.svc.Pause(context.Background(), machineID, "test: hold the queue")
	if err != nil {
		t.Fatal(err)
	}
}

// T26 through the service: each alarm and error fails the job with its code
// and text, no line reaches the controller after it, the machine keeps
// the next job until an operator recovers it (unlock for ALARM:2 and
// errors, home for ALARM:1, 3 and 9), audited in its history.
func TestAlarmsAndErrors(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		faults grblsim.Faults
		code   string
		text   string
		home   bool
	}{
		{"Alarm1HardLimit", grblsim.Faults{AlarmAtLine: 300, AlarmCode: 1}, "ALARM:1", grbl.AlarmText(1), true},
		{"Alarm2SoftLimit", grblsim.Faults{AlarmAtLine: 300, AlarmCode: 2}, "ALARM:2", grbl.AlarmText(2), false},
		{"Alarm3ResetInMotion", grblsim.Faults{AlarmAtLine: 300, AlarmCode: 3}, "ALARM:3", grbl.AlarmText(3), true},
		{"Alarm9HomingFail", grblsim.Faults{AlarmAtLine: 300, AlarmCode: 9}, "ALARM:9", grbl.AlarmText(9), true},
		{"Error20", grblsim.Faults{ErrorAtLine: 300, ErrorCode: 20}, "error:20", grbl.ErrorText(20), false},
		{"Error9", grblsim.Faults{ErrorAtLine: 300, ErrorCode: 9}, "error:9", grbl.ErrorText(9), false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			b := setup(t)
			sim, m := b.sim(t, "sim-"+tc.name, grblsim.Config{TimeScale: 1000})
			uids := b.allocate(t, 2)
			sim.SetFaults(tc.faults)
			j1, err := b.svc.Create(ctx, engraving.CreateRequest{ItemUID: uids[0], Laser: fastLaser})
			if err != nil {
				t.Fatal(err)
			}
			j := b.wait(t, j1.ID, "end", final)
			if j.Status != engraving.JobFailed || j.ErrorCode != tc.code || j.ErrorText != tc.text || j.LinesAcked > 300 {
				t.Fatalf("job %s %q %q, %d acked; want failed %s", j.Status, j.ErrorCode, j.ErrorText, j.LinesAcked, tc.code)
			}
			taken := sim.Stats().GcodeLines
			j2, err := b.svc.Create(ctx, engraving.CreateRequest{ItemUID: uids[1], Laser: fastLaser})
			if err != nil {
				t.Fatal(err)
			}
			time.Sleep(300 * time.Millisecond)
			if after := sim.Stats().GcodeLines; after != taken {
				t.Fatalf("%d lines reached the controller after %s", after-taken, tc.code)
			}
			if cur, _ := b.svc.Get(ctx, j2.ID); cur.Status != engraving.JobQueued {
				t.Fatalf("next job is %s while the machine needs an operator", cur.Status)
			}
			st, _ := b.svc.Machine(ctx, m.ID)
			if !st.Paused || st.LaserOn || sim.LaserOn() {
				t.Fatalf("machine after %s: %+v, sim laser %v", tc.code, st, sim.LaserOn())
			}
			sim.SetFaults(grblsim.Faults{})
			if tc.code[0] == 'A' {
				if st.State != engraving.MachineAlarm || st.AlarmCode == 0 {
					t.Fatalf("machine state %s alarm %d after %s", st.State, st.AlarmCode, tc.code)
				}
				_, err := b.svc.Unlock(ctx, m.ID)
				if tc.home {
					if qrmfg.ErrorCode(err) != qrmfg.ECONFLICT {
						t.Fatalf("unlock after %s: %v, want ECONFLICT (home required)", tc.code, err)
					}
					_, err = b.svc.Home(ctx, m.ID)
				}
				if err != nil {
					t.Fatalf("recover from %s: %v", tc.code, err)
				}
				hist, _ := b.svc.MachineHistory(ctx, m.ID, 20)
				kind := "unlocked"
				if tc.home {
					kind = "homed"
				}
				found := false
				for _, e := range hist {
					found = found || (e.Kind == kind && "ALARM:"+itoa(e.AlarmCode) == tc.code && e.EventID != "")
				}
				if !found {
					t.Fatalf("no %s entry for %s in the history %+v", kind, tc.code, hist)
				}
			}
			if _, err := b.svc.Resume(ctx, m.ID); err != nil {
				t.Fatal(err)
			}
			if j := b.wait(t, j2.ID, "end", final); j.Status != engraving.JobCompleted {
				t.Fatalf("job after recovery: %s %s %s", j.Status, j.ErrorCode, j.ErrorText)
			}
			b.itemStatus(t, uids[1], inventory.StatusEngraved)
			if it, _ := b.inv.Get(ctx, uids[0]); it.Status != inventory.StatusGenerated {
				t.Fatalf("item of the failed job is %s", it.Status)
			}
			// A failed job can be retried as a new attempt.
			r, err := b.svc.Retry(ctx, j1.ID)
			if err != nil || r.Attempt != 2 || r.RetryOf != j1.ID {
				t.Fatalf("retry: %+v %v", r, err)
			}
			if j := b.wait(t, r.ID, "end", final); j.Status != engraving.JobCompleted {
				t.Fatalf("retry ended %s %s", j.Status, j.ErrorText)
			}
			b.itemStatus(t, uids[0], inventory.StatusEngraved)
		})
	}
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	s := ""
	for n > 0 {
		s = string(rune('0'+n%10)) + s
		n /= 10
	}
	return s
}

// A job left running by a crashed server is interrupted at the next start
// and never sent to a machine; its item stays generated.
func TestCrashRestart(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	first := setup(t)
	uid := first.allocate(t, 1)[0]
	j, err := first.svc.Create(ctx, engraving.CreateRequest{ItemUID: uid, Laser: fastLaser})
	if err != nil {
		t.Fatal(err)
	}
	// A dispatcher claims it and dies before it ends.
	err = first.db.Engraving().Update(ctx, func(ctx context.Context, tx engraving.Tx) error {
		c, err := tx.ClaimJob(ctx, engraving.Fit{MachineID: "gone", Width: 200, Height: 200, SpotSize: 0.1})
		if err == nil && (c == nil || c.ID != j.ID) {
			t.Fatalf("claimed %+v", c)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := first.svc.Close(); err != nil {
		t.Fatal(err)
	}
	// Restart on the same database, with a machine waiting for work.
	second := setupOn(t, first.db)
	sim, _ := second.sim(t, "sim-restart", grblsim.Config{})
	got := second.wait(t, j.ID, "interruption", final)
	if got.Status != engraving.JobInterrupted || got.ErrorCode != "crash" {
		t.Fatalf("job after restart: %s %s", got.Status, got.ErrorCode)
	}
	time.Sleep(200 * time.Millisecond)
	if n := sim.Stats().GcodeLines; n != 0 {
		t.Fatalf("%d lines of the crashed job were sent", n)
	}
	if it, _ := second.inv.Get(ctx, uid); it.Status != inventory.StatusGenerated {
		t.Fatalf("item %s", it.Status)
	}
	// The operator inspects the part and confirms it is engraved.
	done, next, err := second.svc.Resolve(ctx, j.ID, engraving.ResolveRequest{Action: engraving.ResolveConfirmEngraved, Note: "code reads fine"})
	if err != nil || done.Status != engraving.JobCompleted || next != nil || done.Resolution != engraving.ResolveConfirmEngraved {
		t.Fatalf("resolve: %+v %v", done, err)
	}
	second.itemStatus(t, uid, inventory.StatusEngraved)
	if _, _, err := second.svc.Resolve(ctx, j.ID, engraving.ResolveRequest{Action: engraving.ResolveConfirmEngraved}); qrmfg.ErrorCode(err) != qrmfg.ECONFLICT {
		t.Fatalf("second resolve: %v", err)
	}
}

// T25 (b, c) through the service: a controller reset mid-job and a status
// poll that goes unanswered both leave the job interrupted; after a reset
// the machine must be homed before it takes the next job.
func TestResetAndStallMidJob(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		faults grblsim.Faults
		code   string
	}{
		{"Reset", grblsim.Faults{ResetAtLine: 400}, "reset"},
		{"Stall", grblsim.Faults{MuteStatus: true}, "stalled"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			b := setup(t)
			sim, m := b.sim(t, "sim-"+tc.name, grblsim.Config{TimeScale: 200})
			uids := b.allocate(t, 2)
			sim.SetFaults(tc.faults)
			start := time.Now()
			j, err := b.svc.Create(ctx, engraving.CreateRequest{ItemUID: uids[0], Laser: fastLaser})
			if err != nil {
				t.Fatal(err)
			}
			j = b.wait(t, j.ID, "end", final)
			if j.Status != engraving.JobInterrupted || j.ErrorCode != tc.code {
				t.Fatalf("job %s %s (%s)", j.Status, j.ErrorCode, j.ErrorText)
			}
			if tc.code == "stalled" && time.Since(start) > 4*time.Second {
				t.Fatalf("stall noticed after %v", time.Since(start))
			}
			sim.SetFaults(grblsim.Faults{})
			if _, err := b.svc.Connect(ctx, m.ID); err != nil {
				t.Fatal(err)
			}
			next, err := b.svc.Create(ctx, engraving.CreateRequest{ItemUID: uids[1], Laser: fastLaser})
			if err != nil {
				t.Fatal(err)
			}
			if tc.code == "reset" {
				// The position is lost, also across the reconnection: no
				// unlock, no resume, until the machine is homed.
				if st, _ := b.svc.Machine(ctx, m.ID); !st.NeedsHoming || !st.HomeRequired {
					t.Fatalf("after a reset: %+v", st)
				}
				if _, err := b.svc.Unlock(ctx, m.ID); qrmfg.ErrorCode(err) != qrmfg.ECONFLICT {
					t.Fatalf("unlock after a reset: %v", err)
				}
				if _, err := b.svc.Resume(ctx, m.ID); qrmfg.ErrorCode(err) != qrmfg.ECONFLICT {
					t.Fatalf("resume before homing: %v", err)
				}
				if cur, _ := b.svc.Get(ctx, next.ID); cur.Status != engraving.JobQueued {
					t.Fatalf("next job %s before homing", cur.Status)
				}
				if _, err := b.svc.Home(ctx, m.ID); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := b.svc.Resume(ctx, m.ID); err != nil {
				t.Fatal(err)
			}
			if n := b.wait(t, next.ID, "end", final); n.Status != engraving.JobCompleted {
				t.Fatalf("next job %s %s", n.Status, n.ErrorText)
			}
		})
	}
}
