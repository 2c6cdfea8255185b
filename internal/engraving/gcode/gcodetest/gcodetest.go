// Package gcodetest holds test helpers shared by the engraving packages: QR
// matrices (from qr.Encode, or from the independent qrencode tool) and
// zbarimg decoding of images.
// Tests that need these tools skip when they are absent, unless CI=true.
package gcodetest

import (
	"bytes"
	"fmt"
	"image"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/qrmfg/qrmfg/internal/qr"
)

// NeedTool skips the test when the named executable is missing, or fails it
// when the environment variable CI is "true" (CI installs every tool).
func NeedTool(tb testing.TB, name, debianPackage string) {
	tb.Helper()
	if _, err := exec.LookPath(name); err != nil {
		if os.Getenv("CI") == "true" {
			tb.Fatalf("%s not found (install Debian package %s): %v", name, debianPackage, err)
		}
		tb.Skipf("%s not found; install Debian package %s to run this test", name, debianPackage)
	}
}

// Matrix encodes text at error-correction level M with our encoder
// (qr.Encode) and returns its modules (no quiet zone).
func Matrix(tb testing.TB, text string) *qr.Matrix {
	tb.Helper()
	sym, err := qr.Encode(text, qr.Options{Level: qr.M})
	if err != nil {
		tb.Fatalf("encode %q: %v", text, err)
	}
	return sym.Matrix
}

// QREncodeMatrix encodes text at level M with the independent qrencode tool
// and returns its modules as a qr.Matrix.
func QREncodeMatrix(tb testing.TB, text string) *qr.Matrix {
	tb.Helper()
	NeedTool(tb, "qrencode", "qrencode")
	out, err := exec.Command("qrencode", "-t", "ASCII", "-m", "0", "-l", "M", "--", text).Output()
	if err != nil {
		tb.Fatalf("qrencode %q: %v", text, err)
	}
	m, err := ParseASCII(string(out))
	if err != nil {
		tb.Fatalf("qrencode %q: %v", text, err)
	}
	return m
}

// ParseASCII parses qrencode's ASCII output (two characters per module, "##"
// dark, "  " light, no quiet zone) into a matrix.
func ParseASCII(s string) (*qr.Matrix, error) {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	n := len(lines)
	m := qr.NewMatrix(n)
	for y, l := range lines {
		if len(l) != 2*n {
			return nil, fmt.Errorf("line %d has %d characters, want %d", y, len(l), 2*n)
		}
		for x := range n {
			switch l[2*x : 2*x+2] {
			case "##":
				m.Set(x, y, true)
			case "  ":
			default:
				return nil, fmt.Errorf("line %d, module %d: unexpected %q", y, x, l[2*x:2*x+2])
			}
		}
	}
	return m, nil
}

// Decode writes img as PNG and returns the texts zbarimg reads from it, in
// the order zbarimg prints them.
func Decode(tb testing.TB, img image.Image) []string {
	tb.Helper()
	NeedTool(tb, "zbarimg", "zbar-tools")
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		tb.Fatal(err)
	}
	path := filepath.Join(tb.TempDir(), "burn.png")
	if err := os.WriteFile(path, buf.Bytes(), 0o600); err != nil {
		tb.Fatal(err)
	}
	out, err := exec.Command("zbarimg", "--quiet", "--raw", "-Sdisable", "-Sqrcode.enable", path).Output()
	if err != nil {
		// zbarimg exits 4 when it finds no symbol.
		return nil
	}
	var texts []string
	for _, l := range strings.Split(strings.TrimRight(string(out), "\n"), "\n") {
		if l != "" {
			texts = append(texts, l)
		}
	}
	return texts
}
