package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/adapters/humago"

	"github.com/qrmfg/qrmfg/internal/audit"
	"github.com/qrmfg/qrmfg/internal/auth"
	"github.com/qrmfg/qrmfg/internal/gateway/ratelimit"
	"github.com/qrmfg/qrmfg/internal/qrmfg"
)

// rule is what a route needs and what it leaves in the audit trail.
type rule struct {
	// op is the permission the caller needs (an auth.Op* operation). Empty
	// means the route is public: health, readiness, and the login, refresh
	// and logout calls, which carry their credential in the body.
	op string
	// action names a mutation in the audit trail; reads have none. Routes
	// that audit themselves (login) or whose effect is its own record (scans)
	// have none either.
	action string
	object string // audit object type
	param  string // path parameter that names the object
	// stream marks a server-sent event stream: it holds its connection
	// while the client listens, so it is admitted within StreamLimits.
	stream bool
}

// routes is the gateway's route table: every operation the API registers is
// here, keyed by operation id, and TestRouteTable checks both directions. A
// route missing from the table is refused (fail closed).
var routes = map[string]rule{
	// Health and sessions.
	"health":              {},
	"ready":               {},
	"login":               {},
	"refresh-token":       {},
	"logout":              {},
	"logout-all":          {op: auth.OpOwnSessionsManage, action: "auth.logout_all", object: "user"},
	"me":                  {op: auth.OpOwnProfile},
	"change-own-password": {op: auth.OpOwnProfile, action: "auth.password.change", object: "user"},
	"permissions":         {op: auth.OpOwnProfile},

	// Users and API keys.
	"list-users":          {op: auth.OpUsersManage},
	"create-user":         {op: auth.OpUsersManage, action: "auth.user.create", object: "user"},
	"get-user":            {op: auth.OpUsersManage},
	"update-user":         {op: auth.OpUsersManage, action: "auth.user.update", object: "user", param: "id"},
	"reset-user-password": {op: auth.OpUsersManage, action: "auth.user.reset_password", object: "user", param: "id"},
	"list-api-keys":       {op: auth.OpAPIKeysManage},
	"create-api-key":      {op: auth.OpAPIKeysManage, action: "auth.api_key.create", object: "api_key"},
	"revoke-api-key":      {op: auth.OpAPIKeysManage, action: "auth.api_key.revoke", object: "api_key", param: "id"},

	// Audit.
	"list-audit-events":       {op: auth.OpAuditRead},
	"export-audit-events":     {op: auth.OpAuditRead},
	"list-audit-checkpoints":  {op: auth.OpAuditRead},
	"audit-public-key":        {op: auth.OpAuditRead},
	"verify-audit":            {op: auth.OpAuditVerify},
	"create-audit-checkpoint": {op: auth.OpAuditVerify, action: "audit.checkpoint.create", object: "audit_checkpoint"},

	// Inventory.
	"list-items":          {op: auth.OpInventoryRead},
	"get-item":            {op: auth.OpInventoryRead},
	"item-upstream":       {op: auth.OpInventoryRead},
	"item-downstream":     {op: auth.OpInventoryRead},
	"item-statuses":       {op: auth.OpInventoryRead},
	"get-batch":           {op: auth.OpInventoryRead},
	"list-thresholds":     {op: auth.OpInventoryRead},
	"list-alerts":         {op: auth.OpInventoryRead},
	"inventory-analytics": {op: auth.OpReportsRead},
	"export-items":        {op: auth.OpReportsRead},
	"allocate-batch":      {op: auth.OpInventoryWrite, action: "inventory.batch.allocate", object: "batch"},
	"update-item":         {op: auth.OpInventoryWrite, action: "inventory.item.update", object: "item", param: "uid"},
	"transition-item":     {op: auth.OpInventoryWrite, action: "inventory.item.transition", object: "item", param: "uid"},
	"bulk-transition":     {op: auth.OpInventoryWrite, action: "inventory.items.transition", object: "item"},
	"install-item":        {op: auth.OpInventoryWrite, action: "inventory.item.install", object: "item", param: "uid"},
	"remove-item":         {op: auth.OpInventoryWrite, action: "inventory.item.remove", object: "item", param: "uid"},
	"acknowledge-alert":   {op: auth.OpInventoryWrite, action: "inventory.alert.acknowledge", object: "alert", param: "id"},
	"import-items":        {op: auth.OpInventoryImport, action: "inventory.items.import", object: "item"},
	"set-threshold":       {op: auth.OpInventoryConfigure, action: "inventory.threshold.set", object: "threshold", param: "component_type"},
	"delete-threshold":    {op: auth.OpInventoryConfigure, action: "inventory.threshold.delete", object: "threshold", param: "component_type"},

	// QR generation.
	"generate":            {op: auth.OpQRGenerate, action: "qr.batch.generate", object: "batch"},
	"get-generated-batch": {op: auth.OpGenerationRead},
	"batch-events":        {op: auth.OpGenerationRead, stream: true},
	"download-batch":      {op: auth.OpGenerationRead},
	"item-image":          {op: auth.OpGenerationRead},
	"preview-code":        {op: auth.OpQRGenerate},

	// Engraving.
	"list-engraving-jobs":        {op: auth.OpEngravingRead},
	"get-engraving-job":          {op: auth.OpEngravingRead},
	"engraving-job-events":       {op: auth.OpEngravingRead, stream: true},
	"engraving-job-gcode":        {op: auth.OpEngravingRead},
	"engraving-job-preview":      {op: auth.OpEngravingRead},
	"create-engraving-job":       {op: auth.OpEngravingWrite, action: "engraving.job.create", object: "job"},
	"create-engraving-jobs-bulk": {op: auth.OpEngravingWrite, action: "engraving.jobs.create", object: "job"},
	"cancel-engraving-job":       {op: auth.OpEngravingWrite, action: "engraving.job.cancel", object: "job", param: "id"},
	"set-engraving-job-priority": {op: auth.OpEngravingWrite, action: "engraving.job.reprioritize", object: "job", param: "id"},
	"retry-engraving-job":        {op: auth.OpEngravingWrite, action: "engraving.job.retry", object: "job", param: "id"},
	"resolve-engraving-job":      {op: auth.OpEngravingResolve, action: "engraving.job.resolve", object: "job", param: "id"},
	"list-machines":              {op: auth.OpMachinesRead},
	"get-machine":                {op: auth.OpMachinesRead},
	"machine-events":             {op: auth.OpMachinesRead, stream: true},
	"machine-history":            {op: auth.OpMachinesRead},
	"register-machine":           {op: auth.OpMachinesManage, action: "engraving.machine.register", object: "machine"},
	"connect-machine":            {op: auth.OpMachinesControl, action: "engraving.machine.connect", object: "machine", param: "id"},
	"disconnect-machine":         {op: auth.OpMachinesControl, action: "engraving.machine.disconnect", object: "machine", param: "id"},
	"frame-machine":              {op: auth.OpMachinesControl, action: "engraving.machine.frame", object: "machine", param: "id"},
	"home-machine":               {op: auth.OpMachinesControl, action: "engraving.machine.home", object: "machine", param: "id"},
	"pause-machine":              {op: auth.OpMachinesControl, action: "engraving.machine.pause", object: "machine", param: "id"},
	"resume-machine":             {op: auth.OpMachinesControl, action: "engraving.machine.resume", object: "machine", param: "id"},
	"unlock-machine":             {op: auth.OpMachinesUnlock, action: "engraving.machine.unlock", object: "machine", param: "id"},

	// Scanning. A scan is its own record (the scans table, with the user), so
	// scans are not copied into the audit trail; sessions are.
	"scan-image":         {op: auth.OpScanningScan},
	"scan-texts":         {op: auth.OpScanningScan},
	"list-scans":         {op: auth.OpScanningRead},
	"get-session":        {op: auth.OpScanningRead},
	"session-events":     {op: auth.OpScanningRead, stream: true},
	"session-report-csv": {op: auth.OpScanningRead},
	"session-report-pdf": {op: auth.OpScanningRead},
	"open-session":       {op: auth.OpScanningSessions, action: "scanning.session.open", object: "session"},
	"close-session":      {op: auth.OpScanningSessions, action: "scanning.session.close", object: "session", param: "id"},
}

