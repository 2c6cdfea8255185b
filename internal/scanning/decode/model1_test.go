package decode

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/makiuchi-d/gozxing"
	"github.com/makiuchi-d/gozxing/common/reedsolomon"
)

// model1Capacity is the number of codewords a Model 1 symbol of each
// version holds. A few version/level pairs of model1Blocks leave one to four
// of them over (remainder codewords).
var model1Capacity = [14]int{26, 46, 72, 100, 134, 170, 212, 256, 306, 358, 416, 476, 542, 610}

// model1Places lists, in placement order, the modules model1Codewords reads
// for a d×d symbol.
func model1Places(d int) [][2]int {
	var places [][2]int
	model1Codewords(nil, func(x, y int) bool {
		places = append(places, [2]int{x, y})
		return false
	}, d, 0)
	return places
}

// TestModel1Layout checks the codeword placement of every Model 1 version:
// modules for whole codewords, enough for every level's blocks, each read
// once, inside the symbol, none on a finder pattern, separator, format
// information or timing pattern.
func TestModel1Layout(t *testing.T) {
	t.Parallel()
	for v := 1; v <= 14; v++ {
		d := 17 + 4*v
		places := model1Places(d)
		if len(places) != 8*model1Capacity[v-1] {
			t.Fatalf("version %d: %d modules placed, want %d codewords", v, len(places), model1Capacity[v-1])
		}
		for level, b := range model1Blocks[v-1] {
			if n := b[1] * (b[0] + b[2]); n > model1Capacity[v-1] || n < model1Capacity[v-1]-4 {
				t.Fatalf("version %d: level %d has %d codewords, the symbol %d", v, level, n, model1Capacity[v-1])
			}
		}
		seen := make(map[[2]int]bool)
		for _, p := range places {
			x, y := p[0], p[1]
			switch {
			case x < 0 || y < 0 || x >= d || y >= d:
				t.Fatalf("version %d: module %v outside the symbol", v, p)
			case seen[p]:
				t.Fatalf("version %d: module %v read twice", v, p)
			case x < 9 && y < 9, x >= d-8 && y < 9, x < 9 && y >= d-8:
				t.Fatalf("version %d: module %v on a finder pattern or format information", v, p)
			case x == 6 || y == 6:
				t.Fatalf("version %d: module %v on a timing pattern", v, p)
			}
			seen[p] = true
		}
	}
}

