package engraving_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/qrmfg/qrmfg/internal/engraving"
	"github.com/qrmfg/qrmfg/internal/engraving/grblsim"
	"github.com/qrmfg/qrmfg/internal/inventory"
	"github.com/qrmfg/qrmfg/internal/qrmfg"
	"github.com/qrmfg/qrmfg/internal/sqlstore"
	"github.com/qrmfg/qrmfg/internal/sqlstore/sqltest"
)

// Cancelling a running job stops the machine with the laser off; the job
// is cancelled, its item stays generated, the machine is paused.
func TestCancelRunning(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t)
	sim, m := b.sim(t, "sim-cancel", grblsim.Config{TimeScale: 20})
	uid := b.allocate(t, 1)[0]
	j, err := b.svc.Create(ctx, engraving.CreateRequest{ItemUID: uid, Laser: seedLaser})
	if err != nil {
		t.Fatal(err)
	}
	ch, stop := b.svc.Follow("job", j.ID)
	defer stop()
	b.wait(t, j.ID, "progress", func(j engraving.Job) bool { return j.Status == engraving.JobRunning && j.LinesAcked > 50 })
	got, err := b.svc.Cancel(ctx, j.ID)
	if err != nil || got.Status != engraving.JobCancelled || got.ErrorCode != "cancelled" {
		t.Fatalf("cancel: %+v %v", got, err)
	}
	if sim.LaserOn() {
		t.Fatal("laser on after cancel")
	}
	taken := sim.Stats().GcodeLines
	time.Sleep(200 * time.Millisecond)
	if n := sim.Stats().GcodeLines; n > taken+1 { // M5 after the reset
		t.Fatalf("%d lines sent after the cancel", n-taken)
	}
	st, _ := b.svc.Machine(ctx, m.ID)
	if !st.Paused || st.State != engraving.MachineIdle {
		t.Fatalf("machine %+v", st)
	}
	if it, _ := b.inv.Get(ctx, uid); it.Status != inventory.StatusGenerated {
		t.Fatalf("item %s", it.Status)
	}
	// The live stream saw the progress and the end.
	var sawProgress, sawEnd bool
	for len(ch) > 0 {
		u := <-ch
		sawProgress = sawProgress || (u.Job != nil && u.Job.LinesAcked > 0)
		sawEnd = sawEnd || (u.Job != nil && u.Job.Status == engraving.JobCancelled)
	}
	if !sawProgress || !sawEnd {
		t.Fatalf("live updates: progress %v, end %v", sawProgress, sawEnd)
	}
	if _, err := b.svc.Cancel(ctx, j.ID); qrmfg.ErrorCode(err) != qrmfg.ECONFLICT {
		t.Fatalf("second cancel: %v", err)
	}
}

