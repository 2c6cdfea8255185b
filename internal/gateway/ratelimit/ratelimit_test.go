package ratelimit

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/qrmfg/qrmfg/internal/qrmfg"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) set(t time.Time) { c.mu.Lock(); c.t = t; c.mu.Unlock() }

var start = time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)

func newLimiter(t *testing.T, p Policy, c *clock) *Memory {
	t.Helper()
	m, err := NewMemory(p, Options{Clock: c})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestGCRAArithmetic is T7: for a policy of R per period with burst B, a key
// driven faster than R for D gets B + R·D requests through (±2), and a
// second key at a lower rate is never refused.
func TestGCRAArithmetic(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		policy   Policy
		arrivals int           // per second, key K1
		duration time.Duration // K1 drive time
		k2       int           // per second, key K2 (below the rate)
	}{
		{Policy{Name: "t7", Rate: 10, Period: time.Second, Burst: 20}, 100, 10 * time.Second, 5},
		{Default, 200, 5 * time.Second, 10},
		{Policy{Name: "perminute", Rate: 60, Period: time.Minute, Burst: 10}, 10, 2 * time.Minute, 0},
		{Policy{Name: "burst1", Rate: 5, Period: time.Second, Burst: 1}, 50, 4 * time.Second, 2},
	} {
		t.Run(tc.policy.Name, func(t *testing.T) {
			t.Parallel()
			c := &clock{t: start}
			m := newLimiter(t, tc.policy, c)
			ctx := context.Background()
			step := time.Second / time.Duration(tc.arrivals)
			n := int(tc.duration / step)
			accepted, k2Refused := 0, 0
			var k2Next time.Duration
			for i := range n {
				now := time.Duration(i) * step
				c.set(start.Add(now))
				d, err := m.Allow(ctx, "K1", 1)
				if err != nil {
					t.Fatal(err)
				}
				if d.Allowed {
					accepted++
				} else if d.RetryAfter <= 0 || d.RetryAfter > tc.policy.interval() {
					t.Fatalf("refused at %v with RetryAfter %v (interval %v)", now, d.RetryAfter, tc.policy.interval())
				}
				if tc.k2 > 0 && now >= k2Next {
					k2Next += time.Second / time.Duration(tc.k2)
					if d, _ := m.Allow(ctx, "K2", 1); !d.Allowed {
						k2Refused++
					}
				}
			}
			want := tc.policy.Burst + int(float64(tc.policy.Rate)*tc.duration.Seconds()/tc.policy.Period.Seconds())
			t.Logf("T7 %s (rate %d/%v burst %d, %d req/s for %v): accepted %d, expected %d ± 2; K2 refused %d",
				tc.policy.Name, tc.policy.Rate, tc.policy.Period, tc.policy.Burst, tc.arrivals, tc.duration, accepted, want, k2Refused)
			if accepted < want-2 || accepted > want+2 {
				t.Errorf("accepted %d, want %d ± 2", accepted, want)
			}
			if k2Refused != 0 {
				t.Errorf("K2 refused %d times", k2Refused)
			}
		})
	}
}

func TestBurstAtOnce(t *testing.T) {
	t.Parallel()
	c := &clock{t: start}
	p := Policy{Name: "b", Rate: 10, Period: time.Second, Burst: 20}
	m := newLimiter(t, p, c)
	ctx := context.Background()
	for i := range 20 {
		d, _ := m.Allow(ctx, "k", 1)
		if !d.Allowed || d.Remaining != 19-i {
			t.Fatalf("request %d: %+v", i+1, d)
		}
	}
	d, _ := m.Allow(ctx, "k", 1)
	if d.Allowed || d.RetryAfter != 100*time.Millisecond || d.Remaining != 0 {
		t.Fatalf("21st request: %+v", d)
	}
	c.set(start.Add(100 * time.Millisecond))
	if d, _ := m.Allow(ctx, "k", 1); !d.Allowed {
		t.Fatalf("after RetryAfter: %+v", d)
	}
	// Cost: 5 units need 500 ms of replenishment.
	c.set(start.Add(400 * time.Millisecond))
	d, _ = m.Allow(ctx, "k", 5)
	if d.Allowed || d.RetryAfter != 200*time.Millisecond || d.Remaining != 3 {
		t.Fatalf("cost 5 at 400ms: %+v", d)
	}
	if _, err := m.Allow(ctx, "k", 21); qrmfg.ErrorCode(err) != qrmfg.ETOOLARGE {
		t.Errorf("cost above burst: %v", err)
	}
	// After a full period of idleness the key has its whole burst again.
	c.set(start.Add(time.Hour))
	if d, _ := m.Allow(ctx, "k", 20); !d.Allowed || d.Remaining != 0 || d.ResetAfter != 2*time.Second {
		t.Fatalf("after idle: %+v", d)
	}
}

