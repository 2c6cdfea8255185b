package degrade

import (
	"fmt"
	"image"
	"math"
	"math/rand/v2"

	"github.com/qrmfg/qrmfg/internal/qr"
)

// Tray renders a phone photo, w×h pixels, of a tray of parts seen from
// above: cols×rows white labels on a grey tray, each with a QR code (level
// M) of a part id, PAD-V0100-L2025-09-00001 onwards in reading order. Each
// label is a little rotated and off its cell's centre, the whole tray is
// in slight perspective, the light falls off across the frame, and the
// photo is blurred and noisy. The module side is about a fortieth of the
// smaller cell side (about 6 px for 10×10 codes in 4000×3000). It returns
// the image and the texts in reading order; the same seed gives the same
// photo.
func Tray(seed uint64, cols, rows, w, h int) (*image.Gray, []string, error) {
	return tray(seed, cols, rows, w, h, -1)
}

// TrayOfOne is the photo of Tray with only label k (in reading order, from
// 0) left on the tray: everything else, the light and the noise included,
// is the same. It is the one-code photo to compare Tray's time with.
func TrayOfOne(seed uint64, cols, rows, w, h, k int) (*image.Gray, string, error) {
	if k < 0 || k >= cols*rows {
		return nil, "", fmt.Errorf("degrade: label %d of a tray of %d×%d", k, cols, rows)
	}
	img, texts, err := tray(seed, cols, rows, w, h, k)
	if err != nil {
		return nil, "", err
	}
	return img, texts[0], nil
}

// tray draws Tray's photo with only label only on it, or all labels when
// only is negative.
func tray(seed uint64, cols, rows, w, h, only int) (*image.Gray, []string, error) {
	if cols < 1 || rows < 1 || w < 100 || h < 100 {
		return nil, nil, fmt.Errorf("degrade: tray of %d×%d codes in %d×%d pixels", cols, rows, w, h)
	}
	rng := rand.New(rand.NewPCG(seed, seed^0x7ea1))
	// The tray plane, in pixels before the perspective: 94% of the frame.
	tw, th := 0.94*float64(w), 0.94*float64(h)
	cw, ch := tw/float64(cols), th/float64(rows)
	// The perspective: the tray's corners moved by up to 2.5% of the frame.
	j := func(v, span float64) float64 { return v + (rng.Float64()*2-1)*0.025*span }
	fw, fh := float64(w), float64(h)
	persp := squareToQuad([4][2]float64{
		{j(0.03*fw, fw), j(0.03*fh, fh)}, {j(0.97*fw, fw), j(0.03*fh, fh)},
		{j(0.97*fw, fw), j(0.97*fh, fh)}, {j(0.03*fw, fw), j(0.97*fh, fh)},
	})
	unpersp := adjoint(persp)
	toImage := func(x, y float64) (float64, float64) { return apply(persp, x/tw, y/th) }

	img := image.NewGray(image.Rect(0, 0, w, h))
	const trayLum = 150.0
	for i := range img.Pix {
		img.Pix[i] = trayLum
	}
	const labelModules = 6 // light margin of each label around its code
	var texts []string
	for r := range rows {
		for c := range cols {
			text := fmt.Sprintf("PAD-V0100-L2025-09-%05d", r*cols+c+1)
			sym, err := qr.Encode(text, qr.Options{Level: qr.M})
			if err != nil {
				return nil, nil, fmt.Errorf("degrade: encode %q: %w", text, err)
			}
			m := sym.Matrix
			n := float64(m.Size())
			ms := min(cw, ch) / 40
			rot := (rng.Float64()*2 - 1) * 8 * math.Pi / 180
			cosR, sinR := math.Cos(rot), math.Sin(rot)
			cx := (float64(c)+0.5)*cw + (rng.Float64()*2-1)*0.05*cw
			cy := (float64(r)+0.5)*ch + (rng.Float64()*2-1)*0.05*ch
			// Module coordinates (origin at the symbol's top-left) to the
			// tray plane and back.
			fwd := func(mx, my float64) (float64, float64) {
				u, v := (mx-n/2)*ms, (my-n/2)*ms
				return cx + cosR*u - sinR*v, cy + sinR*u + cosR*v
			}
			back := func(x, y float64) (float64, float64) {
				u, v := x-cx, y-cy
				return (cosR*u+sinR*v)/ms + n/2, (-sinR*u+cosR*v)/ms + n/2
			}
			if only >= 0 && r*cols+c != only {
				continue // (after the draws: the other labels stay put)
			}
			texts = append(texts, text)
			x0, y0, x1, y1 := w, h, 0, 0
			for _, q := range [4][2]float64{{-labelModules, -labelModules}, {n + labelModules, -labelModules}, {n + labelModules, n + labelModules}, {-labelModules, n + labelModules}} {
				px, py := toImage(fwd(q[0], q[1]))
				x0, y0 = min(x0, int(px)-1), min(y0, int(py)-1)
				x1, y1 = max(x1, int(px)+2), max(y1, int(py)+2)
			}
			const ss = 3
			for y := max(y0, 0); y < min(y1, h); y++ {
				for x := max(x0, 0); x < min(x1, w); x++ {
					var sum float64
					inside := false
					for sy := range ss {
						for sx := range ss {
							u, v := apply(unpersp, float64(x)+(float64(sx)+0.5)/ss, float64(y)+(float64(sy)+0.5)/ss)
							mx, my := back(u*tw, v*th)
							switch {
							case mx < -labelModules || my < -labelModules || mx >= n+labelModules || my >= n+labelModules:
								sum += trayLum
							case mx >= 0 && my >= 0 && mx < n && my < n && m.Dark(int(mx), int(my)):
								sum += 30
								inside = true
							default:
								sum += 235
								inside = true
							}
						}
					}
					if inside {
						img.Pix[y*img.Stride+x] = clamp(sum / (ss * ss))
					}
				}
			}
		}
	}
	// Uneven light: brightest off one corner, down to 60% at the far one.
	lx, ly := rng.Float64()*fw, rng.Float64()*fh
	far := math.Hypot(max(lx, fw-lx), max(ly, fh-ly))
	for y := range h {
		for x := range w {
			d := math.Hypot(float64(x)-lx, float64(y)-ly) / far
			i := y*img.Stride + x
			img.Pix[i] = clamp(float64(img.Pix[i]) * (1 - 0.4*d*d))
		}
	}
	gaussBlur(img, 1.2)
	for i, v := range img.Pix {
		img.Pix[i] = clamp(float64(v) + rng.NormFloat64()*6)
	}
	return img, texts, nil
}