// An interrupted job is re-engraved on a new part (the old id becomes
// void) or on the same part when the operator confirms nothing burned.
func TestResolveReengrave(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t)
	sim, m := b.sim(t, "sim-resolve", grblsim.Config{TimeScale: 2000})
	uids := b.allocate(t, 3)
	sim.SetFaults(grblsim.Faults{DropAfterLines: 200})
	j, err := b.svc.Create(ctx, engraving.CreateRequest{ItemUID: uids[0], Laser: fastLaser})
	if err != nil {
		t.Fatal(err)
	}
	j = b.wait(t, j.ID, "interruption", final)
	if j.Status != engraving.JobInterrupted {
		t.Fatalf("job %s", j.Status)
	}
	if _, err := b.svc.Retry(ctx, j.ID); qrmfg.ErrorCode(err) != qrmfg.ECONFLICT {
		t.Fatalf("retry of an interrupted job: %v", err)
	}
	for _, bad := range []engraving.ResolveRequest{
		{Action: "redo"},
		{Action: engraving.ResolveReengrave},
		{Action: engraving.ResolveReengrave, NewItemUIDs: []string{uids[0]}},
		{Action: engraving.ResolveReengrave, NewItemUIDs: []string{"PAD-V0100-L2025-09-99999"}},
	} {
		if _, _, err := b.svc.Resolve(ctx, j.ID, bad); qrmfg.ErrorCode(err) != qrmfg.EINVALID {
			t.Fatalf("resolve %+v: %v, want EINVALID", bad, err)
		}
	}
	old, next, err := b.svc.Resolve(ctx, j.ID, engraving.ResolveRequest{Action: engraving.ResolveReengrave, NewItemUIDs: []string{uids[1]}, Note: "half burned"})
	if err != nil || next == nil || old.NextJobID != next.ID || old.Resolution != engraving.ResolveReengrave || next.ItemUID != uids[1] || next.QRCodeData != uids[1] {
		t.Fatalf("resolve: %+v %+v %v", old, next, err)
	}
	if it, _ := b.inv.Get(ctx, uids[0]); it.Status != inventory.StatusVoid {
		t.Fatalf("old item is %s, want void", it.Status)
	}
	if _, err := b.svc.Connect(ctx, m.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := b.svc.Resume(ctx, m.ID); err != nil {
		t.Fatal(err)
	}
	if n := b.wait(t, next.ID, "end", final); n.Status != engraving.JobCompleted {
		t.Fatalf("re-engraving: %s %s", n.Status, n.ErrorText)
	}
	b.itemStatus(t, uids[1], inventory.StatusEngraved)

	// Same part, confirmed unburnt: a new attempt on it.
	sim.SetFaults(grblsim.Faults{DropAfterLines: 5})
	j2, err := b.svc.Create(ctx, engraving.CreateRequest{ItemUID: uids[2], Laser: fastLaser})
	if err != nil {
		t.Fatal(err)
	}
	if j2 = b.wait(t, j2.ID, "end", final); j2.Status != engraving.JobInterrupted {
		t.Fatalf("job %s", j2.Status)
	}
	_, again, err := b.svc.Resolve(ctx, j2.ID, engraving.ResolveRequest{Action: engraving.ResolveReengrave, ConfirmUnburnt: true})
	if err != nil || again.ItemUID != uids[2] || again.Attempt != 2 || again.RetryOf != j2.ID {
		t.Fatalf("same-part attempt: %+v %v", again, err)
	}
	if it, _ := b.inv.Get(ctx, uids[2]); it.Status != inventory.StatusGenerated {
		t.Fatalf("item %s", it.Status)
	}
}

// Bulk by lot queues one job per generated item without an active job,
// all or nothing; the dispatcher runs urgent before normal.
func TestBulkByLotAndPriority(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t)
	uids := b.allocate(t, 4)
	if _, err := b.inv.Transition(ctx, inventory.TransitionRequest{UID: uids[3], To: inventory.StatusVoid}); err != nil {
		t.Fatal(err)
	}
	first, err := b.svc.Create(ctx, engraving.CreateRequest{ItemUID: uids[0], Laser: fastLaser, Priority: "low"})
	if err != nil {
		t.Fatal(err)
	}
	jobs, err := b.svc.CreateBulk(ctx, engraving.BulkRequest{Lot: &engraving.EngraveLot{ComponentType: "PAD", VendorCode: "V0100", LotNumber: "L2025-09"},
		Laser: fastLaser, Priority: "urgent"})
	if err != nil || len(jobs) != 2 || jobs[0].ItemUID != uids[1] || jobs[1].ItemUID != uids[2] {
		t.Fatalf("bulk by lot: %+v %v", jobs, err)
	}
	if _, err := b.svc.CreateBulk(ctx, engraving.BulkRequest{ItemUIDs: []string{uids[1], uids[0]}, Laser: fastLaser}); qrmfg.ErrorCode(err) != qrmfg.ECONFLICT {
		t.Fatalf("items with active jobs: %v", err)
	}
	// One machine comes: the urgent jobs run first, in order.
	b.sim(t, "sim-prio", grblsim.Config{TimeScale: 5000})
	done := map[string]time.Time{}
	for _, id := range []string{jobs[0].ID, jobs[1].ID, first.ID} {
		j := b.wait(t, id, "end", final)
		if j.Status != engraving.JobCompleted {
			t.Fatalf("job %s %s", j.Status, j.ErrorText)
		}
		done[id] = *j.StartedAt
	}
	if !done[jobs[0].ID].Before(done[jobs[1].ID]) || !done[jobs[1].ID].Before(done[first.ID]) {
		t.Fatalf("start order: urgent %v, urgent %v, low %v", done[jobs[0].ID], done[jobs[1].ID], done[first.ID])
	}
}

// The inventory consumer is idempotent: a redelivered completion event
// changes nothing.
func TestCompletedEventRedelivery(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t)
	uid := b.allocate(t, 1)[0]
	data, _ := json.Marshal(engraving.CompletedData{JobID: "j1", ItemUIDs: []string{uid}})
	ev := qrmfg.Event{ID: qrmfg.NewID(), Type: engraving.EventJobCompleted, Source: engraving.EventSource, Data: data}
	for range 3 {
		if err := b.inv.HandleJobCompleted(ctx, ev); err != nil {
			t.Fatal(err)
		}
	}
	it, _ := b.inv.Get(ctx, uid)
	if it.Status != inventory.StatusEngraved || len(it.History) != 1 || it.History[0].EventID != ev.ID || it.Version != 2 {
		t.Fatalf("item after 3 deliveries: %s, history %+v, version %d", it.Status, it.History, it.Version)
	}
}

