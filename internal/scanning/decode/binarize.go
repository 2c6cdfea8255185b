package decode

import (
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
// to the next.
type binarizer struct {
	black []int    // block black points, row-major
	thr   []int    // block thresholds, row-major
	words []uint32 // one matrix row
	row   *gozxing.BitArray
}

// hybrid binarizes l exactly as gozxing's HybridBinarizer does (local
// thresholds from 8×8 blocks averaged over their 5×5 neighbourhood), on the
// negative of l when inverted, but without its per-pixel calls: the pass
// cost of the first round is mostly this. Planes smaller than 40 pixels a
// side go to gozxing's GlobalHistogramBinarizer, as in ZXing.
func (bz *binarizer) hybrid(l *gray, inverted bool) (*gozxing.BitMatrix, error) {
	w, h := l.w, l.h
	if w < hybridMinSide || h < hybridMinSide {
		var src gozxing.LuminanceSource = &lumSource{g: l}
		if inverted {
			src = src.Invert()
		}
		return gozxing.NewGlobalHistgramBinarizer(src).GetBlackMatrix()
	}
	flip := 0
	if inverted {
		flip = 0xff
	}
	sw, sh := (w+hybridBlock-1)/hybridBlock, (h+hybridBlock-1)/hybridBlock
	if cap(bz.black) < sw*sh {
		bz.black = make([]int, sw*sh)
	}
	bp := bz.black[:sw*sh]
	pix := l.pix
	maxX, maxY := w-hybridBlock, h-hybridBlock
	for by := 0; by < sh; by++ {
		y0 := min(by*hybridBlock, maxY)
		for bx := 0; bx < sw; bx++ {
			x0 := min(bx*hybridBlock, maxX)
			sum, lo, hi := 0, 0xff, 0
			for yy := 0; yy < hybridBlock; yy++ {
				row := pix[(y0+yy)*w+x0 : (y0+yy)*w+x0+hybridBlock]
				for _, v := range row {
					p := int(v) ^ flip
					sum += p
					lo = min(lo, p)
					hi = max(hi, p)
				}
			}
			avg := sum >> 6
			if hi-lo <= hybridMinRange {
				avg = lo / 2
				if by > 0 && bx > 0 {
					nb := (bp[(by-1)*sw+bx] + 2*bp[by*sw+bx-1] + bp[(by-1)*sw+bx-1]) / 4
					if lo < nb {
						avg = nb
					}
				}
			}
			bp[by*sw+bx] = avg
		}
	}
	// The threshold of each block: the mean black point of the 5×5 blocks
	// around it (clamped at the edges).
	if cap(bz.thr) < sw*sh {
		bz.thr = make([]int, sw*sh)
	}
	thr := bz.thr[:sw*sh]
	for by := 0; by < sh; by++ {
		top := min(max(by, 2), sh-3)
		for bx := 0; bx < sw; bx++ {
			left := min(max(bx, 2), sw-3)
			s := 0
			for z := -2; z <= 2; z++ {
				r := bp[(top+z)*sw+left-2 : (top+z)*sw+left+3]
				s += r[0] + r[1] + r[2] + r[3] + r[4]
			}
			thr[by*sw+bx] = s / 25
		}
	}
	m, err := gozxing.NewBitMatrix(w, h)
	if err != nil {
		return nil, err
	}
	if bz.row == nil || bz.row.GetSize() != w {
		bz.row = gozxing.NewBitArray(w)
	}
	words := bz.row.GetBitArray()[:(w+31)/32]
	// Pixel row y lies in block row y/8 and, when the height is not a
	// multiple of 8, the last rows also in the last block row (which starts
	// at h-8): a pixel is dark when any block covering it says so, as with
	// gozxing's set-only thresholding. Columns overlap the same way.
	last := sh - 1
	for y := 0; y < h; y++ {
		clear(words)
		src := pix[y*w : (y+1)*w]
		by := min(y/hybridBlock, last)
		bz.thresholdRow(words, src, thr[by*sw:(by+1)*sw], maxX, flip)
		if y >= maxY && by != last {
			bz.thresholdRow(words, src, thr[last*sw:(last+1)*sw], maxX, flip)
		}
		m.SetRow(y, bz.row)
	}
	return m, nil
}

// thresholdRow sets in words the pixels of src at or below the thresholds
// of their block columns.
func (bz *binarizer) thresholdRow(words []uint32, src []byte, thr []int, maxX, flip int) {
	for bx, t := range thr {
		x0 := min(bx*hybridBlock, maxX)
		for x := x0; x < x0+hybridBlock; x++ {
			if int(src[x])^flip <= t {
				words[x>>5] |= 1 << uint(x&31)
			}
		}
	}
}
