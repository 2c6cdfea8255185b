package qr

import (
	"math/bits"
	"sync"
	"unicode/utf8"

	"github.com/qrmfg/qrmfg/internal/qrmfg"
)

// AutoMask may be given as Options.Mask to say explicitly that the mask is
// chosen by the penalty rules, which is what happens whenever ForceMask is
// false.
const AutoMask = -1

// Options tune Encode. The zero value is sensible: level L, the smallest
// version from 1 to 40 that fits, the mask chosen by the standard's penalty
// rules, no level boost, and the text split into segments automatically.
type Options struct {
	// Level is the error correction level; the zero value is L.
	Level Level
	// MinVersion and MaxVersion bound the version; 0 means 1 and 40.
	// The smallest version in the range that holds the data is used.
	MinVersion, MaxVersion int
	// Mask is the mask pattern (0-7) to use when ForceMask is set. Without
	// ForceMask the mask with the lowest penalty is chosen and Mask must be
	// 0 or AutoMask, so that a mask set by mistake is not silently ignored.
	Mask      int
	ForceMask bool
	// BoostLevel raises the level (to M, Q, then H) as far as the data still
	// fits in the version chosen for Level. Off by default, so a symbol
	// has exactly the level asked for.
	BoostLevel bool
	// Segments, when not nil, are encoded instead of the text, which must
	// then be empty.
	Segments []Segment
}

// Symbol is an encoded QR symbol.
type Symbol struct {
	Matrix  *Matrix
	Version int
	Level   Level
	Mask    int
}

// Encode encodes text (which must be valid UTF-8) in the fewest bits: it
// splits it into numeric, alphanumeric and byte segments optimally. ASCII
// text needs no ECI designator; text whose characters are all in ISO-8859-1
// is written one byte per character behind ECI 3 (decoders guess another
// charset without it), any other text as UTF-8 behind ECI 26. Text that does not fit is an
// EINVALID error naming its length in bits and the capacity; bad options are
// EINVALID errors naming the field.
func Encode(text string, opt Options) (*Symbol, error) {
	e := encoders.Get().(*Encoder)
	defer encoders.Put(e)
	return e.Encode(text, opt)
}

// EncodeSegments encodes the given segments as they are.
func EncodeSegments(segs []Segment, opt Options) (*Symbol, error) {
	e := encoders.Get().(*Encoder)
	defer encoders.Put(e)
	return e.EncodeSegments(segs, opt)
}

var encoders = sync.Pool{New: func() any { return NewEncoder() }}

// Encoder encodes symbols one after the other, keeping its buffers between
// calls so that batch encoding does not allocate beyond the result (and not
// at all with EncodeTo). An Encoder is not safe for concurrent use; use one
// per goroutine.
type Encoder struct {
	sg        segmenter
	w         bitWriter
	codewords []byte // interleaved data and error correction codewords
	ecc       []byte
	data      []uint64 // padded row-major layout: function patterns + codewords
	dataT     []uint64 // the same, transposed
	work      []uint64 // data with a mask and format bits applied
	workT     []uint64
	col       []uint64 // scratch column for linePenalty
}

// NewEncoder returns an Encoder.
func NewEncoder() *Encoder { return &Encoder{} }

// Encode is like the package-level Encode, reusing the Encoder's buffers.
func (e *Encoder) Encode(text string, opt Options) (*Symbol, error) {
	// One allocation for the Symbol and its Matrix, one for the modules.
	p := &struct {
		s Symbol
		m Matrix
	}{}
	p.s.Matrix = &p.m
	if err := e.EncodeTo(&p.s, text, opt); err != nil {
		return nil, err
	}
	return &p.s, nil
}

// EncodeSegments is like the package-level EncodeSegments, reusing the
// Encoder's buffers.
func (e *Encoder) EncodeSegments(segs []Segment, opt Options) (*Symbol, error) {
	if segs == nil {
		segs = []Segment{}
	}
	if opt.Segments != nil {
		return nil, qrmfg.FieldError("segments", "segments given both as argument and in Options.Segments")
	}
	opt.Segments = segs
	return e.Encode("", opt)
}

