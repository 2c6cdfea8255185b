package main

import (
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/qrmfg/qrmfg/internal/audit"
	"github.com/qrmfg/qrmfg/internal/auth"
	"github.com/qrmfg/qrmfg/internal/httpapi"
)

// End-to-end security tests of the gateway (reliability plan §4: T1, T6, T7,
// T10 and the audit trail), each against a real server. Every test prints one
// RESULT line.

// relaxedLimits keep the rate limiters out of the way of tests that are not
// about them: every request comes from 127.0.0.1, and a 429 must not hide
// what the gateway decided.
var relaxedLimits = []string{
	"QRMFG_RATE_LIMIT=100000", "QRMFG_RATE_LIMIT_BURST=100000", "QRMFG_RATE_LIMIT_IP=100000",
	"QRMFG_RATE_LIMIT_LOGINS_PER_MINUTE=100000",
}

// publicOps are the operations anyone may call: health, readiness, and the
// session calls that carry their credential in the body.
var publicOps = []string{"health", "ready", "login", "refresh-token", "logout"}

// harmlessProbes are the mutations whose probe may succeed: they only touch
// the caller's own sessions or add an audit checkpoint.
var harmlessProbes = []string{"logout-all", "create-audit-checkpoint"}

// dummyUID names an item that does not exist where it is used (no batch is
// allocated first), so that item routes answer 404.
const dummyUID = "PAD-V0100-L2025-09-00001"

// secHTTP is the client of these tests: many connections at once (the rate
// test), and a timeout so that an event stream that does not end fails the
// test instead of hanging it.
var secHTTP = &http.Client{Timeout: 15 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 128}}

// call sends a request with cred as the bearer credential ("" sends none)
// and headers as name, value pairs. Unlike do, it returns transport errors
// instead of failing the test, so it may run on any goroutine.
func (s *server) call(method, path, cred, contentType, body string, headers ...string) (response, error) {
	req, err := http.NewRequest(method, s.url+path, strings.NewReader(body))
	if err != nil {
		return response{}, err
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if cred != "" {
		req.Header.Set("Authorization", "Bearer "+cred)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := secHTTP.Do(req)
	if err != nil {
		return response{}, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return response{}, fmt.Errorf("%s %s: read body: %w", method, path, err)
	}
	return response{res.StatusCode, res.Header, b}, nil
}

// mustCall is call failing t on a transport error.
func (s *server) mustCall(t testing.TB, method, path, cred, contentType, body string, headers ...string) response {
	t.Helper()
	r, err := s.call(method, path, cred, contentType, body, headers...)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// permissionsDoc is the answer of GET /auth/permissions.
type permissionsDoc struct {
	Roles       []auth.Role       `json:"roles"`
	Permissions []auth.Permission `json:"permissions"`
	Routes      []httpapi.Route   `json:"routes"`
}

func fetchPermissions(t *testing.T, s *server) permissionsDoc {
	t.Helper()
	r := s.mustCall(t, "GET", "/auth/permissions", s.token, "", "")
	var doc permissionsDoc
	if r.status != 200 {
		t.Fatalf("GET /auth/permissions: %d %s", r.status, r.body)
	}
	if err := json.Unmarshal(r.body, &doc); err != nil {
		t.Fatalf("GET /auth/permissions: %v", err)
	}
	if len(doc.Routes) == 0 {
		t.Fatal("GET /auth/permissions lists no routes")
	}
	return doc
}

var pathParam = regexp.MustCompile(`\{[^}]+\}`)

// concretePath fills a route's path parameters with values naming nothing,
// so that a handler that gets past the gate answers 404 or 422.
func concretePath(p string) string {
	return pathParam.ReplaceAllStringFunc(p, func(param string) string {
		switch param {
		case "{uid}":
			return dummyUID
		case "{file}":
			return dummyUID + ".png"
		case "{component_type}":
			return "NOPE"
		}
		return "nope"
	})
}

// probeBody is a request body that the handler refuses after the gate has
// let the request through: an empty JSON object lacks the required fields;
// the CSV import and the photo upload get a body they cannot read.
func probeBody(r httpapi.Route) (contentType, body string) {
	switch {
	case r.OperationID == "import-items":
		return "text/csv", "{}"
	case r.Method == "GET" || r.Method == "DELETE":
		return "", ""
	}
	return "application/json", "{}"
}

// createUser creates a user with the admin's token and returns its id.
func createUser(t *testing.T, s *server, name, password string, role auth.Role) string {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"username": name, "password": password, "role": role})
	r := s.mustCall(t, "POST", "/auth/users", s.token, "application/json", string(body))
	if r.status != 201 {
		t.Fatalf("create user %s: %d %s", name, r.status, r.body)
	}
	return r.json(t)["id"].(string)
}

// loginFull logs a user in and returns the whole token answer.
func loginFull(t *testing.T, s *server, user, password string) map[string]any {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"username": user, "password": password})
	r := s.mustCall(t, "POST", "/auth/login", "", "application/json", string(body))
	if r.status != 200 {
		t.Fatalf("login %s: %d %s", user, r.status, r.body)
	}
	return r.json(t)
}

