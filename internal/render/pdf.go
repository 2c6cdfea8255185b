package render

import (
	"bufio"
	"bytes"
	"compress/zlib"
	"fmt"
	"image/color"
	"io"
	"math"
	"strconv"

	"github.com/qrmfg/qrmfg/internal/qr"
	"github.com/qrmfg/qrmfg/internal/qrmfg"
)

// SheetLayout is a sheet of labels in a grid. Lengths are in millimetres;
// the grid starts at the top-left corner of the page.
type SheetLayout struct {
	Name                      string
	PageWidthMM, PageHeightMM float64
	Cols, Rows                int
	// MarginLeftMM and MarginTopMM place the top-left label.
	MarginLeftMM, MarginTopMM float64
	// PitchXMM and PitchYMM are the distances between the left (top) edges
	// of neighbouring labels: label size plus gap.
	PitchXMM, PitchYMM          float64
	LabelWidthMM, LabelHeightMM float64
}

// Page sizes in millimetres.
const (
	A4WidthMM, A4HeightMM         = 210, 297
	LetterWidthMM, LetterHeightMM = 215.9, 279.4
)

// Sheet presets, by name.
var (
	// AveryL7651: A4, 65 labels 38.1×21.2 mm in 5×13.
	AveryL7651 = SheetLayout{"avery-l7651", A4WidthMM, A4HeightMM, 5, 13, 4.75, 10.7, 40.6, 21.2, 38.1, 21.2}
	// Avery5160: US Letter, 30 labels 2⅝×1 in (66.675×25.4 mm) in 3×10.
	Avery5160 = SheetLayout{"avery-5160", LetterWidthMM, LetterHeightMM, 3, 10, 4.7625, 12.7, 69.85, 25.4, 66.675, 25.4}
	// A4x24: A4, 24 labels 70×37 mm in 3×8, edge to edge.
	A4x24 = SheetLayout{"a4-24", A4WidthMM, A4HeightMM, 3, 8, 0, 0.5, 70, 37, 70, 37}
	// A4x16 and Letterx16: a generic 4×4 grid with 10 mm page margins.
	A4x16     = SheetLayout{"a4-4x4", A4WidthMM, A4HeightMM, 4, 4, 10, 10, 47.5, 69.25, 47.5, 69.25}
	Letterx16 = SheetLayout{"letter-4x4", LetterWidthMM, LetterHeightMM, 4, 4, 10, 10, 48.975, 64.85, 48.975, 64.85}
)

// SheetLayouts lists the presets.
var SheetLayouts = []SheetLayout{AveryL7651, Avery5160, A4x24, A4x16, Letterx16}

// LookupSheetLayout returns the preset with the given name.
func LookupSheetLayout(name string) (SheetLayout, error) {
	for _, l := range SheetLayouts {
		if l.Name == name {
			return l, nil
		}
	}
	names := ""
	for i, l := range SheetLayouts {
		if i > 0 {
			names += ", "
		}
		names += l.Name
	}
	return SheetLayout{}, qrmfg.FieldError("layout", "label sheet layout %q is unknown; use one of %s or a custom grid", name, names)
}

// Validate checks that the grid is positive and fits on the page.
func (l SheetLayout) Validate() error {
	const eps = 1e-6
	pos := func(v float64) bool { return v > 0 && !math.IsInf(v, 0) }
	switch {
	case !pos(l.PageWidthMM) || !pos(l.PageHeightMM) || l.PageWidthMM > 5000 || l.PageHeightMM > 5000:
		return qrmfg.FieldError("layout.page", "page %g×%g mm is not a usable page size", l.PageWidthMM, l.PageHeightMM)
	case l.Cols < 1 || l.Rows < 1 || l.Cols*l.Rows > 10000:
		return qrmfg.FieldError("layout.grid", "grid %d×%d must have 1 to 10000 labels", l.Cols, l.Rows)
	case !pos(l.LabelWidthMM) || !pos(l.LabelHeightMM):
		return qrmfg.FieldError("layout.label", "label %g×%g mm must have a positive size", l.LabelWidthMM, l.LabelHeightMM)
	case !(l.MarginLeftMM >= 0) || !(l.MarginTopMM >= 0):
		return qrmfg.FieldError("layout.margin", "margins %g, %g mm must not be negative", l.MarginLeftMM, l.MarginTopMM)
	case l.Cols > 1 && !(l.PitchXMM >= l.LabelWidthMM-eps), l.Rows > 1 && !(l.PitchYMM >= l.LabelHeightMM-eps):
		return qrmfg.FieldError("layout.pitch", "pitch %g×%g mm is smaller than the label %g×%g mm: labels would overlap", l.PitchXMM, l.PitchYMM, l.LabelWidthMM, l.LabelHeightMM)
	}
	right := l.MarginLeftMM + float64(l.Cols-1)*l.PitchXMM + l.LabelWidthMM
	bottom := l.MarginTopMM + float64(l.Rows-1)*l.PitchYMM + l.LabelHeightMM
	if right > l.PageWidthMM+eps || bottom > l.PageHeightMM+eps {
		return qrmfg.FieldError("layout", "the grid reaches %.2f×%.2f mm, beyond the %g×%g mm page", right, bottom, l.PageWidthMM, l.PageHeightMM)
	}
	return nil
}

