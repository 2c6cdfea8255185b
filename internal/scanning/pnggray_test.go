package scanning

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"hash/crc32"
	"image"
	"image/color"
	"image/png"
	"math/rand/v2"
	"testing"
)

// TestPNGGray decodes PNGs of every colour type and depth Go's encoder
// writes and checks that pngGray gives each pixel the luminance the decoder
// would compute from image/png's image (over white), within one level.
func TestPNGGray(t *testing.T) {
	const w, h = 37, 23 // odd sizes: partial bytes at the row ends
	rng := rand.New(rand.NewPCG(1, 2))
	pal := func(n int, alpha bool) color.Palette {
		p := make(color.Palette, n)
		for i := range p {
			a := uint8(255)
			if alpha && i%3 == 0 {
				a = uint8(rng.IntN(256))
			}
			p[i] = color.NRGBA{uint8(rng.IntN(256)), uint8(rng.IntN(256)), uint8(rng.IntN(256)), a}
		}
		return p
	}
	r := image.Rect(0, 0, w, h)
	imgs := map[string]image.Image{
		"gray8": image.NewGray(r), "gray16": image.NewGray16(r), "rgb8": image.NewRGBA(r), "rgba8": image.NewNRGBA(r),
		"rgb16": image.NewRGBA64(r), "rgba16": image.NewNRGBA64(r),
		"palette1": image.NewPaletted(r, pal(2, false)), "palette2": image.NewPaletted(r, pal(4, false)),
		"palette4": image.NewPaletted(r, pal(16, true)), "palette8": image.NewPaletted(r, pal(200, true)),
	}
	for name, img := range imgs {
		for y := range h {
			for x := range w {
				c := color.NRGBA64{uint16(rng.Uint32()), uint16(rng.Uint32()), uint16(rng.Uint32()), uint16(rng.Uint32())}
				switch m := img.(type) {
				case *image.Paletted:
					m.SetColorIndex(x, y, uint8(rng.IntN(len(m.Palette))))
				case *image.RGBA, *image.RGBA64:
					c.A = 0xffff
					m.(interface{ Set(int, int, color.Color) }).Set(x, y, c)
				default:
					m.(interface{ Set(int, int, color.Color) }).Set(x, y, c)
				}
			}
		}
		var buf bytes.Buffer
		if err := png.Encode(&buf, img); err != nil {
			t.Fatal(err)
		}
		ref, err := png.Decode(bytes.NewReader(buf.Bytes()))
		if err != nil {
			t.Fatal(err)
		}
		g, err := pngGray(buf.Bytes())
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if g.Bounds() != r {
			t.Fatalf("%s: bounds %v, want %v", name, g.Bounds(), r)
		}
		bad := 0
		for y := range h {
			for x := range w {
				rr, gg, bb, a := ref.At(x, y).RGBA()
				want := int(min((rr*306+gg*601+bb*117+512)>>10+0xffff-a, 0xffff) >> 8)
				if m, ok := ref.(*image.NRGBA); ok {
					// The decoder's 8-bit NRGBA path: (luma·a + 255·(255−a))/255.
					c := m.NRGBAAt(x, y)
					l := (uint32(c.R)*306 + uint32(c.G)*601 + uint32(c.B)*117 + 512) >> 10
					want = int((l*uint32(c.A) + 255*(255-uint32(c.A))) / 255)
				}
				if got := int(g.GrayAt(x, y).Y); got < want-1 || got > want+1 {
					if bad++; bad <= 3 {
						t.Errorf("%s: pixel (%d,%d) %d, want %d", name, x, y, got, want)
					}
				}
			}
		}
	}
}

// TestPNGGrayRefusesCorrupt: a PNG cut short or with a damaged chunk is an
// error, never a panic.
func TestPNGGrayRefusesCorrupt(t *testing.T) {
	var buf bytes.Buffer
	if err := png.Encode(&buf, image.NewNRGBA64(image.Rect(0, 0, 64, 64))); err != nil {
		t.Fatal(err)
	}
	data := buf.Bytes()
	for _, n := range []int{8, 20, 33, 40, len(data) - 20} {
		if _, err := pngGray(data[:n]); err == nil {
			t.Errorf("cut at %d bytes: no error", n)
		}
	}
	bad := bytes.Clone(data)
	bad[45] ^= 0xff // inside IDAT: its checksum fails
	if _, err := pngGray(bad); err == nil {
		t.Error("damaged IDAT: no error")
	}
}

// TestPNGGrayInterlaced: an Adam7-interlaced PNG (which Go's encoder does
// not write, so the test writes it) reads pixel for pixel as image/png
// reads it.
func TestPNGGrayInterlaced(t *testing.T) {
	const w, h = 29, 19
	rng := rand.New(rand.NewPCG(3, 4))
	src := image.NewGray(image.Rect(0, 0, w, h))
	for i := range src.Pix {
		src.Pix[i] = uint8(rng.IntN(256))
	}
	var raw bytes.Buffer
	for _, p := range adam7 {
		for y := p[1]; y < h; y += p[3] {
			if p[0] >= w {
				break
			}
			raw.WriteByte(0) // filter none
			for x := p[0]; x < w; x += p[2] {
				raw.WriteByte(src.GrayAt(x, y).Y)
			}
		}
	}
	var z bytes.Buffer
	zw := zlib.NewWriter(&z)
	_, _ = zw.Write(raw.Bytes())
	_ = zw.Close()
	var out bytes.Buffer
	out.WriteString("\x89PNG\r\n\x1a\n")
	chunk := func(typ string, data []byte) {
		_ = binary.Write(&out, binary.BigEndian, uint32(len(data)))
		out.WriteString(typ)
		out.Write(data)
		_ = binary.Write(&out, binary.BigEndian, crc32.ChecksumIEEE(append([]byte(typ), data...)))
	}
	chunk("IHDR", []byte{0, 0, 0, w, 0, 0, 0, h, 8, 0, 0, 0, 1})
	chunk("IDAT", z.Bytes())
	chunk("IEND", nil)
	ref, err := png.Decode(bytes.NewReader(out.Bytes()))
	if err != nil {
		t.Fatalf("image/png refuses the test's PNG: %v", err)
	}
	g, err := pngGray(out.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	for y := range h {
		for x := range w {
			if want := ref.(*image.Gray).GrayAt(x, y).Y; g.GrayAt(x, y).Y != want || src.GrayAt(x, y).Y != want {
				t.Fatalf("pixel (%d,%d): %d, image/png %d, written %d", x, y, g.GrayAt(x, y).Y, want, src.GrayAt(x, y).Y)
			}
		}
	}
}
