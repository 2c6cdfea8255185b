package main

import (
	"bytes"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// scrape reads /metrics of s in the Prometheus text format.
func (s *server) scrape() (map[string]*dto.MetricFamily, []byte) {
	s.t.Helper()
	r := s.do("GET", "/metrics", "", "", "Authorization", "")
	if r.status != 200 {
		s.t.Fatalf("GET /metrics: %d %s", r.status, r.body)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(r.body))
	if err != nil {
		s.t.Fatalf("scrape does not parse: %v", err)
	}
	return fams, r.body
}

// value sums the series of fam whose labels include want (-1 when there
// is none); a histogram counts its observations.
func value(fams map[string]*dto.MetricFamily, fam string, want ...string) float64 {
	f := fams[fam]
	if f == nil {
		return -1
	}
	sum, found := 0.0, false
series:
	for _, m := range f.Metric {
		labels := map[string]string{}
		for _, l := range m.Label {
			labels[l.GetName()] = l.GetValue()
		}
		for i := 0; i+1 < len(want); i += 2 {
			if labels[want[i]] != want[i+1] {
				continue series
			}
		}
		found = true
		switch {
		case m.Counter != nil:
			sum += m.Counter.GetValue()
		case m.Gauge != nil:
			sum += m.Gauge.GetValue()
		case m.Histogram != nil:
			sum += float64(m.Histogram.GetSampleCount())
		case m.Untyped != nil:
			sum += m.Untyped.GetValue()
		}
	}
	if !found {
		return -1
	}
	return sum
}

// TestMetricsAfterFlow drives requests, a generation and scans through the
// real server, then checks the scrape: the process and business series
// exist and moved, labels are route templates and small closed sets (no
// uid, user or raw path), OpenMetrics is offered, and promtool accepts it.
func TestMetricsAfterFlow(t *testing.T) {
	// Three codes an hour: the second batch is refused by the codes limit.
	s := startServer(t, "QRMFG_MAX_BATCH=3", "QRMFG_RATE_LIMIT_CODES_PER_HOUR=1")
	before, _ := s.scrape()
	for _, z := range []struct {
		fam    string
		labels []string
	}{
		{"qrmfg_scans_total", []string{"verdict", "valid", "source", "image"}},
		{"qrmfg_scan_grades_total", []string{"grade", "A"}},
		{"qrmfg_codes_generated_total", []string{"payload", "signed", "format", "zip"}},
		{"qrmfg_logins_total", []string{"result", "rate_limited"}},
		{"qrmfg_rate_limit_refusals_total", []string{"limit", "uploads"}},
		{"qrmfg_engraving_jobs_total", []string{"state", "failed"}},
	} {
		if v := value(before, z.fam, z.labels...); v != 0 {
			t.Errorf("%s%v before any event: %v, want a series at 0", z.fam, z.labels, v)
		}
	}
	items := generate(t, s, `{"component_type":"PAD","vendor_code":"V0100","lot_number":"L2025-09","count":2}`)
	for _, it := range items {
		if r := s.do("GET", "/inventory/items/"+it.UID, "", ""); r.status != 200 {
			t.Fatalf("lookup %s: %d", it.UID, r.status)
		}
	}
	if r := s.json("POST", "/qr/generate", `{"component_type":"PAD","vendor_code":"V0100","lot_number":"L2025-09","count":2}`); r.status != http.StatusTooManyRequests {
		t.Errorf("second batch over the codes limit: %d, want 429", r.status)
	}
	if r := s.json("POST", "/engraving/jobs", seedJob); r.status/100 != 2 {
		t.Fatalf("engraving job: %d %s", r.status, r.body)
	}
	if r := s.json("POST", "/auth/login", `{"username":"admin","password":"wrong password"}`, "Authorization", ""); r.status != http.StatusUnauthorized {
		t.Errorf("login with a wrong password: %d, want 401", r.status)
	}
	s.do("GET", "/inventory/items/NO-SUCH-THING", "", "")
	s.do("GET", "/no/such/path/"+items[0].UID, "", "")
	scanResult(t, s.upload(s.png(items[0])))
	if r := s.json("POST", "/scanning/scans", `{"codes":["not a part"]}`); r.status != 200 {
		t.Fatalf("text scan: %d %s", r.status, r.body)
	}

	var fams map[string]*dto.MetricFamily
	var body []byte
	deadline := time.Now().Add(10 * time.Second)
	for { // scans are counted from their events, published by the outbox relay
		fams, body = s.scrape()
		if value(fams, "qrmfg_scans_total", "verdict", "malformed", "source", "text") >= 1 &&
			value(fams, "qrmfg_scans_total", "verdict", "valid", "source", "image") >= 1 &&
			value(fams, "qrmfg_engraving_jobs_total", "state", "queued") >= 1 || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	moved := []struct {
		fam    string
		labels []string
	}{
		{"qrmfg_http_request_duration_seconds", []string{"route", "/inventory/items/{uid}", "method", "GET", "code", "200"}},
		{"qrmfg_http_request_duration_seconds", []string{"route", "/qr/generate", "method", "POST", "code", "200"}},
		{"qrmfg_http_request_duration_seconds", []string{"route", "unmatched", "code", "404"}},
		{"qrmfg_scans_total", []string{"verdict", "valid", "source", "image"}},
		{"qrmfg_scans_total", []string{"verdict", "malformed", "source", "text"}},
		{"qrmfg_scan_grades_total", nil},
		{"qrmfg_codes_generated_total", []string{"payload", "uid", "format", "json"}},
		{"qrmfg_logins_total", []string{"result", "success"}},
		{"qrmfg_logins_total", []string{"result", "invalid_credentials"}},
		{"qrmfg_rate_limit_refusals_total", []string{"limit", "codes"}},
		{"qrmfg_engraving_jobs_total", []string{"state", "queued"}},
		{"qrmfg_scan_decode_seconds", nil},
		{"qrmfg_scan_decode_wait_seconds", nil},
		{"go_sql_open_connections", []string{"db_name", "writer"}},
		{"go_goroutines", nil},
		{"process_resident_memory_bytes", nil},
		{"qrmfg_outbox_scrape_ok", nil},
	}
	for _, m := range moved {
		if v := value(fams, m.fam, m.labels...); v <= 0 {
			t.Errorf("%s%v = %v, want > 0", m.fam, m.labels, v)
		}
	}
	for _, fam := range []string{"qrmfg_outbox_pending_events", "qrmfg_outbox_oldest_pending_age_seconds", "qrmfg_outbox_dead_letters",
		"qrmfg_sse_streams_open", "qrmfg_scan_decode_queue_depth", "qrmfg_scan_decodes_in_progress", "go_sql_wait_count_total", "go_sql_idle_connections"} {
		if value(fams, fam) < 0 {
			t.Errorf("no series %s", fam)
		}
	}

	if v := value(fams, "qrmfg_engraving_machine_state", "name", "sim-1"); v != 1 {
		t.Errorf("the simulated laser's state gauges sum to %v, want exactly one state at 1", v)
	}

	// Bounded labels: a handful of values per label, never a uid or path.
	for name, f := range fams {
		values := map[string]map[string]bool{}
		for _, m := range f.Metric {
			for _, l := range m.Label {
				if values[l.GetName()] == nil {
					values[l.GetName()] = map[string]bool{}
				}
				values[l.GetName()][l.GetValue()] = true
				for _, it := range items {
					if strings.Contains(l.GetValue(), it.UID) || strings.Contains(l.GetValue(), "NO-SUCH") || strings.Contains(l.GetValue(), "admin") {
						t.Errorf("%s has label %s=%q: a uid, raw path or user", name, l.GetName(), l.GetValue())
					}
				}
			}
		}
		for label, vs := range values {
			if len(vs) > 30 {
				t.Errorf("%s label %s has %d values, want a small bounded set", name, label, len(vs))
			}
		}
		if len(f.Metric) > 200 {
			t.Errorf("%s has %d series", name, len(f.Metric))
		}
	}

	// OpenMetrics on request.
	r := s.do("GET", "/metrics", "", "", "Authorization", "", "Accept", "application/openmetrics-text;version=1.0.0")
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/openmetrics-text") || !bytes.HasSuffix(r.body, []byte("# EOF\n")) {
		t.Errorf("OpenMetrics scrape: Content-Type %q, ends %q", ct, r.body[max(0, len(r.body)-20):])
	}

	promtool, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("promtool is not installed (Debian package prometheus: make deps)")
		}
		t.Skip("promtool is not installed (Debian package prometheus: make deps); the scrape was not linted")
	}
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = bytes.NewReader(body)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}
}

