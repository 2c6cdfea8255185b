package app

import (
	"context"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/qrmfg/qrmfg/internal/audit"
	"github.com/qrmfg/qrmfg/internal/auth"
	"github.com/qrmfg/qrmfg/internal/config"
	"github.com/qrmfg/qrmfg/internal/gateway/ratelimit"
	"github.com/qrmfg/qrmfg/internal/httpapi"
	"github.com/qrmfg/qrmfg/internal/qrmfg"
	"github.com/qrmfg/qrmfg/internal/sqlstore"
)

// Token issuer and audience: every qrmfg process of one installation
// issues and accepts the same ones.
const (
	tokenIssuer   = "qrmfg"
	tokenAudience = "qrmfg-api"
)

// Security is the identity service, the audit log and the rate limiters of
// one process.
type Security struct {
	Auth   *auth.Service
	Audit  *audit.Log
	Limits httpapi.Limits
}

// NewSecurity builds the security modules over db. Keys come from the
// configuration; in the embedded shape (target all) missing ones are
// generated once and kept under QRMFG_DATA_DIR/keys, so tokens and
// checkpoints survive restarts.
func NewSecurity(cfg config.Config, db *sqlstore.DB, log *slog.Logger) (*Security, error) {
	jwtKey, err := localSecret(cfg, cfg.Auth.JWTSecretKey, "jwt.key", func() string {
		b := make([]byte, 32)
		_, _ = rand.Read(b)
		return hex.EncodeToString(b)
	})
	if err != nil {
		return nil, err
	}
	prev := make([][]byte, len(cfg.Auth.PreviousJWTKeys))
	for i, k := range cfg.Auth.PreviousJWTKeys {
		prev[i] = []byte(k)
	}
	keys, err := auth.KeyringFromSecrets([]byte(jwtKey), prev...)
	if err != nil {
		return nil, qrmfg.Errorf(qrmfg.EINVALID, "JWT_SECRET_KEY: %s", qrmfg.ErrorMessage(err))
	}
	tokens, err := auth.NewTokens(auth.TokenConfig{Issuer: tokenIssuer, Audience: tokenAudience, TTL: cfg.Auth.AccessTokenTTL}, keys, nil)
	if err != nil {
		return nil, err
	}
	// The refresh successor secret is derived from the signing key, so every
	// process with the same key derives the same successor.
	m := hmac.New(sha256.New, []byte(jwtKey))
	m.Write([]byte("qrmfg refresh token successor"))
	var accountLimiter ratelimit.Limiter
	if cfg.Features.RateLimiting {
		if accountLimiter, err = ratelimit.NewMemory(loginPolicy(cfg), ratelimit.Options{}); err != nil {
			return nil, err
		}
	}
	svc, err := auth.NewService(db.Auth(), auth.Config{Tokens: tokens, RefreshTTL: cfg.Auth.RefreshTokenTTL,
		RefreshSecret: m.Sum(nil), AccountLimiter: accountLimiter})
	if err != nil {
		return nil, err
	}
	seed, err := localSecret(cfg, cfg.Auth.AuditSigningKey, "audit-ed25519.key", func() string {
		b := make([]byte, ed25519.SeedSize)
		_, _ = rand.Read(b)
		return base64.StdEncoding.EncodeToString(b)
	})
	if err != nil {
		return nil, err
	}
	raw, err := base64.StdEncoding.DecodeString(seed)
	if err != nil || len(raw) != ed25519.SeedSize {
		return nil, qrmfg.Errorf(qrmfg.EINVALID, "QRMFG_AUDIT_SIGNING_KEY: expected base64 of %d bytes", ed25519.SeedSize)
	}
	lg, err := audit.New(db.Audit(), audit.Config{SigningKey: ed25519.NewKeyFromSeed(raw),
		CheckpointEvery: int64(cfg.Auth.AuditCheckpointEvery), Logger: log})
	if err != nil {
		return nil, err
	}
	sec := &Security{Auth: svc, Audit: lg}
	if cfg.Features.RateLimiting {
		if sec.Limits, err = limiters(cfg); err != nil {
			return nil, err
		}
	}
	return sec, nil
}

func loginPolicy(cfg config.Config) ratelimit.Policy {
	return ratelimit.Policy{Name: "login", Rate: cfg.Rate.LoginsPerMin, Period: time.Minute, Burst: 5}
}

