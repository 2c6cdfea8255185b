package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"image"
	"image/color"
	"image/draw"
	"image/jpeg"
	"image/png"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/qrmfg/qrmfg/internal/auth"
	"github.com/qrmfg/qrmfg/internal/httpapi"
	"github.com/qrmfg/qrmfg/internal/inventory"
	"github.com/qrmfg/qrmfg/internal/partid"
	"github.com/qrmfg/qrmfg/internal/qr"
	"github.com/qrmfg/qrmfg/internal/render"
	"github.com/qrmfg/qrmfg/internal/scanning"
	"github.com/qrmfg/qrmfg/internal/sqlstore"
	"github.com/qrmfg/qrmfg/internal/sqlstore/sqltest"
)

type scanEnv struct {
	svc *scanning.Service
	api http.Handler // the API, called with an operator's token
	srv *httpapi.Server
}

// newScanEnv builds the API with inventory and scanning over a fresh
// SQLite database holding the lot PAD-V0100-L2025-09 (3 items).
func newScanEnv(tb testing.TB, limits scanning.Limits) scanEnv {
	tb.Helper()
	db := sqltest.Open(tb, sqlstore.SQLite)
	inv := inventory.NewService(db.Inventory(), inventory.DefaultLimits())
	if _, err := inv.AllocateBatch(context.Background(), inventory.AllocateRequest{ComponentType: "PAD", VendorCode: "V0100", LotNumber: "L2025-09", Count: 3}); err != nil {
		tb.Fatal(err)
	}
	pc := &partid.PayloadConfig{Keys: partid.NewKeyring()}
	svc := scanning.NewService(db.Scanning(), inv, pc, scanning.Options{Limits: limits}, nil)
	authn, tok := testAuth(tb, db, auth.RoleOperator)
	api := httpapi.New(httpapi.Options{Version: "test", Auth: authn}, httpapi.Services{Inventory: inv, Scanning: svc})
	return scanEnv{svc: svc, api: withToken(api, tok), srv: api}
}

func codePNG(tb testing.TB, text string, module int) []byte {
	tb.Helper()
	sym, err := qr.Encode(text, qr.Options{Level: qr.M})
	if err != nil {
		tb.Fatal(err)
	}
	st := render.DefaultStyle()
	st.ModulePx = module
	var b bytes.Buffer
	if err := render.PNG(&b, sym.Matrix, st); err != nil {
		tb.Fatal(err)
	}
	return b.Bytes()
}

// frameJPEG is a 1280×720 camera-like frame: a shaded background with one
// code off-centre, JPEG quality 85.
func frameJPEG(tb testing.TB, text string) []byte {
	tb.Helper()
	code, err := png.Decode(bytes.NewReader(codePNG(tb, text, 6)))
	if err != nil {
		tb.Fatal(err)
	}
	frame := image.NewRGBA(image.Rect(0, 0, 1280, 720))
	for y := 0; y < 720; y++ {
		for x := 0; x < 1280; x++ {
			v := uint8(90 + (x+y)/30)
			frame.SetRGBA(x, y, color.RGBA{v, v, v - 10, 255})
		}
	}
	at := image.Pt(700, 180)
	draw.Draw(frame, code.Bounds().Add(at), code, image.Point{}, draw.Src)
	var b bytes.Buffer
	if err := jpeg.Encode(&b, frame, &jpeg.Options{Quality: 85}); err != nil {
		tb.Fatal(err)
	}
	return b.Bytes()
}

func multipartBody(tb testing.TB, image []byte, fields ...string) (*bytes.Buffer, string) {
	tb.Helper()
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	for i := 0; i+1 < len(fields); i += 2 {
		_ = mw.WriteField(fields[i], fields[i+1])
	}
	if image != nil {
		w, _ := mw.CreateFormFile("image", "photo")
		_, _ = w.Write(image)
	}
	_ = mw.Close()
	return &b, mw.FormDataContentType()
}

