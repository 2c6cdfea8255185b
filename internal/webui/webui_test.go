package webui

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/fstest"
)

func testDist() fstest.MapFS {
	return fstest.MapFS{
		"index.html":             {Data: []byte(`<!doctype html><script type="module" src="/ui/assets/index-AbC123.js"></script>`)},
		"assets/index-AbC123.js": {Data: []byte(`console.log("ui")`)},
		"favicon.svg":            {Data: []byte(`<svg xmlns="http://www.w3.org/2000/svg"/>`)},
	}
}

func get(t *testing.T, h http.Handler, path string, header ...string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, path, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func TestServesTheBuild(t *testing.T) {
	h := Handler(testDist())
	for _, tc := range []struct {
		path   string
		status int
		cache  string
		body   string
	}{
		{"/ui/", 200, "no-cache", "<!doctype html>"},
		{"/ui/inventory/PAD-V0100-L2025-09-00001", 200, "no-cache", "<!doctype html>"}, // client route: the page
		{"/ui/assets/index-AbC123.js", 200, "public, max-age=31536000, immutable", `console.log("ui")`},
		{"/ui/favicon.svg", 200, "no-cache", "<svg"},
		{"/ui/assets/index-Old999.js", 404, "no-cache", ""}, // a stale hashed name is not answered with HTML
		{"/ui/missing.png", 404, "no-cache", ""},
		{"/ui/../../etc/passwd", 200, "no-cache", "<!doctype html>"},
	} {
		rec := get(t, h, tc.path)
		if rec.Code != tc.status {
			t.Errorf("GET %s: %d, want %d", tc.path, rec.Code, tc.status)
		}
		if got := rec.Header().Get("Cache-Control"); got != tc.cache {
			t.Errorf("GET %s: Cache-Control %q, want %q", tc.path, got, tc.cache)
		}
		if !strings.HasPrefix(rec.Body.String(), tc.body) {
			t.Errorf("GET %s: body %.60q, want it to start with %q", tc.path, rec.Body.String(), tc.body)
		}
		if rec.Code == 200 && strings.HasSuffix(tc.body, "html>") && rec.Header().Get("Content-Type") != "text/html; charset=utf-8" {
			t.Errorf("GET %s: Content-Type %q", tc.path, rec.Header().Get("Content-Type"))
		}
	}
}

func TestIndexRevalidates(t *testing.T) {
	h := Handler(testDist())
	first := get(t, h, "/ui/")
	etag := first.Header().Get("ETag")
	if etag == "" {
		t.Fatal("index.html has no ETag: no-cache would download it every time")
	}
	if again := get(t, h, "/ui/settings", "If-None-Match", etag); again.Code != http.StatusNotModified {
		t.Errorf("GET with If-None-Match of the current page: %d, want 304", again.Code)
	}
}

func TestStrictCSP(t *testing.T) {
	rec := get(t, Handler(testDist()), "/ui/")
	csp := rec.Header().Get("Content-Security-Policy")
	if csp != CSP {
		t.Fatalf("Content-Security-Policy %q, want the UI's own", csp)
	}
	wasm := false
	for _, directive := range strings.Split(csp, ";") {
		f := strings.Fields(directive)
		if len(f) > 0 && (f[0] == "script-src" || f[0] == "default-src") {
			for _, src := range f[1:] {
				if src == "'wasm-unsafe-eval'" && f[0] == "script-src" {
					wasm = true // the camera's decoder, compiled from our own .wasm
					continue
				}
				if src != "'self'" {
					t.Errorf("%s allows %s: only the page's own scripts may run", f[0], src)
				}
			}
		} else if strings.Contains(directive, "wasm-unsafe-eval") {
			t.Errorf("%q allows WebAssembly: only script-src may", strings.TrimSpace(directive))
		}
	}
	if !wasm {
		t.Error("script-src does not allow WebAssembly: the camera's decoder cannot start")
	}
	rest := strings.ReplaceAll(csp, "'wasm-unsafe-eval'", "") // checked above
	for _, bad := range []string{"unsafe-inline", "unsafe-eval", "http:", "https:", "*"} {
		if strings.Contains(rest, bad) {
			t.Errorf("CSP allows %q", bad)
		}
	}
}

func TestMethods(t *testing.T) {
	req := httptest.NewRequest(http.MethodPost, "/ui/", strings.NewReader("x"))
	rec := httptest.NewRecorder()
	Handler(testDist()).ServeHTTP(rec, req)
	if rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST /ui/: %d, want 405", rec.Code)
	}
}

