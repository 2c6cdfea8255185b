// Package ratelimit limits request rates per key (an identity or a client
// IP) with the generic cell rate algorithm (GCRA): one "theoretical arrival
// time" per key, a steady rate with a burst allowance, and exact retry times.
// The in-memory Limiter here serves one process; a shared store (Redis)
// can implement the same interface later. Headers follow
// draft-ietf-httpapi-ratelimit-headers-10 (RateLimit-Policy and RateLimit
// structured fields) plus Retry-After.
package ratelimit

import (
	"context"
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/qrmfg/qrmfg/internal/qrmfg"
)

// Policy is a rate: Rate requests (or cost units) per Period, with up to
// Burst allowed at once after an idle time.
type Policy struct {
	Name   string // the policy name in the RateLimit fields: a token ([a-z0-9_-])
	Rate   int
	Period time.Duration
	Burst  int
}

// Common policies.
var (
	// Default applies to every request of an identity or IP: 20 r/s, burst 40.
	Default = Policy{Name: "default", Rate: 20, Period: time.Second, Burst: 40}
	// Login throttles login attempts per account and per IP: 10 a minute, burst 5.
	Login = Policy{Name: "login", Rate: 10, Period: time.Minute, Burst: 5}
	// GenerationCodes limits QR codes generated (cost = codes): 1,000 a minute, burst 10,000.
	GenerationCodes = Policy{Name: "generation", Rate: 1000, Period: time.Minute, Burst: 10000}
	// Uploads limits image uploads: 60 a minute, burst 10.
	Uploads = Policy{Name: "uploads", Rate: 60, Period: time.Minute, Burst: 10}
)

// Validate checks that the policy can be enforced.
func (p Policy) Validate() error {
	if p.Rate <= 0 || p.Period <= 0 || p.Burst <= 0 {
		return qrmfg.Errorf(qrmfg.EINVALID, "rate limit policy %q: rate, period and burst must be positive", p.Name)
	}
	if p.Period/time.Duration(p.Rate) <= 0 {
		return qrmfg.Errorf(qrmfg.EINVALID, "rate limit policy %q: more than one request per nanosecond", p.Name)
	}
	if p.Name == "" {
		return qrmfg.Errorf(qrmfg.EINVALID, "rate limit policy needs a name")
	}
	for _, c := range []byte(p.Name) {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return qrmfg.Errorf(qrmfg.EINVALID, "rate limit policy name %q: use a-z 0-9 _ -", p.Name)
		}
	}
	return nil
}

// interval is the emission interval: the time one unit of cost takes to
// replenish.
func (p Policy) interval() time.Duration { return p.Period / time.Duration(p.Rate) }

// Decision is the answer to one request.
type Decision struct {
	Allowed    bool
	Policy     Policy
	Limit      int           // the burst: what may be spent at once
	Remaining  int           // what may still be spent now
	ResetAfter time.Duration // until the key is fully replenished
	RetryAfter time.Duration // until this request would be allowed (0 when allowed)
}

// Limiter decides whether key may spend cost now. Implementations are safe
// for concurrent use.
type Limiter interface {
	Allow(ctx context.Context, key string, cost int) (Decision, error)
	Policy() Policy
}

// Options configure a Memory limiter.
type Options struct {
	// MaxKeys bounds the keys held (default 100,000). Idle keys (fully
	// replenished) are dropped first; when every key is active, the one
	// closest to idle is dropped, which gives it a fresh burst.
	MaxKeys int
	Clock   qrmfg.Clock
}

// Memory is an in-process GCRA limiter.
type Memory struct {
	policy  Policy
	t       time.Duration
	clock   qrmfg.Clock
	maxKeys int

	mu    sync.Mutex
	tat   map[string]time.Time
	calls int
}

var _ Limiter = (*Memory)(nil)

// NewMemory returns an in-memory limiter enforcing p.
func NewMemory(p Policy, opt Options) (*Memory, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	if opt.MaxKeys <= 0 {
		opt.MaxKeys = 100_000
	}
	if opt.Clock == nil {
		opt.Clock = qrmfg.SystemClock{}
	}
	return &Memory{policy: p, t: p.interval(), clock: opt.Clock, maxKeys: opt.MaxKeys, tat: make(map[string]time.Time)}, nil
}

// Policy returns the enforced policy.
func (m *Memory) Policy() Policy { return m.policy }

// Len returns the number of keys held.
func (m *Memory) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.tat)
}

