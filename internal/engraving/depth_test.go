package engraving_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/qrmfg/qrmfg/internal/engraving"
)

// TestDepthOnMachineWithZ: the seed's job (depth 0.2 mm in 2 passes) on a
// machine registered with has_z cuts its second pass 0.1 mm lower and
// lifts Z back before it leaves the part, and runs to the end on the
// simulator; the same job on a machine without Z has no Z move at all.
// has_z is kept by the store.
func TestDepthOnMachineWithZ(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	_, addr := serveSim(t, simConfig)
	zm, err := b.svc.Register(ctx, engraving.RegisterRequest{Name: "mill-z", Address: addr, HasZ: true})
	if err != nil {
		t.Fatal(err)
	}
	if !zm.HasZ {
		t.Fatalf("registered %+v without has_z", zm.Machine)
	}
	if got, err := b.svc.Machine(ctx, zm.ID); err != nil || !got.HasZ {
		t.Fatalf("has_z not kept: %+v %v", got.Machine, err)
	}
	if _, err := b.svc.Connect(ctx, zm.ID); err != nil { // (its work area comes from $130/$131)
		t.Fatal(err)
	}
	_, flat := b.sim(t, "sim-flat", simConfig)

	uids := b.allocate(t, 2)
	zMoves := func(machineID, uid string) ([]string, engraving.Job) {
		t.Helper()
		j, err := b.svc.Create(ctx, engraving.CreateRequest{ItemUID: uid, QRCodeData: uid, Laser: seedLaser, MachineID: machineID})
		if err != nil {
			t.Fatal(err)
		}
		lines, err := b.svc.Gcode(ctx, j.ID)
		if err != nil {
			t.Fatal(err)
		}
		var z []string
		for _, l := range lines {
			if strings.Contains(l, "Z") {
				z = append(z, l)
			}
		}
		return z, j
	}
	if z, _ := zMoves(flat.ID, uids[1]); len(z) != 0 {
		t.Fatalf("a machine without Z got Z moves: %q", z)
	}
	z, j := zMoves(zm.ID, uids[0])
	if want := []string{"G0 Z-0.1", "G0 Z0"}; !slices.Equal(z, want) {
		t.Fatalf("Z moves %q, want %q", z, want)
	}
	j = b.wait(t, j.ID, "end", final)
	if j.Status != engraving.JobCompleted || j.LinesAcked != j.LinesTotal {
		t.Fatalf("job on the Z machine ended %s (%s %s), %d/%d lines", j.Status, j.ErrorCode, j.ErrorText, j.LinesAcked, j.LinesTotal)
	}
}
