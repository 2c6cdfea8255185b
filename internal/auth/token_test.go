package auth

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/qrmfg/qrmfg/internal/qrmfg"
)

type fixedClock struct{ t time.Time }

func (c *fixedClock) Now() time.Time { return c.t }

var t0 = time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)

func testKeyring(t testing.TB, kid string, key string) *Keyring {
	t.Helper()
	k, err := NewKeyring(kid, map[string][]byte{kid: []byte(key)})
	if err != nil {
		t.Fatal(err)
	}
	return k
}

const keyA = "0123456789abcdef0123456789abcdef"
const keyB = "fedcba9876543210fedcba9876543210"

func testTokens(t testing.TB) *Tokens {
	t.Helper()
	tk, err := NewTokens(TokenConfig{Issuer: "qrmfg", Audience: "qrmfg-api", TTL: 15 * time.Minute, Leeway: 30 * time.Second},
		testKeyring(t, "k1", keyA), &fixedClock{t0})
	if err != nil {
		t.Fatal(err)
	}
	return tk
}

func validClaims() Claims {
	return Claims{Issuer: "qrmfg", Audience: "qrmfg-api", Subject: "u1", Role: RoleOperator, ID: "j1",
		IssuedAt: t0.Unix(), NotBefore: t0.Unix(), Expires: t0.Add(15 * time.Minute).Unix()}
}

// rawJWT builds a token from arbitrary header and payload JSON, signed with key.
func rawJWT(h, p string, key string) string {
	enc := base64.RawURLEncoding
	s := enc.EncodeToString([]byte(h)) + "." + enc.EncodeToString([]byte(p))
	m := hmac.New(sha256.New, []byte(key))
	m.Write([]byte(s))
	return s + "." + enc.EncodeToString(m.Sum(nil))
}

func claimsJSON(mod func(*Claims)) string {
	c := validClaims()
	if mod != nil {
		mod(&c)
	}
	b, _ := json.Marshal(c)
	return string(b)
}

const goodHeader = `{"alg":"HS256","typ":"at+jwt","kid":"k1"}`

func TestIssueAndParse(t *testing.T) {
	t.Parallel()
	tk := testTokens(t)
	tok, c, err := tk.Issue("user-1", RoleSupervisor, []string{"L1"})
	if err != nil {
		t.Fatal(err)
	}
	got, err := tk.Parse(tok)
	if err != nil {
		t.Fatalf("Parse(own token): %v", err)
	}
	if got.Subject != "user-1" || got.Role != RoleSupervisor || len(got.Lines) != 1 || got.ID != c.ID || got.ID == "" {
		t.Fatalf("claims = %+v", got)
	}
}

