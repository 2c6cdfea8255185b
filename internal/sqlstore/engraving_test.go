package sqlstore_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/qrmfg/qrmfg/internal/engraving"
	"github.com/qrmfg/qrmfg/internal/qrmfg"
	"github.com/qrmfg/qrmfg/internal/sqlstore"
	"github.com/qrmfg/qrmfg/internal/sqlstore/sqltest"
)

var anyMachine = engraving.Fit{MachineID: "m1", Width: 200, Height: 200, SpotSize: 0.1}

// queueJob inserts a queued job for one item.
func queueJob(t testing.TB, s *sqlstore.EngravingStore, uid string, p engraving.Priority) engraving.Job {
	t.Helper()
	j := engraving.Job{ID: qrmfg.NewID(), Status: engraving.JobQueued, Priority: p, Attempt: 1,
		Parts:     []engraving.Part{{ItemUID: uid, QRCodeData: uid}},
		Laser:     engraving.LaserSettings{Power: 75, Speed: 1500, Passes: 2, Depth: 0.2},
		Placement: engraving.Placement{X: 5, Y: 5, Module: 0.5, QuietZone: 4},
		Footprint: engraving.Footprint{MinX: 4, MinY: 5, MaxX: 22, MaxY: 22}, ModuleMM: 0.5}
	err := s.Update(context.Background(), func(ctx context.Context, tx engraving.Tx) error { return tx.InsertJob(ctx, &j) })
	if err != nil {
		t.Fatal(err)
	}
	return j
}

func claim(t testing.TB, s *sqlstore.EngravingStore, f engraving.Fit) *engraving.Job {
	t.Helper()
	var j *engraving.Job
	err := s.Update(context.Background(), func(ctx context.Context, tx engraving.Tx) error {
		var err error
		j, err = tx.ClaimJob(ctx, f)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return j
}

func uid(n int) string { return fmt.Sprintf("PAD-V0100-L2025-09-%05d", n) }

// Priority order urgent > high > normal > low, FIFO within a priority.
func TestEngravingQueueOrder(t *testing.T) {
	t.Parallel()
	sqltest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		s := db.Engraving()
		prios := []engraving.Priority{engraving.PriorityLow, engraving.PriorityNormal, engraving.PriorityUrgent, engraving.PriorityHigh,
			engraving.PriorityNormal, engraving.PriorityLow, engraving.PriorityUrgent, engraving.PriorityHigh, engraving.PriorityNormal}
		var want []string
		byPrio := map[engraving.Priority][]string{}
		for i, p := range prios {
			j := queueJob(t, s, uid(i+1), p)
			byPrio[p] = append(byPrio[p], j.ID)
		}
		for _, p := range []engraving.Priority{engraving.PriorityUrgent, engraving.PriorityHigh, engraving.PriorityNormal, engraving.PriorityLow} {
			want = append(want, byPrio[p]...)
		}
		for i, id := range want {
			j := claim(t, s, anyMachine)
			if j == nil || j.ID != id {
				t.Fatalf("claim %d: got %+v, want %s", i, j, id)
			}
			if j.Status != engraving.JobRunning || j.MachineID != "m1" || j.StartedAt == nil || j.HeartbeatAt == nil {
				t.Fatalf("claimed job %+v", j)
			}
			got, err := s.GetJob(context.Background(), id)
			if err != nil || got.Status != engraving.JobRunning || got.ItemUID != j.ItemUID {
				t.Fatalf("stored %+v %v", got, err)
			}
		}
		if j := claim(t, s, anyMachine); j != nil {
			t.Fatalf("empty queue gave %s", j.ID)
		}
	})
}

// A job is claimed only by a machine it fits: work area, spot size, and
// the machine it is pinned to.
func TestEngravingClaimFit(t *testing.T) {
	t.Parallel()
	sqltest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		s := db.Engraving()
		j := queueJob(t, s, uid(1), engraving.PriorityNormal)
		for _, f := range []engraving.Fit{
			{MachineID: "small", Width: 20, Height: 200, SpotSize: 0.1},
			{MachineID: "wide-beam", Width: 200, Height: 200, SpotSize: 0.6},
		} {
			if got := claim(t, s, f); got != nil {
				t.Fatalf("%s took a job it does not fit", f.MachineID)
			}
		}
		pinned := queueJob(t, s, uid(2), engraving.PriorityUrgent)
		err := s.Update(context.Background(), func(ctx context.Context, tx engraving.Tx) error {
			p, err := tx.LockJob(ctx, pinned.ID)
			if err != nil {
				return err
			}
			p.MachineID, p.Pinned = "m2", true
			return tx.UpdateJob(ctx, &p)
		})
		if err != nil {
			t.Fatal(err)
		}
		if got := claim(t, s, anyMachine); got == nil || got.ID != j.ID {
			t.Fatalf("m1 took %+v, want the unpinned job", got)
		}
		if got := claim(t, s, engraving.Fit{MachineID: "m2", Width: 200, Height: 200, SpotSize: 0.1}); got == nil || got.ID != pinned.ID {
			t.Fatalf("m2 took %+v, want its pinned job", got)
		}
	})
}