// Route is one row of the route table, for documentation and tests.
type Route struct {
	OperationID string `json:"operation_id"`
	Method      string `json:"method"`
	Path        string `json:"path"`
	Operation   string `json:"operation,omitempty"` // the permission; empty for public routes
	AuditAction string `json:"audit_action,omitempty"`
}

// Routes lists every registered operation with the permission it needs, in
// the order of the OpenAPI document's paths.
func (s *Server) Routes() []Route {
	var out []Route
	for path, item := range s.api.OpenAPI().Paths {
		for method, op := range map[string]*huma.Operation{"GET": item.Get, "POST": item.Post, "PUT": item.Put,
			"PATCH": item.Patch, "DELETE": item.Delete} {
			if op == nil {
				continue
			}
			r := routes[op.OperationID]
			out = append(out, Route{OperationID: op.OperationID, Method: method, Path: path, Operation: r.op, AuditAction: r.action})
		}
	}
	slices.SortFunc(out, func(a, b Route) int {
		if c := strings.Compare(a.Path, b.Path); c != 0 {
			return c
		}
		return strings.Compare(a.Method, b.Method)
	})
	return out
}

// RouteRule reports the permission and audit action of an operation id, and
// whether the route table has it.
func RouteRule(operationID string) (op, action string, ok bool) {
	r, ok := routes[operationID]
	return r.op, r.action, ok
}

