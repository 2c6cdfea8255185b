// Package auth is identity and access for qrmfg: users and their argon2id
// password hashes, short-lived HS256 access tokens with a rotating keyring,
// opaque refresh tokens rotated on every use with family-wide revocation on
// reuse, API keys with a checksum and a lookup prefix, and the one permission
// table (operation × role). Storage is behind Store; sqlstore implements it.
package auth

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"runtime"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"

	"github.com/qrmfg/qrmfg/internal/qrmfg"
)

// HashParams are argon2id parameters. The defaults follow the OWASP Password
// Storage Cheat Sheet: m=19456 KiB, t=2, p=1, 16-byte salt, 32-byte tag.
type HashParams struct {
	MemoryKiB uint32
	Time      uint32
	Threads   uint8
	SaltLen   int
	KeyLen    int
}

// DefaultHashParams are the parameters new hashes use.
var DefaultHashParams = HashParams{MemoryKiB: 19456, Time: 2, Threads: 1, SaltLen: 16, KeyLen: 32}

// Hasher hashes and verifies passwords with argon2id. At most a bounded number
// of hashes run at once (each takes MemoryKiB of memory), so a login flood
// queues instead of exhausting memory.
type Hasher struct {
	params HashParams
	sem    chan struct{}
	dummy  string // a hash of a random password, verified when a user does not exist
}

// NewHasher returns a Hasher with params (zero value: DefaultHashParams) and
// at most concurrency hashes in flight (≤ 0: 2 × GOMAXPROCS).
func NewHasher(params HashParams, concurrency int) *Hasher {
	if params == (HashParams{}) {
		params = DefaultHashParams
	}
	if concurrency <= 0 {
		concurrency = 2 * runtime.GOMAXPROCS(0)
	}
	h := &Hasher{params: params, sem: make(chan struct{}, concurrency)}
	var pw [16]byte
	_, _ = rand.Read(pw[:])
	h.dummy = h.hash(pw[:])
	return h
}

// Params returns the parameters new hashes use.
func (h *Hasher) Params() HashParams { return h.params }

func (h *Hasher) acquire(ctx context.Context) error {
	select {
	case h.sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return qrmfg.Errorf(qrmfg.EUNAVAILABLE, "password hashing is busy; retry").WithDetail("cause", ctx.Err().Error())
	}
}

func (h *Hasher) release() { <-h.sem }

// Hash returns the PHC string of password:
// $argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash> (unpadded standard base64).
func (h *Hasher) Hash(ctx context.Context, password string) (string, error) {
	if err := h.acquire(ctx); err != nil {
		return "", err
	}
	defer h.release()
	return h.hash([]byte(password)), nil
}

func (h *Hasher) hash(password []byte) string {
	salt := make([]byte, h.params.SaltLen)
	_, _ = rand.Read(salt)
	p := h.params
	key := argon2.IDKey(password, salt, p.Time, p.MemoryKiB, p.Threads, uint32(p.KeyLen))
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.MemoryKiB, p.Time, p.Threads,
		b64.EncodeToString(salt), b64.EncodeToString(key))
}

// Verify reports whether password matches the PHC string encoded, in constant
// time, and whether the hash should be recomputed because its parameters
// differ from the Hasher's. A malformed hash is an EINTERNAL error.
func (h *Hasher) Verify(ctx context.Context, password, encoded string) (ok, needsRehash bool, err error) {
	p, salt, want, err := parsePHC(encoded)
	if err != nil {
		return false, false, err
	}
	if err := h.acquire(ctx); err != nil {
		return false, false, err
	}
	defer h.release()
	got := argon2.IDKey([]byte(password), salt, p.Time, p.MemoryKiB, p.Threads, uint32(len(want)))
	ok = subtle.ConstantTimeCompare(got, want) == 1
	return ok, h.NeedsRehash(encoded), nil
}

// VerifyDummy spends the same work as Verify against a hash of a random
// password, so that an unknown user takes as long as a wrong password.
func (h *Hasher) VerifyDummy(ctx context.Context, password string) error {
	_, _, err := h.Verify(ctx, password, h.dummy)
	return err
}

// NeedsRehash reports whether encoded was made with other parameters than the
// Hasher's (or cannot be parsed).
func (h *Hasher) NeedsRehash(encoded string) bool {
	p, salt, key, err := parsePHC(encoded)
	if err != nil {
		return true
	}
	return p.MemoryKiB != h.params.MemoryKiB || p.Time != h.params.Time || p.Threads != h.params.Threads ||
		len(salt) != h.params.SaltLen || len(key) != h.params.KeyLen
}

// parsePHC parses $argon2id$v=19$m=..,t=..,p=..$salt$hash strictly.
func parsePHC(s string) (HashParams, []byte, []byte, error) {
	bad := func(why string) (HashParams, []byte, []byte, error) {
		return HashParams{}, nil, nil, qrmfg.Errorf(qrmfg.EINTERNAL, "stored password hash is malformed: %s", why)
	}
	parts := strings.Split(s, "$")
	if len(parts) != 6 || parts[0] != "" {
		return bad("want 5 '$'-separated fields")
	}
	if parts[1] != "argon2id" {
		return bad("algorithm is not argon2id")
	}
	if parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return bad("unsupported version")
	}
	var p HashParams
	for i, kv := range strings.Split(parts[3], ",") {
		k, v, ok := strings.Cut(kv, "=")
		n, err := strconv.ParseUint(v, 10, 32)
		if !ok || err != nil || n == 0 {
			return bad("bad parameter " + kv)
		}
		switch {
		case i == 0 && k == "m" && n >= 8 && n <= 4<<20:
			p.MemoryKiB = uint32(n)
		case i == 1 && k == "t" && n <= 64:
			p.Time = uint32(n)
		case i == 2 && k == "p" && n <= 255:
			p.Threads = uint8(n)
		default:
			return bad("bad parameter " + kv)
		}
	}
	if p.MemoryKiB == 0 || p.Time == 0 || p.Threads == 0 {
		return bad("missing parameter")
	}
	salt, err := base64.RawStdEncoding.Strict().DecodeString(parts[4])
	if err != nil || len(salt) < 8 {
		return bad("bad salt")
	}
	key, err := base64.RawStdEncoding.Strict().DecodeString(parts[5])
	if err != nil || len(key) < 16 || len(key) > 64 {
		return bad("bad hash")
	}
	p.SaltLen, p.KeyLen = len(salt), len(key)
	return p, salt, key, nil
}
