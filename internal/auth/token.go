package auth

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/qrmfg/qrmfg/internal/qrmfg"
)

// TokenType is the JOSE "typ" of access tokens (RFC 9068); tokens of any other
// type are rejected (RFC 8725 §3.11–3.12).
const TokenType = "at+jwt"

// maxTokenLen bounds what ParseToken looks at; real tokens are a few hundred bytes.
const maxTokenLen = 4096

// minKeyLen is the shortest HMAC key accepted: 256 bits (RFC 7518 §3.2).
const minKeyLen = 32

// Keyring holds the HMAC keys of access tokens by key id: one signing key and
// any number of verification keys, so keys rotate without downtime (publish
// the new key for verification, switch signing to it, retire the old one after
// the longest token lifetime).
type Keyring struct {
	signing string
	keys    map[string][]byte
}

// NewKeyring returns a keyring that signs with key signingKID and verifies with
// every key in keys (which must contain signingKID). Keys must be at least 32
// bytes; key ids are 1–64 characters of [A-Za-z0-9._-].
func NewKeyring(signingKID string, keys map[string][]byte) (*Keyring, error) {
	k := &Keyring{signing: signingKID, keys: make(map[string][]byte, len(keys))}
	for kid, key := range keys {
		if !validKID(kid) {
			return nil, qrmfg.Errorf(qrmfg.EINVALID, "key id %q: use 1-64 characters of A-Z a-z 0-9 . _ -", kid)
		}
		if len(key) < minKeyLen {
			return nil, qrmfg.Errorf(qrmfg.EINVALID, "key %q is %d bytes; at least %d are required", kid, len(key), minKeyLen)
		}
		k.keys[kid] = bytes.Clone(key)
	}
	if _, ok := k.keys[signingKID]; !ok {
		return nil, qrmfg.Errorf(qrmfg.EINVALID, "signing key %q is not in the keyring", signingKID)
	}
	return k, nil
}

// KeyringFromSecrets builds a keyring from configured secrets (for example
// JWT_SECRET_KEY and the previous value kept during a rotation): signing
// signs, every secret verifies. Key ids are derived from the secrets (the hex
// of the first 6 bytes of SHA-256 over a label and the secret), so every
// instance configured with the same secrets agrees on them without
// configuring ids.
func KeyringFromSecrets(signing []byte, previous ...[]byte) (*Keyring, error) {
	keys := map[string][]byte{}
	kid := func(secret []byte) string {
		h := sha256.Sum256(append([]byte("qrmfg access token key id\x00"), secret...))
		return hex.EncodeToString(h[:6])
	}
	for _, p := range previous {
		keys[kid(p)] = p
	}
	keys[kid(signing)] = signing
	return NewKeyring(kid(signing), keys)
}

// NewRandomKeyring returns a keyring with one fresh random key, for tests and
// for single-process installations without a configured secret.
func NewRandomKeyring() *Keyring {
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	var id [6]byte
	_, _ = rand.Read(id[:])
	kid := base64.RawURLEncoding.EncodeToString(id[:])
	k, _ := NewKeyring(kid, map[string][]byte{kid: key})
	return k
}

// SigningKID returns the id of the signing key.
func (k *Keyring) SigningKID() string { return k.signing }

