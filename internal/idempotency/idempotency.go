// Package idempotency makes a POST safe to retry: the first request with an
// Idempotency-Key claims it, the work completes the claim in the same
// transaction as its change, and later requests with the key replay the
// stored answer (same body), are refused with 422 (different body), or with
// 409 (the first is still running).
package idempotency

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"time"

	"github.com/qrmfg/qrmfg/internal/qrmfg"
)

// MaxKeyLen is the longest key accepted.
const MaxKeyLen = 255

// Claim is held by the request doing the work. Token distinguishes this
// claim from a later takeover after the lease ran out.
type Claim struct {
	Scope string
	Key   string
	Token string
}

// Record is a finished request's stored answer.
type Record struct {
	Status   int
	Response []byte
}

// Store keeps claims and answers.
type Store interface {
	// Claim takes the key for a request whose body hashes to hash. It returns
	// the stored record when the key is done with the same hash; EINVALID when
	// the key was used with another body; ECONFLICT when a claim younger than
	// lease is running. A running claim older than lease is taken over (its
	// work cannot have committed, because completing is conditional on the token).
	Claim(ctx context.Context, scope, key, hash string, lease time.Duration) (*Claim, *Record, error)
	// Release drops a claim whose work failed, so the key can be used again.
	Release(ctx context.Context, c *Claim) error
}

// Hash is the request fingerprint stored with a key.
func Hash(parts ...[]byte) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write(p)
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))
}

// ValidateKey checks a client-supplied key.
func ValidateKey(key string) error {
	if len(key) == 0 || len(key) > MaxKeyLen {
		return qrmfg.FieldError("Idempotency-Key", "Idempotency-Key must be 1 to %d characters", MaxKeyLen)
	}
	for i := 0; i < len(key); i++ {
		if key[i] < 0x21 || key[i] > 0x7e {
			return qrmfg.FieldError("Idempotency-Key", "Idempotency-Key must be printable ASCII without spaces")
		}
	}
	return nil
}