// With several dispatchers (not exclusive), a running job whose runner
// stopped writing progress is interrupted by another one; a live one is not.
func TestStaleRunnerSweep(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t)
	uids := b.allocate(t, 2)
	var ids []string
	for _, u := range uids {
		j, err := b.svc.Create(ctx, engraving.CreateRequest{ItemUID: u, Laser: fastLaser})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, j.ID)
	}
	// Another replica claims both; one keeps writing progress.
	err := b.db.Engraving().Update(ctx, func(ctx context.Context, tx engraving.Tx) error {
		for range 2 {
			if _, err := tx.ClaimJob(ctx, engraving.Fit{MachineID: "elsewhere", Width: 500, Height: 500, SpotSize: 0.1}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	svc := engraving.NewService(b.db.Engraving(), b.inv, engraving.Options{HeartbeatTimeout: 900 * time.Millisecond, DispatchInterval: 50 * time.Millisecond})
	if err := svc.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		_ = b.db.Engraving().Update(ctx, func(ctx context.Context, tx engraving.Tx) error {
			_, err := tx.Progress(ctx, ids[1], 10, 0)
			return err
		})
		time.Sleep(100 * time.Millisecond)
	}
	lost, _ := svc.Get(ctx, ids[0])
	live, _ := svc.Get(ctx, ids[1])
	if lost.Status != engraving.JobInterrupted || lost.ErrorCode != "lost" || live.Status != engraving.JobRunning {
		t.Fatalf("lost runner's job %s %s; live runner's job %s", lost.Status, lost.ErrorCode, live.Status)
	}
}

// An operator raises a queued job's priority: it runs before the jobs
// queued ahead of it. Only a queued job's priority changes.
func TestSetPriorityReordersQueue(t *testing.T) {
	t.Parallel()
	sqltest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		b := setupOn(t, db)
		uids := b.allocate(t, 3)
		var jobs []engraving.Job
		for _, uid := range uids {
			j, err := b.svc.Create(ctx, engraving.CreateRequest{ItemUID: uid, Laser: fastLaser})
			if err != nil {
				t.Fatal(err)
			}
			jobs = append(jobs, j)
		}
		last, err := b.svc.SetPriority(ctx, jobs[2].ID, "urgent")
		if err != nil || last.Priority != engraving.PriorityUrgent || last.Status != engraving.JobQueued {
			t.Fatalf("raise: %+v %v", last, err)
		}
		if got, _ := b.svc.Get(ctx, jobs[2].ID); got.Priority != engraving.PriorityUrgent {
			t.Fatalf("stored priority %s", got.Priority)
		}
		if _, err := b.svc.SetPriority(ctx, jobs[0].ID, "low"); err != nil {
			t.Fatal(err)
		}
		for _, bad := range []string{"", "asap"} {
			if _, err := b.svc.SetPriority(ctx, jobs[1].ID, bad); qrmfg.ErrorCode(err) != qrmfg.EINVALID || qrmfg.AsError(err).Field != "priority" {
				t.Fatalf("priority %q: %v", bad, err)
			}
		}
		if _, err := b.svc.SetPriority(ctx, "nope", "high"); qrmfg.ErrorCode(err) != qrmfg.ENOTFOUND {
			t.Fatalf("unknown job: %v", err)
		}
		b.sim(t, "sim-reprio", grblsim.Config{TimeScale: 5000})
		started := map[string]time.Time{}
		for _, j := range jobs {
			done := b.wait(t, j.ID, "end", final)
			if done.Status != engraving.JobCompleted {
				t.Fatalf("job %s %s", done.Status, done.ErrorText)
			}
			started[j.ID] = *done.StartedAt
		}
		// urgent (queued last), then normal, then the one lowered to low.
		if !started[jobs[2].ID].Before(started[jobs[1].ID]) || !started[jobs[1].ID].Before(started[jobs[0].ID]) {
			t.Fatalf("start order: %v", started)
		}
		if _, err := b.svc.SetPriority(ctx, jobs[0].ID, "high"); qrmfg.ErrorCode(err) != qrmfg.ECONFLICT {
			t.Fatalf("completed job: %v", err)
		}
	})
}