func validKID(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for _, c := range []byte(s) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// Claims are the claims of an access token.
type Claims struct {
	Issuer   string   `json:"iss"`
	Audience string   `json:"aud"`
	Subject  string   `json:"sub"`
	Name     string   `json:"name,omitempty"` // the username, for logs and the audit trail
	Role     Role     `json:"role"`
	Lines    []string `json:"lines,omitempty"`
	ID       string   `json:"jti"`
	IssuedAt int64    `json:"iat"`
	// IssuedAtMicro is the issue time in microseconds since the epoch: iat
	// has whole seconds, too coarse to tell a token issued just before a
	// "tokens issued before T are invalid" cut-off from one issued just after.
	IssuedAtMicro int64 `json:"iat_us,omitempty"`
	NotBefore     int64 `json:"nbf"`
	Expires       int64 `json:"exp"`
}

// IssuedTime returns when the token was issued, to the microsecond when the
// token says so (older tokens: to the second).
func (c Claims) IssuedTime() time.Time {
	if c.IssuedAtMicro > 0 {
		return time.UnixMicro(c.IssuedAtMicro).UTC()
	}
	return time.Unix(c.IssuedAt, 0).UTC()
}

// ExpiresAt returns the expiry as a time.
func (c Claims) ExpiresAt() time.Time { return time.Unix(c.Expires, 0).UTC() }

type header struct {
	Alg string `json:"alg"`
	Typ string `json:"typ"`
	Kid string `json:"kid"`
}

// TokenConfig configures access tokens.
type TokenConfig struct {
	Issuer   string        // "iss", required on every token
	Audience string        // "aud", required on every token
	TTL      time.Duration // lifetime of an access token (default 15 min)
	Leeway   time.Duration // clock skew tolerated on exp/nbf/iat (default 30 s)
}

// Tokens signs and verifies access tokens: JWS compact serialisation, HS256
// only (RFC 8725 §3.1: the algorithm is pinned, the header's alg is checked,
// never trusted), typ "at+jwt", kid from the keyring, iss/aud/exp/nbf/iat
// required.
type Tokens struct {
	cfg   TokenConfig
	keys  *Keyring
	clock qrmfg.Clock
}

// NewTokens returns a token signer and verifier.
func NewTokens(cfg TokenConfig, keys *Keyring, clock qrmfg.Clock) (*Tokens, error) {
	if cfg.Issuer == "" || cfg.Audience == "" {
		return nil, qrmfg.Errorf(qrmfg.EINVALID, "token issuer and audience are required")
	}
	if keys == nil {
		return nil, qrmfg.Errorf(qrmfg.EINVALID, "token keyring is required")
	}
	if cfg.TTL <= 0 {
		cfg.TTL = 15 * time.Minute
	}
	if cfg.Leeway <= 0 {
		cfg.Leeway = 30 * time.Second
	}
	if clock == nil {
		clock = qrmfg.SystemClock{}
	}
	return &Tokens{cfg: cfg, keys: keys, clock: clock}, nil
}

// TTL returns the lifetime of access tokens.
func (t *Tokens) TTL() time.Duration { return t.cfg.TTL }

// Issue signs an access token for subject with role and lines; iss, aud, iat,
// nbf, exp and jti are filled in. It returns the token and its claims.
func (t *Tokens) Issue(subject string, role Role, lines []string) (string, Claims, error) {
	return t.IssueNamed(subject, "", role, lines)
}

// IssueNamed is Issue with the subject's display name (the username) in the
// "name" claim.
func (t *Tokens) IssueNamed(subject, name string, role Role, lines []string) (string, Claims, error) {
	now := t.clock.Now()
	c := Claims{
		Issuer: t.cfg.Issuer, Audience: t.cfg.Audience, Subject: subject, Name: name, Role: role, Lines: lines,
		ID: qrmfg.NewID(), IssuedAt: now.Unix(), IssuedAtMicro: now.UnixMicro(), NotBefore: now.Unix(), Expires: now.Add(t.cfg.TTL).Unix(),
	}
	tok, err := t.Sign(c)
	return tok, c, err
}

// Sign serialises and signs c as is, with the signing key. Issue is the normal
// entry point; Sign exists for tests and tools.
func (t *Tokens) Sign(c Claims) (string, error) {
	return signJWT(header{Alg: "HS256", Typ: TokenType, Kid: t.keys.signing}, c, t.keys.keys[t.keys.signing])
}

func signJWT(h header, payload any, key []byte) (string, error) {
	hb, err := json.Marshal(h)
	if err != nil {
		return "", fmt.Errorf("encode token header: %w", err)
	}
	pb, err := json.Marshal(payload)
	if err != nil {
		return "", fmt.Errorf("encode token claims: %w", err)
	}
	enc := base64.RawURLEncoding
	signing := enc.EncodeToString(hb) + "." + enc.EncodeToString(pb)
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(signing))
	return signing + "." + enc.EncodeToString(mac.Sum(nil)), nil
}

// invalidToken is the EUNAUTHORIZED error of a rejected token; reason is for
// logs and tests (Detail "reason"), the message is the same for every cause.
func invalidToken(reason string) error {
	return qrmfg.Errorf(qrmfg.EUNAUTHORIZED, "invalid or expired access token").WithDetail("reason", reason)
}

// RejectReason returns the reason a token was rejected, or "".
func RejectReason(err error) string {
	if e := qrmfg.AsError(err); e != nil {
		if r, ok := e.Detail["reason"].(string); ok {
			return r
		}
	}
	return ""
}

