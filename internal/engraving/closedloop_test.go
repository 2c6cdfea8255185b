package engraving_test

import (
	"context"
	"image"
	"math"
	"slices"
	"testing"

	"github.com/qrmfg/qrmfg/internal/engraving"
	"github.com/qrmfg/qrmfg/internal/engraving/gcode"
	"github.com/qrmfg/qrmfg/internal/engraving/grblsim"
	"github.com/qrmfg/qrmfg/internal/inventory"
)

// simConfig is the simulator of the closed-loop tests: 300 times faster
// than real time, with FullLookahead so the driver, which would have to
// refill the planner within microseconds of wall time, is never late. The
// motion clock then measures the machine alone and checks the estimate.
var simConfig = grblsim.Config{TimeScale: 300, FullLookahead: true}

// checkEstimate prints the estimate against the simulator's motion clock
// (the job's actual time) and the predicted share of machine time by
// activity, and fails unless the estimate is within 5% of the measured time
// (stops of a starved planner count against it). before is the simulator's
// Stats before the job was created.
func checkEstimate(t *testing.T, b *bundle, sim *grblsim.Sim, before grblsim.Stats, j engraving.Job) {
	t.Helper()
	p, m, err := b.svc.Program(context.Background(), j.ID)
	if err != nil {
		t.Fatal(err)
	}
	est, err := gcode.EstimateProgram(p, m)
	if err != nil {
		t.Fatal(err)
	}
	if j.ActualSeconds == nil || *j.ActualSeconds <= 0 {
		t.Fatalf("job %s has no actual time", j.ID)
	}
	if math.Abs(est.Total.Seconds()-j.EstimateSeconds) > 1e-3 {
		t.Errorf("job estimate %.3fs, the program's %.3fs", j.EstimateSeconds, est.Total.Seconds())
	}
	stops := sim.Stats().PlannerEmptied - before.PlannerEmptied
	errPct := 100 * (j.EstimateSeconds - *j.ActualSeconds) / *j.ActualSeconds
	burn, gap, over, travel := est.Share()
	t.Logf("RESULT job parts=%d lines=%d estimate=%.1fs actual(sim motion)=%.1fs error=%+.2f%% planner-dry=%d share burn=%.1f%% gap=%.1f%% overscan=%.1f%% travel=%.1f%%",
		len(j.Parts), len(p.Lines), j.EstimateSeconds, *j.ActualSeconds, errPct, stops, 100*burn, 100*gap, 100*over, 100*travel)
	// Once at the end is the norm; a busy test host starves the planner more
	// often (12 to 36 times when other test packages ran beside this one),
	// each stop costing a fraction of a second of machine time. How many a
	// loaded host causes is not the machine's behaviour, so the count is
	// reported, not bounded: the hundreds of stops of a driver that cannot
	// keep up push the error past 5%, which is checked.
	if math.Abs(errPct) > 5 {
		t.Errorf("estimate %.1fs is %+.1f%% off the simulated %.1fs (more than 5%%)", j.EstimateSeconds, errPct, *j.ActualSeconds)
	}
}

