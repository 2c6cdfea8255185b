package decode

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sort"
	"sync"

	"github.com/makiuchi-d/gozxing"
	"github.com/makiuchi-d/gozxing/common"
	"github.com/makiuchi-d/gozxing/qrcode/detector"

	"github.com/qrmfg/qrmfg/internal/qr"
)

// Code is one decoded QR code.
type Code struct {
	// Text is the decoded message as UTF-8: ECI designators and the
	// character set of byte segments (ISO-8859-1 by default, UTF-8 or
	// Shift_JIS when detected) are applied.
	Text string
	// Bytes holds the octets of the byte-mode segments exactly as stored,
	// before character-set interpretation; nil when the symbol has none.
	Bytes []byte
	// Raw holds the data codewords after error correction (mode indicators,
	// counts and padding included).
	Raw []byte
	// Corners are the symbol's outer corners in image pixels, clockwise from
	// the top-left finder pattern: top-left, top-right, bottom-right,
	// bottom-left in the symbol's reading orientation.
	Corners [4]Point2f
	// Model is 2, or 1 for the original QR Code Model 1 (ISO/IEC
	// 18004:2000 Annex M). Version is 1 to 40 (1 to 14 for Model 1); Level
	// is "L", "M", "Q" or "H"; Mask is 0 to 7.
	Model   int
	Version int
	Level   string
	Mask    int
	// Mirrored is set when the symbol was read transposed (printed mirrored
	// or seen from behind).
	Mirrored bool
	// Inverted is set when the symbol is light on dark.
	Inverted bool
	// ErrorsCorrected is the number of codewords Reed-Solomon correction
	// changed, over all blocks; ECCapacity the number it could have
	// corrected. WorstBlock is the highest corrected/capacity ratio of any
	// one block (0 = clean, 1 = at the limit), the margin that matters.
	ErrorsCorrected int
	ECCapacity      int
	WorstBlock      float64
	// ModuleSize is the mean module side in image pixels.
	ModuleSize float64
	// Grid is the sampling geometry; Modules the modules as sampled
	// (true = dark in the symbol's sense, so an inverted symbol's light
	// modules read dark), before unmasking.
	Grid    Grid
	Modules *qr.Matrix
}

// scan runs the passes over g until one finds codes (or all of them with
// TryHarder), the context ends or the passes run out. The passes run in a
// goroutine so that the caller gets its answer at the deadline even when a
// pass inside gozxing is still busy (a noise image can keep one for
// seconds); that pass finishes in the background and its results are
// dropped. A panic in a pass is returned as an error. The planes the passes
// build, and g itself, are recycled (freePlane) when the passes end: the
// caller must not use g after scan.
func scan(ctx context.Context, g *gray, opts Options) ([]Code, error) {
	sc := &scanner{ctx: ctx, all: opts.TryHarder, retries: maxRetries, bin: getBinarizer()}
	if opts.TryHarder {
		sc.retries *= 4
	}
	done := make(chan error, 1)
	go func() {
		var made []*gray
		defer func() {
			if r := recover(); r != nil {
				done <- fmt.Errorf("decode: failure in a detection pass: %v", r)
			}
			// Only now is no pass using the planes any more.
			for _, p := range made {
				freePlane(p.pix)
			}
			freePlane(g.pix)
			sc.bin.put(sc.matrices)
		}()
		sc.run(g, opts, &made)
		done <- nil
	}()
	var err error
	select {
	case err = <-done:
	case <-ctx.Done():
	}
	return sc.snapshot(), err
}