func TestHeaders(t *testing.T) {
	t.Parallel()
	c := &clock{t: start}
	p := Policy{Name: "default", Rate: 20, Period: time.Second, Burst: 40}
	m := newLimiter(t, p, c)
	ctx := context.Background()
	var d Decision
	for range 41 {
		d, _ = m.Allow(ctx, "k", 1)
	}
	h := http.Header{}
	d.WriteHeaders(h)
	if got := h.Get("RateLimit-Policy"); got != `"default";q=40;w=2` {
		t.Errorf("RateLimit-Policy = %s", got)
	}
	ra := h.Get("Retry-After")
	if ra != "1" || h.Get("RateLimit") != `"default";r=0;t=`+ra {
		t.Errorf("refused: Retry-After %q, RateLimit %q (t must equal Retry-After)", ra, h.Get("RateLimit"))
	}
	if err := d.Err(); qrmfg.ErrorCode(err) != qrmfg.ERATELIMITED {
		t.Errorf("Err() = %v", err)
	}
	c.set(start.Add(time.Second))
	d, _ = m.Allow(ctx, "k", 1)
	h = http.Header{}
	d.WriteHeaders(h)
	if h.Get("Retry-After") != "" || h.Get("RateLimit") != `"default";r=19;t=2` || d.Err() != nil {
		t.Errorf("allowed: RateLimit %q Retry-After %q", h.Get("RateLimit"), h.Get("Retry-After"))
	}
}

func TestMemoryIsBounded(t *testing.T) {
	t.Parallel()
	c := &clock{t: start}
	m, err := NewMemory(Policy{Name: "b", Rate: 1, Period: time.Second, Burst: 2}, Options{MaxKeys: 100, Clock: c})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for i := range 1000 {
		if _, err := m.Allow(ctx, "ip-"+strconv.Itoa(i), 1); err != nil {
			t.Fatal(err)
		}
		if m.Len() > 100 {
			t.Fatalf("%d keys held after %d distinct keys", m.Len(), i+1)
		}
	}
	// Once every key has replenished, a sweep drops them all.
	c.set(start.Add(time.Minute))
	m.mu.Lock()
	m.sweep(c.Now())
	m.mu.Unlock()
	if m.Len() != 0 {
		t.Errorf("%d idle keys kept", m.Len())
	}
}

func TestConcurrentAllow(t *testing.T) {
	t.Parallel()
	c := &clock{t: start}
	m := newLimiter(t, Policy{Name: "c", Rate: 1, Period: time.Hour, Burst: 50}, c)
	var mu sync.Mutex
	allowed := 0
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for range 100 {
				d, err := m.Allow(context.Background(), "shared", 1)
				if err != nil {
					t.Error(err)
				}
				if d.Allowed {
					mu.Lock()
					allowed++
					mu.Unlock()
				}
				_, _ = m.Allow(context.Background(), fmt.Sprint("own-", g), 1)
			}
		})
	}
	wg.Wait()
	if allowed != 50 {
		t.Errorf("%d of 800 concurrent requests allowed, want exactly the burst of 50", allowed)
	}
}

func TestPolicyValidate(t *testing.T) {
	t.Parallel()
	for _, p := range []Policy{
		{Name: "x", Rate: 0, Period: time.Second, Burst: 1},
		{Name: "x", Rate: 1, Period: 0, Burst: 1},
		{Name: "x", Rate: 1, Period: time.Second, Burst: 0},
		{Name: "", Rate: 1, Period: time.Second, Burst: 1},
		{Name: `a"b`, Rate: 1, Period: time.Second, Burst: 1},
		{Name: "x", Rate: 2, Period: time.Nanosecond, Burst: 1},
	} {
		if _, err := NewMemory(p, Options{}); qrmfg.ErrorCode(err) != qrmfg.EINVALID {
			t.Errorf("%+v: %v", p, err)
		}
	}
	for _, p := range []Policy{Default, Login, GenerationCodes, Uploads} {
		if err := p.Validate(); err != nil {
			t.Errorf("%s: %v", p.Name, err)
		}
		if !strings.HasPrefix(p.PolicyField(), `"`+p.Name+`";q=`) {
			t.Errorf("%s: %s", p.Name, p.PolicyField())
		}
	}
}
