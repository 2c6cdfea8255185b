package decode

import (
	"github.com/makiuchi-d/gozxing"
	zxdecoder "github.com/makiuchi-d/gozxing/qrcode/decoder"
)

// QR Code Model 1 is the original QR Code (ISO/IEC 18004:2000 Annex M),
// versions 1 to 14 (21 to 73 modules), still met on old labels. It shares
// Model 2's finder and timing patterns, format information (under another
// mask), data masks, modes and Reed-Solomon code, but has no alignment
// patterns, puts "extension patterns" along the right and bottom edges, and
// places its codewords as fixed 2×4 and 4×2 blocks rather than Model 2's
// snake. The layout and the block table below are those of Annex M as
// zxing-cpp reads them (ADR 0005); TestModel1Layout and TestModel1RoundTrip
// check them for consistency, and the two Model 1 images of
// ../shared/testdata/qr-real against codes from real encoders.

// model1FormatMask is what Model 1 XORs its BCH(15,5) format codeword with
// (Model 2 uses 101010000010010).
const model1FormatMask = 0x2825

// model1Blocks is Annex M's block structure per version and level L, M, Q,
// H: error-correction codewords per block, blocks, data codewords per block.
// Unlike Model 2, every block of a symbol has the same length, and blocks
// are not interleaved.
var model1Blocks = [14][4][3]int{
	{{7, 1, 19}, {10, 1, 16}, {13, 1, 13}, {17, 1, 9}},
	{{10, 1, 36}, {16, 1, 30}, {22, 1, 24}, {30, 1, 16}},
	{{15, 1, 57}, {28, 1, 44}, {36, 1, 36}, {48, 1, 24}},
	{{20, 1, 80}, {40, 1, 60}, {50, 1, 50}, {66, 1, 34}},
	{{26, 1, 108}, {52, 1, 82}, {66, 1, 68}, {44, 2, 23}},
	{{34, 1, 136}, {32, 2, 53}, {42, 2, 43}, {56, 2, 29}},
	{{42, 1, 170}, {40, 2, 66}, {52, 2, 54}, {46, 3, 24}},
	{{24, 2, 104}, {48, 2, 80}, {64, 2, 64}, {56, 3, 29}},
	{{30, 2, 123}, {60, 2, 93}, {50, 3, 52}, {68, 3, 34}},
	{{34, 2, 145}, {68, 2, 111}, {58, 3, 61}, {58, 4, 31}},
	{{40, 2, 168}, {40, 4, 64}, {52, 4, 52}, {54, 5, 29}},
	{{46, 2, 192}, {46, 4, 73}, {58, 4, 61}, {62, 5, 33}},
	{{36, 3, 144}, {52, 4, 83}, {66, 4, 69}, {58, 6, 32}},
	{{40, 3, 163}, {60, 4, 92}, {60, 5, 62}, {66, 6, 35}},
}

// model1Level maps the two level bits of the format information to the
// index of model1Blocks (01 L, 00 M, 11 Q, 10 H, as in Model 2).
var model1Level = [4]int{1, 0, 3, 2}

