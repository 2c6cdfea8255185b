package qr

import (
	"bufio"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand/v2"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// refCase is one comparison against the reference encoder.
type refCase struct {
	name string
	text string    // encoded with Encode when segs is nil
	segs []Segment // encoded with EncodeSegments otherwise
	opt  Options
}

// Character sets the generated texts draw from.
const (
	digits   = "0123456789"
	alnums   = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"
	printing = " !\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefghijklmnopqrstuvwxyz{|}~"
)

var (
	latin1Runes = []rune("äöüßéèêçñøåÆ×÷¡¿©®°±µ¶·½ÿ")
	wideRunes   = []rune("€日本語中文한국어Ωπ∑√∞😀🔧")
)

func randText(r *rand.Rand, kind string, n int) string {
	var sb strings.Builder
	pick := func(s string) { sb.WriteByte(s[r.IntN(len(s))]) }
	for sb.Len() < n {
		switch kind {
		case "numeric":
			pick(digits)
		case "alnum":
			pick(alnums)
		case "ascii":
			pick(printing)
		case "latin1":
			if r.IntN(4) == 0 {
				sb.WriteRune(latin1Runes[r.IntN(len(latin1Runes))])
			} else {
				pick(printing)
			}
		case "utf8":
			if r.IntN(4) == 0 {
				sb.WriteRune(wideRunes[r.IntN(len(wideRunes))])
			} else {
				pick(printing)
			}
		case "mixed": // runs that favour different modes
			set := []string{digits, alnums, printing}[r.IntN(3)]
			for range 1 + r.IntN(20) {
				pick(set)
			}
		}
	}
	return sb.String()
}

// fitText returns a text of the kind that fits version v at level l, as
// long as a random fraction of the capacity allows.
func fitText(r *rand.Rand, kind string, v int, l Level) string {
	n := DataCapacity(v, l) * (1 + r.IntN(8)) / 8 // a share of the bytes
	switch kind {
	case "numeric":
		n = n * 12 / 5
	case "alnum":
		n = n * 14 / 10
	}
	for n = max(n, 1); ; n = n * 9 / 10 {
		t := randText(r, kind, n)
		if _, err := Encode(t, Options{Level: l, MaxVersion: v}); err == nil || n == 0 {
			return t
		}
	}
}

// refCases generates the comparison cases deterministically: every version
// at every level in several modes with a forced mask, every version once with
// the automatic mask, many small symbols with the automatic mask, and
// explicit segment lists (ECI, raw bytes, mode mixes).
func refCases(short bool) []refCase {
	r := rand.New(rand.NewPCG(18004, 2026))
	kinds := []string{"numeric", "alnum", "ascii", "latin1", "utf8", "mixed"}
	var cs []refCase
	add := func(c refCase) { cs = append(cs, c) }
	for v := 1; v <= MaxVersion; v++ {
		for l := L; l <= H; l++ {
			k := kinds[(v+int(l))%len(kinds)]
			add(refCase{
				name: fmt.Sprintf("v%d-%s-%s-mask%d", v, l, k, (v+int(l))%8),
				text: fitText(r, k, v, l),
				opt:  Options{Level: l, MinVersion: v, MaxVersion: v, ForceMask: true, Mask: (v + int(l)) % 8},
			})
		}
		l := Level(v % 4)
		k := kinds[v%len(kinds)]
		add(refCase{name: fmt.Sprintf("v%d-%s-%s-auto", v, l, k), text: fitText(r, k, v, l), opt: Options{Level: l, MinVersion: v}})
	}
	small := 2000
	if short {
		small = 200
	}
	for i := range small {
		v := 1 + r.IntN(8)
		l := Level(r.IntN(4))
		k := kinds[r.IntN(len(kinds))]
		opt := Options{Level: l}
		if i%3 == 0 {
			opt.MinVersion = v // otherwise the smallest version is compared too
		}
		add(refCase{name: fmt.Sprintf("small%d-%s-%s", i, l, k), text: fitText(r, k, v, l), opt: opt})
	}
	for i := range 100 {
		var segs []Segment
		for range 1 + r.IntN(5) {
			switch r.IntN(5) {
			case 0:
				s, _ := NumericSegment(randText(r, "numeric", r.IntN(40)))
				segs = append(segs, s)
			case 1:
				s, _ := AlphanumericSegment(randText(r, "alnum", r.IntN(40)))
				segs = append(segs, s)
			case 2:
				b := make([]byte, r.IntN(60))
				for j := range b {
					b[j] = byte(r.UintN(256))
				}
				segs = append(segs, ByteSegment(b))
			case 3:
				s, _ := ECISegment([]int{3, 26, 127, 128, 16383, 16384, 999999}[r.IntN(7)])
				segs = append(segs, s)
			case 4:
				segs = append(segs, ByteSegment([]byte(randText(r, "utf8", r.IntN(30)))))
			}
		}
		add(refCase{name: fmt.Sprintf("segs%d", i), segs: segs, opt: Options{Level: Level(i % 4)}})
	}
	return cs
}

// refLine is the reference script's input line for a symbol we encoded.
func refLine(segs []Segment, sym *Symbol, auto bool, minV int) string {
	mask := sym.Mask
	if auto {
		mask = -1
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "%d %d %s %d", minV, sym.Version, sym.Level, mask)
	for _, s := range segs {
		switch s.mode {
		case ModeNumeric:
			sb.WriteString(" n:")
		case ModeAlphanumeric:
			sb.WriteString(" a:")
		case ModeByte:
			sb.WriteString(" b:")
		case ModeECI:
			fmt.Fprintf(&sb, " e:%d", s.count)
			continue
		}
		sb.WriteString(hex.EncodeToString(s.payload()))
	}
	return sb.String()
}

// TestMatchesReference encodes a few thousand generated cases and checks
// that Nayuki's qrcodegen, given the same segments, level, version range and
// mask request, picks the same version and mask and draws the same modules.
func TestMatchesReference(t *testing.T) {
	t.Parallel()
	py := needQrcodegen(t)
	cases := refCases(testing.Short())
	jobs := make([]refJob, len(cases))
	enc := NewEncoder()
	for i, c := range cases {
		var sym *Symbol
		var err error
		var segs []Segment
		if c.segs != nil {
			segs = c.segs
			sym, err = enc.EncodeSegments(c.segs, c.opt)
		} else {
			sym, err = enc.Encode(c.text, c.opt)
			eci, latin1 := textEncoding(c.text)
			segs = append([]Segment(nil), enc.sg.segment(c.text, sym.Version, eci, latin1)...)
		}
		if err != nil {
			t.Fatalf("%s: Encode: %v", c.name, err)
		}
		if sym.Version < c.opt.MinVersion {
			t.Fatalf("%s: version %d below the minimum %d", c.name, sym.Version, c.opt.MinVersion)
		}
		jobs[i] = refJob{c: c, sym: sym, line: refLine(segs, sym, !c.opt.ForceMask, max(1, c.opt.MinVersion))}
	}

	// Two reference processes, each taking every other case.
	const workers = 2
	var wg sync.WaitGroup
	errs := make([][]string, workers)
	start := time.Now()
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[w] = runRef(py, jobs, w, workers, func(j refJob, out string) string {
				f := strings.Fields(out)
				if len(f) != 3 {
					return fmt.Sprintf("%s: reference printed %q", j.c.name, out)
				}
				v, _ := strconv.Atoi(f[0])
				m, _ := strconv.Atoi(f[1])
				switch {
				case v != j.sym.Version:
					return fmt.Sprintf("%s: version %d, reference %d", j.c.name, j.sym.Version, v)
				case m != j.sym.Mask:
					return fmt.Sprintf("%s (v%d): mask %d, reference %d", j.c.name, v, j.sym.Mask, m)
				case f[2] != matrixHex(j.sym.Matrix):
					return fmt.Sprintf("%s (v%d mask %d): modules differ from the reference", j.c.name, v, m)
				}
				return ""
			})
		}()
	}
	wg.Wait()
	n := 0
	for _, es := range errs {
		for _, e := range es {
			if n++; n <= 20 {
				t.Error(e)
			}
		}
	}
	if n > 0 {
		t.Fatalf("%d of %d cases differ from the reference", n, len(jobs))
	}
	t.Logf("%d cases equal to the reference in %v", len(jobs), time.Since(start).Round(time.Millisecond))
}

