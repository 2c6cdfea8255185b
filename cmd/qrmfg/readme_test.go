package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestReadmeExamples runs every shell block of the README that calls the API,
// as written (only the address changes), against a real server: the examples
// must keep working. curl fails on an HTTP error status here.
func TestReadmeExamples(t *testing.T) {
	t.Parallel()
	curl := needTool(t, "curl")
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	s := startServer(t)
	dir := t.TempDir()
	ran, unauthorized := 0, 0
	for _, b := range regexp.MustCompile("(?s)```sh\n(.*?)```").FindAllStringSubmatch(string(readme), -1) {
		script := b[1]
		if !strings.Contains(script, "curl ") {
			continue
		}
		var lines []string
		for _, l := range strings.Split(script, "\n") {
			if strings.HasPrefix(l, "go run ") || strings.HasPrefix(l, "make ") {
				continue // commands, not API calls
			}
			lines = append(lines, l)
		}
		script = strings.Join(lines, "\n")
		if strings.Contains(script, "JOB_ID") {
			script = strings.ReplaceAll(script, "JOB_ID", lastCompletedJob(t, s))
		}
		script = strings.ReplaceAll(script, "http://localhost:8000", s.url)
		script = regexp.MustCompile(`(?m)^curl `).ReplaceAllString(script, curl+" -sS --fail-with-body ")
		// The reader logged in with the README's first block, which left the
		// access token in TOKEN.
		cmd := exec.Command("bash", "-e", "-c", script)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "TOKEN="+s.token, "QRMFG_ADMIN_PASSWORD="+testAdminPassword)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("README example failed:\n%s\n%v\n%s", b[1], err, out)
		}
		ran++
		if strings.Contains(script, "/auth/login") {
			continue
		}
		// Without a token, the same call is 401 (in another directory, so
		// that its error bodies do not replace the files written above).
		cmd = exec.Command("bash", "-e", "-c", script)
		cmd.Dir = t.TempDir()
		if err := os.CopyFS(cmd.Dir, os.DirFS(dir)); err != nil {
			t.Fatal(err)
		}
		cmd.Env = append(os.Environ(), "TOKEN=")
		out, err := cmd.CombinedOutput()
		if err == nil || !strings.Contains(string(out), "error: 401") {
			t.Fatalf("README example without a token did not fail with 401:\n%s\n%v\n%s", b[1], err, out)
		}
		unauthorized++
	}
	if ran < 8 {
		t.Fatalf("ran %d README blocks; the extraction is broken", ran)
	}
	t.Logf("ran %d README blocks with the token; %d of them answered 401 without it", ran, unauthorized)
}

// lastCompletedJob waits for the newest engraving job to finish and returns its id.
func lastCompletedJob(t *testing.T, s *server) string {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for time.Now().Before(deadline) {
		r := s.do("GET", "/engraving/jobs?limit=1", "", "")
		jobs, _ := r.json(t)["jobs"].([]any)
		if len(jobs) == 1 {
			j := jobs[0].(map[string]any)
			switch j["status"] {
			case "completed":
				return j["id"].(string)
			case "failed", "cancelled", "interrupted":
				t.Fatalf("the README's job ended %s: %s", j["status"], r.body)
			}
		}
		time.Sleep(250 * time.Millisecond)
	}
	t.Fatal("the README's engraving job did not complete in 90 s")
	return ""
}

// readmeBlock returns the README's first shell block that contains s.
func readmeBlock(t *testing.T, s string) string {
	t.Helper()
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range regexp.MustCompile("(?s)```sh\n(.*?)```").FindAllStringSubmatch(string(readme), -1) {
		if strings.Contains(b[1], s) {
			return b[1]
		}
	}
	t.Fatalf("no README shell block contains %q", s)
	return ""
}

// TestReadmeLoginNeedsPassword: the README's login, run without
// QRMFG_ADMIN_PASSWORD, stops and names the variable (it sent an empty
// password and went on with a token that was an error message).
func TestReadmeLoginNeedsPassword(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	script := strings.ReplaceAll(readmeBlock(t, "/auth/login"), "http://localhost:8000", s.url)
	cmd := exec.Command("bash", "-e", "-c", script)
	cmd.Dir = t.TempDir()
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "QRMFG_ADMIN_PASSWORD=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "QRMFG_ADMIN_PASSWORD") {
		t.Fatalf("the login block without QRMFG_ADMIN_PASSWORD: %v\n%s", err, out)
	}
}

// TestDocsStandAlone: every relative link of the README and docs/ names a
// file of the repository, and nothing points at the design brief outside it
// (a clone does not have it).
func TestDocsStandAlone(t *testing.T) {
	t.Parallel()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	adrs, _ := filepath.Glob(filepath.Join(root, "docs", "adr", "*.md"))
	files = append(append(files, adrs...), filepath.Join(root, "README.md"))
	link := regexp.MustCompile(`\]\(([^)#\s]+)(#[^)]*)?\)`)
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(root, f)
		if strings.Contains(string(b), "ARCHITECTURE.md") {
			t.Errorf("%s refers to ARCHITECTURE.md, which is not in the repository", rel)
		}
		for _, m := range link.FindAllStringSubmatch(string(b), -1) {
			target := m[1]
			if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
				continue
			}
			p := filepath.Join(filepath.Dir(f), target)
			if r, err := filepath.Rel(root, p); err != nil || strings.HasPrefix(r, "..") {
				t.Errorf("%s links outside the repository: %s", rel, target)
			} else if _, err := os.Stat(p); err != nil {
				t.Errorf("%s links to %s, which does not exist", rel, target)
			}
		}
	}
}
