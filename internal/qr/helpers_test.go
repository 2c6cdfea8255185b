package qr

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// needTool returns the path of an external program a test needs. When it is
// missing the test is skipped, or fails when CI=true (CI installs it).
func needTool(tb testing.TB, name, pkg string) string {
	tb.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			tb.Fatalf("%s not found (Debian package %s); CI must install it", name, pkg)
		}
		tb.Skipf("%s not found; install Debian package %s to run this test", name, pkg)
	}
	return p
}

// needQrcodegen returns the system Python when it can import qrcodegen.
func needQrcodegen(tb testing.TB) string {
	tb.Helper()
	const py = "/usr/bin/python3"
	if err := exec.Command(py, "-c", "import qrcodegen").Run(); err != nil {
		if os.Getenv("CI") == "true" {
			tb.Fatalf("%s cannot import qrcodegen (Debian package python3-qrcodegen): %v", py, err)
		}
		tb.Skipf("%s cannot import qrcodegen; install Debian package python3-qrcodegen: %v", py, err)
	}
	return py
}

// payload returns the bytes a segment carries as the decoder sees them.
func (s Segment) payload() []byte {
	if s.latin1 {
		b := make([]byte, 0, s.count)
		for _, r := range s.data {
			b = append(b, byte(r))
		}
		return b
	}
	return []byte(s.data)
}

// matrixHex formats m as the reference script does: rows of hex digits,
// module x=0 in the most significant bit.
func matrixHex(m *Matrix) string {
	size := m.Size()
	digits := (size + 3) / 4
	var sb strings.Builder
	for y := range size {
		for d := range digits {
			v := 0
			for b := range 4 {
				v <<= 1
				if m.Dark(d*4+b, y) {
					v |= 1
				}
			}
			sb.WriteByte("0123456789abcdef"[v])
		}
	}
	return sb.String()
}
