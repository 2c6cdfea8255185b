package decode

import (
	"encoding/binary"
	"sync"
	"sync/atomic"

	"github.com/makiuchi-d/gozxing"
)

// Block geometry of ZXing's HybridBinarizer: 8×8-pixel blocks, thresholds
// averaged over 5×5 blocks, blocks with a range of 24 or less taken as flat.
const (
	hybridBlock    = 8
	hybridMinSide  = 5 * hybridBlock
	hybridMinRange = 24
)

// binarizer holds the buffers the hybrid binarization reuses from one pass
// to the next, and the block statistics of the last plane it binarized
// (its positive and negative passes share them).
type binarizer struct {
	statsOf *gray
	sum     []int   // block sums, row-major
	lo, hi  []uint8 // block minimum and maximum
	black   []int   // block black points
	thr     []int   // block thresholds
	col     []int   // column sums of five block rows
	row     *gozxing.BitArray
}

// hybrid binarizes l exactly as gozxing's HybridBinarizer does (local
// thresholds from 8×8 blocks averaged over their 5×5 neighbourhood), on the
// negative of l when inverted, but without its per-pixel calls: the pass
// cost of the first round is mostly this. Planes smaller than 40 pixels a
// side get the global-histogram binarization (global), as in ZXing.
func (bz *binarizer) hybrid(l *gray, inverted bool) (*gozxing.BitMatrix, error) {
	w, h := l.w, l.h
	if w < hybridMinSide || h < hybridMinSide {
		return bz.global(l, inverted)
	}
	sw, sh := (w+hybridBlock-1)/hybridBlock, (h+hybridBlock-1)/hybridBlock
	maxX, maxY := w-hybridBlock, h-hybridBlock
	bz.blockStats(l, sw, sh)
	if cap(bz.black) < sw*sh {
		bz.black = make([]int, sw*sh)
	}
	bp := bz.black[:sw*sh]
	for i := range bp {
		// The negative's statistics follow from the image's.
		sum, lo, hi := bz.sum[i], int(bz.lo[i]), int(bz.hi[i])
		if inverted {
			sum, lo, hi = 64*255-sum, 255-hi, 255-lo
		}
		avg := sum >> 6
		if hi-lo <= hybridMinRange {
			avg = lo / 2
			if by, bx := i/sw, i%sw; by > 0 && bx > 0 {
				nb := (bp[i-sw] + 2*bp[i-1] + bp[i-sw-1]) / 4
				if lo < nb {
					avg = nb
				}
			}
		}
		bp[i] = avg
	}
	// The threshold of each block: the mean black point of the 5×5 blocks
	// around it (clamped at the edges).
	if cap(bz.thr) < sw*sh {
		bz.thr = make([]int, sw*sh)
	}
	thr := bz.thr[:sw*sh]
	// Column sums of the five block rows first, then five of them.
	if cap(bz.col) < sw {
		bz.col = make([]int, sw)
	}
	col := bz.col[:sw]
	for by := 0; by < sh; by++ {
		top := min(max(by, 2), sh-3)
		r0 := bp[(top-2)*sw : (top-1)*sw]
		r1 := bp[(top-1)*sw : top*sw]
		r2 := bp[top*sw : (top+1)*sw]
		r3 := bp[(top+1)*sw : (top+2)*sw]
		r4 := bp[(top+2)*sw : (top+3)*sw]
		for x := range col {
			col[x] = r0[x] + r1[x] + r2[x] + r3[x] + r4[x]
		}
		for bx := 0; bx < sw; bx++ {
			left := min(max(bx, 2), sw-3)
			c := col[left-2 : left+3]
			t := (c[0] + c[1] + c[2] + c[3] + c[4]) / 25
			if inverted {
				// 255-p <= t  ⟺  p >= 255-t  ⟺  p > 254-t
				t = 254 - t
			}
			thr[by*sw+bx] = t
		}
	}
	m, err := newBitMatrix(w, h)
	if err != nil {
		return nil, err
	}
	words := bz.rowWords(w)
	// Pixel row y lies in block row y/8 and, when the height is not a
	// multiple of 8, the last rows also in the last block row (which starts
	// at h-8): a pixel is dark when any block covering it says so, as with
	// gozxing's set-only thresholding. Columns overlap the same way.
	last := sh - 1
	for y := 0; y < h; y++ {
		clear(words)
		src := l.pix[y*w : (y+1)*w]
		by := min(y/hybridBlock, last)
		bz.thresholdRow(words, src, thr[by*sw:(by+1)*sw], maxX, inverted)
		if y >= maxY && by != last {
			bz.thresholdRow(words, src, thr[last*sw:(last+1)*sw], maxX, inverted)
		}
		m.SetRow(y, bz.row)
	}
	return m, nil
}

