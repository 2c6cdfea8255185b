package decode

import (
	"errors"

	"github.com/makiuchi-d/gozxing"
	"github.com/makiuchi-d/gozxing/common"
	zxdecoder "github.com/makiuchi-d/gozxing/qrcode/decoder"

	"github.com/qrmfg/qrmfg/internal/qr"
)

// symbol is what reading one sampled module grid yields.
type symbol struct {
	text       string
	payload    []byte
	raw        []byte
	version    int
	level      string
	mask       int
	mirrored   bool
	model1     bool // a QR Model 1 symbol
	errors     int
	capacity   int
	worstBlock float64
	modules    *qr.Matrix // as sampled, dark = true, symbol orientation
}

var errNoSymbol = errors.New("decode: no readable symbol")

// readSymbol decodes a sampled module grid (true = dark), trying the mirrored
// reading when the normal one fails, as ZXing does.
func readSymbol(bits *gozxing.BitMatrix) (*symbol, error) {
	parser, err := zxdecoder.NewBitMatrixParser(bits)
	if err != nil {
		return nil, err
	}
	s, err := readParsed(parser, bits, false)
	if err != nil {
		parser.SetMirror(true)
		var e error
		if s, e = readParsed(parser, bits, true); e != nil {
			var model1 bool
			if s, model1 = readModel1Grid(bits); s == nil {
				if model1 {
					return nil, errModel1
				}
				return nil, err
			}
		}
	}
	n := bits.GetHeight()
	s.modules = qr.NewMatrix(n)
	for y := 0; y < n; y++ {
		for x := 0; x < n; x++ {
			if s.mirrored {
				s.modules.Set(x, y, bits.Get(y, x))
			} else {
				s.modules.Set(x, y, bits.Get(x, y))
			}
		}
	}
	return s, nil
}

// errModel1 is a grid whose format information is that of a QR Model 1
// symbol that did not read as one: a retry with another grid will not
// make it read.
var errModel1 = errors.New("decode: unreadable QR Model 1 symbol")

func readParsed(p *zxdecoder.BitMatrixParser, bits *gozxing.BitMatrix, mirrored bool) (*symbol, error) {
	version, err := p.ReadVersion()
	if err != nil {
		return nil, err
	}
	fi, err := p.ReadFormatInformation()
	if err != nil {
		return nil, err
	}
	mask := int(fi.GetDataMask())
	codewords, err := readCodewords(bits, version, mask, mirrored)
	if err != nil {
		return nil, err
	}
	s, err := decodeCodewords(codewords, version, fi.GetErrorCorrectionLevel(), mask)
	if err != nil {
		return nil, err
	}
	s.mirrored = mirrored
	return s, nil
}

// readCodewords reads the codewords of the grid (transposed when mirrored)
// as ZXing's BitMatrixParser.ReadCodewords does, but unmasking on the fly
// rather than in place and without building a function-pattern matrix per
// call the gozxing way.
func readCodewords(bits *gozxing.BitMatrix, version *zxdecoder.Version, mask int, mirrored bool) ([]byte, error) {
	d := version.GetDimensionForVersion()
	if bits.GetHeight() != d || bits.GetWidth() != d {
		return nil, errNoSymbol
	}
	fn := functionMask(version)
	codewords := make([]byte, version.GetTotalCodewords())
	n, cur, nbits := 0, 0, 0
	up := true
	for j := d - 1; j > 0; j -= 2 {
		if j == 6 {
			j-- // the vertical timing pattern's column
		}
		for count := 0; count < d; count++ {
			i := count
			if up {
				i = d - 1 - count
			}
			for x := j; x > j-2; x-- {
				if fn[i*d+x] {
					continue
				}
				dark := bits.Get(x, i)
				if mirrored {
					dark = bits.Get(i, x)
				}
				cur <<= 1
				if dark != masked(mask, i, x) {
					cur |= 1
				}
				if nbits++; nbits == 8 {
					if n == len(codewords) {
						return nil, errNoSymbol
					}
					codewords[n] = byte(cur)
					n, cur, nbits = n+1, 0, 0
				}
			}
		}
		up = !up
	}
	if n != len(codewords) {
		return nil, errNoSymbol
	}
	return codewords, nil
}

// masked reports whether data mask m inverts the module in row i, column j.
func masked(m, i, j int) bool {
	switch m {
	case 0:
		return (i+j)&1 == 0
	case 1:
		return i&1 == 0
	case 2:
		return j%3 == 0
	case 3:
		return (i+j)%3 == 0
	case 4:
		return (i/2+j/3)&1 == 0
	case 5:
		return i*j%6 == 0
	case 6:
		return i*j%6 < 3
	default:
		return (i+j+i*j%3)&1 == 0
	}
}

