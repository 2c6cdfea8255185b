// Package qr encodes QR Code Model 2 symbols (ISO/IEC 18004): versions 1-40,
// levels L, M, Q and H, numeric, alphanumeric and byte segments split for
// the fewest bits, ECI designators, and the mask chosen by the standard's
// penalty rules.
//
//	sym, err := qr.Encode("PAD-V0100-L2025-09-00001", qr.Options{Level: qr.M})
//	// sym.Matrix is 25×25 (version 2); sym.Matrix.Row(y) gives its bits.
//
// For batches, keep one Encoder per goroutine and call EncodeTo with the same
// Symbol: it then allocates nothing. The output equals, module for module,
// that of Nayuki's reference implementation (see the package tests).
package qr

// Matrix is a square grid of modules, stored as a bitset with one bit per
// module, rows padded to whole 64-bit words. The zero value is an empty 0×0
// matrix. Coordinates are (x, y) with (0, 0) the top-left module; the quiet
// zone is not part of the matrix.
type Matrix struct {
	size   int
	stride int // words per row
	bits   []uint64
}

// NewMatrix returns an all-light matrix of size×size modules.
func NewMatrix(size int) *Matrix {
	stride := (size + 63) / 64
	return &Matrix{size: size, stride: stride, bits: make([]uint64, stride*size)}
}

// Size returns the number of modules on a side.
func (m *Matrix) Size() int { return m.size }

// Dark reports whether the module at (x, y) is dark. Outside the matrix every
// module is light, so callers can read the quiet zone without bounds checks.
func (m *Matrix) Dark(x, y int) bool {
	if x < 0 || y < 0 || x >= m.size || y >= m.size {
		return false
	}
	return m.bits[y*m.stride+x>>6]>>(uint(x)&63)&1 == 1
}

// Set sets the module at (x, y) dark or light.
func (m *Matrix) Set(x, y int, dark bool) {
	i, b := y*m.stride+x>>6, uint64(1)<<(uint(x)&63)
	if dark {
		m.bits[i] |= b
	} else {
		m.bits[i] &^= b
	}
}

// Row returns the words of row y, bit x&63 of word x>>6 being module x. The
// slice aliases the matrix: renderers read it, only the encoder writes it.
func (m *Matrix) Row(y int) []uint64 { return m.bits[y*m.stride : (y+1)*m.stride] }

// Equal reports whether two matrices have the same size and modules.
func (m *Matrix) Equal(o *Matrix) bool {
	if m.size != o.size {
		return false
	}
	for i := range m.bits {
		if m.bits[i] != o.bits[i] {
			return false
		}
	}
	return true
}