// blockStats computes the sum, minimum and maximum of every 8×8 block of
// l (the last row and column of blocks flush with the far edges), unless
// they are those of l already. A block whose range is above hybridMinRange
// gets 0 and 255 (all hybrid needs to know of it) when a column of it
// shows that already.
func (bz *binarizer) blockStats(l *gray, sw, sh int) {
	if bz.statsOf == l {
		return
	}
	n := sw * sh
	if cap(bz.sum) < n {
		bz.sum, bz.lo, bz.hi = make([]int, n), make([]uint8, n), make([]uint8, n)
	}
	bz.sum, bz.lo, bz.hi = bz.sum[:n], bz.lo[:n], bz.hi[:n]
	w := l.w
	maxX, maxY := w-hybridBlock, l.h-hybridBlock
	for by := 0; by < sh; by++ {
		y0 := min(by*hybridBlock, maxY)
		for bx := 0; bx < sw; bx++ {
			x0 := min(bx*hybridBlock, maxX)
			// Eight pixels at a time: sums in 16-bit lanes, minimum and
			// maximum byte by byte down the block's rows, then across.
			o := y0*w + x0
			lo := binary.LittleEndian.Uint64(l.pix[o:])
			hi := lo
			even, odd := lo&0x00ff00ff00ff00ff, lo>>8&0x00ff00ff00ff00ff
			o += w
			for yy := 1; yy < hybridBlock; yy, o = yy+1, o+w {
				v := binary.LittleEndian.Uint64(l.pix[o:])
				even += v & 0x00ff00ff00ff00ff
				odd += v >> 8 & 0x00ff00ff00ff00ff
				ge := bytesGE(v, hi)
				hi = hi&^ge | v&ge
				ge = bytesGE(v, lo)
				lo = lo&ge | v&^ge
			}
			lanes := even + odd // four 16-bit lanes, each at most 8·2·255
			i := by*sw + bx
			bz.sum[i] = int(lanes * 0x0001000100010001 >> 48)
			// A column of pixels with a range above hybridMinRange
			// makes the block's range larger too: its minimum and
			// maximum are then not needed, only that range (hi ≥ lo
			// byte by byte: no borrow; bit 7 of each byte of rng is set
			// where d ≥ 128 or its low seven bits are 25 or more).
			d := hi - lo
			if rng := ((d & 0x7f7f7f7f7f7f7f7f) + (0x80-hybridMinRange-1)*0x0101010101010101 | d) & 0x8080808080808080; rng != 0 {
				bz.lo[i], bz.hi[i] = 0, 255
				continue
			}
			bz.lo[i], bz.hi[i] = minByte(lo), maxByte(hi)
		}
	}
	bz.statsOf = l
}

// bytesGE returns 0xff in each byte where a's byte is at least b's, 0
// elsewhere.
func bytesGE(a, b uint64) uint64 {
	const h = 0x8080808080808080
	// Low seven bits compared by subtraction with a guard bit (no borrow
	// crosses bytes), the top bits directly.
	t := (a | h) - (b &^ h)
	ge := (a&^b | ^(a^b)&t) & h
	return ge >> 7 * 0xff
}

func minByte(v uint64) uint8 {
	m := uint8(v)
	for i := 8; i < 64; i += 8 {
		m = min(m, uint8(v>>uint(i)))
	}
	return m
}

func maxByte(v uint64) uint8 {
	m := uint8(v)
	for i := 8; i < 64; i += 8 {
		m = max(m, uint8(v>>uint(i)))
	}
	return m
}

// rowWords returns the words of bz.row, the row buffer a binarizer fills
// and copies into its matrix row by row, sized for rows of w pixels.
func (bz *binarizer) rowWords(w int) []uint32 {
	if bz.row == nil || bz.row.GetSize() != w {
		bz.row = gozxing.NewBitArray(w)
	}
	return bz.row.GetBitArray()[:(w+31)/32]
}

// thresholdRow sets in words the pixels of src at or below the thresholds
// of their block columns or, inverted, above them (thr then holds 254-t
// for the negative's threshold t).
func (bz *binarizer) thresholdRow(words []uint32, src []byte, thr []int, maxX int, inverted bool) {
	var flip uint64
	if inverted {
		flip = ^uint64(0)
	}
	// The blocks aligned on eight pixels, without a per-block test for
	// the last one.
	full := min(len(thr), maxX/hybridBlock+1)
	// Four blocks make a word, gathered in a register and stored once.
	var acc uint32
	for bx := 0; bx < full; bx++ {
		x0 := bx * hybridBlock
		t := thr[bx]
		// p <= t byte by byte, gathered into one bit per pixel. (t is
		// -1 for a negative's threshold of 255: every pixel above it.)
		var le uint64
		if t >= 0 {
			le = bytesGE(uint64(t)*0x0101010101010101, binary.LittleEndian.Uint64(src[x0:]))
		}
		le ^= flip
		b := uint32((le & 0x8080808080808080) * 0x0002040810204081 >> 56)
		acc |= b << uint(x0&31)
		if bx&3 == 3 {
			words[bx>>2] |= acc
			acc = 0
		}
	}
	if full&3 != 0 {
		words[(full-1)>>2] |= acc
	}
	if full < len(thr) {
		// The last block, flush with the right edge: not aligned.
		t := thr[len(thr)-1]
		for x := maxX; x < maxX+hybridBlock; x++ {
			if (int(src[x]) <= t) != inverted {
				words[x>>5] |= 1 << uint(x&31)
			}
		}
	}
}