// TestRouteTableMatchesOpenAPI (T6 part 1, OWASP API9): the routes the
// gateway reports and the operations the OpenAPI document lists are the same
// set; each is public by design or needs a permission of the table.
func TestRouteTableMatchesOpenAPI(t *testing.T) {
	t.Parallel()
	s := startServer(t, relaxedLimits...)
	doc := fetchPermissions(t, s)
	r := s.mustCall(t, "GET", "/openapi.json", "", "", "")
	if r.status != 200 {
		t.Fatalf("GET /openapi.json: %d", r.status)
	}
	var spec struct {
		Paths    map[string]map[string]json.RawMessage `json:"paths"`
		Security []map[string][]string                 `json:"security"`
	}
	if err := json.Unmarshal(r.body, &spec); err != nil {
		t.Fatal(err)
	}
	key := func(method, path, id string) string { return strings.ToUpper(method) + " " + path + " " + id }
	documented := map[string]bool{}
	needsBearer := map[string]bool{} // the operation's OpenAPI security requirement names the bearer scheme
	for path, item := range spec.Paths {
		for method, raw := range item {
			var op struct {
				OperationID string                 `json:"operationId"`
				Security    *[]map[string][]string `json:"security"`
			}
			if json.Unmarshal(raw, &op) != nil || op.OperationID == "" {
				continue // parameters, summary and other path item fields
			}
			k := key(method, path, op.OperationID)
			documented[k] = true
			sec := spec.Security
			if op.Security != nil {
				sec = *op.Security
			}
			needsBearer[k] = slices.ContainsFunc(sec, func(req map[string][]string) bool {
				_, ok := req["bearer"]
				return ok
			})
		}
	}
	known := map[string]bool{}
	for _, p := range doc.Permissions {
		known[p.Operation] = true
	}
	var problems []string
	listed := map[string]bool{}
	for _, rt := range doc.Routes {
		k := key(rt.Method, rt.Path, rt.OperationID)
		listed[k] = true
		if !documented[k] {
			problems = append(problems, "not in OpenAPI: "+k)
		} else if needsBearer[k] != (rt.Operation != "") {
			problems = append(problems, fmt.Sprintf("%s: OpenAPI says bearer required=%t, the gateway %t", k, needsBearer[k], rt.Operation != ""))
		}
		op, _, inTable := httpapi.RouteRule(rt.OperationID)
		switch {
		case !inTable:
			problems = append(problems, "not in the gateway's route table (refused for everyone): "+k)
		case op != rt.Operation:
			problems = append(problems, fmt.Sprintf("%s: /auth/permissions says %q, the route table %q", k, rt.Operation, op))
		case rt.Operation == "" && !slices.Contains(publicOps, rt.OperationID):
			problems = append(problems, "public but not meant to be: "+k)
		case rt.Operation != "" && slices.Contains(publicOps, rt.OperationID):
			problems = append(problems, "meant to be public but needs "+rt.Operation+": "+k)
		case rt.Operation != "" && !known[rt.Operation]:
			problems = append(problems, fmt.Sprintf("%s needs %q, which is not in the permission table", k, rt.Operation))
		}
	}
	undocumented := 0
	for k := range documented {
		if !listed[k] {
			undocumented++
			problems = append(problems, "in OpenAPI but not in the gateway's routes: "+k)
		}
	}
	sort.Strings(problems)
	for _, p := range problems {
		t.Error(p)
	}
	t.Logf("RESULT T6-routes openapi_operations=%d gateway_routes=%d undocumented=%d problems=%d pass=%t",
		len(documented), len(doc.Routes), undocumented, len(problems), len(problems) == 0)
}

// identity is one caller of the role matrix.
type identity struct {
	name   string
	cred   string    // bearer credential; empty: anonymous
	role   auth.Role // empty: anonymous
	scopes []string  // API keys only
}

// may reports whether the permission table lets the identity call a route
// that needs op ("" for a public route).
func (id identity) may(op string) bool {
	switch {
	case op == "":
		return true
	case id.cred == "" || !auth.Allowed(id.role, op):
		return false
	case id.scopes != nil:
		return slices.ContainsFunc(id.scopes, func(sc string) bool { return auth.ScopeAllows(sc, op) })
	}
	return true
}

