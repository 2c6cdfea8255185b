package auth

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/qrmfg/qrmfg/internal/qrmfg"
)

// Principal is the authenticated caller of a request: a user holding an
// access token, or an API key.
type Principal struct {
	Kind   string   // "user" or "api_key"
	ID     string   // user id or API key id
	Name   string   // username for users, key name for keys
	Role   Role     // what the role allows
	Lines  []string // production lines the caller is restricted to; empty = all
	Scopes []string // API keys only: the operations the key is limited to
}

// Can reports whether the principal may perform op: its role allows it and,
// for an API key, one of its scopes grants it.
func (p Principal) Can(op string) bool {
	if !Allowed(p.Role, op) {
		return false
	}
	if p.Kind == "api_key" {
		return slices.ContainsFunc(p.Scopes, func(sc string) bool { return ScopeAllows(sc, op) })
	}
	return true
}

// Authorize returns nil when the principal may perform op and an EFORBIDDEN
// error naming the operation otherwise.
func (p Principal) Authorize(op string) error {
	if p.Can(op) {
		return nil
	}
	return qrmfg.Errorf(qrmfg.EFORBIDDEN, "%s %s may not perform %s", p.Role, strings.ReplaceAll(p.Kind, "_", " "), op).
		WithDetail("operation", op)
}

// CanAccessLine reports whether the principal may see or touch objects of a
// production line (an unrestricted principal may touch every line, and an
// object without a line is visible to everyone).
func (p Principal) CanAccessLine(line string) bool {
	return len(p.Lines) == 0 || line == "" || slices.Contains(p.Lines, line)
}

// Actor returns the principal as the acting identity of the shared kernel.
func (p Principal) Actor() qrmfg.Actor {
	return qrmfg.Actor{Kind: p.Kind, ID: p.ID, Name: p.Name, Role: string(p.Role), Lines: slices.Clone(p.Lines)}
}

// maxAuthorizationLen bounds the Authorization header looked at.
const maxAuthorizationLen = 8192

// ParseAuthorization extracts the credential of an Authorization header of
// the form "Bearer <credential>" (scheme case-insensitive, RFC 9110 §11.1).
// Any other scheme, an empty credential, or whitespace or control characters
// inside the credential are EUNAUTHORIZED.
func ParseAuthorization(h string) (string, error) {
	bad := func(reason string) (string, error) {
		return "", qrmfg.Errorf(qrmfg.EUNAUTHORIZED, "missing or malformed Authorization header; use 'Bearer <token>'").
			WithDetail("reason", reason)
	}
	if h == "" {
		return bad("missing")
	}
	if len(h) > maxAuthorizationLen {
		return bad("too long")
	}
	scheme, cred, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return bad("not a Bearer credential")
	}
	cred = strings.TrimLeft(cred, " ")
	if cred == "" {
		return bad("empty credential")
	}
	for i := 0; i < len(cred); i++ {
		if c := cred[i]; c <= ' ' || c >= 0x7f {
			return bad("bad character in credential")
		}
	}
	return cred, nil
}

// Identify authenticates a request from its Authorization header: an API key
// (recognised by its "qrmfg_" tag) or an access token. Every failure is
// EUNAUTHORIZED.
func (s *Service) Identify(ctx context.Context, authorization string) (Principal, error) {
	cred, err := ParseAuthorization(authorization)
	if err != nil {
		return Principal{}, err
	}
	if strings.HasPrefix(cred, apiKeyTag) {
		k, err := s.VerifyAPIKey(ctx, cred)
		if err != nil {
			return Principal{}, err
		}
		return k.Principal(), nil
	}
	c, err := s.tokens.Parse(cred)
	if err != nil {
		return Principal{}, err
	}
	if err := s.checkUser(ctx, c); err != nil {
		return Principal{}, err
	}
	name := c.Name
	if name == "" {
		name = c.Subject
	}
	return Principal{Kind: "user", ID: c.Subject, Name: name, Role: c.Role, Lines: c.Lines}, nil
}

type principalKey struct{}

// WithPrincipal returns a context carrying the authenticated principal and,
// for the shared kernel, its actor.
func WithPrincipal(ctx context.Context, p Principal) context.Context {
	return qrmfg.WithActor(context.WithValue(ctx, principalKey{}, p), p.Actor())
}

// PrincipalFrom returns the principal of the request in ctx, if any.
func PrincipalFrom(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(Principal)
	return p, ok
}

// userCheck is what Identify last learned of a user.
type userCheck struct {
	at    time.Time
	user  User
	found bool
}

// checkUser refuses an access token whose user has since been disabled or
// removed, whose tokens were revoked after it was issued (logout everywhere,
// password change, refresh reuse), or whose role or lines changed (the user logs in again to get
// them). The user is looked up at most once per UserCheckEvery.
func (s *Service) checkUser(ctx context.Context, c Claims) error {
	now := s.clock.Now()
	var uc userCheck
	if v, ok := s.users.Load(c.Subject); ok {
		uc = v.(userCheck)
	}
	if uc.at.IsZero() || now.Sub(uc.at) >= s.cfg.UserCheckEvery {
		u, err := s.store.UserByID(ctx, c.Subject)
		switch {
		case err == nil:
			uc = userCheck{at: now, user: u, found: true}
		case qrmfg.ErrorCode(err) == qrmfg.ENOTFOUND:
			uc = userCheck{at: now}
		default:
			return err
		}
		s.users.Store(c.Subject, uc)
	}
	switch {
	case !uc.found:
		return invalidToken("user unknown")
	case uc.user.Disabled:
		return invalidToken("user disabled")
	case !uc.user.TokensValidAfter.IsZero() && !c.IssuedTime().After(uc.user.TokensValidAfter):
		return invalidToken("revoked")
	case uc.user.Role != c.Role || !slices.Equal(uc.user.Lines, c.Lines) && (len(uc.user.Lines) > 0 || len(c.Lines) > 0):
		return invalidToken("role or lines changed")
	}
	return nil
}
