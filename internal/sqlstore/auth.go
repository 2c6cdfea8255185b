package sqlstore

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/qrmfg/qrmfg/internal/auth"
	"github.com/qrmfg/qrmfg/internal/qrmfg"
)

// AuthStore implements auth.Store.
type AuthStore struct{ db *DB }

var _ auth.Store = (*AuthStore)(nil)

// Auth returns the store of users, refresh tokens and API keys.
func (db *DB) Auth() *AuthStore { return &AuthStore{db: db} }

func listJSON(l []string) string {
	if len(l) == 0 {
		return "[]"
	}
	b, _ := json.Marshal(l)
	return string(b)
}

func parseList(s string) ([]string, error) {
	var l []string
	if err := json.Unmarshal([]byte(s), &l); err != nil {
		return nil, fmt.Errorf("decode list %q: %w", s, err)
	}
	if len(l) == 0 {
		return nil, nil
	}
	return l, nil
}

const userColumns = `id, username, password_hash, role, lines, disabled, created_at, updated_at, tokens_valid_after`

func scanUser(row interface{ Scan(...any) error }) (auth.User, error) {
	var u auth.User
	var role, lines string
	var created, updated, validAfter dbTime
	if err := row.Scan(&u.ID, &u.Username, &u.PasswordHash, &role, &lines, &u.Disabled, &created, &updated, &validAfter); err != nil {
		return auth.User{}, err
	}
	u.Role, u.CreatedAt, u.UpdatedAt, u.TokensValidAfter = auth.Role(role), created.Time, updated.Time, validAfter.Time
	var err error
	u.Lines, err = parseList(lines)
	return u, err
}

// CreateUser implements auth.Store.
func (s *AuthStore) CreateUser(ctx context.Context, u auth.User) error {
	return s.db.inTx(ctx, func(t *txn) error {
		_, err := t.exec(ctx, `INSERT INTO users (`+userColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			u.ID, strings.ToLower(u.Username), u.PasswordHash, string(u.Role), listJSON(u.Lines), u.Disabled,
			s.db.ts(u.CreatedAt), s.db.ts(u.UpdatedAt), s.db.nullTS(&u.TokensValidAfter))
		if err != nil {
			return fmt.Errorf("create user %s: %w", u.Username, err)
		}
		return nil
	})
}

// UpdateUser implements auth.Store.
func (s *AuthStore) UpdateUser(ctx context.Context, u auth.User) error {
	return s.db.inTx(ctx, func(t *txn) error {
		r, err := t.exec(ctx, `UPDATE users SET password_hash = ?, role = ?, lines = ?, disabled = ?, updated_at = ? WHERE id = ?`,
			u.PasswordHash, string(u.Role), listJSON(u.Lines), u.Disabled, s.db.ts(u.UpdatedAt), u.ID)
		if err != nil {
			return fmt.Errorf("update user %s: %w", u.ID, err)
		}
		if n, _ := r.RowsAffected(); n == 0 {
			return qrmfg.Errorf(qrmfg.ENOTFOUND, "user %s does not exist", u.ID)
		}
		return nil
	})
}

// UserByID implements auth.Store.
func (s *AuthStore) UserByID(ctx context.Context, id string) (auth.User, error) {
	u, err := scanUser(s.db.reader().queryRow(ctx, `SELECT `+userColumns+` FROM users WHERE id = ?`, id))
	if err != nil {
		return auth.User{}, notFound(err, "user %s does not exist", id)
	}
	return u, nil
}

// UserByUsername implements auth.Store.
func (s *AuthStore) UserByUsername(ctx context.Context, username string) (auth.User, error) {
	u, err := scanUser(s.db.reader().queryRow(ctx, `SELECT `+userColumns+` FROM users WHERE username = ?`, strings.ToLower(username)))
	if err != nil {
		return auth.User{}, notFound(err, "user %s does not exist", username)
	}
	return u, nil
}

// CountUsers implements auth.Store.
func (s *AuthStore) CountUsers(ctx context.Context) (int, error) {
	var n int
	if err := s.db.reader().queryRow(ctx, `SELECT COUNT(*) FROM users`).Scan(&n); err != nil {
		return 0, fmt.Errorf("count users: %w", mapError(err))
	}
	return n, nil
}

// ListUsers implements auth.Store.
func (s *AuthStore) ListUsers(ctx context.Context) ([]auth.User, error) {
	rows, err := s.db.reader().query(ctx, `SELECT `+userColumns+` FROM users ORDER BY username`)
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	defer rows.Close()
	var out []auth.User
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, fmt.Errorf("list users: %w", mapError(err))
		}
		out = append(out, u)
	}
	return out, mapError(rows.Err())
}

