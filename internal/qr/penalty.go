package qr

import "math/bits"

// Penalty weights of ISO/IEC 18004 section 7.8.3.
const (
	penaltyN1 = 3  // a run of five same-coloured modules, +1 per extra module
	penaltyN2 = 3  // a 2×2 block of one colour
	penaltyN3 = 40 // a finder-like 1:1:3:1:1 pattern with four light modules on a side
	penaltyN4 = 10 // per 5% the dark share is away from 50%
)

// The penalty is computed bit-parallel: each word holds up to 64 columns of
// one row, and the checks of rules 1 and 3 walk down the rows, so one word
// operation checks 64 columns at once. Runs along rows are checked the same
// way on the transposed symbol. The rules are read as Nayuki's reference
// reads them (and as its auto mask choice depends on): rule 3 counts the
// pattern at every scale n (runs n, n, 3n, n, n) bounded by a light run of at
// least 4n on one side and at least n on the other, the outside of the
// symbol counting as light.

// linePenalty returns the penalty of rules 1 and 3 along the columns of the
// padded layout b. col is scratch of len(b)/stride words.
func linePenalty(b []uint64, t *template, col []uint64) int {
	size, stride, pad := t.size, t.stride, t.pad
	p := 0
	for w := range stride {
		cm := t.colMask[w]
		c := b
		if stride > 1 {
			for i := range col {
				col[i] = b[i*stride+w]
			}
			c = col
		}
		c = c[:size+2*pad]
		// Rule 1: w5 marks columns where rows y..y+4 have one colour. A run
		// of length k ≥ 5 has k-4 such windows and one start: k-4+2 = k-2.
		// Two windows in a row that start a dark run mark a dark run of six
		// or more: the only places a finder-like pattern of scale n ≥ 2
		// (centre run 3n) can be; they are rare and checked one by one.
		n3 := 0
		var prev uint64
		e0 := ^(c[pad] ^ c[pad+1])
		e1 := ^(c[pad+1] ^ c[pad+2])
		e2 := ^(c[pad+2] ^ c[pad+3])
		for y := pad; y+4 < pad+size; y++ {
			e3 := ^(c[y+3] ^ c[y+4])
			w5 := e0 & e1 & e2 & e3 & cm
			p += bits.OnesCount64(w5) + 2*bits.OnesCount64(w5&^prev)
			if dark6 := prev & w5 & c[y-1] &^ c[y-2]; dark6 != 0 {
				// Keep runs of 6 or ≥ 9 with two light modules before and,
				// for 6, after: this drops the finder patterns' runs of 7.
				s := y - 1
				dark6 &^= c[s-2]
				dark6 &= ^(c[s+6] | c[s+7]) | c[s+6]&c[s+7]&c[s+8]
				if dark6 != 0 {
					n3 += scaledFinders(c, dark6, s, size, pad)
				}
			}
			prev = w5
			e0, e1, e2 = e1, e2, e3
		}
		// Rule 3 at scale 1.
		for y := pad; y+7 <= pad+size; y++ {
			r := c[y-4 : y+11 : y+11] // r[4+i] is row y+i
			core := r[4] & r[6] & r[7] & r[8] & r[10] &^ (r[3] | r[5] | r[9] | r[11]) & cm
			if core == 0 {
				continue
			}
			after := ^(r[11] | r[12] | r[13] | r[14])
			before := ^(r[0] | r[1] | r[2] | r[3])
			n3 += bits.OnesCount64(core&after) + bits.OnesCount64(core&before)
		}
		p += n3 * penaltyN3
	}
	return p
}

// scaledFinders counts the finder-like patterns of scale n ≥ 2 whose centre
// is a dark run starting at row s in the columns set in starts: the run must
// be 3n long, with light n, dark n before it and light n, dark n after it,
// then light runs of at least n on one side and 4n on the other.
func scaledFinders(c []uint64, starts uint64, s, size, pad int) int {
	count := 0
	for ; starts != 0; starts &= starts - 1 {
		x := uint(bits.TrailingZeros64(starts))
		dark := func(y int) bool { return c[y]>>x&1 == 1 }
		// runs returns whether rows [from, from+n) all have colour d.
		runs := func(from, n int, d bool) bool {
			for y := from; y < from+n; y++ {
				if dark(y) != d {
					return false
				}
			}
			return true
		}
		l := 6
		for dark(s + l) {
			l++
		}
		n := l / 3
		y0 := s - 2*n // first row of the pattern
		if l%3 != 0 || y0 < pad || y0+7*n > pad+size {
			continue
		}
		if !runs(y0, n, true) || !runs(y0+n, n, false) || dark(y0-1) ||
			!runs(y0+5*n, n, false) || !runs(y0+6*n, n, true) || dark(y0+7*n) {
			continue
		}
		beforeN, afterN := runs(y0-n, n, false), runs(y0+7*n, n, false)
		if afterN && beforeN && runs(y0+7*n, 4*n, false) {
			count++
		}
		if afterN && beforeN && runs(y0-4*n, 4*n, false) {
			count++
		}
	}
	return count
}

// blockBalancePenalty returns the penalty of rules 2 and 4 of the padded
// row-major layout b.
func blockBalancePenalty(b []uint64, t *template) int {
	size, stride, pad := t.size, t.stride, t.pad
	blocks, dark := 0, 0
	b = b[pad*stride : (pad+size)*stride]
	if stride == 1 {
		m := uint64(1)<<(size-1) - 1 // columns where a block can start
		a := b[0]
		for _, c := range b[1:] {
			dark += bits.OnesCount64(a)
			d := a ^ c // where the row below differs
			blocks += bits.OnesCount64(^(d | d>>1 | (a ^ a>>1)) & m)
			a = c
		}
		dark += bits.OnesCount64(a)
	} else {
		for y := range size {
			r0 := b[y*stride : y*stride+stride]
			for _, w := range r0 {
				dark += bits.OnesCount64(w)
			}
			if y+1 == size {
				break
			}
			r1 := b[(y+1)*stride : (y+1)*stride+stride]
			for w := range stride {
				a, d := r0[w], r0[w]^r1[w]
				var an, dn uint64 // the next word's first column, shifted in
				if w+1 < stride {
					an, dn = r0[w+1]<<63, (r0[w+1]^r1[w+1])<<63
				}
				m := ^uint64(0)
				if last := size - 2 - w*64; last < 63 { // last block start in this word
					m = uint64(1)<<(last+1) - 1
					if last < 0 {
						m = 0
					}
				}
				blocks += bits.OnesCount64(^(d | d>>1 | dn | (a ^ (a>>1 | an))) & m)
			}
		}
	}
	total := size * size
	k := (abs(dark*20-total*10)+total-1)/total - 1
	return blocks*penaltyN2 + k*penaltyN4
}
