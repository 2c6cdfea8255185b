package render

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"hash/adler32"
	"image"
	"image/color"
	"image/png"
	"io"
	"os/exec"
	"slices"
	"testing"

	"github.com/qrmfg/qrmfg/internal/qr"
	"github.com/qrmfg/qrmfg/internal/qrmfg"
)

const testText = "PAD-V0100-L2025-09-00001"

// wantPixel is the colour (non-premultiplied) of pixel (x, y) of m drawn in s.
func wantPixel(m *qr.Matrix, s Style, x, y int) color.NRGBA {
	dark, light := s.colours()
	mx, my := x/s.ModulePx-s.QuietZone, y/s.ModulePx-s.QuietZone
	if m.Dark(mx, my) {
		return nrgba(dark)
	}
	return nrgba(light)
}

// checkPixels decodes a PNG with image/png and compares every pixel.
func checkPixels(t *testing.T, data []byte, m *qr.Matrix, s Style) {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("image/png cannot decode: %v", err)
	}
	side := (m.Size() + 2*s.QuietZone) * s.ModulePx
	if b := img.Bounds(); b != image.Rect(0, 0, side, side) {
		t.Fatalf("bounds %v, want %dx%d", b, side, side)
	}
	for y := 0; y < side; y++ {
		for x := 0; x < side; x++ {
			got := color.NRGBAModel.Convert(img.At(x, y)).(color.NRGBA)
			if want := wantPixel(m, s, x, y); got != want {
				t.Fatalf("pixel (%d,%d) = %v, want %v", x, y, got, want)
			}
		}
	}
	// The zlib stream's Adler-32 (which image/png does not always reach).
	idat := chunk(t, data, "IDAT")
	zr, err := zlib.NewReader(bytes.NewReader(idat))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := io.ReadAll(zr)
	if err != nil {
		t.Fatalf("zlib stream: %v", err)
	}
	if rowLen := 1 + (side+7)/8; len(raw) != side*rowLen {
		t.Fatalf("inflated %d bytes, want %d", len(raw), side*rowLen)
	}
}

// chunk returns the data of the first chunk of type typ, or nil.
func chunk(t *testing.T, data []byte, typ string) []byte {
	t.Helper()
	for p := 8; p+12 <= len(data); {
		n := int(binary.BigEndian.Uint32(data[p:]))
		if string(data[p+4:p+8]) == typ {
			return data[p+8 : p+8+n]
		}
		p += 12 + n
	}
	return nil
}

func TestPNGPixelExact(t *testing.T) {
	t.Parallel()
	small := qrencodeMatrix(t, testText)
	large := qrencodeMatrix(t, "HTTPS://TRACE.EXAMPLE.COM/P/"+testText+"/A-VERY-LONG-SUFFIX-TO-REACH-A-LARGER-VERSION-0123456789")
	one := qr.NewMatrix(1)
	one.Set(0, 0, true)
	red := DefaultStyle()
	red.Foreground = color.RGBA{120, 0, 0, 255}
	red.Background = color.RGBA{255, 255, 200, 255}
	translucent := DefaultStyle()
	translucent.Background = color.RGBA{0, 0, 0, 0} // transparent: composited over white
	inverted := DefaultStyle()
	inverted.Invert = true
	cases := []struct {
		name string
		m    *qr.Matrix
		s    Style
	}{
		{"default", small, DefaultStyle()},
		{"1px", small, Style{ModulePx: 1, QuietZone: 2, Foreground: color.RGBA{0, 0, 0, 255}, Background: color.RGBA{255, 255, 255, 255}}},
		{"3px qz3", small, Style{ModulePx: 3, QuietZone: 3, Foreground: color.RGBA{0, 0, 0, 255}, Background: color.RGBA{255, 255, 255, 255}}},
		{"palette", small, red},
		{"transparent", small, translucent},
		{"inverted", small, inverted},
		{"wide rows", large, Style{ModulePx: 37, QuietZone: 4, Foreground: color.RGBA{0, 0, 0, 255}, Background: color.RGBA{255, 255, 255, 255}}},
		{"tiny", one, Style{ModulePx: 1, QuietZone: 2, Foreground: color.RGBA{0, 0, 0, 255}, Background: color.RGBA{255, 255, 255, 255}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var buf bytes.Buffer
			if err := PNG(&buf, tc.m, tc.s); err != nil {
				t.Fatal(err)
			}
			checkPixels(t, buf.Bytes(), tc.m, tc.s)
		})
	}
}

