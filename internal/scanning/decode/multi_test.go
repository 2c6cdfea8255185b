package decode

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/qrmfg/qrmfg/internal/qr"
	"github.com/qrmfg/qrmfg/internal/render"
	"github.com/qrmfg/qrmfg/internal/scanning/decode/degrade"
)

// sheetTexts are the part ids of the a4-24 label sheet: what the README's
// generate example prints on it.
func sheetTexts() []string {
	var out []string
	for i := 1; i <= 24; i++ {
		out = append(out, fmt.Sprintf("PAD-V0100-L2025-09-%05d", i))
	}
	return out
}

// labelSheetPNG renders the a4-24 label sheet of sheetTexts as a PDF with
// the label renderer and rasterises it with pdftoppm at dpi (grey PNG),
// skipping the test when pdftoppm is not installed (failing when CI=true).
func labelSheetPNG(tb testing.TB, dpi int) []byte {
	tb.Helper()
	tool, err := exec.LookPath("pdftoppm")
	if err != nil {
		if os.Getenv("CI") == "true" {
			tb.Fatal("pdftoppm not installed (make deps)")
		}
		tb.Skip("pdftoppm not installed (make deps); skipping")
	}
	var pdf bytes.Buffer
	sheet, err := render.NewLabelSheet(&pdf, render.A4x24, render.DefaultStyle())
	if err != nil {
		tb.Fatal(err)
	}
	for _, text := range sheetTexts() {
		sym, err := qr.Encode(text, qr.Options{Level: qr.M})
		if err != nil {
			tb.Fatal(err)
		}
		if err := sheet.Add(sym.Matrix, text); err != nil {
			tb.Fatal(err)
		}
	}
	if err := sheet.Close(); err != nil {
		tb.Fatal(err)
	}
	dir := tb.TempDir()
	in := filepath.Join(dir, "sheet.pdf")
	if err := os.WriteFile(in, pdf.Bytes(), 0o600); err != nil {
		tb.Fatal(err)
	}
	out, err := exec.Command(tool, "-r", fmt.Sprint(dpi), "-gray", "-png", "-singlefile", in, filepath.Join(dir, "page")).CombinedOutput()
	if err != nil {
		tb.Fatalf("pdftoppm: %v %s", err, out)
	}
	data, err := os.ReadFile(filepath.Join(dir, "page.png"))
	if err != nil {
		tb.Fatal(err)
	}
	return data
}

// trayPhoto is the seeded 4000×3000 photo of a tray of 10×10 labelled
// parts (degrade.Tray), rendered once per test binary.
var trayPhoto = sync.OnceValues(func() (*image.Gray, []string) {
	img, texts, err := degrade.Tray(traySeed, 10, 10, 4000, 3000)
	if err != nil {
		panic(err)
	}
	return img, texts
})

const traySeed = 7

// checkAllRead fails unless codes are exactly want, in reading order.
func checkAllRead(tb testing.TB, codes []Code, want []string) {
	tb.Helper()
	got := texts(codes)
	if fmt.Sprint(got) == fmt.Sprint(want) {
		return
	}
	wanted := map[string]bool{}
	for _, w := range want {
		wanted[w] = true
	}
	missing := map[string]bool{}
	for _, w := range want {
		missing[w] = true
	}
	for _, g := range got {
		if !wanted[g] {
			tb.Errorf("wrong decode %q", g)
		}
		delete(missing, g)
	}
	tb.Fatalf("read %d of %d codes (%d missing: %v); got %q", len(got), len(want), len(missing), keys(missing), got)
}

func keys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// TestLabelSheet reads every code of the a4-24 label sheet rasterised at
// 150 and 300 dpi, in reading order, with the default options.
func TestLabelSheet(t *testing.T) {
	t.Parallel()
	for _, dpi := range []int{150, 300} {
		t.Run(fmt.Sprintf("%ddpi", dpi), func(t *testing.T) {
			data := labelSheetPNG(t, dpi)
			start := time.Now()
			codes, err := Bytes(context.Background(), data, DefaultOptions())
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%d codes in %v", len(codes), time.Since(start))
			checkAllRead(t, codes, sheetTexts())
		})
	}
}

// TestTray reads all 100 codes of the tray photo, in reading order, with the
// default options.
func TestTray(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("renders a 12-megapixel photo")
	}
	img, want := trayPhoto()
	start := time.Now()
	codes := mustDecode(t, img, DefaultOptions())
	t.Logf("%d codes in %v", len(codes), time.Since(start))
	checkAllRead(t, codes, want)
}

// BenchmarkTray times the tray photo and the same photo with one label
// left on the tray (degrade.TrayOfOne), one right after the other, and
// reports the time of each and their ratio: what reading 100 codes costs
// over reading one in the same 12-megapixel frame.
//
//	go test ./internal/scanning/decode -run '^$' -bench Tray -benchtime 3x
func BenchmarkTray(b *testing.B) {
	img, want := trayPhoto()
	one, text, err := degrade.TrayOfOne(traySeed, 10, 10, 4000, 3000, 44)
	if err != nil {
		b.Fatal(err)
	}
	var many, single time.Duration
	b.ResetTimer()
	for range b.N {
		t0 := time.Now()
		codes := mustDecode(b, img, DefaultOptions())
		t1 := time.Now()
		codes1 := mustDecode(b, one, DefaultOptions())
		many += t1.Sub(t0)
		single += time.Since(t1)
		if len(codes) != len(want) || len(codes1) != 1 || codes1[0].Text != text {
			b.Fatalf("read %d of %d codes on the tray, %d (%q) on the tray of one", len(codes), len(want), len(codes1), texts(codes1))
		}
	}
	n := float64(b.N)
	b.ReportMetric(many.Seconds()*1000/n, "ms/tray")
	b.ReportMetric(single.Seconds()*1000/n, "ms/one-code")
	b.ReportMetric(many.Seconds()/single.Seconds(), "ratio")
}