// readModel1 reads a sampled grid as a QR Model 1 symbol whose format
// information (model1Format) is format, transposed when mirrored.
func readModel1(bm *gozxing.BitMatrix, format int, mirrored bool) (*symbol, error) {
	d := bm.GetHeight()
	if d < 21 || d > 73 || d%4 != 1 || bm.GetWidth() != d {
		return nil, errNoSymbol
	}
	dark := func(x, y int) bool {
		if mirrored {
			return bm.Get(y, x)
		}
		return bm.Get(x, y)
	}
	levelBits, mask := format>>3, format&7
	version := (d - 17) / 4
	level := model1Level[levelBits]
	b := model1Blocks[version-1][level]
	nec, nblocks, ndata := b[0], b[1], b[2]
	raw := model1Codewords(make([]byte, 0, d*d/8), dark, d, mask)
	if len(raw) < nblocks*(nec+ndata) {
		return nil, errNoSymbol
	}
	// Where the blocks do not fill the symbol, the codewords left at the
	// end are remainder codewords.
	raw = raw[:nblocks*(nec+ndata)]
	// The first codeword's high nibble lies in the bottom-right corner and
	// carries the four leading zero bits of the data: read it as such.
	raw[0] &= 0x0f

	zxLevel, err := zxdecoder.ErrorCorrectionLevel_ForBits(uint(levelBits))
	if err != nil {
		return nil, errNoSymbol
	}
	s := &symbol{version: version, level: zxLevel.String(), mask: mask, mirrored: mirrored, model1: true}
	data := make([]byte, 0, nblocks*ndata)
	var block [256]byte
	for i := 0; i < nblocks; i++ {
		// Model 1 does not interleave: the data codewords of the blocks
		// one after the other, then their error-correction codewords.
		cw := block[:ndata+nec]
		copy(cw, raw[i*ndata:(i+1)*ndata])
		copy(cw[ndata:], raw[nblocks*ndata+i*nec:nblocks*ndata+(i+1)*nec])
		if !s.correct(cw, nec) {
			return nil, errNoSymbol
		}
		data = append(data, cw[:ndata]...)
	}
	if data[0]>>4 != 0 {
		return nil, errNoSymbol
	}
	// Drop the four leading zero bits; the bit stream is then Model 2's
	// (the same modes, and character counts as wide as a Model 2 symbol
	// of the same version number).
	stream := make([]byte, len(data))
	for i := range data {
		stream[i] = data[i] << 4
		if i+1 < len(data) {
			stream[i] |= data[i+1] >> 4
		}
	}
	zxVersion, err := zxdecoder.Version_GetVersionForNumber(version)
	if err != nil {
		return nil, errNoSymbol
	}
	if err := s.parse(data, stream, zxVersion, zxLevel); err != nil {
		return nil, errNoSymbol
	}
	return s, nil
}

// model1Format reports whether both copies of the grid's format
// information, read normally or transposed (mirrored), are the same exact
// Model 1 format codeword (the BCH(15,5) code of Model 2 masked with
// 010100000100101 instead of 101010000010010), and returns its five data
// bits. An exact match of both copies leaves garbage a chance of 32 in 2³⁰;
// this is what takes a grid that failed as Model 2 for Model 1. (Some
// codewords read as one also transposed: both readings are worth a try.)
func model1Format(bm *gozxing.BitMatrix, mirrored bool) (int, bool) {
	f1, f2 := formatCopies(bm, mirrored)
	data := (f1 ^ model1FormatMask) >> 10
	return data, f1 == f2 && bch15_5(data) == f1^model1FormatMask
}

// readModel1Grid reads a grid whose format information is that of a Model
// 1 symbol, normally or transposed; false when it has none.
func readModel1Grid(bm *gozxing.BitMatrix) (*symbol, bool) {
	model1 := false
	for _, mirrored := range []bool{false, true} {
		if format, ok := model1Format(bm, mirrored); ok {
			model1 = true
			if s, err := readModel1(bm, format, mirrored); err == nil {
				return s, true
			}
		}
	}
	return nil, model1
}

// formatCopies reads the two copies of the format information of a d×d
// grid (transposed when mirrored), most significant bit first.
func formatCopies(bm *gozxing.BitMatrix, mirrored bool) (f1, f2 int) {
	d := bm.GetHeight()
	bit := func(x, y int) int {
		if mirrored {
			x, y = y, x
		}
		if bm.Get(x, y) {
			return 1
		}
		return 0
	}
	for x := 0; x < 6; x++ {
		f1 = f1<<1 | bit(x, 8)
	}
	f1 = f1<<1 | bit(7, 8)
	f1 = f1<<1 | bit(8, 8)
	f1 = f1<<1 | bit(8, 7)
	for y := 5; y >= 0; y-- {
		f1 = f1<<1 | bit(8, y)
	}
	for y := d - 1; y >= d-7; y-- {
		f2 = f2<<1 | bit(8, y)
	}
	for x := d - 8; x < d; x++ {
		f2 = f2<<1 | bit(x, 8)
	}
	return f1, f2
}

// bch15_5 is the BCH(15,5) codeword of five data bits: the data followed
// by the remainder of data·x¹⁰ divided by x¹⁰+x⁸+x⁵+x⁴+x²+x+1.
func bch15_5(data int) int {
	r := data << 10
	for i := 14; i >= 10; i-- {
		if r&(1<<i) != 0 {
			r ^= 0x537 << (i - 10)
		}
	}
	return data<<10 | r
}