// TestBadTokens is T1 at the package level: every variant breaks one rule
// and must be rejected with a reason.
func TestBadTokens(t *testing.T) {
	t.Parallel()
	tk := testTokens(t)
	good, _, _ := tk.Issue("u1", RoleOperator, nil)
	parts := strings.Split(good, ".")
	enc := base64.RawURLEncoding
	// tampered payload keeping the old signature
	tampered := parts[0] + "." + enc.EncodeToString([]byte(claimsJSON(func(c *Claims) { c.Role = RoleAdmin }))) + "." + parts[2]
	other := testKeyring(t, "k1", keyB) // same kid, another keyring
	otherTk, _ := NewTokens(TokenConfig{Issuer: "qrmfg", Audience: "qrmfg-api"}, other, &fixedClock{t0})
	otherTok, _, _ := otherTk.Issue("u1", RoleAdmin, nil)

	cases := []struct{ name, token, reason string }{
		{"empty", "", "empty"},
		{"alg none", enc.EncodeToString([]byte(`{"alg":"none","typ":"at+jwt","kid":"k1"}`)) + "." + enc.EncodeToString([]byte(claimsJSON(nil))) + ".", "algorithm"},
		{"alg none no signature segment", enc.EncodeToString([]byte(`{"alg":"none"}`)) + "." + enc.EncodeToString([]byte(claimsJSON(nil))), "segments"},
		{"alg HS512", rawJWT(`{"alg":"HS512","typ":"at+jwt","kid":"k1"}`, claimsJSON(nil), keyA), "algorithm"},
		{"alg RS256 (key confusion)", rawJWT(`{"alg":"RS256","typ":"at+jwt","kid":"k1"}`, claimsJSON(nil), keyA), "algorithm"},
		{"alg lower-case hs256", rawJWT(`{"alg":"hs256","typ":"at+jwt","kid":"k1"}`, claimsJSON(nil), keyA), "algorithm"},
		{"bad signature", rawJWT(goodHeader, claimsJSON(nil), keyB), "bad signature"},
		{"signature stripped", parts[0] + "." + parts[1] + ".", "bad signature"},
		{"expired", rawJWT(goodHeader, claimsJSON(func(c *Claims) { c.IssuedAt -= 3600; c.NotBefore -= 3600; c.Expires = t0.Add(-31 * time.Second).Unix() }), keyA), "expired"},
		{"not yet valid", rawJWT(goodHeader, claimsJSON(func(c *Claims) { c.NotBefore = t0.Add(time.Minute).Unix() }), keyA), "not yet valid"},
		{"issued in the future", rawJWT(goodHeader, claimsJSON(func(c *Claims) { c.IssuedAt = t0.Add(time.Hour).Unix() }), keyA), "issued-at"},
		{"wrong iss", rawJWT(goodHeader, claimsJSON(func(c *Claims) { c.Issuer = "evil" }), keyA), "issuer"},
		{"wrong aud", rawJWT(goodHeader, claimsJSON(func(c *Claims) { c.Audience = "other-api" }), keyA), "audience"},
		{"wrong typ (JWT)", rawJWT(`{"alg":"HS256","typ":"JWT","kid":"k1"}`, claimsJSON(nil), keyA), "type"},
		{"refresh typ", rawJWT(`{"alg":"HS256","typ":"rt+jwt","kid":"k1"}`, claimsJSON(nil), keyA), "type"},
		{"missing typ", rawJWT(`{"alg":"HS256","kid":"k1"}`, claimsJSON(nil), keyA), "type"},
		{"unknown kid", rawJWT(`{"alg":"HS256","typ":"at+jwt","kid":"k9"}`, claimsJSON(nil), keyA), "unknown key"},
		{"kid with path metacharacters", rawJWT(`{"alg":"HS256","typ":"at+jwt","kid":"../../etc/passwd"}`, claimsJSON(nil), keyA), "unknown key"},
		{"kid with SQL", rawJWT(`{"alg":"HS256","typ":"at+jwt","kid":"k1' OR '1'='1"}`, claimsJSON(nil), keyA), "unknown key"},
		{"jku header", rawJWT(`{"alg":"HS256","typ":"at+jwt","kid":"k1","jku":"https://evil.example/k"}`, claimsJSON(nil), keyA), "header"},
		{"x5u header", rawJWT(`{"alg":"HS256","typ":"at+jwt","kid":"k1","x5u":"https://evil.example/c"}`, claimsJSON(nil), keyA), "header"},
		{"duplicate alg", rawJWT(`{"alg":"HS256","typ":"at+jwt","kid":"k1","alg":"none"}`, claimsJSON(nil), keyA), "duplicate"},
		{"missing exp", rawJWT(goodHeader, claimsJSON(func(c *Claims) { c.Expires = 0 }), keyA), "no expiry"},
		{"lifetime too long", rawJWT(goodHeader, claimsJSON(func(c *Claims) { c.Expires = t0.Add(24 * time.Hour).Unix() }), keyA), "lifetime"},
		{"unknown role", rawJWT(goodHeader, claimsJSON(func(c *Claims) { c.Role = "root" }), keyA), "role"},
		{"no subject", rawJWT(goodHeader, claimsJSON(func(c *Claims) { c.Subject = "" }), keyA), "subject"},
		{"extra claim", rawJWT(goodHeader, strings.Replace(claimsJSON(nil), "{", `{"admin":true,`, 1), keyA), "claims"},
		{"malformed base64 header", "!!!." + parts[1] + "." + parts[2], "base64"},
		{"padded base64 signature", parts[0] + "." + parts[1] + "." + parts[2] + "=", "base64"},
		{"malformed base64 payload", rawJWT(goodHeader, "{}", keyA)[:len(enc.EncodeToString([]byte(goodHeader)))] + ".*." + parts[2], "signature"},
		{"extra segment", good + ".e30", "segments"},
		{"two segments", parts[0] + "." + parts[1], "segments"},
		{"tampered payload", tampered, "bad signature"},
		{"key from another keyring", otherTok, "bad signature"},
		{"payload not an object", rawJWT(goodHeader, `[1,2]`, keyA), "claims"},
		{"too long", strings.Repeat("a", 5000), "too long"},
	}
	if len(cases) < 14 {
		t.Fatalf("only %d variants", len(cases))
	}
	accepted := 0
	for _, tc := range cases {
		c, err := tk.Parse(tc.token)
		if err == nil {
			accepted++
			t.Errorf("%s: accepted with claims %+v", tc.name, c)
			continue
		}
		if qrmfg.ErrorCode(err) != qrmfg.EUNAUTHORIZED {
			t.Errorf("%s: code %q, want unauthorized", tc.name, qrmfg.ErrorCode(err))
		}
		if r := RejectReason(err); !strings.Contains(r, tc.reason) {
			t.Errorf("%s: reason %q, want it to mention %q", tc.name, r, tc.reason)
		}
	}
	t.Logf("T1 token variants: accepted_bad=%d/%d", accepted, len(cases))
}

