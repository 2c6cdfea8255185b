package decode

import (
	"bytes"
	"context"
	"image"
	"syscall"
	"testing"
	"time"

	"github.com/makiuchi-d/gozxing"
	"github.com/makiuchi-d/gozxing/qrcode"
)

// BenchmarkQRReal decodes the qr-real images, already decoded to pixels
// (decode only, like the figures in the set's README), one core, and reports
// reads, wrong decodes and images per second: with DefaultOptions, and with
// the retries (grid refits, own finder triples) switched off, the fast
// operating point of ZXing's own pipeline plus our passes; and gozxing's
// QRCodeReader (HybridBinarizer, default hints), the set's README anchor of
// 139 reads at ~515 images/s.
func BenchmarkQRReal(b *testing.B) {
	b.Run("default", func(b *testing.B) { benchmarkQRReal(b) })
	b.Run("gozxing", func(b *testing.B) { benchmarkDecoder(b, gozxingTexts()) })
	b.Run("noretry", func(b *testing.B) {
		saved := maxRetries
		maxRetries = 0
		defer func() { maxRetries = saved }()
		benchmarkQRReal(b)
	})
}

func benchmarkQRReal(b *testing.B) {
	opts := DefaultOptions()
	ctx := context.Background()
	benchmarkDecoder(b, func(p image.Image) []string {
		codes, err := Image(ctx, p, opts)
		if err != nil {
			b.Fatal(err)
		}
		texts := make([]string, len(codes))
		for i, c := range codes {
			texts[i] = c.Text
		}
		return texts
	})
}

// benchmarkDecoder times decode over the qr-real images, already decoded to
// pixels, and reports reads, wrong decodes and images per second.
func benchmarkDecoder(b *testing.B, decode func(image.Image) []string) {
	imgs, pix := decodedQRReal(b)
	byName := expectedByName(imgs)
	b.ResetTimer()
	var read, wrong, n int
	start := time.Now()
	cpu0 := cpuTime()
	for range b.N {
		read, wrong = 0, 0
		for i, p := range pix {
			ok := false
			for _, text := range decode(p) {
				right, bad := verdict(imgs[i], []byte(text), byName)
				ok = ok || right
				if bad {
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
	cpu := cpuTime() - cpu0
	b.ReportMetric(float64(read), "read")
	b.ReportMetric(float64(wrong), "wrong")
	b.ReportMetric(float64(n)/el.Seconds(), "images/s")
	// On a loaded shared machine wall time overstates the cost: images per
	// second of this process's CPU time is the one-core figure.
	b.ReportMetric(float64(n)/cpu.Seconds(), "images/cpu-s")
}

// cpuTime returns the user+system CPU time used by this process so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// gozxingTexts decodes with gozxing's QRCodeReader as the qr-real README
// measured it: the image's luminance, HybridBinarizer, default hints.
func gozxingTexts() func(image.Image) []string {
	reader := qrcode.NewQRCodeReader()
	return func(p image.Image) []string {
		bmp, err := gozxing.NewBinaryBitmapFromImage(p)
		if err != nil {
			return nil
		}
		res, err := reader.Decode(bmp, nil)
		if err != nil {
			return nil
		}
		return []string{res.GetText()}
	}
}

// BenchmarkQRRealVsGozxing times this decoder and gozxing image by image,
// one right after the other, so that a slow spell of a shared machine slows
// both alike, and reports the ratio of their speeds. gozxing's ~515 images/s
// in the qr-real README makes the goal of 1,000 images/s on the
// README's machine a ratio of 1.94 that any machine can check; the
// "readme-images/s" metric is the ratio times 515.
//
//	GOMAXPROCS=1 taskset -c 1 go test ./internal/scanning/decode -run '^$' -bench QRRealVsGozxing -benchtime 3x -cpu 1
func BenchmarkQRRealVsGozxing(b *testing.B) {
	_, pix := decodedQRReal(b)
	opts := DefaultOptions()
	ctx := context.Background()
	theirs := gozxingTexts()
	var ours, base time.Duration
	b.ResetTimer()
	for range b.N {
		for _, p := range pix {
			t0 := time.Now()
			if _, err := Image(ctx, p, opts); err != nil {
				b.Fatal(err)
			}
			t1 := time.Now()
			theirs(p)
			ours += t1.Sub(t0)
			base += time.Since(t1)
		}
	}
	n := float64(b.N * len(pix))
	ratio := base.Seconds() / ours.Seconds()
	b.ReportMetric(n/ours.Seconds(), "images/s")
	b.ReportMetric(n/base.Seconds(), "gozxing-images/s")
	b.ReportMetric(ratio, "speed-ratio")
	b.ReportMetric(ratio*515, "readme-images/s")
}

// decodedQRReal loads the qr-real images and decodes them to pixels.
func decodedQRReal(b *testing.B) ([]realImage, []image.Image) {
	imgs := loadQRReal(b)
	pix := make([]image.Image, len(imgs))
	for i, im := range imgs {
		p, _, err := image.Decode(bytes.NewReader(im.data))
		if err != nil {
			b.Fatalf("%s: %v", im.name, err)
		}
		pix[i] = p
	}
	return imgs, pix
}