// Limits are the gateway's rate limiters; a nil limiter does not limit.
type Limits struct {
	Identity ratelimit.Limiter // every request of a user or API key
	IP       ratelimit.Limiter // every request from a client address
	Login    ratelimit.Limiter // login attempts per client address
	Codes    ratelimit.Limiter // QR codes generated or allocated (cost = count)
	Uploads  ratelimit.Limiter // photos uploaded to scan
}

// gate is the huma middleware every operation passes: it authenticates the
// caller, checks the route's permission, charges the caller's rate limit,
// runs the operation, and records a mutation in the audit trail.
func (s *Server) gate(ctx huma.Context, next func(huma.Context)) {
	r, w := humago.Unwrap(ctx)
	ru, known := routes[ctx.Operation().OperationID]
	rctx, p := s.admit(r, w, ctx.Operation().OperationID, ru, known)
	if p != nil {
		writeProblem(w, p)
		return
	}
	var body *capture
	sw, _ := w.(*statusWriter)
	if ru.action != "" && s.opt.Audit != nil {
		body = captureBody(r)
		if sw != nil && ru.param == "" {
			sw.keep = createdIDLimit // a creation: its id is in the answer
		}
	}
	// The services note the production lines of the objects the operation
	// touches, for its audit entry (qrmfg.ConcernedLines).
	rctx = qrmfg.WithLineNotes(rctx)
	if ru.stream {
		release, p := s.admitStream(rctx)
		if p != nil {
			writeProblem(w, p)
			return
		}
		defer release()
	}
	ctx = withReadDeadline(huma.WithContext(ctx, rctx), r, w)
	status := 0
	if err := checkText(ctx, r); err != nil {
		p := s.fail(rctx, err)
		writeProblem(w, p)
		status = p.Status
	} else {
		next(ctx)
		status = ctx.Status()
	}
	if ru.action != "" {
		id := ctx.Param(ru.param)
		if ru.param == "" && sw != nil {
			id = createdID(sw.head)
			if id == "" {
				id = sw.Header().Get("X-Batch-ID") // a file answer (ZIP, PDF)
			}
		}
		var broken error
		if sw != nil {
			// What was written: a streamed answer that only wrote its body
			// has the implicit 200, which the handler's context never saw.
			status, broken = sw.status, sw.broken
		}
		s.auditMutation(rctx, ru, id, status, broken, body)
	}
	if sw != nil && sw.broken != nil {
		// The client must not take a cut stream for a whole file: end the
		// connection without the end of the body (a short chunked answer
		// is then an error on the client's side, not a short ZIP or PDF).
		panic(http.ErrAbortHandler)
	}
}

// streamFailed records that a streamed answer could not be finished. Before
// anything was written the client gets the problem; after, the gate audits
// the request as failed and cuts the connection.
func (s *Server) streamFailed(ctx context.Context, hc huma.Context, err error) {
	_, w := humago.Unwrap(hc)
	sw, ok := w.(*statusWriter)
	if ok && sw.status == 0 {
		writeProblem(w, s.fail(ctx, err))
		return
	}
	if ok {
		sw.broken = err
	}
}

