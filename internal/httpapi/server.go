// Package httpapi is qrmfg's HTTP API: handlers on the standard net/http mux
// with huma v2 (validated input, RFC 9457 problems, the OpenAPI 3.1 document),
// health and readiness, and the embedded API docs.
package httpapi

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"net/netip"
	"regexp"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/adapters/humago"

	"github.com/qrmfg/qrmfg/internal/audit"
	"github.com/qrmfg/qrmfg/internal/auth"
	"github.com/qrmfg/qrmfg/internal/engraving"
	"github.com/qrmfg/qrmfg/internal/generation"
	"github.com/qrmfg/qrmfg/internal/idempotency"
	"github.com/qrmfg/qrmfg/internal/inventory"
	"github.com/qrmfg/qrmfg/internal/metrics"
	"github.com/qrmfg/qrmfg/internal/qrmfg"
	"github.com/qrmfg/qrmfg/internal/scanning"
)

//go:embed docsui
var docsFS embed.FS

func init() {
	// huma builds its own errors (validation, unparsable bodies) through this
	// package-level hook; qrmfg sets it once so every error is one Problem shape.
	huma.NewError = humaError
}

// Options configure the server.
type Options struct {
	Version      string
	MaxBodyBytes int64
	Log          *slog.Logger
	// Ready reports whether the process can serve: database reachable, schema current.
	Ready func(ctx context.Context) error

	// Auth authenticates callers and serves /auth. Without it every route
	// but the public ones answers 401.
	Auth *auth.Service
	// Audit receives every mutation and security event; nil records nothing.
	Audit *audit.Log
	// Limits are the rate limiters; nil ones do not limit.
	Limits Limits
	// CORSOrigins are the browser origins allowed to call the API ("*": any).
	CORSOrigins []string
	// TrustedProxies are the reverse proxies whose X-Forwarded-For and
	// X-Forwarded-Proto are believed.
	TrustedProxies []netip.Prefix
	// Streams bound the server-sent event streams open at once.
	Streams StreamLimits
	// UI serves the browser UI under /ui/ (and / redirects there); nil
	// leaves both out.
	UI http.Handler

	// Metrics, when set, records every request by route template, method
	// and status, and the open event streams.
	Metrics *metrics.Metrics
	// MetricsNetworks are the client networks served GET /metrics on this
	// listener (the client address as the trusted proxies give it); others
	// get 404. Empty: /metrics is not on this listener.
	MetricsNetworks []netip.Prefix
}

// Services are the contexts the API exposes. A nil service's routes are not registered.
type Services struct {
	Inventory   *inventory.Service
	Idempotency idempotency.Store
	Generation  *generation.Service
	Scanning    *scanning.Service
	Engraving   *engraving.Service
}

// Server is the HTTP API.
type Server struct {
	opt  Options
	svc  Services
	mux  *http.ServeMux
	api  huma.API
	log  *slog.Logger
	root http.Handler

	refusals refusalAudit
	streams  *streamGate
}

