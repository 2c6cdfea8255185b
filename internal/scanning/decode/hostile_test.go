package decode

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"image"
	"image/png"
	"testing"
	"time"

	zxdecoder "github.com/makiuchi-d/gozxing/qrcode/decoder"

	"github.com/qrmfg/qrmfg/internal/qrmfg"
)

func pngOf(tb testing.TB, img image.Image) []byte {
	tb.Helper()
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

// hugePNG returns a PNG header declaring w×h pixels with a tiny IDAT: a
// decompression bomb's shape.
func hugePNG(w, h uint32) []byte {
	var b bytes.Buffer
	b.WriteString("\x89PNG\r\n\x1a\n")
	chunk := func(typ string, data []byte) {
		binary.Write(&b, binary.BigEndian, uint32(len(data)))
		b.WriteString(typ)
		b.Write(data)
		crc := crc32.NewIEEE()
		crc.Write([]byte(typ))
		crc.Write(data)
		binary.Write(&b, binary.BigEndian, crc.Sum32())
	}
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], w)
	binary.BigEndian.PutUint32(ihdr[4:], h)
	ihdr[8], ihdr[9] = 8, 0 // 8-bit greyscale
	chunk("IHDR", ihdr)
	chunk("IDAT", []byte{0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01})
	chunk("IEND", nil)
	return b.Bytes()
}

func TestBytesErrors(t *testing.T) {
	t.Parallel()
	mods, _, _ := symbolOf(t, partText, zxdecoder.ErrorCorrectionLevel_M)
	s := newScene(200, 200)
	s.add(mods, placement(len(mods), 5, 100, 100, 0))
	good := pngOf(t, s.render())

	for _, tc := range []struct {
		name string
		data []byte
		opts Options
		code string
	}{
		{"ErrEmpty", nil, Options{}, qrmfg.EINVALID},
		{"ErrGarbage", []byte("this is not an image at all, just some text"), Options{}, qrmfg.EINVALID},
		{"ErrTruncatedPNG", good[:len(good)/2], Options{}, qrmfg.EINVALID},
		{"ErrTruncatedHeader", good[:20], Options{}, qrmfg.EINVALID},
		{"ErrHugeDimensions", hugePNG(100000, 100000), Options{}, qrmfg.ETOOLARGE},
		{"ErrOverPixelLimit", good, Options{MaxPixels: 100 * 100}, qrmfg.ETOOLARGE},
		{"ErrOverByteLimit", good, Options{MaxBytes: 100}, qrmfg.ETOOLARGE},
		{"ErrZeroWidth", hugePNG(0, 10), Options{}, qrmfg.EINVALID},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			codes, err := Bytes(context.Background(), tc.data, tc.opts)
			if got := qrmfg.ErrorCode(err); got != tc.code {
				t.Fatalf("error %v (code %q), want code %q", err, got, tc.code)
			}
			if codes != nil {
				t.Errorf("got codes %v with an error", texts(codes))
			}
			if qrmfg.ErrorMessage(err) == "" {
				t.Error("error has no message")
			}
		})
	}
	t.Run("OK", func(t *testing.T) {
		t.Parallel()
		codes, err := Bytes(context.Background(), good, DefaultOptions())
		if err != nil || len(codes) != 1 || codes[0].Text != partText {
			t.Fatalf("got %q, %v; want %q", texts(codes), err, partText)
		}
	})
}

func TestImageErrors(t *testing.T) {
	t.Parallel()
	t.Run("ErrNil", func(t *testing.T) {
		t.Parallel()
		if _, err := Image(context.Background(), nil, Options{}); qrmfg.ErrorCode(err) != qrmfg.EINVALID {
			t.Fatalf("got %v, want EINVALID", err)
		}
	})
	t.Run("ErrCancelled", func(t *testing.T) {
		t.Parallel()
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, err := Image(ctx, image.NewGray(image.Rect(0, 0, 100, 100)), Options{})
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("got %v, want context.Canceled", err)
		}
	})
	t.Run("TimeBudget", func(t *testing.T) {
		t.Parallel()
		// A large noisy frame with no code: every pass runs unless the
		// budget stops them.
		img := image.NewGray(image.Rect(0, 0, 3000, 3000))
		addNoise(img, 127, 3)
		start := time.Now()
		codes, err := Image(context.Background(), img, Options{TryHarder: true, TryInverted: true, Timeout: 50 * time.Millisecond})
		if err != nil || len(codes) != 0 {
			t.Fatalf("got %v, %v; want no codes and no error", texts(codes), err)
		}
		// The answer comes at the deadline even if a pass is still busy;
		// allow a margin for the grey conversion and a loaded machine.
		if el := time.Since(start); el > 2*time.Second {
			t.Errorf("took %v with a 50ms budget", el)
		}
	})
}

func FuzzDecodeBytes(f *testing.F) {
	mods, _, _ := symbolOf(f, partText, zxdecoder.ErrorCorrectionLevel_M)
	s := newScene(120, 120)
	s.add(mods, placement(len(mods), 3, 60, 60, 10))
	good := pngOf(f, s.render())
	f.Add(good)
	f.Add(good[:len(good)/3])
	f.Add(hugePNG(1<<20, 1<<20))
	f.Add([]byte("GIF89a\x01\x00\x01\x00"))
	f.Add([]byte("RIFF\x00\x00\x00\x00WEBPVP8 "))
	f.Add([]byte{0xff, 0xd8, 0xff, 0xe0})
	opts := Options{MaxPixels: 512 * 512, MaxBytes: 1 << 20, TryInverted: true, Timeout: time.Second}
	f.Fuzz(func(t *testing.T, data []byte) {
		start := time.Now()
		codes, err := Bytes(context.Background(), data, opts)
		// The time budget must hold: a hostile image may not stall a worker.
		if el := time.Since(start); el > 5*opts.Timeout {
			t.Fatalf("decode took %v with a %v budget", el, opts.Timeout)
		}
		if err != nil {
			if qrmfg.AsError(err) == nil {
				t.Fatalf("error %v is not a qrmfg.Error", err)
			}
			if codes != nil {
				t.Fatal("codes returned with an error")
			}
			return
		}
		for _, c := range codes {
			if c.Version < 1 || c.Version > 40 || c.Grid.Size != 17+4*c.Version {
				t.Fatalf("implausible code %+v", c)
			}
		}
	})
}
