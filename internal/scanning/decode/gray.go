package decode

import (
	"encoding/binary"
	"image"
	"image/color"
	"math/bits"
	"sync"
)

// gray is an 8-bit luminance plane, 0 black to 255 white, row-major with no
// padding. scale is the size of one of its pixels in original image pixels.
type gray struct {
	w, h  int
	pix   []byte
	scale float64
}

// grayOf converts img to luminance, with fast paths for the types the image
// codecs return. Transparent pixels are composed over white, so a logo on a
// transparent background reads like one printed on paper.
func grayOf(img image.Image) *gray {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	g := &gray{w: w, h: h, pix: newPlane(w * h), scale: 1}
	switch m := img.(type) {
	case *image.Gray:
		for y := 0; y < h; y++ {
			o := m.PixOffset(b.Min.X, b.Min.Y+y)
			copy(g.pix[y*w:(y+1)*w], m.Pix[o:o+w])
		}
	case *image.YCbCr:
		for y := 0; y < h; y++ {
			off := m.YOffset(b.Min.X, b.Min.Y+y)
			copy(g.pix[y*w:(y+1)*w], m.Y[off:off+w])
		}
	case *image.NYCbCrA:
		for y := 0; y < h; y++ {
			yo := m.YOffset(b.Min.X, b.Min.Y+y)
			ao := m.AOffset(b.Min.X, b.Min.Y+y)
			row := g.pix[y*w : (y+1)*w]
			for x := range row {
				a := uint32(m.A[ao+x])
				row[x] = byte((uint32(m.Y[yo+x])*a + 255*(255-a)) / 255)
			}
		}
	case *image.NRGBA:
		for y := 0; y < h; y++ {
			o := m.PixOffset(b.Min.X, b.Min.Y+y)
			nrgbaRow(g.pix[y*w:(y+1)*w], m.Pix[o:o+4*w])
		}
	case *image.RGBA:
		for y := 0; y < h; y++ {
			o := m.PixOffset(b.Min.X, b.Min.Y+y)
			rgbaRow(g.pix[y*w:(y+1)*w], m.Pix[o:o+4*w])
		}
	case *image.Paletted:
		lut := make([]byte, 256)
		for i, c := range m.Palette {
			lut[i] = lumaOf(c)
		}
		for y := 0; y < h; y++ {
			o := m.PixOffset(b.Min.X, b.Min.Y+y)
			src := m.Pix[o : o+w]
			row := g.pix[y*w : (y+1)*w]
			for x := range row {
				row[x] = lut[src[x]]
			}
		}
	default:
		for y := 0; y < h; y++ {
			row := g.pix[y*w : (y+1)*w]
			for x := range row {
				row[x] = lumaOf(img.At(b.Min.X+x, b.Min.Y+y))
			}
		}
	}
	return g
}

// rgbaRow converts a row of premultiplied RGBA to luminance over white:
// luma(r, g, b) + 255 - a, at most 255. Two pixels at a time, in the 32-bit
// lanes of a uint64 (no lane overflows: 255·1024 < 2³²).
func rgbaRow(row, src []byte) {
	const lanes = 0x000000ff000000ff
	src = src[:4*len(row)]
	// Four pixels a step, stored as one word: two independent halves.
	for len(row) >= 4 {
		v, u := binary.LittleEndian.Uint64(src), binary.LittleEndian.Uint64(src[8:16])
		r, g, b, a := v&lanes, v>>8&lanes, v>>16&lanes, v>>24&lanes
		l := (r*306+g*601+b*117+0x0000020000000200)>>10&0x000003ff000003ff + lanes - a
		l |= l >> 8 & 0x0000000100000001 * 0xff
		r, g, b, a = u&lanes, u>>8&lanes, u>>16&lanes, u>>24&lanes
		k := (r*306+g*601+b*117+0x0000020000000200)>>10&0x000003ff000003ff + lanes - a
		k |= k >> 8 & 0x0000000100000001 * 0xff
		l, k = l&lanes, k&lanes
		binary.LittleEndian.PutUint32(row, uint32(l|l>>24|k<<16|k>>8))
		row, src = row[4:], src[16:]
	}
	for len(row) >= 2 {
		v := binary.LittleEndian.Uint64(src)
		r, g, b, a := v&lanes, v>>8&lanes, v>>16&lanes, v>>24&lanes
		l := (r*306+g*601+b*117+0x0000020000000200)>>10&0x000003ff000003ff + lanes - a
		l |= l >> 8 & 0x0000000100000001 * 0xff // 256..510 saturate to 255
		row[0], row[1] = byte(l), byte(l>>32)
		row, src = row[2:], src[8:]
	}
	if len(row) == 1 {
		row[0] = byte(min(luma(uint32(src[0]), uint32(src[1]), uint32(src[2]))+255-uint32(src[3]), 255))
	}
}