// Parse verifies an access token and returns its claims. Every failure is an
// EUNAUTHORIZED error whose Detail "reason" says why (see RejectReason). The
// signature is checked before the claims are decoded, and only with the key
// the kid names; the header may carry alg, typ and kid and nothing else.
func (t *Tokens) Parse(token string) (Claims, error) {
	if token == "" {
		return Claims{}, invalidToken("empty")
	}
	if len(token) > maxTokenLen {
		return Claims{}, invalidToken("too long")
	}
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return Claims{}, invalidToken("not three segments")
	}
	enc := base64.RawURLEncoding.Strict()
	hb, err := enc.DecodeString(parts[0])
	if err != nil {
		return Claims{}, invalidToken("header is not base64url")
	}
	var h header
	if err := strictUnmarshal(hb, &h); err != nil {
		return Claims{}, invalidToken("header: " + err.Error())
	}
	if h.Alg != "HS256" {
		return Claims{}, invalidToken(fmt.Sprintf("algorithm %q is not HS256", h.Alg))
	}
	if h.Typ != TokenType {
		return Claims{}, invalidToken(fmt.Sprintf("type %q is not %s", h.Typ, TokenType))
	}
	key, ok := t.keys.keys[h.Kid]
	if !ok {
		return Claims{}, invalidToken("unknown key id")
	}
	sig, err := enc.DecodeString(parts[2])
	if err != nil {
		return Claims{}, invalidToken("signature is not base64url")
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(parts[0]))
	mac.Write([]byte{'.'})
	mac.Write([]byte(parts[1]))
	if !hmac.Equal(sig, mac.Sum(nil)) {
		return Claims{}, invalidToken("bad signature")
	}
	pb, err := enc.DecodeString(parts[1])
	if err != nil {
		return Claims{}, invalidToken("payload is not base64url")
	}
	var c Claims
	if err := strictUnmarshal(pb, &c); err != nil {
		return Claims{}, invalidToken("claims: " + err.Error())
	}
	return c, t.checkClaims(c)
}

func (t *Tokens) checkClaims(c Claims) error {
	now := t.clock.Now().Unix()
	leeway := int64(t.cfg.Leeway / time.Second)
	switch {
	case c.Issuer != t.cfg.Issuer:
		return invalidToken("wrong issuer")
	case c.Audience != t.cfg.Audience:
		return invalidToken("wrong audience")
	case c.Expires == 0:
		return invalidToken("no expiry")
	case now > c.Expires+leeway:
		return invalidToken("expired")
	case c.NotBefore > now+leeway:
		return invalidToken("not yet valid")
	case c.IssuedAt == 0 || c.IssuedAt > now+leeway:
		return invalidToken("bad issued-at")
	case c.Expires-c.IssuedAt > int64(t.cfg.TTL/time.Second)+leeway:
		return invalidToken("lifetime longer than configured")
	case c.Subject == "":
		return invalidToken("no subject")
	case c.ID == "":
		return invalidToken("no token id")
	case !c.Role.Valid():
		return invalidToken("unknown role")
	}
	return nil
}

// strictUnmarshal decodes one JSON object, rejecting unknown fields, duplicate
// trailing data and non-objects.
func strictUnmarshal(b []byte, v any) error {
	if len(b) == 0 || b[0] != '{' {
		return fmt.Errorf("not a JSON object")
	}
	if err := rejectDuplicateKeys(b); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("bad JSON: %w", err)
	}
	if dec.More() {
		return fmt.Errorf("trailing data")
	}
	if _, err := dec.Token(); err == nil {
		return fmt.Errorf("trailing data")
	}
	return nil
}

// rejectDuplicateKeys refuses top-level duplicate keys, which different JSON
// parsers resolve differently.
func rejectDuplicateKeys(b []byte) error {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return fmt.Errorf("bad JSON: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	if _, err := dec.Token(); err != nil {
		return fmt.Errorf("bad JSON: %w", err)
	}
	var keys []string
	for dec.More() {
		tk, err := dec.Token()
		if err != nil {
			return fmt.Errorf("bad JSON: %w", err)
		}
		k, _ := tk.(string)
		k = strings.ToLower(k) // encoding/json matches field names case-insensitively
		if slices.Contains(keys, k) {
			return fmt.Errorf("duplicate key %q", k)
		}
		keys = append(keys, k)
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return fmt.Errorf("bad JSON: %w", err)
		}
	}
	return nil
}
