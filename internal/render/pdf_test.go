package render

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/qrmfg/qrmfg/internal/qr"
	"github.com/qrmfg/qrmfg/internal/qrmfg"
)

func testIDs(n int) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("PAD-V0100-L2025-09-%05d", i+1)
	}
	return ids
}

// cropLabels cuts the first n labels out of a page rendered at 300 dpi
// into PNG files, inverting them when the codes are light-on-dark (as a
// reader with reflectance reversal does). Each label is decoded on its own,
// as a scanner reads a label: zbarimg misses some codes of a full page of
// dozens of aligned codes (finder patterns of neighbours line up), which
// says nothing about the labels.
func cropLabels(t *testing.T, page string, l SheetLayout, n int, invert bool) []string {
	t.Helper()
	f, err := os.Open(page)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	px := func(mm float64) int { return int(math.Round(mm * 300 / 25.4)) }
	var files []string
	for i := range n {
		col, row := i%l.Cols, i/l.Cols
		x0, y0 := px(l.MarginLeftMM+float64(col)*l.PitchXMM), px(l.MarginTopMM+float64(row)*l.PitchYMM)
		r := image.Rect(x0, y0, x0+px(l.LabelWidthMM), y0+px(l.LabelHeightMM))
		crop := image.NewGray(r)
		for y := r.Min.Y; y < r.Max.Y; y++ {
			for x := r.Min.X; x < r.Max.X; x++ {
				g := color.GrayModel.Convert(img.At(x, y)).(color.Gray)
				if invert {
					g.Y = 255 - g.Y
				}
				crop.SetGray(x, y, g)
			}
		}
		var buf bytes.Buffer
		if err := png.Encode(&buf, crop); err != nil {
			t.Fatal(err)
		}
		files = append(files, writeTemp(t, fmt.Sprintf("label%03d.png", i), buf.Bytes()))
	}
	return files
}

// rasterize renders every page of a PDF at 300 dpi with pdftoppm and returns
// the PNG files.
func rasterize(t *testing.T, pdf []byte) []string {
	t.Helper()
	tool := needTool(t, "pdftoppm")
	file := writeTemp(t, "sheet.pdf", pdf)
	prefix := filepath.Join(filepath.Dir(file), "page")
	if out, err := exec.Command(tool, "-r", "300", "-png", file, prefix).CombinedOutput(); err != nil {
		t.Fatalf("pdftoppm: %v\n%s", err, out)
	}
	pages, _ := filepath.Glob(prefix + "*.png")
	slices.Sort(pages)
	return pages
}

func TestLabelSheetDecodes(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		layout SheetLayout
		count  int
		mod    func(*Style)
	}{
		{AveryL7651, 67, func(*Style) {}}, // one full page of 65 and a second page
		{Avery5160, 30, func(s *Style) { s.ModuleMM = 0.6 }},
		{SheetLayout{"custom", 100, 60, 2, 1, 5, 5, 45, 50, 40, 50}, 2, func(s *Style) { s.Invert = true }},
	} {
		t.Run(tc.layout.Name, func(t *testing.T) {
			t.Parallel()
			ids := testIDs(tc.count)
			s := DefaultStyle()
			tc.mod(&s)
			var buf bytes.Buffer
			sheet, err := NewLabelSheet(&buf, tc.layout, s)
			if err != nil {
				t.Fatal(err)
			}
			for _, id := range ids {
				sym, err := qr.Encode(id, qr.Options{Level: qr.M})
				if err != nil {
					t.Fatal(err)
				}
				if err := sheet.Add(sym.Matrix, id); err != nil {
					t.Fatal(err)
				}
			}
			if err := sheet.Close(); err != nil {
				t.Fatal(err)
			}
			pages := rasterize(t, buf.Bytes())
			perPage := tc.layout.Cols * tc.layout.Rows
			if want := (tc.count + perPage - 1) / perPage; len(pages) != want {
				t.Fatalf("%d pages, want %d", len(pages), want)
			}
			var got []string
			for i, p := range pages {
				n := min(perPage, tc.count-i*perPage)
				got = append(got, zbar(t, cropLabels(t, p, tc.layout, n, s.Invert)...)...)
			}
			slices.Sort(got)
			if !slices.Equal(got, ids) {
				t.Errorf("decoded %d codes %v, want the %d ids", len(got), got, len(ids))
			}
			text, err := exec.Command(needTool(t, "pdftotext"), writeTemp(t, "s.pdf", buf.Bytes()), "-").Output()
			if err != nil {
				t.Fatalf("pdftotext: %v", err)
			}
			captions := strings.Fields(string(text))
			slices.Sort(captions)
			if !slices.Equal(captions, ids) {
				t.Errorf("captions %v, want the ids", captions)
			}
		})
	}
}

