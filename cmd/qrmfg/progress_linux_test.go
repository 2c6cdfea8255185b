//go:build linux

package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/qrmfg/qrmfg/internal/engraving/grblsim"
)

// onTerminal runs one qrmfg command with its standard error on a
// pseudo-terminal and returns what the terminal showed.
func onTerminal(t *testing.T, env []string, args ...string) string {
	t.Helper()
	p, err := grblsim.OpenPTY()
	if err != nil {
		t.Skipf("no pseudo-terminal: %v", err)
	}
	defer p.Close()
	tty, err := os.OpenFile(p.SlavePath(), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var shown bytes.Buffer
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := p.Read(buf)
			mu.Lock()
			shown.Write(buf[:n])
			mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	var out bytes.Buffer
	m := NewMain(&out, tty, env)
	if err = m.ParseFlags(args); err == nil {
		err = m.Run(t.Context())
	}
	_ = m.Close()
	if err != nil {
		t.Fatalf("qrmfg %s: %v\n%s", strings.Join(args, " "), err, out.String())
	}
	// Read until the last line drawn has arrived (the command wrote it
	// before returning; the reader may lag).
	if _, err := tty.WriteString("\nend-of-output\n"); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		mu.Lock()
		s := shown.String()
		mu.Unlock()
		if strings.Contains(s, "end-of-output") {
			_ = tty.Close()
			return s
		}
	}
	t.Fatal("the terminal did not show the output")
	return ""
}

// TestGenerateProgressOnTerminal: on a terminal, a local generate draws its
// progress (count, total) in place; piped, it writes none.
func TestGenerateProgressOnTerminal(t *testing.T) {
	t.Parallel()
	_, env := migratedDataDir(t)
	args := []string{"generate", "--type", "PAD", "--vendor", "V0100", "--lot", "L1", "--count", "300", "--format", "zip", "--out", t.TempDir() + "/b.zip"}
	shown := onTerminal(t, env, args...)
	if !strings.Contains(shown, "\rrendering: 300/300 codes (100%)") {
		t.Fatalf("the terminal did not show the progress:\n%q", shown)
	}
	_, logs, err := cliSplit(t, env, "", append(args[:len(args)-1], t.TempDir()+"/c.zip")...)
	if err != nil || strings.Contains(logs, "rendering") || strings.Contains(logs, "\r") {
		t.Fatalf("piped: %v, progress written where it is not a terminal:\n%q", err, logs)
	}
}

// TestProgressOnTerminal: scanning many photos, CSV export and import show
// their progress on a terminal.
func TestProgressOnTerminal(t *testing.T) {
	t.Parallel()
	_, env := migratedDataDir(t)
	dir := t.TempDir()
	if _, logs, err := cliSplit(t, env, "", "generate", "--type", "PAD", "--vendor", "V0100", "--lot", "L8", "--count", "3", "--out", dir); err != nil {
		t.Fatal(err, logs)
	}
	photos, _ := filepath.Glob(filepath.Join(dir, "*.png"))
	if shown := onTerminal(t, env, append([]string{"scan"}, photos...)...); !strings.Contains(shown, "\rscanning: ") || !strings.Contains(shown, "/3 photos") {
		t.Errorf("scan did not show its progress:\n%q", shown)
	}
	file := filepath.Join(t.TempDir(), "items.csv")
	if shown := onTerminal(t, env, "inventory", "export", "--out", file); !strings.Contains(shown, "\rexporting: 3/3 items (100%)") {
		t.Errorf("export did not show its progress:\n%q", shown)
	}
	st, err := os.Stat(file)
	if err != nil {
		t.Fatal(err)
	}
	_, other := migratedDataDir(t)
	if shown := onTerminal(t, other, "inventory", "import", file); !strings.Contains(shown, fmt.Sprintf("\rreading %s: %d/%d bytes (100%%)", file, st.Size(), st.Size())) {
		t.Errorf("import did not show its progress:\n%q", shown)
	}
}
