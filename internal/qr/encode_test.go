package qr

import (
	"errors"
	"math/rand/v2"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/qrmfg/qrmfg/internal/qrmfg"
)

func TestParseLevel(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		want Level
	}{{"L", L}, {"m", M}, {" Q ", Q}, {"h", H}} {
		got, err := ParseLevel(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("ParseLevel(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
		if got.String() != strings.ToUpper(strings.TrimSpace(tc.in)) {
			t.Errorf("%v.String() = %q", got, got.String())
		}
	}
	t.Run("ErrInvalid", func(t *testing.T) {
		t.Parallel()
		_, err := ParseLevel("X")
		if e := qrmfg.AsError(err); e == nil || e.Code != qrmfg.EINVALID || e.Field != "level" {
			t.Fatalf("ParseLevel(X) error = %v, want EINVALID on field level", err)
		}
	})
	if s := Level(9).String(); s != "Level(9)" {
		t.Errorf("Level(9).String() = %q", s)
	}
}

func TestCapacity(t *testing.T) {
	t.Parallel()
	// ISO/IEC 18004 table 7: data codewords of a few versions and levels.
	for _, tc := range []struct {
		v    int
		l    Level
		want int
	}{{1, L, 19}, {1, H, 9}, {2, M, 28}, {10, Q, 154}, {27, H, 628}, {40, L, 2956}, {40, H, 1276}} {
		if got := DataCapacity(tc.v, tc.l); got != tc.want {
			t.Errorf("DataCapacity(%d, %s) = %d, want %d", tc.v, tc.l, got, tc.want)
		}
	}
	// The largest texts of each mode at level L fit version 40, one more does not.
	for _, tc := range []struct {
		name string
		c    string
		max  int
	}{{"numeric", "7", 7089}, {"alnum", "A", 4296}, {"byte", "a", 2953}} {
		sym, err := Encode(strings.Repeat(tc.c, tc.max), Options{})
		if err != nil || sym.Version != 40 {
			t.Errorf("%s %d: %v, %v; want version 40", tc.name, tc.max, sym, err)
		}
		_, err = Encode(strings.Repeat(tc.c, tc.max+1), Options{})
		if qrmfg.ErrorCode(err) != qrmfg.EINVALID {
			t.Errorf("%s %d: error %v, want EINVALID", tc.name, tc.max+1, err)
		}
	}
}

func TestEncodeChoices(t *testing.T) {
	t.Parallel()
	seed := "PAD-V0100-L2025-09-00001"
	t.Run("OK/SmallestVersion", func(t *testing.T) {
		t.Parallel()
		sym, err := Encode(seed, Options{Level: M})
		if err != nil {
			t.Fatal(err)
		}
		// 24 alphanumeric characters: 4+9+132 = 145 bits; version 1-M holds 128.
		if sym.Version != 2 || sym.Level != M || sym.Matrix.Size() != 25 {
			t.Fatalf("got version %d level %s size %d, want 2, M, 25", sym.Version, sym.Level, sym.Matrix.Size())
		}
	})
	t.Run("OK/MinVersion", func(t *testing.T) {
		t.Parallel()
		sym, err := Encode(seed, Options{Level: M, MinVersion: 7})
		if err != nil || sym.Version != 7 {
			t.Fatalf("got %v, %v; want version 7", sym, err)
		}
	})
	t.Run("OK/ForcedMask", func(t *testing.T) {
		t.Parallel()
		for m := range 8 {
			sym, err := Encode(seed, Options{Level: M, ForceMask: true, Mask: m})
			if err != nil || sym.Mask != m {
				t.Fatalf("mask %d: got %v, %v", m, sym, err)
			}
		}
	})
	t.Run("OK/Boost", func(t *testing.T) {
		t.Parallel()
		sym, err := Encode("HELLO", Options{})
		if err != nil || sym.Level != L || sym.Version != 1 {
			t.Fatalf("without boost: %v, %v; want level L version 1", sym, err)
		}
		sym, err = Encode("HELLO", Options{BoostLevel: true})
		if err != nil || sym.Level != H || sym.Version != 1 {
			t.Fatalf("with boost: %v, %v; want level H version 1", sym, err)
		}
	})
	t.Run("OK/AutoMaskConstant", func(t *testing.T) {
		t.Parallel()
		a, err1 := Encode(seed, Options{Mask: AutoMask})
		b, err2 := Encode(seed, Options{})
		if err1 != nil || err2 != nil || a.Mask != b.Mask || !a.Matrix.Equal(b.Matrix) {
			t.Fatalf("Mask: AutoMask and the zero value differ: %v %v", err1, err2)
		}
	})
	t.Run("OK/Segments", func(t *testing.T) {
		t.Parallel()
		num, _ := NumericSegment("0123456789")
		alnum, _ := AlphanumericSegment("PAD-")
		// 35 + 48 + 28 bits: more than the 104 of version 1-Q.
		sym, err := EncodeSegments([]Segment{alnum, num, ByteSegment([]byte{0, 0xFF})}, Options{Level: Q})
		if err != nil || sym.Version != 2 {
			t.Fatalf("got %v, %v", sym, err)
		}
		sym2, err := Encode("", Options{Level: Q, Segments: []Segment{alnum, num, ByteSegment([]byte{0, 0xFF})}})
		if err != nil || !sym.Matrix.Equal(sym2.Matrix) {
			t.Fatalf("Options.Segments gives another symbol: %v", err)
		}
	})
	t.Run("OK/Empty", func(t *testing.T) {
		t.Parallel()
		sym, err := Encode("", Options{})
		if err != nil || sym.Version != 1 {
			t.Fatalf("got %v, %v; want version 1", sym, err)
		}
	})
}

func TestEncodeErrors(t *testing.T) {
	t.Parallel()
	seg, _ := NumericSegment("1")
	long, _ := NumericSegment(strings.Repeat("1", 1000))
	tooMany, _ := NumericSegment(strings.Repeat("1", 1024)) // versions 1-9 count at most 1023 digits
	for _, tc := range []struct {
		name, text, field string
		opt               Options
	}{
		{"ErrLevel", "x", "level", Options{Level: 4}},
		{"ErrMinVersion", "x", "min_version", Options{MinVersion: 41}},
		{"ErrMaxVersion", "x", "max_version", Options{MaxVersion: -1}},
		{"ErrVersionRange", "x", "max_version", Options{MinVersion: 10, MaxVersion: 9}},
		{"ErrMaskWithoutForce", "x", "mask", Options{Mask: 3}},
		{"ErrMaskRange", "x", "mask", Options{ForceMask: true, Mask: 8}},
		{"ErrTextAndSegments", "x", "segments", Options{Segments: []Segment{seg}}},
		{"ErrZeroSegment", "", "segments", Options{Segments: []Segment{{}}}},
		{"ErrUTF8", "a\xffb", "text", Options{}},
		{"ErrTooLong", strings.Repeat("x", 200), "text", Options{Level: H, MaxVersion: 10}},
		{"ErrSegmentsTooLong", "", "segments", Options{MaxVersion: 9, Segments: []Segment{long}}},
		{"ErrCountField", "", "segments", Options{MaxVersion: 9, Segments: []Segment{tooMany}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			sym, err := Encode(tc.text, tc.opt)
			e := qrmfg.AsError(err)
			if sym != nil || e == nil || e.Code != qrmfg.EINVALID || e.Field != tc.field {
				t.Fatalf("Encode = %v, %v; want EINVALID on field %q", sym, err, tc.field)
			}
		})
	}
	t.Run("ErrTooLong/Message", func(t *testing.T) {
		t.Parallel()
		_, err := Encode(strings.Repeat("x", 200), Options{Level: H, MaxVersion: 10})
		e := qrmfg.AsError(err)
		// 200 bytes: 4+16+1600 bits; version 10-H holds 122 bytes.
		if e == nil || e.Detail["bits"] != 1620 || e.Detail["capacity_bits"] != 976 ||
			!strings.Contains(e.Message, "1620 bits") || !strings.Contains(e.Message, "976 bits") {
			t.Fatalf("error %v, detail %v; want the length and capacity named", err, e)
		}
	})
	for _, tc := range []struct {
		name string
		make func() (Segment, error)
	}{
		{"ErrNumeric", func() (Segment, error) { return NumericSegment("12a") }},
		{"ErrAlnum", func() (Segment, error) { return AlphanumericSegment("abc") }},
		{"ErrECI", func() (Segment, error) { return ECISegment(1_000_000) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if _, err := tc.make(); qrmfg.ErrorCode(err) != qrmfg.EINVALID {
				t.Fatalf("error %v, want EINVALID", err)
			}
		})
	}
}

// TestSegmentationIsMinimal compares the segmentation with an exhaustive
// search over every mode assignment of short texts.
func TestSegmentationIsMinimal(t *testing.T) {
	t.Parallel()
	alphabet := []rune("05AZaz-é€")
	var sg segmenter
	var text []rune
	var walk func(n int)
	checked := 0
	walk = func(n int) {
		if n == 0 {
			s := string(text)
			eci, latin1 := textEncoding(s)
			for _, v := range []int{1, 10, 27} {
				got := totalBits(sg.segment(s, v, eci, latin1), v)
				want := bruteForceBits([]rune(s), v, eci, latin1)
				if got != want {
					t.Fatalf("%q in version %d: %d bits, exhaustive minimum %d", s, v, got, want)
				}
				checked++
			}
			return
		}
		for _, r := range alphabet {
			text = append(text, r)
			walk(n - 1)
			text = text[:len(text)-1]
		}
	}
	for n := 1; n <= 4; n++ {
		walk(n)
	}
	// Longer random texts, with runs long enough to cross the thresholds
	// where switching modes pays.
	r := rand.New(rand.NewPCG(1, 2))
	for range 300 {
		text = text[:0]
		for range 5 + r.IntN(5) {
			text = append(text, []rune("0123456789ABx")[r.IntN(13)])
		}
		walk(0)
	}
	t.Logf("%d texts checked", checked)
}

// bruteForceBits returns the fewest bits of any split of text into
// segments, trying every mode for every character.
func bruteForceBits(text []rune, v int, eci int, latin1 bool) int {
	head := 0
	if eci != 0 {
		head = 12
	}
	modes := make([]Mode, len(text))
	best := -1
	var try func(i int)
	try = func(i int) {
		if i == len(text) {
			bits := head
			for start := 0; start < len(text); {
				end := start
				for end < len(text) && modes[end] == modes[start] {
					end++
				}
				s := Segment{mode: modes[start]}
				for _, r := range text[start:end] {
					if s.mode == ModeByte && !latin1 {
						s.count += utf8.RuneLen(r)
					} else {
						s.count++
					}
				}
				bits += s.bits(v)
				start = end
			}
			if best < 0 || bits < best {
				best = bits
			}
			return
		}
		r := text[i]
		for _, m := range []Mode{ModeNumeric, ModeAlphanumeric, ModeByte} {
			if m == ModeNumeric && (r < '0' || r > '9') || m == ModeAlphanumeric && (r >= 0x80 || alnumValue[r] < 0) {
				continue
			}
			modes[i] = m
			try(i + 1)
		}
	}
	try(0)
	if len(text) == 0 {
		return head
	}
	return best
}

func TestTextEncoding(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		text  string
		eci   int
		bytes string // the byte segment payloads, concatenated
	}{
		{"PAD-V0100-L2025-x", 0, "x"},
		{"Köln", ECILatin1, "K\xf6ln"},
		{"Köln €", ECIUTF8, "Köln €"},
	} {
		var sg segmenter
		eci, latin1 := textEncoding(tc.text)
		segs := sg.segment(tc.text, 1, eci, latin1)
		var got []byte
		gotECI := 0
		for _, s := range segs {
			switch s.mode {
			case ModeECI:
				gotECI = s.count
			case ModeByte:
				got = append(got, s.payload()...)
			}
		}
		if gotECI != tc.eci || string(got) != tc.bytes {
			t.Errorf("%q: ECI %d, bytes %q; want ECI %d, bytes %q", tc.text, gotECI, got, tc.eci, tc.bytes)
		}
	}
}

