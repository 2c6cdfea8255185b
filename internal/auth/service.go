package auth

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/qrmfg/qrmfg/internal/gateway/ratelimit"
	"github.com/qrmfg/qrmfg/internal/qrmfg"
)

// Config configures a Service.
type Config struct {
	Tokens *Tokens // access tokens (required)
	Hasher *Hasher // passwords (default: NewHasher(DefaultHashParams, 0))
	// RefreshTTL is the idle lifetime of a refresh token (default 14 days):
	// each rotation issues a successor valid for RefreshTTL.
	RefreshTTL time.Duration
	// RefreshGrace is how long after a rotation the previous token may be
	// presented again and gets the same successor (default 10 s), for a client
	// that lost the response or two tabs refreshing at once.
	RefreshGrace time.Duration
	// RefreshSecret derives a successor refresh token from its predecessor
	// (HMAC-SHA256), which is what lets a replay inside the grace window
	// return the same successor although only hashes are stored. Default: a
	// random per-process secret (grace replays then do not survive restarts).
	RefreshSecret []byte
	// APIKeyTouchEvery throttles last-used writes of API keys (default 1 min).
	APIKeyTouchEvery time.Duration
	// UserCheckEvery bounds how long an access token keeps working after its
	// user was disabled, deleted or given another role or lines (default
	// 5 s): Identify looks the user up at most this often per user.
	UserCheckEvery time.Duration
	// AccountLimiter, when set, throttles password checks before any
	// hashing (cost 1 per attempt; for example ratelimit.Login): per account
	// and client address (key "account:<username>@<address>"), and per
	// account (key "account:<username>") for addresses from which the
	// account never logged in. Failures from elsewhere thus slow down
	// strangers but never lock the owner out of a known address (OWASP,
	// Authentication Cheat Sheet). Per-IP throttling is the gateway's.
	AccountLimiter ratelimit.Limiter
	Clock          qrmfg.Clock
}

// Service is the identity service: users, logins, tokens and API keys.
type Service struct {
	store   Store
	cfg     Config
	tokens  *Tokens
	hasher  *Hasher
	clock   qrmfg.Clock
	touched sync.Map // API key id → time.Time of the last recorded use
	users   sync.Map // user id → userCheck
}

// NewService returns a Service over store.
func NewService(store Store, cfg Config) (*Service, error) {
	if store == nil || cfg.Tokens == nil {
		return nil, qrmfg.Errorf(qrmfg.EINVALID, "auth service needs a store and a token issuer")
	}
	if cfg.Hasher == nil {
		cfg.Hasher = NewHasher(DefaultHashParams, 0)
	}
	if cfg.RefreshTTL <= 0 {
		cfg.RefreshTTL = 14 * 24 * time.Hour
	}
	if cfg.RefreshGrace <= 0 {
		cfg.RefreshGrace = 10 * time.Second
	}
	if len(cfg.RefreshSecret) == 0 {
		cfg.RefreshSecret = make([]byte, 32)
		_, _ = rand.Read(cfg.RefreshSecret)
	}
	if cfg.UserCheckEvery <= 0 {
		cfg.UserCheckEvery = 5 * time.Second
	}
	if cfg.APIKeyTouchEvery <= 0 {
		cfg.APIKeyTouchEvery = time.Minute
	}
	if cfg.Clock == nil {
		cfg.Clock = qrmfg.SystemClock{}
	}
	return &Service{store: store, cfg: cfg, tokens: cfg.Tokens, hasher: cfg.Hasher, clock: cfg.Clock}, nil
}

// errBadCredentials is the one answer to a failed login, whatever the cause.
func errBadCredentials() error {
	return qrmfg.Errorf(qrmfg.EUNAUTHORIZED, "invalid username or password")
}

// NewUser is the input of CreateUser.
type NewUser struct {
	Username string
	Password string
	Role     Role
	Lines    []string
}

// NormalizeUsername lower-cases and validates a user name: 1–64 characters of
// a-z 0-9 . _ - @.
func NormalizeUsername(s string) (string, error) {
	u := strings.ToLower(strings.TrimSpace(s))
	if u == "" || len(u) > 64 {
		return "", qrmfg.FieldError("username", "username must be 1-64 characters")
	}
	for _, c := range []byte(u) {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-' || c == '@') {
			return "", qrmfg.FieldError("username", "username may contain only letters, digits and . _ - @")
		}
	}
	return u, nil
}

