package httpapi_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/qrmfg/qrmfg/internal/auth"
	"github.com/qrmfg/qrmfg/internal/httpapi"
	"github.com/qrmfg/qrmfg/internal/sqlstore"
	"github.com/qrmfg/qrmfg/internal/sqlstore/sqltest"
)

// fastHash keeps argon2id cheap in tests that are not about passwords.
var fastHash = auth.HashParams{MemoryKiB: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

// testAuth returns an identity service over db and the access token of a
// new user with role.
func testAuth(tb testing.TB, db *sqlstore.DB, role auth.Role) (*auth.Service, string) {
	tb.Helper()
	tokens, err := auth.NewTokens(auth.TokenConfig{Issuer: "qrmfg", Audience: "qrmfg-api"}, auth.NewRandomKeyring(), nil)
	if err != nil {
		tb.Fatal(err)
	}
	svc, err := auth.NewService(db.Auth(), auth.Config{Tokens: tokens, Hasher: auth.NewHasher(fastHash, 0)})
	if err != nil {
		tb.Fatal(err)
	}
	ctx := context.Background()
	name := "test-" + string(role)
	if _, err := svc.CreateUser(ctx, auth.NewUser{Username: name, Password: "test password 1", Role: role}); err != nil {
		tb.Fatal(err)
	}
	sess, err := svc.Login(ctx, name, "test password 1")
	if err != nil {
		tb.Fatal(err)
	}
	return svc, sess.AccessToken
}

// withToken sends every request to h with the bearer token.
func withToken(h http.Handler, token string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Header.Set("Authorization", "Bearer "+token)
		h.ServeHTTP(w, r)
	})
}

// BenchmarkGate measures what the gateway adds to a request: a public route
// (no credential), an access token (signature and claims, no database) and
// an API key (checksum, one lookup by prefix, the owner's state), each on
// GET /auth/me or /health through the whole middleware chain.
func BenchmarkGate(b *testing.B) {
	db := sqltest.Open(b, sqlstore.SQLite)
	authn, token := testAuth(b, db, auth.RoleAdmin)
	ctx := context.Background()
	admin, err := authn.UserByName(ctx, "test-admin")
	if err != nil {
		b.Fatal(err)
	}
	key, _, err := authn.CreateAPIKey(ctx, auth.NewAPIKeyInput{Name: "bench", OwnerID: admin.ID, Role: auth.RoleViewer, Scopes: []string{"*"}})
	if err != nil {
		b.Fatal(err)
	}
	api := httpapi.New(httpapi.Options{Version: "bench", Auth: authn}, httpapi.Services{})
	for _, c := range []struct{ name, path, credential string }{
		{"public", "/health", ""},
		{"token", "/auth/me", token},
		{"api_key", "/auth/me", key},
	} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				req := httptest.NewRequest(http.MethodGet, c.path, nil)
				if c.credential != "" {
					req.Header.Set("Authorization", "Bearer "+c.credential)
				}
				rec := httptest.NewRecorder()
				api.ServeHTTP(rec, req)
				if rec.Code != http.StatusOK {
					b.Fatalf("%s: %d %s", c.path, rec.Code, rec.Body)
				}
			}
		})
	}
}
