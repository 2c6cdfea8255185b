package render

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"image/color"
	"io"
	"math"
	"math/bits"
	"sync"

	"github.com/qrmfg/qrmfg/internal/qr"
	"github.com/qrmfg/qrmfg/internal/qrmfg"
)

// PNGEncoder writes QR matrices as 1-bit PNG files. It keeps its buffers
// between calls, so one encoder per goroutine renders a batch without
// allocating. It is not safe for concurrent use; PNG uses a pool of them.
//
// The deflate stream is built directly rather than searched for: a pixel row
// that differs from the one above is coded as fixed-Huffman literals (runs
// of equal bytes as matches at distance 1), and every following identical
// row - the other ModulePx-1 rows of a module row, or a whole run of equal
// module rows and the quiet zone - as one long match at distance = row
// length. Adler-32 of repeated rows is updated in closed form. See
// docs/adr/0003-png-encoder.md.
type PNGEncoder struct {
	buf  []byte // the whole file
	row  []byte // current pixel row, filter byte first
	prev []byte // previous distinct pixel row
	acc  uint64 // deflate bit accumulator
	nacc uint   // bits in acc
}

var pngPool = sync.Pool{New: func() any { return new(PNGEncoder) }}

// PNG writes m as a PNG image in style s: 1-bit grayscale when the colours
// are opaque black and white, else a 1-bit palette (with tRNS when a colour
// is translucent), and a pHYs chunk when s.DPI is set.
func PNG(w io.Writer, m *qr.Matrix, s Style) error {
	e := pngPool.Get().(*PNGEncoder)
	defer pngPool.Put(e)
	return e.Encode(w, m, s)
}

// Encode writes m as a PNG image in style s; see PNG.
func (e *PNGEncoder) Encode(w io.Writer, m *qr.Matrix, s Style) error {
	b, err := e.Append(e.buf[:0], m, s)
	e.buf = b
	if err != nil {
		return err
	}
	if _, err := w.Write(b); err != nil {
		return fmt.Errorf("render: write PNG: %w", err)
	}
	return nil
}

var pngSignature = []byte("\x89PNG\r\n\x1a\n")

// imageSide returns the width (= height) in pixels of m drawn in s.
func imageSide(m *qr.Matrix, s Style) (int, error) {
	if err := checkMatrix(m); err != nil {
		return 0, err
	}
	if err := s.Validate(); err != nil {
		return 0, err
	}
	side := (m.Size() + 2*s.QuietZone) * s.ModulePx
	if side > MaxImagePx || side < 0 {
		return 0, qrmfg.Errorf(qrmfg.ETOOLARGE, "image of (%d + 2×%d) modules × %d px is larger than %d px", m.Size(), s.QuietZone, s.ModulePx, MaxImagePx)
	}
	return side, nil
}

// Append appends the PNG file of m in style s to dst and returns it. It
// reuses e's row buffers; dst may be e's previous result.
func (e *PNGEncoder) Append(dst []byte, m *qr.Matrix, s Style) ([]byte, error) {
	side, err := imageSide(m, s)
	if err != nil {
		return dst, err
	}
	dark, light := s.colours()
	gray := isBW(dark) && isBW(light)

	b := append(dst, pngSignature...)
	// IHDR
	start := len(b)
	b = chunkStart(b, "IHDR")
	b = binary.BigEndian.AppendUint32(b, uint32(side))
	b = binary.BigEndian.AppendUint32(b, uint32(side))
	colorType := byte(3)
	if gray {
		colorType = 0
	}
	b = append(b, 1, colorType, 0, 0, 0)
	b = chunkEnd(b, start)
	// Sample values: in grayscale 1 is white; in the palette 0 is light, 1 dark.
	darkBit := byte(1)
	if gray {
		if dark.R == 0 {
			darkBit = 0
		}
	} else {
		dn, ln := nrgba(dark), nrgba(light)
		start = len(b)
		b = chunkStart(b, "PLTE")
		b = append(b, ln.R, ln.G, ln.B, dn.R, dn.G, dn.B)
		b = chunkEnd(b, start)
		if ln.A != 255 || dn.A != 255 {
			start = len(b)
			b = chunkStart(b, "tRNS")
			b = append(b, ln.A, dn.A)
			b = chunkEnd(b, start)
		}
	}
	if s.DPI > 0 {
		ppm := uint32(math.Round(float64(s.DPI) / 0.0254))
		start = len(b)
		b = chunkStart(b, "pHYs")
		b = binary.BigEndian.AppendUint32(b, ppm)
		b = binary.BigEndian.AppendUint32(b, ppm)
		b = append(b, 1)
		b = chunkEnd(b, start)
	}
	start = len(b)
	b = chunkStart(b, "IDAT")
	b = e.appendZlib(b, m, s, side, darkBit)
	b = chunkEnd(b, start)
	start = len(b)
	b = chunkStart(b, "IEND")
	b = chunkEnd(b, start)
	return b, nil
}

