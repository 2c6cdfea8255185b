// Package decode finds and decodes every QR code in a photo.
//
// It takes an encoded image (PNG, JPEG, GIF or WebP) or an image.Image and
// returns each code it can read with its text and bytes, its position in the
// image, its version, error-correction level and mask, how much of the
// error-correction capacity the read used, and the sampling grid a mark-quality
// grader needs to measure reflectance at module centres.
//
// ZXing's finder-pattern cross checks and triple selection, its detector's
// alignment search and sampling, format and version parsing and bit-stream
// decoding come from gozxing (a Go port of ZXing); the binarizers and the
// finder-pattern row scans are exact, faster re-implementations of
// gozxing's, and the codeword reading and Reed-Solomon decoding are this
// package's own. It adds the image limits and deadline, a scale pyramid with
// contrast-stretched, smoothed and upscaled levels, inverted (light-on-dark)
// codes, its own finder-pattern triples for symbols in strong perspective
// and pairs for symbols with a lost finder pattern, a grouping of the finder
// patterns of many symbols by neighbourhood (label sheets, trays of parts),
// a grid fitted to all alignment and function patterns, de-duplication and
// the geometry.
// docs/adr/0005-qr-decoder.md has the design and the figures.
package decode

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	_ "image/gif"  // register GIF
	_ "image/jpeg" // register JPEG
	_ "image/png"  // register PNG
	"time"

	_ "golang.org/x/image/webp" // register WebP

	"github.com/qrmfg/qrmfg/internal/qrmfg"
)

// Default limits, used when the corresponding Options field is zero.
const (
	DefaultMaxBytes  = 32 << 20   // 32 MiB of encoded image
	DefaultMaxPixels = 40_000_000 // 40 megapixels
	DefaultTimeout   = 5 * time.Second
)

// Options tunes a decode. The zero value is usable: default limits,
// dark-on-light codes only.
type Options struct {
	// MaxBytes refuses encoded images larger than this (Bytes only).
	// Zero means DefaultMaxBytes.
	MaxBytes int64
	// MaxPixels refuses images with more pixels than this. Bytes checks it
	// on the header, before decoding the pixels. Zero means DefaultMaxPixels.
	MaxPixels int
	// TryHarder runs every pass (binarization, scale, polarity) even after a
	// code was found, scanning every row for more codes, with four times the
	// retry budget: more codes per image at several times the cost.
	TryHarder bool
	// TryInverted also looks for light-on-dark codes, such as a fibre-laser
	// mark on dark metal.
	TryInverted bool
	// Timeout bounds the time spent on one image: at the deadline what was
	// found so far is returned, with no error. Zero means DefaultTimeout.
	// The context's deadline applies as well.
	Timeout time.Duration
}

// DefaultOptions is what the scanning service uses: inverted codes on, the
// default limits, and no exhaustive search.
func DefaultOptions() Options { return Options{TryInverted: true} }

func (o Options) maxBytes() int64 {
	if o.MaxBytes > 0 {
		return o.MaxBytes
	}
	return DefaultMaxBytes
}

func (o Options) maxPixels() int {
	if o.MaxPixels > 0 {
		return o.MaxPixels
	}
	return DefaultMaxPixels
}

func (o Options) timeout() time.Duration {
	if o.Timeout > 0 {
		return o.Timeout
	}
	return DefaultTimeout
}

// Bytes decodes an encoded PNG, JPEG, GIF or WebP image (the format is sniffed)
// and returns every QR code found in it, in reading order (top to bottom, then
// left to right). No code found is not an error: the slice is empty.
//
// Errors: ETOOLARGE when data exceeds MaxBytes or the declared dimensions
// exceed MaxPixels; EINVALID when data is not an image of a supported format
// or is corrupt; the context's error when it is cancelled before any pass ran.
func Bytes(ctx context.Context, data []byte, opts Options) ([]Code, error) {
	img, _, err := Load(ctx, data, opts)
	if err != nil {
		return nil, err
	}
	return Image(ctx, img, opts)
}

// Load checks data against MaxBytes, reads the declared dimensions from the
// header and checks them against MaxPixels before any pixel is decoded (so a
// decompression bomb costs nothing), then decodes the image. It returns the
// image and its format name. Errors are those of Bytes.
func Load(ctx context.Context, data []byte, opts Options) (image.Image, string, error) {
	if int64(len(data)) > opts.maxBytes() {
		return nil, "", qrmfg.Errorf(qrmfg.ETOOLARGE, "image is %d bytes, more than the limit of %d", len(data), opts.maxBytes())
	}
	if len(data) == 0 {
		return nil, "", qrmfg.Errorf(qrmfg.EINVALID, "image is empty")
	}
	cfg, format, err := image.DecodeConfig(bytes.NewReader(data))
	if err != nil {
		return nil, "", invalidImage(err)
	}
	if err := checkDims(cfg.Width, cfg.Height, opts.maxPixels()); err != nil {
		return nil, "", err
	}
	if err := ctx.Err(); err != nil {
		return nil, "", err
	}
	img, _, err := decodeImage(data)
	if err != nil {
		e := invalidImage(err)
		e.Message = fmt.Sprintf("%s image is corrupt: %v", format, err)
		return nil, "", e
	}
	return img, format, nil
}

// decodeImage decodes data, turning a panic in a codec into an error so a
// hostile file can never take the process down.
func decodeImage(data []byte) (img image.Image, format string, err error) {
	defer func() {
		if r := recover(); r != nil {
			img, err = nil, fmt.Errorf("decoder failure: %v", r)
		}
	}()
	return image.Decode(bytes.NewReader(data))
}

func invalidImage(err error) *qrmfg.Error {
	msg := "image is not a PNG, JPEG, GIF or WebP file"
	if !errors.Is(err, image.ErrFormat) {
		msg = fmt.Sprintf("image header is unreadable: %v", err)
	}
	return &qrmfg.Error{Code: qrmfg.EINVALID, Message: msg, Err: err}
}

func checkDims(w, h, maxPixels int) error {
	if w <= 0 || h <= 0 {
		return qrmfg.Errorf(qrmfg.EINVALID, "image has no pixels (%d×%d)", w, h)
	}
	if int64(w)*int64(h) > int64(maxPixels) {
		return qrmfg.Errorf(qrmfg.ETOOLARGE, "image is %d×%d pixels, more than the limit of %d", w, h, maxPixels)
	}
	return nil
}

// Image returns every QR code found in img. See Bytes for the order and the
// errors; a nil image is EINVALID. When ctx is cancelled during the search,
// Image returns the codes found so far together with ctx.Err(); when only the
// time budget (Options.Timeout) runs out, it returns them with no error.
func Image(ctx context.Context, img image.Image, opts Options) ([]Code, error) {
	if img == nil {
		return nil, qrmfg.Errorf(qrmfg.EINVALID, "image is nil")
	}
	b := img.Bounds()
	if err := checkDims(b.Dx(), b.Dy(), opts.maxPixels()); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	g := grayOf(img)
	budget, cancel := context.WithTimeout(ctx, opts.timeout())
	defer cancel()
	codes, err := scan(budget, g, opts)
	if err != nil {
		return nil, &qrmfg.Error{Code: qrmfg.EINTERNAL, Message: "decoding the image failed", Err: err}
	}
	if err := ctx.Err(); err != nil {
		// Cancelled by the caller: what was found so far, and why it stopped.
		return codes, err
	}
	return codes, nil
}