func (sc *scanner) run(g *gray, opts Options, made *[]*gray) {
	lv := levels(g, made)
	built := make([]*level, len(lv))
	// Round one reads what ZXing's own sampling and the cheap refit to
	// the alignment patterns read, over every pass; only when it found
	// nothing does round two spend retries (grid fits, our own finder
	// triples), so the cost of the hard cases falls on the images that
	// need it. Round two reuses round one's binarizations and finder
	// patterns.
	for round := 0; round < 2; round++ {
		sc.retrying = round == 1
		if sc.retrying && (maxRetries == 0 || len(sc.found) > 0 && !opts.TryHarder || sc.model1) {
			// (A QR Model 1 symbol, recognised by its format information,
			// is given up rather than retried: its layout is not Model 2's.)
			return
		}
		for i, mk := range lv {
			if sc.ctx.Err() != nil {
				return
			}
			if built[i] == nil {
				built[i] = &level{g: mk()}
			}
			if l := built[i]; l.g != nil && sc.scanLevel(l, opts) {
				return
			}
		}
	}
}

// level is one plane of the search with what the passes over it found,
// kept for the second round.
type level struct {
	g      *gray
	passes [2][2]*passResult // by binarizer and polarity
}

// passResult is what one binarization of a level yields before any retry.
type passResult struct {
	m       *gozxing.BitMatrix
	centers []*detector.FinderPattern // the single detector's candidates
	single  *common.DetectorResult    // its triple, nil when none
}

// binarize returns the pass of binarizer bi over l (its negative when
// inverted: binarizing the negative rather than flipping the bits, since the
// binarizers take flat areas for light background, which for a
// light-on-dark mark is the wrong way round), binarizing and running ZXing's
// single-symbol finder on first use.
func (sc *scanner) binarize(l *level, bi int, inverted bool) *passResult {
	pol := 0
	if inverted {
		pol = 1
	}
	if p := l.passes[bi][pol]; p != nil {
		return p
	}
	var m *gozxing.BitMatrix
	var err error
	if bi == 0 {
		m, err = sc.bin.hybrid(l.g, inverted)
	} else {
		m, err = sc.bin.global(l.g, inverted)
	}
	p := &passResult{m: m}
	if err != nil {
		p.m = nil
	} else {
		sc.matrices = append(sc.matrices, m)
		finder, info, err := findSingle(m)
		if err == nil {
			if r, err := detector.NewDetector(m).ProcessFinderPatternInfo(info); err == nil {
				p.single = r
			}
		}
		p.centers = finder.GetPossibleCenters()
	}
	l.passes[bi][pol] = p
	return p
}

// add merges code into the codes found, under the lock snapshot takes.
func (sc *scanner) add(code Code) {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	sc.found = merge(sc.found, []Code{code})
}

// snapshot returns the codes found so far, in reading order.
func (sc *scanner) snapshot() []Code {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	return finish(append([]Code(nil), sc.found...))
}

// binarizers are the binarizations of a pass: 0 hybrid (local
// thresholds), 1 gozxing's global histogram.
const binarizers = 2

// scanLevel runs the passes of one level: each binarizer, on the image and,
// with TryInverted, on its negative. It reports true when the scan is done.
func (sc *scanner) scanLevel(l *level, opts Options) bool {
	for bi := range binarizers {
		// Loose triples (our own finder combinations) only on the first
		// binarization of a level: the others find the same finder
		// patterns, and each loose triple costs retries.
		sc.loose = bi == 0
		for _, inverted := range []bool{false, true} {
			if inverted && !opts.TryInverted {
				continue
			}
			if pos := l.passes[bi][0]; inverted && !opts.TryHarder && (pos != nil && pos.single != nil || sc.many && sc.darkRead) {
				// The dark-on-light pass found a symbol's three finder
				// patterns, or a pass read dark-on-light codes of many:
				// the symbols are dark on light, and the negative's pass
				// would find nothing it did not.
				continue
			}
			if sc.ctx.Err() != nil {
				return true
			}
			p := sc.binarize(l, bi, inverted)
			if p.m == nil {
				continue
			}
			sc.pass++
			sc.perPass = retriesPerPass
			had := len(sc.found)
			sc.detectAll(p, l.g, inverted)
			if len(sc.found) > had {
				sc.darkRead = sc.darkRead || !inverted
				sc.stale = 0
			} else {
				sc.stale++
			}
			if len(sc.found) > 0 && !opts.TryHarder && !sc.moreToRead() {
				return true
			}
		}
	}
	return false
}

