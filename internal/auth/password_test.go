package auth

import (
	"context"
	"regexp"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/qrmfg/qrmfg/internal/qrmfg"
)

// cheap are parameters for tests that hash often.
var cheap = HashParams{MemoryKiB: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

func TestHashFormatAndVerify(t *testing.T) {
	t.Parallel()
	h := NewHasher(DefaultHashParams, 2)
	ctx := context.Background()
	start := time.Now()
	enc, err := h.Hash(ctx, "correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("one argon2id m=19456,t=2,p=1 hash: %v", time.Since(start))
	m := regexp.MustCompile(`^\$argon2id\$v=19\$m=(\d+),t=(\d+),p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$`).FindStringSubmatch(enc)
	if m == nil {
		t.Fatalf("hash %q is not a PHC argon2id string", enc)
	}
	if mem, _ := strconv.Atoi(m[1]); mem < 19456 {
		t.Errorf("m=%d < 19456", mem)
	}
	if tt, _ := strconv.Atoi(m[2]); tt < 2 {
		t.Errorf("t=%d < 2", tt)
	}
	enc2, _ := h.Hash(ctx, "correct horse battery")
	if enc == enc2 {
		t.Error("two hashes of one password are equal: salt not random")
	}
	for _, tc := range []struct {
		pw string
		ok bool
	}{{"correct horse battery", true}, {"correct horse batterY", false}, {"", false}} {
		ok, rehash, err := h.Verify(ctx, tc.pw, enc)
		if err != nil || ok != tc.ok || rehash {
			t.Errorf("Verify(%q) = %v, %v, %v; want %v", tc.pw, ok, rehash, err, tc.ok)
		}
	}
}

func TestNeedsRehash(t *testing.T) {
	t.Parallel()
	old := NewHasher(cheap, 1)
	enc, _ := old.Hash(context.Background(), "password123")
	if old.NeedsRehash(enc) {
		t.Error("same parameters reported as needing a rehash")
	}
	stronger := cheap
	stronger.Time = 2
	ok, rehash, err := NewHasher(stronger, 1).Verify(context.Background(), "password123", enc)
	if !ok || !rehash || err != nil {
		t.Errorf("Verify with new params = %v, %v, %v; want true, true, nil", ok, rehash, err)
	}
}

func TestMalformedHashes(t *testing.T) {
	t.Parallel()
	h := NewHasher(cheap, 1)
	for _, s := range []string{
		"", "plain", "$argon2i$v=19$m=64,t=1,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=16$m=64,t=1,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$t=1,m=64,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=64,t=0,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=99999999,t=1,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=64,t=1,p=1$!!$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHRzYWx0$x",
	} {
		if _, _, err := h.Verify(context.Background(), "pw", s); qrmfg.ErrorCode(err) != qrmfg.EINTERNAL {
			t.Errorf("Verify(%q): err %v, want internal", s, err)
		}
	}
}

// TestHasherBound checks that no more than the configured number of hashes
// run at once, and that a waiting hash gives up with its context.
func TestHasherBound(t *testing.T) {
	t.Parallel()
	h := NewHasher(HashParams{MemoryKiB: 1024, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}, 2)
	var inFlight, peak atomic.Int32
	var wg sync.WaitGroup
	for range 12 {
		wg.Go(func() {
			if err := h.acquire(context.Background()); err != nil {
				t.Error(err)
				return
			}
			n := inFlight.Add(1)
			for {
				p := peak.Load()
				if n <= p || peak.CompareAndSwap(p, n) {
					break
				}
			}
			h.hash([]byte("x"))
			time.Sleep(time.Millisecond)
			inFlight.Add(-1)
			h.release()
		})
	}
	wg.Wait()
	if p := peak.Load(); p != 2 {
		t.Errorf("peak concurrent hashes = %d, want 2", p)
	}
	h.sem <- struct{}{}
	h.sem <- struct{}{}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := h.Hash(ctx, "password123"); qrmfg.ErrorCode(err) != qrmfg.EUNAVAILABLE {
		t.Errorf("Hash with a full semaphore: %v, want unavailable", err)
	}
}

// TestLoginFloodMemory is T4's memory part: 40 concurrent verifications with
// the production parameters behind a bound of 2 must not take the memory of
// 40 argon2id instances (40 × 19 MiB = 760 MiB).
func TestLoginFloodMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("argon2id flood skipped in -short mode")
	}
	h := NewHasher(DefaultHashParams, 2)
	enc, err := h.Hash(context.Background(), "correct horse")
	if err != nil {
		t.Fatal(err)
	}
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	var wg sync.WaitGroup
	start := time.Now()
	for range 40 {
		wg.Go(func() {
			if ok, _, err := h.Verify(context.Background(), "wrong password", enc); ok || err != nil {
				t.Errorf("Verify = %v, %v", ok, err)
			}
		})
	}
	wg.Wait()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	grew := int64(after.HeapSys) - int64(before.HeapSys)
	t.Logf("T4: 40 concurrent verifications, bound 2: %v, heap obtained from the OS grew by %d MiB (unbounded would need ~760 MiB)",
		time.Since(start).Round(time.Millisecond), grew>>20)
	if grew > 200<<20 {
		t.Errorf("heap grew by %d MiB", grew>>20)
	}
}
