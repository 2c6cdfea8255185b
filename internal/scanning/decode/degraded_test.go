package decode

import (
	"context"
	"os"
	"strconv"
	"testing"

	"github.com/qrmfg/qrmfg/internal/scanning/decode/degrade"
)

// Floors for the seeded engraved-mark set (degrade.Set(degradedSeed, n)):
// raise them when the decoder improves.
const (
	degradedSeed     = 2026
	degradedImages   = 60
	minDegradedReads = 44
)

// TestDegradedMarks decodes the seeded engraved-mark set and reports the read
// rate overall and per kind of degradation. DEGRADED_N overrides the number
// of images (the figure in the ADR uses 200).
func TestDegradedMarks(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("renders the engraved-mark set")
	}
	n := degradedImages
	if v, err := strconv.Atoi(os.Getenv("DEGRADED_N")); err == nil && v > 0 {
		n = v
	}
	set, err := degrade.Set(degradedSeed, n)
	if err != nil {
		t.Fatal(err)
	}
	type tally struct{ read, total int }
	kinds := map[string]*tally{}
	count := func(kind string, ok bool) {
		k := kinds[kind]
		if k == nil {
			k = &tally{}
			kinds[kind] = k
		}
		k.total++
		if ok {
			k.read++
		}
	}
	read, wrong := 0, 0
	for _, s := range set {
		codes, err := Image(context.Background(), s.Image, DefaultOptions())
		if err != nil {
			t.Fatalf("%s: %v", s.Name, err)
		}
		ok := false
		for _, c := range codes {
			if c.Text == s.Text {
				ok = true
			} else {
				wrong++
				t.Errorf("%s: wrong decode %q, want %q", s.Name, c.Text, s.Text)
			}
		}
		if ok {
			read++
		} else {
			t.Logf("missed %s: %+v", s.Name, s.Params)
		}
		p := s.Params
		count("all", ok)
		if p.Mark > p.Surface {
			count("inverted", ok)
		} else {
			count("dark-on-light", ok)
		}
		if p.Dotted {
			count("dotted", ok)
		}
		if p.Curvature > 0 {
			count("curved", ok)
		}
		if p.Contrast() < 60 {
			count("contrast<60", ok)
		}
		if p.Blur > 1 {
			count("blur>1px", ok)
		}
		if p.Tilt > 0.2 {
			count("tilt>0.2", ok)
		}
	}
	for _, k := range []string{"all", "dark-on-light", "inverted", "dotted", "curved", "contrast<60", "blur>1px", "tilt>0.2"} {
		if v := kinds[k]; v != nil {
			t.Logf("%-14s read %3d of %3d (%.0f%%)", k, v.read, v.total, 100*float64(v.read)/float64(v.total))
		}
	}
	if wrong > 0 {
		t.Errorf("%d wrong decodes", wrong)
	}
	if n == degradedImages && read < minDegradedReads {
		t.Errorf("read %d of %d, want at least %d", read, n, minDegradedReads)
	}
}
