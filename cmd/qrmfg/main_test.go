package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/qrmfg/qrmfg/internal/sqlstore"
	"github.com/qrmfg/qrmfg/internal/sqlstore/sqltest"
)

// server is a running Main on port 0 with a temporary data directory.
type server struct {
	t     *testing.T
	url   string
	logs  *bytes.Buffer
	logMu *sync.Mutex
	token string // the admin's access token, sent by do unless a request names its own Authorization
}

// testAdminPassword is the bootstrap admin's password in end-to-end tests.
const testAdminPassword = "test admin password 1"

type syncBuffer struct {
	mu sync.Mutex
	bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.Buffer.Write(p)
}

// startServer runs `qrmfg serve` in-process with the test admin logged in
// and stops it when the test ends.
func startServer(t *testing.T, env ...string) *server {
	t.Helper()
	base := []string{"QRMFG_ADMIN_PASSWORD=" + testAdminPassword}
	if !slices.ContainsFunc(env, func(kv string) bool { return strings.HasPrefix(kv, "QRMFG_DATA_DIR=") }) {
		base = append(base, "QRMFG_DATA_DIR="+t.TempDir())
	}
	s := launch(t, append(base, env...))
	s.token = s.login("admin", testAdminPassword)
	return s
}

// launch runs `qrmfg serve` in-process with exactly env, until the test ends.
func launch(t *testing.T, env []string) *server {
	t.Helper()
	logs := &syncBuffer{}
	m := NewMain(io.Discard, logs, env)
	if err := m.ParseFlags([]string{"serve", "--addr", "127.0.0.1:0"}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	actx, acancel := context.WithTimeout(ctx, 20*time.Second)
	defer acancel()
	addr, err := m.Addr(actx)
	if err != nil {
		cancel()
		t.Fatalf("server did not start: %v\n%s", err, logs.String())
	}
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve returned %v", err)
		}
		if err := m.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return &server{t: t, url: "http://" + addr.String(), logs: &logs.Buffer, logMu: &logs.mu}
}

// logText returns what the server has logged so far.
func (s *server) logText() string {
	s.logMu.Lock()
	defer s.logMu.Unlock()
	return s.logs.String()
}

// login logs a user in and returns the access token.
func (s *server) login(user, password string) string {
	s.t.Helper()
	body, _ := json.Marshal(map[string]string{"username": user, "password": password})
	r := s.do("POST", "/auth/login", "application/json", string(body), "Authorization", "")
	if r.status != 200 {
		s.t.Fatalf("login %s: %d %s", user, r.status, r.body)
	}
	return r.json(s.t)["access_token"].(string)
}

// authorize adds the admin's token to a request made outside do.
func (s *server) authorize(req *http.Request) *http.Request {
	req.Header.Set("Authorization", "Bearer "+s.token)
	return req
}

// get is http.Get with the admin's token.
func (s *server) get(url string) (*http.Response, error) {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	return http.DefaultClient.Do(s.authorize(req))
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("response is not a JSON object: %v\n%s", err, r.body)
	}
	return m
}

