// Package grade gives a decoded QR code an indicative print-quality grade in
// the style of ISO/IEC 15415: symbol contrast (SC), modulation (MOD), fixed
// pattern damage (FPD), axial non-uniformity (AN), grid non-uniformity (GN)
// and unused error correction (UEC), each graded 4 (A) to 0 (F), and the
// overall grade as the lowest of them.
//
// The grade is indicative, not a certified verification: the image comes from
// an uncalibrated camera (reflectance is taken as luminance/255, there is no
// calibrated aperture, wavelength or lighting angle), and where the standard
// leaves room the choices made here are documented on each measurement. It is
// meant to compare marks of one line over time and to catch a mark going bad,
// not to replace an ISO/IEC 15426-2 verifier.
package grade

import (
	"fmt"
	"image"
	"math"

	"github.com/makiuchi-d/gozxing"
	"github.com/makiuchi-d/gozxing/common/reedsolomon"
	zxdecoder "github.com/makiuchi-d/gozxing/qrcode/decoder"
	zxencoder "github.com/makiuchi-d/gozxing/qrcode/encoder"

	"github.com/qrmfg/qrmfg/internal/qrmfg"
	"github.com/qrmfg/qrmfg/internal/scanning/decode"
)

// Standard names what the report follows, for the report and the API.
const Standard = "ISO/IEC 15415 (indicative, uncalibrated camera)"

// Aperture is the measuring aperture as a fraction of the module side
// (ISO/IEC 15415 recommends about 80%).
const Aperture = 0.8

// Measurement is one graded measurement.
type Measurement struct {
	// Value is the measurement: a fraction for SC, MOD (mean module
	// modulation) and UEC, a count of modules in error for FPD, a ratio for
	// AN, and module widths for GN.
	Value float64 `json:"value"`
	// Grade is 4 (A) to 0 (F).
	Grade int `json:"grade"`
}

// MarkGrade is the grade of one code.
type MarkGrade struct {
	Overall int         `json:"overall"`
	Letter  string      `json:"letter"`
	Decode  int         `json:"decode"`
	SC      Measurement `json:"symbol_contrast"`
	MOD     Measurement `json:"modulation"`
	FPD     Measurement `json:"fixed_pattern_damage"`
	AN      Measurement `json:"axial_nonuniformity"`
	GN      Measurement `json:"grid_nonuniformity"`
	UEC     Measurement `json:"unused_error_correction"`
	// Rmax and Rmin are the highest and lowest reflectance (0..1) seen over
	// the symbol and its first quiet-zone ring.
	Rmax float64 `json:"rmax"`
	Rmin float64 `json:"rmin"`
	// ModuleSize is the mean module side in pixels.
	ModuleSize float64 `json:"module_size"`
	// Aperture is the measuring aperture as a fraction of the module side.
	Aperture float64 `json:"aperture"`
	Standard string  `json:"standard"`
}

// Letter returns "A" for 4 down to "F" for 0.
func Letter(g int) string {
	switch {
	case g >= 4:
		return "A"
	case g == 3:
		return "B"
	case g == 2:
		return "C"
	case g == 1:
		return "D"
	}
	return "F"
}

// Thresholds of the parameters, best grade first (ISO/IEC 15415; AN and GN
// as the 15415 values for matrix symbols).
var (
	scLimits  = [4]float64{0.70, 0.55, 0.40, 0.20} // value >= limit
	modLimits = [4]float64{0.50, 0.40, 0.30, 0.20}
	uecLimits = [4]float64{0.62, 0.50, 0.37, 0.25}
	anLimits  = [4]float64{0.06, 0.08, 0.10, 0.12} // value <= limit
	gnLimits  = [4]float64{0.38, 0.50, 0.63, 0.75}
	// Timing pattern damage, as a share of its modules in error.
	timingLimits = [4]float64{0, 0.07, 0.11, 0.14}
)

func atLeast(v float64, lim [4]float64) int {
	for i, l := range lim {
		if v >= l {
			return 4 - i
		}
	}
	return 0
}

func atMost(v float64, lim [4]float64) int {
	for i, l := range lim {
		if v <= l+1e-9 {
			return 4 - i
		}
	}
	return 0
}