// Label geometry.
const (
	// LabelPaddingMM is kept clear inside each label edge (die-cut and
	// printer registration tolerance), on top of the code's quiet zone.
	LabelPaddingMM = 1.0
	// CaptionPt is the caption font size; it shrinks down to MinCaptionPt
	// to fit the label width.
	CaptionPt    = 7.0
	MinCaptionPt = 4.0
	// MinModuleMM is the smallest module a label sheet draws: 0.2 mm is
	// about 2.4 dots at 300 dpi, the least a laser printer renders reliably.
	MinModuleMM = 0.2
)

const ptPerMM = 72 / 25.4

// LabelSheet writes a PDF of labels, one QR code and a caption each, page by
// page: a page is written out when it is full, so memory stays constant
// whatever the count (only 16 bytes of cross-reference per page are kept).
// Codes are vector rectangles (merged horizontal runs), captions Helvetica.
// Not safe for concurrent use.
type LabelSheet struct {
	w       *bufio.Writer
	off     int64   // bytes written so far
	objOff  []int64 // offset of object i+1
	pages   []int   // page object numbers
	layout  SheetLayout
	style   Style
	content []byte // current page content (uncompressed)
	zbuf    bytes.Buffer
	zw      *zlib.Writer
	n       int // labels on the current page
	err     error
}

// Fixed object numbers.
const (
	objCatalog = 1
	objPages   = 2
	objFont    = 3
)