// global binarizes l as gozxing's GlobalHistogramBinarizer does (one black
// point from a histogram of four rows' middle three fifths), on the negative
// of l when inverted, with the thresholding done eight pixels at a time.
func (bz *binarizer) global(l *gray, inverted bool) (*gozxing.BitMatrix, error) {
	w, h := l.w, l.h
	m, err := newBitMatrix(w, h)
	if err != nil {
		return nil, err
	}
	var buckets [gozxing.LUMINANCE_BUCKETS]int
	for y := 1; y < 5; y++ {
		row := l.pix[(h*y/5)*w : (h*y/5+1)*w]
		for _, p := range row[w/5 : w*4/5] {
			if inverted {
				p = 255 - p
			}
			buckets[p>>gozxing.LUMINANCE_SHIFT]++
		}
	}
	black, ok := estimateBlackPoint(buckets[:])
	if !ok {
		return nil, gozxing.NewNotFoundException()
	}
	// Dark when p < black, or for the negative 255-p < black, that is
	// p > 255-black: thresholdRow's two tests.
	t := black - 1
	if inverted {
		t = 255 - black
	}
	sw := (w + hybridBlock - 1) / hybridBlock
	if cap(bz.thr) < sw {
		bz.thr = make([]int, sw)
	}
	thr := bz.thr[:sw]
	for i := range thr {
		thr[i] = t
	}
	words := bz.rowWords(w)
	maxX := w - hybridBlock
	for y := 0; y < h; y++ {
		clear(words)
		src := l.pix[y*w : (y+1)*w]
		if w < hybridBlock {
			for x, p := range src {
				if (int(p) <= t) != inverted {
					words[x>>5] |= 1 << uint(x&31)
				}
			}
		} else {
			bz.thresholdRow(words, src, thr, maxX, inverted)
		}
		m.SetRow(y, bz.row)
	}
	return m, nil
}

// Recycling of binarizers and bit matrices from one scan to the next (see
// planePools): a scan takes a binarizer with getBinarizer and hands it and
// its matrices back with put when its passes end.
var (
	binarizerPool sync.Pool
	matrixPools   sync.Map // [2]int{w, h} → *sync.Pool of *gozxing.BitMatrix
	// matrixSizes counts the keys of matrixPools: at most maxMatrixSizes
	// sizes are pooled, so a stream of photos of ever new sizes (a client
	// choosing them) cannot grow the map without bound.
	matrixSizes atomic.Int32
)

const maxMatrixSizes = 256

func getBinarizer() *binarizer {
	if bz, _ := binarizerPool.Get().(*binarizer); bz != nil {
		return bz
	}
	return new(binarizer)
}

// put hands bz back for reuse, with the matrices binarized by it, which
// nothing may use any more.
func (bz *binarizer) put(ms []*gozxing.BitMatrix) {
	bz.statsOf = nil
	binarizerPool.Put(bz)
	for _, m := range ms {
		key := [2]int{m.GetWidth(), m.GetHeight()}
		p, ok := matrixPools.Load(key)
		if !ok {
			if matrixSizes.Load() >= maxMatrixSizes {
				continue // a size not pooled: the garbage collector takes it
			}
			var loaded bool
			if p, loaded = matrixPools.LoadOrStore(key, new(sync.Pool)); !loaded {
				matrixSizes.Add(1)
			}
		}
		p.(*sync.Pool).Put(m)
	}
}

// newBitMatrix returns a w×h matrix, recycled when one of that size is
// free: its bits are then not cleared, which the binarizers need not (they
// set every row whole).
func newBitMatrix(w, h int) (*gozxing.BitMatrix, error) {
	if p, ok := matrixPools.Load([2]int{w, h}); ok {
		if m, _ := p.(*sync.Pool).Get().(*gozxing.BitMatrix); m != nil {
			return m, nil
		}
	}
	return gozxing.NewBitMatrix(w, h)
}

// estimateBlackPoint is GlobalHistogramBinarizer.estimateBlackPoint: the
// deepest valley between the two highest peaks of the histogram, none when
// the peaks are too close (a flat image).
func estimateBlackPoint(buckets []int) (int, bool) {
	n := len(buckets)
	maxCount, first, firstSize := 0, 0, 0
	for x, c := range buckets {
		if c > firstSize {
			first, firstSize = x, c
		}
		maxCount = max(maxCount, c)
	}
	second, secondScore := 0, 0
	for x, c := range buckets {
		d := x - first
		if score := c * d * d; score > secondScore {
			second, secondScore = x, score
		}
	}
	if first > second {
		first, second = second, first
	}
	if second-first <= n/16 {
		return 0, false
	}
	valley, valleyScore := second-1, -1
	for x := second - 1; x > first; x-- {
		d := x - first
		if score := d * d * (second - x) * (maxCount - buckets[x]); score > valleyScore {
			valley, valleyScore = x, score
		}
	}
	return valley << gozxing.LUMINANCE_SHIFT, true
}