// TestRoleMatrix (T6): every route × {anonymous, viewer, operator,
// supervisor, admin, a scoped operator API key}; each cell is allowed or
// denied exactly as the permission table says. The gate runs before huma
// reads the input (huma.Register wraps input parsing in the middleware
// chain), so every request carries a body the handler refuses and a path
// naming nothing: an allowed cell answers 4xx after the gate, never a
// change.
func TestRoleMatrix(t *testing.T) {
	t.Parallel()
	s := startServer(t, relaxedLimits...)
	doc := fetchPermissions(t, s)
	ids := []identity{{name: "anonymous"}}
	for _, role := range []auth.Role{auth.RoleViewer, auth.RoleOperator, auth.RoleSupervisor, auth.RoleAdmin} {
		name, pw := "matrix-"+string(role), "password of "+string(role)
		createUser(t, s, name, pw, role)
		ids = append(ids, identity{name: string(role), cred: s.login(name, pw), role: role})
	}
	scopes := []string{"scanning.*"}
	r := s.mustCall(t, "POST", "/auth/api-keys", s.token, "application/json",
		`{"name":"matrix key","role":"operator","scopes":["scanning.*"]}`)
	if r.status != 201 {
		t.Fatalf("create API key: %d %s", r.status, r.body)
	}
	ids = append(ids, identity{name: "api-key(operator,scanning.*)", cred: r.json(t)["key"].(string), role: auth.RoleOperator, scopes: scopes})

	type cell struct {
		route httpapi.Route
		id    identity
		res   response
		err   error
	}
	var cells []*cell
	for _, rt := range doc.Routes {
		for _, id := range ids {
			cells = append(cells, &cell{route: rt, id: id})
		}
	}
	probe := func(c *cell) {
		ct, body := probeBody(c.route)
		c.res, c.err = s.call(c.route.Method, concretePath(c.route.Path), c.id.cred, ct, body)
	}
	// Logging out everywhere ends the caller's access token: those probes
	// run after every other.
	last := func(c *cell) bool { return c.route.OperationID == "logout-all" }
	work := make(chan *cell)
	var wg sync.WaitGroup
	for range 6 {
		wg.Go(func() {
			for c := range work {
				probe(c)
			}
		})
	}
	for _, c := range cells {
		if !last(c) {
			work <- c
		}
	}
	close(work)
	wg.Wait()
	for _, c := range cells {
		if last(c) {
			probe(c)
		}
	}

	var mismatches, oddities, violations []string
	allowedCells := 0
	for _, c := range cells {
		rt, res := c.route, c.res
		want := c.id.may(rt.Operation)
		where := fmt.Sprintf("%s %s (%s, needs %q) as %s", rt.Method, concretePath(rt.Path), rt.OperationID, rt.Operation, c.id.name)
		got := c.err == nil && res.status != 401 && res.status != 403
		switch {
		case c.err != nil:
			mismatches = append(mismatches, where+": "+c.err.Error())
		case want != got:
			mismatches = append(mismatches, fmt.Sprintf("%s: want allowed=%t, got %d %s", where, want, res.status, res.body))
		case !want && c.id.cred == "" && (res.status != 401 || !strings.HasPrefix(res.header.Get("WWW-Authenticate"), "Bearer")):
			mismatches = append(mismatches, fmt.Sprintf("%s: want 401 with a Bearer challenge, got %d %v", where, res.status, res.header))
		case !want && c.id.cred != "" && res.status != 403:
			mismatches = append(mismatches, fmt.Sprintf("%s: want 403, got %d %s", where, res.status, res.body))
		case got && res.status >= 500:
			oddities = append(oddities, fmt.Sprintf("%s: answered %d %s", where, res.status, res.body))
		case got && res.status < 300 && rt.Method != "GET" && !slices.Contains(harmlessProbes, rt.OperationID):
			oddities = append(oddities, fmt.Sprintf("%s: the probe changed something: %d %s", where, res.status, res.body))
		}
		if !got {
			continue
		}
		allowedCells++
		// Rules that hold whatever the permission table says, so that a
		// wrong row in it (not only a gate that ignores it) is caught.
		public := slices.Contains(publicOps, rt.OperationID)
		self := rt.Operation == auth.OpOwnProfile || rt.Operation == auth.OpOwnSessionsManage
		switch {
		case public:
		case c.id.cred == "":
			violations = append(violations, where+": anonymous caller allowed")
		case c.id.role == auth.RoleViewer && rt.Method != "GET" && !self:
			violations = append(violations, where+": a viewer may change state")
		case c.id.scopes != nil && !strings.HasPrefix(rt.Path, "/scanning/"):
			violations = append(violations, where+": a scanning.* key reaches beyond scanning")
		case (strings.HasPrefix(rt.Path, "/auth/users") || strings.HasPrefix(rt.Path, "/auth/api-keys")) && c.id.role != auth.RoleAdmin:
			violations = append(violations, where+": only admins manage users and keys")
		case strings.HasPrefix(rt.Path, "/audit/") && (c.id.role == auth.RoleViewer || c.id.role == auth.RoleOperator):
			violations = append(violations, where+": the audit trail is for supervisors and admins")
		}
	}
	for _, list := range [][]string{mismatches, oddities, violations} {
		sort.Strings(list)
		for _, m := range list {
			t.Error(m)
		}
	}
	t.Logf("RESULT T6-matrix routes=%d identities=%d mismatched=%d/%d allowed_cells=%d invariant_violations=%d server_errors_or_side_effects=%d pass=%t",
		len(doc.Routes), len(ids), len(mismatches), len(cells), allowedCells, len(violations), len(oddities),
		len(mismatches)+len(oddities)+len(violations) == 0)
}

// b64 is base64url without padding, as JWS uses.
func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// jws signs header.claims with HMAC-SHA256 under key (nil key: no signature).
func jws(header, claims map[string]any, key []byte) string {
	hb, _ := json.Marshal(header)
	cb, _ := json.Marshal(claims)
	in := b64(hb) + "." + b64(cb)
	if key == nil {
		return in + "."
	}
	m := hmac.New(sha256.New, key)
	m.Write([]byte(in))
	return in + "." + b64(m.Sum(nil))
}