// TestEncoderReuse checks that an Encoder gives the same symbols as fresh
// encodes whatever it encoded before.
func TestEncoderReuse(t *testing.T) {
	t.Parallel()
	texts := []string{"PAD-V0100-L2025-09-00001", strings.Repeat("9", 3000), "", "Grüße", strings.Repeat("日本", 200), "PAD-V0100-L2025-09-00002"}
	enc := NewEncoder()
	var reused Symbol
	for _, s := range append(texts, texts...) {
		want, err := Encode(s, Options{Level: Q})
		if err != nil {
			t.Fatal(err)
		}
		if err := enc.EncodeTo(&reused, s, Options{Level: Q}); err != nil {
			t.Fatal(err)
		}
		if reused.Version != want.Version || reused.Mask != want.Mask || !reused.Matrix.Equal(want.Matrix) {
			t.Fatalf("%.20q: reused Encoder differs from a fresh one", s)
		}
	}
}

// TestEncodeToDoesNotAllocate checks the batch path: once warm, EncodeTo
// into the same Symbol allocates nothing. Not parallel: AllocsPerRun
// forbids it.
func TestEncodeToDoesNotAllocate(t *testing.T) {
	enc := NewEncoder()
	var reused Symbol
	allocs := testing.AllocsPerRun(100, func() {
		if err := enc.EncodeTo(&reused, "PAD-V0100-L2025-09-00003", Options{Level: M}); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("EncodeTo allocates %v times per symbol, want 0", allocs)
	}
}

// FuzzEncode: any text at any level encodes to a valid symbol that respects
// its version's capacity, or fails with EINVALID; never a panic.
func FuzzEncode(f *testing.F) {
	f.Add("PAD-V0100-L2025-09-00001", 1, 0)
	f.Add("Grüße 日本 0123456789", 3, 5)
	f.Add("", 0, 0)
	f.Add("a\xff", 2, 40)
	f.Fuzz(func(t *testing.T, text string, level, minVersion int) {
		opt := Options{Level: Level(level), MinVersion: minVersion}
		sym, err := Encode(text, opt)
		if err != nil {
			var e *qrmfg.Error
			if !errors.As(err, &e) || e.Code != qrmfg.EINVALID {
				t.Fatalf("error %v is not EINVALID", err)
			}
			return
		}
		if sym.Version < max(1, minVersion) || sym.Version > MaxVersion || sym.Level != opt.Level || sym.Mask < 0 || sym.Mask > 7 {
			t.Fatalf("bad symbol %+v", sym)
		}
		if sym.Matrix.Size() != Size(sym.Version) {
			t.Fatalf("size %d for version %d", sym.Matrix.Size(), sym.Version)
		}
		eci, latin1 := textEncoding(text)
		var sg segmenter
		if bits := totalBits(sg.segment(text, sym.Version, eci, latin1), sym.Version); bits > DataCapacity(sym.Version, sym.Level)*8 {
			t.Fatalf("%d bits in version %d-%s which holds %d", bits, sym.Version, sym.Level, DataCapacity(sym.Version, sym.Level)*8)
		}
		// Function patterns: the three finders' dark corners and the dark module.
		n := sym.Matrix.Size()
		if !sym.Matrix.Dark(0, 0) || !sym.Matrix.Dark(n-1, 0) || !sym.Matrix.Dark(0, n-1) || !sym.Matrix.Dark(8, n-8) || sym.Matrix.Dark(7, 7) {
			t.Fatal("function patterns missing")
		}
	})
}

func TestFormatAndVersionBits(t *testing.T) {
	t.Parallel()
	// ISO/IEC 18004 annex C examples: level M mask 5 (data 00101), and
	// version 7's version information 000111 110010 010100.
	if got := formatBits(M, 5); got != 0b100000011001110 {
		t.Errorf("formatBits(M, 5) = %015b", got)
	}
	if got := versionBits(7); got != 0b000111110010010100 {
		t.Errorf("versionBits(7) = %018b", got)
	}
}
