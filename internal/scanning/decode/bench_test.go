package decode

import (
	"bytes"
	"context"
	"image"
	"testing"
	"time"
)

// BenchmarkQRReal decodes the qr-real images, already decoded to pixels
// (decode only, like the figures in the set's README), one core, and reports
// reads, wrong decodes and images per second.
func BenchmarkQRReal(b *testing.B) {
	imgs := loadQRReal(b)
	pix := make([]image.Image, len(imgs))
	for i, im := range imgs {
		p, _, err := image.Decode(bytes.NewReader(im.data))
		if err != nil {
			b.Fatalf("%s: %v", im.name, err)
		}
		pix[i] = p
	}
	opts := DefaultOptions()
	ctx := context.Background()
	b.ResetTimer()
	var read, wrong, n int
	start := time.Now()
	for range b.N {
		read, wrong = 0, 0
		for i, p := range pix {
			codes, err := Image(ctx, p, opts)
			if err != nil {
				b.Fatal(err)
			}
			ok := false
			for _, c := range codes {
				if bytes.Equal([]byte(c.Text), imgs[i].expected) {
					ok = true
				} else if otherCodes[imgs[i].name] == "" {
					wrong++
				}
			}
			if ok {
				read++
			}
			n++
		}
	}
	el := time.Since(start)
	b.ReportMetric(float64(read), "read")
	b.ReportMetric(float64(wrong), "wrong")
	b.ReportMetric(float64(n)/el.Seconds(), "images/s")
}