func checkPassword(pw string) error {
	n := utf8.RuneCountInString(pw)
	if n < 10 {
		return qrmfg.FieldError("password", "password must be at least 10 characters")
	}
	if len(pw) > 256 {
		return qrmfg.FieldError("password", "password must be at most 256 bytes")
	}
	return nil
}

func checkLines(lines []string) ([]string, error) {
	out := make([]string, 0, len(lines))
	for _, l := range lines {
		l = strings.TrimSpace(l)
		if l == "" || len(l) > 64 {
			return nil, qrmfg.FieldError("lines", "production line names must be 1-64 characters")
		}
		if !slices.Contains(out, l) {
			out = append(out, l)
		}
	}
	slices.Sort(out)
	return out, nil
}

// CreateUser validates and stores a new user and returns it without its
// password hash. A taken username (in any case) is ECONFLICT.
func (s *Service) CreateUser(ctx context.Context, in NewUser) (User, error) {
	name, err := NormalizeUsername(in.Username)
	if err != nil {
		return User{}, err
	}
	if !in.Role.Valid() {
		return User{}, qrmfg.FieldError("role", "role must be one of viewer, operator, supervisor, admin")
	}
	if err := checkPassword(in.Password); err != nil {
		return User{}, err
	}
	lines, err := checkLines(in.Lines)
	if err != nil {
		return User{}, err
	}
	if err := checkGrant(ctx, lines); err != nil {
		return User{}, err
	}
	hash, err := s.hasher.Hash(ctx, in.Password)
	if err != nil {
		return User{}, err
	}
	now := s.clock.Now()
	u := User{ID: qrmfg.NewID(), Username: name, PasswordHash: hash, Role: in.Role, Lines: lines, CreatedAt: now, UpdatedAt: now}
	if err := s.store.CreateUser(ctx, u); err != nil {
		if qrmfg.ErrorCode(err) == qrmfg.ECONFLICT {
			return User{}, &qrmfg.Error{Code: qrmfg.ECONFLICT, Field: "username", Message: fmt.Sprintf("username %q is taken", name), Err: err}
		}
		return User{}, err
	}
	u.PasswordHash = ""
	return u, nil
}

// Authenticate checks a username and password. Unknown user, wrong password
// and disabled user give the same EUNAUTHORIZED error after the same argon2id
// work. A hash made with old parameters is upgraded on success. With an
// AccountLimiter, too many attempts on one account give ERATELIMITED (for
// known and unknown names alike) before any hashing.
func (s *Service) Authenticate(ctx context.Context, username, password string) (User, error) {
	return s.authenticate(ctx, username, password, "")
}

func (s *Service) authenticate(ctx context.Context, username, password, address string) (User, error) {
	name, nerr := NormalizeUsername(username)
	if nerr != nil {
		name = "(malformed)"
	}
	if err := s.throttle(ctx, name, address, nerr == nil); err != nil {
		return User{}, err
	}
	var u User
	var err error
	if nerr == nil {
		u, err = s.store.UserByUsername(ctx, name)
	}
	if nerr != nil || qrmfg.ErrorCode(err) == qrmfg.ENOTFOUND {
		if err := s.hasher.VerifyDummy(ctx, password); err != nil {
			return User{}, err
		}
		return User{}, errBadCredentials()
	}
	if err != nil {
		return User{}, err
	}
	ok, rehash, err := s.hasher.Verify(ctx, password, u.PasswordHash)
	if err != nil {
		return User{}, err
	}
	if !ok || u.Disabled {
		return User{}, errBadCredentials()
	}
	if rehash {
		if h, err := s.hasher.Hash(ctx, password); err == nil {
			u.PasswordHash, u.UpdatedAt = h, s.clock.Now()
			_ = s.store.UpdateUser(ctx, u) // best effort: the login stands either way
		}
	}
	return u, nil
}