// createdIDLimit bounds the answer read for a created object's id.
const createdIDLimit = 4 << 10

// createdID finds the id of what a request created in the start of its JSON
// answer: "id", "uid" or "batch_id" at the top level, or the "id" of the one
// object the answer wraps ({"api_key": {...}}). Nothing else of the answer
// is kept (it may hold a secret shown once, such as a new API key).
func createdID(head []byte) string {
	dec := json.NewDecoder(bytes.NewReader(head))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return ""
	}
	wrapped := ""
	// Walk the top-level members in order; the answer may be cut off after
	// the id, so stop at the first member that does not decode.
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			break
		}
		key, _ := t.(string)
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			break
		}
		switch key {
		case "id", "uid", "batch_id":
			var v string
			if json.Unmarshal(raw, &v) == nil && v != "" {
				return v
			}
		default:
			var inner struct {
				ID string `json:"id"`
			}
			if wrapped == "" && len(raw) > 0 && raw[0] == '{' && json.Unmarshal(raw, &inner) == nil {
				wrapped = inner.ID
			}
		}
	}
	return wrapped
}

// guard is gate for the few routes served by plain handlers (multipart
// uploads).
func (s *Server) guard(operationID string, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ru, known := routes[operationID]
		ctx, p := s.admit(r, w, operationID, ru, known)
		if p != nil {
			writeProblem(w, p)
			return
		}
		sw, ok := w.(*statusWriter)
		h(w, r.WithContext(ctx))
		if ru.action != "" && ok {
			s.auditMutation(ctx, ru, r.PathValue(ru.param), sw.status, sw.broken, nil)
		}
	}
}

// admit decides whether the request may run the operation and returns the
// context to run it with, or the problem to answer.
func (s *Server) admit(r *http.Request, w http.ResponseWriter, opID string, ru rule, known bool) (context.Context, *Problem) {
	ctx := r.Context()
	if !known {
		s.log.Error("operation is not in the gateway's route table; refusing it", "operation", opID)
		return ctx, s.fail(ctx, qrmfg.Errorf(qrmfg.EFORBIDDEN, "operation %s is not in the permission table", opID))
	}
	authz := r.Header.Get("Authorization")
	if ru.op == "" {
		// Public: a credential, if any, is still checked so that the actor is
		// known, but a bad one does not block a health probe.
		if authz != "" && s.opt.Auth != nil {
			if pr, err := s.opt.Auth.Identify(ctx, authz); err == nil {
				ctx = auth.WithPrincipal(ctx, pr)
			}
		}
		return ctx, nil
	}
	if s.opt.Auth == nil {
		return ctx, s.unauthorized(ctx, "authentication is not configured on this server", "")
	}
	if authz == "" {
		return ctx, s.unauthorized(ctx, "authentication required: send Authorization: Bearer <access token or API key>", "")
	}
	pr, err := s.opt.Auth.Identify(ctx, authz)
	if err != nil {
		if qrmfg.ErrorCode(err) != qrmfg.EUNAUTHORIZED {
			return ctx, s.fail(ctx, err)
		}
		who, reason := anonymous(ctx), auth.RejectReason(err)
		if s.refusals.allow(ctx, who.ID, reason) {
			s.auditSecurity(qrmfg.WithActor(ctx, who), "auth.rejected", "operation", opID, map[string]any{"reason": reason})
		}
		return ctx, s.unauthorized(ctx, qrmfg.ErrorMessage(err), "invalid_token")
	}
	ctx = auth.WithPrincipal(ctx, pr)
	// The identity's quota is charged before the permission check, so a
	// flood of forbidden calls is limited (and audited) like any other.
	if p := s.charge(ctx, s.opt.Limits.Identity, "identity", "id:"+pr.Kind+":"+pr.ID, 1, w.Header()); p != nil {
		return ctx, p
	}
	if err := pr.Authorize(ru.op); err != nil {
		s.auditSecurity(ctx, "auth.forbidden", "operation", opID, map[string]any{"permission": ru.op})
		return ctx, s.fail(ctx, err)
	}
	return ctx, nil
}

