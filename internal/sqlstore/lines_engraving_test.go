package sqlstore_test

import (
	"context"
	"strings"
	"testing"

	"github.com/qrmfg/qrmfg/internal/engraving"
	"github.com/qrmfg/qrmfg/internal/inventory"
	"github.com/qrmfg/qrmfg/internal/qrmfg"
	"github.com/qrmfg/qrmfg/internal/sqlstore"
	"github.com/qrmfg/qrmfg/internal/sqlstore/sqltest"
)

// TestProductionLinesEngraving: machines and engraving jobs carry a line; an
// actor restricted to a line lists and touches only the machines and jobs of
// its line (and of none), registers on its line, and cannot queue work for
// another line's item or machine. To it the others do not exist.
func TestProductionLinesEngraving(t *testing.T) {
	t.Parallel()
	sqltest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		admin := context.Background()
		inv := newService(db)
		eng := engraving.NewService(db.Engraving(), inv, engraving.Options{})
		defer func() { _ = eng.Close() }()
		one := qrmfg.WithActor(admin, qrmfg.Actor{Kind: "user", ID: "u1", Name: "u1", Role: "operator", Lines: []string{"LINE-1"}})
		two := qrmfg.WithActor(admin, qrmfg.Actor{Kind: "user", ID: "u2", Lines: []string{"LINE-1", "LINE-2"}})

		for lot, line := range map[string]string{"L1": "LINE-1", "L2": "LINE-2", "L0": ""} {
			if _, err := inv.AllocateBatch(admin, inventory.AllocateRequest{ComponentType: "PAD", VendorCode: "V0100", LotNumber: lot, Count: 4, Line: line}); err != nil {
				t.Fatal(err)
			}
		}
		item := func(lot string, n int) string { return "PAD-V0100-" + lot + "-0000" + string(rune('0'+n)) }
		register := func(ctx context.Context, name, line string) (engraving.MachineStatus, error) {
			return eng.Register(ctx, engraving.RegisterRequest{Name: name, Address: "tcp://127.0.0.1:23",
				WorkArea: engraving.WorkArea{Width: 300, Height: 200}, Line: line})
		}

		// Registration: any line for an unrestricted actor; a one-line
		// actor's only line by default; another line is refused.
		m1, err := register(admin, "laser-1", "LINE-1")
		if err != nil || m1.Line != "LINE-1" {
			t.Fatalf("register on LINE-1: %+v %v", m1.Machine, err)
		}
		m2, err := register(admin, "laser-2", "LINE-2")
		if err != nil {
			t.Fatal(err)
		}
		m0, err := register(admin, "laser-0", "")
		if err != nil || m0.Line != "" {
			t.Fatalf("register without a line: %+v %v", m0.Machine, err)
		}
		m3, err := register(one, "laser-3", "")
		if err != nil || m3.Line != "LINE-1" {
			t.Fatalf("registration by a one-line actor: %+v %v", m3.Machine, err)
		}
		if _, err := register(one, "laser-4", "LINE-2"); qrmfg.ErrorCode(err) != qrmfg.EFORBIDDEN {
			t.Errorf("registration on another line: %v", err)
		}
		if _, err := register(two, "laser-5", ""); qrmfg.ErrorCode(err) != qrmfg.EINVALID {
			t.Errorf("registration without a line by a two-line actor: %v", err)
		}
		if got, err := db.Engraving().GetMachine(admin, m3.ID); err != nil || got.Line != "LINE-1" {
			t.Fatalf("stored machine: %+v %v", got, err)
		}

		// Machines: the listing and every action on another line's machine.
		ms, err := eng.Machines(one)
		if err != nil {
			t.Fatal(err)
		}
		names := map[string]bool{}
		for _, m := range ms {
			names[m.Name] = true
		}
		if len(ms) != 3 || !names["laser-1"] || !names["laser-0"] || !names["laser-3"] {
			t.Fatalf("restricted machine listing: %v", names)
		}
		if all, err := eng.Machines(admin); err != nil || len(all) != 4 {
			t.Fatalf("unrestricted machine listing: %d %v", len(all), err)
		}
		_, missing := eng.Machine(one, "no-such-machine")
		if _, err := eng.Machine(one, m2.ID); qrmfg.ErrorCode(err) != qrmfg.ENOTFOUND ||
			qrmfg.ErrorMessage(err) != strings.Replace(qrmfg.ErrorMessage(missing), "no-such-machine", m2.ID, 1) {
			t.Errorf("get another line's machine: %v (missing: %v)", err, missing)
		}
		for name, act := range map[string]func(ctx context.Context, id string) (engraving.MachineStatus, error){
			"connect": eng.Connect, "disconnect": eng.Disconnect, "home": eng.Home, "unlock": eng.Unlock, "resume": eng.Resume,
			"pause": func(ctx context.Context, id string) (engraving.MachineStatus, error) { return eng.Pause(ctx, id, "") },
			"frame": func(ctx context.Context, id string) (engraving.MachineStatus, error) {
				return eng.Frame(ctx, id, engraving.FrameRequest{})
			},
		} {
			if _, err := act(one, m2.ID); qrmfg.ErrorCode(err) != qrmfg.ENOTFOUND {
				t.Errorf("%s another line's machine: %v", name, err)
			}
		}
		if _, err := eng.MachineHistory(one, m2.ID, 10); qrmfg.ErrorCode(err) != qrmfg.ENOTFOUND {
			t.Errorf("history of another line's machine: %v", err)
		}
		if m, err := eng.Pause(one, m1.ID, "check"); err != nil || !m.Paused {
			t.Errorf("pause the own line's machine: %+v %v", m.Machine, err)
		}
		if _, err := eng.Resume(one, m1.ID); err != nil {
			t.Errorf("resume the own line's machine: %v", err)
		}
		if m, err := eng.Machine(one, m0.ID); err != nil || m.ID != m0.ID {
			t.Errorf("get a machine of no line: %v", err)
		}
		if got, err := eng.Machine(admin, m2.ID); err != nil || got.Line != "LINE-2" {
			t.Errorf("unrestricted get: %+v %v", got.Machine, err)
		}

		// Jobs: the line is the machine's, else the item's.
		laser := engraving.LaserSettings{Power: 75, Speed: 1500, Passes: 1}
		create := func(ctx context.Context, uid, machine string) (engraving.Job, error) {
			return eng.Create(ctx, engraving.CreateRequest{ItemUID: uid, Laser: laser, MachineID: machine})
		}
		j1, err := create(one, item("L1", 1), "")
		if err != nil || j1.Line != "LINE-1" {
			t.Fatalf("job for a LINE-1 item: %+v %v", j1, err)
		}
		j0, err := create(one, item("L0", 1), "")
		if err != nil || j0.Line != "" {
			t.Fatalf("job for an item of no line: %+v %v", j0, err)
		}
		jm, err := create(one, item("L0", 2), m1.ID)
		if err != nil || jm.Line != "LINE-1" {
			t.Fatalf("job on a LINE-1 machine for an item of no line: %+v %v", jm, err)
		}
		j2, err := create(admin, item("L2", 1), "")
		if err != nil || j2.Line != "LINE-2" {
			t.Fatalf("job for a LINE-2 item: %+v %v", j2, err)
		}
		jx, err := create(admin, item("L2", 2), m0.ID)
		if err != nil || jx.Line != "LINE-2" {
			t.Fatalf("job on a machine of no line for a LINE-2 item: %+v %v", jx, err)
		}
		if got, err := db.Engraving().GetJob(admin, j2.ID); err != nil || got.Line != "LINE-2" {
			t.Fatalf("stored job: %+v %v", got, err)
		}
		// Another line's item or machine is unknown to the restricted
		// actor: the same answer as for one that does not exist.
		_, missingItem := create(one, item("L9", 1), "")
		_, otherItem := create(one, item("L2", 3), "")
		if qrmfg.ErrorCode(otherItem) != qrmfg.ErrorCode(missingItem) || qrmfg.ErrorMessage(otherItem) != "unknown item "+item("L2", 3) ||
			qrmfg.ErrorMessage(missingItem) != "unknown item "+item("L9", 1) {
			t.Errorf("job for another line's item: %v (missing item: %v)", otherItem, missingItem)
		}
		_, missingMachine := create(one, item("L1", 2), "no-such-machine")
		_, otherMachine := create(one, item("L1", 2), m2.ID)
		if qrmfg.ErrorCode(otherMachine) != qrmfg.ErrorCode(missingMachine) ||
			qrmfg.ErrorMessage(otherMachine) != strings.Replace(qrmfg.ErrorMessage(missingMachine), "no-such-machine", m2.ID, 1) {
			t.Errorf("job on another line's machine: %v (missing machine: %v)", otherMachine, missingMachine)
		}
		if _, err := eng.CreateBulk(one, engraving.BulkRequest{ItemUIDs: []string{item("L1", 3), item("L2", 4)}, Laser: laser}); err == nil {
			t.Error("bulk job including another line's item succeeded")
		}
		if _, err := eng.CreateBulk(admin, engraving.BulkRequest{ItemUIDs: []string{item("L1", 3), item("L2", 4)}, Laser: laser,
			Tray: &engraving.Tray{Cols: 2, Rows: 1, PitchX: 30}}); qrmfg.ErrorCode(err) != qrmfg.EINVALID {
			t.Errorf("one tray job for items of two lines: %v", err)
		}

		// Listing and actions on another line's job.
		jobs, err := eng.List(one, engraving.JobFilter{})
		if err != nil {
			t.Fatal(err)
		}
		ids := map[string]bool{}
		for _, j := range jobs {
			ids[j.ID] = true
		}
		if len(jobs) != 3 || !ids[j1.ID] || !ids[j0.ID] || !ids[jm.ID] {
			t.Fatalf("restricted job listing: %d jobs %v", len(jobs), ids)
		}
		if all, err := eng.List(admin, engraving.JobFilter{}); err != nil || len(all) != 5 {
			t.Fatalf("unrestricted job listing: %d %v", len(all), err)
		}
		if l2, err := eng.List(admin, engraving.JobFilter{Line: "LINE-2"}); err != nil || len(l2) != 2 {
			t.Fatalf("filter by line: %d %v", len(l2), err)
		}
		if l2, err := eng.List(one, engraving.JobFilter{Line: "LINE-2"}); err != nil || len(l2) != 0 {
			t.Fatalf("restricted filter by another line: %d %v", len(l2), err)
		}
		_, missingJob := eng.Get(one, "no-such-job")
		if _, err := eng.Get(one, j2.ID); qrmfg.ErrorCode(err) != qrmfg.ENOTFOUND ||
			qrmfg.ErrorMessage(err) != strings.Replace(qrmfg.ErrorMessage(missingJob), "no-such-job", j2.ID, 1) {
			t.Errorf("get another line's job: %v (missing: %v)", err, missingJob)
		}
		if _, err := eng.Cancel(one, j2.ID); qrmfg.ErrorCode(err) != qrmfg.ENOTFOUND {
			t.Errorf("cancel another line's job: %v", err)
		}
		if _, err := eng.Retry(one, j2.ID); qrmfg.ErrorCode(err) != qrmfg.ENOTFOUND {
			t.Errorf("retry another line's job: %v", err)
		}
		if _, _, err := eng.Resolve(one, j2.ID, engraving.ResolveRequest{Action: engraving.ResolveConfirmEngraved}); qrmfg.ErrorCode(err) != qrmfg.ENOTFOUND {
			t.Errorf("resolve another line's job: %v", err)
		}
		if _, err := eng.Gcode(one, j2.ID); qrmfg.ErrorCode(err) != qrmfg.ENOTFOUND {
			t.Errorf("G-code of another line's job: %v", err)
		}
		if _, _, err := eng.Preview(one, j2.ID); qrmfg.ErrorCode(err) != qrmfg.ENOTFOUND {
			t.Errorf("preview of another line's job: %v", err)
		}
		if _, err := eng.Frame(one, m1.ID, engraving.FrameRequest{JobID: j2.ID}); qrmfg.ErrorCode(err) != qrmfg.ENOTFOUND {
			t.Errorf("frame another line's job: %v", err)
		}
		if j, err := eng.Get(admin, j2.ID); err != nil || j.Status != engraving.JobQueued {
			t.Fatalf("the refused actions changed job %s: %+v %v", j2.ID, j, err)
		}
		// The own line's jobs: get, G-code, cancel and retry.
		if _, err := eng.Gcode(one, j1.ID); err != nil {
			t.Errorf("G-code of the own line's job: %v", err)
		}
		if j, err := eng.Cancel(one, j1.ID); err != nil || j.Status != engraving.JobCancelled {
			t.Fatalf("cancel the own line's job: %+v %v", j, err)
		}
		next, err := eng.Retry(one, j1.ID)
		if err != nil || next.Line != "LINE-1" || next.RetryOf != j1.ID {
			t.Fatalf("retry the own line's job: %+v %v", next, err)
		}
		// The dispatcher: a LINE-2 machine takes LINE-2 jobs and jobs of no
		// line, never a LINE-1 job.
		f := engraving.Fit{MachineID: m2.ID, Width: 1000, Height: 1000, SpotSize: 0.01, Line: "LINE-2"}
		for {
			j := claim(t, db.Engraving(), f)
			if j == nil {
				break
			}
			if j.Line == "LINE-1" {
				t.Fatalf("a LINE-2 machine claimed LINE-1 job %s", j.ID)
			}
		}
		if j, err := eng.Get(admin, next.ID); err != nil || j.Status != engraving.JobQueued {
			t.Fatalf("the LINE-1 job after the LINE-2 machine's claims: %+v %v", j, err)
		}
	})
}
