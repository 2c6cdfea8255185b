//go:build js && wasm

// Command qrmfg-wasm is the QR decoder of package decode compiled to
// WebAssembly for the web UI's camera: the browser decodes video frames on
// the device, with no network to the server. Built by `npm run build` in web/
// (GOOS=js GOARCH=wasm) and loaded in a Web Worker with Go's wasm_exec.js.
//
// It defines one JavaScript function on the global object:
//
//	qrmfgDecode(pixels: Uint8Array, width: number, height: number)
//	    → {codes: [{text, corners: [{x, y} ×4]}], error?: string}
//
// pixels is a grey plane (width×height bytes) or RGBA (4×width×height
// bytes, as ImageData holds it).
package main

import (
	"context"
	"fmt"
	"image"
	"syscall/js"
	"time"

	"github.com/qrmfg/qrmfg/internal/scanning/decode"
)

// frameTimeout bounds one frame: a camera frame that takes longer is
// abandoned for the next one with what was found so far.
const frameTimeout = 1500 * time.Millisecond

func main() {
	js.Global().Set("qrmfgDecode", js.FuncOf(decodeFrame))
	select {} // keep the functions alive for the worker's lifetime
}

func decodeFrame(_ js.Value, args []js.Value) any {
	codes, err := frame(args)
	out := map[string]any{"codes": codes}
	if err != nil {
		out["error"] = err.Error()
	}
	return out
}

func frame(args []js.Value) ([]any, error) {
	if len(args) != 3 {
		return []any{}, fmt.Errorf("qrmfgDecode takes (pixels, width, height), got %d arguments", len(args))
	}
	w, h := args[1].Int(), args[2].Int()
	if w <= 0 || h <= 0 {
		return []any{}, fmt.Errorf("width and height must be positive, got %d×%d", w, h)
	}
	n := args[0].Get("length").Int()
	pix := make([]byte, n)
	js.CopyBytesToGo(pix, args[0])
	var img image.Image
	switch n {
	case w * h:
		img = &image.Gray{Pix: pix, Stride: w, Rect: image.Rect(0, 0, w, h)}
	case 4 * w * h:
		img = &image.RGBA{Pix: pix, Stride: 4 * w, Rect: image.Rect(0, 0, w, h)}
	default:
		return []any{}, fmt.Errorf("pixels has %d bytes: a %d×%d frame needs %d (grey) or %d (RGBA)", n, w, h, w*h, 4*w*h)
	}
	opts := decode.DefaultOptions()
	opts.Timeout = frameTimeout
	found, err := decode.Image(context.Background(), img, opts)
	codes := make([]any, 0, len(found))
	for _, c := range found {
		corners := make([]any, 4)
		for i, p := range c.Corners {
			corners[i] = map[string]any{"x": p.X, "y": p.Y}
		}
		codes = append(codes, map[string]any{"text": c.Text, "corners": corners})
	}
	return codes, err
}
