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