// nrgbaRow converts a row of non-premultiplied RGBA to luminance over
// white: (luma·a + 255·(255−a))/255. Two opaque pixels (the common case)
// at a time as in rgbaRow, where that is luma exactly.
func nrgbaRow(row, src []byte) {
	const lanes, opaque = 0x000000ff000000ff, 0xff000000ff000000
	src = src[:4*len(row)]
	for len(row) >= 2 {
		v := binary.LittleEndian.Uint64(src)
		if v&opaque == opaque {
			r, g, b := v&lanes, v>>8&lanes, v>>16&lanes
			l := (r*306 + g*601 + b*117 + 0x0000020000000200) >> 10
			row[0], row[1] = byte(l), byte(l>>32)
		} else {
			row[0], row[1] = nrgbaPixel(src[0:4:4]), nrgbaPixel(src[4:8:8])
		}
		row, src = row[2:], src[8:]
	}
	if len(row) == 1 {
		row[0] = nrgbaPixel(src[0:4:4])
	}
}

func nrgbaPixel(p []byte) byte {
	l := luma(uint32(p[0]), uint32(p[1]), uint32(p[2]))
	a := uint32(p[3])
	return byte((l*a + 255*(255-a)) / 255)
}

func luma(r, g, b uint32) uint32 { return (r*306 + g*601 + b*117 + 512) >> 10 }

func lumaOf(c color.Color) byte {
	r, g, b, a := c.RGBA() // premultiplied, 16-bit
	l := (r*306+g*601+b*117+512)>>10 + 0xffff - a
	return byte(min(l, 0xffff) >> 8)
}

// half returns g downscaled by two with a 2×2 box filter.
func (g *gray) half() *gray {
	w, h := g.w/2, g.h/2
	d := &gray{w: w, h: h, pix: newPlane(w * h), scale: g.scale * 2}
	for y := 0; y < h; y++ {
		r0 := g.pix[2*y*g.w : 2*y*g.w+2*w]
		r1 := g.pix[(2*y+1)*g.w : (2*y+1)*g.w+2*w]
		row := d.pix[y*w : (y+1)*w]
		for x := range row {
			row[x] = byte((uint32(r0[2*x]) + uint32(r0[2*x+1]) + uint32(r1[2*x]) + uint32(r1[2*x+1]) + 2) >> 2)
		}
	}
	return d
}

// at returns the bilinearly interpolated luminance at (x, y), in this plane's
// pixel coordinates with pixel centres at +0.5, and false outside the plane.
func (g *gray) at(x, y float64) (float64, bool) {
	x -= 0.5
	y -= 0.5
	if x < -0.5 || y < -0.5 || x > float64(g.w)-0.5 || y > float64(g.h)-0.5 {
		return 0, false
	}
	x = max(0, min(x, float64(g.w-1)))
	y = max(0, min(y, float64(g.h-1)))
	x0, y0 := int(x), int(y)
	x1, y1 := min(x0+1, g.w-1), min(y0+1, g.h-1)
	fx, fy := x-float64(x0), y-float64(y0)
	p := g.pix
	top := float64(p[y0*g.w+x0])*(1-fx) + float64(p[y0*g.w+x1])*fx
	bot := float64(p[y1*g.w+x0])*(1-fx) + float64(p[y1*g.w+x1])*fx
	return top*(1-fy) + bot*fy, true
}

// double returns g upscaled by two with bilinear interpolation, which gives
// the binarizer and the finder-pattern scan more pixels per module on small,
// heavily compressed crops.
func (g *gray) double() *gray {
	w, h := g.w*2, g.h*2
	d := &gray{w: w, h: h, pix: newPlane(w * h), scale: g.scale / 2}
	col := make([]uint32, g.w)
	for y := 0; y < h; y++ {
		// Output pixel centre (y+0.5)/2 in source pixels: rows sy0 and sy1
		// with weights 3/4 and 1/4.
		sy0 := y / 2
		sy1 := sy0 - 1
		if y&1 == 1 {
			sy1 = sy0 + 1
		}
		sy1 = min(max(sy1, 0), g.h-1)
		r0, r1 := g.pix[sy0*g.w:(sy0+1)*g.w], g.pix[sy1*g.w:(sy1+1)*g.w]
		// The vertical blend once per source column, a = 3·r0 + r1; the
		// output pixels 2k and 2k+1 then blend a[k] 3:1 with a[k-1] and
		// a[k+1] (clamped): 9·r0[k] + 3·r0[j] + 3·r1[k] + r1[j].
		a := col[:g.w]
		for k, v := range r0 {
			a[k] = 3*uint32(v) + uint32(r1[k])
		}
		row := d.pix[y*w : (y+1)*w]
		for k := range a {
			l, r := a[max(k-1, 0)], a[min(k+1, g.w-1)]
			c := 3 * a[k]
			row[2*k] = byte((c + l + 8) >> 4)
			row[2*k+1] = byte((c + r + 8) >> 4)
		}
	}
	return d
}

