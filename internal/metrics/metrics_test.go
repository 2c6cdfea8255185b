package metrics

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/qrmfg/qrmfg/internal/sqlstore"
)

// BenchmarkObserveHTTP is what metrics add to each request: one
// observation in the request histogram (classic and native buckets).
func BenchmarkObserveHTTP(b *testing.B) {
	m := New(nil)
	for b.Loop() {
		m.ObserveHTTP("/inventory/items/{uid}", http.MethodGet, http.StatusOK, 3*time.Millisecond)
	}
}

// TestOutboxScrapeFailure: an outbox that cannot be read in time says so
// in qrmfg_outbox_scrape_ok and leaves the figures out rather than report
// an empty outbox; the rest of the scrape is still served.
func TestOutboxScrapeFailure(t *testing.T) {
	m := New(nil)
	m.Outbox(func(ctx context.Context) (sqlstore.Backlog, error) {
		<-ctx.Done() // a database that does not answer
		return sqlstore.Backlog{}, ctx.Err()
	})
	fams, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, f := range fams {
		if len(f.Metric) > 0 && f.Metric[0].Gauge != nil {
			got[f.GetName()] = f.Metric[0].Gauge.GetValue()
		}
	}
	if v, ok := got["qrmfg_outbox_scrape_ok"]; !ok || v != 0 {
		t.Errorf("qrmfg_outbox_scrape_ok = %v (present %v), want 0", v, ok)
	}
	if _, ok := got["qrmfg_outbox_pending_events"]; ok {
		t.Error("qrmfg_outbox_pending_events reported although the outbox could not be read")
	}
	if _, ok := got["go_goroutines"]; !ok {
		t.Error("the rest of the scrape is missing")
	}
}