// throttle charges a password check to the account at address and, unless
// the account logged in from address before, to the account as a whole.
func (s *Service) throttle(ctx context.Context, name, address string, valid bool) error {
	lim := s.cfg.AccountLimiter
	if lim == nil {
		return nil
	}
	keys := []string{"account:" + name + "@" + address}
	known := false
	if valid && address != "" {
		var err error
		if known, err = s.store.KnownLoginAddress(ctx, name, address); err != nil {
			return err
		}
	}
	if !known {
		keys = append(keys, "account:"+name)
	}
	for _, k := range keys {
		d, err := lim.Allow(ctx, k, 1)
		if err != nil {
			return err
		}
		if err := d.Err(); err != nil {
			return err
		}
	}
	return nil
}

// ResetPassword sets a new password and logs the user out everywhere.
func (s *Service) ResetPassword(ctx context.Context, userID, password string) error {
	if err := checkPassword(password); err != nil {
		return err
	}
	u, err := s.managedUser(ctx, userID)
	if err != nil {
		return err
	}
	if u.PasswordHash, err = s.hasher.Hash(ctx, password); err != nil {
		return err
	}
	u.UpdatedAt = s.clock.Now()
	if err := s.store.UpdateUser(ctx, u); err != nil {
		return err
	}
	_, err = s.revokeSessions(ctx, userID, "password reset")
	return err
}

// revokeSessions revokes every refresh token family of a user and every
// access token issued until now: at once in this process, within
// UserCheckEvery in the others (see checkUser).
func (s *Service) revokeSessions(ctx context.Context, userID, reason string) (int, error) {
	if err := s.revokeAccessTokens(ctx, userID); err != nil {
		return 0, err
	}
	return s.store.RevokeUserFamilies(ctx, userID, reason)
}

func (s *Service) revokeAccessTokens(ctx context.Context, userID string) error {
	if err := s.store.RevokeAccessTokens(ctx, userID, s.clock.Now()); err != nil {
		return err
	}
	s.users.Delete(userID)
	return nil
}

// Disable disables a user and revokes its refresh tokens; its access tokens
// stop working within UserCheckEvery (see Identify).
func (s *Service) Disable(ctx context.Context, userID string) error {
	u, err := s.managedUser(ctx, userID)
	if err != nil {
		return err
	}
	u.Disabled, u.UpdatedAt = true, s.clock.Now()
	if err := s.store.UpdateUser(ctx, u); err != nil {
		return err
	}
	s.users.Delete(userID) // this process's access tokens stop now, others' within UserCheckEvery
	_, err = s.store.RevokeUserFamilies(ctx, userID, "user disabled")
	return err
}

// Enable re-enables a disabled user.
func (s *Service) Enable(ctx context.Context, userID string) error {
	u, err := s.managedUser(ctx, userID)
	if err != nil {
		return err
	}
	u.Disabled, u.UpdatedAt = false, s.clock.Now()
	if err := s.store.UpdateUser(ctx, u); err != nil {
		return err
	}
	s.users.Delete(userID)
	return nil
}

// SetRole changes a user's role and production lines and revokes the user's
// refresh tokens; access tokens with the old role stop working within
// UserCheckEvery (see Identify).
func (s *Service) SetRole(ctx context.Context, userID string, role Role, lines []string) (User, error) {
	if !role.Valid() {
		return User{}, qrmfg.FieldError("role", "role must be one of viewer, operator, supervisor, admin")
	}
	lines, err := checkLines(lines)
	if err != nil {
		return User{}, err
	}
	if err := checkGrant(ctx, lines); err != nil {
		return User{}, err
	}
	u, err := s.managedUser(ctx, userID)
	if err != nil {
		return User{}, err
	}
	u.Role, u.Lines, u.UpdatedAt = role, lines, s.clock.Now()
	if err := s.store.UpdateUser(ctx, u); err != nil {
		return User{}, err
	}
	s.users.Delete(userID)
	if _, err := s.store.RevokeUserFamilies(ctx, userID, "role changed"); err != nil {
		return User{}, err
	}
	u.PasswordHash = ""
	return u, nil
}

// User returns a user by id, without its password hash.
func (s *Service) User(ctx context.Context, id string) (User, error) {
	u, err := s.managedUser(ctx, id)
	u.PasswordHash = ""
	return u, err
}

