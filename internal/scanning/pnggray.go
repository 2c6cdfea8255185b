package scanning

import (
	"bufio"
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"image"
	"io"
)

// pngGray decodes a PNG straight to the 8-bit luminance plane the decoder
// works on, one row at a time: image/png would hold the whole picture in its
// own colour model first, 8 bytes a pixel for 16-bit RGBA. Luminance is the
// decoder's (BT.601 weights, transparent pixels over white), so a photo
// reads the same either way.
func pngGray(data []byte) (*image.Gray, error) {
	if len(data) < 8 || string(data[:8]) != "\x89PNG\r\n\x1a\n" {
		return nil, errors.New("not a PNG file")
	}
	p := &pngDecoder{chunks: data[8:]}
	if err := p.header(); err != nil {
		return nil, err
	}
	return p.pixels()
}

type pngDecoder struct {
	chunks []byte // the chunks not read yet
	w, h   int
	depth  int
	ctype  int
	laced  bool
	lut    [256]byte // luminance of each palette index (colour type 3)
	// trns is the transparent grey or RGB sample (colour types 0 and 2).
	trns    [3]uint16
	hasTRNS bool
}

// next returns the next chunk, its CRC checked.
func (p *pngDecoder) next() (typ string, body []byte, err error) {
	if len(p.chunks) < 12 {
		return "", nil, io.ErrUnexpectedEOF
	}
	n := binary.BigEndian.Uint32(p.chunks)
	if uint64(n) > uint64(len(p.chunks)-12) {
		return "", nil, io.ErrUnexpectedEOF
	}
	typ, body = string(p.chunks[4:8]), p.chunks[8:8+n]
	if crc32.ChecksumIEEE(p.chunks[4:8+n]) != binary.BigEndian.Uint32(p.chunks[8+n:]) {
		return "", nil, fmt.Errorf("chunk %s fails its checksum", typ)
	}
	p.chunks = p.chunks[12+n:]
	return typ, body, nil
}

// header reads the chunks up to the first IDAT (which it leaves unread).
func (p *pngDecoder) header() error {
	typ, b, err := p.next()
	if err != nil {
		return err
	}
	if typ != "IHDR" || len(b) != 13 {
		return errors.New("no IHDR chunk first")
	}
	p.w, p.h = int(binary.BigEndian.Uint32(b)), int(binary.BigEndian.Uint32(b[4:]))
	p.depth, p.ctype, p.laced = int(b[8]), int(b[9]), b[12] == 1
	if b[10] != 0 || b[11] != 0 || b[12] > 1 {
		return errors.New("unknown compression, filter or interlace method")
	}
	ok := map[int][]int{0: {1, 2, 4, 8, 16}, 2: {8, 16}, 3: {1, 2, 4, 8}, 4: {8, 16}, 6: {8, 16}}[p.ctype]
	if !bytes.Contains(bytesOf(ok), []byte{byte(p.depth)}) {
		return fmt.Errorf("colour type %d with bit depth %d", p.ctype, p.depth)
	}
	var palette [][3]byte
	for len(p.chunks) >= 8 && string(p.chunks[4:8]) != "IDAT" {
		typ, b, err := p.next()
		if err != nil {
			return err
		}
		switch typ {
		case "PLTE":
			for i := 0; i+2 < len(b) && i/3 < 256; i += 3 {
				palette = append(palette, [3]byte{b[i], b[i+1], b[i+2]})
			}
		case "tRNS":
			if p.ctype == 3 {
				for i, c := range palette {
					a := byte(0xff)
					if i < len(b) {
						a = b[i]
					}
					p.lut[i] = nrgbaLuma(c[0], c[1], c[2], a)
				}
				palette = nil
				continue
			}
			for i := 0; i < 3 && 2*i+1 < len(b); i++ {
				p.trns[i] = binary.BigEndian.Uint16(b[2*i:])
			}
			p.hasTRNS = p.ctype == 0 && len(b) >= 2 || p.ctype == 2 && len(b) >= 6
		case "IEND":
			return errors.New("no IDAT chunk")
		}
	}
	for i, c := range palette {
		p.lut[i] = nrgbaLuma(c[0], c[1], c[2], 0xff)
	}
	return nil
}

