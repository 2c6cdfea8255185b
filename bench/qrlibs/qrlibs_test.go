package qrlibs

import (
	"testing"

	boombuler "github.com/boombuler/barcode/qr"
	piglig "github.com/piglig/go-qr"
	"github.com/qrmfg/qrmfg/internal/qr"
	skip2 "github.com/skip2/go-qrcode"
	yeqown "github.com/yeqown/go-qrcode/v2"
	rscqr "rsc.io/qr"
)

// encoders are the libraries under comparison, each producing the module
// matrix of one id (not an image) and returning its side without quiet zone.
var encoders = []struct {
	name   string
	encode func(string) (int, error)
}{
	{"qrmfg", func() func(string) (int, error) {
		enc := qr.NewEncoder()
		var sym qr.Symbol
		return func(s string) (int, error) {
			err := enc.EncodeTo(&sym, s, qr.Options{Level: qr.M})
			return sym.Matrix.Size(), err
		}
	}()},
	{"qrmfg-alloc", func(s string) (int, error) {
		sym, err := qr.Encode(s, qr.Options{Level: qr.M})
		if err != nil {
			return 0, err
		}
		return sym.Matrix.Size(), nil
	}},
	{"skip2-go-qrcode", func(s string) (int, error) {
		q, err := skip2.New(s, skip2.Medium)
		if err != nil {
			return 0, err
		}
		return len(q.Bitmap()) - 8, nil // Bitmap builds the symbol, with a 4-module quiet zone
	}},
	{"yeqown-go-qrcode", func(s string) (int, error) {
		q, err := yeqown.NewWith(s, yeqown.WithErrorCorrectionLevel(yeqown.ErrorCorrectionMedium))
		if err != nil {
			return 0, err
		}
		return q.Dimension(), nil
	}},
	{"boombuler-barcode", func(s string) (int, error) {
		b, err := boombuler.Encode(s, boombuler.M, boombuler.Auto)
		if err != nil {
			return 0, err
		}
		return b.Bounds().Dx(), nil
	}},
	{"piglig-go-qr", func(s string) (int, error) {
		q, err := piglig.EncodeText(s, piglig.Medium)
		if err != nil {
			return 0, err
		}
		return q.Size(), nil
	}},
	{"rsc-qr", func(s string) (int, error) {
		c, err := rscqr.Encode(s, rscqr.M)
		if err != nil {
			return 0, err
		}
		return c.Size, nil
	}},
}

// TestSameVersion checks that every library makes a version 2 symbol (25
// modules) of the workload, so that the benchmark compares like with like.
func TestSameVersion(t *testing.T) {
	for _, e := range encoders {
		n, err := e.encode(SeedIDs(1)[0])
		if err != nil || n != 25 {
			t.Errorf("%s: size %d, %v; want 25", e.name, n, err)
		}
	}
}

func BenchmarkSeed(b *testing.B) {
	ids := SeedIDs(1024)
	for _, e := range encoders {
		b.Run(e.name, func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				if _, err := e.encode(ids[i&1023]); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "matrices/s")
		})
	}
}
