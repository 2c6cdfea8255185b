package qr

import (
	"fmt"
	"strings"
	"testing"
)

// seedIDs are the part ids of the seed's workload.
func seedIDs(n int) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("PAD-V0100-L2025-09-%05d", i+1)
	}
	return ids
}

func reportRate(b *testing.B) {
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "matrices/s")
}

// BenchmarkEncodeSeed is the seed's workload: 24-character part ids at level
// M with the mask chosen by penalty, into a reused Symbol (version 2).
func BenchmarkEncodeSeed(b *testing.B) {
	ids := seedIDs(1024)
	enc := NewEncoder()
	var sym Symbol
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if err := enc.EncodeTo(&sym, ids[i&1023], Options{Level: M}); err != nil {
			b.Fatal(err)
		}
	}
	reportRate(b)
}

// BenchmarkEncodeSeedAlloc is the same through the package-level Encode,
// which returns a new Symbol and Matrix each time.
func BenchmarkEncodeSeedAlloc(b *testing.B) {
	ids := seedIDs(1024)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if _, err := Encode(ids[i&1023], Options{Level: M}); err != nil {
			b.Fatal(err)
		}
	}
	reportRate(b)
}

// BenchmarkEncodeSeedForcedMask skips the mask choice, to show its share.
func BenchmarkEncodeSeedForcedMask(b *testing.B) {
	ids := seedIDs(1024)
	enc := NewEncoder()
	var sym Symbol
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if err := enc.EncodeTo(&sym, ids[i&1023], Options{Level: M, ForceMask: true, Mask: 2}); err != nil {
			b.Fatal(err)
		}
	}
	reportRate(b)
}

// BenchmarkEncodeNumericLong encodes 1000 digits at level M (version 16).
func BenchmarkEncodeNumericLong(b *testing.B) {
	text := strings.Repeat("3141592653", 100)
	enc := NewEncoder()
	var sym Symbol
	b.ReportAllocs()
	for b.Loop() {
		if err := enc.EncodeTo(&sym, text, Options{Level: M}); err != nil {
			b.Fatal(err)
		}
	}
	reportRate(b)
}

// BenchmarkEncodeByteV40 encodes 2900 bytes of text at level L (version 40).
func BenchmarkEncodeByteV40(b *testing.B) {
	text := strings.Repeat("hello, world! ", 208)[:2900]
	enc := NewEncoder()
	var sym Symbol
	b.ReportAllocs()
	for b.Loop() {
		if err := enc.EncodeTo(&sym, text, Options{Level: L}); err != nil {
			b.Fatal(err)
		}
	}
	if sym.Version != 40 {
		b.Fatalf("version %d, want 40", sym.Version)
	}
	reportRate(b)
}