// EncodeTo encodes text into sym, reusing sym.Matrix's storage when it is not
// nil, so that encoding in a loop allocates nothing once warm. On error sym
// is left unchanged.
func (e *Encoder) EncodeTo(sym *Symbol, text string, opt Options) error {
	minV, maxV, err := opt.check()
	if err != nil {
		return err
	}
	var segs []Segment
	version, used := 0, 0
	if opt.Segments != nil {
		if text != "" {
			return qrmfg.FieldError("segments", "both text and segments given; give one")
		}
		segs = opt.Segments
		for i, s := range segs {
			if s.mode == 0 {
				return qrmfg.FieldError("segments", "segments[%d] is the zero Segment; build segments with the Segment constructors", i)
			}
		}
		for v := minV; v <= maxV; v++ {
			if used = totalBits(segs, v); used >= 0 && used <= DataCapacity(v, opt.Level)*8 {
				version = v
				break
			}
		}
	} else {
		if !utf8.ValidString(text) {
			return qrmfg.FieldError("text", "text is not valid UTF-8; encode binary data with ByteSegment")
		}
		eci, latin1 := textEncoding(text)
		for v := minV; v <= maxV && version == 0; {
			// The segmentation depends only on the version group (1-9,
			// 10-26, 27-40), through the widths of the count fields.
			end := min(maxV, [3]int{9, 26, 40}[(v+7)/17])
			segs = e.sg.segment(text, v, eci, latin1)
			used = totalBits(segs, v)
			for ; v <= end; v++ {
				if used >= 0 && used <= DataCapacity(v, opt.Level)*8 {
					version = v
					break
				}
			}
		}
	}
	if version == 0 {
		capBits := DataCapacity(maxV, opt.Level) * 8
		if used < 0 {
			err := qrmfg.FieldError("segments", "a segment is longer than its character count field allows in version %d", maxV)
			return err.WithDetail("capacity_bits", capBits)
		}
		what, field := "text of "+itoa(len(text))+" bytes", "text"
		if opt.Segments != nil {
			what, field = itoa(len(segs))+" segments", "segments"
		}
		err := qrmfg.Errorf(qrmfg.EINVALID, "data too long: %s needs %d bits, version %d at level %s holds %d bits",
			what, used, maxV, opt.Level, capBits).WithDetail("bits", used).WithDetail("capacity_bits", capBits)
		err.Field = field
		return err
	}
	level := opt.Level
	if opt.BoostLevel {
		for l := level + 1; l <= H; l++ {
			if used <= DataCapacity(version, l)*8 {
				level = l
			}
		}
	}
	e.encodeCodewords(segs, version, level)
	mask := opt.Mask
	t := templateFor(version)
	e.place(t, !opt.ForceMask)
	if !opt.ForceMask {
		mask = e.chooseMask(t, level)
	}
	if sym.Matrix == nil {
		sym.Matrix = &Matrix{}
	}
	e.render(sym.Matrix, t, level, mask)
	sym.Version, sym.Level, sym.Mask = version, level, mask
	return nil
}

// check validates the options and returns the version range.
func (o *Options) check() (minV, maxV int, err error) {
	if !o.Level.valid() {
		return 0, 0, qrmfg.FieldError("level", "error correction level %d is not one of L, M, Q, H", int(o.Level))
	}
	minV, maxV = o.MinVersion, o.MaxVersion
	if minV == 0 {
		minV = MinVersion
	}
	if maxV == 0 {
		maxV = MaxVersion
	}
	if minV < MinVersion || minV > MaxVersion {
		return 0, 0, qrmfg.FieldError("min_version", "minimum version %d is outside 1-40", o.MinVersion)
	}
	if maxV < MinVersion || maxV > MaxVersion {
		return 0, 0, qrmfg.FieldError("max_version", "maximum version %d is outside 1-40", o.MaxVersion)
	}
	if minV > maxV {
		return 0, 0, qrmfg.FieldError("max_version", "maximum version %d is below the minimum version %d", maxV, minV)
	}
	if o.ForceMask {
		if o.Mask < 0 || o.Mask > 7 {
			return 0, 0, qrmfg.FieldError("mask", "mask %d is outside 0-7", o.Mask)
		}
	} else if o.Mask != 0 && o.Mask != AutoMask {
		return 0, 0, qrmfg.FieldError("mask", "mask %d given without ForceMask; set ForceMask to use it", o.Mask)
	}
	return minV, maxV, nil
}