func TestNoBuild(t *testing.T) {
	if Handler(nil) != nil {
		t.Error("Handler(nil) is not nil: a binary without the UI would serve something")
	}
	if Handler(fstest.MapFS{"assets/x.js": {}}) != nil {
		t.Error("a build without index.html is served")
	}
}

// TestGzip: a browser that takes gzip gets the scripts and styles
// compressed (the bundle is three times smaller on the wire); one that does
// not gets them as they are.
func TestGzip(t *testing.T) {
	js := strings.Repeat("export const x = 1;\n", 500)
	dist := testDist()
	dist["assets/index-AbC123.js"] = &fstest.MapFile{Data: []byte(js)}
	h := Handler(dist)
	for _, tc := range []struct {
		accept string
		gzip   bool
	}{{"gzip, deflate, br", true}, {"br", false}, {"", false}, {"gzip;q=0", false}} {
		rec := get(t, h, "/ui/assets/index-AbC123.js", "Accept-Encoding", tc.accept)
		if got := rec.Header().Get("Content-Encoding") == "gzip"; got != tc.gzip {
			t.Errorf("Accept-Encoding %q: gzip %v, want %v", tc.accept, got, tc.gzip)
		}
		if !strings.Contains(rec.Header().Get("Vary"), "Accept-Encoding") {
			t.Errorf("Accept-Encoding %q: no Vary: Accept-Encoding", tc.accept)
		}
		if !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/javascript") {
			t.Errorf("Accept-Encoding %q: Content-Type %q", tc.accept, rec.Header().Get("Content-Type"))
		}
		body := rec.Body.Bytes()
		if tc.gzip {
			zr, err := gzip.NewReader(bytes.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			if body, err = io.ReadAll(zr); err != nil {
				t.Fatal(err)
			}
			if rec.Body.Len() >= len(js)/3 {
				t.Errorf("gzip answer is %d bytes for %d", rec.Body.Len(), len(js))
			}
		}
		if string(body) != js {
			t.Errorf("Accept-Encoding %q: the script differs from the build", tc.accept)
		}
	}
}

// TestWasm: the camera's decoder is served as application/wasm (which
// WebAssembly.instantiateStreaming insists on), compressed for a browser that
// takes gzip, and cached as a hashed asset.
func TestWasm(t *testing.T) {
	wasm := append([]byte("\x00asm\x01\x00\x00\x00"), bytes.Repeat([]byte("code section "), 2000)...)
	var gzWasm bytes.Buffer
	zw := gzip.NewWriter(&gzWasm)
	_, _ = zw.Write(wasm)
	_ = zw.Close()
	for _, stored := range []string{"as built", "gzipped by the build"} {
		dist := testDist()
		if stored == "as built" {
			dist["assets/decoder-AbC123.wasm"] = &fstest.MapFile{Data: wasm}
		} else {
			dist["assets/decoder-AbC123.wasm.gz"] = &fstest.MapFile{Data: gzWasm.Bytes()}
		}
		t.Run(stored, func(t *testing.T) { checkWasm(t, Handler(dist), wasm) })
	}
}

func checkWasm(t *testing.T, h http.Handler, wasm []byte) {
	for _, accept := range []string{"gzip", ""} {
		rec := get(t, h, "/ui/assets/decoder-AbC123.wasm", "Accept-Encoding", accept)
		if rec.Code != http.StatusOK {
			t.Fatalf("Accept-Encoding %q: %d", accept, rec.Code)
		}
		if ct := rec.Header().Get("Content-Type"); ct != "application/wasm" {
			t.Errorf("Accept-Encoding %q: Content-Type %q, want application/wasm", accept, ct)
		}
		if !strings.Contains(rec.Header().Get("Cache-Control"), "immutable") {
			t.Errorf("Accept-Encoding %q: Cache-Control %q", accept, rec.Header().Get("Cache-Control"))
		}
		body := rec.Body.Bytes()
		if gz := rec.Header().Get("Content-Encoding") == "gzip"; gz != (accept == "gzip") {
			t.Errorf("Accept-Encoding %q: gzip %v", accept, gz)
		} else if gz {
			zr, err := gzip.NewReader(bytes.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			if body, err = io.ReadAll(zr); err != nil {
				t.Fatal(err)
			}
		}
		if !bytes.Equal(body, wasm) {
			t.Errorf("Accept-Encoding %q: the module differs from the build", accept)
		}
	}
}
