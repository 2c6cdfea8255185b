package main

import (
	"encoding/json"
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
