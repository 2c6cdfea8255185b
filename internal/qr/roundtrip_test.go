package qr

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// TestDecodersReadBack renders symbols of every version, at every level and
// in every kind of text, and checks that two decoders we did not write, zbar
// and ZXing, read the exact text back.
func TestDecodersReadBack(t *testing.T) {
	t.Parallel()
	zbar := needTool(t, "zbarimg", "zbar-tools")
	zxing := needTool(t, "ZXingReader", "zxing-cpp-tools")
	r := rand.New(rand.NewPCG(7, 18004))
	kinds := []string{"numeric", "alnum", "ascii", "latin1", "utf8", "mixed"}
	type rtCase struct {
		name, text, png string
	}
	var cases []rtCase
	dir := t.TempDir()
	step := 1
	if testing.Short() {
		step = 5
	}
	for v := 1; v <= MaxVersion; v += step {
		for i := range 2 {
			l := Level((v + i) % 4)
			k := kinds[(2*v+i)%len(kinds)]
			text := fitText(r, k, v, l)
			sym, err := Encode(text, Options{Level: l, MinVersion: v})
			if err != nil {
				t.Fatalf("v%d %s %s: %v", v, l, k, err)
			}
			if sym.Version != v {
				t.Fatalf("v%d %s %s: got version %d", v, l, k, sym.Version)
			}
			c := rtCase{name: fmt.Sprintf("v%d-%s-%s", v, l, k), text: text}
			c.png = filepath.Join(dir, c.name+".png")
			writePNG(t, c.png, sym.Matrix, 4)
			cases = append(cases, c)
		}
	}
	// The seed's workload and a UTF-8 text behind an ECI designator.
	for _, text := range []string{"PAD-V0100-L2025-09-00001", "Prüfung – 検査 № 42 ✓"} {
		sym, err := Encode(text, Options{Level: M})
		if err != nil {
			t.Fatal(err)
		}
		c := rtCase{name: "fixed-" + itoa(len(cases)), text: text}
		c.png = filepath.Join(dir, c.name+".png")
		writePNG(t, c.png, sym.Matrix, 4)
		cases = append(cases, c)
	}

	var wg sync.WaitGroup
	var mu sync.Mutex
	sem := make(chan struct{}, 2)
	for _, c := range cases {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			var problems []string
			out, err := exec.Command(zbar, "--raw", "-q", c.png).Output()
			if got := strings.TrimSuffix(string(out), "\n"); err != nil || got != c.text {
				problems = append(problems, fmt.Sprintf("%s: zbarimg read %q (%v), want %q", c.name, got, err, c.text))
			}
			out, err = exec.Command(zxing, "-format", "QRCode", c.png).Output()
			if got, ok := zxingText(out); err != nil || !ok || got != c.text {
				problems = append(problems, fmt.Sprintf("%s: ZXingReader read %q (%v), want %q", c.name, got, err, c.text))
			}
			mu.Lock()
			defer mu.Unlock()
			for _, p := range problems {
				t.Error(p)
			}
		}()
	}
	wg.Wait()
}

// zxingText returns the decoded text from ZXingReader's report, whose line
// `Text:       "…"` quotes it verbatim.
func zxingText(out []byte) (string, bool) {
	for line := range bytes.Lines(out) {
		rest, ok := bytes.CutPrefix(line, []byte("Text:"))
		if !ok {
			continue
		}
		rest = bytes.TrimSpace(rest)
		if len(rest) < 2 || rest[0] != '"' || rest[len(rest)-1] != '"' {
			return "", false
		}
		return string(rest[1 : len(rest)-1]), true
	}
	return "", false
}
