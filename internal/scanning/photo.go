package scanning

import (
	"bytes"
	"context"
	"image"
	"image/color"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/semaphore"

	"github.com/qrmfg/qrmfg/internal/qrmfg"
)

// Memory a photo decode takes, in bytes per pixel. The decoder's own is
// measured (docs/scanning.md, "Decode memory": about 3.3 at its peak on a
// 40-megapixel photo, pyramid and pooled planes included); the codecs' are
// the planes they return: a grey plane for PNG (pngGray), a palette index
// for GIF, YCbCr at most 4:4:4 for JPEG (CMYK: four planes and the image),
// NRGBA for WebP.
const decoderBytesPerPixel = 4

func codecBytesPerPixel(format string, model color.Model) int64 {
	switch format {
	case "png", "gif":
		return 1
	case "jpeg":
		if model == color.CMYKModel {
			return 8
		}
		return 3
	}
	return 4
}

// maxDownscale is the most a photo is shrunk to fit the decode memory: a
// code that reads at full size still reads at half size when its modules
// are 4 pixels or more; at a quarter, when they are 8 or more.
const maxDownscale = 4

// photoCost is the memory decoding a w×h photo takes at 1/k of its size:
// the codec's plane at full size, the downscaled grey plane and the
// decoder's work on it.
func photoCost(cfg image.Config, format string, k int) int64 {
	px := int64(cfg.Width) * int64(cfg.Height)
	cost := codecBytesPerPixel(format, cfg.ColorModel) * px
	small := px / int64(k*k)
	if k > 1 {
		cost += small
	}
	return cost + decoderBytesPerPixel*small
}

// Budget bounds the photo decodes in flight: their number and the memory
// they take together. Uploads that do not fit wait up to Wait, then are
// refused with EUNAVAILABLE (503 with Retry-After).
type Budget struct {
	// Memory is the bytes the decodes in flight may take together.
	Memory int64
	// Concurrency is how many photos are decoded at once (0: one per CPU).
	Concurrency int
	// Wait is how long an upload waits for room.
	Wait time.Duration
}

type decodeGate struct {
	b     Budget
	mem   *semaphore.Weighted
	slots *semaphore.Weighted
	// waiting and decoding count the uploads queued for room and those
	// holding it, for DecodeQueue.
	waiting, decoding atomic.Int64
	// observe, when set, is told how long each admitted decode waited and
	// then held its room.
	observe func(wait, held time.Duration)
}

func newDecodeGate(b Budget) *decodeGate {
	if b.Memory <= 0 {
		b.Memory = 512 << 20
	}
	if b.Concurrency <= 0 {
		b.Concurrency = runtime.GOMAXPROCS(0)
	}
	return &decodeGate{b: b, mem: semaphore.NewWeighted(b.Memory), slots: semaphore.NewWeighted(int64(b.Concurrency))}
}

// decodeRetryAfter is the Retry-After, in seconds, of an upload refused for
// want of decode room: about one decode of a large photo.
const decodeRetryAfter = 2

// acquire waits for a decode slot and cost bytes of the budget.
func (g *decodeGate) acquire(ctx context.Context, cost int64) (release func(), err error) {
	start := time.Now()
	g.waiting.Add(1)
	defer g.waiting.Add(-1)
	wctx, cancel := context.WithTimeout(ctx, g.b.Wait)
	defer cancel()
	busy := func() error {
		return qrmfg.Errorf(qrmfg.EUNAVAILABLE, "the server is decoding as many photos as its memory allows; try again in a few seconds").
			WithDetail("retry_after_seconds", decodeRetryAfter)
	}
	take := func(s *semaphore.Weighted, n int64) bool {
		return s.TryAcquire(n) || g.b.Wait > 0 && s.Acquire(wctx, n) == nil
	}
	if !take(g.slots, 1) {
		return nil, busy()
	}
	if !take(g.mem, cost) {
		g.slots.Release(1)
		return nil, busy()
	}
	g.decoding.Add(1)
	admitted := time.Now()
	var once sync.Once
	return func() {
		once.Do(func() {
			g.mem.Release(cost)
			g.slots.Release(1)
			g.decoding.Add(-1)
			if g.observe != nil {
				g.observe(admitted.Sub(start), time.Since(admitted))
			}
		})
	}, nil
}