// TestClosedLoop: allocate an item, engrave it with the seed's body on the
// simulator, read the simulator's burn image with zbarimg and get the
// item's id back; the item becomes engraved through the event. The job's
// estimate is within 5% of the simulated machine time.
func TestClosedLoop(t *testing.T) {
	t.Parallel()
	b := setup(t)
	sim, _ := b.sim(t, "sim-1", simConfig)
	uid := b.allocate(t, 1)[0]
	before := sim.Stats()
	j, err := b.svc.Create(context.Background(), engraving.CreateRequest{ItemUID: uid, QRCodeData: uid, Laser: seedLaser, Priority: "normal"})
	if err != nil {
		t.Fatal(err)
	}
	if j.Status != engraving.JobQueued || j.EstimateSeconds <= 0 || j.LinesTotal == 0 {
		t.Fatalf("created job %+v", j)
	}
	j = b.wait(t, j.ID, "end", final)
	if j.Status != engraving.JobCompleted || j.PartsDone != 1 || j.LinesAcked != j.LinesTotal {
		t.Fatalf("job ended %s (%s %s), %d/%d lines", j.Status, j.ErrorCode, j.ErrorText, j.LinesAcked, j.LinesTotal)
	}
	png, source, err := b.svc.Preview(context.Background(), j.ID)
	if err != nil || source != engraving.PreviewBurned {
		t.Fatalf("preview: %v (source %q)", err, source)
	}
	if got := decode(t, decodePNG(t, png)); !slices.Equal(got, []string{uid}) {
		t.Fatalf("zbarimg read %q from the burn image, want %q", got, uid)
	}
	b.itemStatus(t, uid, inventory.StatusEngraved)
	it, _ := b.inv.Get(context.Background(), uid)
	last := it.History[len(it.History)-1]
	if last.To != "engraved" || last.EventID == "" {
		t.Fatalf("history %+v", last)
	}
	checkEstimate(t, b, sim, before, j)
	// The offline rendering of the same program reads the same.
	jobs, _ := b.svc.List(context.Background(), engraving.JobFilter{ItemUID: uid})
	if len(jobs) != 1 || jobs[0].ID != j.ID {
		t.Fatalf("jobs of the item: %+v", jobs)
	}
}

// TestTray engraves 20 parts in one program; each code decodes from its
// own slot of the burn image and all 20 items become engraved. The tray's
// estimate (slot-to-slot travel included) is within 5% of the simulated
// machine time.
func TestTray(t *testing.T) {
	t.Parallel()
	b := setup(t)
	sim, _ := b.sim(t, "sim-tray", simConfig)
	uids := b.allocate(t, 20)
	before := sim.Stats()
	tray := engraving.Tray{Cols: 5, Rows: 4, PitchX: 22, PitchY: 22, Origin: engraving.Origin{X: 2, Y: 2}}
	jobs, err := b.svc.CreateBulk(context.Background(), engraving.BulkRequest{ItemUIDs: uids, Laser: fastLaser, Tray: &tray,
		Placement: &engraving.Placement{X: 1, Y: 1, Module: 0.5, QuietZone: 3}})
	if err != nil {
		t.Fatal(err)
	}
	if len(jobs) != 1 || len(jobs[0].Parts) != 20 {
		t.Fatalf("%d jobs", len(jobs))
	}
	j := b.wait(t, jobs[0].ID, "end", final)
	if j.Status != engraving.JobCompleted || j.PartsDone != 20 {
		t.Fatalf("tray job ended %s (%s), %d parts", j.Status, j.ErrorText, j.PartsDone)
	}
	png, _, err := b.svc.Preview(context.Background(), j.ID)
	if err != nil {
		t.Fatal(err)
	}
	img := decodePNG(t, png)
	const res = 10.0 // px/mm of the simulator
	fp := j.Footprint
	for _, p := range j.Parts {
		col, row := p.Slot%tray.Cols, p.Slot/tray.Cols
		x0, y0 := tray.Origin.X+float64(col)*tray.PitchX, tray.Origin.Y+float64(row)*tray.PitchY
		r := image.Rect(int((x0-max(0, fp.MinX))*res), int((fp.MaxY-(y0+tray.PitchY))*res),
			int((x0+tray.PitchX-max(0, fp.MinX))*res), int((fp.MaxY-y0)*res)).Add(img.Bounds().Min).Intersect(img.Bounds())
		cell := img.(interface {
			SubImage(image.Rectangle) image.Image
		}).SubImage(r)
		if got := decode(t, cell); !slices.Equal(got, []string{p.ItemUID}) {
			t.Errorf("slot %d (col %d row %d): zbarimg read %q, want %s", p.Slot, col, row, got, p.ItemUID)
		}
	}
	for _, uid := range uids {
		b.itemStatus(t, uid, inventory.StatusEngraved)
	}
	checkEstimate(t, b, sim, before, j)
}
