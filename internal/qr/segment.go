package qr

import (
	"unicode/utf8"

	"github.com/qrmfg/qrmfg/internal/qrmfg"
)

// Mode is the kind of data a segment holds; its value is the segment's
// 4-bit mode indicator.
type Mode uint8

// The segment modes this encoder writes. Kanji mode is not supported: text
// outside ISO-8859-1 goes in byte mode as UTF-8 behind an ECI designator.
const (
	ModeNumeric      Mode = 0x1 // digits 0-9, 10 bits per 3 digits
	ModeAlphanumeric Mode = 0x2 // 0-9 A-Z space $ % * + - . / :, 11 bits per 2 characters
	ModeByte         Mode = 0x4 // any byte, 8 bits each
	ModeECI          Mode = 0x7 // an Extended Channel Interpretation designator
)

// String returns the mode's name in lower case.
func (m Mode) String() string {
	switch m {
	case ModeNumeric:
		return "numeric"
	case ModeAlphanumeric:
		return "alphanumeric"
	case ModeByte:
		return "byte"
	case ModeECI:
		return "eci"
	}
	return "Mode(" + itoa(int(m)) + ")"
}

// Segment is a run of data encoded in one mode. Build one with
// NumericSegment, AlphanumericSegment, ByteSegment or ECISegment; the zero
// value is not a valid segment. Segments are immutable.
type Segment struct {
	mode Mode
	// data holds the digits, the alphanumeric characters or the bytes.
	data string
	// latin1 marks a byte segment whose data is UTF-8 text made only of
	// runes up to U+00FF, written as one ISO-8859-1 byte per rune.
	latin1 bool
	// count is the value of the character count field: digits, characters
	// or bytes. For an ECI segment it is the assignment number.
	count int
}

// NumericSegment returns a numeric-mode segment of the decimal digits s.
// Any other character is an EINVALID error.
func NumericSegment(s string) (Segment, error) {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return Segment{}, qrmfg.FieldError("segments", "numeric segment: %q at offset %d is not a digit", s[i], i)
		}
	}
	return Segment{mode: ModeNumeric, data: s, count: len(s)}, nil
}

// AlphanumericSegment returns an alphanumeric-mode segment of s, which may
// hold only 0-9, A-Z (upper case), space and $ % * + - . / :. Any other
// character is an EINVALID error.
func AlphanumericSegment(s string) (Segment, error) {
	for i := 0; i < len(s); i++ {
		if alnumValue[s[i]] < 0 {
			return Segment{}, qrmfg.FieldError("segments", "alphanumeric segment: %q at offset %d is not in the alphanumeric set (0-9 A-Z space $%%*+-./:)", s[i], i)
		}
	}
	return Segment{mode: ModeAlphanumeric, data: s, count: len(s)}, nil
}

// ByteSegment returns a byte-mode segment holding a copy of data. Decoders
// read byte segments as ISO-8859-1 unless an ECI segment precedes them.
func ByteSegment(data []byte) Segment {
	return Segment{mode: ModeByte, data: string(data), count: len(data)}
}

// ECISegment returns an ECI designator for assignment number n
// (0 ≤ n < 1,000,000), for example ECIUTF8. It tells the decoder how to read
// the byte segments that follow it.
func ECISegment(n int) (Segment, error) {
	if n < 0 || n >= 1_000_000 {
		return Segment{}, qrmfg.FieldError("segments", "ECI assignment number %d is outside 0-999999", n)
	}
	return Segment{mode: ModeECI, count: n}, nil
}

// Mode returns the segment's mode.
func (s Segment) Mode() Mode { return s.mode }

// Len returns the segment's character count: digits, characters or bytes,
// or the assignment number of an ECI segment.
func (s Segment) Len() int { return s.count }

// charCountBits returns the width of the character count field of mode m in
// a symbol of version v.
func charCountBits(m Mode, v int) int {
	g := (v + 7) / 17 // 0 for versions 1-9, 1 for 10-26, 2 for 27-40
	switch m {
	case ModeNumeric:
		return [3]int{10, 12, 14}[g]
	case ModeAlphanumeric:
		return [3]int{9, 11, 13}[g]
	case ModeByte:
		return [3]int{8, 16, 16}[g]
	}
	return 0
}

