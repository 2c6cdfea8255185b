package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/qrmfg/qrmfg/internal/partid"
	"github.com/qrmfg/qrmfg/internal/qr"
	"github.com/qrmfg/qrmfg/internal/render"
	"github.com/qrmfg/qrmfg/internal/scanning"
)

// upload posts a photo to POST /scanning/scan.
func (s *server) upload(data []byte, fields ...string) response {
	s.t.Helper()
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	for i := 0; i+1 < len(fields); i += 2 {
		_ = mw.WriteField(fields[i], fields[i+1])
	}
	w, _ := mw.CreateFormFile("image", "photo.png")
	_, _ = w.Write(data)
	_ = mw.Close()
	return s.do("POST", "/scanning/scan", mw.FormDataContentType(), b.String())
}

func scanResult(t *testing.T, r response) scanning.ScanResult {
	t.Helper()
	if r.status != 200 {
		t.Fatalf("scan: %d %s", r.status, r.body)
	}
	var res scanning.ScanResult
	if err := json.Unmarshal(r.body, &res); err != nil {
		t.Fatal(err)
	}
	return res
}

type generated struct {
	UID, Payload string
	PNGURL       string `json:"png_url"`
}

func generate(t *testing.T, s *server, body string) []generated {
	t.Helper()
	r := s.json("POST", "/qr/generate", body)
	if r.status != 200 {
		t.Fatalf("generate: %d %s", r.status, r.body)
	}
	var res struct{ Items []generated }
	if err := json.Unmarshal(r.body, &res); err != nil {
		t.Fatal(err)
	}
	return res.Items
}

func (s *server) png(it generated) []byte {
	s.t.Helper()
	r := s.do("GET", it.PNGURL, "", "")
	if r.status != 200 {
		s.t.Fatalf("png of %s: %d", it.UID, r.status)
	}
	return r.body
}

func pngOf(t *testing.T, text string) []byte {
	t.Helper()
	sym, err := qr.Encode(text, qr.Options{Level: qr.M})
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := render.PNG(&b, sym.Matrix, render.DefaultStyle()); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestScanPhotos(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	items := generate(t, s, `{"component_type":"PAD","vendor_code":"V0100","lot_number":"L2025-09","count":4,"payload":"signed"}`)
	for i, it := range items[:2] {
		res := scanResult(t, s.upload(s.png(it), "device", "cam-7", "location", "line 2", "verification", []string{"false", "true"}[i]))
		if len(res.Codes) != 1 {
			t.Fatalf("%s: %d codes", it.UID, len(res.Codes))
		}
		c := res.Codes[0]
		if c.Verdict != scanning.VerdictValid || c.UID != it.UID || c.Payload != it.Payload || c.Item == nil ||
			c.Grade == nil || c.Grade.Letter != "A" || c.Symbol == nil || len(c.Symbol.Corners) != 4 {
			t.Fatalf("%s: %+v", it.UID, c)
		}
	}
	// The verification shot put the grade on the item.
	attrs, _ := s.json("GET", "/inventory/items/"+items[1].UID, "").json(t)["attributes"].(map[string]any)
	if mg, _ := attrs["mark_grade"].(map[string]any); mg["grade"] != "A" {
		t.Errorf("verified item attributes %v", attrs)
	}
	if attrs, _ := s.json("GET", "/inventory/items/"+items[0].UID, "").json(t)["attributes"].(map[string]any); attrs["mark_grade"] != nil {
		t.Errorf("plain scan wrote a grade: %v", attrs)
	}
	// A void item: wrong_status.
	if r := s.json("POST", "/inventory/items/"+items[3].UID+"/transitions", `{"to":"void"}`); r.status != 200 {
		t.Fatalf("void: %d %s", r.status, r.body)
	}
	if c := scanResult(t, s.upload(s.png(items[3]))).Codes; len(c) != 1 || c[0].Verdict != scanning.VerdictWrongStatus {
		t.Fatalf("void item: %+v", c)
	}
	// A signed payload with one tag character changed: invalid_signature. The
	// first tag character carries five whole bits of the tag, so any other
	// base32 letter there is still well-formed (the last one carries only three
	// and most replacements would be malformed instead).
	p := items[2].Payload
	at := strings.LastIndexByte(p, '.') + 1
	swap := byte('A')
	if p[at] == 'A' {
		swap = 'B'
	}
	tampered := p[:at] + string(swap) + p[at+1:]
	if c := scanResult(t, s.upload(pngOf(t, tampered))).Codes; len(c) != 1 || c[0].Verdict != scanning.VerdictInvalidSignature {
		t.Fatalf("tampered payload: %+v", c)
	}
	// Garbage and hostile uploads are client errors.
	for name, body := range map[string][]byte{
		"garbage":   []byte("this is not an image at all"),
		"truncated": s.png(items[0])[:100],
		"empty":     {},
	} {
		if r := s.upload(body); r.status < 400 || r.status >= 500 {
			t.Errorf("%s upload: %d %s", name, r.status, r.body)
		}
	}
	// The last-seen time and place follow through the event.
	deadline := time.Now().Add(10 * time.Second)
	for {
		it := s.json("GET", "/inventory/items/"+items[0].UID, "").json(t)
		if it["last_seen_location"] == "line 2" && it["last_seen_at"] != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("last seen not recorded: %v", it)
		}
		time.Sleep(50 * time.Millisecond)
	}
	list := s.json("GET", "/scanning/scans?uid="+items[0].UID, "").json(t)
	if scans, _ := list["scans"].([]any); len(scans) != 1 {
		t.Fatalf("scans of %s: %v", items[0].UID, list)
	}
}