func limiters(cfg config.Config) (httpapi.Limits, error) {
	var l httpapi.Limits
	for _, p := range []struct {
		dst *ratelimit.Limiter
		pol ratelimit.Policy
	}{
		{&l.Identity, ratelimit.Policy{Name: "default", Rate: cfg.Rate.PerSecond, Period: time.Second, Burst: cfg.Rate.Burst}},
		{&l.IP, ratelimit.Policy{Name: "ip", Rate: cfg.Rate.IPPerSecond, Period: time.Second, Burst: 2 * cfg.Rate.IPPerSecond}},
		// Per address, several people may log in from one terminal or NAT.
		{&l.Login, ratelimit.Policy{Name: "login-ip", Rate: 5 * cfg.Rate.LoginsPerMin, Period: time.Minute, Burst: 20}},
		{&l.Codes, ratelimit.Policy{Name: "codes", Rate: cfg.Rate.CodesPerHour, Period: time.Hour, Burst: max(cfg.Limits.MaxBatch, 1)}},
		{&l.Uploads, ratelimit.Policy{Name: "uploads", Rate: cfg.Rate.UploadsPerMin, Period: time.Minute, Burst: max(cfg.Rate.UploadsPerMin/10, 1)}},
	} {
		m, err := ratelimit.NewMemory(p.pol, ratelimit.Options{})
		if err != nil {
			return l, err
		}
		*p.dst = m
	}
	return l, nil
}

// localSecret returns value, or in the embedded shape the secret kept in
// QRMFG_DATA_DIR/keys/file (made by gen on first use). A process of the
// distributed shape without the secret makes up one for its own lifetime
// (the configuration warns about it).
func localSecret(cfg config.Config, value, file string, gen func() string) (string, error) {
	if value != "" {
		return value, nil
	}
	if cfg.Target != "all" {
		return gen(), nil
	}
	path := filepath.Join(cfg.DataDir, "keys", file)
	b, err := os.ReadFile(path)
	switch {
	case err == nil:
		if s := strings.TrimSpace(string(b)); s != "" {
			return s, nil
		}
		return "", qrmfg.Errorf(qrmfg.EINVALID, "%s is empty; delete it to make a new key", path)
	case errors.Is(err, fs.ErrNotExist):
		s := gen()
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return "", fmt.Errorf("create key directory: %w", err)
		}
		if err := os.WriteFile(path, []byte(s+"\n"), 0o600); err != nil {
			return "", fmt.Errorf("write %s: %w", path, err)
		}
		return s, nil
	default:
		return "", fmt.Errorf("read %s: %w", path, err)
	}
}

// Bootstrap creates the first admin when there are no users, and logs its
// password once when it was generated.
func (s *Security) Bootstrap(ctx context.Context, cfg config.Config, log *slog.Logger) error {
	created, generated, err := s.Auth.Bootstrap(ctx, cfg.Auth.AdminUsername, cfg.Auth.AdminPassword)
	if err != nil {
		return fmt.Errorf("create the first admin: %w", err)
	}
	if !created {
		return nil
	}
	actx := qrmfg.WithActor(ctx, qrmfg.SystemActor)
	if _, err := s.Audit.Record(actx, "auth.user.bootstrap", "user", cfg.Auth.AdminUsername, nil,
		map[string]any{"username": cfg.Auth.AdminUsername, "role": "admin"}, audit.Success); err != nil {
		log.Error("audit record failed", "action", "auth.user.bootstrap", "err", err)
	}
	if generated != "" {
		log.Warn("first start: created the admin user; this password is shown only once, change it after logging in",
			"username", cfg.Auth.AdminUsername, "password", generated)
	} else {
		log.Info("first start: created the admin user with QRMFG_ADMIN_PASSWORD", "username", cfg.Auth.AdminUsername)
	}
	return nil
}

// RunCheckpoints signs an audit checkpoint every interval when the log has
// grown since the last one, until ctx is done.
func (s *Security) RunCheckpoints(ctx context.Context, every time.Duration, log *slog.Logger) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		cps, err := s.Audit.Checkpoints(ctx)
		if err != nil {
			log.Error("audit checkpoint", "err", err)
			continue
		}
		size, err := s.Audit.Size(ctx)
		if err != nil {
			log.Error("audit checkpoint", "err", err)
			continue
		}
		if size == 0 || len(cps) > 0 && cps[len(cps)-1].Size == size {
			continue // nothing new since the last checkpoint
		}
		c, err := s.Audit.Checkpoint(ctx)
		if err != nil {
			log.Error("audit checkpoint", "err", err)
			continue
		}
		log.Info("audit checkpoint signed", "size", c.Size, "root", c.Root.String())
	}
}