// with returns a copy of m with the given keys set; a nil value deletes one.
func with(m map[string]any, kv ...any) map[string]any {
	out := make(map[string]any, len(m)+len(kv)/2)
	for k, v := range m {
		out[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		k := kv[i].(string)
		if kv[i+1] == nil {
			delete(out, k)
			continue
		}
		out[k] = kv[i+1]
	}
	return out
}

// TestBadTokens (T1): tokens that break one rule each, on one GET route of
// every family, are all refused with 401 and a Bearer challenge; the valid
// control tokens are accepted on every route; nothing is fetched from the
// URLs a token header names.
func TestBadTokens(t *testing.T) {
	t.Parallel()
	secret := make([]byte, 32)
	_, _ = rand.Read(secret)
	key := []byte(hex.EncodeToString(secret)) // the server uses the configured text as the key
	s := startServer(t, append([]string{"JWT_SECRET_KEY=" + string(key)}, relaxedLimits...)...)
	ring, err := auth.KeyringFromSecrets(key)
	if err != nil {
		t.Fatal(err)
	}
	kid := ring.SigningKID()

	var fetched atomic.Int64
	canary := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fetched.Add(1)
		w.WriteHeader(http.StatusNotFound)
	}))
	defer canary.Close()

	me := s.mustCall(t, "GET", "/auth/me", s.token, "", "").json(t)
	pub := s.mustCall(t, "GET", "/audit/public-key", s.token, "", "").json(t)
	pubKey, _ := base64.StdEncoding.DecodeString(pub["public_key"].(string))
	refresh := loginFull(t, s, "admin", testAdminPassword)["refresh_token"].(string)

	now := time.Now().Unix()
	hdr := map[string]any{"alg": "HS256", "typ": "at+jwt", "kid": kid}
	cl := map[string]any{"iss": "qrmfg", "aud": "qrmfg-api", "sub": me["id"], "name": "admin", "role": "admin",
		"jti": "sectest-" + strconv.FormatInt(now, 36), "iat": now, "nbf": now, "exp": now + 600}
	valid := jws(hdr, cl, key)
	wrongKey := make([]byte, 32)
	_, _ = rand.Read(wrongKey)
	parts := strings.Split(valid, ".")
	tampered, _ := json.Marshal(with(cl, "sub", "someone-else", "name", "mallory"))

	// Each variant breaks one rule; reason is what the server must have
	// refused it for (the audit entry's reason, never shown to the client).
	variants := []struct{ name, token, reason string }{
		{"alg none", jws(with(hdr, "alg", "none"), cl, nil), `algorithm "none"`},
		{"alg none signed", jws(with(hdr, "alg", "none"), cl, key), `algorithm "none"`},
		{"alg HS512 header", jws(with(hdr, "alg", "HS512"), cl, key), `algorithm "HS512"`},
		{"wrong key", jws(hdr, cl, wrongKey), "bad signature"},
		{"audit public key as HMAC key", jws(hdr, cl, pubKey), "bad signature"},
		{"unknown kid", jws(with(hdr, "kid", "0123456789ab"), cl, key), "unknown key id"},
		{"no kid", jws(with(hdr, "kid", nil), cl, key), "unknown key id"},
		{"kid path traversal", jws(with(hdr, "kid", "../../keys/jwt.key"), cl, key), "unknown key id"},
		{"kid SQL", jws(with(hdr, "kid", "x' OR '1'='1"), cl, key), "unknown key id"},
		{"jku header", jws(with(hdr, "jku", canary.URL+"/jwks.json"), cl, key), `unknown field "jku"`},
		{"x5u header", jws(with(hdr, "x5u", canary.URL+"/cert.pem"), cl, key), `unknown field "x5u"`},
		{"wrong aud", jws(hdr, with(cl, "aud", "other-api"), key), "wrong audience"},
		{"aud array", jws(hdr, with(cl, "aud", []string{"qrmfg-api"}), key), "claims: bad JSON"},
		{"wrong iss", jws(hdr, with(cl, "iss", "https://evil.example"), key), "wrong issuer"},
		{"expired beyond leeway", jws(hdr, with(cl, "iat", now-700, "nbf", now-700, "exp", now-120), key), "expired"},
		{"nbf in the future", jws(hdr, with(cl, "nbf", now+3600), key), "not yet valid"},
		{"iat in the future", jws(hdr, with(cl, "iat", now+3600, "exp", now+3900), key), "bad issued-at"},
		{"missing exp", jws(hdr, with(cl, "exp", nil), key), "no expiry"},
		{"lifetime over the TTL", jws(hdr, with(cl, "exp", now+30*24*3600), key), "lifetime longer than configured"},
		{"unknown role", jws(hdr, with(cl, "role", "root"), key), "unknown role"},
		{"typ JWT", jws(with(hdr, "typ", "JWT"), cl, key), `type "JWT"`},
		{"refresh token as access token", refresh, "not three segments"},
		{"tampered payload, old signature", parts[0] + "." + b64(tampered) + "." + parts[2], "bad signature"},
		{"signature stripped", parts[0] + "." + parts[1] + ".", "bad signature"},
		{"signature removed", parts[0] + "." + parts[1], "not three segments"},
	}
	families := []string{"/inventory/items", "/qr/batches/x", "/engraving/jobs", "/engraving/machines", "/scanning/scans", "/audit/events", "/auth/users"}
	controls := []struct{ name, token string }{{"login token", s.token}, {"hand-signed control", valid}}

	accepted, checked, controlFailures := 0, 0, 0
	type refusal struct{ variant, reason string }
	wantReason := map[string]refusal{} // request id → the variant and the reason it must be refused for
	bodies := map[string]bool{}        // the distinct 401 details
	for _, path := range families {
		for _, c := range controls {
			if r := s.mustCall(t, "GET", path, c.token, "", ""); r.status == 401 || r.status == 403 || r.status >= 500 {
				controlFailures++
				t.Errorf("%s on %s: %d %s", c.name, path, r.status, r.body)
			}
		}
		for _, v := range variants {
			r := s.mustCall(t, "GET", path, v.token, "", "")
			checked++
			if r.status != 401 {
				accepted++
				t.Errorf("%s on %s: got %d, want 401: %s", v.name, path, r.status, r.body)
				continue
			}
			if ch := r.header.Get("WWW-Authenticate"); !strings.HasPrefix(ch, `Bearer realm="qrmfg"`) || !strings.Contains(ch, `error="invalid_token"`) {
				t.Errorf("%s on %s: WWW-Authenticate %q", v.name, path, ch)
			}
			wantReason[r.header.Get("X-Request-ID")] = refusal{v.name, v.reason}
			bodies[fmt.Sprint(r.json(t)["detail"])] = true
		}
	}
	if len(bodies) != 1 {
		t.Errorf("the 401 answers differ by cause, an oracle for forging tokens: %v", bodies)
	}
	// Every refusal is in the audit trail, for the rule the token breaks.
	var rejected struct {
		Events []struct {
			RequestID string `json:"request_id"`
			After     struct {
				Reason string `json:"reason"`
			} `json:"after"`
		} `json:"events"`
	}
	if err := json.Unmarshal(s.mustCall(t, "GET", "/audit/events?action=auth.rejected&limit=1000", s.token, "", "").body, &rejected); err != nil {
		t.Fatal(err)
	}
	wrongReason := 0
	for _, e := range rejected.Events {
		want, ok := wantReason[e.RequestID]
		if !ok {
			continue
		}
		delete(wantReason, e.RequestID)
		if !strings.Contains(e.After.Reason, want.reason) {
			wrongReason++
			t.Errorf("%s: refused for %q, want %q", want.variant, e.After.Reason, want.reason)
		}
	}
	if len(wantReason) > 0 {
		t.Errorf("%d refusals are not in the audit trail", len(wantReason))
	}
	if n := fetched.Load(); n != 0 {
		t.Errorf("the server fetched %d URLs named in token headers", n)
	}
	t.Logf("RESULT T1 variants=%d route_families=%d/%d accepted_bad=%d/%d wrong_reason=%d unaudited=%d control_failures=%d outbound_calls=%d pass=%t",
		len(variants), len(families), len(families), accepted, checked, wrongReason, len(wantReason), controlFailures, fetched.Load(),
		accepted == 0 && controlFailures == 0 && fetched.Load() == 0 && !t.Failed())
}