// stretched returns g with its luminance range from the 1st to the 99th
// percentile stretched to 0-255, or nil when the range is already wide.
// Low-contrast marks (a light etch on bare metal) fall under the
// binarizers' minimum local contrast until stretched.
func (g *gray) stretched() *gray {
	var hist [256]int
	for _, v := range g.pix {
		hist[v]++
	}
	n := len(g.pix)
	lo, hi, acc := 0, 255, 0
	for i, c := range hist {
		acc += c
		if acc > n/100 {
			lo = i
			break
		}
	}
	acc = 0
	for i := 255; i >= 0; i-- {
		acc += hist[i]
		if acc > n/100 {
			hi = i
			break
		}
	}
	if hi-lo >= 128 || hi <= lo {
		return nil
	}
	var lut [256]byte
	for i := range lut {
		lut[i] = byte(min(max((i-lo)*255/(hi-lo), 0), 255))
	}
	d := &gray{w: g.w, h: g.h, pix: newPlane(len(g.pix)), scale: g.scale}
	for i, v := range g.pix {
		d.pix[i] = lut[v]
	}
	return d
}

// smoothed returns g blurred with a 3×3 box filter (the mean of the pixels
// of the 3×3 neighbourhood inside the plane, rounded), which closes the
// gaps between the dots of a dotted (dot-peen or pulsed-laser) mark so its
// finder patterns read as solid rings.
func (g *gray) smoothed() *gray {
	w, h := g.w, g.h
	d := &gray{w: w, h: h, pix: newPlane(w * h), scale: g.scale}
	col := make([]uint32, w) // column sums over the rows y-1..y+1
	for y := 0; y < h; y++ {
		y0, y1 := max(y-1, 0), min(y+1, h-1)
		clear(col)
		for yy := y0; yy <= y1; yy++ {
			for x, v := range g.pix[yy*w : yy*w+w] {
				col[x] += uint32(v)
			}
		}
		ny := uint32(y1 - y0 + 1)
		row := d.pix[y*w : y*w+w]
		if ny == 3 && w > 2 {
			// Inner pixels of inner rows: nine samples.
			for x := 1; x < w-1; x++ {
				row[x] = byte((col[x-1] + col[x] + col[x+1] + 4) / 9)
			}
		}
		for x := range row {
			if ny == 3 && x > 0 && x < w-1 {
				continue
			}
			x0, x1 := max(x-1, 0), min(x+1, w-1)
			var s uint32
			for xx := x0; xx <= x1; xx++ {
				s += col[xx]
			}
			n := ny * uint32(x1-x0+1)
			row[x] = byte((s + n/2) / n)
		}
	}
	return d
}

// planePools recycle the pixel buffers of the planes a scan builds (the
// luminance plane, pyramid levels, upscales): a fresh buffer of several
// hundred kilobytes costs its zeroing and, on a busy heap, cache and page
// misses, where a recycled one is often still in cache. Pool k holds
// buffers of capacity 1<<k. Every plane constructor writes all its pixels,
// so a recycled buffer is not cleared.
var planePools [bits.UintSize]sync.Pool

// newPlane returns a buffer of n bytes, not cleared when recycled.
func newPlane(n int) []byte {
	if n <= 0 {
		return nil
	}
	k := bits.Len(uint(n - 1))
	if p, _ := planePools[k].Get().(*[]byte); p != nil {
		return (*p)[:n]
	}
	return make([]byte, n, 1<<k)
}

// freePlane hands a buffer from newPlane back for reuse. Its owner must not
// touch it afterwards.
func freePlane(b []byte) {
	c := cap(b)
	if c == 0 || c&(c-1) != 0 {
		return // not from newPlane
	}
	b = b[:c]
	planePools[bits.Len(uint(c-1))].Put(&b)
}
