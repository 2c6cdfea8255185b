package engraving_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/qrmfg/qrmfg/internal/engraving"
	"github.com/qrmfg/qrmfg/internal/engraving/grblsim"
	"github.com/qrmfg/qrmfg/internal/qrmfg"
	"github.com/qrmfg/qrmfg/internal/sqlstore"
	"github.com/qrmfg/qrmfg/internal/sqlstore/sqltest"
)

// A job whose runner died (the server crashed, or another dispatcher finds
// it without progress) is interrupted and its machine paused, in the
// database: after the machine reconnects, the next queued job stays queued
// and no G-code line is sent until an operator resumes the machine.
func TestInterruptionPausesMachine(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		cause string
		opt   engraving.Options
	}{
		{"crash", engraving.Options{Exclusive: true, DispatchInterval: 50 * time.Millisecond}},
		{"lost", engraving.Options{HeartbeatTimeout: 900 * time.Millisecond, DispatchInterval: 50 * time.Millisecond}},
	} {
		t.Run(tc.cause, func(t *testing.T) {
			t.Parallel()
			sqltest.Each(t, func(t *testing.T, db *sqlstore.DB) {
				ctx := context.Background()
				first := setupOn(t, db)
				_, m := first.sim(t, "sim-1", grblsim.Config{TimeScale: 2000})
				uids := first.allocate(t, 2)
				pause(t, first, m.ID) // hold the queue while the jobs are set up
				var jobs []engraving.Job
				for _, u := range uids {
					j, err := first.svc.Create(ctx, engraving.CreateRequest{ItemUID: u, Laser: fastLaser})
					if err != nil {
						t.Fatal(err)
					}
					jobs = append(jobs, j)
				}
				crashed, next := jobs[0], jobs[1]
				if err := first.svc.Close(); err != nil {
					t.Fatal(err)
				}
				// The dispatcher that ran the first job on the machine dies
				// mid-job; the machine was not paused then.
				err := db.Engraving().Update(ctx, func(ctx context.Context, tx engraving.Tx) error {
					c, err := tx.ClaimJob(ctx, engraving.Fit{MachineID: m.ID, Width: 200, Height: 200, SpotSize: 0.1})
					if err == nil && (c == nil || c.ID != crashed.ID) {
						t.Fatalf("claimed %+v, want job %s", c, crashed.ID)
					}
					mc, err := tx.LockMachine(ctx, m.ID)
					if err != nil {
						return err
					}
					mc.Paused, mc.PauseReason = false, ""
					return tx.UpdateMachine(ctx, &mc)
				})
				if err != nil {
					t.Fatal(err)
				}
				second := setupWith(t, db, tc.opt)
				got := second.wait(t, crashed.ID, "interruption", final)
				if got.Status != engraving.JobInterrupted || got.ErrorCode != tc.cause {
					t.Fatalf("job after its runner died: %s %s", got.Status, got.ErrorCode)
				}
				// The machine comes back, with a job waiting for it.
				sim, _ := second.sim(t, "sim-1", grblsim.Config{TimeScale: 2000})
				st, err := second.svc.Machine(ctx, m.ID)
				if err != nil || !st.Connected || !st.Paused || !strings.Contains(st.PauseReason, crashed.ID) {
					t.Fatalf("machine after the interruption: %+v %v", st, err)
				}
				time.Sleep(300 * time.Millisecond) // several dispatch rounds
				if j, _ := second.svc.Get(ctx, next.ID); j.Status != engraving.JobQueued {
					t.Fatalf("the next job is %s before an operator resumed the machine", j.Status)
				}
				if n := sim.Stats().GcodeLines; n != 0 {
					t.Fatalf("%d G-code lines sent to the paused machine", n)
				}
				hist, err := second.svc.MachineHistory(ctx, m.ID, 20)
				if err != nil {
					t.Fatal(err)
				}
				found := false
				for _, e := range hist {
					found = found || (e.Kind == "paused" && e.JobID == crashed.ID)
				}
				if !found {
					t.Fatalf("no pause for job %s in the machine's history %+v", crashed.ID, hist)
				}
				// The operator has cleared the fixture.
				if _, err := second.svc.Resume(ctx, m.ID); err != nil {
					t.Fatal(err)
				}
				if j := second.wait(t, next.ID, "end", final); j.Status != engraving.JobCompleted {
					t.Fatalf("the next job after resume: %s %s", j.Status, j.ErrorText)
				}
			})
		})
	}
}