// securityHeaderProblems lists what is wrong with a response's security
// headers and, for an error, its body.
func securityHeaderProblems(r response) []string {
	var out []string
	want := map[string]string{"X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY"}
	for h, v := range want {
		if got := r.header.Get(h); got != v {
			out = append(out, fmt.Sprintf("%s is %q, want %q", h, got, v))
		}
	}
	if csp := r.header.Get("Content-Security-Policy"); !strings.Contains(csp, "frame-ancestors 'none'") {
		out = append(out, fmt.Sprintf("Content-Security-Policy %q lacks frame-ancestors 'none'", csp))
	}
	for _, h := range []string{"Referrer-Policy", "Cross-Origin-Resource-Policy"} {
		if r.header.Get(h) == "" {
			out = append(out, h+" is missing")
		}
	}
	for _, h := range []string{"Server", "X-Powered-By", "Strict-Transport-Security"} {
		if v := r.header.Get(h); v != "" {
			out = append(out, fmt.Sprintf("%s is sent (%q)", h, v))
		}
	}
	if r.status >= 400 && (strings.Contains(string(r.body), "goroutine") || strings.Contains(string(r.body), ".go:")) {
		out = append(out, "the error body carries a stack trace")
	}
	return out
}

// TestSecurityHeaders (T10): the security headers on every GET route, a
// mutation, errors, an unknown path, the docs and the OpenAPI document; CORS
// answers only the configured origin and never allows credentials.
func TestSecurityHeaders(t *testing.T) {
	t.Parallel()
	const allowed, evil = "https://app.example.com", "https://evil.example"
	s := startServer(t, append([]string{"QRMFG_CORS_ORIGINS=" + allowed}, relaxedLimits...)...)
	doc := fetchPermissions(t, s)
	type probe struct {
		method, path, cred, ctype, body string
		headers                         []string
	}
	var probes []probe
	for _, rt := range doc.Routes {
		if rt.Method == "GET" {
			probes = append(probes, probe{method: "GET", path: concretePath(rt.Path), cred: s.token})
		}
	}
	getRoutes := len(probes)
	probes = append(probes,
		probe{method: "POST", path: "/inventory/batches", cred: s.token, ctype: "application/json", body: seedBatch},       // 201
		probe{method: "POST", path: "/inventory/batches", cred: s.token, ctype: "application/json", body: `{"count":"x"}`}, // 422
		probe{method: "POST", path: "/inventory/batches", cred: s.token, ctype: "application/json", body: `{"count":`},     // 400
		probe{method: "GET", path: "/inventory/items"},                                                                     // 401
		probe{method: "GET", path: "/inventory/items", cred: "not-a-token"},                                                // 401 invalid_token
		probe{method: "GET", path: "/no/such/route", cred: s.token},                                                        // 404 from the mux
		probe{method: "DELETE", path: "/inventory/items", cred: s.token},                                                   // 405 from the mux
		probe{method: "GET", path: "/docs"}, probe{method: "GET", path: "/docs/"},
		probe{method: "GET", path: "/openapi.json"}, probe{method: "GET", path: "/openapi.yaml"},
		// HSTS only over TLS or from a trusted proxy: an untrusted peer cannot ask for it.
		probe{method: "GET", path: "/health", headers: []string{"X-Forwarded-Proto", "https"}},
	)
	checked, failing := 0, 0
	for _, p := range probes {
		r := s.mustCall(t, p.method, p.path, p.cred, p.ctype, p.body, p.headers...)
		checked++
		if probs := securityHeaderProblems(r); len(probs) > 0 {
			failing++
			t.Errorf("%s %s → %d: %s", p.method, p.path, r.status, strings.Join(probs, "; "))
		}
	}

	// CORS.
	corsFailures := 0
	corsErr := func(format string, args ...any) {
		corsFailures++
		t.Errorf("CORS: "+format, args...)
	}
	pre := func(origin string) response {
		return s.mustCall(t, "OPTIONS", "/inventory/items", "", "", "",
			"Origin", origin, "Access-Control-Request-Method", "GET", "Access-Control-Request-Headers", "authorization")
	}
	vary := func(r response) string { return strings.Join(r.header.Values("Vary"), ", ") }
	if r := pre(evil); r.header.Get("Access-Control-Allow-Origin") != "" || r.header.Get("Access-Control-Allow-Methods") != "" {
		corsErr("preflight from %s answered %d with %v", evil, r.status, r.header)
	}
	r := pre(allowed)
	if got := r.header.Get("Access-Control-Allow-Origin"); got != allowed {
		corsErr("preflight from %s: Access-Control-Allow-Origin %q", allowed, got)
	}
	if !strings.Contains(vary(r), "Origin") {
		corsErr("preflight from %s: Vary %q lacks Origin", allowed, vary(r))
	}
	if !strings.Contains(strings.ToLower(r.header.Get("Access-Control-Allow-Headers")), "authorization") {
		corsErr("preflight from %s: Access-Control-Allow-Headers %q lacks Authorization", allowed, r.header.Get("Access-Control-Allow-Headers"))
	}
	if r.status >= 300 {
		corsErr("preflight from %s: status %d", allowed, r.status)
	}
	for _, origin := range []string{allowed, evil} {
		g := s.mustCall(t, "GET", "/inventory/items?limit=1", s.token, "", "", "Origin", origin)
		want := ""
		if origin == allowed {
			want = allowed
		}
		if got := g.header.Get("Access-Control-Allow-Origin"); got != want || g.status != 200 {
			corsErr("GET from %s: %d, Access-Control-Allow-Origin %q, want %q", origin, g.status, got, want)
		}
		if !strings.Contains(vary(g), "Origin") {
			corsErr("GET from %s: Vary %q lacks Origin", origin, vary(g))
		}
		for _, x := range []response{g, pre(origin)} {
			if x.header.Get("Access-Control-Allow-Credentials") != "" {
				corsErr("%s: Access-Control-Allow-Credentials sent", origin)
			}
			if x.header.Get("Access-Control-Allow-Origin") == "*" {
				corsErr("%s: Access-Control-Allow-Origin *", origin)
			}
		}
	}
	t.Logf("RESULT T10 routes_checked=%d get_routes=%d other_probes=%d failing=%d cors_failures=%d pass=%t",
		checked, getRoutes, checked-getRoutes, failing, corsFailures, failing == 0 && corsFailures == 0)
}

