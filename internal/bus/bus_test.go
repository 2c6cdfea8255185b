package bus_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/qrmfg/qrmfg/internal/bus"
	"github.com/qrmfg/qrmfg/internal/inventory"
	"github.com/qrmfg/qrmfg/internal/qrmfg"
	"github.com/qrmfg/qrmfg/internal/sqlstore"
	"github.com/qrmfg/qrmfg/internal/sqlstore/sqltest"
)

func TestMatch(t *testing.T) {
	t.Parallel()
	split := func(s string) []string {
		if s == "" {
			return nil
		}
		var out []string
		start := 0
		for i := 0; i <= len(s); i++ {
			if i == len(s) || s[i] == '.' {
				out = append(out, s[start:i])
				start = i + 1
			}
		}
		return out
	}
	for _, c := range []struct {
		pattern, topic string
		want           bool
	}{
		{"#", "inventory.item.status_changed", true},
		{"inventory.#", "inventory.item.status_changed", true},
		{"inventory.*", "inventory.item.status_changed", false},
		{"inventory.*.status_changed", "inventory.item.status_changed", true},
		{"*.item.*", "inventory.item.updated", true},
		{"engraving.job.completed", "engraving.job.failed", false},
		{"inventory.#.changed", "inventory.changed", true},
	} {
		if got := bus.Match(split(c.pattern), split(c.topic)); got != c.want {
			t.Errorf("Match(%q, %q) = %v", c.pattern, c.topic, got)
		}
	}
}

// TestRelay: events written with a change are published after commit, in
// commit order, at least once: a failing handler gets the event again until
// it succeeds, and nothing is marked sent before it was delivered.
func TestRelay(t *testing.T) {
	t.Parallel()
	sqltest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		b := bus.NewInProc(nil)
		relay := bus.NewRelay(db.Outbox(), b, nil, 20*time.Millisecond)
		db.SetOutboxNotifier(relay.Notify)
		var mu sync.Mutex
		var seen []string
		fails := 2
		if err := b.Subscribe("test", "inventory.#", func(_ context.Context, ev qrmfg.Event) error {
			mu.Lock()
			defer mu.Unlock()
			if ev.Type == inventory.EventStatusChanged && fails > 0 {
				fails--
				return errors.New("downstream is down")
			}
			seen = append(seen, ev.Type+":"+ev.Subject)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		rctx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { _ = relay.Run(rctx); close(done) }()
		svc := inventory.NewService(db.Inventory(), inventory.DefaultLimits())
		if _, err := svc.AllocateBatch(ctx, inventory.AllocateRequest{ComponentType: "PAD", VendorCode: "V1", LotNumber: "L1", Count: 1}); err != nil {
			t.Fatal(err)
		}
		if _, err := svc.Transition(ctx, inventory.TransitionRequest{UID: "PAD-V1-L1-00001", To: "engraved"}); err != nil {
			t.Fatal(err)
		}
		if _, err := svc.Transition(ctx, inventory.TransitionRequest{UID: "PAD-V1-L1-00001", To: "available"}); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(10 * time.Second)
		for {
			n, err := db.Outbox().Pending(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if n == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d events still pending", n)
			}
			time.Sleep(20 * time.Millisecond)
		}
		cancel()
		<-done
		mu.Lock()
		defer mu.Unlock()
		if len(seen) != 3 || seen[0][:len(inventory.EventBatchAllocated)] != inventory.EventBatchAllocated ||
			seen[1] != "inventory.item.status_changed:PAD-V1-L1-00001" || seen[2] != seen[1] {
			t.Fatalf("delivered %v; want the batch, then both status changes in commit order", seen)
		}
	})
}