// Allow implements Limiter. A cost above the burst can never be allowed and
// is an ETOOLARGE error; a cost below 1 counts as 1.
func (m *Memory) Allow(_ context.Context, key string, cost int) (Decision, error) {
	p := m.policy
	if cost < 1 {
		cost = 1
	}
	if cost > p.Burst {
		return Decision{Policy: p, Limit: p.Burst}, qrmfg.Errorf(qrmfg.ETOOLARGE,
			"the request costs %d, more than the %q limit allows at once (%d)", cost, p.Name, p.Burst)
	}
	now := m.clock.Now()
	burst := time.Duration(p.Burst) * m.t

	m.mu.Lock()
	defer m.mu.Unlock()
	tat, ok := m.tat[key]
	if !ok || tat.Before(now) {
		tat = now
	}
	newTat := tat.Add(time.Duration(cost) * m.t)
	allowAt := newTat.Add(-burst)
	d := Decision{Policy: p, Limit: p.Burst}
	if now.Before(allowAt) {
		d.RetryAfter = allowAt.Sub(now)
		d.ResetAfter = tat.Sub(now)
		d.Remaining = int((now.Sub(tat.Add(-burst))) / m.t)
		return d, nil
	}
	if !ok {
		m.makeRoom(now)
	}
	m.tat[key] = newTat
	m.calls++
	if m.calls%4096 == 0 {
		m.sweep(now)
	}
	d.Allowed = true
	d.ResetAfter = newTat.Sub(now)
	d.Remaining = int(now.Sub(allowAt) / m.t)
	return d, nil
}

// sweep drops keys that are fully replenished: they behave as absent ones.
func (m *Memory) sweep(now time.Time) {
	for k, tat := range m.tat {
		if !tat.After(now) {
			delete(m.tat, k)
		}
	}
}

// makeRoom keeps the map under maxKeys before a new key is added.
func (m *Memory) makeRoom(now time.Time) {
	if len(m.tat) < m.maxKeys {
		return
	}
	m.sweep(now)
	for len(m.tat) >= m.maxKeys {
		var oldest string
		var min time.Time
		for k, tat := range m.tat {
			if oldest == "" || tat.Before(min) {
				oldest, min = k, tat
			}
		}
		delete(m.tat, oldest)
	}
}

func seconds(d time.Duration) int {
	if d <= 0 {
		return 0
	}
	return int(math.Ceil(d.Seconds()))
}

// PolicyField is the RateLimit-Policy value: `"<name>";q=<burst>;w=<window>`
// where the window is the time the burst takes to replenish, so q/w is the
// steady rate (draft-ietf-httpapi-ratelimit-headers-10 §3).
func (p Policy) PolicyField() string {
	w := seconds(time.Duration(p.Burst) * p.interval())
	return strconv.Quote(p.Name) + ";q=" + strconv.Itoa(p.Burst) + ";w=" + strconv.Itoa(max(w, 1))
}

// Field is the RateLimit value: `"<name>";r=<remaining>;t=<seconds>`. When
// the request was refused, t is the Retry-After delay; otherwise it is the
// time until the key is fully replenished (draft-10 §4).
func (d Decision) Field() string {
	t := seconds(d.ResetAfter)
	if !d.Allowed {
		t = seconds(d.RetryAfter)
	}
	return strconv.Quote(d.Policy.Name) + ";r=" + strconv.Itoa(max(d.Remaining, 0)) + ";t=" + strconv.Itoa(t)
}

// WriteHeaders sets RateLimit-Policy and RateLimit on h, and Retry-After
// (delay-seconds, at least 1) when the request was refused.
func (d Decision) WriteHeaders(h http.Header) {
	h.Set("RateLimit-Policy", d.Policy.PolicyField())
	h.Set("RateLimit", d.Field())
	if !d.Allowed {
		h.Set("Retry-After", strconv.Itoa(max(seconds(d.RetryAfter), 1)))
	}
}

// Err returns nil when the request was allowed, and otherwise an
// ERATELIMITED error with Detail retry_after_seconds and policy.
func (d Decision) Err() error {
	if d.Allowed {
		return nil
	}
	return qrmfg.Errorf(qrmfg.ERATELIMITED, "too many requests; retry in %d s", max(seconds(d.RetryAfter), 1)).
		WithDetail("retry_after_seconds", max(seconds(d.RetryAfter), 1)).WithDetail("policy", d.Policy.Name)
}