// scanner holds the state of one scan: the codes found so far and the
// candidates that the retry already failed on, so that a finder triple that
// both detectors of a pass report costs one retry, not two.
type scanner struct {
	mu       sync.Mutex // guards writes to found against snapshot
	ctx      context.Context
	all      bool
	pass     int
	found    []Code
	failed   []failedCandidate
	retries  int  // retries left in this scan: each costs grid fits
	perPass  int  // retries left in this pass
	loose    bool // try our own finder-pattern triples in this pass
	retrying bool // the second round: retries allowed
	many     bool // the photo has many codes (readGroups ran)
	stale    int  // passes in a row that read no new code
	darkRead bool // a dark-on-light pass read a code
	model1   bool // a QR Model 1 symbol was seen
	bin      *binarizer
	matrices []*gozxing.BitMatrix // the passes' binarizations
}

// retriesPerPass spreads the retries over the passes, so that the first
// passes cannot spend them all on candidates a later binarization or scale
// gets right.
var retriesPerPass = 6

// maxRetries bounds the retries (see retry) of one scan. Most images that
// read at all read within the first few; the bound keeps an unreadable image
// from costing seconds.
var maxRetries = 24

// failedCandidate is a finder triple (image pixels) that could not be read
// in one pass (another binarization or level may well read it).
type failedCandidate struct {
	tl, tr, bl Point2f
	module     float64
	pass       int
}

// takeRetry spends one retry if the scan and the pass have one left.
func (sc *scanner) takeRetry() bool {
	if !sc.retrying || sc.retries <= 0 || sc.perPass <= 0 || sc.model1 {
		return false
	}
	sc.retries--
	sc.perPass--
	return true
}

func (sc *scanner) triedBefore(f failedCandidate) bool {
	for _, o := range sc.failed {
		tol := 1.5 * o.module
		if f.pass == o.pass && f.tl.near(o.tl, tol) && f.tr.near(o.tr, tol) && f.bl.near(o.bl, tol) {
			return true
		}
	}
	return false
}

// levels returns the scale pyramid of g in the order it is searched, each
// level built only when asked for: the finest level no larger than startSide
// first, then finer ones (small codes in large frames), then coarser ones
// (large blurred codes), then the start level with its contrast stretched,
// then upscales of small images. A level may be nil (nothing to try). Each
// plane built is appended to made once.
func levels(g *gray, made *[]*gray) []func() *gray {
	keep := func(p *gray) *gray {
		if p != nil {
			*made = append(*made, p)
		}
		return p
	}
	// The halvings, built on first use: an image read at the start level
	// never pays for the coarser ones.
	n := 1
	for w, h := g.w, g.h; max(w, h) > 2*minLevelSide && min(w, h) >= 2*64; w, h = w/2, h/2 {
		n++
	}
	pyr := []*gray{g}
	level := func(i int) *gray {
		for len(pyr) <= i {
			pyr = append(pyr, keep(pyr[len(pyr)-1].half()))
		}
		return pyr[i]
	}
	start := 0
	for w := max(g.w, g.h); start < n-1 && w > startSide; w /= 2 {
		start++
	}
	var out []func() *gray
	for i := start; i >= 0; i-- {
		out = append(out, func() *gray { return level(i) })
	}
	for i := start + 1; i < n; i++ {
		out = append(out, func() *gray { return level(i) })
	}
	// Low contrast: the start level again, stretched. Dotted marks: smoothed.
	out = append(out, func() *gray { return keep(level(start).stretched()) })
	out = append(out, func() *gray { return keep(level(start).smoothed()) })
	if max(g.w, g.h) <= upscaleSide {
		var d *gray
		out = append(out, func() *gray { d = keep(g.double()); return d })
		if max(g.w, g.h) <= upscaleSide/8 {
			out = append(out, func() *gray { return keep(d.double()) })
		}
	}
	return out
}