// UserByName returns a user by username (any case), without its password hash.
func (s *Service) UserByName(ctx context.Context, username string) (User, error) {
	name, err := NormalizeUsername(username)
	if err != nil {
		return User{}, err
	}
	u, err := s.store.UserByUsername(ctx, name)
	u.PasswordHash = ""
	return u, err
}

// ListUsers returns every user the actor in ctx may manage, without
// password hashes.
func (s *Service) ListUsers(ctx context.Context) ([]User, error) {
	us, err := s.store.ListUsers(ctx)
	for i := range us {
		us[i].PasswordHash = ""
	}
	return slices.DeleteFunc(us, func(u User) bool { return !withinScope(ctx, u.Lines) }), err
}

// ListAPIKeys returns the keys of an owner (every key when ownerID is
// empty) that the actor in ctx may manage, without their hashes.
func (s *Service) ListAPIKeys(ctx context.Context, ownerID string) ([]APIKey, error) {
	ks, err := s.store.ListAPIKeys(ctx, ownerID)
	return slices.DeleteFunc(ks, func(k APIKey) bool { return !withinScope(ctx, k.Lines) }), err
}

// Session is the answer to a login or refresh.
type Session struct {
	AccessToken      string
	ExpiresAt        time.Time // of the access token
	RefreshToken     string
	RefreshExpiresAt time.Time
	User             User
}

// Login authenticates and starts a new refresh token family.
func (s *Service) Login(ctx context.Context, username, password string) (Session, error) {
	return s.LoginFrom(ctx, username, password, "")
}

// LoginFrom is Login by a client at address (see Config.AccountLimiter);
// a successful login makes address known for the account.
func (s *Service) LoginFrom(ctx context.Context, username, password, address string) (Session, error) {
	u, err := s.authenticate(ctx, username, password, address)
	if err != nil {
		return Session{}, err
	}
	if address != "" {
		if err := s.store.RememberLoginAddress(ctx, u.ID, address, s.clock.Now()); err != nil {
			return Session{}, err
		}
	}
	var raw [32]byte
	_, _ = rand.Read(raw[:])
	rt := base64.RawURLEncoding.EncodeToString(raw[:])
	now := s.clock.Now()
	t := RefreshToken{Hash: hashToken(rt), FamilyID: qrmfg.NewID(), UserID: u.ID, IssuedAt: now, ExpiresAt: now.Add(s.cfg.RefreshTTL)}
	if err := s.store.CreateRefreshToken(ctx, t); err != nil {
		return Session{}, err
	}
	return s.session(u, rt, t.ExpiresAt)
}

func (s *Service) session(u User, refresh string, refreshExp time.Time) (Session, error) {
	at, c, err := s.tokens.IssueNamed(u.ID, u.Username, u.Role, u.Lines)
	if err != nil {
		return Session{}, err
	}
	u.PasswordHash = ""
	return Session{AccessToken: at, ExpiresAt: c.ExpiresAt(), RefreshToken: refresh, RefreshExpiresAt: refreshExp, User: u}, nil
}

func hashToken(t string) []byte {
	h := sha256.Sum256([]byte(t))
	return h[:]
}

