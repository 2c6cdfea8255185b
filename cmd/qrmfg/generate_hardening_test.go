package main

import (
	"bytes"
	"encoding/json"
	"image/png"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// auditEntry is one entry of GET /audit/events.
type auditEntry struct {
	Action    string `json:"action"`
	ObjectID  string `json:"object_id"`
	RequestID string `json:"request_id"`
	Outcome   string `json:"outcome"`
	After     struct {
		Status int    `json:"status"`
		Error  string `json:"error"`
	} `json:"after"`
}

// auditOf returns the entry of action that the request with id left, waiting
// briefly for it (a streamed answer is audited after its last byte).
func auditOf(t *testing.T, s *server, action, requestID string) auditEntry {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var page struct{ Events []auditEntry }
		r := s.do("GET", "/audit/events?limit=1000&action="+action, "", "")
		if err := json.Unmarshal(r.body, &page); r.status != 200 || err != nil {
			t.Fatalf("audit events: %d %v %s", r.status, err, r.body)
		}
		for _, e := range page.Events {
			if e.RequestID == requestID {
				return e
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s entry for request %s", action, requestID)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestGenerateAuditOutcome: a synchronous answer (JSON, ZIP, PDF) is audited
// as a success with its status, the 202 of a background batch too, and a
// ZIP whose stream breaks off (the client leaves) as failed; the client of a
// broken stream gets a transfer error, never a short file that ends cleanly.
func TestGenerateAuditOutcome(t *testing.T) {
	t.Parallel()
	s := startServer(t, "QRMFG_ASYNC_BATCH_THRESHOLD=20000")
	for _, format := range []string{"json", "zip", "pdf"} {
		r := s.json("POST", "/qr/generate", `{"component_type":"PAD","vendor_code":"V0100","lot_number":"L1","count":3,"format":"`+format+`"}`)
		if r.status != 200 {
			t.Fatalf("%s: %d %s", format, r.status, r.body)
		}
		e := auditOf(t, s, "qr.batch.generate", r.header.Get("X-Request-ID"))
		if e.Outcome != "success" || e.After.Status != 200 || e.ObjectID == "" {
			t.Errorf("%s: audited %+v, want success with status 200 naming the batch", format, e)
		}
	}
	r := s.json("POST", "/qr/generate", `{"component_type":"PAD","vendor_code":"V0100","lot_number":"L1","count":20001,"format":"zip"}`)
	if r.status != 202 {
		t.Fatalf("background batch: %d %s", r.status, r.body)
	}
	if e := auditOf(t, s, "qr.batch.generate", r.header.Get("X-Request-ID")); e.Outcome != "success" || e.After.Status != 202 {
		t.Errorf("202: audited %+v", e)
	}

	// A 15,000-code ZIP: read its first megabyte, then leave.
	req, _ := http.NewRequest("POST", s.url+"/qr/generate",
		strings.NewReader(`{"component_type":"PAD","vendor_code":"V0100","lot_number":"L2","count":15000,"format":"zip"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Request-ID", "gen-broken-zip")
	res, err := http.DefaultClient.Do(s.authorize(req))
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("zip: %v %v", err, res)
	}
	if _, err := io.CopyN(io.Discard, res.Body, 1<<20); err != nil {
		t.Fatalf("first megabyte: %v", err)
	}
	_ = res.Body.Close()
	e := auditOf(t, s, "qr.batch.generate", "gen-broken-zip")
	if e.Outcome != "failed" || !strings.Contains(e.After.Error, "client went away") {
		t.Errorf("broken stream audited %+v, want failed saying the client went away", e)
	}
}

// namesField reports whether a problem names the field as its location.
func namesField(r response, field string) bool {
	return strings.Contains(string(r.body), `"location":"`+field+`"`) || strings.Contains(string(r.body), `"location":"body.`+field+`"`)
}

// totalItems is the number of items in the inventory.
func totalItems(t *testing.T, s *server) float64 {
	t.Helper()
	return s.do("GET", "/inventory/items?limit=1&total=true", "", "").json(t)["total"].(float64)
}

// TestGenerateStyleBoundsBeforeAllocation: a style or size that cannot be
// rendered is refused with a 422 naming the field before any serial is
// allocated, and a batch made as JSON that is too large to download as a
// ZIP is refused as a problem, not as an empty 200.
func TestGenerateStyleBoundsBeforeAllocation(t *testing.T) {
	t.Parallel()
	s := startServer(t, "QRMFG_ASYNC_BATCH_THRESHOLD=20000")
	base := `{"component_type":"PAD","vendor_code":"V0100","lot_number":"L1","count":`
	cases := []struct{ name, body, field string }{
		{"module_px far too large", base + `5,"format":"zip","style":{"module_px":100000}}`, "style.module_px"},
		{"module_px too large for the symbol", base + `5,"format":"zip","style":{"module_px":600}}`, "style.module_px"},
		{"module_px too large as JSON too", base + `5,"style":{"module_px":600}}`, "style.module_px"},
		{"module_px too large for a PDF batch", base + `5,"format":"pdf","style":{"module_px":100000}}`, "style.module_px"},
		{"ZIP of too many huge images", base + `15000,"format":"zip","style":{"module_px":400}}`, "count"},
		{"module larger than the label", base + `5,"format":"pdf","style":{"module_mm":20}}`, "style.label"},
		{"unknown sheet", base + `5,"format":"pdf","style":{"sheet":"a3-1"}}`, "style.sheet"},
		{"quiet zone too small", base + `5,"format":"zip","style":{"quiet_zone":1}}`, "style.quiet_zone"},
		{"quiet zone too large", base + `5,"format":"zip","style":{"quiet_zone":1000}}`, "style.quiet_zone"},
		{"negative module_px", base + `5,"format":"zip","style":{"module_px":-3}}`, "style.module_px"},
		{"module_mm too small for a label", base + `5,"format":"pdf","style":{"module_mm":0.01}}`, "style.module_mm"},
		{"background darker than ink", base + `5,"format":"zip","style":{"foreground":"#FFFFFF","background":"#000000"}}`, "style.foreground"},
	}
	for _, c := range cases {
		r := s.json("POST", "/qr/generate", c.body)
		if r.status != 422 || !namesField(r, c.field) {
			t.Errorf("%s: %d %.400s; want 422 naming %s", c.name, r.status, r.body, c.field)
		}
	}
	if n := totalItems(t, s); n != 0 {
		t.Fatalf("refused requests allocated %v items", n)
	}
	// One item's image with style overrides in the query.
	if r := s.json("POST", "/qr/generate", base+`1}`); r.status != 200 {
		t.Fatalf("one code: %d %.300s", r.status, r.body)
	}
	img := s.do("GET", "/qr/items/PAD-V0100-L1-00001.png?module_px=3&quiet_zone=2", "", "")
	if cfg, err := png.DecodeConfig(bytes.NewReader(img.body)); img.status != 200 || err != nil || cfg.Width != (21+2*2)*3 {
		t.Errorf("image with module_px=3, quiet_zone=2: %d %v %+v %.200s", img.status, err, cfg, img.body)
	}
	if r := s.do("GET", "/qr/items/PAD-V0100-L1-00001.png?module_px=600", "", ""); r.status != 422 || !namesField(r, "style.module_px") {
		t.Errorf("image with module_px=600: %d %.300s; want 422 naming style.module_px", r.status, r.body)
	}
	// Made as JSON (fine: the images render one at a time), too large as one ZIP.
	r := s.json("POST", "/qr/generate", base+`15000,"style":{"module_px":400}}`)
	if r.status != 200 {
		t.Fatalf("json batch: %d %.300s", r.status, r.body)
	}
	id := r.header.Get("X-Batch-ID")
	if id == "" {
		id = r.json(t)["batch"].(map[string]any)["id"].(string)
	}
	d := s.do("GET", "/qr/batches/"+id+"/download?format=zip", "", "")
	if d.status != 422 || !strings.Contains(string(d.body), "GiB") {
		t.Fatalf("zip download of huge images: %d %.300s; want 422 naming the ZIP size", d.status, d.body)
	}
}

// payloadOf generates one code with the body and returns its payload.
func payloadOf(t *testing.T, s *server, body string, headers ...string) string {
	t.Helper()
	r := s.json("POST", "/qr/generate", body, headers...)
	if r.status != 200 {
		t.Fatalf("generate %s: %d %.400s", body, r.status, r.body)
	}
	var res struct{ Items []struct{ Payload string } }
	if err := json.Unmarshal(r.body, &res); err != nil || len(res.Items) == 0 {
		t.Fatalf("answer: %v %.300s", err, r.body)
	}
	return res.Items[len(res.Items)-1].Payload
}

// verdictOf scans a code as text and returns its verdict.
func verdictOf(t *testing.T, s *server, code string) string {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"codes": []string{code}})
	var res struct{ Codes []struct{ Verdict string } }
	r := s.json("POST", "/scanning/scans", string(body))
	if err := json.Unmarshal(r.body, &res); err != nil || len(res.Codes) != 1 {
		t.Fatalf("scan %q: %d %v %.300s", code, r.status, err, r.body)
	}
	return res.Codes[0].Verdict
}

// TestGeneratePayloadFormats: gs1 works for the seed's vendor and lot and
// refuses, before allocating, a batch whose serials would outgrow GS1's 20
// characters; url without a configured base uses the request's base (a
// trusted proxy's forwarded scheme and host) and its codes scan as valid;
// a configured base without a trailing '/' is joined with one.
func TestGeneratePayloadFormats(t *testing.T) {
	t.Parallel()
	s := startServer(t, "QRMFG_GS1_GTINS=PAD=09506000134352", "QRMFG_TRUSTED_PROXIES=127.0.0.0/8")
	seed := `{"component_type":"PAD","vendor_code":"V0100","lot_number":"L2025-09","payload":"gs1","count":`
	if p := payloadOf(t, s, seed+`3}`); p != "https://id.gs1.org/01/09506000134352/10/L2025-09/21/V0100-L2025-09-00003" {
		t.Errorf("gs1 payload %q", p)
	}
	// Serials up to 99999 fit; take the lot to 99990, then ask for 10 more.
	if r := s.json("POST", "/inventory/batches", `{"component_type":"PAD","vendor_code":"V0100","lot_number":"L2025-09","count":99987}`); r.status != 201 {
		t.Fatalf("allocate: %d %.300s", r.status, r.body)
	}
	before := totalItems(t, s)
	r := s.json("POST", "/qr/generate", seed+`10}`)
	if r.status != 422 || !namesField(r, "count") || !strings.Contains(string(r.body), "100000") {
		t.Fatalf("gs1 batch crossing serial 99999: %d %.400s; want 422 naming count", r.status, r.body)
	}
	if after := totalItems(t, s); after != before {
		t.Fatalf("the refused batch allocated %v items", after-before)
	}
	if p := payloadOf(t, s, seed+`9}`); !strings.HasSuffix(p, "/21/V0100-L2025-09-99999") {
		t.Errorf("the last gs1 serial: %q", p)
	}

	url := `{"component_type":"PAD","vendor_code":"V0100","lot_number":"L7","payload":"url","count":1}`
	p := payloadOf(t, s, url)
	if p != s.url+"/inventory/items/PAD-V0100-L7-00001" {
		t.Errorf("url payload without a base: %q", p)
	}
	if v := verdictOf(t, s, p); v != "valid" {
		t.Errorf("scanning %q: %s", p, v)
	}
	p = payloadOf(t, s, url, "X-Forwarded-Proto", "https", "X-Forwarded-Host", "trace.example.com")
	if p != "https://trace.example.com/inventory/items/PAD-V0100-L7-00002" {
		t.Errorf("url payload behind a proxy: %q", p)
	}
	// The batch keeps its base: the item's image carries the same payload later.
	if img := s.do("GET", "/qr/items/PAD-V0100-L7-00002.png", "", ""); img.header.Get("X-QR-Payload") != p {
		t.Errorf("the item's image carries %q, the batch %q", img.header.Get("X-QR-Payload"), p)
	}

	b := startServer(t, "QRMFG_PAYLOAD_BASE_URL=https://id.example.com/p")
	if p := payloadOf(t, b, url); p != "https://id.example.com/p/PAD-V0100-L7-00001" {
		t.Errorf("url payload with a base without '/': %q", p)
	}
}