func isBW(c color.RGBA) bool {
	return c.A == 255 && (c == color.RGBA{0, 0, 0, 255} || c == color.RGBA{255, 255, 255, 255})
}

// nrgba un-premultiplies c (color.NRGBAModel without the interface boxing).
func nrgba(c color.RGBA) color.NRGBA {
	switch c.A {
	case 255:
		return color.NRGBA{c.R, c.G, c.B, 255}
	case 0:
		return color.NRGBA{}
	}
	// The same 16-bit arithmetic as color.NRGBAModel.
	a := uint32(c.A) * 0x101
	un := func(v uint8) uint8 { return uint8(uint32(v) * 0x101 * 0xffff / a >> 8) }
	return color.NRGBA{un(c.R), un(c.G), un(c.B), c.A}
}

// chunkStart appends a placeholder length and the chunk type.
func chunkStart(b []byte, typ string) []byte {
	return append(append(b, 0, 0, 0, 0), typ...)
}

// chunkEnd patches the length of the chunk that starts at start and appends
// its CRC (of type and data).
func chunkEnd(b []byte, start int) []byte {
	binary.BigEndian.PutUint32(b[start:], uint32(len(b)-start-8))
	return binary.BigEndian.AppendUint32(b, crc32.ChecksumIEEE(b[start+4:]))
}

// appendZlib appends the zlib stream of the image: header, one fixed-Huffman
// deflate block, Adler-32.
func (e *PNGEncoder) appendZlib(b []byte, m *qr.Matrix, s Style, side int, darkBit byte) []byte {
	n, qz, px := m.Size(), s.QuietZone, s.ModulePx
	rowLen := 1 + (side+7)/8
	e.row = grow(e.row, rowLen)
	e.prev = grow(e.prev, rowLen)
	b = append(b, 0x78, 0x01) // deflate, 32K window, fastest
	e.acc, e.nacc = 0, 0
	b = e.putBits(b, 0b011, 3) // BFINAL=1, BTYPE=01 (fixed Huffman)

	ad := adler{a: 1}
	dRow := distCode(rowLen)
	fill := byte(0)
	if darkBit == 0 {
		fill = 0xFF
	}
	repeat := 0 // pixel rows equal to e.prev not yet written
	havePrev := false
	emitRepeat := func() {
		if repeat*rowLen >= 3 {
			b = e.match(b, repeat*rowLen, dRow)
			ad.repeat(e.prev, repeat)
		} else {
			for range repeat { // rows too short for a match
				b = e.literals(b, e.prev)
				ad.update(e.prev)
			}
		}
		repeat = 0
	}
	for y := -qz; y < n+qz; y++ {
		row := e.row
		row[0] = 0 // filter: none
		for i := 1; i < rowLen; i++ {
			row[i] = fill
		}
		if y >= 0 && y < n {
			mr := m.Row(y)
			for x := 0; x < n; {
				x0, x1 := nextRun(mr, n, x)
				if x0 >= n {
					break
				}
				setBits(row[1:], (qz+x0)*px, (qz+x1)*px, darkBit)
				x = x1
			}
		}
		if havePrev && string(row) == string(e.prev) {
			repeat += px
			continue
		}
		emitRepeat()
		b = e.literals(b, row)
		ad.update(row)
		repeat = px - 1
		e.row, e.prev = e.prev, e.row
		havePrev = true
	}
	emitRepeat()
	b = e.putBits(b, 0, 7) // end of block (symbol 256)
	for e.nacc > 0 {
		b = append(b, byte(e.acc))
		e.acc >>= 8
		e.nacc = uint(max(int(e.nacc)-8, 0))
	}
	return binary.BigEndian.AppendUint32(b, ad.sum())
}

// setBits sets the bits [from, to) of a big-endian (MSB first) bit row to v.
func setBits(row []byte, from, to int, v byte) {
	if from >= to {
		return
	}
	fb, lb := from>>3, (to-1)>>3
	hi := byte(0xFF >> uint(from&7))     // bits from..7 of first byte
	lo := byte(0xFF << uint(7-(to-1)&7)) // bits 0..(to-1) of last byte
	set := func(i int, mask byte) {
		if v != 0 {
			row[i] |= mask
		} else {
			row[i] &^= mask
		}
	}
	if fb == lb {
		set(fb, hi&lo)
		return
	}
	set(fb, hi)
	fillB := byte(0)
	if v != 0 {
		fillB = 0xFF
	}
	for i := fb + 1; i < lb; i++ {
		row[i] = fillB
	}
	set(lb, lo)
}

// bits appends the n low bits of v to the deflate bit stream (n <= 32).
func (e *PNGEncoder) putBits(b []byte, v uint64, n uint) []byte {
	e.acc |= v << e.nacc
	e.nacc += n
	if e.nacc >= 32 {
		b = binary.LittleEndian.AppendUint32(b, uint32(e.acc))
		e.acc >>= 32
		e.nacc -= 32
	}
	return b
}

