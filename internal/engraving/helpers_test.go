package engraving_test

import (
	"bytes"
	"context"
	"image"
	"image/png"
	"net"
	"testing"
	"time"

	"github.com/qrmfg/qrmfg/internal/bus"
	"github.com/qrmfg/qrmfg/internal/engraving"
	"github.com/qrmfg/qrmfg/internal/engraving/gcode/gcodetest"
	"github.com/qrmfg/qrmfg/internal/engraving/grblsim"
	"github.com/qrmfg/qrmfg/internal/inventory"
	"github.com/qrmfg/qrmfg/internal/sqlstore"
	"github.com/qrmfg/qrmfg/internal/sqlstore/sqltest"
)

// seedLaser is the seed's laser_settings.
var seedLaser = engraving.LaserSettings{Power: 75, Speed: 1500, Passes: 2, Depth: 0.2}

// fastLaser burns one pass at 3000 mm/min: fewer lines for fault tests.
var fastLaser = engraving.LaserSettings{Power: 80, Speed: 3000, Passes: 1}

type bundle struct {
	db  *sqlstore.DB
	inv *inventory.Service
	svc *engraving.Service
}

// setup opens a SQLite database and runs the inventory (with its
// engraving consumer on an in-process bus) and the engraving service.
func setup(t *testing.T) *bundle {
	t.Helper()
	db := sqltest.Open(t, sqlstore.SQLite)
	return setupOn(t, db)
}

func setupOn(t *testing.T, db *sqlstore.DB) *bundle {
	t.Helper()
	return setupWith(t, db, engraving.Options{Exclusive: true, DispatchInterval: 50 * time.Millisecond})
}

// setupWith runs the services on db with the engraving options opt.
func setupWith(t *testing.T, db *sqlstore.DB, opt engraving.Options) *bundle {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	b := bus.NewInProc(nil)
	relay := bus.NewRelay(db.Outbox(), b, nil, 100*time.Millisecond)
	db.SetOutboxNotifier(relay.Notify)
	done := make(chan struct{})
	go func() { defer close(done); _ = relay.Run(ctx) }()
	inv := inventory.NewService(db.Inventory(), inventory.Limits{})
	if err := b.Subscribe(inventory.EngravedConsumer, inventory.EngravedPattern, inv.HandleJobCompleted); err != nil {
		t.Fatal(err)
	}
	svc := engraving.NewService(db.Engraving(), inv, opt)
	if err := svc.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = svc.Close()
		cancel()
		<-done
		_ = b.Close()
	})
	return &bundle{db: db, inv: inv, svc: svc}
}

// sim runs a simulator on a loopback port and registers it as name.
func (b *bundle) sim(t *testing.T, name string, cfg grblsim.Config) (*grblsim.Sim, engraving.MachineStatus) {
	t.Helper()
	sim, addr := serveSim(t, cfg)
	m, err := b.svc.RegisterSimulator(context.Background(), name, addr, sim)
	if err != nil {
		t.Fatal(err)
	}
	return sim, m
}

// serveSim starts a simulator with cfg (1000 times real time unless it
// says otherwise) on a loopback port and returns it with its address.
func serveSim(t *testing.T, cfg grblsim.Config) (*grblsim.Sim, string) {
	t.Helper()
	if cfg.TimeScale == 0 {
		cfg.TimeScale = 1000
	}
	sim, err := grblsim.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() { _ = sim.Serve(ctx, ln) }()
	t.Cleanup(func() { cancel(); _ = sim.Close() })
	return sim, "tcp://" + ln.Addr().String()
}

// allocate creates n generated items in lot L2025-09 of PAD/V0100.
func (b *bundle) allocate(t *testing.T, n int) []string {
	t.Helper()
	batch, err := b.inv.AllocateBatch(context.Background(), inventory.AllocateRequest{ComponentType: "PAD", VendorCode: "V0100",
		LotNumber: "L2025-09", Count: n})
	if err != nil {
		t.Fatal(err)
	}
	return batch.UIDs()
}

// wait polls a job until cond holds.
func (b *bundle) wait(t *testing.T, id string, what string, cond func(engraving.Job) bool) engraving.Job {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		j, err := b.svc.Get(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if cond(j) {
			return j
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %s: no %s; it is %s (%s %s), %d/%d lines acked", id, what, j.Status, j.ErrorCode, j.ErrorText, j.LinesAcked, j.LinesTotal)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func final(j engraving.Job) bool { return j.Status.Final() }

// itemStatus polls an item until it reaches want (the consumer runs after
// the relay), or fails.
func (b *bundle) itemStatus(t *testing.T, uid string, want inventory.Status) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		it, err := b.inv.Get(context.Background(), uid)
		if err != nil {
			t.Fatal(err)
		}
		if it.Status == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("item %s is %s, want %s", uid, it.Status, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func decodePNG(t *testing.T, b []byte) image.Image {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("preview is not a PNG: %v", err)
	}
	return img
}

// decode reads the codes in img with zbarimg.
func decode(t *testing.T, img image.Image) []string {
	t.Helper()
	return gcodetest.Decode(t, img)
}
