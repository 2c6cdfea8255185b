package render

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"image/color"
	"io"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/qrmfg/qrmfg/internal/qr"
)

type svgDoc struct {
	ViewBox string `xml:"viewBox,attr"`
	Width   string `xml:"width,attr"`
	Height  string `xml:"height,attr"`
	Shape   string `xml:"shape-rendering,attr"`
	Rect    *struct {
		Fill string `xml:"fill,attr"`
	} `xml:"rect"`
	Path struct {
		Fill string `xml:"fill,attr"`
		D    string `xml:"d,attr"`
	} `xml:"path"`
}

// drawPath fills the unit squares a path of "Mx yhWv1h-Wz" subpaths covers,
// interpreting the commands (not matching the text), into a side×side grid.
func drawPath(t *testing.T, d string, side int) *qr.Matrix {
	t.Helper()
	out := qr.NewMatrix(side)
	r := strings.NewReader(d)
	for r.Len() > 0 {
		var x, y, w, w2 int
		if _, err := fmt.Fscanf(r, "M%d %dh%dv1h-%dz", &x, &y, &w, &w2); err != nil {
			t.Fatalf("path %q: %v", d, err)
		}
		if w != w2 || w < 1 || x < 0 || y < 0 || x+w > side || y >= side {
			t.Fatalf("subpath M%d %d h%d h-%d is not a closed run inside the viewBox", x, y, w, w2)
		}
		for i := x; i < x+w; i++ {
			if out.Dark(i, y) {
				t.Fatalf("module (%d,%d) drawn twice", i, y)
			}
			out.Set(i, y, true)
		}
	}
	return out
}

func TestSVG(t *testing.T) {
	t.Parallel()
	m := qrencodeMatrix(t, testText)
	s := DefaultStyle()
	var buf bytes.Buffer
	if err := SVG(&buf, m, s); err != nil {
		t.Fatal(err)
	}
	var doc svgDoc
	if err := xml.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatalf("not well-formed XML: %v\n%s", err, buf.String())
	}
	if doc.ViewBox != "0 0 33 33" || doc.Width != "330" || doc.Height != "330" || doc.Shape != "crispEdges" {
		t.Errorf("svg attributes %+v", doc)
	}
	if doc.Rect == nil || doc.Rect.Fill != "#ffffff" || doc.Path.Fill != "#000000" {
		t.Errorf("fills: rect %+v path %q", doc.Rect, doc.Path.Fill)
	}
	got := drawPath(t, doc.Path.D, 33)
	for y := -1; y <= 33; y++ {
		for x := -1; x <= 33; x++ {
			if got.Dark(x, y) != m.Dark(x-4, y-4) {
				t.Fatalf("module (%d,%d) drawn %v, want %v", x, y, got.Dark(x, y), m.Dark(x-4, y-4))
			}
		}
	}
	// Runs are merged: one subpath per run of dark modules, no more.
	runs := 0
	for y := 0; y < m.Size(); y++ {
		for x := 0; x < m.Size(); x++ {
			if m.Dark(x, y) && !m.Dark(x-1, y) {
				runs++
			}
		}
	}
	if c := strings.Count(doc.Path.D, "M"); c != runs {
		t.Errorf("%d subpaths for %d runs", c, runs)
	}
}

func TestSVGPhysicalSizeAndColours(t *testing.T) {
	t.Parallel()
	m := qrencodeMatrix(t, testText)
	s := DefaultStyle()
	s.ModuleMM = 0.5
	s.Background = color.RGBA{}               // transparent: no rectangle
	s.Foreground = color.RGBA{0, 0, 128, 255} // navy
	var buf bytes.Buffer
	if err := SVG(&buf, m, s); err != nil {
		t.Fatal(err)
	}
	var doc svgDoc
	if err := xml.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Width != "16.5mm" || doc.Height != "16.5mm" {
		t.Errorf("size %s × %s, want 16.5mm (33 modules × 0.5 mm)", doc.Width, doc.Height)
	}
	if doc.Rect != nil || doc.Path.Fill != "#000080" {
		t.Errorf("transparent background drew a rect (%v) or path fill %q != #000080", doc.Rect, doc.Path.Fill)
	}
	s.Background = color.RGBA{255, 255, 255, 255}
	s.QuietZone = 1
	if err := SVG(io.Discard, m, s); err == nil {
		t.Error("SVG accepted a 1-module quiet zone")
	}
}

// parseText turns half-block text back into ink per module.
func parseText(t *testing.T, text string, side int) [][]bool {
	t.Helper()
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	if len(lines) != (side+1)/2 {
		t.Fatalf("%d lines, want %d", len(lines), (side+1)/2)
	}
	ink := make([][]bool, len(lines)*2)
	for i := range ink {
		ink[i] = make([]bool, side)
	}
	for ly, l := range lines {
		if n := utf8.RuneCountInString(l); n != side {
			t.Fatalf("line %d has %d characters, want %d", ly, n, side)
		}
		x := 0
		for _, r := range l {
			switch r {
			case '█':
				ink[2*ly][x], ink[2*ly+1][x] = true, true
			case '▀':
				ink[2*ly][x] = true
			case '▄':
				ink[2*ly+1][x] = true
			case ' ':
			default:
				t.Fatalf("unexpected character %q", r)
			}
			x++
		}
	}
	return ink
}

func TestText(t *testing.T) {
	t.Parallel()
	m := qrencodeMatrix(t, testText)
	for _, invert := range []bool{false, true} {
		s := Style{QuietZone: 2, Invert: invert}
		var buf bytes.Buffer
		if err := Text(&buf, m, s); err != nil {
			t.Fatal(err)
		}
		side := m.Size() + 4
		ink := parseText(t, buf.String(), side)
		for y := 0; y < side; y++ {
			for x := 0; x < side; x++ {
				if want := m.Dark(x-2, y-2) != invert; ink[y][x] != want {
					t.Fatalf("invert=%v: module (%d,%d) ink %v, want %v", invert, x, y, ink[y][x], want)
				}
			}
		}
		for x := 0; x < side; x++ {
			if ink[side][x] {
				t.Fatalf("invert=%v: the half line below the quiet zone is inked", invert)
			}
		}
	}
	if err := Text(io.Discard, m, Style{QuietZone: 0}); err == nil {
		t.Error("Text accepted quiet zone 0")
	}
}
