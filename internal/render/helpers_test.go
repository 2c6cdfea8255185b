package render

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/qrmfg/qrmfg/internal/qr"
)

// needTool returns the path of an external tool, or skips the test when it
// is missing (fails under CI=true, where CI installs it).
func needTool(tb testing.TB, name string) string {
	tb.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			tb.Fatalf("%s is required under CI=true: %v", name, err)
		}
		tb.Skipf("%s not installed (Debian: zbar-tools, zxing-cpp-tools, qrencode, poppler-utils); skipping", name)
	}
	return p
}

// qrencodeMatrix builds a matrix for text with the independent encoder
// qrencode (level M, no margin): each module is "##" (dark) or "  " (light).
func qrencodeMatrix(tb testing.TB, text string) *qr.Matrix {
	tb.Helper()
	out, err := exec.Command(needTool(tb, "qrencode"), "-t", "ASCII", "-m", "0", "-l", "M", "--", text).Output()
	if err != nil {
		tb.Fatalf("qrencode %q: %v", text, err)
	}
	var lines []string
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if l := sc.Text(); l != "" {
			lines = append(lines, l)
		}
	}
	n := len(lines)
	m := qr.NewMatrix(n)
	for y, l := range lines {
		l = l + strings.Repeat(" ", 2*n-len(l)) // trailing light modules may be trimmed
		for x := 0; x < n; x++ {
			m.Set(x, y, l[2*x] == '#')
		}
	}
	return m
}

// zbar decodes every QR code in image files with zbarimg.
func zbar(tb testing.TB, files ...string) []string {
	tb.Helper()
	args := append([]string{"--quiet", "--raw", "-Sdisable", "-Sqrcode.enable"}, files...)
	out, err := exec.Command(needTool(tb, "zbarimg"), args...).Output()
	if err != nil {
		tb.Fatalf("zbarimg %v: %v (output %q)", files, err, out)
	}
	return strings.Fields(string(out))
}

// zxing decodes the QR codes in an image file with ZXingReader.
func zxing(tb testing.TB, file string) []string {
	tb.Helper()
	out, err := exec.Command(needTool(tb, "ZXingReader"), "-format", "QRCode", "-1", file).Output()
	if err != nil {
		tb.Fatalf("ZXingReader %s: %v (output %q)", file, err, out)
	}
	var texts []string
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		// "-1" prints `<file> QRCode "<text>"` per code.
		if t, ok := strings.CutPrefix(l, file+" QRCode "); ok {
			texts = append(texts, strings.TrimSuffix(strings.TrimPrefix(t, `"`), `"`))
		}
	}
	return texts
}

func writeTemp(tb testing.TB, name string, data []byte) string {
	tb.Helper()
	p := filepath.Join(tb.TempDir(), name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		tb.Fatal(err)
	}
	return p
}