// TestMetricsProtected: /metrics is served only to the allowed networks,
// not at all when monitoring is off, and on its own listener when
// QRMFG_METRICS_ADDR is set.
func TestMetricsProtected(t *testing.T) {
	for _, env := range [][]string{{"QRMFG_METRICS_NETWORKS=10.0.0.0/8"}, {"ENABLE_MONITORING=false"}} {
		s := startServer(t, env...)
		if r := s.do("GET", "/metrics", "", ""); r.status != http.StatusNotFound || bytes.Contains(r.body, []byte("go_goroutines")) {
			t.Errorf("%v: GET /metrics from loopback: %d, want 404", env, r.status)
		}
	}
	addr := freeAddr(t)
	s := startServer(t, "QRMFG_METRICS_ADDR="+addr)
	if r := s.do("GET", "/metrics", "", ""); r.status != http.StatusNotFound {
		t.Errorf("with QRMFG_METRICS_ADDR, GET /metrics on the API listener: %d, want 404", r.status)
	}
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	var b bytes.Buffer
	_, _ = b.ReadFrom(resp.Body)
	if resp.StatusCode != 200 || !bytes.Contains(b.Bytes(), []byte("qrmfg_http_request_duration_seconds")) {
		t.Errorf("GET /metrics on QRMFG_METRICS_ADDR: %d\n%.300s", resp.StatusCode, b.String())
	}
}

// freeAddr returns a loopback address with a port free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return addr
}