// admitStream takes one of the caller's event streams (429 when it holds its
// share, 503 when the process holds all it may) and returns its release.
func (s *Server) admitStream(ctx context.Context) (release func(), p *Problem) {
	key := "anonymous:" + clientAddr(ctx)
	if pr, ok := auth.PrincipalFrom(ctx); ok {
		key = pr.Kind + ":" + pr.ID
	}
	release, err := s.streams.acquire(key)
	if err != nil {
		return nil, s.fail(ctx, err)
	}
	return release, nil
}

// refusalAudit bounds how many refused credentials of one kind (the reason)
// one client address leaves in the audit trail: 60 at once, then 10 a
// minute. Every distinct failure is kept; a flood of the same one would only
// grow the log, and what is left out is logged as a warning.
type refusalAudit struct {
	limiter ratelimit.Limiter
	log     *slog.Logger
}

func newRefusalAudit(log *slog.Logger) refusalAudit {
	l, _ := ratelimit.NewMemory(ratelimit.Policy{Name: "audit-refusals", Rate: 10, Period: time.Minute, Burst: 60}, ratelimit.Options{MaxKeys: 10_000})
	return refusalAudit{limiter: l, log: log}
}

func (a refusalAudit) allow(ctx context.Context, addr, reason string) bool {
	if a.limiter == nil {
		return true
	}
	d, err := a.limiter.Allow(ctx, addr+"|"+reason, 1)
	if err != nil || d.Allowed {
		return true
	}
	a.log.Warn("refused credential beyond the audit quota of its address; not audited", "addr", addr, "reason", reason, "request_id", qrmfg.RequestID(ctx))
	return false
}

func (s *Server) unauthorized(ctx context.Context, msg, errCode string) *Problem {
	p := s.fail(ctx, qrmfg.Errorf(qrmfg.EUNAUTHORIZED, "%s", msg))
	p.Extra = nil
	chal := `Bearer realm="qrmfg"`
	if errCode != "" {
		chal += `, error="` + errCode + `"`
	}
	p.Headers = http.Header{"Www-Authenticate": {chal}}
	return p
}

// spend charges cost to the caller's quota on l (the codes or uploads
// limiter) and returns the problem to answer when it is spent.
func (s *Server) spend(ctx context.Context, l ratelimit.Limiter, limit string, cost int) error {
	if l == nil || cost <= 0 || cost > l.Policy().Burst {
		// A request larger than the whole burst is over QRMFG_MAX_BATCH,
		// which the service refuses with a 422 naming the field.
		return nil
	}
	key := "anonymous"
	if pr, ok := auth.PrincipalFrom(ctx); ok {
		key = pr.Kind + ":" + pr.ID
	}
	if p := s.charge(ctx, l, limit, key, cost, nil); p != nil {
		return p
	}
	return nil
}

// charge spends cost of key's quota on l (nil: no limit; limit is its name
// in the metrics) and returns nil to go on, or the 429 problem with
// Retry-After and the RateLimit fields. With h, the fields of an allowed
// request are written there too.
func (s *Server) charge(ctx context.Context, l ratelimit.Limiter, limit, key string, cost int, h http.Header) *Problem {
	if l == nil {
		return nil
	}
	d, err := l.Allow(ctx, key, cost)
	if err != nil {
		return s.fail(ctx, err)
	}
	if d.Allowed {
		if h != nil {
			d.WriteHeaders(h)
		}
		return nil
	}
	if s.opt.Metrics != nil {
		s.opt.Metrics.RateLimited(limit)
	}
	p := s.fail(ctx, d.Err())
	p.Headers = http.Header{}
	d.WriteHeaders(p.Headers)
	return p
}

// authorizeAlso checks a permission beyond the route's own, for operations
// whose input decides what they need (voiding or scrapping items).
func (s *Server) authorizeAlso(ctx context.Context, op string) error {
	pr, ok := auth.PrincipalFrom(ctx)
	if !ok {
		return s.fail(ctx, qrmfg.Errorf(qrmfg.EUNAUTHORIZED, "authentication required"))
	}
	if err := pr.Authorize(op); err != nil {
		s.auditSecurity(ctx, "auth.forbidden", "operation", op, map[string]any{"permission": op})
		return s.fail(ctx, err)
	}
	return nil
}