// CreateRefreshToken implements auth.Store: a new family and its first token.
func (s *AuthStore) CreateRefreshToken(ctx context.Context, rt auth.RefreshToken) error {
	return s.db.inTx(ctx, func(t *txn) error {
		if _, err := t.exec(ctx, `INSERT INTO refresh_families (id, user_id, created_at) VALUES (?, ?, ?)`,
			rt.FamilyID, rt.UserID, s.db.ts(rt.IssuedAt)); err != nil {
			return fmt.Errorf("create refresh family: %w", err)
		}
		return insertRefresh(ctx, t, rt)
	})
}

func insertRefresh(ctx context.Context, t *txn, rt auth.RefreshToken) error {
	if _, err := t.exec(ctx, `INSERT INTO refresh_tokens (hash, family_id, user_id, issued_at, expires_at) VALUES (?, ?, ?, ?, ?)`,
		hex.EncodeToString(rt.Hash), rt.FamilyID, rt.UserID, t.db.ts(rt.IssuedAt), t.db.ts(rt.ExpiresAt)); err != nil {
		return fmt.Errorf("store refresh token: %w", err)
	}
	return nil
}

func invalidRefresh(reason string) error {
	return qrmfg.Errorf(qrmfg.EUNAUTHORIZED, "invalid refresh token").WithDetail("reason", reason)
}

// RotateRefreshToken implements auth.Store. The token row and its family row
// are locked (FOR UPDATE on PostgreSQL; the single writer on SQLite), so two
// concurrent rotations of one token are serialised and at most one rotates.
func (s *AuthStore) RotateRefreshToken(ctx context.Context, hash []byte, next auth.RefreshToken, grace time.Duration) (auth.RotateResult, error) {
	var res auth.RotateResult
	err := s.db.inTx(ctx, func(t *txn) error {
		var cur auth.RefreshToken
		var issued, expires, used, revoked dbTime
		var replaced string
		err := t.queryRow(ctx, `SELECT t.family_id, t.user_id, t.issued_at, t.expires_at, t.used_at, t.replaced_by, f.revoked_at
			FROM refresh_tokens t JOIN refresh_families f ON f.id = t.family_id WHERE t.hash = ?`+s.db.forUpdate(),
			hex.EncodeToString(hash)).Scan(&cur.FamilyID, &cur.UserID, &issued, &expires, &used, &replaced, &revoked)
		if errors.Is(err, sql.ErrNoRows) {
			return invalidRefresh("unknown")
		}
		if err != nil {
			return fmt.Errorf("read refresh token: %w", mapError(err))
		}
		cur.Hash, cur.IssuedAt, cur.ExpiresAt, cur.UsedAt = hash, issued.Time, expires.Time, used.ptr()
		cur.ReplacedBy, _ = hex.DecodeString(replaced)
		res.Token = cur
		if !revoked.IsZero() {
			return invalidRefresh("revoked")
		}
		if cur.UsedAt == nil {
			if !t.now.Before(cur.ExpiresAt) {
				return invalidRefresh("expired")
			}
			r, err := t.exec(ctx, `UPDATE refresh_tokens SET used_at = ?, replaced_by = ? WHERE hash = ? AND used_at IS NULL`,
				s.db.ts(t.now), hex.EncodeToString(next.Hash), hex.EncodeToString(hash))
			if err != nil {
				return fmt.Errorf("rotate refresh token: %w", err)
			}
			if n, _ := r.RowsAffected(); n != 1 {
				return qrmfg.Errorf(qrmfg.EUNAVAILABLE, "refresh token changed concurrently; retry")
			}
			next.FamilyID, next.UserID = cur.FamilyID, cur.UserID
			res.Outcome = auth.Rotated
			return insertRefresh(ctx, t, next)
		}
		if grace > 0 && t.now.Sub(*cur.UsedAt) <= grace && bytes.Equal(cur.ReplacedBy, next.Hash) {
			var succUsed dbTime
			err := t.queryRow(ctx, `SELECT used_at FROM refresh_tokens WHERE hash = ?`, replaced).Scan(&succUsed)
			if err != nil && !errors.Is(err, sql.ErrNoRows) {
				return fmt.Errorf("read successor token: %w", mapError(err))
			}
			if err == nil && succUsed.IsZero() {
				res.Outcome = auth.Replayed
				return nil
			}
		}
		res.Outcome = auth.Reused
		return revokeFamily(ctx, t, cur.FamilyID, "refresh token reuse")
	})
	if err != nil {
		return auth.RotateResult{}, err
	}
	return res, nil
}