func bytesOf(v []int) []byte {
	b := make([]byte, len(v))
	for i, x := range v {
		b[i] = byte(x)
	}
	return b
}

// idat reads the data of consecutive IDAT chunks as one stream.
type idat struct {
	p   *pngDecoder
	cur []byte
	err error
}

func (r *idat) Read(b []byte) (int, error) {
	for len(r.cur) == 0 {
		if r.err != nil {
			return 0, r.err
		}
		if len(r.p.chunks) < 8 || string(r.p.chunks[4:8]) != "IDAT" {
			return 0, io.EOF
		}
		_, r.cur, r.err = r.p.next()
	}
	n := copy(b, r.cur)
	r.cur = r.cur[n:]
	return n, nil
}

// adam7 are the interlace passes: first column and row, column and row step.
var adam7 = [7][4]int{{0, 0, 8, 8}, {4, 0, 8, 8}, {0, 4, 4, 8}, {2, 0, 4, 4}, {0, 2, 2, 4}, {1, 0, 2, 2}, {0, 1, 1, 2}}

func (p *pngDecoder) pixels() (*image.Gray, error) {
	zr, err := zlib.NewReader(bufio.NewReader(&idat{p: p}))
	if err != nil {
		return nil, err
	}
	defer zr.Close()
	g := image.NewGray(image.Rect(0, 0, p.w, p.h))
	channels := map[int]int{0: 1, 2: 3, 3: 1, 4: 2, 6: 4}[p.ctype]
	bpp := max(1, channels*p.depth/8) // bytes per complete pixel, for the filters
	passes := [][4]int{{0, 0, 1, 1}}
	if p.laced {
		passes = adam7[:]
	}
	maxRow := 1 + (p.w*channels*p.depth+7)/8
	cur, prev := make([]byte, maxRow), make([]byte, maxRow)
	out := make([]byte, p.w)
	for _, ps := range passes {
		pw, ph := (p.w-ps[0]+ps[2]-1)/ps[2], (p.h-ps[1]+ps[3]-1)/ps[3]
		if pw <= 0 || ph <= 0 {
			continue
		}
		n := 1 + (pw*channels*p.depth+7)/8
		clear(prev[:n])
		for y := 0; y < ph; y++ {
			if _, err := io.ReadFull(zr, cur[:n]); err != nil {
				return nil, fmt.Errorf("pixel data: %w", err)
			}
			if err := unfilter(cur[:n], prev[:n], bpp); err != nil {
				return nil, err
			}
			p.luma(out[:pw], cur[1:n])
			row := g.Pix[(ps[1]+y*ps[3])*g.Stride:]
			for x, v := range out[:pw] {
				row[ps[0]+x*ps[2]] = v
			}
			cur, prev = prev, cur
		}
	}
	return g, nil
}

// unfilter undoes the row's filter (its first byte) in place.
func unfilter(row, prev []byte, bpp int) error {
	cdat, pdat := row[1:], prev[1:]
	switch row[0] {
	case 0:
	case 1:
		for i := bpp; i < len(cdat); i++ {
			cdat[i] += cdat[i-bpp]
		}
	case 2:
		for i, v := range pdat {
			cdat[i] += v
		}
	case 3:
		for i := range cdat {
			left := 0
			if i >= bpp {
				left = int(cdat[i-bpp])
			}
			cdat[i] += byte((left + int(pdat[i])) / 2)
		}
	case 4:
		for i := range cdat {
			var a, c int
			if i >= bpp {
				a, c = int(cdat[i-bpp]), int(pdat[i-bpp])
			}
			cdat[i] += paeth(a, int(pdat[i]), c)
		}
	default:
		return fmt.Errorf("unknown row filter %d", row[0])
	}
	return nil
}