// anonymous is the actor of a request without a valid credential: its
// client address.
func anonymous(ctx context.Context) qrmfg.Actor {
	ip := clientAddr(ctx)
	return qrmfg.Actor{Kind: "anonymous", ID: ip, Name: ip}
}

type clientAddrKey struct{}

// clientAddr is the request's client address, found once by the middleware
// (see clientIP).
func clientAddr(ctx context.Context) string {
	a, _ := ctx.Value(clientAddrKey{}).(string)
	return a
}

// capture keeps the first bytes of a request body for the audit trail.
type capture struct {
	io.ReadCloser
	buf bytes.Buffer
}

const captureLimit = 8 << 10

func (c *capture) Read(p []byte) (int, error) {
	n, err := c.ReadCloser.Read(p)
	if room := captureLimit + 1 - c.buf.Len(); room > 0 && n > 0 {
		c.buf.Write(p[:min(n, room)])
	}
	return n, err
}

func captureBody(r *http.Request) *capture {
	ct := r.Header.Get("Content-Type")
	if r.Body == nil || !strings.Contains(ct, "json") {
		return nil
	}
	c := &capture{ReadCloser: r.Body}
	r.Body = c
	return c
}

// secretKeys are request fields never copied into the audit trail.
var secretKeys = []string{"password", "new_password", "current_password", "refresh_token", "token", "secret", "key"}

// request returns the captured body as JSON with secret fields replaced, or
// nil when there is none or it was cut off.
func (c *capture) request() json.RawMessage {
	if c == nil || c.buf.Len() == 0 || c.buf.Len() > captureLimit {
		return nil
	}
	var v any
	if err := json.Unmarshal(c.buf.Bytes(), &v); err != nil {
		return nil
	}
	redact(v)
	b, _ := json.Marshal(v)
	return b
}

func redact(v any) {
	switch t := v.(type) {
	case map[string]any:
		for k, x := range t {
			if slices.Contains(secretKeys, strings.ToLower(k)) {
				t[k] = "[redacted]"
				continue
			}
			redact(x)
		}
	case []any:
		for _, x := range t {
			redact(x)
		}
	}
}

// auditMutation records a mutation with its outcome: success for 2xx,
// denied for 401/403, failed otherwise and for an answer that broke after
// its header (broken).
func (s *Server) auditMutation(ctx context.Context, ru rule, objectID string, status int, broken error, body *capture) {
	if s.opt.Audit == nil {
		return
	}
	outcome := audit.Success
	switch {
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		outcome = audit.Denied
	case status >= 300 || status == 0 || broken != nil:
		outcome = audit.Failed
	}
	after := map[string]any{"status": status}
	if broken != nil {
		after["error"] = "the answer broke off after its header: " + brokenReason(broken)
	}
	if req := body.request(); req != nil {
		after["request"] = req
	}
	s.record(ctx, ru.action, ru.object, objectID, after, outcome)
}

// brokenReason says why a stream broke, without internal details.
func brokenReason(err error) string {
	switch {
	case errors.Is(err, context.Canceled), errors.Is(err, syscall.EPIPE), errors.Is(err, syscall.ECONNRESET):
		return "the client went away"
	case errors.Is(err, context.DeadlineExceeded):
		return "the request ran out of time"
	case qrmfg.AsError(err) != nil:
		return qrmfg.ErrorMessage(err)
	}
	return "internal error (logged with the request id)"
}

// auditSecurity records a security event (a refused credential or permission).
func (s *Server) auditSecurity(ctx context.Context, action, objectType, objectID string, after map[string]any) {
	s.record(ctx, action, objectType, objectID, after, audit.Denied)
}

// clientIP is the address of the client: the peer, or, when the peer is a
// trusted proxy, the right-most address in X-Forwarded-For that is not one.
func clientIP(r *http.Request, trusted []netip.Prefix) string {
	peer, viaProxy := peerOf(r, trusted)
	if !peer.IsValid() {
		if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
			return host
		}
		return r.RemoteAddr
	}
	if !viaProxy {
		return peer.String()
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			break
		}
		if !isTrusted(a, trusted) {
			return a.Unmap().String()
		}
	}
	return peer.String()
}

