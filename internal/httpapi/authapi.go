package httpapi

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/qrmfg/qrmfg/internal/audit"
	"github.com/qrmfg/qrmfg/internal/auth"
	"github.com/qrmfg/qrmfg/internal/metrics"
	"github.com/qrmfg/qrmfg/internal/qrmfg"
)

// UserView is a user as the API shows it: never its password hash.
type UserView struct {
	ID        string    `json:"id"`
	Username  string    `json:"username"`
	Role      auth.Role `json:"role" enum:"viewer,operator,supervisor,admin"`
	Lines     []string  `json:"lines" doc:"Production lines the user is restricted to; empty: all"`
	Disabled  bool      `json:"disabled"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

func userView(u auth.User) UserView {
	lines := u.Lines
	if lines == nil {
		lines = []string{}
	}
	return UserView{ID: u.ID, Username: u.Username, Role: u.Role, Lines: lines, Disabled: u.Disabled, CreatedAt: u.CreatedAt, UpdatedAt: u.UpdatedAt}
}

// APIKeyView is an API key as the API shows it: never its hash.
type APIKeyView struct {
	ID         string     `json:"id"`
	Prefix     string     `json:"prefix" doc:"The public part of the key, to recognise it"`
	Name       string     `json:"name"`
	OwnerID    string     `json:"owner_id"`
	Role       auth.Role  `json:"role"`
	Scopes     []string   `json:"scopes"`
	Lines      []string   `json:"lines"`
	CreatedAt  time.Time  `json:"created_at"`
	LastUsedAt *time.Time `json:"last_used_at,omitempty"`
	RevokedAt  *time.Time `json:"revoked_at,omitempty"`
}

func apiKeyView(k auth.APIKey) APIKeyView {
	lines := k.Lines
	if lines == nil {
		lines = []string{}
	}
	return APIKeyView{ID: k.ID, Prefix: k.Prefix, Name: k.Name, OwnerID: k.OwnerID, Role: k.Role, Scopes: k.Scopes,
		Lines: lines, CreatedAt: k.CreatedAt, LastUsedAt: k.LastUsedAt, RevokedAt: k.RevokedAt}
}

type loginInput struct {
	Body struct {
		Username string `json:"username" minLength:"1" maxLength:"200"`
		Password string `json:"password" minLength:"1" maxLength:"1024"`
	}
}

type refreshInput struct {
	Body struct {
		RefreshToken string `json:"refresh_token" minLength:"1" maxLength:"200"`
	}
}

// TokenResponse is the answer to a login or a refresh.
type TokenResponse struct {
	AccessToken      string    `json:"access_token"`
	TokenType        string    `json:"token_type" example:"Bearer"`
	ExpiresIn        int       `json:"expires_in" doc:"Seconds until the access token expires"`
	RefreshToken     string    `json:"refresh_token" doc:"Single use: each refresh returns its successor"`
	RefreshExpiresAt time.Time `json:"refresh_expires_at"`
	User             UserView  `json:"user"`
}

type tokenOutput struct {
	CacheControl string `header:"Cache-Control"`
	Body         TokenResponse
}

func tokenOut(sess auth.Session) *tokenOutput {
	return &tokenOutput{CacheControl: "no-store", Body: TokenResponse{
		AccessToken: sess.AccessToken, TokenType: "Bearer", ExpiresIn: int(time.Until(sess.ExpiresAt).Seconds()),
		RefreshToken: sess.RefreshToken, RefreshExpiresAt: sess.RefreshExpiresAt, User: userView(sess.User)}}
}

// MeResponse describes the caller.
type MeResponse struct {
	Kind        string    `json:"kind" enum:"user,api_key"`
	ID          string    `json:"id"`
	Name        string    `json:"name"`
	Role        auth.Role `json:"role"`
	Lines       []string  `json:"lines"`
	Scopes      []string  `json:"scopes,omitempty"`
	Permissions []string  `json:"permissions" doc:"Every operation the caller may perform"`
}

type meOutput struct{ Body MeResponse }

type passwordChangeInput struct {
	Body struct {
		CurrentPassword string `json:"current_password" minLength:"1" maxLength:"1024"`
		NewPassword     string `json:"new_password" minLength:"1" maxLength:"1024"`
	}
}

type permissionsOutput struct {
	Body struct {
		Roles       []auth.Role       `json:"roles"`
		Permissions []auth.Permission `json:"permissions"`
		Routes      []Route           `json:"routes"`
	}
}

type usersOutput struct {
	Body struct {
		Users []UserView `json:"users"`
	}
}

type userOutput struct{ Body UserView }

type userIDInput struct {
	ID string `path:"id" maxLength:"64"`
}

type createUserInput struct {
	Body struct {
		Username string    `json:"username" minLength:"1" maxLength:"64"`
		Password string    `json:"password" minLength:"1" maxLength:"1024"`
		Role     auth.Role `json:"role" enum:"viewer,operator,supervisor,admin"`
		Lines    []string  `json:"lines,omitempty" maxItems:"100"`
	}
}

type updateUserInput struct {
	ID   string `path:"id" maxLength:"64"`
	Body struct {
		Role     *auth.Role `json:"role,omitempty" enum:"viewer,operator,supervisor,admin"`
		Lines    *[]string  `json:"lines,omitempty" maxItems:"100"`
		Disabled *bool      `json:"disabled,omitempty"`
	}
}

type resetPasswordInput struct {
	ID   string `path:"id" maxLength:"64"`
	Body struct {
		Password string `json:"password" minLength:"1" maxLength:"1024"`
	}
}

type apiKeysOutput struct {
	Body struct {
		APIKeys []APIKeyView `json:"api_keys"`
	}
}

type createAPIKeyInput struct {
	Body struct {
		Name   string    `json:"name" minLength:"1" maxLength:"100"`
		Role   auth.Role `json:"role" enum:"viewer,operator,supervisor,admin"`
		Scopes []string  `json:"scopes" minItems:"1" maxItems:"50" doc:"Operations the key may perform: an operation, a prefix like inventory.*, or *"`
		Lines  []string  `json:"lines,omitempty" maxItems:"100"`
	}
}

type createdAPIKeyOutput struct {
	CacheControl string `header:"Cache-Control"`
	Body         struct {
		Key    string     `json:"key" doc:"The key itself. It is shown this once and cannot be recovered."`
		APIKey APIKeyView `json:"api_key"`
	}
}

func (s *Server) registerAuth() {
	tags := []string{"auth"}
	huma.Register(s.api, huma.Operation{OperationID: "login", Method: http.MethodPost, Path: "/auth/login",
		Summary: "Log in: an access token and a refresh token", Tags: tags, Security: []map[string][]string{},
		Description: "Unknown user, wrong password and disabled user get the same 401. Attempts are throttled per account and per client address (429).",
		Errors:      []int{http.StatusUnauthorized, http.StatusTooManyRequests}},
		func(ctx context.Context, in *loginInput) (*tokenOutput, error) {
			if s.opt.Auth == nil {
				return nil, s.fail(ctx, qrmfg.Errorf(qrmfg.EUNAVAILABLE, "authentication is not configured on this server"))
			}
			ip := clientAddr(ctx)
			if p := s.charge(ctx, s.opt.Limits.Login, "login_ip", "login-ip:"+ip, 1, nil); p != nil {
				s.countLogin(metrics.LoginRateLimited)
				return nil, p
			}
			sess, err := s.opt.Auth.LoginFrom(ctx, in.Body.Username, in.Body.Password, ip)
			if err != nil {
				if code := qrmfg.ErrorCode(err); code == qrmfg.EUNAUTHORIZED || code == qrmfg.ERATELIMITED {
					if code == qrmfg.EUNAUTHORIZED {
						s.countLogin(metrics.LoginInvalidCredentials)
					} else {
						s.countLogin(metrics.LoginRateLimited)
						if s.opt.Metrics != nil {
							s.opt.Metrics.RateLimited("login_account")
						}
					}
					// The name as typed, unless it cannot be a user name (a
					// password typed into the wrong field must not be kept).
					name, nerr := auth.NormalizeUsername(in.Body.Username)
					if nerr != nil {
						name = "(malformed)"
					}
					actx := qrmfg.WithActor(ctx, qrmfg.Actor{Kind: "anonymous", ID: ip, Name: name})
					s.record(actx, "auth.login", "user", "", map[string]any{"username": name, "ip": ip, "error": code}, audit.Failed)
				}
				return nil, s.fail(ctx, err)
			}
			actx := qrmfg.WithActor(ctx, qrmfg.Actor{Kind: "user", ID: sess.User.ID, Name: sess.User.Username})
			s.record(actx, "auth.login", "user", sess.User.ID, map[string]any{"ip": ip}, audit.Success)
			s.countLogin(metrics.LoginSuccess)
			return tokenOut(sess), nil
		})
	huma.Register(s.api, huma.Operation{OperationID: "refresh-token", Method: http.MethodPost, Path: "/auth/refresh",
		Summary: "Trade a refresh token for new tokens", Tags: tags, Security: []map[string][]string{},
		Description: "Each refresh token works once and is replaced by the one returned. Presenting the previous one again within " +
			"a few seconds (a lost response) returns the same new pair; any other reuse revokes every token of that login (401).",
		Errors: []int{http.StatusUnauthorized}},
		func(ctx context.Context, in *refreshInput) (*tokenOutput, error) {
			if s.opt.Auth == nil {
				return nil, s.fail(ctx, qrmfg.Errorf(qrmfg.EUNAVAILABLE, "authentication is not configured on this server"))
			}
			sess, err := s.opt.Auth.Refresh(ctx, in.Body.RefreshToken)
			if err != nil {
				if errors.Is(err, auth.ErrRefreshReuse) {
					e := qrmfg.AsError(err)
					user, _ := e.Detail["user"].(string)
					name := user
					if u, err := s.opt.Auth.User(ctx, user); err == nil {
						name = u.Username
					}
					actx := qrmfg.WithActor(ctx, qrmfg.Actor{Kind: "user", ID: user, Name: name})
					s.record(actx, "auth.refresh.reuse", "token_family", stringOf(e.Detail["family"]),
						map[string]any{"revoked": "family"}, audit.Denied)
				}
				p := s.fail(ctx, err)
				p.Extra = nil
				return nil, p
			}
			return tokenOut(sess), nil
		})
	huma.Register(s.api, huma.Operation{OperationID: "logout", Method: http.MethodPost, Path: "/auth/logout",
		Summary: "Log out: revoke the refresh token's login", Tags: tags, Security: []map[string][]string{},
		DefaultStatus: http.StatusNoContent},
		func(ctx context.Context, in *refreshInput) (*struct{}, error) {
			if s.opt.Auth == nil {
				return nil, s.fail(ctx, qrmfg.Errorf(qrmfg.EUNAVAILABLE, "authentication is not configured on this server"))
			}
			if err := s.opt.Auth.Logout(ctx, in.Body.RefreshToken); err != nil {
				return nil, s.fail(ctx, err)
			}
			s.record(qrmfg.WithActor(ctx, anonymous(ctx)), "auth.logout", "token_family", "", nil, audit.Success)
			return nil, nil
		})
	huma.Register(s.api, huma.Operation{OperationID: "logout-all", Method: http.MethodPost, Path: "/auth/logout-all",
		Summary: "Revoke every refresh token of the caller (log out everywhere)", Tags: tags},
		func(ctx context.Context, _ *struct{}) (*struct {
			Body struct {
				Revoked int `json:"revoked" doc:"Logins revoked"`
			}
		}, error) {
			pr, err := s.userPrincipal(ctx)
			if err != nil {
				return nil, err
			}
			n, err := s.opt.Auth.LogoutAll(ctx, pr.ID)
			if err != nil {
				return nil, s.fail(ctx, err)
			}
			out := &struct {
				Body struct {
					Revoked int `json:"revoked" doc:"Logins revoked"`
				}
			}{}
			out.Body.Revoked = n
			return out, nil
		})
	huma.Register(s.api, huma.Operation{OperationID: "me", Method: http.MethodGet, Path: "/auth/me",
		Summary: "Who the caller is and what it may do", Tags: tags},
		func(ctx context.Context, _ *struct{}) (*meOutput, error) {
			pr, _ := auth.PrincipalFrom(ctx)
			out := &meOutput{Body: MeResponse{Kind: pr.Kind, ID: pr.ID, Name: pr.Name, Role: pr.Role, Lines: pr.Lines, Scopes: pr.Scopes}}
			if out.Body.Lines == nil {
				out.Body.Lines = []string{}
			}
			out.Body.Permissions = []string{}
			for _, p := range auth.Permissions() {
				if pr.Can(p.Operation) {
					out.Body.Permissions = append(out.Body.Permissions, p.Operation)
				}
			}
			return out, nil
		})
	huma.Register(s.api, huma.Operation{OperationID: "change-own-password", Method: http.MethodPost, Path: "/auth/me/password",
		Summary: "Change the caller's password (logs out every other session)", Tags: tags, DefaultStatus: http.StatusNoContent},
		func(ctx context.Context, in *passwordChangeInput) (*struct{}, error) {
			pr, err := s.userPrincipal(ctx)
			if err != nil {
				return nil, err
			}
			u, err := s.opt.Auth.User(ctx, pr.ID)
			if err != nil {
				return nil, s.fail(ctx, err)
			}
			if _, err := s.opt.Auth.Authenticate(ctx, u.Username, in.Body.CurrentPassword); err != nil {
				return nil, s.fail(ctx, qrmfg.Errorf(qrmfg.EFORBIDDEN, "the current password is wrong"))
			}
			if err := s.opt.Auth.ResetPassword(ctx, pr.ID, in.Body.NewPassword); err != nil {
				return nil, s.fail(ctx, err)
			}
			return nil, nil
		})
	huma.Register(s.api, huma.Operation{OperationID: "permissions", Method: http.MethodGet, Path: "/auth/permissions",
		Summary: "The permission table: roles, operations, and the operation each route needs", Tags: tags},
		func(ctx context.Context, _ *struct{}) (*permissionsOutput, error) {
			out := &permissionsOutput{}
			out.Body.Roles = auth.Roles
			out.Body.Permissions = auth.Permissions()
			out.Body.Routes = s.Routes()
			return out, nil
		})
	s.registerUsers()
}

func (s *Server) registerUsers() {
	tags := []string{"auth"}
	huma.Register(s.api, huma.Operation{OperationID: "list-users", Method: http.MethodGet, Path: "/auth/users",
		Summary: "Every user", Tags: tags},
		func(ctx context.Context, _ *struct{}) (*usersOutput, error) {
			us, err := s.opt.Auth.ListUsers(ctx)
			if err != nil {
				return nil, s.fail(ctx, err)
			}
			out := &usersOutput{}
			out.Body.Users = make([]UserView, len(us))
			for i, u := range us {
				out.Body.Users[i] = userView(u)
			}
			return out, nil
		})
	huma.Register(s.api, huma.Operation{OperationID: "create-user", Method: http.MethodPost, Path: "/auth/users",
		Summary: "Create a user", Tags: tags, DefaultStatus: http.StatusCreated,
		Description: "Passwords have at least 10 characters. A taken username (in any case) is 409."},
		func(ctx context.Context, in *createUserInput) (*userOutput, error) {
			u, err := s.opt.Auth.CreateUser(ctx, auth.NewUser{Username: in.Body.Username, Password: in.Body.Password, Role: in.Body.Role, Lines: in.Body.Lines})
			if err != nil {
				return nil, s.fail(ctx, err)
			}
			return &userOutput{Body: userView(u)}, nil
		})
	huma.Register(s.api, huma.Operation{OperationID: "get-user", Method: http.MethodGet, Path: "/auth/users/{id}",
		Summary: "A user", Tags: tags},
		func(ctx context.Context, in *userIDInput) (*userOutput, error) {
			u, err := s.opt.Auth.User(ctx, in.ID)
			if err != nil {
				return nil, s.fail(ctx, err)
			}
			return &userOutput{Body: userView(u)}, nil
		})
	huma.Register(s.api, huma.Operation{OperationID: "update-user", Method: http.MethodPatch, Path: "/auth/users/{id}",
		Summary: "Change a user's role, lines, or disable it", Tags: tags,
		Description: "A change of role or lines, and disabling, revoke the user's refresh tokens; access tokens already issued stop working within seconds."},
		func(ctx context.Context, in *updateUserInput) (*userOutput, error) {
			u, err := s.opt.Auth.User(ctx, in.ID)
			if err != nil {
				return nil, s.fail(ctx, err)
			}
			if pr, _ := auth.PrincipalFrom(ctx); pr.Kind == "user" && pr.ID == u.ID && (in.Body.Disabled != nil && *in.Body.Disabled ||
				in.Body.Role != nil && *in.Body.Role != auth.RoleAdmin) {
				return nil, s.fail(ctx, qrmfg.Errorf(qrmfg.ECONFLICT, "an admin cannot disable or demote itself; ask another admin"))
			}
			if in.Body.Role != nil || in.Body.Lines != nil {
				role, lines := u.Role, u.Lines
				if in.Body.Role != nil {
					role = *in.Body.Role
				}
				if in.Body.Lines != nil {
					lines = *in.Body.Lines
				}
				if u, err = s.opt.Auth.SetRole(ctx, u.ID, role, lines); err != nil {
					return nil, s.fail(ctx, err)
				}
			}
			if in.Body.Disabled != nil && *in.Body.Disabled != u.Disabled {
				f := s.opt.Auth.Enable
				if *in.Body.Disabled {
					f = s.opt.Auth.Disable
				}
				if err := f(ctx, u.ID); err != nil {
					return nil, s.fail(ctx, err)
				}
			}
			if u, err = s.opt.Auth.User(ctx, u.ID); err != nil {
				return nil, s.fail(ctx, err)
			}
			return &userOutput{Body: userView(u)}, nil
		})
	huma.Register(s.api, huma.Operation{OperationID: "reset-user-password", Method: http.MethodPost, Path: "/auth/users/{id}/password",
		Summary: "Set a user's password (logs the user out everywhere)", Tags: tags, DefaultStatus: http.StatusNoContent},
		func(ctx context.Context, in *resetPasswordInput) (*struct{}, error) {
			if err := s.opt.Auth.ResetPassword(ctx, in.ID, in.Body.Password); err != nil {
				return nil, s.fail(ctx, err)
			}
			return nil, nil
		})
	huma.Register(s.api, huma.Operation{OperationID: "list-api-keys", Method: http.MethodGet, Path: "/auth/api-keys",
		Summary: "Every API key (without secrets)", Tags: tags},
		func(ctx context.Context, _ *struct{}) (*apiKeysOutput, error) {
			ks, err := s.opt.Auth.ListAPIKeys(ctx, "")
			if err != nil {
				return nil, s.fail(ctx, err)
			}
			out := &apiKeysOutput{}
			out.Body.APIKeys = make([]APIKeyView, len(ks))
			for i, k := range ks {
				out.Body.APIKeys[i] = apiKeyView(k)
			}
			return out, nil
		})
	huma.Register(s.api, huma.Operation{OperationID: "create-api-key", Method: http.MethodPost, Path: "/auth/api-keys",
		Summary: "Create an API key for a machine or service", Tags: tags, DefaultStatus: http.StatusCreated,
		Description: "The answer holds the key once; only its prefix and a hash are kept."},
		func(ctx context.Context, in *createAPIKeyInput) (*createdAPIKeyOutput, error) {
			pr, _ := auth.PrincipalFrom(ctx)
			owner := ""
			if pr.Kind == "user" {
				owner = pr.ID
			}
			key, k, err := s.opt.Auth.CreateAPIKey(ctx, auth.NewAPIKeyInput{Name: in.Body.Name, OwnerID: owner, Role: in.Body.Role,
				Scopes: in.Body.Scopes, Lines: in.Body.Lines})
			if err != nil {
				return nil, s.fail(ctx, err)
			}
			out := &createdAPIKeyOutput{CacheControl: "no-store"}
			out.Body.Key, out.Body.APIKey = key, apiKeyView(k)
			return out, nil
		})
	huma.Register(s.api, huma.Operation{OperationID: "revoke-api-key", Method: http.MethodDelete, Path: "/auth/api-keys/{id}",
		Summary: "Revoke an API key", Tags: tags, DefaultStatus: http.StatusNoContent},
		func(ctx context.Context, in *userIDInput) (*struct{}, error) {
			if err := s.opt.Auth.RevokeAPIKey(ctx, in.ID); err != nil {
				return nil, s.fail(ctx, err)
			}
			return nil, nil
		})
}

// userPrincipal returns the calling user; an API key gets 403.
func (s *Server) userPrincipal(ctx context.Context) (auth.Principal, error) {
	pr, ok := auth.PrincipalFrom(ctx)
	if !ok || pr.Kind != "user" {
		return pr, s.fail(ctx, qrmfg.Errorf(qrmfg.EFORBIDDEN, "only a user (not an API key) can do this"))
	}
	return pr, nil
}

// record appends an audit entry, logging (not returning) a failure.
func (s *Server) record(ctx context.Context, action, objectType, objectID string, after map[string]any, outcome audit.Outcome) {
	if s.opt.Audit == nil {
		return
	}
	if _, err := s.opt.Audit.Record(context.WithoutCancel(ctx), action, objectType, objectID, nil, after, outcome); err != nil {
		s.log.Error("audit record failed", "action", action, "request_id", qrmfg.RequestID(ctx), "err", err)
	}
}

func stringOf(v any) string {
	s, _ := v.(string)
	return s
}

// countLogin counts a login attempt by result when metrics are on.
func (s *Server) countLogin(result string) {
	if s.opt.Metrics != nil {
		s.opt.Metrics.Login(result)
	}
}