// dataBits returns the number of bits of the segment's payload, without the
// mode indicator and the character count.
func (s Segment) dataBits() int {
	switch s.mode {
	case ModeNumeric:
		return s.count/3*10 + [3]int{0, 4, 7}[s.count%3]
	case ModeAlphanumeric:
		return s.count/2*11 + s.count%2*6
	case ModeByte:
		return s.count * 8
	case ModeECI:
		switch {
		case s.count < 1<<7:
			return 8
		case s.count < 1<<14:
			return 16
		default:
			return 24
		}
	}
	return 0
}

// bits returns the number of bits the segment takes in a symbol of version
// v, or -1 when its character count does not fit the count field.
func (s Segment) bits(v int) int {
	cc := charCountBits(s.mode, v)
	if s.count >= 1<<cc && s.mode != ModeECI {
		return -1
	}
	return 4 + cc + s.dataBits()
}

// totalBits returns the bits all segments take in version v, or -1 when one
// of them cannot be written in that version.
func totalBits(segs []Segment, v int) int {
	n := 0
	for _, s := range segs {
		b := s.bits(v)
		if b < 0 {
			return -1
		}
		n += b
	}
	return n
}

// write appends the segment, with its header, for version v.
func (s Segment) write(w *bitWriter, v int) {
	w.write(uint32(s.mode), 4)
	if s.mode == ModeECI {
		switch n := uint32(s.count); {
		case n < 1<<7:
			w.write(n, 8)
		case n < 1<<14:
			w.write(2<<14|n, 16)
		default:
			w.write(6<<21|n, 24)
		}
		return
	}
	w.write(uint32(s.count), uint(charCountBits(s.mode, v)))
	d := s.data
	switch s.mode {
	case ModeNumeric:
		i := 0
		for ; i+3 <= len(d); i += 3 {
			w.write(uint32(d[i]-'0')*100+uint32(d[i+1]-'0')*10+uint32(d[i+2]-'0'), 10)
		}
		switch len(d) - i {
		case 1:
			w.write(uint32(d[i]-'0'), 4)
		case 2:
			w.write(uint32(d[i]-'0')*10+uint32(d[i+1]-'0'), 7)
		}
	case ModeAlphanumeric:
		i := 0
		for ; i+2 <= len(d); i += 2 {
			w.write(uint32(alnumValue[d[i]])*45+uint32(alnumValue[d[i+1]]), 11)
		}
		if i < len(d) {
			w.write(uint32(alnumValue[d[i]]), 6)
		}
	case ModeByte:
		if s.latin1 {
			for _, r := range d {
				w.write(uint32(r), 8)
			}
			return
		}
		for i := 0; i < len(d); i++ {
			w.write(uint32(d[i]), 8)
		}
	}
}

// alnumValue maps a byte to its value in alphanumeric mode, or -1.
var alnumValue = func() (t [256]int8) {
	for i := range t {
		t[i] = -1
	}
	for i, c := range "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:" {
		t[c] = int8(i)
	}
	return t
}()

// bitWriter appends bits, most significant first, to a byte slice.
type bitWriter struct {
	buf []byte
	acc uint64
	n   uint // bits pending in acc, always < 8 between calls
}

func (w *bitWriter) write(v uint32, n uint) {
	w.acc = w.acc<<n | uint64(v)
	w.n += n
	for w.n >= 8 {
		w.n -= 8
		w.buf = append(w.buf, byte(w.acc>>w.n))
	}
}

func (w *bitWriter) len() int { return len(w.buf)*8 + int(w.n) }

// segmenter computes minimal-length segmentations of text; it keeps its
// buffers between calls.
type segmenter struct {
	offs  []int32   // byte offset of each rune
	modes [][3]int8 // modes[i][j]: mode index of rune i on the best path ending in state j
	segs  []Segment
}

// DP mode indices, in the order Nayuki's reference uses so that ties are
// broken the same way.
const (
	dpByte = iota
	dpAlnum
	dpNumeric
)

var dpModes = [3]Mode{ModeByte, ModeAlphanumeric, ModeNumeric}