// Measure grades code, read from img. The code must come from decoding img
// (its Grid maps module coordinates to img's pixels).
//
// Errors: EINVALID when the code has no grid, an unknown version or level,
// or its data codewords do not fit the version (not a code from decode).
func Measure(img image.Image, code decode.Code) (MarkGrade, error) {
	if img == nil || code.Grid.Size < 21 {
		return MarkGrade{}, qrmfg.Errorf(qrmfg.EINVALID, "code has no sampling grid to grade")
	}
	sym, err := newSymbol(code)
	if err != nil {
		return MarkGrade{}, err
	}
	m := &meter{img: newLuma(img), grid: code.Grid, n: code.Grid.Size, inv: code.Inverted}
	r := MarkGrade{Decode: 4, ModuleSize: code.Grid.ModuleSize(), Aperture: Aperture, Standard: Standard}

	// Reflectance of every module and of the first quiet-zone ring.
	n := m.n
	refl := make([]float64, (n+2)*(n+2)) // index (row+1)*(n+2) + col+1; NaN when outside the image
	rmax, rmin := 0.0, 1.0
	for row := -1; row <= n; row++ {
		for col := -1; col <= n; col++ {
			v, ok := m.aperture(col, row)
			if !ok {
				v = math.NaN()
			} else {
				rmax, rmin = max(rmax, v), min(rmin, v)
			}
			refl[(row+1)*(n+2)+col+1] = v
		}
	}
	if rmax < rmin { // nothing measured
		rmax = rmin
	}
	r.Rmax, r.Rmin = rmax, rmin
	sc := rmax - rmin
	r.SC = Measurement{Value: sc, Grade: atLeast(sc, scLimits)}
	gt := (rmax + rmin) / 2
	at := func(col, row int) float64 { return refl[(row+1)*(n+2)+col+1] }
	// wrong reports whether the module's reflectance is on the wrong side of
	// the global threshold for its ideal colour (light quiet zone outside).
	wrong := func(col, row int) (bool, bool) {
		v := at(col, row)
		if math.IsNaN(v) {
			return false, false
		}
		ideal := col >= 0 && row >= 0 && col < n && row < n && sym.dark(col, row)
		physDark := v < gt
		return physDark != (ideal != m.inv), true
	}

	r.FPD = fixedPatternDamage(sym, n, wrong)
	r.MOD, r.UEC = modulationAndUEC(sym, n, sc, gt, at, wrong)
	if code.ECCapacity > 0 {
		// The decoder's own reading is a reference decode as well: take
		// the lower of the two margins.
		if u := 1 - code.WorstBlock; u < r.UEC.Value {
			r.UEC = Measurement{Value: max(u, 0), Grade: atLeast(max(u, 0), uecLimits)}
		}
	}
	an, gn := m.gridUniformity(sym, gt)
	r.AN = Measurement{Value: an, Grade: atMost(an, anLimits)}
	r.GN = Measurement{Value: gn, Grade: atMost(gn, gnLimits)}

	r.Overall = min(r.Decode, r.SC.Grade, r.MOD.Grade, r.FPD.Grade, r.AN.Grade, r.GN.Grade, r.UEC.Grade)
	r.Letter = Letter(r.Overall)
	return r, nil
}

// fixedPatternDamage counts modules in error in each finder pattern with its
// separator and the adjoining quiet zone, each alignment pattern and the two
// timing patterns. A finder or alignment segment grades 4 with no module in
// error, one less per module in error, 0 from four; the timing patterns grade
// by the share of their modules in error. FPD is the lowest segment grade,
// its value the number of fixed-pattern modules in error.
func fixedPatternDamage(sym *symbol, n int, wrong func(col, row int) (bool, bool)) Measurement {
	total := 0
	grade := 4
	count := func(c0, r0, c1, r1 int) int { // [c0,c1)×[r0,r1)
		e := 0
		for row := r0; row < r1; row++ {
			for col := c0; col < c1; col++ {
				if w, ok := wrong(col, row); ok && w {
					e++
				}
			}
		}
		return e
	}
	segment := func(e int) {
		total += e
		grade = min(grade, max(4-e, 0))
	}
	// Finder + separator (8×8 in the symbol) + the quiet-zone row and
	// column along its outer sides.
	segment(count(-1, -1, 8, 8))
	segment(count(n-8, -1, n+1, 8))
	segment(count(-1, n-8, 8, n+1))
	for _, a := range sym.alignment {
		segment(count(a[0]-2, a[1]-2, a[0]+3, a[1]+3))
	}
	timing := count(8, 6, n-8, 7) + count(6, 8, 7, n-8)
	total += timing
	grade = min(grade, atMost(float64(timing)/float64(2*(n-16)), timingLimits))
	return Measurement{Value: float64(total), Grade: grade}
}