// successor derives the refresh token that replaces t.
func (s *Service) successor(t string) string {
	m := hmac.New(sha256.New, s.cfg.RefreshSecret)
	m.Write([]byte("qrmfg refresh successor\x00"))
	m.Write([]byte(t))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// ErrRefreshReuse is wrapped by the error Refresh returns when a used refresh
// token came back outside the grace window: the family is revoked, and the
// caller must write a security audit event.
var ErrRefreshReuse = errors.New("refresh token reuse")

func invalidRefresh(reason string) error {
	return qrmfg.Errorf(qrmfg.EUNAUTHORIZED, "invalid refresh token").WithDetail("reason", reason)
}

// Refresh rotates a refresh token: it returns a new access token and the
// successor refresh token. Presenting the previous token again within the
// grace window returns the same successor; any other reuse revokes the whole
// family and returns an EUNAUTHORIZED error wrapping ErrRefreshReuse (Detail
// "family" names the family, "user" the user).
func (s *Service) Refresh(ctx context.Context, token string) (Session, error) {
	if len(token) != 43 {
		return Session{}, invalidRefresh("malformed")
	}
	if _, err := base64.RawURLEncoding.Strict().DecodeString(token); err != nil {
		return Session{}, invalidRefresh("malformed")
	}
	next := s.successor(token)
	now := s.clock.Now()
	res, err := s.store.RotateRefreshToken(ctx, hashToken(token),
		RefreshToken{Hash: hashToken(next), IssuedAt: now, ExpiresAt: now.Add(s.cfg.RefreshTTL)}, s.cfg.RefreshGrace)
	if err != nil {
		return Session{}, err
	}
	if res.Outcome == Reused {
		// A stolen refresh token may have minted access tokens: every access
		// token of the user issued so far stops working too; the user's
		// other logins get new ones by refreshing.
		if err := s.revokeAccessTokens(ctx, res.Token.UserID); err != nil {
			return Session{}, err
		}
		e := qrmfg.Errorf(qrmfg.EUNAUTHORIZED, "refresh token was already used; every session of this login is revoked")
		e.Err = ErrRefreshReuse
		return Session{}, e.WithDetail("reason", "reuse").WithDetail("family", res.Token.FamilyID).WithDetail("user", res.Token.UserID)
	}
	u, err := s.store.UserByID(ctx, res.Token.UserID)
	if err != nil {
		return Session{}, err
	}
	if u.Disabled {
		_ = s.store.RevokeFamily(ctx, hashToken(next), "user disabled")
		return Session{}, invalidRefresh("user disabled")
	}
	return s.session(u, next, now.Add(s.cfg.RefreshTTL))
}

// Logout revokes the family of a refresh token. An unknown token is not an
// error (logging out twice is fine).
func (s *Service) Logout(ctx context.Context, token string) error {
	err := s.store.RevokeFamily(ctx, hashToken(token), "logout")
	if qrmfg.ErrorCode(err) == qrmfg.ENOTFOUND {
		return nil
	}
	return err
}

// LogoutAll revokes every refresh token family of a user and the access
// tokens issued so far (see revokeSessions).
func (s *Service) LogoutAll(ctx context.Context, userID string) (int, error) {
	return s.revokeSessions(ctx, userID, "logout all")
}

// VerifyAccessToken checks an access token (see Tokens.Parse).
func (s *Service) VerifyAccessToken(token string) (Claims, error) {
	return s.tokens.Parse(token)
}

// NewAPIKeyInput is the input of CreateAPIKey.
type NewAPIKeyInput struct {
	Name    string
	OwnerID string
	Role    Role
	Scopes  []string
	Lines   []string
}

// CreateAPIKey creates a key and returns it in clear; this is the only time
// the key is visible: only its prefix and hash are stored.
func (s *Service) CreateAPIKey(ctx context.Context, in NewAPIKeyInput) (string, APIKey, error) {
	name := strings.TrimSpace(in.Name)
	if name == "" || len(name) > 100 {
		return "", APIKey{}, qrmfg.FieldError("name", "name must be 1-100 characters")
	}
	if !in.Role.Valid() {
		return "", APIKey{}, qrmfg.FieldError("role", "role must be one of viewer, operator, supervisor, admin")
	}
	if len(in.Scopes) == 0 {
		return "", APIKey{}, qrmfg.FieldError("scopes", "at least one scope is required")
	}
	for _, sc := range in.Scopes {
		if !ValidScope(sc) {
			return "", APIKey{}, qrmfg.FieldError("scopes", "scope %q names no operation", sc)
		}
	}
	lines, err := checkLines(in.Lines)
	if err != nil {
		return "", APIKey{}, err
	}
	if err := checkGrant(ctx, lines); err != nil {
		return "", APIKey{}, err
	}
	key, p := NewAPIKeyString()
	k := APIKey{ID: qrmfg.NewID(), Prefix: p.Prefix, Hash: p.SecretHash, Name: name, OwnerID: in.OwnerID, Role: in.Role,
		Scopes: slices.Clone(in.Scopes), Lines: lines, CreatedAt: s.clock.Now()}
	if err := s.store.CreateAPIKey(ctx, k); err != nil {
		return "", APIKey{}, err
	}
	k.Hash = nil
	return key, k, nil
}

// RevokeAPIKey revokes a key by id; a key beyond the lines of the actor in
// ctx does not exist for it.
func (s *Service) RevokeAPIKey(ctx context.Context, id string) error {
	if len(qrmfg.LineScope(ctx)) > 0 {
		ks, err := s.ListAPIKeys(ctx, "")
		if err != nil {
			return err
		}
		if !slices.ContainsFunc(ks, func(k APIKey) bool { return k.ID == id }) {
			return qrmfg.Errorf(qrmfg.ENOTFOUND, "API key %s does not exist", id)
		}
	}
	return s.store.RevokeAPIKey(ctx, id, s.clock.Now())
}

// VerifyAPIKey checks a presented key: format and checksum first (no store
// access for a typo), then the stored hash in constant time and revocation.
// Use is recorded at most once per APIKeyTouchEvery.
func (s *Service) VerifyAPIKey(ctx context.Context, key string) (APIKey, error) {
	p, err := ParseAPIKey(key)
	if err != nil {
		return APIKey{}, err
	}
	k, err := s.store.APIKeyByPrefix(ctx, p.Prefix)
	if qrmfg.ErrorCode(err) == qrmfg.ENOTFOUND {
		return APIKey{}, qrmfg.Errorf(qrmfg.EUNAUTHORIZED, "invalid API key").WithDetail("reason", "unknown key")
	}
	if err != nil {
		return APIKey{}, err
	}
	if subtle.ConstantTimeCompare(k.Hash, p.SecretHash) != 1 {
		return APIKey{}, qrmfg.Errorf(qrmfg.EUNAUTHORIZED, "invalid API key").WithDetail("reason", "secret mismatch")
	}
	if k.RevokedAt != nil {
		return APIKey{}, qrmfg.Errorf(qrmfg.EUNAUTHORIZED, "invalid API key").WithDetail("reason", "revoked")
	}
	if k.OwnerID != "" {
		// A key acts for its owner: a disabled or deleted owner disables it.
		u, err := s.store.UserByID(ctx, k.OwnerID)
		if qrmfg.ErrorCode(err) == qrmfg.ENOTFOUND || err == nil && u.Disabled {
			return APIKey{}, qrmfg.Errorf(qrmfg.EUNAUTHORIZED, "invalid API key").WithDetail("reason", "owner disabled")
		}
		if err != nil {
			return APIKey{}, err
		}
	}
	now := s.clock.Now()
	if last, ok := s.touched.Load(k.ID); !ok || now.Sub(last.(time.Time)) >= s.cfg.APIKeyTouchEvery {
		s.touched.Store(k.ID, now)
		if err := s.store.TouchAPIKey(ctx, k.ID, now, s.cfg.APIKeyTouchEvery); err == nil {
			k.LastUsedAt = &now
		}
	}
	k.Hash = nil
	return k, nil
}

// Principal is the caller the key identifies: its role, limited to its
// scopes and lines (see Principal.Can).
func (k APIKey) Principal() Principal {
	return Principal{Kind: "api_key", ID: k.ID, Name: k.Name, Role: k.Role, Lines: k.Lines, Scopes: k.Scopes}
}

// Bootstrap makes sure an admin exists on first start: when the store has no
// users it creates admin user username with password, or with a random one
// when password is empty. It returns the password to show once (empty when
// nothing was created or the configured password was used).
func (s *Service) Bootstrap(ctx context.Context, username, password string) (created bool, generated string, err error) {
	n, err := s.store.CountUsers(ctx)
	if err != nil || n > 0 {
		return false, "", err
	}
	if username == "" {
		username = "admin"
	}
	if password == "" {
		generated = RandomPassword()
		password = generated
	}
	if _, err := s.CreateUser(ctx, NewUser{Username: username, Password: password, Role: RoleAdmin}); err != nil {
		if qrmfg.ErrorCode(err) == qrmfg.ECONFLICT {
			return false, "", nil // another instance bootstrapped first
		}
		return false, "", err
	}
	return true, generated, nil
}