const (
	startSide    = 1280 // long side of the first level tried
	minLevelSide = 320  // no pyramid level is made smaller than this
	upscaleSide  = 800  // images no larger than this are also tried at twice the size
)

// maxMultiCenters is the most finder-pattern candidates (as the single
// detector saw them) for which the multi-detector runs.
const maxMultiCenters = 40

// detectAll finds finder-pattern triples in m and decodes each candidate:
// ZXing's single-symbol detector first (fast, row-skipping); in the second
// round, when nothing was read, our own triples (looseTriples, pairTriples);
// then the multi-symbol detector for further codes, scanning every row only
// in the second round or with TryHarder.
func (sc *scanner) detectAll(p *passResult, l *gray, inverted bool) {
	m := p.m
	if r := p.single; r != nil && !covered(sc.found, r, l.scale) {
		// The cheap refit to the alignment patterns in the first round,
		// the grid fit in the second.
		stages := refitAlign
		if sc.retrying {
			stages = refitFunction
		}
		if code, ok := sc.decodeCandidate(r, m, l, inverted, stages); ok {
			sc.add(code)
			if !sc.retrying {
				sc.strayPairs(p, m, l, inverted)
			}
		}
	}
	if len(sc.found) == 0 && sc.loose && sc.retrying {
		// ZXing refused to combine the finder patterns it found (module
		// sizes too different, as under strong perspective) or combined
		// them wrongly: combine them ourselves.
		for _, info := range append(looseTriples(p.centers), pairTriples(p.centers)...) {
			if sc.ctx.Err() != nil {
				return
			}
			if code, ok := sc.decodeLoose(info, m, l, inverted); ok {
				sc.add(code)
				if !sc.all {
					// The other triples are mostly this code's
					// finder patterns combined otherwise.
					break
				}
			}
		}
	}
	tryHarder, thorough := true, true
	if len(sc.found) > 0 && !sc.all || !sc.retrying {
		// Other codes beside the one read, or the first round: the cheaper
		// row-skipping scan.
		tryHarder = false
	}
	if len(sc.found) > 0 && !sc.all {
		thorough = false
	}
	var stages retryStages
	if thorough && sc.retrying {
		stages = refitAll
	}
	if len(p.centers) > maxMultiCenters && !sc.many && !sc.anyUnread(p.centers, l) {
		// Noise or texture: no symbol among the candidates beside the
		// codes read. (The candidates are those of ZXing's row-skipping
		// scan, which stops at the first symbol: once a photo is known
		// to hold many, its every pass looks for all of them.)
		return
	}
	skip := skipOf(m.GetHeight(), tryHarder)
	cs := multiCenters(m, skip)
	if len(cs) > maxMultiCenters || sc.many && len(cs) > 0 {
		// A sheet or tray of codes: ZXing's selection is cubic in the
		// candidates; group them by neighbourhood instead. ZXing's row
		// skip is made for one large symbol and steps over the centres
		// of small ones: rescan at two modules of the typical candidate.
		if fine := 2 * int(medianModule(cs)); fine < skip {
			cs = multiCenters(m, max(fine, 1))
		}
		sc.many = true
		sc.readGroups(cs, m, l, inverted, stages)
		return
	}
	for _, c := range processTriples(m, selectMultipleBestPatterns(cs)) {
		if sc.ctx.Err() != nil {
			return
		}
		if covered(sc.found, c, l.scale) {
			continue
		}
		if code, ok := sc.decodeCandidate(c, m, l, inverted, stages); ok {
			sc.add(code)
		}
	}
}

