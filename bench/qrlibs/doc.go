// Package qrlibs compares qrmfg's QR encoder (internal/qr) with other Go QR
// libraries and, with the build tag libqrencode and cgo, with libqrencode.
// It is a separate module so that none of them becomes a dependency of the
// product. Run from this directory:
//
//	go test -run XXX -bench . -benchtime 2s
//	go test -tags libqrencode -run XXX -bench . -benchtime 2s   # needs libqrencode-dev
//
// Every benchmark encodes the seed's workload: 24-character part ids
// PAD-V0100-L2025-09-%05d at level M, mask chosen by the library (rsc.io/qr
// always uses mask 0, so it skips the penalty evaluation the others do).
package qrlibs

import "fmt"

// SeedIDs returns the first n part ids of the seed's workload.
func SeedIDs(n int) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("PAD-V0100-L2025-09-%05d", i+1)
	}
	return ids
}
