package decode_test

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/color"
	"image/png"

	"github.com/qrmfg/qrmfg/internal/qr"
	"github.com/qrmfg/qrmfg/internal/scanning/decode"
)

// A scanning request: decode an uploaded photo and report each code with
// its error-correction margin.
func Example() {
	photo := labelPNG("PAD-V0100-L2025-09-00001")

	codes, err := decode.Bytes(context.Background(), photo, decode.DefaultOptions())
	if err != nil {
		fmt.Println("refused:", err)
		return
	}
	for _, c := range codes {
		fmt.Printf("%s v%d-%s mask %d, %d of %d correctable codewords used\n",
			c.Text, c.Version, c.Level, c.Mask, c.ErrorsCorrected, c.ECCapacity)
	}
	// Output: PAD-V0100-L2025-09-00001 v2-M mask 0, 0 of 8 correctable codewords used
}

// labelPNG renders text as a QR code, 6 pixels a module, as a PNG file.
func labelPNG(text string) []byte {
	sym, err := qr.Encode(text, qr.Options{Level: qr.M})
	if err != nil {
		panic(err)
	}
	n, px := sym.Matrix.Size(), 6
	img := image.NewGray(image.Rect(0, 0, (n+8)*px, (n+8)*px))
	for y := range img.Rect.Dy() {
		for x := range img.Rect.Dx() {
			v := uint8(255)
			if sym.Matrix.Dark(x/px-4, y/px-4) {
				v = 0
			}
			img.SetGray(x, y, color.Gray{Y: v})
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		panic(err)
	}
	return buf.Bytes()
}
