package main

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestDocsPageInBrowser opens the embedded API documentation in headless
// Chromium: under the server's Content-Security-Policy the page must load
// its script, fetch the OpenAPI document and render every tag, with no CSP
// refusal in the console.
func TestDocsPageInBrowser(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("starts a browser")
	}
	browser := needTool(t, "chromium")
	s := startServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, browser, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
		"--user-data-dir="+t.TempDir(), "--enable-logging=stderr", "--v=0", "--virtual-time-budget=10000",
		"--dump-dom", s.url+"/docs")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	dom, err := cmd.Output()
	if err != nil {
		t.Fatalf("chromium: %v\n%s", err, stderr.String())
	}
	for _, tag := range []string{"audit", "auth", "inventory", "qr", "engraving", "scanning"} {
		if !strings.Contains(string(dom), `id="operations-tag-`+tag+`"`) {
			t.Errorf("the docs page did not render the %s operations (scripts blocked, or the OpenAPI document not fetched)", tag)
		}
	}
	for _, line := range strings.Split(stderr.String(), "\n") {
		if strings.Contains(line, "Content Security Policy") || strings.Contains(line, "Refused to") {
			t.Errorf("console: %s", line)
		}
	}
}