// photo is a photo loaded for the decoder.
type photo struct {
	img    image.Image
	format string
	width  int // of the photo; img is 1/scale of it
	height int
	scale  int
}

// loadPhoto checks data against the limits on its header, reserves the
// memory the decode needs in g (at full size, or shrunk by up to
// maxDownscale to fit the budget at all) and loads it. release gives the
// memory back; call it when the image is no longer used.
func loadPhoto(ctx context.Context, g *decodeGate, data []byte, maxBytes int64, maxPixels int) (ph photo, release func(), err error) {
	cfg, format, err := photoHeader(data, maxBytes, maxPixels)
	if err != nil {
		return photo{}, nil, err
	}
	k := 1
	for ; k <= maxDownscale && photoCost(cfg, format, k) > g.b.Memory; k++ {
	}
	if k > maxDownscale {
		return photo{}, nil, qrmfg.FieldError("image", "image is %d×%d pixels; decoding it takes about %d MiB even at a quarter of its size, more than the %d MiB this server decodes photos in (QRMFG_SCAN_MEMORY)",
			cfg.Width, cfg.Height, photoCost(cfg, format, maxDownscale)>>20, g.b.Memory>>20)
	}
	release, err = g.acquire(ctx, photoCost(cfg, format, k))
	if err != nil {
		return photo{}, nil, err
	}
	img, format, err := DecodeImage(data, maxBytes, maxPixels)
	if err != nil {
		release()
		return photo{}, nil, err
	}
	if k > 1 {
		img = shrink(img, k)
	}
	return photo{img: img, format: format, width: cfg.Width, height: cfg.Height, scale: k}, release, nil
}

// photoHeader checks the size, the format and the declared dimensions of
// an encoded photo, before any pixel is decoded.
func photoHeader(data []byte, maxBytes int64, maxPixels int) (image.Config, string, error) {
	cfg, format, err := image.DecodeConfig(bytes.NewReader(data))
	if err == nil && int64(len(data)) <= maxBytes && cfg.Width > 0 && cfg.Height > 0 &&
		int64(cfg.Width)*int64(cfg.Height) <= int64(maxPixels) {
		return cfg, format, nil
	}
	// DecodeImage refuses the same header before any pixel is decoded, and
	// names the problem and the limit the same way for every caller.
	if _, _, err = DecodeImage(data, maxBytes, maxPixels); err == nil {
		err = qrmfg.FieldError("image", "image header is unreadable")
	}
	return cfg, format, err
}

// shrink returns img's luminance shrunk by k with a k×k box filter (the
// decoder's own half() for k = 2), the edge pixels that do not fill a box
// left out.
func shrink(img image.Image, k int) *image.Gray {
	b := img.Bounds()
	w, h := b.Dx()/k, b.Dy()/k
	dst := image.NewGray(image.Rect(0, 0, w, h))
	at := func(x, y int) uint32 {
		return uint32(color.GrayModel.Convert(img.At(b.Min.X+x, b.Min.Y+y)).(color.Gray).Y)
	}
	switch m := img.(type) {
	case *image.Gray:
		at = func(x, y int) uint32 { return uint32(m.Pix[m.PixOffset(b.Min.X+x, b.Min.Y+y)]) }
	case *image.YCbCr:
		at = func(x, y int) uint32 { return uint32(m.Y[m.YOffset(b.Min.X+x, b.Min.Y+y)]) }
	}
	n := uint32(k * k)
	for y := 0; y < h; y++ {
		row := dst.Pix[y*dst.Stride:]
		for x := 0; x < w; x++ {
			var sum uint32
			for dy := 0; dy < k; dy++ {
				for dx := 0; dx < k; dx++ {
					sum += at(k*x+dx, k*y+dy)
				}
			}
			row[x] = byte((sum + n/2) / n)
		}
	}
	return dst
}