// New builds the API and registers the routes of every given service.
func New(opt Options, svc Services) *Server {
	if opt.Log == nil {
		opt.Log = slog.New(slog.DiscardHandler)
	}
	if opt.MaxBodyBytes <= 0 {
		opt.MaxBodyBytes = 10 << 20
	}
	mux := http.NewServeMux()
	cfg := huma.DefaultConfig("qrmfg API", opt.Version)
	cfg.Info.Description = "Marks and tracks manufactured parts with QR codes: allocation, rendering, engraving, scanning, inventory and audit."
	cfg.OpenAPIPath = "/openapi"
	cfg.DocsPath = ""
	cfg.SchemasPath = ""
	cfg.CreateHooks = nil // no $schema links in bodies
	cfg.RejectUnknownQueryParameters = true
	// Every operation needs a bearer credential unless it says otherwise
	// (health, readiness and the token calls set an empty requirement).
	cfg.Components.SecuritySchemes = map[string]*huma.SecurityScheme{
		"bearer": {Type: "http", Scheme: "bearer", BearerFormat: "JWT access token or qrmfg_ API key",
			Description: "POST /auth/login for a token; API keys from POST /auth/api-keys"},
	}
	cfg.Security = []map[string][]string{{"bearer": {}}}
	s := &Server{opt: opt, svc: svc, mux: mux, log: opt.Log, refusals: newRefusalAudit(opt.Log),
		streams: newStreamGate(opt.Streams)}
	if total := s.streams.Total(); total < opt.Streams.Total {
		s.log.Info("event streams lowered to fit the open-file limit", "streams_max", total,
			"open_files", opt.Streams.OpenFiles, "reserve", opt.Streams.FDReserve)
	}
	s.api = humago.New(mux, cfg)
	s.api.UseMiddleware(s.gate)
	s.registerHealth()
	s.registerAuth()
	if opt.Audit != nil {
		s.registerAudit()
	}
	if svc.Inventory != nil {
		s.registerInventory()
	}
	if svc.Generation != nil {
		s.registerGeneration()
	}
	if svc.Scanning != nil {
		s.registerScanning()
	}
	if svc.Engraving != nil {
		s.registerEngraving()
	}
	sub, _ := fs.Sub(docsFS, "docsui")
	files := http.FileServerFS(sub)
	mux.Handle("GET /docs/", http.StripPrefix("/docs/", cacheFor(24*time.Hour, files)))
	mux.HandleFunc("GET /docs", func(w http.ResponseWriter, r *http.Request) {
		http.ServeFileFS(w, r, sub, "index.html")
	})
	if opt.Metrics != nil {
		opt.Metrics.Streams(s.streams.Open)
		if len(opt.MetricsNetworks) > 0 {
			mux.Handle("GET /metrics", s.metricsAllowed(opt.Metrics.Handler()))
		}
	}
	if opt.UI != nil {
		mux.Handle("GET /ui/", opt.UI)
		mux.Handle("GET /ui", http.RedirectHandler("/ui/", http.StatusMovedPermanently))
		mux.Handle("GET /{$}", http.RedirectHandler("/ui/", http.StatusFound))
	}
	s.root = s.middleware(mux)
	return s
}

// API returns the huma API, for registering more routes.
func (s *Server) API() huma.API { return s.api }

// Mux returns the underlying mux, for plain handlers (downloads, SSE, UI).
func (s *Server) Mux() *http.ServeMux { return s.mux }

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.root.ServeHTTP(w, r) }

// OpenAPI returns the OpenAPI document.
func (s *Server) OpenAPI() *huma.OpenAPI { return s.api.OpenAPI() }

func cacheFor(d time.Duration, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", fmt.Sprintf("public, max-age=%d", int(d.Seconds())))
		h.ServeHTTP(w, r)
	})
}