func TestLabelSheetErrors(t *testing.T) {
	t.Parallel()
	m := qrencodeMatrix(t, testText)
	cases := []struct {
		name    string
		layout  SheetLayout
		mod     func(*Style)
		caption string
		field   string
	}{
		{"modules too big", AveryL7651, func(s *Style) { s.ModuleMM = 1 }, testText, "label"},
		{"modules too small", AveryL7651, func(s *Style) { s.ModuleMM = 0.1 }, testText, "module_mm"},
		{"caption too long", AveryL7651, func(*Style) {}, strings.Repeat("W", 40), "caption"},
		{"caption not ASCII", AveryL7651, func(*Style) {}, "PAD–1", "caption"},
		{"grid beyond page", SheetLayout{"x", 100, 100, 3, 1, 0, 0, 40, 40, 40, 40}, func(*Style) {}, "", "layout"},
		{"overlapping labels", SheetLayout{"x", 100, 100, 2, 1, 0, 0, 30, 40, 40, 40}, func(*Style) {}, "", "layout.pitch"},
		{"empty grid", SheetLayout{"x", 100, 100, 0, 1, 0, 0, 30, 40, 40, 40}, func(*Style) {}, "", "layout.grid"},
		{"low contrast", AveryL7651, func(s *Style) { s.Foreground = s.Background }, "", "foreground"},
	}
	for _, tc := range cases {
		s := DefaultStyle()
		tc.mod(&s)
		var buf bytes.Buffer
		sheet, err := NewLabelSheet(&buf, tc.layout, s)
		if err == nil {
			err = sheet.Add(m, tc.caption)
		}
		if e := qrmfg.AsError(err); e == nil || e.Code != qrmfg.EINVALID || e.Field != tc.field {
			t.Errorf("%s: error %v, want EINVALID on %s", tc.name, err, tc.field)
		}
	}
	if _, err := LookupSheetLayout("avery-l7651"); err != nil {
		t.Error(err)
	}
	if _, err := LookupSheetLayout("nope"); qrmfg.ErrorCode(err) != qrmfg.EINVALID {
		t.Errorf("LookupSheetLayout(nope) = %v", err)
	}
	for _, l := range SheetLayouts {
		if err := l.Validate(); err != nil {
			t.Errorf("preset %s: %v", l.Name, err)
		}
	}
}

// countingWriter counts the bytes that reached it.
type countingWriter struct{ n int }

func (c *countingWriter) Write(p []byte) (int, error) { c.n += len(p); return len(p), nil }

// Pages go out as they fill: the writer has received data long before Close,
// and the sheet's own buffers do not grow with the page count.
func TestLabelSheetStreams(t *testing.T) {
	t.Parallel()
	m := qrencodeMatrix(t, testText)
	var w countingWriter
	sheet, err := NewLabelSheet(&w, AveryL7651, DefaultStyle())
	if err != nil {
		t.Fatal(err)
	}
	capAfter := func(pages int) int {
		for range pages * 65 {
			if err := sheet.Add(m, testText); err != nil {
				t.Fatal(err)
			}
		}
		return cap(sheet.content) + sheet.zbuf.Cap()
	}
	first := capAfter(5)
	later := capAfter(20)
	// Everything but the last 64 KiB output buffer has reached the writer.
	if buffered := sheet.off - int64(w.n); w.n == 0 || buffered > 64<<10 {
		t.Errorf("after 25 pages %d bytes produced, %d reached the writer: pages are not streamed", sheet.off, w.n)
	}
	if later > first {
		t.Errorf("page buffers grew from %d to %d bytes between 5 and 25 pages", first, later)
	}
	if err := sheet.Close(); err != nil {
		t.Fatal(err)
	}
	if err := sheet.Add(m, testText); qrmfg.ErrorCode(err) != qrmfg.ECONFLICT {
		t.Errorf("Add after Close = %v, want ECONFLICT", err)
	}
}

func BenchmarkLabelSheet(b *testing.B) {
	m := benchMatrix(b)
	var w countingWriter
	sheet, err := NewLabelSheet(&w, AveryL7651, DefaultStyle())
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	startCPU()
	for b.Loop() {
		if err := sheet.Add(m, testText); err != nil {
			b.Fatal(err)
		}
	}
	if err := sheet.Close(); err != nil {
		b.Fatal(err)
	}
	reportRate(b, "codes/s")
	b.ReportMetric(float64(w.n)/float64(b.N), "B/code")
}