func TestLeeway(t *testing.T) {
	t.Parallel()
	tk := testTokens(t)
	for _, tc := range []struct {
		name string
		mod  func(*Claims)
		ok   bool
	}{
		{"expired 29s ago", func(c *Claims) { c.IssuedAt -= 900; c.Expires = t0.Add(-29 * time.Second).Unix() }, true},
		{"expired 31s ago", func(c *Claims) { c.IssuedAt -= 900; c.Expires = t0.Add(-31 * time.Second).Unix() }, false},
		{"nbf 29s ahead", func(c *Claims) { c.NotBefore = t0.Add(29 * time.Second).Unix() }, true},
		{"nbf 31s ahead", func(c *Claims) { c.NotBefore = t0.Add(31 * time.Second).Unix() }, false},
	} {
		_, err := tk.Parse(rawJWT(goodHeader, claimsJSON(tc.mod), keyA))
		if (err == nil) != tc.ok {
			t.Errorf("%s: err = %v, want ok=%v", tc.name, err, tc.ok)
		}
	}
}

// TestKeyRotation is T2 in small: k1 tokens stay valid while k1 is
// published, k2 signs new ones, and k1 tokens fail once k1 is retired.
func TestKeyRotation(t *testing.T) {
	t.Parallel()
	cfg := TokenConfig{Issuer: "qrmfg", Audience: "qrmfg-api"}
	clk := &fixedClock{t0}
	mk := func(signing string, keys map[string][]byte) *Tokens {
		k, err := NewKeyring(signing, keys)
		if err != nil {
			t.Fatal(err)
		}
		tk, _ := NewTokens(cfg, k, clk)
		return tk
	}
	phase1 := mk("k1", map[string][]byte{"k1": []byte(keyA)})
	phase2 := mk("k2", map[string][]byte{"k1": []byte(keyA), "k2": []byte(keyB)})
	phase3 := mk("k2", map[string][]byte{"k2": []byte(keyB)})
	old, _, _ := phase1.Issue("u", RoleViewer, nil)
	fresh, _, _ := phase2.Issue("u", RoleViewer, nil)
	for _, tc := range []struct {
		name string
		tk   *Tokens
		tok  string
		ok   bool
	}{
		{"k1 token during overlap", phase2, old, true},
		{"k2 token during overlap", phase2, fresh, true},
		{"k2 token after retirement", phase3, fresh, true},
		{"k1 token after retirement", phase3, old, false},
		{"k2 token before publication", phase1, fresh, false},
	} {
		if _, err := tc.tk.Parse(tc.tok); (err == nil) != tc.ok {
			t.Errorf("%s: err = %v", tc.name, err)
		}
	}
}

func TestNewKeyringRejectsWeakKeys(t *testing.T) {
	t.Parallel()
	if _, err := NewKeyring("k", map[string][]byte{"k": []byte("short")}); qrmfg.ErrorCode(err) != qrmfg.EINVALID {
		t.Errorf("short key: %v", err)
	}
	if _, err := NewKeyring("k/../x", map[string][]byte{"k/../x": []byte(keyA)}); qrmfg.ErrorCode(err) != qrmfg.EINVALID {
		t.Errorf("bad kid: %v", err)
	}
	if _, err := NewKeyring("missing", map[string][]byte{"k": []byte(keyA)}); qrmfg.ErrorCode(err) != qrmfg.EINVALID {
		t.Errorf("signing key not in ring: %v", err)
	}
}

