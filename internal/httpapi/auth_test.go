package httpapi_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/qrmfg/qrmfg/internal/auth"
	"github.com/qrmfg/qrmfg/internal/sqlstore"
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