func TestPNGFormat(t *testing.T) {
	t.Parallel()
	m := qrencodeMatrix(t, testText)
	s := DefaultStyle()
	s.DPI = 600
	var buf bytes.Buffer
	if err := PNG(&buf, m, s); err != nil {
		t.Fatal(err)
	}
	ihdr := chunk(t, buf.Bytes(), "IHDR")
	if ihdr[8] != 1 || ihdr[9] != 0 {
		t.Errorf("black/white PNG has bit depth %d colour type %d, want 1-bit grayscale", ihdr[8], ihdr[9])
	}
	phys := chunk(t, buf.Bytes(), "pHYs")
	if phys == nil || binary.BigEndian.Uint32(phys) != 23622 || phys[8] != 1 {
		t.Errorf("pHYs = %v, want 23622 px/m (600 DPI)", phys)
	}
	s.Foreground = color.RGBA{0, 0, 128, 255}
	buf.Reset()
	if err := PNG(&buf, m, s); err != nil {
		t.Fatal(err)
	}
	ihdr = chunk(t, buf.Bytes(), "IHDR")
	if ihdr[8] != 1 || ihdr[9] != 3 || len(chunk(t, buf.Bytes(), "PLTE")) != 6 {
		t.Errorf("coloured PNG: bit depth %d colour type %d, want a 1-bit 2-colour palette", ihdr[8], ihdr[9])
	}
}

// A batch encoder reuses its buffers: same output, no allocation. Not
// parallel: AllocsPerRun forbids it.
func TestPNGEncoderReuse(t *testing.T) {
	m := qrencodeMatrix(t, testText)
	var e PNGEncoder
	first, _ := e.Append(nil, m, DefaultStyle())
	first = slices.Clone(first)
	var out []byte
	allocs := testing.AllocsPerRun(20, func() { out, _ = e.Append(out[:0], m, DefaultStyle()) })
	if !bytes.Equal(out, first) || allocs != 0 {
		t.Errorf("reused encoder: equal output %v, %v allocs/op; want equal and 0", bytes.Equal(out, first), allocs)
	}
}

func TestPNGDecodesWithIndependentReaders(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		mod  func(*Style)
	}{
		{"default", func(*Style) {}},
		{"3px quiet zone 2", func(s *Style) { s.ModulePx, s.QuietZone = 3, 2 }},
		{"navy on cream", func(s *Style) {
			s.Foreground, s.Background = color.RGBA{0, 0, 90, 255}, color.RGBA{250, 245, 220, 255}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			m := qrencodeMatrix(t, testText)
			s := DefaultStyle()
			tc.mod(&s)
			var buf bytes.Buffer
			if err := PNG(&buf, m, s); err != nil {
				t.Fatal(err)
			}
			file := writeTemp(t, "code.png", buf.Bytes())
			if got := zbar(t, file); !slices.Equal(got, []string{testText}) {
				t.Errorf("zbarimg read %q, want %q", got, testText)
			}
			if got := zxing(t, file); !slices.Equal(got, []string{testText}) {
				t.Errorf("ZXingReader read %q, want %q", got, testText)
			}
		})
	}
}