func FuzzParseToken(f *testing.F) {
	tk := testTokens(f)
	good, _, _ := tk.Issue("u1", RoleAdmin, []string{"L1"})
	f.Add(good)
	f.Add("")
	f.Add("a.b.c")
	f.Add(rawJWT(`{"alg":"none"}`, "{}", ""))
	f.Add(rawJWT(goodHeader, claimsJSON(nil), keyB))
	f.Fuzz(func(t *testing.T, s string) {
		c, err := tk.Parse(s)
		if err != nil {
			if qrmfg.ErrorCode(err) != qrmfg.EUNAUTHORIZED {
				t.Fatalf("code %q", qrmfg.ErrorCode(err))
			}
			return
		}
		// Accepted: it must carry a valid HMAC from our key over its first two segments.
		p := strings.Split(s, ".")
		m := hmac.New(sha256.New, []byte(keyA))
		m.Write([]byte(p[0] + "." + p[1]))
		if base64.RawURLEncoding.EncodeToString(m.Sum(nil)) != p[2] {
			t.Fatalf("accepted a token not signed by our key: %q → %+v", s, c)
		}
	})
}

func TestKeyringFromSecrets(t *testing.T) {
	t.Parallel()
	cfg := TokenConfig{Issuer: "qrmfg", Audience: "qrmfg-api"}
	oldRing, err := KeyringFromSecrets([]byte(keyA))
	if err != nil {
		t.Fatal(err)
	}
	rotated, err := KeyringFromSecrets([]byte(keyB), []byte(keyA))
	if err != nil {
		t.Fatal(err)
	}
	if oldRing.SigningKID() == rotated.SigningKID() {
		t.Fatal("two secrets got one key id")
	}
	again, _ := KeyringFromSecrets([]byte(keyA))
	if again.SigningKID() != oldRing.SigningKID() {
		t.Fatal("key id is not stable across instances")
	}
	oldTk, _ := NewTokens(cfg, oldRing, &fixedClock{t0})
	newTk, _ := NewTokens(cfg, rotated, &fixedClock{t0})
	tok, _, _ := oldTk.Issue("u", RoleViewer, nil)
	if _, err := newTk.Parse(tok); err != nil {
		t.Errorf("token of the previous secret during rotation: %v", err)
	}
	if _, err := KeyringFromSecrets([]byte("too short")); qrmfg.ErrorCode(err) != qrmfg.EINVALID {
		t.Errorf("short secret: %v", err)
	}
}

// TestRotationUnderLoad is T2: 1,000 tokens issued and checked across a key
// rotation (k1 only → k1+k2 signing with k2 → k2 only), each checked by the
// verifier of its phase and the next; after retirement no k1 token passes.
func TestRotationUnderLoad(t *testing.T) {
	t.Parallel()
	cfg := TokenConfig{Issuer: "qrmfg", Audience: "qrmfg-api"}
	clk := &fixedClock{t0}
	ring := func(signing string, keys ...string) *Tokens {
		m := map[string][]byte{}
		for _, k := range keys {
			m[k] = []byte(map[string]string{"k1": keyA, "k2": keyB}[k])
		}
		k, err := NewKeyring(signing, m)
		if err != nil {
			t.Fatal(err)
		}
		tk, _ := NewTokens(cfg, k, clk)
		return tk
	}
	phases := []*Tokens{ring("k1", "k1"), ring("k2", "k1", "k2"), ring("k2", "k2")}
	failed, k1After := 0, 0
	var k1Tokens []string
	for i := range 1000 {
		p := i * len(phases) / 1000
		tok, _, err := phases[p].Issue(fmt.Sprint("u", i), RoleViewer, nil)
		if err != nil {
			t.Fatal(err)
		}
		if p == 0 {
			k1Tokens = append(k1Tokens, tok)
		}
		// A valid token must pass the verifier of its own phase and, during
		// the overlap, of the next one (instances switch at different times).
		if _, err := phases[p].Parse(tok); err != nil {
			failed++
		}
		if p == 0 {
			if _, err := phases[1].Parse(tok); err != nil {
				failed++
			}
		}
	}
	for _, tok := range k1Tokens {
		if _, err := phases[2].Parse(tok); err == nil {
			k1After++
		}
	}
	t.Logf("T2: failed valid checks %d of 1000 tokens; k1 tokens accepted after retirement %d of %d", failed, k1After, len(k1Tokens))
	if failed != 0 || k1After != 0 {
		t.Fail()
	}
}