// model1Codewords appends the codewords of a d×d Model 1 symbol, unmasked
// with mask, in placement order. The symbol is read as column groups from
// the right: two groups of upright 2-wide, 4-tall codewords along the right
// edge (below the top-right finder pattern; in the outer group every other
// place, but the first and last, holds an extension pattern), then groups of
// flat 4-wide, 2-tall codewords up the whole height (the first one stopping
// under the top-right finder pattern, and the bottom place of every other
// one holding an extension pattern), and four groups of upright codewords
// between the two left finder patterns. Each codeword's bits run from its
// bottom-right module, row by row upwards, right to left within a row; the
// timing patterns (row and column 6) are stepped over.
func model1Codewords(out []byte, dark func(x, y int) bool, d, mask int) []byte {
	word := func(x0, y0, width int) byte {
		var w byte
		for b := 0; b < 8; b++ {
			x, y := x0-b%width, y0-b/width
			w <<= 1
			if dark(x, y) != masked(mask, y, x) {
				w |= 1
			}
		}
		return w
	}
	groups := d/4 + 3
	for g := 0; g < groups; g++ {
		switch left := groups - g; {
		case g < 2: // upright, right edge
			n := (d - 8) / 4
			for i := 0; i < n; i++ {
				if g == 0 && i%2 == 0 && i > 0 && i < n-1 {
					continue // extension pattern
				}
				out = append(out, word(d-1-2*g, d-1-4*i, 2))
			}
		case left <= 4: // upright, between the left finder patterns
			x0 := 2*(left-1) + 1
			if left == 4 {
				x0++ // right of the vertical timing pattern
			}
			for i := 0; i < (d-16)/4; i++ {
				out = append(out, word(x0, d-9-4*i, 2))
			}
		default: // flat, bottom to top
			n := d / 2
			for i := 0; i < n; i++ {
				if g == 2 && i >= n-4 {
					continue // the top-right finder pattern
				}
				if i == 0 && g%2 == 1 && g+1 != groups-4 {
					continue // extension pattern
				}
				y0 := d - 1 - 2*i
				if i >= n-3 {
					y0-- // above the horizontal timing pattern
				}
				out = append(out, word(d-5-4*(g-2), y0, 4))
			}
		}
	}
	return out
}

// model1Grid maps the modules of an n×n symbol onto the parallelogram of
// its finder pattern centres tl, tr and bl (Model 1 has no alignment
// pattern to correct for perspective).
func model1Grid(tl, tr, bl Point2f, n int) Homography {
	fn := float64(n)
	return fitHomography([]corr{
		{Point2f{3.5, 3.5}, tl},
		{Point2f{fn - 3.5, 3.5}, tr},
		{Point2f{3.5, fn - 3.5}, bl},
		{Point2f{fn - 3.5, fn - 3.5}, Point2f{tr.X - tl.X + bl.X, tr.Y - tl.Y + bl.Y}},
	})
}

// readModel1At samples the n×n grid h on the binarized image m and, failing
// that, on the grey image l against one threshold for the whole symbol: the
// local thresholds of the hybrid binarizer break up the small, crisp
// renders Model 1 symbols mostly come as.
func readModel1At(m *gozxing.BitMatrix, l *gray, h Homography, n int, inverted bool) (*symbol, error) {
	if s, err := sampleAndRead(m, h, n); err == nil {
		return s, nil
	}
	bits := sampleGreyBits(l, h, n, inverted)
	if bits == nil {
		return nil, errModel1
	}
	s, err := readSymbol(bits)
	if err != nil {
		return nil, errModel1
	}
	return s, nil
}

// sampleGreyBits samples l at the centre of each module of the n×n grid h
// and calls dark what is below the midpoint of the 10th and 90th percentiles
// of the samples (above it when inverted). Nil when the grid leaves l.
func sampleGreyBits(l *gray, h Homography, n int, inverted bool) *gozxing.BitMatrix {
	v := make([]float64, n*n)
	var hist [256]int
	for y := 0; y < n; y++ {
		for x := 0; x < n; x++ {
			p := h.Apply(float64(x)+0.5, float64(y)+0.5)
			g, ok := l.at(p.X, p.Y)
			if !ok {
				return nil
			}
			v[y*n+x] = g
			hist[min(255, max(0, int(g)))]++
		}
	}
	percentile := func(q int) int {
		seen := 0
		for i, c := range hist {
			if seen += c; seen*100 >= q*n*n {
				return i
			}
		}
		return 255
	}
	thr := float64(percentile(10)+percentile(90)) / 2
	bits, err := gozxing.NewSquareBitMatrix(n)
	if err != nil {
		return nil
	}
	for i, g := range v {
		if (g < thr) != inverted {
			bits.Set(i%n, i/n)
		}
	}
	return bits
}
