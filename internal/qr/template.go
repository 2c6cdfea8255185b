package qr

import "sync"

// template is everything about a version that does not depend on the data:
// the function patterns, where each codeword bit goes, the mask patterns
// and where the format bits go. Penalty evaluation reads each symbol in two
// layouts, row-major and transposed, both padded with pad light rows above
// and below so that run checks near the edges need no bounds tests.
type template struct {
	version, size, stride, pad int
	// base and baseT are the function patterns (version information and the
	// dark module included, format information light) in the padded
	// row-major and transposed layouts.
	base, baseT []uint64
	// mask[m] and maskT[m] are mask pattern m restricted to the modules that
	// are not function patterns, unpadded (size*stride words).
	mask, maskT [8][]uint64
	// data and dataT are the padded-layout bit indexes of the codeword
	// modules, in placement order (rawDataModules entries).
	data, dataT []uint32
	// format[i] and formatT[i] are the bit indexes of the two modules of
	// format bit i in either layout.
	format, formatT [15][2]uint32
	// colMask has the bits of the columns that exist set, per word.
	colMask []uint64
}

var templates [MaxVersion + 1]struct {
	once sync.Once
	t    *template
}

// templateFor returns the template of version v, building it on first use.
func templateFor(v int) *template {
	e := &templates[v]
	e.once.Do(func() { e.t = newTemplate(v) })
	return e.t
}

// maskDark reports whether mask pattern m inverts module (x, y).
func maskDark(m, x, y int) bool {
	switch m {
	case 0:
		return (x+y)%2 == 0
	case 1:
		return y%2 == 0
	case 2:
		return x%3 == 0
	case 3:
		return (x+y)%3 == 0
	case 4:
		return (x/3+y/2)%2 == 0
	case 5:
		return x*y%2+x*y%3 == 0
	case 6:
		return (x*y%2+x*y%3)%2 == 0
	default:
		return ((x+y)%2+x*y%3)%2 == 0
	}
}

func newTemplate(v int) *template {
	size := Size(v)
	t := &template{version: v, size: size, stride: (size + 63) / 64, pad: 4 * (size / 7)}
	fn := NewMatrix(size)  // function modules
	pat := NewMatrix(size) // their colours
	set := func(x, y int, dark bool) {
		fn.Set(x, y, true)
		pat.Set(x, y, dark)
	}
	for i := range size {
		set(6, i, i%2 == 0)
		set(i, 6, i%2 == 0)
	}
	for _, c := range [3][2]int{{3, 3}, {size - 4, 3}, {3, size - 4}} {
		for dy := -4; dy <= 4; dy++ {
			for dx := -4; dx <= 4; dx++ {
				x, y := c[0]+dx, c[1]+dy
				if x >= 0 && y >= 0 && x < size && y < size {
					d := max(abs(dx), abs(dy))
					set(x, y, d != 2 && d != 4)
				}
			}
		}
	}
	align := alignmentPositions(v)
	n := len(align)
	for i, ax := range align {
		for j, ay := range align {
			if i == 0 && j == 0 || i == 0 && j == n-1 || i == n-1 && j == 0 {
				continue
			}
			for dy := -2; dy <= 2; dy++ {
				for dx := -2; dx <= 2; dx++ {
					set(ax+dx, ay+dy, max(abs(dx), abs(dy)) != 1)
				}
			}
		}
	}
	// Format information: reserved light here, written per symbol.
	for i, p := range formatPositions(size) {
		for c, xy := range p {
			set(xy[0], xy[1], false)
			t.format[i][c] = t.bitIndex(xy[0], xy[1])
			t.formatT[i][c] = t.bitIndex(xy[1], xy[0])
		}
	}
	set(8, size-8, true) // the dark module
	if v >= 7 {
		bits := versionBits(v)
		for i := range 18 {
			dark := bits>>i&1 == 1
			a, b := size-11+i%3, i/3
			set(a, b, dark)
			set(b, a, dark)
		}
	}

	rows := size + 2*t.pad
	t.base = make([]uint64, rows*t.stride)
	t.baseT = make([]uint64, rows*t.stride)
	for y := range size {
		for x := range size {
			if pat.Dark(x, y) {
				t.setBit(t.base, t.bitIndex(x, y))
				t.setBit(t.baseT, t.bitIndex(y, x))
			}
		}
	}
	for m := range t.mask {
		t.mask[m] = make([]uint64, size*t.stride)
		t.maskT[m] = make([]uint64, size*t.stride)
		for y := range size {
			for x := range size {
				if !fn.Dark(x, y) && maskDark(m, x, y) {
					t.setBit(t.mask[m], uint32(y*t.stride*64+x))
					t.setBit(t.maskT[m], uint32(x*t.stride*64+y))
				}
			}
		}
	}
	t.colMask = make([]uint64, t.stride)
	for x := range size {
		t.colMask[x>>6] |= 1 << (x & 63)
	}

	// The zigzag: column pairs from the right, alternately upwards and
	// downwards, skipping the vertical timing pattern.
	t.data = make([]uint32, 0, rawDataModules(v))
	t.dataT = make([]uint32, 0, rawDataModules(v))
	for right := size - 1; right >= 1; right -= 2 {
		if right == 6 {
			right = 5
		}
		upward := (right+1)&2 == 0
		for vert := range size {
			y := vert
			if upward {
				y = size - 1 - vert
			}
			for j := range 2 {
				x := right - j
				if !fn.Dark(x, y) {
					t.data = append(t.data, t.bitIndex(x, y))
					t.dataT = append(t.dataT, t.bitIndex(y, x))
				}
			}
		}
	}
	return t
}

// bitIndex returns the bit index of module (x, y) in the padded layout.
func (t *template) bitIndex(x, y int) uint32 {
	return uint32(((y+t.pad)*t.stride+x>>6)<<6 | x&63)
}

func (t *template) setBit(b []uint64, i uint32) { b[i>>6] |= 1 << (i & 63) }

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

// formatPositions returns, for each of the 15 format bits (bit 0 the least
// significant), the (x, y) of its two copies.
func formatPositions(size int) (p [15][2][2]int) {
	for i := range 15 {
		switch {
		case i < 6:
			p[i][0] = [2]int{8, i}
		case i == 6:
			p[i][0] = [2]int{8, 7}
		case i == 7:
			p[i][0] = [2]int{8, 8}
		case i == 8:
			p[i][0] = [2]int{7, 8}
		default:
			p[i][0] = [2]int{14 - i, 8}
		}
		if i < 8 {
			p[i][1] = [2]int{size - 1 - i, 8}
		} else {
			p[i][1] = [2]int{8, size - 15 + i}
		}
	}
	return p
}

// formatBits returns the 15-bit format information of level l and mask m,
// BCH-protected and XOR-ed with 0x5412.
func formatBits(l Level, m int) int { return int(formatTable[l][m]) }

var formatTable = func() (t [4][8]uint16) {
	for l := range t {
		for m := range t[l] {
			t[l][m] = uint16(computeFormatBits(Level(l), m))
		}
	}
	return t
}()

func computeFormatBits(l Level, m int) int {
	data := l.formatBits()<<3 | m
	rem := data
	for range 10 {
		rem = rem<<1 ^ (rem>>9)*0x537
	}
	return (data<<10 | rem) ^ 0x5412
}

// versionBits returns the 18-bit version information of version v ≥ 7.
func versionBits(v int) int {
	rem := v
	for range 12 {
		rem = rem<<1 ^ (rem>>11)*0x1F25
	}
	return v<<12 | rem
}