// encodeCodewords writes the data codewords of segs for version v and level
// l, adds error correction and interleaves the blocks into e.codewords.
func (e *Encoder) encodeCodewords(segs []Segment, v int, l Level) {
	capacity := DataCapacity(v, l)
	e.w = bitWriter{buf: e.w.buf[:0]}
	for _, s := range segs {
		s.write(&e.w, v)
	}
	capBits := capacity * 8
	e.w.write(0, uint(min(4, capBits-e.w.len())))
	if e.w.n > 0 {
		e.w.write(0, 8-e.w.n)
	}
	for pad := byte(0xEC); len(e.w.buf) < capacity; pad ^= 0xEC ^ 0x11 {
		e.w.buf = append(e.w.buf, pad)
	}
	data := e.w.buf

	nb := int(numBlocks[l][v])
	eccLen := int(eccPerBlock[l][v])
	raw := rawDataModules(v) / 8
	short := nb - raw%nb        // blocks with one data codeword less
	shortLen := raw/nb - eccLen // data codewords in a short block
	e.codewords = grow(e.codewords, raw)
	e.ecc = grow(e.ecc, nb*eccLen)
	off := 0
	for b := range nb {
		n := shortLen
		if b >= short {
			n++
		}
		blk := data[off : off+n]
		rsRemainder(blk, e.ecc[b*eccLen:(b+1)*eccLen])
		// Data codeword i of block b goes to i*nb+b, except that the
		// last codeword of the long blocks comes after all short ones.
		for i, c := range blk {
			if i < shortLen {
				e.codewords[i*nb+b] = c
			} else {
				e.codewords[shortLen*nb+b-short] = c
			}
		}
		off += n
	}
	base := capacity
	for b := range nb {
		for i, c := range e.ecc[b*eccLen : (b+1)*eccLen] {
			e.codewords[base+i*nb+b] = c
		}
	}
}

// place draws the codewords over the function patterns, in the row-major
// layout and, when the mask is to be chosen, in the transposed one.
func (e *Encoder) place(t *template, transposed bool) {
	e.data = grow(e.data, len(t.base))
	copy(e.data, t.base)
	placeBits(e.data, t.data, e.codewords)
	if transposed {
		e.dataT = grow(e.dataT, len(t.baseT))
		copy(e.dataT, t.baseT)
		placeBits(e.dataT, t.dataT, e.codewords)
	}
}

// placeBits sets in b the bits at pos of the set bits of codewords, bit 7
// of the first codeword first.
func placeBits(b []uint64, pos []uint32, codewords []byte) {
	for i, c := range codewords {
		p := pos[i*8 : i*8+8 : i*8+8]
		for c != 0 {
			k := bits.LeadingZeros8(c)
			b[p[k]>>6] |= 1 << (p[k] & 63)
			c &^= 0x80 >> k
		}
	}
}

// apply writes into the rows of dst (padded layout, whose padding rows must
// be light) the unmasked layout src with mask pattern mk and the format bits
// f at positions fp.
func apply(dst, src, mk []uint64, t *template, f int, fp *[15][2]uint32) {
	off := t.pad * t.stride
	d := dst[off : off+len(mk)] // the padding rows stay light
	s := src[off : off+len(mk)]
	for i := range d {
		d[i] = s[i] ^ mk[i]
	}
	for i := range fp {
		bit := uint64(f>>i) & 1
		p, q := fp[i][0], fp[i][1]
		dst[p>>6] |= bit << (p & 63)
		dst[q>>6] |= bit << (q & 63)
	}
}

// chooseMask returns the mask with the lowest penalty, the lowest-numbered
// one on ties (as the reference does).
func (e *Encoder) chooseMask(t *template, l Level) int {
	e.work = grow(e.work, len(e.data))
	e.workT = grow(e.workT, len(e.dataT))
	clear(e.work)
	clear(e.workT)
	e.col = grow(e.col, len(e.data)/t.stride)
	best, bestPenalty := 0, int(^uint(0)>>1)
	for m := range 8 {
		f := formatBits(l, m)
		// The parts of the penalty are not negative, so a mask is dropped
		// as soon as its partial sum reaches the best so far.
		apply(e.work, e.data, t.mask[m], t, f, &t.format)
		p := blockBalancePenalty(e.work, t)
		if p >= bestPenalty {
			continue
		}
		if p += linePenalty(e.work, t, e.col); p >= bestPenalty {
			continue
		}
		apply(e.workT, e.dataT, t.maskT[m], t, f, &t.formatT)
		if p += linePenalty(e.workT, t, e.col); p < bestPenalty {
			best, bestPenalty = m, p
		}
	}
	return best
}

// render writes the final symbol into m.
func (e *Encoder) render(m *Matrix, t *template, l Level, mask int) {
	e.work = grow(e.work, len(e.data))
	clear(e.work)
	apply(e.work, e.data, t.mask[mask], t, formatBits(l, mask), &t.format)
	m.size, m.stride = t.size, t.stride
	m.bits = grow(m.bits, t.size*t.stride)
	off := t.pad * t.stride
	copy(m.bits, e.work[off:off+len(m.bits)])
}

// grow returns b resliced to n elements, reallocated when too small.
func grow[T any](b []T, n int) []T {
	if cap(b) < n {
		return make([]T, n)
	}
	return b[:n]
}
