package decode

import (
	"image"
	"image/color"
	"testing"
)

// TestGrayOfSubImage checks the luminance conversion of each pixel type
// against image.At, on sub-images whose bounds do not start at the origin,
// with odd widths (the RGBA path converts two pixels at a time).
func TestGrayOfSubImage(t *testing.T) {
	t.Parallel()
	r := image.Rect(0, 0, 9, 6)
	rgba, nrgba, g8 := image.NewRGBA(r), image.NewNRGBA(r), image.NewGray(r)
	pal := image.NewPaletted(r, color.Palette{color.Black, color.White, color.RGBA{200, 10, 60, 255}})
	for y := 0; y < 6; y++ {
		for x := 0; x < 9; x++ {
			v := uint8(x*27 + y*11)
			a := uint8(255 - (x*y)%3*60)
			rgba.Set(x, y, color.NRGBA{v, 255 - v, v / 2, a})
			nrgba.Set(x, y, color.NRGBA{v / 3, v, 255 - v, a})
			g8.Set(x, y, color.Gray{v})
			pal.SetColorIndex(x, y, uint8((x+y)%3))
		}
	}
	sub := image.Rect(2, 1, 7, 6)
	for _, img := range []image.Image{rgba.SubImage(sub), nrgba.SubImage(sub), g8.SubImage(sub), pal.SubImage(sub)} {
		g := grayOf(img)
		b := img.Bounds()
		for y := 0; y < b.Dy(); y++ {
			for x := 0; x < b.Dx(); x++ {
				want := lumaOf(img.At(b.Min.X+x, b.Min.Y+y))
				if got := g.pix[y*g.w+x]; int(got)-int(want) > 1 || int(want)-int(got) > 1 {
					t.Errorf("%T (%d,%d): %d, want %d", img, x, y, got, want)
				}
			}
		}
	}
}

// TestDouble checks the upscale against its per-pixel definition: output
// pixel (x, y) blends source pixels (x/2, y/2) and their neighbours towards
// it (clamped at the edges) with weights 9, 3, 3, 1 out of 16.
func TestDouble(t *testing.T) {
	t.Parallel()
	for _, sz := range [][2]int{{1, 1}, {1, 4}, {5, 1}, {2, 2}, {7, 3}, {33, 20}} {
		g := &gray{w: sz[0], h: sz[1], pix: make([]byte, sz[0]*sz[1]), scale: 1}
		for i := range g.pix {
			g.pix[i] = byte(i*97 + i*i*13)
		}
		d := g.double()
		if d.w != 2*g.w || d.h != 2*g.h || d.scale != 0.5 {
			t.Fatalf("%v: %d×%d scale %v", sz, d.w, d.h, d.scale)
		}
		near := func(c, lim int) int {
			if c%2 == 0 {
				return max(c/2-1, 0)
			}
			return min(c/2+1, lim-1)
		}
		for y := 0; y < d.h; y++ {
			for x := 0; x < d.w; x++ {
				x0, y0 := x/2, y/2
				x1, y1 := near(x, g.w), near(y, g.h)
				p := func(x, y int) int { return int(g.pix[y*g.w+x]) }
				want := byte((9*p(x0, y0) + 3*p(x1, y0) + 3*p(x0, y1) + p(x1, y1) + 8) >> 4)
				if got := d.pix[y*d.w+x]; got != want {
					t.Fatalf("%v (%d,%d): %d, want %d", sz, x, y, got, want)
				}
			}
		}
	}
}

// TestRowConversionsExact checks rgbaRow and nrgbaRow, which convert
// several pixels at a time, against their per-pixel formulas on random
// rows of every width up to 18, opaque and not.
func TestRowConversionsExact(t *testing.T) {
	t.Parallel()
	rnd := uint64(3)
	next := func() byte {
		rnd = rnd*6364136223846793005 + 1442695040888963407
		return byte(rnd >> 56)
	}
	for n := range 20000 {
		w := n % 19
		src := make([]byte, 4*w)
		for i := range src {
			src[i] = next()
			if i%4 == 3 && n%4 != 0 && next()%5 != 0 {
				src[i] = 255
			}
		}
		got := make([]byte, w)
		nrgbaRow(got, src)
		for x := range w {
			p := src[4*x : 4*x+4]
			l, a := luma(uint32(p[0]), uint32(p[1]), uint32(p[2])), uint32(p[3])
			if want := byte((l*a + 255*(255-a)) / 255); got[x] != want {
				t.Fatalf("nrgbaRow %v pixel %d: %d, want %d", src, x, got[x], want)
			}
		}
		for x := range w { // premultiplied: r, g, b at most a
			for c := range 3 {
				src[4*x+c] = byte(uint32(src[4*x+c]) * uint32(src[4*x+3]) / 255)
			}
		}
		rgbaRow(got, src)
		for x := range w {
			p := src[4*x : 4*x+4]
			if want := byte(min(luma(uint32(p[0]), uint32(p[1]), uint32(p[2]))+255-uint32(p[3]), 255)); got[x] != want {
				t.Fatalf("rgbaRow %v pixel %d: %d, want %d", src, x, got[x], want)
			}
		}
	}
}