// rateLimitT parses the t parameter of a RateLimit field ("default";r=0;t=1).
func rateLimitT(field string) (int, bool) {
	for _, p := range strings.Split(field, ";") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(p), "t="); ok {
			n, err := strconv.Atoi(v)
			return n, err == nil
		}
	}
	return 0, false
}

// TestRateLimitHTTP (T7 over HTTP): at 10 req/s with a burst of 20, a caller
// sending 100 req/s for 3 s gets 20 + 10×3 through, every refusal carries
// consistent RateLimit fields, and another caller is not affected; the codes
// quota refuses a large allocation while the rest of the API still answers.
func TestRateLimitHTTP(t *testing.T) {
	t.Parallel()
	const (
		rate, burst = 10, 20
		flood       = 3 * time.Second
	)
	// The per-address limit is raised: every caller here is 127.0.0.1, and
	// this test is about the per-identity limit.
	s := startServer(t, "QRMFG_RATE_LIMIT="+strconv.Itoa(rate), "QRMFG_RATE_LIMIT_BURST="+strconv.Itoa(burst),
		"QRMFG_RATE_LIMIT_IP=100000", "QRMFG_RATE_LIMIT_LOGINS_PER_MINUTE=100000",
		"QRMFG_RATE_LIMIT_CODES_PER_HOUR=100", "QRMFG_MAX_BATCH=1000")
	createUser(t, s, "steady", "steady password", auth.RoleOperator)
	createUser(t, s, "allocator", "allocator password", auth.RoleOperator)
	steady := s.login("steady", "steady password")
	allocator := s.login("allocator", "allocator password")
	time.Sleep(250 * time.Millisecond) // the admin's two calls above are replenished

	var (
		mu                               sync.Mutex
		ok, limited, other, badHeaders   int
		steadyOK, steadyLimited, steadyX int
		errs                             []error
		wg                               sync.WaitGroup
	)
	send := func(token string, record func(response)) {
		defer wg.Done()
		r, err := s.call("GET", "/inventory/items?limit=1", token, "", "")
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			errs = append(errs, err)
			return
		}
		record(r)
	}
	floodRecord := func(r response) {
		switch r.status {
		case 200:
			ok++
		case 429:
			limited++
			ra, err := strconv.Atoi(r.header.Get("Retry-After"))
			tv, tok := rateLimitT(r.header.Get("RateLimit"))
			if err != nil || !tok || tv != ra || r.header.Get("RateLimit-Policy") == "" {
				if badHeaders == 0 {
					t.Errorf("429 headers: Retry-After %q RateLimit %q RateLimit-Policy %q",
						r.header.Get("Retry-After"), r.header.Get("RateLimit"), r.header.Get("RateLimit-Policy"))
				}
				badHeaders++
			}
		default:
			other++
		}
	}
	steadyRecord := func(r response) {
		switch r.status {
		case 200:
			steadyOK++
		case 429:
			steadyLimited++
		default:
			steadyX++
		}
	}
	fast, slow := time.NewTicker(time.Second/100), time.NewTicker(time.Second/5)
	end := time.After(flood)
	start := time.Now()
	wg.Add(1)
	go send(s.token, floodRecord) // the first one at once
