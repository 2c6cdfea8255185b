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
	s, err := readParsed(parser)
	if err != nil {
		parser.Remask()
		parser.SetMirror(true)
		if _, e := parser.ReadVersion(); e != nil {
			return nil, err
		}
		if _, e := parser.ReadFormatInformation(); e != nil {
			return nil, err
		}
		parser.Mirror()
		var e error
		if s, e = readParsed(parser); e != nil {
			return nil, err
		}
		s.mirrored = true
	}
	// The parser left bits unmasked (and transposed when mirrored): mask
	// them again for the modules as sampled, in the symbol's orientation.
	parser.Remask()
	n := bits.GetHeight()
	s.modules = qr.NewMatrix(n)
	for y := 0; y < n; y++ {
		for x := 0; x < n; x++ {
			s.modules.Set(x, y, bits.Get(x, y))
		}
	}
	return s, nil
}

func readParsed(p *zxdecoder.BitMatrixParser) (*symbol, error) {
	version, err := p.ReadVersion()
	if err != nil {
		return nil, err
	}
	fi, err := p.ReadFormatInformation()
	if err != nil {
		return nil, err
	}
	level := fi.GetErrorCorrectionLevel()
	codewords, err := p.ReadCodewords()
	if err != nil {
		return nil, err
	}
	blocks, err := zxdecoder.DataBlock_GetDataBlocks(codewords, version, level)
	if err != nil {
		return nil, err
	}
	s := &symbol{
		version: version.GetVersionNumber(),
		level:   level.String(),
		mask:    int(fi.GetDataMask()),
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
		nec := len(cw) - nd
		fixed, ok := rsCorrect(cw, nec)
		if !ok {
			return nil, errNoSymbol
		}
		// Refuse reads that used the whole correction budget of a block
		// with few EC codewords: such a block is as likely miscorrected as
		// read (ISO/IEC 18004 reserves misdecode protection codewords for
		// the small versions).
		capacity := (nec - reservedEC(s.version, s.level)) / 2
		if fixed > capacity {
			return nil, errNoSymbol
		}
		s.errors += fixed
		s.capacity += capacity
		s.worstBlock = max(s.worstBlock, float64(fixed)/float64(capacity))
		data = append(data, cw[:nd]...)
	}
	res, err := zxdecoder.DecodedBitStreamParser_Decode(data, version, level, nil)
	if err != nil {
		return nil, err
	}
	s.raw = data
	s.text = res.GetText()
	s.payload = payloadOf(res)
	return s, nil
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