func revokeFamily(ctx context.Context, t *txn, family, reason string) error {
	if _, err := t.exec(ctx, `UPDATE refresh_families SET revoked_at = ?, revoke_reason = ? WHERE id = ? AND revoked_at IS NULL`,
		t.db.ts(t.now), reason, family); err != nil {
		return fmt.Errorf("revoke refresh family %s: %w", family, err)
	}
	return nil
}

// RefreshTokenActive implements auth.Store.
func (s *AuthStore) RefreshTokenActive(ctx context.Context, hash []byte) (bool, error) {
	var used, expires, revoked dbTime
	err := s.db.reader().queryRow(ctx, `SELECT t.used_at, t.expires_at, f.revoked_at
		FROM refresh_tokens t JOIN refresh_families f ON f.id = t.family_id WHERE t.hash = ?`,
		hex.EncodeToString(hash)).Scan(&used, &expires, &revoked)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("read refresh token: %w", mapError(err))
	}
	return used.IsZero() && revoked.IsZero() && s.db.clock.Now().Before(expires.Time), nil
}

// RevokeFamily implements auth.Store.
func (s *AuthStore) RevokeFamily(ctx context.Context, hash []byte, reason string) error {
	return s.db.inTx(ctx, func(t *txn) error {
		var family string
		err := t.queryRow(ctx, `SELECT family_id FROM refresh_tokens WHERE hash = ?`, hex.EncodeToString(hash)).Scan(&family)
		if err != nil {
			return notFound(err, "refresh token does not exist")
		}
		return revokeFamily(ctx, t, family, reason)
	})
}

// RevokeUserFamilies implements auth.Store.
func (s *AuthStore) RevokeUserFamilies(ctx context.Context, userID, reason string) (int, error) {
	var n int64
	err := s.db.inTx(ctx, func(t *txn) error {
		r, err := t.exec(ctx, `UPDATE refresh_families SET revoked_at = ?, revoke_reason = ? WHERE user_id = ? AND revoked_at IS NULL`,
			s.db.ts(t.now), reason, userID)
		if err != nil {
			return fmt.Errorf("revoke sessions of user %s: %w", userID, err)
		}
		n, _ = r.RowsAffected()
		return nil
	})
	return int(n), err
}

// RevokeAccessTokens implements auth.Store.
func (s *AuthStore) RevokeAccessTokens(ctx context.Context, userID string, at time.Time) error {
	return s.db.inTx(ctx, func(t *txn) error {
		r, err := t.exec(ctx, `UPDATE users SET tokens_valid_after = ? WHERE id = ? AND (tokens_valid_after IS NULL OR tokens_valid_after < ?)`,
			s.db.ts(at), userID, s.db.ts(at))
		if err != nil {
			return fmt.Errorf("revoke access tokens of user %s: %w", userID, err)
		}
		if n, _ := r.RowsAffected(); n == 0 {
			var one int
			if err := t.queryRow(ctx, `SELECT 1 FROM users WHERE id = ?`, userID).Scan(&one); err != nil {
				return notFound(err, "user %s does not exist", userID)
			}
		}
		return nil
	})
}

// RememberLoginAddress implements auth.Store.
func (s *AuthStore) RememberLoginAddress(ctx context.Context, userID, address string, at time.Time) error {
	return s.db.inTx(ctx, func(t *txn) error {
		if _, err := t.exec(ctx, `INSERT INTO login_addresses (user_id, address, last_at) VALUES (?, ?, ?)
			ON CONFLICT (user_id, address) DO UPDATE SET last_at = excluded.last_at`, userID, address, s.db.ts(at)); err != nil {
			return fmt.Errorf("remember login address: %w", err)
		}
		_, err := t.exec(ctx, `DELETE FROM login_addresses WHERE user_id = ? AND address NOT IN (
			SELECT address FROM login_addresses WHERE user_id = ? ORDER BY last_at DESC, address LIMIT ?)`, userID, userID, auth.MaxKnownAddresses)
		if err != nil {
			return fmt.Errorf("forget old login addresses: %w", err)
		}
		return nil
	})
}

// KnownLoginAddress implements auth.Store.
func (s *AuthStore) KnownLoginAddress(ctx context.Context, username, address string) (bool, error) {
	var n int
	err := s.db.reader().queryRow(ctx, `SELECT count(*) FROM login_addresses a JOIN users u ON u.id = a.user_id
		WHERE u.username = ? AND a.address = ?`, strings.ToLower(username), address).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("look up login address: %w", mapError(err))
	}
	return n > 0, nil
}