// strayPairs looks for a code whose third finder pattern was not found
// among the finder-pattern candidates that no code read so far explains,
// such as the inner code of a "double QR" printed inside the finder-free
// centre of another: confirmed candidates off every read code's finder
// patterns are paired (pairTriples) and read with a few retries of their
// own.
func (sc *scanner) strayPairs(p *passResult, m *gozxing.BitMatrix, l *gray, inverted bool) {
	var stray []*detector.FinderPattern
	for _, c := range p.centers {
		if c.GetCount() < detector.FinderPatternFinder_CENTER_QUORUM {
			continue
		}
		at := Point2f{c.GetX() * l.scale, c.GetY() * l.scale}
		if !sc.onFinder(at) {
			stray = append(stray, c)
		}
	}
	if len(stray) < 2 {
		return
	}
	retrying, retries, perPass := sc.retrying, sc.retries, sc.perPass
	sc.retrying, sc.retries, sc.perPass = true, strayRetries, strayRetries
	defer func() { sc.retrying, sc.retries, sc.perPass = retrying, retries, perPass }()
	for _, info := range pairTriples(stray) {
		if sc.ctx.Err() != nil || sc.retries == 0 {
			return
		}
		if code, ok := sc.decodeLoose(info, m, l, inverted); ok {
			sc.add(code)
			return
		}
	}
}

// strayRetries is the retry budget of strayPairs.
const strayRetries = 4

// onFinder reports whether image point at lies on a finder pattern of a
// code already read.
func (sc *scanner) onFinder(at Point2f) bool {
	for i := range sc.found {
		if sc.found[i].onFinder(at) {
			return true
		}
	}
	return false
}

// onFinder reports whether image point at lies on one of c's finder
// patterns.
func (c *Code) onFinder(at Point2f) bool {
	g := c.Grid
	n := float64(g.Size)
	for _, f := range [3]Point2f{{3.5, 3.5}, {n - 3.5, 3.5}, {3.5, n - 3.5}} {
		if at.near(g.Transform.Apply(f.X, f.Y), 3.5*c.ModuleSize) {
			return true
		}
	}
	return false
}

// decodeCandidate reads one detector result: ZXing's own sampling first
// (unless the first round sampled this very grid already), then the stages
// of retry: in the first round the refit to the alignment patterns, which
// spends no retry; in the second, when this triple has not failed before in
// this pass and a retry is left, the stages asked for. A QR Model 1 symbol
// stops all retries of the scan.
func (sc *scanner) decodeCandidate(dr *common.DetectorResult, m *gozxing.BitMatrix, l *gray, inverted bool, stages retryStages) (Code, bool) {
	bits := dr.GetBits()
	pts := dr.GetPoints()
	if bits == nil || len(pts) < 3 {
		return Code{}, false
	}
	n := bits.GetHeight()
	bl, tl, tr := pt(pts[0]), pt(pts[1]), pt(pts[2])
	var align *Point2f
	if len(pts) > 3 {
		a := pt(pts[3])
		align = &a
	}
	var h Homography
	var s *symbol
	err := errNoSymbol
	if stages&refitAlign != 0 || stages == 0 {
		// (Without the alignment refit, this candidate's sampling and
		// refit failed in the first round: the same grid fails again.)
		s, err = readSymbol(bits)
	}
	if errors.Is(err, errModel1) {
		// Model 1 has no alignment pattern: what the detector took for one
		// bent the grid. Sample the parallelogram of the finder patterns;
		// failing that, no retry will read the symbol either.
		h = model1Grid(tl, tr, bl, n)
		if s, err = readModel1At(m, l, h, n, inverted); err != nil {
			sc.model1 = true
			return Code{}, false
		}
		return makeCode(s, h, n, l, inverted)
	}
	if err == nil {
		fn := float64(n)
		from := [4]Point2f{{3.5, 3.5}, {fn - 3.5, 3.5}, {fn - 3.5, fn - 3.5}, {3.5, fn - 3.5}}
		to := [4]Point2f{tl, tr, {tr.X - tl.X + bl.X, tr.Y - tl.Y + bl.Y}, bl}
		if align != nil {
			from[2] = Point2f{fn - 6.5, fn - 6.5}
			to[2] = *align
		}
		h = quadToQuad(from, to)
	} else if !sc.retrying {
		// First round: only the refit to the alignment patterns, which
		// costs little and spends no retry.
		if stages&refitAlign == 0 {
			return Code{}, false
		}
		s, h, n, err = retry(m, l, [3]Point2f{tl, tr, bl}, align, [2]int{n, n + 4}, inverted, refitAlign)
		if err != nil {
			sc.model1 = sc.model1 || errors.Is(err, errModel1)
			return Code{}, false
		}
	} else {
		if stages == 0 {
			return Code{}, false
		}
		k := l.scale
		f := failedCandidate{
			tl:     Point2f{tl.X * k, tl.Y * k},
			tr:     Point2f{tr.X * k, tr.Y * k},
			bl:     Point2f{bl.X * k, bl.Y * k},
			module: math.Hypot(tr.X-tl.X, tr.Y-tl.Y) * k / float64(n-7),
			pass:   sc.pass,
		}
		if sc.triedBefore(f) || !sc.takeRetry() {
			return Code{}, false
		}
		s, h, n, err = retry(m, l, [3]Point2f{tl, tr, bl}, align, [2]int{n, n + 4}, inverted, stages)
		if err != nil {
			sc.model1 = sc.model1 || errors.Is(err, errModel1)
			sc.failed = append(sc.failed, f)
			return Code{}, false
		}
	}
	return makeCode(s, h, n, l, inverted)
}