func (s *server) do(method, path, contentType, body string, headers ...string) response {
	s.t.Helper()
	req, err := http.NewRequest(method, s.url+path, strings.NewReader(body))
	if err != nil {
		s.t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if s.token != "" {
		req.Header.Set("Authorization", "Bearer "+s.token)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		if headers[i+1] == "" {
			req.Header.Del(headers[i])
			continue
		}
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		s.t.Fatal(err)
	}
	return response{res.StatusCode, res.Header, b}
}

func (s *server) json(method, path, body string, headers ...string) response {
	s.t.Helper()
	return s.do(method, path, "application/json", body, headers...)
}

const seedBatch = `{"component_type":"PAD","vendor_code":"V0100","lot_number":"L2025-09","manufacturing_date":"2025-01-15","count":100,"warranty_years":5}`

func TestServeInventoryFlow(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	r := s.json("POST", "/inventory/batches", seedBatch)
	if r.status != 201 {
		t.Fatalf("allocate: %d %s", r.status, r.body)
	}
	if b := r.json(t); b["first_serial"].(float64) != 1 || b["count"].(float64) != 100 {
		t.Fatalf("batch %v", b)
	}
	r = s.do("GET", "/inventory/items?status=generated&limit=50", "", "")
	page := r.json(t)
	if r.status != 200 || len(page["items"].([]any)) != 50 || page["next_cursor"] == "" {
		t.Fatalf("list: %d %s", r.status, r.body)
	}
	if r.header.Get("X-Request-ID") == "" || r.header.Get("X-Content-Type-Options") != "nosniff" {
		t.Fatalf("headers %v", r.header)
	}
	r = s.do("GET", "/inventory/items?status=generated&limit=50&cursor="+page["next_cursor"].(string), "", "")
	if p2 := r.json(t); len(p2["items"].([]any)) != 50 || p2["next_cursor"] != nil {
		t.Fatalf("page 2: %s", r.body)
	}
	uid := "PAD-V0100-L2025-09-00007"
	for _, to := range []string{"engraved", "available"} {
		if r := s.json("POST", "/inventory/items/"+uid+"/transitions", `{"to":"`+to+`","reason":"qc"}`); r.status != 200 {
			t.Fatalf("to %s: %d %s", to, r.status, r.body)
		}
	}
	r = s.do("GET", "/inventory/items/"+uid, "", "")
	item := r.json(t)
	if item["status"] != "available" || len(item["history"].([]any)) != 2 || r.header.Get("ETag") == "" {
		t.Fatalf("item %s", r.body)
	}
	r = s.do("GET", "/inventory/items?status=available&limit=50", "", "")
	if n := len(r.json(t)["items"].([]any)); n != 1 {
		t.Fatalf("the seed's query found %d available items, want 1", n)
	}
	csv := "uid,status,location\nPAD-V0100-L2025-10-00001,available,A1\nPAD-V0100-L2025-10-00002,available,A1\n"
	if r := s.do("POST", "/inventory/import", "text/csv", csv); r.status != 200 || r.json(t)["imported"].(float64) != 2 {
		t.Fatalf("import: %d %s", r.status, r.body)
	}
	r = s.do("GET", "/inventory/export.csv?lot_number=L2025-10", "", "")
	if r.status != 200 || strings.Count(string(r.body), "\n") != 3 || !strings.HasPrefix(r.header.Get("Content-Type"), "text/csv") {
		t.Fatalf("export: %d %q %s", r.status, r.header.Get("Content-Type"), r.body)
	}
	if r := s.do("GET", "/inventory/analytics", "", ""); r.status != 200 {
		t.Fatalf("analytics %d %s", r.status, r.body)
	}
	for _, p := range []string{"/health", "/ready", "/openapi.json", "/docs", "/docs/swagger-ui-bundle.js"} {
		if r := s.do("GET", p, "", ""); r.status != 200 {
			t.Errorf("GET %s: %d", p, r.status)
		}
	}
}

func TestIdempotentAllocation(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	first := s.json("POST", "/inventory/batches", seedBatch, "Idempotency-Key", "order-42")
	again := s.json("POST", "/inventory/batches", seedBatch, "Idempotency-Key", "order-42")
	if first.status != 201 || again.status != 201 || first.json(t)["id"] != again.json(t)["id"] {
		t.Fatalf("replay gave %d %s, first %d %s", again.status, again.body, first.status, first.body)
	}
	other := s.json("POST", "/inventory/batches", strings.Replace(seedBatch, `"count":100`, `"count":5`, 1), "Idempotency-Key", "order-42")
	if other.status != 422 || other.json(t)["code"] != "invalid" {
		t.Fatalf("same key, other body: %d %s", other.status, other.body)
	}
	if r := s.do("GET", "/inventory/items?limit=1&total=true", "", ""); r.json(t)["total"].(float64) != 100 {
		t.Fatalf("the replay allocated again: %s", r.body)
	}
}

// TestBadInput: every kind of bad input gets a clear problem naming what is
// wrong, with the right status and stable code.
func TestBadInput(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	if r := s.json("POST", "/inventory/batches", seedBatch); r.status != 201 {
		t.Fatal(string(r.body))
	}
	cases := []struct {
		name, method, path, ctype, body string
		status                          int
		code, mentions                  string
	}{
		{"malformed uid", "GET", "/inventory/items/PAD-V0100-L2025-09-01", "", "", 422, "invalid", "at least 5 digits"},
		{"unknown item", "GET", "/inventory/items/PAD-V0100-L2025-09-99999", "", "", 404, "not_found", "does not exist"},
		{"unknown status filter", "GET", "/inventory/items?status=lost", "", "", 422, "invalid", `unknown status "lost"`},
		{"unknown status transition", "POST", "/inventory/items/PAD-V0100-L2025-09-00001/transitions", "application/json", `{"to":"lost"}`, 422, "invalid", "unknown status"},
		{"forbidden transition", "POST", "/inventory/items/PAD-V0100-L2025-09-00001/transitions", "application/json", `{"to":"shipped"}`, 409, "conflict", "allowed next: engraved, void, defective"},
		{"oversize page", "GET", "/inventory/items?limit=5000", "", "", 422, "invalid", "limit must be between 1 and 1000"},
		{"zero page", "GET", "/inventory/items?limit=0", "", "", 422, "invalid", "limit"},
		{"negative count", "POST", "/inventory/batches", "application/json", strings.Replace(seedBatch, `"count":100`, `"count":-3`, 1), 422, "invalid", "count must be at least 1"},
		{"count over limit", "POST", "/inventory/batches", "application/json", strings.Replace(seedBatch, `"count":100`, `"count":100001`, 1), 422, "invalid", "over the limit"},
		{"lot with illegal characters", "POST", "/inventory/batches", "application/json", strings.Replace(seedBatch, "L2025-09", "L2025/09", 1), 422, "invalid", "lot_number"},
		{"bad JSON", "POST", "/inventory/batches", "application/json", `{"component_type":`, 400, "bad_request", ""},
		{"unknown field", "POST", "/inventory/batches", "application/json", strings.Replace(seedBatch, `"count"`, `"colour":"red","count"`, 1), 422, "invalid", "colour"},
		{"wrong type", "POST", "/inventory/batches", "application/json", strings.Replace(seedBatch, `"count":100`, `"count":"many"`, 1), 422, "invalid", "count"},
		{"unknown query parameter", "GET", "/inventory/items?colour=red", "", "", 422, "invalid", "colour"},
		{"bad cursor", "GET", "/inventory/items?cursor=xyz", "", "", 422, "invalid", "cursor"},
		{"bad CSV rows", "POST", "/inventory/import", "text/csv", "uid,status\nPAD-V1-L1-00001,available\nnot-an-id,available\nPAD-V1-L1-00003,lost\n", 422, "invalid", "nothing was imported"},
		{"CSV unknown column", "POST", "/inventory/import", "text/csv", "uid,colour\nPAD-V1-L1-00001,red\n", 422, "invalid", `unknown column "colour"`},
		{"bad date", "GET", "/inventory/items?created_from=yesterday", "", "", 422, "invalid", "created_from"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := s.do(c.method, c.path, c.ctype, c.body)
			if r.status != c.status {
				t.Fatalf("status %d, want %d: %s", r.status, c.status, r.body)
			}
			if ct := r.header.Get("Content-Type"); ct != "application/problem+json" {
				t.Errorf("content type %q", ct)
			}
			p := r.json(t)
			if p["code"] != c.code || !strings.Contains(fmt.Sprint(p["detail"], p["errors"]), c.mentions) {
				t.Fatalf("problem %s: want code %s mentioning %q", r.body, c.code, c.mentions)
			}
		})
	}
	r := s.do("POST", "/inventory/import", "text/csv", "uid,status\nPAD-V1-L1-00001,available\nnot-an-id,available\nPAD-V1-L1-00003,lost\n")
	var p struct {
		Errors []struct{ Location, Message string }
	}
	_ = json.Unmarshal(r.body, &p)
	if len(p.Errors) != 2 || p.Errors[0].Location != "line 3, uid" || p.Errors[1].Location != "line 4, status" {
		t.Fatalf("CSV errors do not name their lines: %s", r.body)
	}
}