// modulationAndUEC grades modulation as ISO/IEC 15415 does for codes with
// Reed-Solomon correction: each module's modulation 2|R−GT|/SC is graded, a
// codeword takes the grade of its worst module (0 when a module is on the
// wrong side of GT), and for each grade level the codewords below it are
// counted as errors against the block's correction capacity (the notional
// UEC); the level's grade is the lower of the level and the notional UEC
// grade, and MOD is the best of the levels. UEC itself is the margin left in
// the worst block by the codewords actually in error at GT.
func modulationAndUEC(sym *symbol, n int, sc, gt float64, at func(col, row int) float64,
	wrong func(col, row int) (bool, bool)) (Measurement, Measurement) {
	cwGrade := make([]int, len(sym.codewords))
	for i := range cwGrade {
		cwGrade[i] = 4
	}
	var sum float64
	var cnt int
	for row := 0; row < n; row++ {
		for col := 0; col < n; col++ {
			k := sym.owner[row*n+col]
			if k < 0 {
				continue
			}
			v := at(col, row)
			g := 0
			if !math.IsNaN(v) && sc > 0 {
				mod := 2 * math.Abs(v-gt) / sc
				sum += mod
				cnt++
				g = atLeast(mod, modLimits)
				if w, _ := wrong(col, row); w {
					g = 0
				}
			}
			cwGrade[k] = min(cwGrade[k], g)
		}
	}
	notional := func(below int) float64 {
		worst := 1.0
		for _, blk := range sym.blocks {
			e := 0
			for _, k := range blk.codewords {
				if cwGrade[k] < below {
					e++
				}
			}
			capacity := blk.ec - sym.reserved
			u := 0.0
			if capacity > 0 {
				u = 1 - 2*float64(e)/float64(capacity)
			}
			worst = min(worst, max(u, 0))
		}
		return worst
	}
	mod := 0
	for level := 4; level >= 1; level-- {
		mod = max(mod, min(level, atLeast(notional(level), uecLimits)))
	}
	mean := 0.0
	if cnt > 0 {
		mean = sum / float64(cnt)
	}
	uec := notional(1) // codewords with a module on the wrong side
	return Measurement{Value: mean, Grade: mod}, Measurement{Value: uec, Grade: atLeast(uec, uecLimits)}
}

// symbol is the ideal symbol rebuilt from the decoded data codewords: which
// modules are dark, which codeword each data module belongs to, the block
// structure and the alignment pattern centres.
type symbol struct {
	ideal     *zxencoder.ByteMatrix
	owner     []int // per module (row*n+col): codeword index, -1 for function modules and remainder bits
	codewords []int // interleaved codeword index → block
	blocks    []block
	reserved  int
	alignment [][2]int
}

type block struct {
	ec        int
	codewords []int // interleaved indexes of the block's data and EC codewords
}

func (s *symbol) dark(col, row int) bool { return s.ideal.Get(col, row) == 1 }

var rsEncoder = reedsolomon.NewReedSolomonEncoder(reedsolomon.GenericGF_QR_CODE_FIELD_256)

