package httpapi

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/qrmfg/qrmfg/internal/metrics"
)

// BenchmarkHealthMetrics answers GET /health through the whole handler of
// two servers, metrics off and on, alternately in the same loop so that
// both see the same machine load; it reports each one's time per request
// and their ratio (docs/benchmarks.md, "Metrics").
func BenchmarkHealthMetrics(b *testing.B) {
	off := New(Options{Version: "bench"}, Services{})
	on := New(Options{Version: "bench", Metrics: metrics.New(nil)}, Services{})
	req := httptest.NewRequest(http.MethodGet, "/health", nil)
	serve := func(s *Server) time.Duration {
		w := httptest.NewRecorder()
		start := time.Now()
		s.ServeHTTP(w, req)
		took := time.Since(start)
		if w.Code != http.StatusOK {
			b.Fatalf("GET /health: %d", w.Code)
		}
		return took
	}
	var tOff, tOn time.Duration
	n := 0
	for b.Loop() {
		tOff += serve(off)
		tOn += serve(on)
		n++
	}
	b.ReportMetric(float64(tOff.Nanoseconds())/float64(n), "ns/req-off")
	b.ReportMetric(float64(tOn.Nanoseconds())/float64(n), "ns/req-on")
	b.ReportMetric(float64(tOn)/float64(tOff), "on/off")
}