loop:
	for {
		select {
		case <-fast.C:
			wg.Add(1)
			go send(s.token, floodRecord)
		case <-slow.C:
			wg.Add(1)
			go send(steady, steadyRecord)
		case <-end:
			break loop
		}
	}
	fast.Stop()
	slow.Stop()
	wg.Wait()
	for _, err := range errs {
		t.Error(err)
	}
	// GCRA admits burst + rate × the time the requests took to arrive: the
	// flood's 3 s, or a little more when a loaded machine delays the last
	// requests (span: until the last answer came back).
	span := time.Since(start)
	want := burst + rate*int(flood/time.Second)
	most := burst + int(float64(rate)*span.Seconds())
	if ok < want-2 || ok > most+2 || other != 0 {
		t.Errorf("flood: %d accepted, want %d ± 2 (%d over %v: up to %d) (%d limited, %d other)", ok, want, ok, span.Round(time.Millisecond), most+2, limited, other)
	}
	if steadyLimited != 0 || steadyX != 0 || steadyOK == 0 {
		t.Errorf("steady caller: %d ok, %d limited, %d other", steadyOK, steadyLimited, steadyX)
	}

	// The codes quota: 100 codes an hour with a burst of QRMFG_MAX_BATCH.
	batch := func(lot string, count int) response {
		return s.mustCall(t, "POST", "/inventory/batches", allocator, "application/json",
			fmt.Sprintf(`{"component_type":"PAD","vendor_code":"V0100","lot_number":"%s","count":%d}`, lot, count))
	}
	first, second := batch("L-QUOTA-1", 1000), batch("L-QUOTA-2", 50)
	after := s.mustCall(t, "GET", "/inventory/items?limit=1", allocator, "", "")
	quotaOK := first.status == 201 && second.status == 429 && second.header.Get("Retry-After") != "" &&
		second.header.Get("RateLimit-Policy") != "" && after.status == 200
	if !quotaOK {
		t.Errorf("codes quota: 1000 → %d, then 50 → %d (Retry-After %q, RateLimit-Policy %q) %s, then GET → %d",
			first.status, second.status, second.header.Get("Retry-After"), second.header.Get("RateLimit-Policy"), second.body, after.status)
	}
	t.Logf("RESULT T7 accepted=%d want=%d±2 limited=%d bad_429_headers=%d steady_ok=%d steady_429=%d codes_quota_429=%t pass=%t",
		ok, want, limited, badHeaders, steadyOK, steadyLimited, second.status == 429, !t.Failed())
}

