package bus

import (
	"context"
	"log/slog"
	"time"

	"github.com/qrmfg/qrmfg/internal/qrmfg"
	"github.com/qrmfg/qrmfg/internal/sqlstore"
)

// Outbox is what the relay needs of the outbox table.
type Outbox interface {
	Unsent(ctx context.Context, limit int) ([]sqlstore.OutboxEvent, error)
	MarkSent(ctx context.Context, seqs []int64) error
	MarkFailed(ctx context.Context, seq int64, cause error) error
}

// Relay publishes committed outbox events to the bus, in commit order, and
// marks them sent. It runs when woken after a commit and on a timer, so an
// event left behind by a crash or a failed publish goes out later: delivery
// is at least once.
type Relay struct {
	outbox   Outbox
	bus      qrmfg.Bus
	log      *slog.Logger
	interval time.Duration
	wake     chan struct{}
}

// NewRelay returns a relay; poll is the timer between sweeps (default 1 s).
func NewRelay(o Outbox, b qrmfg.Bus, log *slog.Logger, poll time.Duration) *Relay {
	if poll <= 0 {
		poll = time.Second
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Relay{outbox: o, bus: b, log: log, interval: poll, wake: make(chan struct{}, 1)}
}

// Notify wakes the relay; it never blocks.
func (r *Relay) Notify() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// Run relays until ctx ends, then makes a last sweep.
func (r *Relay) Run(ctx context.Context) error {
	t := time.NewTicker(r.interval)
	defer t.Stop()
	for {
		if _, err := r.Sweep(ctx); err != nil && ctx.Err() == nil {
			r.log.Warn("outbox relay", "err", err)
		}
		select {
		case <-ctx.Done():
			_, _ = r.Sweep(context.WithoutCancel(ctx))
			return nil
		case <-r.wake:
		case <-t.C:
		}
	}
}

// Sweep publishes everything unsent now and returns how many it published.
// It stops at the first event that fails, to keep commit order.
func (r *Relay) Sweep(ctx context.Context) (int, error) {
	total := 0
	for {
		evs, err := r.outbox.Unsent(ctx, 256)
		if err != nil || len(evs) == 0 {
			return total, err
		}
		sent := make([]int64, 0, len(evs))
		var failed error
		for _, e := range evs {
			if err := r.bus.Publish(ctx, e.Event); err != nil {
				failed = err
				_ = r.outbox.MarkFailed(ctx, e.Seq, err)
				break
			}
			sent = append(sent, e.Seq)
		}
		if err := r.outbox.MarkSent(ctx, sent); err != nil {
			return total, err
		}
		total += len(sent)
		if failed != nil {
			return total, failed
		}
	}
}