// ECI assignment numbers this encoder writes.
const (
	ECILatin1 = 3  // ISO-8859-1
	ECIUTF8   = 26 // UTF-8
)

// textEncoding returns how byte-mode runs of text are written: ASCII text
// as it is, with no ECI designator; text whose runes are all ≤ U+00FF as
// ISO-8859-1 (latin1) behind ECI 3; any other text as UTF-8 behind ECI 26.
// ISO-8859-1 is the standard's default, yet without the designator common
// decoders (zbar, ZXing) guess Shift_JIS for short texts, so it is written.
func textEncoding(text string) (eci int, latin1 bool) {
	ascii := true
	for i := 0; i < len(text); i++ {
		if text[i] >= utf8.RuneSelf {
			ascii = false
			break
		}
	}
	if ascii {
		return 0, false
	}
	for _, r := range text {
		if r > 0xFF {
			return ECIUTF8, false
		}
	}
	return ECILatin1, true
}

// segment returns the segmentation of text that takes the fewest bits in a
// symbol of version v (the count field widths depend on the version group).
// It is the dynamic programme of Nayuki's makeSegmentsOptimally, without
// kanji. The result aliases the segmenter's buffer.
func (sg *segmenter) segment(text string, v int, eci int, latin1 bool) []Segment {
	sg.segs = sg.segs[:0]
	if eci != 0 {
		sg.segs = append(sg.segs, Segment{mode: ModeECI, count: eci})
	}
	if text == "" {
		return sg.segs
	}
	sg.offs = sg.offs[:0]
	sg.modes = sg.modes[:0]
	var head [3]int
	for j, m := range dpModes {
		head[j] = (4 + charCountBits(m, v)) * 6 // costs in sixths of a bit
	}
	prev := head
	for off, r := range text {
		sg.offs = append(sg.offs, int32(off))
		var cur [3]int
		cm := [3]int8{-1, -1, -1}
		nb := 1
		if !latin1 {
			nb = utf8.RuneLen(r)
		}
		cur[dpByte] = prev[dpByte] + nb*8*6
		cm[dpByte] = dpByte
		if r < 0x80 && alnumValue[r] >= 0 {
			cur[dpAlnum] = prev[dpAlnum] + 33
			cm[dpAlnum] = dpAlnum
		}
		if r >= '0' && r <= '9' {
			cur[dpNumeric] = prev[dpNumeric] + 20
			cm[dpNumeric] = dpNumeric
		}
		// Or end the segment here (rounding up to whole bits) and open
		// one of another mode. The cheapest segment to end is the same for
		// every new mode; the first of equals wins, as in the reference.
		from, fromCost := dpByte, (cur[dpByte]+5)/6*6
		for k := dpAlnum; k <= dpNumeric; k++ {
			if c := (cur[k] + 5) / 6 * 6; cm[k] >= 0 && c < fromCost {
				from, fromCost = k, c
			}
		}
		for j := range 3 {
			if c := fromCost + head[j]; cm[j] < 0 || c < cur[j] {
				cur[j] = c
				cm[j] = int8(from)
			}
		}
		sg.modes = append(sg.modes, cm)
		prev = cur
	}
	state := int8(0)
	for j := 1; j < 3; j++ {
		if prev[j] < prev[state] {
			state = int8(j)
		}
	}
	// Trace back, storing each rune's mode in place of its state row.
	for i := len(sg.modes) - 1; i >= 0; i-- {
		state = sg.modes[i][state]
		sg.modes[i][0] = state
	}
	n := len(sg.offs)
	start := 0
	for i := 1; i <= n; i++ {
		if i < n && sg.modes[i][0] == sg.modes[start][0] {
			continue
		}
		end := len(text)
		if i < n {
			end = int(sg.offs[i])
		}
		data := text[sg.offs[start]:end]
		s := Segment{mode: dpModes[sg.modes[start][0]], data: data, count: len(data)}
		if s.mode == ModeByte && latin1 {
			s.latin1 = true
			s.count = i - start
		}
		sg.segs = append(sg.segs, s)
		start = i
	}
	return sg.segs
}