// functionMask marks the modules of a version's function patterns and
// format and version information, as ZXing's buildFunctionPattern does.
// The slice is shared (built once per version): read only.
func functionMask(v *zxdecoder.Version) []bool {
	return functionMasks.get(v.GetVersionNumber(), func(int) []bool { return buildFunctionMask(v) })
}

// functionMasks caches functionMask by version number.
var functionMasks = newTableCache[[]bool](41)

func buildFunctionMask(v *zxdecoder.Version) []bool {
	d := v.GetDimensionForVersion()
	fn := make([]bool, d*d)
	region := func(left, top, w, h int) {
		for y := top; y < top+h; y++ {
			for x := left; x < left+w; x++ {
				fn[y*d+x] = true
			}
		}
	}
	region(0, 0, 9, 9)
	region(d-8, 0, 8, 9)
	region(0, d-8, 9, 8)
	for _, c := range alignmentCenters(v) {
		region(c[0]-2, c[1]-2, 5, 5)
	}
	region(6, 9, 1, d-17)
	region(9, 6, d-17, 1)
	if v.GetVersionNumber() > 6 {
		region(d-11, 0, 3, 6)
		region(0, d-11, 6, 3)
	}
	return fn
}

// alignmentCenters lists the module coordinates (x, y) of the centres of
// version v's alignment patterns, row by row, leaving out the three places
// under a finder pattern.
func alignmentCenters(v *zxdecoder.Version) [][2]int {
	cs := v.GetAlignmentPatternCenters()
	last := len(cs) - 1
	var out [][2]int
	for j, cy := range cs {
		for i, cx := range cs {
			if (i == 0 && (j == 0 || j == last)) || (i == last && j == 0) {
				continue
			}
			out = append(out, [2]int{cx, cy})
		}
	}
	return out
}

// decodeCodewords corrects and parses the codewords of a symbol.
func decodeCodewords(codewords []byte, version *zxdecoder.Version, level zxdecoder.ErrorCorrectionLevel, mask int) (*symbol, error) {
	blocks, err := zxdecoder.DataBlock_GetDataBlocks(codewords, version, level)
	if err != nil {
		return nil, err
	}
	s := &symbol{
		version: version.GetVersionNumber(),
		level:   level.String(),
		mask:    mask,
	}
	total := 0
	for _, b := range blocks {
		total += b.GetNumDataCodewords()
	}
	data := make([]byte, 0, total)
	var block [256]byte
	for _, b := range blocks {
		cw := block[:copy(block[:], b.GetCodewords())]
		nd := b.GetNumDataCodewords()
		if !s.correct(cw, len(cw)-nd) {
			return nil, errNoSymbol
		}
		data = append(data, cw[:nd]...)
	}
	if err := s.parse(data, data, version, level); err != nil {
		return nil, err
	}
	return s, nil
}

// parse decodes the bit stream of the corrected data codewords raw (stream:
// the bits that follow the model's header) as a symbol of version's number
// and level, and keeps the codewords, the text and the bytes.
func (s *symbol) parse(raw, stream []byte, version *zxdecoder.Version, level zxdecoder.ErrorCorrectionLevel) error {
	res, err := zxdecoder.DecodedBitStreamParser_Decode(stream, version, level, nil)
	if err != nil {
		return err
	}
	s.raw = raw
	s.text = res.GetText()
	s.payload = payloadOf(res)
	return nil
}

// correct corrects one block (data then nec error-correction codewords) in
// place and adds what it took to the symbol's margins. It refuses a block
// that is no codeword within reach, and one that used the whole correction
// budget of a block with few EC codewords: such a block is as likely
// miscorrected as read (ISO/IEC 18004 reserves misdecode protection
// codewords for the small versions).
func (s *symbol) correct(block []byte, nec int) bool {
	fixed, ok := rsCorrect(block, nec)
	if !ok {
		return false
	}
	capacity := (nec - reservedEC(s.version, s.level)) / 2
	if fixed > capacity {
		return false
	}
	s.errors += fixed
	s.capacity += capacity
	s.worstBlock = max(s.worstBlock, float64(fixed)/float64(capacity))
	return true
}

// reservedEC is the number of error-correction codewords per block that
// ISO/IEC 18004 Table 9 sets aside for misdecode protection ("p"): they detect
// rather than correct.
func reservedEC(version int, level string) int {
	switch version {
	case 1:
		switch level {
		case "L":
			return 3
		case "M":
			return 2
		default:
			return 1
		}
	case 2:
		if level == "L" {
			return 2
		}
	case 3:
		if level == "L" {
			return 1
		}
	}
	return 0
}

// payloadOf returns the octets of the symbol's byte-mode segments as stored,
// before any character-set interpretation, or nil when it has none.
func payloadOf(res *common.DecoderResult) []byte {
	var out []byte
	for _, s := range res.GetByteSegments() {
		out = append(out, s...)
	}
	return out
}

// model is the symbol's QR Code model, 1 or 2.
func (s *symbol) model() int {
	if s.model1 {
		return 1
	}
	return 2
}