// NewLabelSheet starts a PDF on w. Style gives the colours, the quiet zone
// and ModuleMM (0: the largest module that fits each label); ModulePx does
// not apply. Call Add for each label, then Close.
func NewLabelSheet(w io.Writer, layout SheetLayout, s Style) (*LabelSheet, error) {
	if err := layout.Validate(); err != nil {
		return nil, err
	}
	if s.ModulePx == 0 {
		s.ModulePx = 1 // not used by PDF
	}
	if err := s.Validate(); err != nil {
		return nil, err
	}
	if s.ModuleMM != 0 && s.ModuleMM < MinModuleMM {
		return nil, qrmfg.FieldError("module_mm", "module size %g mm is below the %g mm a label printer renders reliably", s.ModuleMM, MinModuleMM)
	}
	l := &LabelSheet{w: bufio.NewWriterSize(w, 64<<10), layout: layout, style: s}
	l.zw, _ = zlib.NewWriterLevel(&l.zbuf, zlib.BestSpeed)
	l.writeString("%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
	l.objOff = make([]int64, 3)
	l.beginObj(objFont)
	l.writeString("<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>\nendobj\n")
	return l, l.err
}

func (l *LabelSheet) write(p []byte) {
	if l.err != nil {
		return
	}
	n, err := l.w.Write(p)
	l.off += int64(n)
	if err != nil {
		l.err = fmt.Errorf("render: write PDF: %w", err)
	}
}

func (l *LabelSheet) writeString(s string) { l.write([]byte(s)) }

// beginObj records the offset of object num and writes its header.
func (l *LabelSheet) beginObj(num int) {
	for len(l.objOff) < num {
		l.objOff = append(l.objOff, 0)
	}
	l.objOff[num-1] = l.off
	l.write(strconv.AppendInt(nil, int64(num), 10))
	l.writeString(" 0 obj\n")
}

// Add draws m with its caption (printable ASCII, usually the part id) on the
// next label, starting a new page when the current one is full. It returns
// EINVALID, with the sizes, when the code and caption do not fit the label.
func (l *LabelSheet) Add(m *qr.Matrix, caption string) error {
	if l.err != nil {
		return l.err
	}
	if err := checkMatrix(m); err != nil {
		return err
	}
	for i := 0; i < len(caption); i++ {
		if c := caption[i]; c < 0x20 || c > 0x7e {
			return qrmfg.FieldError("caption", "caption %q has the character %q at byte %d; only printable ASCII is allowed", caption, rune(c), i+1)
		}
	}
	lay, s := l.layout, l.style
	innerW, innerH := lay.LabelWidthMM-2*LabelPaddingMM, lay.LabelHeightMM-2*LabelPaddingMM
	fs, textW := CaptionPt, helveticaWidth(caption)
	if textW*fs/ptPerMM > innerW {
		fs = innerW * ptPerMM / textW
	}
	if caption != "" && fs < MinCaptionPt {
		return qrmfg.FieldError("caption", "caption %q needs %.1f mm at %g pt; the label has %.1f mm", caption, textW*MinCaptionPt/ptPerMM, MinCaptionPt, innerW)
	}
	capH := 0.0
	if caption != "" {
		capH = fs * 1.15 / ptPerMM
	}
	modules := m.Size() + 2*s.QuietZone
	mm := s.ModuleMM
	if mm == 0 {
		mm = math.Floor(min(innerW, innerH-capH)/float64(modules)*1000) / 1000
	}
	codeMM := float64(modules) * mm
	if mm < MinModuleMM || codeMM > innerW+1e-9 || codeMM+capH > innerH+1e-9 {
		return qrmfg.FieldError("label", "code of %d modules × %.3f mm = %.2f mm plus caption %.2f mm does not fit the %.2f×%.2f mm label (%.2f×%.2f mm inside the %g mm padding; modules must be at least %g mm)",
			modules, mm, codeMM, capH, lay.LabelWidthMM, lay.LabelHeightMM, innerW, innerH, LabelPaddingMM, MinModuleMM)
	}

	col, row := l.n%lay.Cols, l.n/lay.Cols
	// Label top-left corner in PDF points (origin bottom-left).
	x0 := (lay.MarginLeftMM + float64(col)*lay.PitchXMM) * ptPerMM
	yTop := (lay.PageHeightMM - lay.MarginTopMM - float64(row)*lay.PitchYMM) * ptPerMM
	labelW := lay.LabelWidthMM * ptPerMM
	// Centre the code and caption block vertically, the code horizontally.
	blockH := (codeMM + capH) * ptPerMM
	labelH := lay.LabelHeightMM * ptPerMM
	cx := x0 + (labelW-codeMM*ptPerMM)/2
	cy := yTop - (labelH-blockH)/2

	b := l.content
	dark, light := s.colours()
	// The code in module units: x right, y down from the code's top-left.
	b = append(b, "q "...)
	b = appendPt(b, mm*ptPerMM)
	b = append(b, " 0 0 "...)
	b = appendPt(b, -mm*ptPerMM)
	b = append(b, ' ')
	b = appendPt(b, cx)
	b = append(b, ' ')
	b = appendPt(b, cy)
	b = append(b, " cm\n"...)
	if lw := overWhite(light); lw != (color.RGBA{255, 255, 255, 255}) {
		b = appendRGB(b, lw)
		b = append(b, "0 0 "...)
		b = appendInt(b, modules)
		b = append(b, ' ')
		b = appendInt(b, modules)
		b = append(b, " re f\n"...)
	}
	b = appendRGB(b, overWhite(dark))
	n, qz := m.Size(), s.QuietZone
	for y := 0; y < n; y++ {
		r := m.Row(y)
		for x := 0; x < n; {
			x0, x1 := nextRun(r, n, x)
			if x0 >= n {
				break
			}
			b = appendInt(b, x0+qz)
			b = append(b, ' ')
			b = appendInt(b, y+qz)
			b = append(b, ' ')
			b = appendInt(b, x1-x0)
			b = append(b, " 1 re\n"...)
			x = x1
		}
	}
	b = append(b, "f Q\n"...)
	if caption != "" {
		tx := x0 + (labelW-textW*fs)/2
		ty := cy - codeMM*ptPerMM - fs*0.85 // baseline: capitals just below the code
		b = append(b, "0 g BT /F1 "...)
		b = appendPt(b, fs)
		b = append(b, " Tf "...)
		b = appendPt(b, tx)
		b = append(b, ' ')
		b = appendPt(b, ty)
		b = append(b, " Td ("...)
		for i := 0; i < len(caption); i++ {
			if c := caption[i]; c == '(' || c == ')' || c == '\\' {
				b = append(b, '\\')
			}
			b = append(b, caption[i])
		}
		b = append(b, ") Tj ET\n"...)
	}
	l.content = b
	l.n++
	if l.n == lay.Cols*lay.Rows {
		l.flushPage()
	}
	return l.err
}

// flushPage writes the current page: its content stream and page object.
func (l *LabelSheet) flushPage() {
	l.zbuf.Reset()
	l.zw.Reset(&l.zbuf)
	_, _ = l.zw.Write(l.content) // writes to memory: cannot fail
	_ = l.zw.Close()
	contentObj := len(l.objOff) + 1
	l.beginObj(contentObj)
	l.writeString("<< /Length ")
	l.write(strconv.AppendInt(nil, int64(l.zbuf.Len()), 10))
	l.writeString(" /Filter /FlateDecode >>\nstream\n")
	l.write(l.zbuf.Bytes())
	l.writeString("\nendstream\nendobj\n")
	pageObj := contentObj + 1
	l.beginObj(pageObj)
	b := append(l.content[:0], "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 "...)
	b = appendPt(b, l.layout.PageWidthMM*ptPerMM)
	b = append(b, ' ')
	b = appendPt(b, l.layout.PageHeightMM*ptPerMM)
	b = append(b, "] /Resources << /Font << /F1 3 0 R >> >> /Contents "...)
	b = strconv.AppendInt(b, int64(contentObj), 10)
	b = append(b, " 0 R >>\nendobj\n"...)
	l.write(b)
	l.pages = append(l.pages, pageObj)
	l.content = l.content[:0]
	l.n = 0
}

// Close writes the last page, the page tree, the cross-reference table and
// the trailer, and flushes. It does not close the underlying writer.
func (l *LabelSheet) Close() error {
	if l.err != nil {
		return l.err
	}
	if l.n > 0 || len(l.pages) == 0 {
		l.flushPage()
	}
	l.beginObj(objPages)
	b := []byte("<< /Type /Pages /Kids [")
	for _, p := range l.pages {
		b = strconv.AppendInt(b, int64(p), 10)
		b = append(b, " 0 R "...)
	}
	b = append(b, "] /Count "...)
	b = strconv.AppendInt(b, int64(len(l.pages)), 10)
	b = append(b, " >>\nendobj\n"...)
	l.write(b)
	l.beginObj(objCatalog)
	l.writeString("<< /Type /Catalog /Pages 2 0 R >>\nendobj\n")
	xref := l.off
	b = fmt.Appendf(b[:0], "xref\n0 %d\n0000000000 65535 f \n", len(l.objOff)+1)
	for _, o := range l.objOff {
		b = fmt.Appendf(b, "%010d 00000 n \n", o)
	}
	b = fmt.Appendf(b, "trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n", len(l.objOff)+1, xref)
	l.write(b)
	if l.err == nil {
		if err := l.w.Flush(); err != nil {
			l.err = fmt.Errorf("render: write PDF: %w", err)
		}
	}
	if l.err != nil {
		return l.err
	}
	l.err = qrmfg.Errorf(qrmfg.ECONFLICT, "the label sheet is closed")
	return nil
}

// appendPt appends a length in points with at most 3 decimals.
func appendPt(b []byte, v float64) []byte {
	return strconv.AppendFloat(b, math.Round(v*1000)/1000, 'f', -1, 64)
}

// appendRGB appends the "r g b rg" fill colour operator.
func appendRGB(b []byte, c color.RGBA) []byte {
	for _, v := range [3]uint8{c.R, c.G, c.B} {
		b = strconv.AppendFloat(b, math.Round(float64(v)/255*1000)/1000, 'f', -1, 64)
		b = append(b, ' ')
	}
	return append(b, "rg\n"...)
}

// overWhite composites a premultiplied colour over white: PDF fills here are
// opaque.
func overWhite(c color.RGBA) color.RGBA {
	k := 255 - c.A
	return color.RGBA{c.R + k, c.G + k, c.B + k, 255}
}

// helveticaWidth returns the width of printable-ASCII s in Helvetica, in
// units of the font size (AFM widths / 1000).
func helveticaWidth(s string) float64 {
	w := 0
	for i := 0; i < len(s); i++ {
		w += int(helveticaWidths[s[i]-0x20])
	}
	return float64(w) / 1000
}

// helveticaWidths are the Helvetica advance widths of 0x20..0x7e (AFM, /1000 em).
var helveticaWidths = [95]uint16{
	278, 278, 355, 556, 556, 889, 667, 222, 333, 333, 389, 584, 278, 333, 278, 278, // space ! " # $ % & ' ( ) * + , - . /
	556, 556, 556, 556, 556, 556, 556, 556, 556, 556, 278, 278, 584, 584, 584, 556, // 0-9 : ; < = > ?
	1015, 667, 667, 722, 722, 667, 611, 778, 722, 278, 500, 667, 556, 833, 722, 778, // @ A-O
	667, 778, 722, 667, 611, 722, 667, 944, 667, 667, 611, 278, 278, 278, 469, 556, // P-Z [ \ ] ^ _
	222, 556, 556, 500, 556, 556, 278, 556, 556, 222, 222, 500, 222, 833, 556, 556, // ` a-o
	556, 556, 333, 500, 278, 556, 500, 722, 500, 500, 500, 334, 260, 334, 584, // p-z { | } ~
}
