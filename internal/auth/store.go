package auth

import (
	"context"
	"time"
)

// User is a person who logs in.
type User struct {
	ID           string
	Username     string // unique, compared case-insensitively
	PasswordHash string // argon2id PHC string; never leaves the service
	Role         Role
	Lines        []string // production lines the user is restricted to; empty = all
	Disabled     bool
	// TokensValidAfter, when set, invalidates every access token issued at
	// or before it (logout everywhere, a password change, refresh reuse).
	TokensValidAfter time.Time
	CreatedAt        time.Time
	UpdatedAt        time.Time
}

// RefreshToken is one stored refresh token: only its SHA-256 is kept. Tokens
// of one login form a family; each use rotates to a successor in the family.
type RefreshToken struct {
	Hash       []byte
	FamilyID   string
	UserID     string
	IssuedAt   time.Time
	ExpiresAt  time.Time
	UsedAt     *time.Time
	ReplacedBy []byte // hash of the successor, once used
}

// RotateOutcome is what RotateRefreshToken did.
type RotateOutcome int

const (
	// Rotated: the token was live; it is now used and next is stored.
	Rotated RotateOutcome = iota + 1
	// Replayed: the token was used less than the grace window ago and its
	// successor is next and still unused; nothing changed (lost-response retry).
	Replayed
	// Reused: the token was used before, outside the grace window or after
	// its successor was used; the whole family is now revoked.
	Reused
)

// RotateResult reports a rotation.
type RotateResult struct {
	Outcome RotateOutcome
	Token   RefreshToken // the presented token as stored (before the change)
}

// APIKey is a stored API key: its prefix and the SHA-256 of the whole key.
type APIKey struct {
	ID         string
	Prefix     string
	Hash       []byte
	Name       string
	OwnerID    string // the user who created it
	Role       Role   // the role the key acts with, capped by Scopes
	Scopes     []string
	Lines      []string
	CreatedAt  time.Time
	LastUsedAt *time.Time
	RevokedAt  *time.Time
}

// MaxKnownAddresses bounds the addresses remembered per user.
const MaxKnownAddresses = 20

// Store keeps users, refresh tokens and API keys. Every method is atomic.
// Lookups of missing rows return ENOTFOUND.
type Store interface {
	CreateUser(ctx context.Context, u User) error
	// UpdateUser stores PasswordHash, Role, Lines, Disabled and UpdatedAt.
	UpdateUser(ctx context.Context, u User) error
	UserByID(ctx context.Context, id string) (User, error)
	UserByUsername(ctx context.Context, username string) (User, error)
	CountUsers(ctx context.Context) (int, error)
	// ListUsers returns every user ordered by username.
	ListUsers(ctx context.Context) ([]User, error)

	// CreateRefreshToken stores the first token of a new family.
	CreateRefreshToken(ctx context.Context, t RefreshToken) error
	// RotateRefreshToken looks up the token with hash under a lock and
	// rotates it to next (same family and user; next.Hash, IssuedAt and
	// ExpiresAt set by the caller). Concurrent calls with one hash are
	// serialised: at most one returns Rotated. A token that does not exist,
	// has expired or whose family is revoked is EUNAUTHORIZED. On Reused the
	// family revocation is committed before returning.
	RotateRefreshToken(ctx context.Context, hash []byte, next RefreshToken, grace time.Duration) (RotateResult, error)
	// RefreshTokenActive reports whether the token with hash may still be
	// used (unused, unexpired, family not revoked).
	RefreshTokenActive(ctx context.Context, hash []byte) (bool, error)
	// RevokeFamily revokes every token of the family of the token with hash.
	RevokeFamily(ctx context.Context, hash []byte, reason string) error
	// RevokeUserFamilies revokes every family of a user and returns how many.
	RevokeUserFamilies(ctx context.Context, userID, reason string) (int, error)
	// RevokeAccessTokens sets the user's TokensValidAfter to at (never
	// moving it back).
	RevokeAccessTokens(ctx context.Context, userID string, at time.Time) error

	// RememberLoginAddress records a successful login of the user from
	// address, keeping the most recent MaxKnownAddresses addresses.
	RememberLoginAddress(ctx context.Context, userID, address string, at time.Time) error
	// KnownLoginAddress reports whether the user with username logged in
	// from address before (false for a user that does not exist).
	KnownLoginAddress(ctx context.Context, username, address string) (bool, error)

	CreateAPIKey(ctx context.Context, k APIKey) error
	APIKeyByPrefix(ctx context.Context, prefix string) (APIKey, error)
	ListAPIKeys(ctx context.Context, ownerID string) ([]APIKey, error)
	RevokeAPIKey(ctx context.Context, id string, at time.Time) error
	// TouchAPIKey sets last_used_at to at when it is older than at-every.
	TouchAPIKey(ctx context.Context, id string, at time.Time, every time.Duration) error
}