// model1Symbol writes text as a QR Model 1 symbol (byte mode) of the given
// version, level index (0 L … 3 H) and mask, with errs codewords of each
// block corrupted. It writes the modules through model1Codewords' own
// placement, so what it checks is everything around the placement: format
// information, blocks, Reed-Solomon and the bit stream.
func model1Symbol(t *testing.T, text string, version, level, mask, errs int, rng *rand.Rand) *gozxing.BitMatrix {
	t.Helper()
	d := 17 + 4*version
	b := model1Blocks[version-1][level]
	nec, nblocks, ndata := b[0], b[1], b[2]
	countBits := 8
	if version >= 10 {
		countBits = 16
	}
	var stream []bool
	put := func(v, n int) {
		for i := n - 1; i >= 0; i-- {
			stream = append(stream, v>>i&1 == 1)
		}
	}
	put(0, 4) // Model 1's leading zeros
	put(0b0100, 4)
	put(len(text), countBits)
	for i := 0; i < len(text); i++ {
		put(int(text[i]), 8)
	}
	capacity := 8 * nblocks * ndata
	if len(stream) > capacity {
		t.Fatalf("%q does not fit version %d level %d", text, version, level)
	}
	put(0, min(4, capacity-len(stream)))
	for len(stream)%8 != 0 {
		stream = append(stream, false)
	}
	data := make([]byte, 0, nblocks*ndata)
	for i := 0; i < len(stream); i += 8 {
		var c byte
		for _, bit := range stream[i : i+8] {
			c <<= 1
			if bit {
				c |= 1
			}
		}
		data = append(data, c)
	}
	for pad := byte(0xec); len(data) < nblocks*ndata; pad ^= 0xec ^ 0x11 {
		data = append(data, pad)
	}
	enc := reedsolomon.NewReedSolomonEncoder(reedsolomon.GenericGF_QR_CODE_FIELD_256)
	raw := make([]byte, nblocks*(ndata+nec))
	for i := 0; i < nblocks; i++ {
		block := make([]int, ndata+nec)
		for k := 0; k < ndata; k++ {
			block[k] = int(data[i*ndata+k])
		}
		if err := enc.Encode(block, nec); err != nil {
			t.Fatal(err)
		}
		// (Not the first codeword: the reader clears its high nibble,
		// which would take an error there away.)
		for _, k := range rng.Perm(ndata + nec - 1)[:errs] {
			block[k+1] ^= 1 + rng.IntN(255)
		}
		for k := 0; k < ndata; k++ {
			raw[i*ndata+k] = byte(block[k])
		}
		for k := 0; k < nec; k++ {
			raw[nblocks*ndata+i*nec+k] = byte(block[ndata+k])
		}
	}

	bm, _ := gozxing.NewSquareBitMatrix(d)
	set := func(x, y int, dark bool) {
		if bm.Get(x, y) != dark {
			bm.Flip(x, y)
		}
	}
	for _, c := range [][2]int{{0, 0}, {d - 7, 0}, {0, d - 7}} {
		for y := 0; y < 7; y++ {
			for x := 0; x < 7; x++ {
				ring := max(abs(x-3), abs(y-3))
				set(c[0]+x, c[1]+y, ring != 2)
			}
		}
	}
	for i := 8; i < d-8; i++ {
		set(i, 6, i%2 == 0)
		set(6, i, i%2 == 0)
	}
	levelBits := []int{1, 0, 3, 2}[level]
	f := bch15_5(levelBits<<3|mask) ^ model1FormatMask
	bit := 14
	next := func() bool { bit--; return f>>(bit+1)&1 == 1 }
	for x := 0; x < 6; x++ {
		set(x, 8, next())
	}
	set(7, 8, next())
	set(8, 8, next())
	set(8, 7, next())
	for y := 5; y >= 0; y-- {
		set(8, y, next())
	}
	bit = 14
	for y := d - 1; y >= d-7; y-- {
		set(8, y, next())
	}
	for x := d - 8; x < d; x++ {
		set(x, 8, next())
	}
	for i, p := range model1Places(d)[:8*len(raw)] {
		dark := raw[i/8]>>(7-i%8)&1 == 1
		set(p[0], p[1], dark != masked(mask, p[1], p[0]))
	}
	return bm
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

// TestModel1RoundTrip reads Model 1 symbols of every version and level with
// up to the correctable number of errors in each block, normal and
// mirrored, and refuses them with one error more than correctable.
func TestModel1RoundTrip(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(1, 2))
	for v := 1; v <= 14; v++ {
		for level := 0; level < 4; level++ {
			b := model1Blocks[v-1][level]
			text := fmt.Sprintf("MODEL 1 v%d/%d %x", v, level, rng.Uint64())
			text = text[:min(len(text), b[1]*b[2]-4)]
			mask := rng.IntN(8)
			levelName := "LMQH"[level : level+1]
			correctable := (b[0] - reservedEC(v, levelName)) / 2
			for _, mirrored := range []bool{false, true} {
				bm := model1Symbol(t, text, v, level, mask, correctable, rng)
				if mirrored {
					bm = transposed(bm)
				}
				s, err := readSymbol(bm)
				if err != nil {
					t.Fatalf("version %d level %s mask %d mirrored %v: %v", v, levelName, mask, mirrored, err)
				}
				if s.text != text || !s.model1 || s.version != v || s.level != levelName || s.mask != mask || s.mirrored != mirrored {
					t.Fatalf("version %d level %s mask %d mirrored %v: read %q v%d %s mask %d mirrored %v model1 %v",
						v, levelName, mask, mirrored, s.text, s.version, s.level, s.mask, s.mirrored, s.model1)
				}
				if s.errors != correctable*b[1] {
					t.Fatalf("version %d level %s: %d errors corrected, want %d", v, levelName, s.errors, correctable*b[1])
				}
			}
			bm := model1Symbol(t, text, v, level, mask, correctable+1, rng)
			if s, err := readSymbol(bm); err == nil {
				t.Fatalf("version %d level %s: %d errors a block read as %q", v, levelName, correctable+1, s.text)
			}
		}
	}
}

func transposed(bm *gozxing.BitMatrix) *gozxing.BitMatrix {
	d := bm.GetHeight()
	out, _ := gozxing.NewSquareBitMatrix(d)
	for y := 0; y < d; y++ {
		for x := 0; x < d; x++ {
			if bm.Get(x, y) {
				out.Set(y, x)
			}
		}
	}
	return out
}

// TestModel1InPhoto reads Model 1 symbols drawn into a scene, small and
// rotated, through the whole decoder.
func TestModel1InPhoto(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(3, 4))
	for _, tc := range []struct {
		version int
		ms, deg float64
	}{{1, 4, 0}, {4, 3, 17}, {7, 2.5, -32}, {14, 3, 90}} {
		text := fmt.Sprintf("PAD-%05d", tc.version)
		bm := model1Symbol(t, text, tc.version, 1, rng.IntN(8), 0, rng)
		d := bm.GetHeight()
		mods := make([][]bool, d)
		for y := range mods {
			mods[y] = make([]bool, d)
			for x := range mods[y] {
				mods[y][x] = bm.Get(x, y)
			}
		}
		side := int(float64(d+8) * tc.ms * 1.5)
		sc := newScene(side, side)
		sc.add(mods, placement(d, tc.ms, float64(side)/2, float64(side)/2, tc.deg))
		codes := mustDecode(t, sc.render(), DefaultOptions())
		if len(codes) != 1 || codes[0].Text != text || codes[0].Model != 1 || codes[0].Version != tc.version {
			t.Fatalf("version %d at %.1f px/module, %.0f°: read %+v", tc.version, tc.ms, tc.deg, codes)
		}
	}
}