// refJob is a case, the symbol we made and the reference script's input.
type refJob struct {
	c    refCase
	sym  *Symbol
	line string
}

// runRef feeds the jobs w, w+n, w+2n, … to one reference process and checks
// each answer; it returns the mismatches.
func runRef(py string, jobs []refJob, w, n int, check func(refJob, string) string) []string {
	cmd := exec.Command(py, "testdata/ref.py")
	in, err := cmd.StdinPipe()
	if err != nil {
		return []string{err.Error()}
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return []string{err.Error()}
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return []string{err.Error()}
	}
	go func() {
		bw := bufio.NewWriter(in)
		for i := w; i < len(jobs); i += n {
			io.WriteString(bw, jobs[i].line+"\n")
		}
		bw.Flush()
		in.Close()
	}()
	var bad []string
	sc := bufio.NewScanner(out)
	sc.Buffer(make([]byte, 1<<16), 1<<20)
	for i := w; i < len(jobs); i += n {
		if !sc.Scan() {
			bad = append(bad, fmt.Sprintf("reference stopped early: %v %s", sc.Err(), stderr.String()))
			break
		}
		if e := check(jobs[i], sc.Text()); e != "" {
			bad = append(bad, e)
		}
	}
	if err := cmd.Wait(); err != nil {
		bad = append(bad, fmt.Sprintf("reference: %v: %s", err, stderr.String()))
	}
	return bad
}