func paeth(a, b, c int) byte {
	p := a + b - c
	pa, pb, pc := abs(p-a), abs(p-b), abs(p-c)
	if pa <= pb && pa <= pc {
		return byte(a)
	}
	if pb <= pc {
		return byte(b)
	}
	return byte(c)
}

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}

// luma converts one unfiltered row of samples to luminance.
func (p *pngDecoder) luma(out, src []byte) {
	if p.depth < 8 {
		per := 8 / p.depth
		mask := byte(1<<p.depth - 1)
		for x := range out {
			v := src[x/per] >> (8 - p.depth*(x%per+1)) & mask
			switch {
			case p.ctype == 3:
				out[x] = p.lut[v]
			case p.hasTRNS && uint16(v) == p.trns[0]:
				out[x] = 0xff
			default:
				out[x] = v * (0xff / mask)
			}
		}
		return
	}
	s16 := func(i int) uint32 { return uint32(binary.BigEndian.Uint16(src[2*i:])) }
	for x := range out {
		switch p.ctype<<8 | p.depth {
		case 0<<8 | 8:
			v := src[x]
			out[x] = v
			if p.hasTRNS && uint16(v) == p.trns[0] {
				out[x] = 0xff
			}
		case 0<<8 | 16:
			v := s16(x)
			out[x] = byte(v >> 8)
			if p.hasTRNS && uint16(v) == p.trns[0] {
				out[x] = 0xff
			}
		case 2<<8 | 8:
			r, g, b := src[3*x], src[3*x+1], src[3*x+2]
			out[x] = nrgbaLuma(r, g, b, 0xff)
			if p.hasTRNS && uint16(r) == p.trns[0] && uint16(g) == p.trns[1] && uint16(b) == p.trns[2] {
				out[x] = 0xff
			}
		case 2<<8 | 16:
			r, g, b := s16(3*x), s16(3*x+1), s16(3*x+2)
			out[x] = nrgba64Luma(r, g, b, 0xffff)
			if p.hasTRNS && uint16(r) == p.trns[0] && uint16(g) == p.trns[1] && uint16(b) == p.trns[2] {
				out[x] = 0xff
			}
		case 3<<8 | 8:
			out[x] = p.lut[src[x]]
		case 4<<8 | 8:
			out[x] = nrgbaLuma(src[2*x], src[2*x], src[2*x], src[2*x+1])
		case 4<<8 | 16:
			out[x] = nrgba64Luma(s16(2*x), s16(2*x), s16(2*x), s16(2*x+1))
		case 6<<8 | 8:
			out[x] = nrgbaLuma(src[4*x], src[4*x+1], src[4*x+2], src[4*x+3])
		case 6<<8 | 16:
			out[x] = nrgba64Luma(s16(4*x), s16(4*x+1), s16(4*x+2), s16(4*x+3))
		}
	}
}

// nrgbaLuma is the decoder's luminance of a non-premultiplied 8-bit pixel
// over white: (luma·a + 255·(255−a))/255.
func nrgbaLuma(r, g, b, a byte) byte {
	l := (uint32(r)*306 + uint32(g)*601 + uint32(b)*117 + 512) >> 10
	return byte((l*uint32(a) + 255*(255-uint32(a))) / 255)
}

// nrgba64Luma is the decoder's luminance of a non-premultiplied 16-bit
// pixel over white, as it computes it for image/png's 16-bit images.
func nrgba64Luma(r, g, b, a uint32) byte {
	r, g, b = r*a/0xffff, g*a/0xffff, b*a/0xffff
	l := (r*306+g*601+b*117+512)>>10 + 0xffff - a
	return byte(min(l, 0xffff) >> 8)
}
