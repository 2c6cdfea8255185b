// Package bus moves events: the in-process bus for the embedded shape, the
// relay that publishes committed outbox rows, and (in the distributed shape)
// broker adapters behind the same qrmfg.Bus interface.
package bus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"

	"github.com/qrmfg/qrmfg/internal/qrmfg"
)

// InProc is the in-process bus. Publish calls every matching handler in turn
// and returns their joined errors, so the relay leaves a failed event in the
// outbox and delivers it again (at least once; handlers are idempotent).
type InProc struct {
	mu     sync.RWMutex
	subs   []subscription
	closed bool
	wg     sync.WaitGroup
	log    *slog.Logger
}

type subscription struct {
	name    string
	pattern []string
	h       qrmfg.Handler
}

var _ qrmfg.Bus = (*InProc)(nil)

// NewInProc returns an empty in-process bus.
func NewInProc(log *slog.Logger) *InProc {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &InProc{log: log}
}

// Subscribe implements qrmfg.Bus. The pattern uses AMQP topic syntax: words
// separated by dots, * for one word, # for zero or more.
func (b *InProc) Subscribe(name, pattern string, h qrmfg.Handler) error {
	if name == "" || pattern == "" || h == nil {
		return qrmfg.Errorf(qrmfg.EINVALID, "subscribe needs a name, a pattern and a handler")
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return qrmfg.Errorf(qrmfg.EUNAVAILABLE, "bus is closed")
	}
	for _, s := range b.subs {
		if s.name == name {
			return qrmfg.Errorf(qrmfg.ECONFLICT, "a subscriber named %q exists", name)
		}
	}
	b.subs = append(b.subs, subscription{name: name, pattern: strings.Split(pattern, "."), h: h})
	return nil
}

// Publish implements qrmfg.Bus.
func (b *InProc) Publish(ctx context.Context, ev qrmfg.Event) error {
	b.mu.RLock()
	if b.closed {
		b.mu.RUnlock()
		return qrmfg.Errorf(qrmfg.EUNAVAILABLE, "bus is closed")
	}
	b.wg.Add(1)
	subs := b.subs
	b.mu.RUnlock()
	defer b.wg.Done()
	words := strings.Split(ev.Type, ".")
	var errs []error
	for _, s := range subs {
		if !Match(s.pattern, words) {
			continue
		}
		if err := safeCall(ctx, s.h, ev); err != nil {
			b.log.Warn("event handler failed", "subscriber", s.name, "event", ev.ID, "type", ev.Type, "err", err)
			errs = append(errs, fmt.Errorf("%s: %w", s.name, err))
		}
	}
	return errors.Join(errs...)
}

func safeCall(ctx context.Context, h qrmfg.Handler, ev qrmfg.Event) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("handler panicked: %v", r)
		}
	}()
	return h(ctx, ev)
}

// Close implements qrmfg.Bus: it refuses new publishes and waits for the
// running ones.
func (b *InProc) Close() error {
	b.mu.Lock()
	b.closed = true
	b.mu.Unlock()
	b.wg.Wait()
	return nil
}

// Match reports whether topic words match an AMQP-style pattern.
func Match(pattern, words []string) bool {
	if len(pattern) == 0 {
		return len(words) == 0
	}
	switch pattern[0] {
	case "#":
		for i := 0; i <= len(words); i++ {
			if Match(pattern[1:], words[i:]) {
				return true
			}
		}
		return false
	case "*":
		return len(words) > 0 && Match(pattern[1:], words[1:])
	default:
		return len(words) > 0 && words[0] == pattern[0] && Match(pattern[1:], words[1:])
	}
}