// TestAuditTrailOfMutations: mutations, a refused call, a failed login and a
// refresh-token reuse each leave an entry naming the actor, the action, the
// object, the request id of the response and the outcome; no password is
// ever recorded; the chain verifies and a checkpoint is signed.
func TestAuditTrailOfMutations(t *testing.T) {
	t.Parallel()
	s := startServer(t, relaxedLimits...)
	const (
		viewerPW, wrongPW, resetPW = "viewer secret pw 1", "not the password 9", "viewer secret pw 2"
		uid                        = "PAD-V0100-L2025-09-00007" // an item of seedBatch
	)

	type expect struct {
		what, requestID                  string
		actor, action, objectID, outcome string // actor: the name, or the id when it starts with "id:"
	}
	// created is an objectID for a creation: the gateway records no id for
	// the object a POST creates (the id is only in the response), so the
	// entry is not checked for it; the RESULT line counts these entries.
	const created = "(created)"
	var exps []expect
	reqID := func(r response) string { return r.header.Get("X-Request-ID") }

	r := s.mustCall(t, "POST", "/inventory/batches", s.token, "application/json", seedBatch, "X-Request-ID", "sectest-allocate-1")
	if r.status != 201 || reqID(r) != "sectest-allocate-1" {
		t.Fatalf("allocate: %d, X-Request-ID %q: %s", r.status, reqID(r), r.body)
	}
	exps = append(exps, expect{"allocate", reqID(r), "admin", "inventory.batch.allocate", created, "success"})
	r = s.mustCall(t, "POST", "/inventory/items/"+uid+"/transitions", s.token, "application/json", `{"to":"engraved","reason":"qc"}`)
	if r.status != 200 {
		t.Fatalf("transition: %d %s", r.status, r.body)
	}
	exps = append(exps, expect{"transition", reqID(r), "admin", "inventory.item.transition", uid, "success"})
	r = s.mustCall(t, "POST", "/inventory/items/"+uid+"/transitions", s.token, "application/json", `{"to":"shipped"}`)
	exps = append(exps, expect{"refused transition", reqID(r), "admin", "inventory.item.transition", uid, "failed"})

	body, _ := json.Marshal(map[string]any{"username": "auditee", "password": viewerPW, "role": "viewer"})
	r = s.mustCall(t, "POST", "/auth/users", s.token, "application/json", string(body))
	if r.status != 201 {
		t.Fatalf("create user: %d %s", r.status, r.body)
	}
	viewerID := r.json(t)["id"].(string)
	exps = append(exps, expect{"create user", reqID(r), "admin", "auth.user.create", created, "success"})

	sess := loginFull(t, s, "auditee", viewerPW)
	viewer := sess["access_token"].(string)
	r = s.mustCall(t, "POST", "/inventory/batches", viewer, "application/json", seedBatch)
	if r.status != 403 {
		t.Fatalf("viewer allocating: %d %s", r.status, r.body)
	}
	exps = append(exps, expect{"forbidden", reqID(r), "auditee", "auth.forbidden", "allocate-batch", "denied"})

	body, _ = json.Marshal(map[string]string{"username": "auditee", "password": wrongPW})
	r = s.mustCall(t, "POST", "/auth/login", "", "application/json", string(body))
	if r.status != 401 {
		t.Fatalf("wrong password: %d %s", r.status, r.body)
	}
	exps = append(exps, expect{"failed login", reqID(r), "auditee", "auth.login", "", "failed"})

	// Reuse without waiting out the grace window: RT0 → RT1 → RT2, then RT0
	// again: its successor has been used, so this is a replay, not a lost
	// response, and the whole login is revoked.
	refresh := func(rt string) response {
		return s.mustCall(t, "POST", "/auth/refresh", "", "application/json", `{"refresh_token":"`+rt+`"}`)
	}
	rt0 := sess["refresh_token"].(string)
	r1 := refresh(rt0)
	if r1.status != 200 {
		t.Fatalf("refresh: %d %s", r1.status, r1.body)
	}
	r2 := refresh(r1.json(t)["refresh_token"].(string))
	if r2.status != 200 {
		t.Fatalf("refresh: %d %s", r2.status, r2.body)
	}
	r = refresh(rt0)
	if r.status != 401 {
		t.Fatalf("reused refresh token: %d %s", r.status, r.body)
	}
	exps = append(exps, expect{"refresh reuse", reqID(r), "id:" + viewerID, "auth.refresh.reuse", "", "denied"})
	if r := refresh(r2.json(t)["refresh_token"].(string)); r.status != 401 {
		t.Errorf("the newest refresh token of a revoked login: %d %s", r.status, r.body)
	}

	body, _ = json.Marshal(map[string]string{"password": resetPW})
	r = s.mustCall(t, "POST", "/auth/users/"+viewerID+"/password", s.token, "application/json", string(body))
	if r.status != 204 {
		t.Fatalf("reset password: %d %s", r.status, r.body)
	}
	exps = append(exps, expect{"reset password", reqID(r), "admin", "auth.user.reset_password", viewerID, "success"})

	r = s.mustCall(t, "GET", "/audit/events?limit=1000", s.token, "", "")
	if r.status != 200 {
		t.Fatalf("audit events: %d %s", r.status, r.body)
	}
	var page struct {
		Events []struct {
			Actor struct {
				Kind string `json:"kind"`
				ID   string `json:"id"`
				Name string `json:"name"`
			} `json:"actor"`
			Action    string `json:"action"`
			ObjectID  string `json:"object_id"`
			RequestID string `json:"request_id"`
			Outcome   string `json:"outcome"`
		} `json:"events"`
	}
	if err := json.Unmarshal(r.body, &page); err != nil {
		t.Fatal(err)
	}
	found, noObjectID := 0, 0
	for _, e := range exps {
		hit := false
		for _, ev := range page.Events {
			if ev.RequestID != e.requestID || ev.Action != e.action {
				continue
			}
			hit = true
			actor := ev.Actor.Name
			if strings.HasPrefix(e.actor, "id:") {
				actor = "id:" + ev.Actor.ID
			}
			if e.objectID == created && ev.ObjectID == "" {
				noObjectID++
				t.Errorf("%s: the entry does not name the created object", e.what)
			}
			if actor != e.actor || e.objectID != "" && e.objectID != created && ev.ObjectID != e.objectID || ev.Outcome != e.outcome {
				t.Errorf("%s: entry actor %+v object %q outcome %q, want actor %q object %q outcome %q",
					e.what, ev.Actor, ev.ObjectID, ev.Outcome, e.actor, e.objectID, e.outcome)
			}
			if ev.Actor.Kind == "" || ev.Actor.ID == "" || ev.Actor.Name == "" {
				t.Errorf("%s: incomplete actor %+v", e.what, ev.Actor)
			}
		}
		if !hit {
			t.Errorf("%s: no %s entry with request id %q", e.what, e.action, e.requestID)
			continue
		}
		found++
	}

	export := s.mustCall(t, "GET", "/audit/export?format=csv", s.token, "", "")
	leaks := 0
	secrets := []string{viewerPW, wrongPW, resetPW, testAdminPassword, s.token, viewer, rt0,
		r1.json(t)["refresh_token"].(string), r2.json(t)["refresh_token"].(string)}
	for i, secret := range secrets {
		if strings.Contains(string(export.body), secret) || strings.Contains(string(r.body), secret) {
			leaks++
			t.Errorf("secret %d is in the audit trail", i)
		}
	}
	if export.status != 200 || !strings.Contains(string(export.body), "[redacted]") {
		t.Errorf("export: %d, redacted request bodies: %t", export.status, strings.Contains(string(export.body), "[redacted]"))
	}

	v := s.mustCall(t, "GET", "/audit/verify", s.token, "", "").json(t)
	cp := s.mustCall(t, "POST", "/audit/checkpoints", s.token, "", "")
	var c audit.Checkpoint
	_ = json.Unmarshal(cp.body, &c)
	pub, _ := base64.StdEncoding.DecodeString(fmt.Sprint(s.mustCall(t, "GET", "/audit/public-key", s.token, "", "").json(t)["public_key"]))
	signed := cp.status == 201 && c.Size > int64(len(exps)) && len(pub) == ed25519.PublicKeySize &&
		ed25519.Verify(pub, c.Message(), c.Signature)
	if v["ok"] != true || !signed {
		t.Errorf("verify %v; checkpoint %d %s (signature verifies: %t)", v, cp.status, cp.body, signed)
	}
	t.Logf("RESULT audit-trail expected_entries=%d/%d creations_without_object_id=%d password_leaks=%d verify_ok=%v checkpoint_signed=%t pass=%t",
		found, len(exps), noObjectID, leaks, v["ok"], signed, !t.Failed())
}