const apiKeyColumns = `id, prefix, hash, name, owner_id, role, scopes, lines, created_at, last_used_at, revoked_at`

func scanAPIKey(row interface{ Scan(...any) error }) (auth.APIKey, error) {
	var k auth.APIKey
	var hash, role, scopes, lines string
	var created, used, revoked dbTime
	if err := row.Scan(&k.ID, &k.Prefix, &hash, &k.Name, &k.OwnerID, &role, &scopes, &lines, &created, &used, &revoked); err != nil {
		return auth.APIKey{}, err
	}
	var err error
	if k.Hash, err = hex.DecodeString(hash); err != nil {
		return auth.APIKey{}, fmt.Errorf("API key %s: bad stored hash: %w", k.ID, err)
	}
	if k.Scopes, err = parseList(scopes); err != nil {
		return auth.APIKey{}, err
	}
	if k.Lines, err = parseList(lines); err != nil {
		return auth.APIKey{}, err
	}
	k.Role, k.CreatedAt, k.LastUsedAt, k.RevokedAt = auth.Role(role), created.Time, used.ptr(), revoked.ptr()
	return k, nil
}

// CreateAPIKey implements auth.Store.
func (s *AuthStore) CreateAPIKey(ctx context.Context, k auth.APIKey) error {
	return s.db.inTx(ctx, func(t *txn) error {
		_, err := t.exec(ctx, `INSERT INTO api_keys (id, prefix, hash, name, owner_id, role, scopes, lines, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			k.ID, k.Prefix, hex.EncodeToString(k.Hash), k.Name, k.OwnerID, string(k.Role), listJSON(k.Scopes), listJSON(k.Lines), s.db.ts(k.CreatedAt))
		if err != nil {
			return fmt.Errorf("create API key: %w", err)
		}
		return nil
	})
}

// APIKeyByPrefix implements auth.Store.
func (s *AuthStore) APIKeyByPrefix(ctx context.Context, prefix string) (auth.APIKey, error) {
	k, err := scanAPIKey(s.db.reader().queryRow(ctx, `SELECT `+apiKeyColumns+` FROM api_keys WHERE prefix = ?`, prefix))
	if err != nil {
		return auth.APIKey{}, notFound(err, "API key %s does not exist", prefix)
	}
	return k, nil
}

// ListAPIKeys implements auth.Store; an empty owner lists every key.
func (s *AuthStore) ListAPIKeys(ctx context.Context, ownerID string) ([]auth.APIKey, error) {
	q, args := `SELECT `+apiKeyColumns+` FROM api_keys`, []any{}
	if ownerID != "" {
		q, args = q+` WHERE owner_id = ?`, append(args, ownerID)
	}
	rows, err := s.db.reader().query(ctx, q+` ORDER BY created_at, id`, args...)
	if err != nil {
		return nil, fmt.Errorf("list API keys: %w", err)
	}
	defer rows.Close()
	var out []auth.APIKey
	for rows.Next() {
		k, err := scanAPIKey(rows)
		if err != nil {
			return nil, fmt.Errorf("list API keys: %w", err)
		}
		k.Hash = nil
		out = append(out, k)
	}
	return out, mapError(rows.Err())
}

// RevokeAPIKey implements auth.Store. Revoking twice keeps the first time.
func (s *AuthStore) RevokeAPIKey(ctx context.Context, id string, at time.Time) error {
	return s.db.inTx(ctx, func(t *txn) error {
		r, err := t.exec(ctx, `UPDATE api_keys SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ?`, s.db.ts(at), id)
		if err != nil {
			return fmt.Errorf("revoke API key %s: %w", id, err)
		}
		if n, _ := r.RowsAffected(); n == 0 {
			return qrmfg.Errorf(qrmfg.ENOTFOUND, "API key %s does not exist", id)
		}
		return nil
	})
}

// TouchAPIKey implements auth.Store.
func (s *AuthStore) TouchAPIKey(ctx context.Context, id string, at time.Time, every time.Duration) error {
	return s.db.inTx(ctx, func(t *txn) error {
		_, err := t.exec(ctx, `UPDATE api_keys SET last_used_at = ? WHERE id = ? AND (last_used_at IS NULL OR last_used_at <= ?)`,
			s.db.ts(at), id, s.db.ts(at.Add(-every)))
		if err != nil {
			return fmt.Errorf("record use of API key %s: %w", id, err)
		}
		return nil
	})
}
