package decode

import (
	"math/rand/v2"
	"testing"

	"github.com/makiuchi-d/gozxing/common/reedsolomon"
)

// TestRSCorrectMatchesGozxing corrupts valid blocks with up to and beyond
// the correctable number of errors and checks that rsCorrect agrees with
// gozxing's decoder on success, on the corrected block and on failure
// (within the correction radius).
func TestRSCorrectMatchesGozxing(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(7, 9))
	enc := reedsolomon.NewReedSolomonEncoder(reedsolomon.GenericGF_QR_CODE_FIELD_256)
	dec := reedsolomon.NewReedSolomonDecoder(reedsolomon.GenericGF_QR_CODE_FIELD_256)
	agree, fixed := 0, 0
	for trial := 0; trial < 1500; trial++ {
		nsym := []int{7, 10, 13, 18, 22, 26, 30}[rng.IntN(7)]
		nd := 1 + rng.IntN(120)
		msg := make([]int, nd+nsym)
		for i := range nd {
			msg[i] = rng.IntN(256)
		}
		if err := enc.Encode(msg, nsym); err != nil {
			t.Fatal(err)
		}
		nerr := rng.IntN(nsym/2 + 3)
		for range nerr {
			msg[rng.IntN(len(msg))] ^= 1 + rng.IntN(255)
		}
		block := make([]byte, len(msg))
		for i, v := range msg {
			block[i] = byte(v)
		}
		want := append([]int(nil), msg...)
		errZX := dec.Decode(want, nsym)
		n, ok := rsCorrect(block, nsym)
		if !ok && errZX == nil {
			// gozxing also accepts locators of degree above nsym/2
			// with as many roots (a guess beyond the correction radius,
			// which readParsed refuses anyway) and, for odd nsym,
			// corrections that leave the last syndrome non-zero: not a
			// codeword, which rsCorrect refuses.
			zx := 0
			for i := range want {
				if want[i] != msg[i] {
					zx++
				}
			}
			if 2*zx > nsym || !isCodeword(want, nsym) {
				continue
			}
		}
		if ok != (errZX == nil) {
			t.Fatalf("trial %d (%d errors, nsym %d): ok=%v, gozxing %v", trial, nerr, nsym, ok, errZX)
		}
		if !ok {
			agree++
			continue
		}
		changed := 0
		for i := range block {
			if int(block[i]) != want[i] {
				t.Fatalf("trial %d: corrected blocks differ at %d", trial, i)
			}
			if int(block[i]) != msg[i] {
				changed++
			}
		}
		if changed != n {
			t.Fatalf("trial %d: %d corrections reported, %d made", trial, n, changed)
		}
		agree++
		fixed += n
	}
	if fixed == 0 {
		t.Fatal("no block needed correcting")
	}
}

func isCodeword(block []int, nsym int) bool {
	b := make([]byte, len(block))
	for i, v := range block {
		b[i] = byte(v)
	}
	n, ok := rsCorrect(b, nsym)
	return ok && n == 0
}