// Concurrent claimers (dispatcher replicas) never take the same job.
func TestEngravingConcurrentClaims(t *testing.T) {
	t.Parallel()
	sqltest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		s := db.Engraving()
		const jobs, claimers = 60, 6
		for i := range jobs {
			queueJob(t, s, uid(i+1), engraving.PriorityNormal)
		}
		var mu sync.Mutex
		taken := map[string]string{}
		dup := 0
		var wg sync.WaitGroup
		for c := range claimers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				f := anyMachine
				f.MachineID = fmt.Sprintf("m%d", c)
				for {
					var j *engraving.Job
					err := s.Update(context.Background(), func(ctx context.Context, tx engraving.Tx) error {
						var err error
						j, err = tx.ClaimJob(ctx, f)
						return err
					})
					if qrmfg.ErrorCode(err) == qrmfg.EUNAVAILABLE {
						time.Sleep(time.Millisecond) // busy database: try again
						continue
					}
					if err != nil {
						t.Error(err)
						return
					}
					if j == nil {
						return
					}
					mu.Lock()
					if taken[j.ID] != "" {
						dup++
					}
					taken[j.ID] = f.MachineID
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		if len(taken) != jobs || dup != 0 {
			t.Fatalf("%d of %d jobs claimed, %d twice", len(taken), jobs, dup)
		}
		running, err := s.ListJobs(context.Background(), engraving.JobFilter{Status: engraving.JobRunning, Limit: 1000})
		if err != nil || len(running) != jobs {
			t.Fatalf("%d running (%v)", len(running), err)
		}
		for _, j := range running {
			if taken[j.ID] != j.MachineID {
				t.Fatalf("job %s runs on %s in the database but was claimed by %s", j.ID, j.MachineID, taken[j.ID])
			}
		}
	})
}