// newSymbol re-encodes the decoded data codewords with Reed-Solomon, places
// them with the decoded version, level and mask, and records the layout.
func newSymbol(code decode.Code) (*symbol, error) {
	if code.Model == 1 {
		// Its layout differs and ISO/IEC 15415 grades Model 2 symbols.
		return nil, qrmfg.Errorf(qrmfg.EINVALID, "code is a QR Model 1 symbol: grading covers Model 2")
	}
	version, err := zxdecoder.Version_GetVersionForNumber(code.Version)
	if err != nil {
		return nil, qrmfg.Errorf(qrmfg.EINVALID, "code has version %d, not 1 to 40", code.Version)
	}
	level, err := zxdecoder.ErrorCorrectionLevel_ValueOf(code.Level)
	if err != nil {
		return nil, qrmfg.Errorf(qrmfg.EINVALID, "code has error correction level %q", code.Level)
	}
	n := version.GetDimensionForVersion()
	if n != code.Grid.Size {
		return nil, qrmfg.Errorf(qrmfg.EINVALID, "code grid is %d modules, version %d has %d", code.Grid.Size, code.Version, n)
	}
	ecb := version.GetECBlocksForLevel(level)
	ecPer := ecb.GetECCodewordsPerBlock()
	var data [][]byte
	off := 0
	for _, g := range ecb.GetECBlocks() {
		for i := 0; i < g.GetCount(); i++ {
			nd := g.GetDataCodewords()
			if off+nd > len(code.Raw) {
				return nil, qrmfg.Errorf(qrmfg.EINVALID, "code has %d data codewords, version %d-%s needs more", len(code.Raw), code.Version, code.Level)
			}
			data = append(data, code.Raw[off:off+nd])
			off += nd
		}
	}
	if off != len(code.Raw) {
		return nil, qrmfg.Errorf(qrmfg.EINVALID, "code has %d data codewords, version %d-%s holds %d", len(code.Raw), code.Version, code.Level, off)
	}
	s := &symbol{reserved: reservedEC(code.Version, code.Level), blocks: make([]block, len(data))}
	ecs := make([][]byte, len(data))
	for b, d := range data {
		ints := make([]int, len(d)+ecPer)
		for i, c := range d {
			ints[i] = int(c)
		}
		if err := rsEncoder.Encode(ints, ecPer); err != nil {
			return nil, fmt.Errorf("grade: reed-solomon: %w", err)
		}
		ecs[b] = make([]byte, ecPer)
		for i := range ecPer {
			ecs[b][i] = byte(ints[len(d)+i])
		}
		s.blocks[b].ec = ecPer
	}
	bits := gozxing.NewEmptyBitArray()
	maxData := 0
	for _, d := range data {
		maxData = max(maxData, len(d))
	}
	add := func(b int, c byte) {
		s.blocks[b].codewords = append(s.blocks[b].codewords, len(s.codewords))
		s.codewords = append(s.codewords, b)
		_ = bits.AppendBits(int(c), 8) // 8 bits always fit
	}
	for i := 0; i < maxData; i++ {
		for b, d := range data {
			if i < len(d) {
				add(b, d[i])
			}
		}
	}
	for i := 0; i < ecPer; i++ {
		for b := range ecs {
			add(b, ecs[b][i])
		}
	}
	s.ideal = zxencoder.NewByteMatrix(n, n)
	if err := zxencoder.MatrixUtil_buildMatrix(bits, level, version, code.Mask, s.ideal); err != nil {
		return nil, qrmfg.Errorf(qrmfg.EINVALID, "code cannot be rebuilt: %v", err)
	}
	centres := version.GetAlignmentPatternCenters()
	for _, y := range centres {
		for _, x := range centres {
			if (x < 9 && y < 9) || (x > n-10 && y < 9) || (x < 9 && y > n-10) {
				continue // under a finder pattern
			}
			s.alignment = append(s.alignment, [2]int{x, y})
		}
	}
	s.owner = codewordMap(n, version, s.alignment, len(s.codewords))
	return s, nil
}

// codewordMap walks the data region in the placement order of ISO/IEC 18004
// (two-module columns from the right, alternately upwards and downwards,
// skipping the vertical timing pattern) and gives each data module the index
// of the interleaved codeword its bit belongs to.
func codewordMap(n int, v *zxdecoder.Version, alignment [][2]int, total int) []int {
	fn := functionModules(n, v, alignment)
	owner := make([]int, n*n)
	bit := 0
	up := true
	for right := n - 1; right > 0; right -= 2 {
		if right == 6 {
			right = 5
		}
		for i := 0; i < n; i++ {
			row := i
			if up {
				row = n - 1 - i
			}
			for c := 0; c < 2; c++ {
				col := right - c
				if fn[row*n+col] {
					owner[row*n+col] = -1
					continue
				}
				k := bit / 8
				if k >= total {
					k = -1 // remainder bits
				}
				owner[row*n+col] = k
				bit++
			}
		}
		up = !up
	}
	for i, f := range fn {
		if f {
			owner[i] = -1
		}
	}
	return owner
}

// functionModules marks the finder patterns with separators and format
// information, the timing patterns, the alignment patterns (centred on
// alignment) and the version information.
func functionModules(n int, v *zxdecoder.Version, alignment [][2]int) []bool {
	fn := make([]bool, n*n)
	set := func(c0, r0, c1, r1 int) {
		for r := max(r0, 0); r < min(r1, n); r++ {
			for c := max(c0, 0); c < min(c1, n); c++ {
				fn[r*n+c] = true
			}
		}
	}
	set(0, 0, 9, 9)
	set(n-8, 0, n, 9)
	set(0, n-8, 9, n)
	set(6, 0, 7, n)
	set(0, 6, n, 7)
	for _, a := range alignment {
		set(a[0]-2, a[1]-2, a[0]+3, a[1]+3)
	}
	if v.GetVersionNumber() >= 7 {
		set(n-11, 0, n-8, 6)
		set(0, n-11, 6, n-8)
	}
	return fn
}

// reservedEC is the number of EC codewords per block that ISO/IEC 18004
// reserves for misdecode protection in the smallest versions.
func reservedEC(version int, level string) int {
	switch {
	case version == 1 && level == "L":
		return 3
	case version == 1 && level == "M", version == 2 && level == "L":
		return 2
	case version == 1, version == 3 && level == "L":
		return 1
	}
	return 0
}
