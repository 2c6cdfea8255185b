package decode

import (
	"bytes"
	"context"
	"image"
	"syscall"
	"testing"
	"time"
)

// BenchmarkQRReal decodes the qr-real images, already decoded to pixels
// (decode only, like the figures in the set's README), one core, and reports
// reads, wrong decodes and images per second: with DefaultOptions, and with
// the retries (grid refits, own finder triples) switched off, the fast
// operating point of ZXing's own pipeline plus our passes.
func BenchmarkQRReal(b *testing.B) {
	b.Run("default", func(b *testing.B) { benchmarkQRReal(b) })
	b.Run("noretry", func(b *testing.B) {
		saved := maxRetries
		maxRetries = 0
		defer func() { maxRetries = saved }()
		benchmarkQRReal(b)
	})
}

func benchmarkQRReal(b *testing.B) {
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
	byName := expectedByName(imgs)
	b.ResetTimer()
	var read, wrong, n int
	start := time.Now()
	cpu0 := cpuTime()
	for range b.N {
		read, wrong = 0, 0
		for i, p := range pix {
			codes, err := Image(ctx, p, opts)
			if err != nil {
				b.Fatal(err)
			}
			ok := false
			for _, c := range codes {
				right, bad := verdict(imgs[i], []byte(c.Text), byName)
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
