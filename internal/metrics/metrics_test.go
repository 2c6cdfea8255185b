package metrics

import (
	"net/http"
	"testing"
	"time"
)

// BenchmarkObserveHTTP is what metrics add to each request: one
// observation in the request histogram (classic and native buckets).
func BenchmarkObserveHTTP(b *testing.B) {
	m := New(nil)
	for b.Loop() {
		m.ObserveHTTP("/inventory/items/{uid}", http.MethodGet, http.StatusOK, 3*time.Millisecond)
	}
}