func TestScanSessionReconciliation(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	lot := generate(t, s, `{"component_type":"BRK","vendor_code":"ACME","lot_number":"L7","count":5}`)
	other := generate(t, s, `{"component_type":"BRK","vendor_code":"ACME","lot_number":"L8","count":1}`)
	r := s.json("POST", "/scanning/sessions", `{"kind":"receive","location":"rack 9","expected":{"lot":{"component_type":"BRK","vendor_code":"ACME","lot_number":"L7"}}}`)
	if r.status != 201 {
		t.Fatalf("open session: %d %s", r.status, r.body)
	}
	id, _ := r.json(t)["id"].(string)
	// Live updates: the stream opens with the session.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", s.url+"/scanning/sessions/"+id+"/events", nil)
	stream, err := http.DefaultClient.Do(s.authorize(req))
	if err != nil || stream.StatusCode != 200 {
		t.Fatalf("events: %v %v", err, stream)
	}
	defer stream.Body.Close()
	events := bufio.NewReader(stream.Body)
	if line, _ := events.ReadString('\n'); line != "event: session\n" {
		t.Fatalf("first event line %q", line)
	}
	for _, it := range lot[:3] {
		scanResult(t, s.upload(s.png(it), "session_id", id, "device", "cam-1"))
	}
	r = s.json("POST", "/scanning/scans", `{"session_id":"`+id+`","device":"wedge-2","codes":["`+lot[0].UID+`","`+other[0].UID+`","not a part"]}`)
	res := scanResult(t, r)
	got := []scanning.Verdict{res.Codes[0].Verdict, res.Codes[1].Verdict, res.Codes[2].Verdict}
	if !slices.Equal(got, []scanning.Verdict{"duplicate", "valid", "malformed"}) {
		t.Fatalf("handheld verdicts %v", got)
	}
	want := scanning.Counts{Expected: 5, Found: 3, Missing: 2, Unexpected: 1, Duplicates: 1, Invalid: 1, Scans: 6, Devices: 2}
	if *res.Session != want {
		t.Fatalf("live counts %+v, want %+v", *res.Session, want)
	}
	sawScans := false
	for !sawScans {
		line, err := events.ReadString('\n')
		if err != nil {
			t.Fatalf("event stream ended: %v", err)
		}
		sawScans = line == "event: scans\n"
	}
	r = s.json("POST", "/scanning/sessions/"+id+"/close", `{"apply":true}`)
	if r.status != 200 {
		t.Fatalf("close: %d %s", r.status, r.body)
	}
	var closed scanning.Session
	_ = json.Unmarshal(r.body, &closed)
	rec := closed.Reconciliation
	if rec == nil || !slices.Equal(rec.Missing, []string{lot[3].UID, lot[4].UID}) || !slices.Equal(rec.Unexpected, []string{other[0].UID}) ||
		len(rec.Found) != 3 || len(rec.Duplicates) != 1 || len(rec.Invalid) != 1 || rec.Applied == nil || rec.Applied.Moved != 4 || rec.Applied.Flagged != 2 {
		t.Fatalf("reconciliation %s", r.body)
	}
	if it := s.json("GET", "/inventory/items/"+other[0].UID, "").json(t); it["location"] != "rack 9" {
		t.Errorf("unexpected item not moved: %v", it["location"])
	}
	csv := s.do("GET", "/scanning/sessions/"+id+"/report.csv", "", "")
	if csv.status != 200 || !strings.Contains(string(csv.body), "missing,"+lot[4].UID) || !strings.Contains(string(csv.body), "unexpected,"+other[0].UID) {
		t.Fatalf("csv: %d %s", csv.status, csv.body)
	}
	pdf := s.do("GET", "/scanning/sessions/"+id+"/report.pdf", "", "")
	if pdf.status != 200 || !bytes.HasPrefix(pdf.body, []byte("%PDF-1.4")) || !bytes.Contains(pdf.body, []byte(lot[3].UID)) {
		t.Fatalf("pdf: %d %.200s", pdf.status, pdf.body)
	}
	if r := s.json("POST", "/scanning/sessions/"+id+"/close", `{"apply":false}`); r.status != 409 {
		t.Errorf("second close: %d", r.status)
	}
}

