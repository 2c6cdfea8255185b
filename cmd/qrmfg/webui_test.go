package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"reflect"
	"regexp"
	"strings"
	"testing"
)

// TestServesTheUI: the binary serves the embedded UI under /ui/ with its own
// CSP, / sends a browser there, every asset the page references is served
// with immutable caching, and the API keeps its own strict policy.
func TestServesTheUI(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := noFollow.Get(s.url + "/")
	if err != nil {
		t.Fatal(err)
	}
	_ = res.Body.Close()
	if res.StatusCode != http.StatusFound || res.Header.Get("Location") != "/ui/" {
		t.Fatalf("GET /: %d Location %q, want 302 to /ui/", res.StatusCode, res.Header.Get("Location"))
	}
	page := s.do("GET", "/ui/inventory", "", "", "Authorization", "")
	if page.status != http.StatusOK || !strings.Contains(string(page.body), `<div id="root">`) {
		t.Fatalf("GET /ui/inventory: %d %.200s", page.status, page.body)
	}
	if csp := page.header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") ||
		strings.Contains(csp, "'unsafe-eval'") || strings.Contains(csp, "'unsafe-inline'") {
		t.Errorf("UI Content-Security-Policy %q", csp)
	}
	refs := regexp.MustCompile(`(?:src|href)="(/ui/assets/[^"]+)"`).FindAllStringSubmatch(string(page.body), -1)
	if len(refs) == 0 {
		t.Fatalf("the page references no bundled asset:\n%s", page.body)
	}
	for _, ref := range refs {
		a := s.do("GET", ref[1], "", "", "Authorization", "")
		if a.status != http.StatusOK || len(a.body) == 0 {
			t.Errorf("GET %s: %d (%d bytes)", ref[1], a.status, len(a.body))
		}
		if cc := a.header.Get("Cache-Control"); !strings.Contains(cc, "immutable") {
			t.Errorf("GET %s: Cache-Control %q, want immutable", ref[1], cc)
		}
	}
	if api := s.do("GET", "/health", "", ""); api.header.Get("Content-Security-Policy") != cspAPIWant {
		t.Errorf("the API's CSP changed: %q", api.header.Get("Content-Security-Policy"))
	}
}

const cspAPIWant = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"

// TestOpenAPICommand: `qrmfg openapi` prints, without serving, the document
// the server serves at /openapi.json (the UI's types are generated from it).
func TestOpenAPICommand(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	served := s.do("GET", "/openapi.json", "", "")
	var out bytes.Buffer
	m := NewMain(&out, io.Discard, []string{"QRMFG_DATA_DIR=" + t.TempDir()})
	if err := m.ParseFlags([]string{"openapi"}); err != nil {
		t.Fatal(err)
	}
	if err := m.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	var a, b any
	if err := json.Unmarshal(out.Bytes(), &a); err != nil {
		t.Fatalf("qrmfg openapi printed no JSON: %v\n%.300s", err, out.String())
	}
	if err := json.Unmarshal(served.body, &b); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(a, b) {
		t.Error("qrmfg openapi differs from GET /openapi.json")
	}
}