var requestIDPattern = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,128}$`)

// traceparentPattern is W3C trace context: version, trace id, parent id and
// flags in lower-case hex, and what a later version may append. Any other
// value is dropped (it would be stored with the request's events).
var traceparentPattern = regexp.MustCompile(`^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}(-[!-~]*)?$`)

type statusWriter struct {
	http.ResponseWriter
	status int
	bytes  int64
	// head keeps the first keep bytes of the body when keep > 0, for the
	// gateway to find the id of what a request created.
	keep int
	head []byte
	// broken is set when a streamed answer failed after its header was
	// sent (see streamFailed).
	broken error
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	if room := w.keep - len(w.head); room > 0 && n > 0 {
		w.head = append(w.head, b[:min(n, room)]...)
	}
	return n, err
}

// Unwrap lets http.ResponseController reach Flush on streaming responses.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// middleware wraps every request: request id, panic recovery, body limit,
// baseline security headers and the access log.
func (s *Server) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := r.Header.Get("X-Request-ID")
		if !requestIDPattern.MatchString(id) {
			id = qrmfg.NewID()
		}
		ctx := qrmfg.WithRequestID(r.Context(), id)
		ctx = context.WithValue(ctx, clientAddrKey{}, clientIP(r, s.opt.TrustedProxies))
		ctx = context.WithValue(ctx, requestBaseKey{}, s.requestBase(r))
		if tp := r.Header.Get("traceparent"); len(tp) <= 128 && traceparentPattern.MatchString(tp) {
			ctx = qrmfg.WithTraceParent(ctx, tp)
		}
		h := w.Header()
		h.Set("X-Request-ID", id)
		s.securityHeaders(h, r)
		if s.cors(w, r) || !s.limitIP(w, r.WithContext(ctx)) {
			return
		}
		if r.Body != nil {
			limit := s.opt.MaxBodyBytes
			if r.URL.Path == scanUploadPath && s.svc.Scanning != nil {
				// Photos have their own limit; the multipart framing needs a little more.
				limit = max(limit, s.svc.Scanning.Limits().MaxUploadBytes+64<<10)
			}
			r.Body = http.MaxBytesReader(w, r.Body, limit)
		}
		sw := &statusWriter{ResponseWriter: w}
		r = r.WithContext(ctx) // the mux sets its Pattern: the route template
		defer func() {
			if rec := recover(); rec != nil {
				if err, ok := rec.(error); ok && errors.Is(err, http.ErrAbortHandler) {
					panic(rec)
				}
				s.log.Error("panic serving request", "request_id", id, "method", r.Method, "path", r.URL.Path,
					"panic", rec, "stack", string(debug.Stack()))
				if sw.status == 0 {
					writeProblem(sw, newProblem(http.StatusInternalServerError, qrmfg.EINTERNAL, "Internal error."))
				}
			}
			took := time.Since(start)
			s.log.Info("http", "method", r.Method, "path", r.URL.Path, "status", sw.status, "bytes", sw.bytes,
				"duration_ms", float64(took.Microseconds())/1000, "request_id", id)
			if s.opt.Metrics != nil {
				s.opt.Metrics.ObserveHTTP(routeTemplate(r.Pattern), r.Method, sw.status, took)
			}
		}()
		next.ServeHTTP(sw, r)
	})
}

// routeTemplate is the path template of a mux pattern ("GET /items/{uid}"
// gives "/items/{uid}"); "" when no route matched.
func routeTemplate(pattern string) string {
	if _, path, ok := strings.Cut(pattern, " "); ok {
		return path
	}
	return pattern
}

// metricsAllowed serves h to clients in the MetricsNetworks and answers
// 404 to the others, as if there were no such route.
func (s *Server) metricsAllowed(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		addr, err := netip.ParseAddr(clientAddr(r.Context()))
		if err == nil {
			addr = addr.Unmap()
			for _, p := range s.opt.MetricsNetworks {
				if p.Contains(addr) {
					h.ServeHTTP(w, r)
					return
				}
			}
		}
		http.NotFound(w, r)
	})
}

func writeProblem(w http.ResponseWriter, p *Problem) {
	for k, v := range p.Headers {
		w.Header()[k] = v
	}
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(p.Status)
	_ = json.NewEncoder(w).Encode(p)
}

// fail logs internal errors with their cause and returns the problem.
func (s *Server) fail(ctx context.Context, err error) *Problem {
	if qrmfg.ErrorCode(err) == qrmfg.EINTERNAL {
		s.log.Error("internal error", "request_id", qrmfg.RequestID(ctx), "err", err)
	}
	p := problem(err)
	p.Instance = qrmfg.RequestID(ctx)
	if e := qrmfg.AsError(err); e != nil && (e.Code == qrmfg.ERATELIMITED || e.Code == qrmfg.EUNAVAILABLE) {
		// A limit a service enforces (logins per account, decode memory,
		// event streams) answers like the gateway's own: Retry-After, and
		// the RateLimit field when it names its policy.
		if secs, ok := e.Detail["retry_after_seconds"].(int); ok {
			policy, _ := e.Detail["policy"].(string)
			p.Headers = http.Header{"Retry-After": {strconv.Itoa(secs)}}
			if policy != "" {
				p.Headers.Set("RateLimit", strconv.Quote(policy)+";r=0;t="+strconv.Itoa(secs))
			}
		}
	}
	return p
}

type healthOutput struct {
	Body struct {
		Status  string `json:"status" example:"ok"`
		Version string `json:"version"`
	}
}

type readyOutput struct {
	Body struct {
		Status string `json:"status" example:"ready"`
		Detail string `json:"detail,omitempty"`
	}
}

func (s *Server) registerHealth() {
	huma.Register(s.api, huma.Operation{OperationID: "health", Method: http.MethodGet, Path: "/health",
		Summary: "Liveness: the process answers", Tags: []string{"health"}, Security: []map[string][]string{}},
		func(ctx context.Context, _ *struct{}) (*healthOutput, error) {
			out := &healthOutput{}
			out.Body.Status, out.Body.Version = "ok", s.opt.Version
			return out, nil
		})
	huma.Register(s.api, huma.Operation{OperationID: "ready", Method: http.MethodGet, Path: "/ready",
		Summary: "Readiness: database reachable and schema current", Tags: []string{"health"}, Security: []map[string][]string{},
		Errors: []int{http.StatusServiceUnavailable}},
		func(ctx context.Context, _ *struct{}) (*readyOutput, error) {
			if s.opt.Ready != nil {
				ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
				defer cancel()
				if err := s.opt.Ready(ctx); err != nil {
					return nil, s.fail(ctx, &qrmfg.Error{Code: qrmfg.EUNAVAILABLE, Message: qrmfg.ErrorMessage(err), Err: err})
				}
			}
			out := &readyOutput{}
			out.Body.Status = "ready"
			return out, nil
		})
}
