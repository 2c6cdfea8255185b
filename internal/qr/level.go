package qr

import (
	"strings"

	"github.com/qrmfg/qrmfg/internal/qrmfg"
)

// Level is an error correction level. The zero value is L.
type Level int

// The four error correction levels of ISO/IEC 18004, from the one that
// recovers about 7% of the codewords to the one that recovers about 30%.
const (
	L Level = iota // recovers about 7% of the codewords
	M              // recovers about 15%
	Q              // recovers about 25%
	H              // recovers about 30%
)

// ParseLevel returns the level named by s: "L", "M", "Q" or "H", in either case.
// Any other text is an EINVALID error naming the field "level".
func ParseLevel(s string) (Level, error) {
	switch strings.ToUpper(strings.TrimSpace(s)) {
	case "L":
		return L, nil
	case "M":
		return M, nil
	case "Q":
		return Q, nil
	case "H":
		return H, nil
	}
	return 0, qrmfg.FieldError("level", "error correction level %q is not one of L, M, Q, H", s)
}

// String returns "L", "M", "Q" or "H", or "Level(n)" for a value out of range.
func (l Level) String() string {
	if l.valid() {
		return "LMQH"[l : l+1]
	}
	return "Level(" + itoa(int(l)) + ")"
}

func (l Level) valid() bool { return l >= L && l <= H }

// formatBits are the two bits that stand for the level in the format information.
func (l Level) formatBits() int { return [4]int{1, 0, 3, 2}[l] }

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b [20]byte
	i := len(b)
	neg := n < 0
	if neg {
		n = -n
	}
	for n > 0 {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	if neg {
		i--
		b[i] = '-'
	}
	return string(b[i:])
}
