package decode

import (
	"bytes"
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