// literals codes row with fixed Huffman literals, runs of 4 or more equal
// bytes as a literal followed by a match at distance 1.
func (e *PNGEncoder) literals(b []byte, row []byte) []byte {
	for i := 0; i < len(row); {
		c := row[i]
		lc := litCodes[c]
		b = e.putBits(b, uint64(lc.bits), uint(lc.n))
		j := i + 1
		for j < len(row) && row[j] == c {
			j++
		}
		if run := j - i - 1; run >= 3 {
			b = e.match(b, run, dist1)
		} else {
			for k := 0; k < run; k++ {
				b = e.putBits(b, uint64(lc.bits), uint(lc.n))
			}
		}
		i = j
	}
	return b
}

// match codes a copy of length bytes from the distance coded by dc, split into matches of
// at most 258 bytes (none shorter than 3). length must be >= 3.
func (e *PNGEncoder) match(b []byte, length int, dc code) []byte {
	for length > 0 {
		l := min(length, 258)
		if length-l > 0 && length-l < 3 {
			l = length - 3
		}
		lc := lenCodes[l]
		b = e.putBits(b, uint64(lc.bits)|uint64(dc.bits)<<lc.n, uint(lc.n+dc.n))
		length -= l
	}
	return b
}

// code is a deflate symbol ready to write: Huffman code bit-reversed,
// followed by its extra bits.
type code struct {
	bits uint32
	n    uint8
}

var (
	litCodes [256]code
	lenCodes [259]code
	dist1    = distCode(1)
)

func reverse(v uint32, n uint8) uint32 {
	r := uint32(0)
	for i := uint8(0); i < n; i++ {
		r = r<<1 | v&1
		v >>= 1
	}
	return r
}

// fixedCode returns the fixed Huffman code of literal/length symbol sym.
func fixedCode(sym int) code {
	switch {
	case sym < 144:
		return code{reverse(uint32(0x30+sym), 8), 8}
	case sym < 256:
		return code{reverse(uint32(0x190+sym-144), 9), 9}
	case sym < 280:
		return code{reverse(uint32(sym-256), 7), 7}
	default:
		return code{reverse(uint32(0xC0+sym-280), 8), 8}
	}
}

var (
	lenBase  = [...]int{3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258}
	lenExtra = [...]uint8{0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0}
)

func init() {
	for i := range litCodes {
		litCodes[i] = fixedCode(i)
	}
	for i := len(lenBase) - 1; i >= 0; i-- {
		sym := fixedCode(257 + i)
		top := 258
		if i+1 < len(lenBase) {
			top = lenBase[i+1] - 1
		}
		for l := lenBase[i]; l <= top; l++ {
			lenCodes[l] = code{sym.bits | uint32(l-lenBase[i])<<sym.n, sym.n + lenExtra[i]}
		}
	}
}

// distCode returns the fixed code (5 bits) and extra bits of distance d
// (1..32768).
func distCode(d int) code {
	if d <= 4 {
		return code{reverse(uint32(d-1), 5), 5}
	}
	// Codes 4.. come in pairs sharing the extra-bit count.
	extra := uint8(bits.Len(uint(d-1)) - 2)
	// For extra bits e, codes 2e+2 and 2e+3 cover bases 2^(e+1)+1 and 3·2^e+1.
	base := 1<<(extra+1) + 1
	sym := 2*int(extra) + 2
	if d >= 3<<extra+1 {
		base = 3<<extra + 1
		sym++
	}
	return code{reverse(uint32(sym), 5) | uint32(d-base)<<5, 5 + extra}
}

// adler is a running Adler-32.
type adler struct{ a, b uint32 }

const adlerMod = 65521

func (s *adler) update(p []byte) {
	a, b := uint64(s.a), uint64(s.b)
	for _, c := range p {
		a += uint64(c)
		b += a
	}
	s.a, s.b = uint32(a%adlerMod), uint32(b%adlerMod)
}

// repeat updates the checksum for k more copies of row in closed form.
// Appending x1..xn turns (a, b) into (a + S, b + n·a + W) with S = Σxi and
// W = Σ(n-i+1)·xi; k times, that is (a + k·S, b + k·(n·a + W) + n·S·k(k-1)/2).
func (s *adler) repeat(row []byte, k int) {
	var sum, wsum uint64
	n := uint64(len(row))
	for i, c := range row {
		sum += uint64(c)
		wsum += (n - uint64(i)) * uint64(c)
	}
	sum %= adlerMod
	wsum %= adlerMod
	kk, nm, a := uint64(k), n%adlerMod, uint64(s.a)
	tri := kk * (kk - 1) / 2 % adlerMod
	b := uint64(s.b) + kk%adlerMod*((nm*a+wsum)%adlerMod) + nm*sum%adlerMod*tri
	s.a = uint32((a + kk%adlerMod*sum) % adlerMod)
	s.b = uint32(b % adlerMod)
}

func (s *adler) sum() uint32 { return s.b<<16 | s.a }

func grow(b []byte, n int) []byte {
	if cap(b) < n {
		return make([]byte, n)
	}
	return b[:n]
}
