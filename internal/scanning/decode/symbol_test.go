package decode

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/makiuchi-d/gozxing"
	zxdecoder "github.com/makiuchi-d/gozxing/qrcode/decoder"
)

// TestReadCodewordsMatchesGozxing checks the codeword reading against
// gozxing's BitMatrixParser on symbols of versions with and without
// alignment patterns and version information, damaged, straight and
// transposed (mirrored).
func TestReadCodewordsMatchesGozxing(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(11, 12))
	texts := []string{"A", "HELLO WORLD 12345", "https://example.com/path?x=1&y=2&z=" + string(bytes.Repeat([]byte("q"), 60)), string(bytes.Repeat([]byte("0123456789"), 40))}
	levels := []zxdecoder.ErrorCorrectionLevel{zxdecoder.ErrorCorrectionLevel_L, zxdecoder.ErrorCorrectionLevel_H}
	compared := 0
	for trial := 0; trial < 80; trial++ {
		mods, _, _ := symbolOf(t, texts[trial%len(texts)], levels[trial/len(texts)%2])
		d := len(mods)
		mirrored := trial%3 == 1
		bm, _ := gozxing.NewSquareBitMatrix(d)
		for y := range mods {
			for x := range mods[y] {
				if mods[y][x] && !mirrored || mirrored && mods[x][y] {
					bm.Set(x, y)
				}
			}
		}
		for range rng.IntN(d) {
			bm.Flip(rng.IntN(d), rng.IntN(d))
		}
		p, err := zxdecoder.NewBitMatrixParser(bm)
		if err != nil {
			t.Fatal(err)
		}
		p.SetMirror(mirrored)
		version, err := p.ReadVersion()
		if err != nil {
			continue
		}
		fi, err := p.ReadFormatInformation()
		if err != nil {
			continue
		}
		got, err := readCodewords(bm, version, int(fi.GetDataMask()), mirrored)
		if err != nil {
			t.Fatal(err)
		}
		if mirrored {
			p.Mirror()
		}
		want, err := p.ReadCodewords()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("trial %d (version %d, mirrored %v): codewords differ", trial, version.GetVersionNumber(), mirrored)
		}
		compared++
	}
	if compared < 40 {
		t.Fatalf("only %d symbols compared", compared)
	}
}

// TestModel1Recognised checks that a grid carrying a QR Model 1 format
// codeword in both copies is reported as errModel1, and a Model 2 symbol
// is not.
func TestModel1Recognised(t *testing.T) {
	t.Parallel()
	mods, _, _ := symbolOf(t, "MODEL 1?", zxdecoder.ErrorCorrectionLevel_H)
	d := len(mods)
	bm, _ := gozxing.NewSquareBitMatrix(d)
	for y := range mods {
		for x := range mods[y] {
			if mods[y][x] {
				bm.Set(x, y)
			}
		}
	}
	if _, model1 := readModel1Grid(bm); model1 {
		t.Fatal("a Model 2 symbol taken for Model 1")
	}
	// Level H (10), mask 7: data 10111, BCH(15,5) check bits, Model 1 mask.
	code := 0b10111 << 10
	for i := 14; i >= 10; i-- {
		if code&(1<<i) != 0 {
			code ^= 0x537 << (i - 10)
		}
	}
	f := (0b10111<<10 | code) ^ 0x2825
	set := func(x, y, bit int) {
		if bm.Get(x, y) != (f>>bit&1 == 1) {
			bm.Flip(x, y)
		}
	}
	bit := 14
	for x := 0; x < 6; x++ {
		set(x, 8, bit)
		bit--
	}
	set(7, 8, bit)
	set(8, 8, bit-1)
	set(8, 7, bit-2)
	bit -= 3
	for y := 5; y >= 0; y-- {
		set(8, y, bit)
		bit--
	}
	bit = 14
	for y := d - 1; y >= d-7; y-- {
		set(8, y, bit)
		bit--
	}
	for x := d - 8; x < d; x++ {
		set(x, 8, bit)
		bit--
	}
	if _, err := readSymbol(bm); !errors.Is(err, errModel1) {
		t.Fatalf("got %v, want errModel1", err)
	}
}