// decodeLoose reads a triple from looseTriples. ZXing's own processing
// estimates one module size for the whole symbol, which is what fails under
// strong perspective, so the dimension is estimated leg by leg and the grid
// goes straight to the retry.
func (sc *scanner) decodeLoose(info *detector.FinderPatternInfo, m *gozxing.BitMatrix, l *gray, inverted bool) (Code, bool) {
	tl, tr, bl := info.GetTopLeft(), info.GetTopRight(), info.GetBottomLeft()
	leg := func(a, b *detector.FinderPattern) float64 {
		return math.Hypot(a.GetX()-b.GetX(), a.GetY()-b.GetY()) * 2 / (a.GetEstimatedModuleSize() + b.GetEstimatedModuleSize())
	}
	raw := (leg(tl, tr)+leg(tl, bl))/2 + 7
	d := int(math.Round((raw-17)/4))*4 + 17 // nearest valid dimension
	// The estimate and the next larger dimension first (what reads),
	// then one smaller and two larger.
	below := d - 4
	if below < 21 {
		below = d + 12
	}
	for _, dims := range [][2]int{{d, d + 4}, {below, d + 8}} {
		if dims[0] > 177 && dims[1] > 177 || !sc.takeRetry() {
			continue
		}
		finders := [3]Point2f{pt(tl), pt(tr), pt(bl)}
		sizes := [3]float64{tl.GetEstimatedModuleSize(), tr.GetEstimatedModuleSize(), bl.GetEstimatedModuleSize()}
		strong, steep := perspectiveOf(finders, sizes)
		if strong {
			if s, h, n, ok := cornerRead(m, l, finders, sizes, dims, inverted); ok {
				return makeCode(s, h, n, l, inverted)
			}
		}
		if steep {
			continue // beyond what the finder centres can place
		}
		s, h, n, err := retry(m, l, finders, nil, dims, inverted, refitAll)
		if errors.Is(err, errModel1) {
			sc.model1 = true
			return Code{}, false
		}
		if err == nil {
			return makeCode(s, h, n, l, inverted)
		}
	}
	return Code{}, false
}

