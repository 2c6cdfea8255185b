package render

import (
	"fmt"
	"io"

	"github.com/qrmfg/qrmfg/internal/qr"
)

// Half-block characters: one character is one module wide and two high.
const (
	blockFull  = "█"
	blockUpper = "▀"
	blockLower = "▄"
)

// Text writes m for a terminal with half-block characters (█ ▀ ▄ and space),
// one character per module horizontally and two modules per line, quiet
// zone included. A block is ink in the terminal's text colour: normally the
// dark modules, which suits dark text on a light terminal; with s.Invert the
// light modules and the quiet zone are inked instead, which suits the usual
// light-on-dark terminal. Only s.QuietZone and s.Invert are used; colours and
// sizes do not apply.
func Text(w io.Writer, m *qr.Matrix, s Style) error {
	if err := checkMatrix(m); err != nil {
		return err
	}
	if err := checkQuietZone(s.QuietZone); err != nil {
		return err
	}
	n, qz := m.Size(), s.QuietZone
	side := n + 2*qz
	ink := func(x, y int) bool { return m.Dark(x-qz, y-qz) != s.Invert }
	b := make([]byte, 0, (side+1)/2*(side*3+1))
	for y := 0; y < side; y += 2 {
		for x := 0; x < side; x++ {
			// Below the last row (the line count is odd) is blank.
			top, bottom := ink(x, y), y+1 < side && ink(x, y+1)
			switch {
			case top && bottom:
				b = append(b, blockFull...)
			case top:
				b = append(b, blockUpper...)
			case bottom:
				b = append(b, blockLower...)
			default:
				b = append(b, ' ')
			}
		}
		b = append(b, '\n')
	}
	if _, err := w.Write(b); err != nil {
		return fmt.Errorf("render: write text: %w", err)
	}
	return nil
}
