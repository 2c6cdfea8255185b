// Package webui serves the browser UI (the Vite build embedded by package
// web) under /ui/: hashed assets cached for a year as immutable, every other
// path under /ui/ answered with index.html so client routes survive a reload,
// and a Content-Security-Policy of its own that allows the page's scripts and
// styles from the same origin only (no inline script, no eval; WebAssembly
// compilation for the camera's decoder).
package webui

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"
	"sync"
	"time"
)

// Prefix is the path the UI is served under.
const Prefix = "/ui/"

// CSP is the UI's Content-Security-Policy. Images and media also come from
// blob: URLs (codes fetched with the bearer token, the camera stream), and
// the page talks to the API on its own origin only. 'wasm-unsafe-eval' lets
// the camera's Web Worker compile the QR decoder (assets/decoder-*.wasm, from
// the same origin); it allows no JavaScript eval.
const CSP = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; img-src 'self' data: blob:; " +
	"media-src 'self' blob: mediastream:; connect-src 'self'; font-src 'self'; object-src 'none'; " +
	"frame-ancestors 'none'; base-uri 'none'; form-action 'self'"

// Handler serves the UI from dist (index.html at its root, hashed files
// under assets/). It returns nil when dist is nil or has no index.html: the
// binary was built without the UI.
func Handler(dist fs.FS) http.Handler {
	if dist == nil {
		return nil
	}
	index, err := fs.ReadFile(dist, "index.html")
	if err != nil {
		return nil
	}
	sum := sha256.Sum256(index)
	return &handler{dist: dist, index: index, etag: `"` + hex.EncodeToString(sum[:8]) + `"`}
}

type handler struct {
	dist  fs.FS
	index []byte
	etag  string
	gz    sync.Map // asset name → its gzip bytes, made on the first request
}

// compressible are the asset types worth gzipping (images are compressed
// already; the decoder's WebAssembly shrinks to a third).
var compressible = map[string]bool{".js": true, ".css": true, ".svg": true, ".html": true, ".json": true, ".txt": true, ".wasm": true}

// contentType is an asset's media type. WebAssembly must be
// application/wasm for WebAssembly.instantiateStreaming, whatever the
// system's MIME tables say.
func contentType(name string) string {
	if path.Ext(name) == ".wasm" {
		return "application/wasm"
	}
	return mime.TypeByExtension(path.Ext(name))
}

// gzipped returns the gzip encoding of an asset, computed once.
func (h *handler) gzipped(name string, f fs.File) ([]byte, error) {
	if b, ok := h.gz.Load(name); ok {
		return b.([]byte), nil
	}
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if _, err := io.Copy(zw, f); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	h.gz.Store(name, buf.Bytes())
	return buf.Bytes(), nil
}

// servePregzipped answers an asset the build stored only gzipped (NAME.gz:
// the decoder's WebAssembly, which would be over 5 MB as it is), encoded as
// it is for clients that take gzip and decompressed for the others. It
// reports false when there is no such file.
func (h *handler) servePregzipped(w http.ResponseWriter, r *http.Request, name string) bool {
	b, ok := h.gz.Load(name)
	if !ok {
		data, err := fs.ReadFile(h.dist, name+".gz")
		if err != nil {
			return false
		}
		b, _ = h.gz.LoadOrStore(name, data)
	}
	gz := b.([]byte)
	w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
	w.Header().Add("Vary", "Accept-Encoding")
	if ct := contentType(name); ct != "" {
		w.Header().Set("Content-Type", ct)
	}
	if acceptsGzip(r) {
		w.Header().Set("Content-Encoding", "gzip")
		http.ServeContent(w, r, name, epoch, bytes.NewReader(gz))
		return true
	}
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return true
	}
	if r.Method != http.MethodHead {
		_, _ = io.Copy(w, zr)
	}
	return true
}

// acceptsGzip reports whether the client takes a gzip-encoded answer.
func acceptsGzip(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept-Encoding"), ",") {
		coding, q, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.EqualFold(strings.TrimSpace(coding), "gzip") {
			return strings.ReplaceAll(q, " ", "") != "q=0"
		}
	}
	return false
}

// epoch is the modification time of every embedded file (embed.FS has none):
// the build's content hash in the file names does the cache busting.
var epoch = time.Unix(0, 0)

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Security-Policy", CSP)
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	name := strings.TrimPrefix(path.Clean("/"+strings.TrimPrefix(r.URL.Path, Prefix)), "/")
	if name != "" && name != "index.html" && h.servePregzipped(w, r, name) {
		return
	}
	if name != "" && name != "index.html" {
		f, err := h.dist.Open(name)
		if err == nil {
			defer func() { _ = f.Close() }()
			if st, err := f.Stat(); err == nil && !st.IsDir() {
				if strings.HasPrefix(name, "assets/") {
					// Vite names every file under assets/ by its content hash.
					w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
				} else {
					w.Header().Set("Cache-Control", "no-cache")
				}
				if compressible[path.Ext(name)] {
					w.Header().Add("Vary", "Accept-Encoding")
					if acceptsGzip(r) {
						b, err := h.gzipped(name, f)
						if err != nil {
							http.Error(w, "internal error", http.StatusInternalServerError)
							return
						}
						if ct := contentType(name); ct != "" {
							w.Header().Set("Content-Type", ct)
						}
						w.Header().Set("Content-Encoding", "gzip")
						http.ServeContent(w, r, name, epoch, bytes.NewReader(b))
						return
					}
				}
				if ct := contentType(name); ct != "" {
					w.Header().Set("Content-Type", ct)
				}
				if rs, ok := f.(io.ReadSeeker); ok {
					http.ServeContent(w, r, name, epoch, rs)
					return
				}
			}
		} else if !errors.Is(err, fs.ErrNotExist) {
			http.Error(w, "internal error", http.StatusInternalServerError)
			return
		}
		if strings.HasPrefix(name, "assets/") || path.Ext(name) != "" {
			// A missing file is a 404, not the page: a stale hashed name
			// must not be answered with HTML.
			w.Header().Set("Cache-Control", "no-cache")
			http.NotFound(w, r)
			return
		}
	}
	// The page itself and every client route: index.html, revalidated each
	// time so a new build is picked up at once.
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("ETag", h.etag)
	http.ServeContent(w, r, "index.html", epoch, bytes.NewReader(h.index))
}