// makeCode builds the Code of symbol s read through h (module space to the
// pixels of level l) from an n×n grid.
func makeCode(s *symbol, h Homography, n int, l *gray, inverted bool) (Code, bool) {
	fn := float64(n)
	k := l.scale
	h = Homography{k, 0, 0, 0, k, 0, 0, 0, 1}.mul(h)
	if s.mirrored {
		h = h.mul(Homography{0, 1, 0, 1, 0, 0, 0, 0, 1})
	}
	grid := Grid{Size: n, Transform: h}
	code := Code{
		Text:            s.text,
		Bytes:           s.payload,
		Raw:             s.raw,
		Model:           s.model(),
		Version:         s.version,
		Level:           s.level,
		Mask:            s.mask,
		Mirrored:        s.mirrored,
		Inverted:        inverted,
		ErrorsCorrected: s.errors,
		ECCapacity:      s.capacity,
		WorstBlock:      s.worstBlock,
		Grid:            grid,
		ModuleSize:      grid.ModuleSize(),
		Modules:         s.modules,
	}
	code.Corners = [4]Point2f{h.Apply(0, 0), h.Apply(fn, 0), h.Apply(fn, fn), h.Apply(0, fn)}
	for _, c := range code.Corners {
		if math.IsNaN(c.X) || math.IsNaN(c.Y) || math.IsInf(c.X, 0) || math.IsInf(c.Y, 0) {
			return Code{}, false
		}
	}
	return code, true
}

// covered reports whether the candidate dr (in level pixels) is a code
// already read: its finder patterns' centroid lies on that code and its size
// is about the same (a small code printed inside a large one is not covered).
func covered(codes []Code, dr *common.DetectorResult, scale float64) bool {
	pts := dr.GetPoints()
	if len(pts) < 3 || dr.GetBits() == nil {
		return true
	}
	var cx, cy float64
	for _, p := range pts[:3] {
		cx += p.GetX() * scale / 3
		cy += p.GetY() * scale / 3
	}
	n := float64(dr.GetBits().GetHeight())
	side := math.Hypot(pts[2].GetX()-pts[1].GetX(), pts[2].GetY()-pts[1].GetY()) * scale * n / (n - 7)
	for i := range codes {
		if sameSpot(codes[i], Point2f{cx, cy}, side) {
			return true
		}
	}
	return false
}

// sameSpot reports whether a symbol of the given side centred at c is code.
func sameSpot(code Code, c Point2f, side float64) bool {
	cc := code.center()
	codeSide := float64(code.Grid.Size) * code.ModuleSize
	ratio := side / codeSide
	return math.Hypot(c.X-cc.X, c.Y-cc.Y) < codeSide/2 && ratio > 0.7 && ratio < 1.4
}

func pt(p gozxing.ResultPoint) Point2f { return Point2f{p.GetX(), p.GetY()} }

func (c *Code) center() Point2f {
	return c.Grid.Transform.Apply(float64(c.Grid.Size)/2, float64(c.Grid.Size)/2)
}

// merge adds the codes of add to have, dropping a code that lies over one
// already found: the same symbol seen by another pass. Of two different
// readings at one place the one with more correction margin wins.
func merge(have, add []Code) []Code {
next:
	for _, a := range add {
		for i := range have {
			if sameSpot(have[i], a.center(), float64(a.Grid.Size)*a.ModuleSize) {
				if a.Text != have[i].Text && a.WorstBlock < have[i].WorstBlock {
					have[i] = a
				}
				continue next
			}
		}
		have = append(have, a)
	}
	return have
}

func finish(codes []Code) []Code {
	sort.SliceStable(codes, func(i, j int) bool {
		a, b := codes[i].center(), codes[j].center()
		if math.Abs(a.Y-b.Y) > min(codes[i].ModuleSize, codes[j].ModuleSize)*float64(min(codes[i].Grid.Size, codes[j].Grid.Size))/2 {
			return a.Y < b.Y
		}
		return a.X < b.X
	})
	return codes
}
