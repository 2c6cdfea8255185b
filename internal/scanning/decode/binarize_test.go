package decode

import (
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/makiuchi-d/gozxing"
)

// TestBinarizersMatchGozxing checks that the hybrid and global-histogram
// binarizers give exactly gozxing's matrices, on the image and on its
// negative, for sizes that are and are not multiples of the block size.
func TestBinarizersMatchGozxing(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(1, 2))
	var bz binarizer
	for _, size := range [][2]int{{40, 40}, {41, 57}, {64, 48}, {100, 99}, {203, 131}, {30, 80}, {5, 7}, {13, 44}} {
		g := &gray{w: size[0], h: size[1], pix: make([]byte, size[0]*size[1]), scale: 1}
		// Flat areas, smooth gradients and noisy edges, so that every
		// branch of the black-point estimate is taken.
		for y := 0; y < g.h; y++ {
			for x := 0; x < g.w; x++ {
				v := 40 + 3*x + y
				if (x/7+y/5)%3 == 0 {
					v = 200 + rng.IntN(20)
				}
				if x > g.w/2 && y > g.h/2 {
					v = 90 + rng.IntN(10)
				}
				g.pix[y*g.w+x] = byte(min(v, 255))
			}
		}
		for _, inverted := range []bool{false, true} {
			var src gozxing.LuminanceSource = &lumSource{g: g}
			if inverted {
				src = src.Invert()
			}
			want, err := gozxing.NewHybridBinarizer(src).GetBlackMatrix()
			if err != nil {
				t.Fatal(err)
			}
			got, err := bz.hybrid(g, inverted)
			if err != nil {
				t.Fatal(err)
			}
			if got.String() != want.String() {
				t.Errorf("%dx%d inverted=%v: hybrid matrices differ", g.w, g.h, inverted)
			}
			want, err = gozxing.NewGlobalHistgramBinarizer(src).GetBlackMatrix()
			got, err2 := bz.global(g, inverted)
			if (err == nil) != (err2 == nil) || err == nil && got.String() != want.String() {
				t.Errorf("%dx%d inverted=%v: global-histogram matrices differ (%v, %v)", g.w, g.h, inverted, err2, err)
			}
		}
	}
}

// lumSource adapts a gray plane to gozxing's LuminanceSource, for
// comparisons with gozxing's binarizers.
type lumSource struct{ g *gray }

var errUnsupported = errors.New("decode: operation not supported")

func (s *lumSource) GetRow(y int, row []byte) ([]byte, error) {
	if y < 0 || y >= s.g.h {
		return nil, errors.New("decode: row out of range")
	}
	if len(row) < s.g.w {
		row = make([]byte, s.g.w)
	}
	copy(row, s.g.pix[y*s.g.w:(y+1)*s.g.w])
	return row, nil
}
func (s *lumSource) GetMatrix() []byte     { return s.g.pix }
func (s *lumSource) GetWidth() int         { return s.g.w }
func (s *lumSource) GetHeight() int        { return s.g.h }
func (s *lumSource) IsCropSupported() bool { return false }
func (s *lumSource) Crop(left, top, width, height int) (gozxing.LuminanceSource, error) {
	return nil, errUnsupported
}
func (s *lumSource) IsRotateSupported() bool { return false }
func (s *lumSource) Invert() gozxing.LuminanceSource {
	p := make([]byte, len(s.g.pix))
	for i, v := range s.g.pix {
		p[i] = 255 - v
	}
	return &lumSource{g: &gray{w: s.g.w, h: s.g.h, pix: p, scale: s.g.scale}}
}
func (s *lumSource) RotateCounterClockwise() (gozxing.LuminanceSource, error) {
	return nil, errUnsupported
}
func (s *lumSource) RotateCounterClockwise45() (gozxing.LuminanceSource, error) {
	return nil, errUnsupported
}
func (s *lumSource) String() string { return "decode.lumSource" }