func post(tb testing.TB, h http.Handler, body io.Reader, ctype string) *httptest.ResponseRecorder {
	tb.Helper()
	req := httptest.NewRequest(http.MethodPost, "/scanning/scan", body)
	req.Header.Set("Content-Type", ctype)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func TestScanUpload(t *testing.T) {
	t.Parallel()
	env := newScanEnv(t, scanning.Limits{MaxUploadBytes: 200 << 10, MaxImagePixels: 2_000_000})
	body, ctype := multipartBody(t, frameJPEG(t, "PAD-V0100-L2025-09-00002"), "device", "cam-1", "location", "line 4")
	rec := post(t, env.api, body, ctype)
	if rec.Code != http.StatusOK {
		t.Fatalf("upload: %d %s", rec.Code, rec.Body)
	}
	var res scanning.ScanResult
	if err := json.Unmarshal(rec.Body.Bytes(), &res); err != nil {
		t.Fatal(err)
	}
	if len(res.Codes) != 1 || res.Codes[0].Verdict != scanning.VerdictValid || res.Codes[0].Item == nil ||
		res.Codes[0].Grade == nil || len(res.Codes[0].Symbol.Corners) != 4 || res.Codes[0].Location != "line 4" ||
		res.Image == nil || res.Image.Width != 1280 || len(res.Image.SHA256) != 64 {
		t.Fatalf("answer %s", rec.Body)
	}
	doc, _ := json.Marshal(env.srv.OpenAPI())
	for _, op := range []string{`"scan-image"`, `"scan-texts"`, `"list-scans"`, `"open-session"`, `"close-session"`, `"session-events"`, `"session-report-pdf"`} {
		if !bytes.Contains(doc, []byte(op)) {
			t.Errorf("OpenAPI document lacks %s", op)
		}
	}
	big := image.NewGray(image.Rect(0, 0, 2000, 1001)) // over 2 Mpx, compresses small
	var b bytes.Buffer
	_ = png.Encode(&b, big)
	cases := []struct {
		name   string
		body   io.Reader
		ctype  string
		status int
	}{
		{"NotMultipart", bytes.NewReader([]byte("x")), "image/png", http.StatusBadRequest},
		{"NoImage", nil, "", http.StatusUnprocessableEntity},
		{"Garbage", nil, "garbage", http.StatusUnprocessableEntity},
		{"TruncatedPNG", nil, "truncated", http.StatusUnprocessableEntity},
		{"TooManyPixels", nil, "big", http.StatusRequestEntityTooLarge},
		{"TooManyBytes", nil, "huge", http.StatusRequestEntityTooLarge},
		{"UnknownField", nil, "field", http.StatusUnprocessableEntity},
		{"UnknownSession", nil, "session", http.StatusNotFound},
	}
	for _, c := range cases {
		body, ctype := c.body, c.ctype
		switch c.ctype {
		case "":
			body, ctype = multipartBody(t, nil, "device", "x")
		case "garbage":
			body, ctype = multipartBody(t, []byte("definitely not an image"))
		case "truncated":
			body, ctype = multipartBody(t, codePNG(t, "PAD-V0100-L2025-09-00001", 4)[:200])
		case "big":
			body, ctype = multipartBody(t, b.Bytes())
		case "huge":
			body, ctype = multipartBody(t, make([]byte, 300<<10))
		case "field":
			body, ctype = multipartBody(t, codePNG(t, "x", 4), "colour", "red")
		case "session":
			body, ctype = multipartBody(t, codePNG(t, "x", 4), "session_id", "nope")
		}
		if rec := post(t, env.api, body, ctype); rec.Code != c.status {
			t.Errorf("%s: status %d, want %d: %s", c.name, rec.Code, c.status, rec.Body)
		}
	}
}

// FuzzScanUpload posts arbitrary bytes as the image: the answer is never a
// server error (the middleware turns a panic into a 500).
func FuzzScanUpload(f *testing.F) {
	env := newScanEnv(f, scanning.Limits{MaxUploadBytes: 1 << 20, MaxImagePixels: 4_000_000})
	f.Add(codePNG(f, "PAD-V0100-L2025-09-00001", 3))
	f.Add([]byte("GIF89a\x01\x00\x01\x00"))
	f.Add([]byte("\xff\xd8\xff\xe0\x00\x10JFIF"))
	f.Add([]byte("RIFF\x00\x00\x00\x00WEBPVP8 "))
	f.Fuzz(func(t *testing.T, data []byte) {
		body, ctype := multipartBody(t, data)
		rec := post(t, env.api, body, ctype)
		if rec.Code >= 500 {
			t.Fatalf("status %d for %d bytes: %s", rec.Code, len(data), rec.Body)
		}
	})
}

// BenchmarkScanFrame posts a 1280×720 JPEG with one code through the
// service and through the HTTP handler, and reports the 95th percentile.
func BenchmarkScanFrame(b *testing.B) {
	env := newScanEnv(b, scanning.Limits{})
	frame := frameJPEG(b, "PAD-V0100-L2025-09-00001")
	p95 := func(d []time.Duration) float64 {
		slices.Sort(d)
		return float64(d[(len(d)*95)/100].Microseconds()) / 1000
	}
	b.Run("service", func(b *testing.B) {
		var d []time.Duration
		for b.Loop() {
			t0 := time.Now()
			res, err := env.svc.ScanImage(context.Background(), frame, scanning.ScanRequest{Device: "bench"})
			if err != nil || len(res.Codes) != 1 {
				b.Fatalf("%v, %d codes", err, len(res.Codes))
			}
			d = append(d, time.Since(t0))
		}
		b.ReportMetric(p95(d), "p95-ms")
	})
	b.Run("http", func(b *testing.B) {
		var d []time.Duration
		for b.Loop() {
			body, ctype := multipartBody(b, frame, "device", "bench")
			t0 := time.Now()
			rec := post(b, env.api, body, ctype)
			if rec.Code != http.StatusOK {
				b.Fatalf("status %d", rec.Code)
			}
			d = append(d, time.Since(t0))
		}
		b.ReportMetric(p95(d), "p95-ms")
	})
}