func TestScanCommand(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	items := generate(t, s, `{"component_type":"PAD","vendor_code":"V0100","lot_number":"L9","count":1}`)
	dir := t.TempDir()
	file := filepath.Join(dir, "part.png")
	if err := os.WriteFile(file, s.png(items[0]), 0o600); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) (string, error) {
		var out bytes.Buffer
		m := NewMain(&out, io.Discard, []string{"QRMFG_DATA_DIR=" + t.TempDir()})
		if err := m.ParseFlags(append([]string{"scan"}, args...)); err != nil {
			return "", err
		}
		err := m.Run(context.Background())
		return out.String(), err
	}
	out, err := run(file)
	if err != nil || !strings.Contains(out, items[0].UID) || !strings.Contains(out, "valid (offline") || !strings.Contains(out, "grade: A") {
		t.Fatalf("offline scan: %v\n%s", err, out)
	}
	out, err = run(file, "--server", s.url, "--token", s.token, "--location", "bench")
	if err != nil || !strings.Contains(out, "verdict: valid\n") || !strings.Contains(out, "item: "+items[0].UID) {
		t.Fatalf("server scan: %v\n%s", err, out)
	}
	// A gs1 Digital Link code reads valid offline when QRMFG_GS1_GTINS
	// names its GTIN (the same setting the server uses).
	gtins := "PAD=09506000134352"
	id, err := partid.Parse(items[0].UID)
	if err != nil {
		t.Fatal(err)
	}
	gs1, err := (&partid.PayloadConfig{GTINs: map[string]string{"PAD": "09506000134352"}}).Encode(partid.FormatGS1, id, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	gs1File := filepath.Join(dir, "gs1.png")
	_ = os.WriteFile(gs1File, pngOf(t, gs1), 0o600)
	var gout bytes.Buffer
	m := NewMain(&gout, io.Discard, []string{"QRMFG_DATA_DIR=" + t.TempDir(), "QRMFG_GS1_GTINS=" + gtins})
	if err := m.ParseFlags([]string{"scan", gs1File}); err != nil {
		t.Fatal(err)
	}
	if err := m.Run(context.Background()); err != nil || !strings.Contains(gout.String(), "valid (offline") || !strings.Contains(gout.String(), gs1) {
		t.Fatalf("offline gs1 scan: %v\n%s", err, gout.String())
	}
	empty := filepath.Join(dir, "blank.png")
	_ = os.WriteFile(empty, pngOf(t, "x")[:60], 0o600)
	if _, err := run(empty); err == nil {
		t.Fatal("scan of a corrupt file succeeded")
	}
}