func TestStyleValidate(t *testing.T) {
	t.Parallel()
	cases := map[string]struct {
		mod   func(*Style)
		field string
	}{
		"zero module":       {func(s *Style) { s.ModulePx = 0 }, "module_px"},
		"quiet zone 1":      {func(s *Style) { s.QuietZone = 1 }, "quiet_zone"},
		"grey on white":     {func(s *Style) { s.Foreground = color.RGBA{220, 220, 220, 255} }, "foreground"},
		"yellow on white":   {func(s *Style) { s.Foreground = color.RGBA{255, 255, 0, 255} }, "foreground"},
		"light on dark":     {func(s *Style) { s.Foreground, s.Background = s.Background, s.Foreground }, "foreground"},
		"zero colours":      {func(s *Style) { s.Foreground, s.Background = color.RGBA{}, color.RGBA{} }, "foreground"},
		"not premultiplied": {func(s *Style) { s.Background = color.RGBA{255, 255, 255, 10} }, "background"},
		"negative dpi":      {func(s *Style) { s.DPI = -1 }, "dpi"},
		"negative mm":       {func(s *Style) { s.ModuleMM = -0.5 }, "module_mm"},
	}
	for name, tc := range cases {
		s := DefaultStyle()
		tc.mod(&s)
		err := s.Validate()
		if e := qrmfg.AsError(err); e == nil || e.Code != qrmfg.EINVALID || e.Field != tc.field {
			t.Errorf("%s: Validate() = %v, want EINVALID on %s", name, err, tc.field)
		}
	}
	ok := DefaultStyle()
	ok.QuietZone = 2
	ok.Invert = true
	ok.Foreground = color.RGBA{0, 0, 160, 255} // blue: contrast ~ 0.95 - 0.02
	if err := ok.Validate(); err != nil {
		t.Errorf("Validate(%+v) = %v", ok, err)
	}
	big := DefaultStyle()
	big.ModulePx = 600
	if err := PNG(io.Discard, qrencodeMatrix(t, testText), big); qrmfg.ErrorCode(err) != qrmfg.ETOOLARGE {
		t.Errorf("PNG of 19800 px: got %v, want ETOOLARGE", err)
	}
	if err := PNG(io.Discard, nil, DefaultStyle()); qrmfg.ErrorCode(err) != qrmfg.EINVALID {
		t.Errorf("PNG(nil matrix) = %v, want EINVALID", err)
	}
}

// The closed-form Adler-32 of repeated rows matches hash/adler32, also for
// the largest images (16384 rows of 2049 bytes of 0xFF).
func TestAdlerRepeat(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		n, k int
		fill byte
	}{{43, 9, 0xA5}, {2049, MaxImagePx - 1, 0xFF}, {5, 1, 0x01}} {
		row := bytes.Repeat([]byte{c.fill}, c.n)
		row[0] = 0
		head := []byte("some literal bytes first")
		ad := adler{a: 1}
		ad.update(head)
		ad.update(row)
		ad.repeat(row, c.k)
		want := adler32.Checksum(append(head, bytes.Repeat(row, c.k+1)...))
		if ad.sum() != want {
			t.Errorf("n=%d k=%d: adler %08x, want %08x", c.n, c.k, ad.sum(), want)
		}
	}
}

func TestNRGBAMatchesStdlib(t *testing.T) {
	t.Parallel()
	for a := 0; a < 256; a++ {
		for _, v := range []int{0, a / 3, a / 2, a} {
			c := color.RGBA{uint8(v), uint8(a / 2), 0, uint8(a)}
			if got, want := nrgba(c), color.NRGBAModel.Convert(c).(color.NRGBA); got != want {
				t.Fatalf("nrgba(%v) = %v, want %v", c, got, want)
			}
		}
	}
}

// A symbol from our own encoder (qr.Encode) renders to a PNG that zbarimg reads.
func TestPNGOfQREncode(t *testing.T) {
	t.Parallel()
	for _, text := range []string{testText, "HTTPS://TRACE.EXAMPLE.COM/P/" + testText} {
		sym, err := qr.Encode(text, qr.Options{Level: qr.M})
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		if err := PNG(&buf, sym.Matrix, DefaultStyle()); err != nil {
			t.Fatal(err)
		}
		if got := zbar(t, writeTemp(t, "code.png", buf.Bytes())); !slices.Equal(got, []string{text}) {
			t.Errorf("zbarimg read %q, want %q", got, text)
		}
	}
}

// pngcheck, when installed, finds nothing to complain about. It is optional
// (not in the CI package list), so it skips even under CI=true.
func TestPNGCheck(t *testing.T) {
	t.Parallel()
	tool, err := exec.LookPath("pngcheck")
	if err != nil {
		t.Skip("pngcheck not installed (optional; Debian package pngcheck)")
	}
	s := DefaultStyle()
	s.DPI = 300
	s.Foreground = color.RGBA{0, 0, 100, 255}
	var buf bytes.Buffer
	if err := PNG(&buf, qrencodeMatrix(t, testText), s); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(tool, "-v", writeTemp(t, "c.png", buf.Bytes())).CombinedOutput(); err != nil {
		t.Errorf("pngcheck: %v\n%s", err, out)
	}
}