// Active jobs per item, progress with the cancel flag, stale running jobs,
// machines and their history, previews.
func TestEngravingStoreRecords(t *testing.T) {
	t.Parallel()
	sqltest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		s := db.Engraving()
		j := queueJob(t, s, uid(1), engraving.PriorityNormal)
		queueJob(t, s, uid(2), engraving.PriorityNormal)
		if held := blockingJobs(t, s, uid(1), uid(3)); len(held) != 1 || held[0] != (engraving.ItemJob{ItemUID: uid(1), JobID: j.ID, Status: engraving.JobQueued}) {
			t.Fatalf("blocking %+v", held)
		}
		if got := claim(t, s, anyMachine); got == nil || got.ID != j.ID {
			t.Fatalf("claim %+v", got)
		}
		// Progress; a cancel request comes back through it.
		err := s.Update(ctx, func(ctx context.Context, tx engraving.Tx) error {
			cancel, err := tx.Progress(ctx, j.ID, 100, 0)
			if err != nil || cancel {
				return fmt.Errorf("progress: %v %w", cancel, err)
			}
			cur, err := tx.LockJob(ctx, j.ID)
			if err != nil {
				return err
			}
			cur.CancelRequested = true
			if err := tx.UpdateJob(ctx, &cur); err != nil {
				return err
			}
			if cancel, err = tx.Progress(ctx, j.ID, 120, 0); err != nil || !cancel {
				return fmt.Errorf("progress after cancel: %v %w", cancel, err)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		// Stale: nothing before the heartbeat, the job after it.
		_ = s.Update(ctx, func(ctx context.Context, tx engraving.Tx) error {
			if st, err := tx.StaleRunning(ctx, time.Now().Add(-time.Hour)); err != nil || len(st) != 0 {
				t.Errorf("stale an hour ago: %d %v", len(st), err)
			}
			if st, err := tx.StaleRunning(ctx, time.Now().Add(time.Minute)); err != nil || len(st) != 1 || st[0].LinesAcked != 120 {
				t.Errorf("stale now: %+v %v", st, err)
			}
			return nil
		})
		// Machines: unique names, history newest first, previews.
		m := engraving.Machine{ID: qrmfg.NewID(), Name: "laser-1", Address: "tcp://127.0.0.1:23", LaserType: engraving.LaserDiode, SpotSize: 0.1,
			WorkArea: engraving.WorkArea{Width: 300, Height: 200}, HasZ: true}
		err = s.Update(ctx, func(ctx context.Context, tx engraving.Tx) error {
			if err := tx.InsertMachine(ctx, &m); err != nil {
				return err
			}
			for _, k := range []string{"registered", "alarm", "unlocked"} {
				if err := tx.AddMachineEvent(ctx, engraving.MachineEvent{MachineID: m.ID, Kind: k, AlarmCode: 2, Actor: "op"}); err != nil {
					return err
				}
			}
			return tx.SavePreview(ctx, j.ID, []byte("\x89PNG"))
		})
		if err != nil {
			t.Fatal(err)
		}
		dup := m
		dup.ID = qrmfg.NewID()
		err = s.Update(ctx, func(ctx context.Context, tx engraving.Tx) error { return tx.InsertMachine(ctx, &dup) })
		if qrmfg.ErrorCode(err) != qrmfg.ECONFLICT {
			t.Fatalf("duplicate name: %v", err)
		}
		hist, err := s.MachineEvents(ctx, m.ID, 10)
		if err != nil || len(hist) != 3 || hist[0].Kind != "unlocked" || hist[0].AlarmCode != 2 || hist[0].Actor != "op" {
			t.Fatalf("history %+v %v", hist, err)
		}
		if got, err := s.MachineByName(ctx, "laser-1"); err != nil || got.ID != m.ID || got.WorkArea.Width != 300 || !got.HasZ {
			t.Fatalf("by name %+v %v", got, err)
		}
		if b, err := s.Preview(ctx, j.ID); err != nil || string(b) != "\x89PNG" {
			t.Fatalf("preview %q %v", b, err)
		}
		if _, err := s.Preview(ctx, "nope"); qrmfg.ErrorCode(err) != qrmfg.ENOTFOUND {
			t.Fatalf("missing preview: %v", err)
		}
		if _, err := s.GetJob(ctx, "nope"); qrmfg.ErrorCode(err) != qrmfg.ENOTFOUND {
			t.Fatalf("missing job: %v", err)
		}
	})
}

// TestEngravingOneActiveJobPerItem: concurrent creators of a job for the
// same part never both queue it (a part engraved twice is scrap).
func TestEngravingOneActiveJobPerItem(t *testing.T) {
	t.Parallel()
	sqltest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		s := db.Engraving()
		const creators = 6
		var wg sync.WaitGroup
		var created atomic.Int32
		errs := make(chan error, creators)
		for range creators {
			wg.Add(1)
			go func() {
				defer wg.Done()
				j := engraving.Job{ID: qrmfg.NewID(), Status: engraving.JobQueued, Priority: engraving.PriorityNormal, Attempt: 1,
					Parts:     []engraving.Part{{ItemUID: uid(1), QRCodeData: uid(1)}},
					Laser:     engraving.LaserSettings{Power: 75, Speed: 1500, Passes: 2, Depth: 0.2},
					Placement: engraving.Placement{X: 5, Y: 5, Module: 0.5, QuietZone: 4},
					Footprint: engraving.Footprint{MinX: 4, MinY: 5, MaxX: 22, MaxY: 22}, ModuleMM: 0.5}
				err := s.Update(context.Background(), func(ctx context.Context, tx engraving.Tx) error {
					held, err := tx.BlockingJobs(ctx, []string{uid(1)})
					if err != nil || len(held) > 0 {
						return err
					}
					time.Sleep(20 * time.Millisecond) // widen the window between check and insert
					if err := tx.InsertJob(ctx, &j); err != nil {
						return err
					}
					created.Add(1)
					return nil
				})
				if err != nil {
					errs <- err
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		if n := created.Load(); n != 1 {
			t.Fatalf("%d jobs queued for one part, want 1", n)
		}
	})
}

func blockingJobs(t testing.TB, s *sqlstore.EngravingStore, uids ...string) []engraving.ItemJob {
	t.Helper()
	var held []engraving.ItemJob
	err := s.Update(context.Background(), func(ctx context.Context, tx engraving.Tx) error {
		var err error
		held, err = tx.BlockingJobs(ctx, uids)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return held
}

// TestEngravingInterruptedJobBlocksItem: an interrupted job holds its items
// until it is resolved, like a queued or running one; a finished job and a
// resolved interrupted one do not.
func TestEngravingInterruptedJobBlocksItem(t *testing.T) {
	t.Parallel()
	sqltest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		s := db.Engraving()
		set := func(id string, f func(j *engraving.Job)) {
			t.Helper()
			err := s.Update(ctx, func(ctx context.Context, tx engraving.Tx) error {
				j, err := tx.LockJob(ctx, id)
				if err != nil {
					return err
				}
				f(&j)
				return tx.UpdateJob(ctx, &j)
			})
			if err != nil {
				t.Fatal(err)
			}
		}
		interrupted := queueJob(t, s, uid(1), engraving.PriorityNormal)
		set(interrupted.ID, func(j *engraving.Job) { j.Status, j.ErrorCode = engraving.JobInterrupted, "crash" })
		failed := queueJob(t, s, uid(2), engraving.PriorityNormal)
		set(failed.ID, func(j *engraving.Job) { j.Status = engraving.JobFailed })
		held := blockingJobs(t, s, uid(1), uid(2))
		want := engraving.ItemJob{ItemUID: uid(1), JobID: interrupted.ID, Status: engraving.JobInterrupted}
		if len(held) != 1 || held[0] != want {
			t.Fatalf("blocking jobs %+v, want only %+v", held, want)
		}
		now := time.Now()
		set(interrupted.ID, func(j *engraving.Job) {
			j.Resolution, j.ResolvedBy, j.ResolvedAt = engraving.ResolveReengrave, "op", &now
		})
		if held := blockingJobs(t, s, uid(1), uid(2)); len(held) != 0 {
			t.Fatalf("blocking jobs after the resolution: %+v", held)
		}
	})
}