func TestCommands(t *testing.T) {
	t.Parallel()
	run := func(env []string, args ...string) (string, error) {
		var out, errb bytes.Buffer
		m := NewMain(&out, &errb, env)
		err := m.ParseFlags(args)
		if err == nil {
			err = m.Run(context.Background())
		}
		_ = m.Close()
		return out.String() + errb.String(), err
	}
	dir := t.TempDir()
	if out, err := run(nil, "version"); err != nil || !strings.HasPrefix(out, "qrmfg ") {
		t.Fatalf("version: %q %v", out, err)
	}
	out, err := run([]string{"QRMFG_DATA_DIR=" + dir, "JWT_SECRET_KEY=0123456789abcdef0123456789abcdef-secret"}, "config")
	if err != nil || strings.Contains(out, "0123456789abcdef0123456789abcdef-secret") || !strings.Contains(out, "JWT_SECRET_KEY") {
		t.Fatalf("config must mask secrets: %v\n%s", err, out)
	}
	if _, err := run(nil, "serve", "--target", "inventroy"); err == nil || !strings.Contains(err.Error(), "inventroy") {
		t.Fatalf("unknown target: %v", err)
	}
	if _, err := run(nil, "frobnicate"); exitCode(err) != 2 {
		t.Fatalf("unknown command: %v", err)
	}
	out, err = run([]string{"QRMFG_DATA_DIR=" + dir}, "migrate", "status")
	if err == nil || !strings.Contains(describe(err), "there is no database at") {
		t.Fatalf("migrate status where there is no database: %v\n%s", err, out)
	}
	out, err = run([]string{"QRMFG_DATA_DIR=" + dir}, "migrate", "up")
	if err != nil || !strings.Contains(out, "applied 0001") {
		t.Fatalf("migrate up: %v\n%s", err, out)
	}
	out, _ = run([]string{"QRMFG_DATA_DIR=" + dir}, "migrate", "status")
	if strings.Contains(out, "pending") {
		t.Fatalf("still pending after up:\n%s", out)
	}
	// Against PostgreSQL, serve refuses a schema that is behind and says what to do.
	pg := sqltest.URL(t, sqlstore.Postgres)
	_, err = run([]string{"QRMFG_DATA_DIR=" + dir, "DATABASE_URL=" + pg}, "serve", "--addr", "127.0.0.1:0")
	if err == nil || !strings.Contains(describe(err), "qrmfg migrate up") {
		t.Fatalf("serve on an unmigrated PostgreSQL: %v", err)
	}
	if out, err := run([]string{"QRMFG_DATA_DIR=" + dir, "DATABASE_URL=" + pg}, "migrate", "up"); err != nil || !strings.Contains(out, "applied 0001") {
		t.Fatalf("migrate up on PostgreSQL: %v %s", err, out)
	}
	out, err = run([]string{"QRMFG_DATA_DIR=" + dir, "DB_POOL_SIZE=abc"}, "serve")
	if err == nil || !strings.Contains(fmt.Sprint(err), "DB_POOL_SIZE") {
		t.Fatalf("bad config must name the variable: %v %s", err, out)
	}
}