// peerOf returns the address of the connection's peer and whether it is a
// trusted proxy (whose X-Forwarded-* headers are believed).
func peerOf(r *http.Request, trusted []netip.Prefix) (netip.Addr, bool) {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	peer, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}, false
	}
	peer = peer.Unmap()
	return peer, isTrusted(peer, trusted)
}

func isTrusted(a netip.Addr, trusted []netip.Prefix) bool {
	return slices.ContainsFunc(trusted, func(p netip.Prefix) bool { return p.Contains(a.Unmap()) })
}

// Security headers (OWASP HTTP Security Response Headers Cheat Sheet). The
// API answers JSON, images and files; nothing it serves may be framed, run
// scripts or load anything, except the API docs page, which loads its own
// script and styles.
const (
	cspAPI  = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
	cspDocs = "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)

func (s *Server) securityHeaders(h http.Header, r *http.Request) {
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Cross-Origin-Resource-Policy", "same-site")
	h.Set("X-XSS-Protection", "0")
	h.Set("Permissions-Policy", "camera=(self), microphone=(), geolocation=()") // the camera for scanning from our own pages
	if r.URL.Path == "/docs" || strings.HasPrefix(r.URL.Path, "/docs/") {
		h.Set("Content-Security-Policy", cspDocs)
	} else {
		h.Set("Content-Security-Policy", cspAPI)
	}
	if r.TLS != nil || s.forwardedHTTPS(r) {
		h.Set("Strict-Transport-Security", "max-age=63072000; includeSubDomains")
	}
}

// forwardedHTTPS reports whether a trusted proxy says the client used HTTPS.
func (s *Server) forwardedHTTPS(r *http.Request) bool {
	if !strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https") {
		return false
	}
	_, viaProxy := peerOf(r, s.opt.TrustedProxies)
	return viaProxy
}

// CORS: requests from browsers on other origins are answered only for the
// configured origins. Credentials are bearer tokens, never cookies, so
// Access-Control-Allow-Credentials is never sent.
const (
	corsMethods = "GET, POST, PUT, PATCH, DELETE"
	corsHeaders = "Authorization, Content-Type, Idempotency-Key, If-Match, X-Request-ID, traceparent"
	corsExpose  = "X-Request-ID, X-Batch-ID, ETag, Location, Retry-After, RateLimit, RateLimit-Policy, Content-Disposition"
)

// cors sets the CORS response headers and reports whether the request was a
// preflight that has been answered.
func (s *Server) cors(w http.ResponseWriter, r *http.Request) bool {
	origin := r.Header.Get("Origin")
	h := w.Header()
	h.Add("Vary", "Origin")
	preflight := r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != ""
	if origin == "" {
		return false
	}
	allowed := ""
	for _, o := range s.opt.CORSOrigins {
		if o == "*" {
			allowed = "*"
			break
		}
		if strings.EqualFold(o, origin) {
			allowed = origin
			break
		}
	}
	if allowed == "" {
		if preflight {
			w.WriteHeader(http.StatusNoContent) // no Access-Control-Allow-Origin: the browser refuses
			return true
		}
		return false
	}
	h.Set("Access-Control-Allow-Origin", allowed)
	if !preflight {
		h.Set("Access-Control-Expose-Headers", corsExpose)
		return false
	}
	h.Add("Vary", "Access-Control-Request-Method")
	h.Add("Vary", "Access-Control-Request-Headers")
	h.Set("Access-Control-Allow-Methods", corsMethods)
	h.Set("Access-Control-Allow-Headers", corsHeaders)
	h.Set("Access-Control-Max-Age", "600")
	w.WriteHeader(http.StatusNoContent)
	return true
}

// limitIP charges the client address's quota and reports whether the
// request may go on (having answered 429 otherwise).
func (s *Server) limitIP(w http.ResponseWriter, r *http.Request) bool {
	if p := s.charge(r.Context(), s.opt.Limits.IP, "ip", "ip:"+clientAddr(r.Context()), 1, nil); p != nil {
		if p.Status != http.StatusTooManyRequests {
			return true // a limiter failure does not take the API down
		}
		writeProblem(w, p)
		return false
	}
	return true
}