// An item whose interrupted job is not resolved gets no new job, alone, in
// bulk, on a tray or with its lot: 409 naming the interrupted job. New jobs
// racing the resolution are all refused; only the resolution queues one.
func TestInterruptedJobHoldsItsItems(t *testing.T) {
	t.Parallel()
	sqltest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		b := setupOn(t, db)
		sim, _ := b.sim(t, "sim-hold", grblsim.Config{TimeScale: 2000})
		uids := b.allocate(t, 3)
		sim.SetFaults(grblsim.Faults{DropAfterLines: 50})
		a, err := b.svc.Create(ctx, engraving.CreateRequest{ItemUID: uids[0], Laser: fastLaser})
		if err != nil {
			t.Fatal(err)
		}
		if a = b.wait(t, a.ID, "interruption", final); a.Status != engraving.JobInterrupted {
			t.Fatalf("job %s %s, want interrupted", a.Status, a.ErrorCode)
		}
		refused := func(what string, err error) {
			t.Helper()
			if qrmfg.ErrorCode(err) != qrmfg.ECONFLICT || !strings.Contains(qrmfg.ErrorMessage(err), a.ID) {
				t.Fatalf("%s: %v; want a conflict naming the interrupted job %s", what, err, a.ID)
			}
		}
		_, err = b.svc.Create(ctx, engraving.CreateRequest{ItemUID: uids[0], Laser: fastLaser})
		refused("a new job", err)
		_, err = b.svc.CreateBulk(ctx, engraving.BulkRequest{ItemUIDs: []string{uids[1], uids[0]}, Laser: fastLaser})
		refused("bulk", err)
		_, err = b.svc.CreateBulk(ctx, engraving.BulkRequest{ItemUIDs: []string{uids[1], uids[0]}, Laser: fastLaser,
			Tray: &engraving.Tray{Cols: 2, Rows: 1, PitchX: 40, PitchY: 40, Origin: engraving.Origin{X: 5, Y: 5}}})
		refused("tray", err)
		_, err = b.svc.CreateBulk(ctx, engraving.BulkRequest{Lot: &engraving.EngraveLot{ComponentType: "PAD", VendorCode: "V0100", LotNumber: "L2025-09"},
			Laser: fastLaser})
		refused("lot", err)
		if js, err := b.svc.List(ctx, engraving.JobFilter{ItemUID: uids[1]}); err != nil || len(js) != 0 {
			t.Fatalf("a refused bulk request queued %d job(s) (%v)", len(js), err)
		}
		// New jobs race the operator's resolution.
		const creators = 4
		var wg sync.WaitGroup
		start := make(chan struct{})
		errs := make(chan error, creators)
		for range creators {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				_, err := b.svc.Create(ctx, engraving.CreateRequest{ItemUID: uids[0], Laser: fastLaser})
				errs <- err
			}()
		}
		var next *engraving.Job
		var rerr error
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			_, next, rerr = b.svc.Resolve(ctx, a.ID, engraving.ResolveRequest{Action: engraving.ResolveReengrave, ConfirmUnburnt: true})
		}()
		close(start)
		wg.Wait()
		close(errs)
		if rerr != nil {
			t.Fatalf("resolve: %v", rerr)
		}
		for err := range errs {
			if qrmfg.ErrorCode(err) != qrmfg.ECONFLICT {
				t.Errorf("a new job racing the resolution: %v, want a conflict", err)
			}
		}
		js, err := b.svc.List(ctx, engraving.JobFilter{ItemUID: uids[0]})
		if err != nil || len(js) != 2 || js[0].ID != next.ID || js[1].ID != a.ID {
			t.Fatalf("jobs of %s: %d (%v), want the interrupted one and its resolution's %s", uids[0], len(js), err, next.ID)
		}
		// Other items were never held.
		if _, err := b.svc.Create(ctx, engraving.CreateRequest{ItemUID: uids[1], Laser: fastLaser}); err != nil {
			t.Fatal(err)
		}
	})
}

// With several dispatchers on one database, a pause and a resume made
// through one of them hold for the machine another one drives: the resume
// lifts the pause there too.
func TestResumeThroughAnotherDispatcher(t *testing.T) {
	t.Parallel()
	sqltest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		opt := engraving.Options{DispatchInterval: 50 * time.Millisecond}
		api := setupWith(t, db, opt)
		driver := setupWith(t, db, opt)
		_, m := driver.sim(t, "sim-shared", grblsim.Config{TimeScale: 2000})
		uids := api.allocate(t, 2)
		if _, err := api.svc.Pause(ctx, m.ID, "inspect the fixture"); err != nil {
			t.Fatal(err)
		}
		j, err := api.svc.Create(ctx, engraving.CreateRequest{ItemUID: uids[0], Laser: fastLaser})
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(300 * time.Millisecond) // several dispatch rounds of the driver
		if got, _ := api.svc.Get(ctx, j.ID); got.Status != engraving.JobQueued {
			t.Fatalf("job %s on a paused machine", got.Status)
		}
		if _, err := api.svc.Resume(ctx, m.ID); err != nil {
			t.Fatal(err)
		}
		if got := api.wait(t, j.ID, "end", final); got.Status != engraving.JobCompleted {
			t.Fatalf("job after the resume: %s %s", got.Status, got.ErrorText)
		}
	})
}
