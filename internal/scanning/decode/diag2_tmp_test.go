package decode

import (
	"bytes"
	"fmt"
	"image"
	"testing"

	"github.com/makiuchi-d/gozxing"
	zxdecoder "github.com/makiuchi-d/gozxing/qrcode/decoder"
	"github.com/makiuchi-d/gozxing/qrcode/detector"
)

func TestDiag2Tmp(t *testing.T) {
	imgs := loadQRReal(t)
	for _, im := range imgs {
		switch im.name {
		case "zxing/qrcode-1/18.png", "zxing-cpp/qrcode-1/13.webp", "zxing-cpp/qrcode-2/#940.png", "zxing-cpp/qrcode-2/estimate-tilt.jpg", "zxing-cpp/qrcode-2/low-res-v1-a.webp", "zxing-cpp/qrcode-3/25.webp", "zxing-cpp/qrcode-3/21.webp", "zxing-cpp/qrcode-2/#199b.jpg":
		default:
			continue
		}
		p, _, _ := image.Decode(bytes.NewReader(im.data))
		g := grayOf(p)
		for li, l := range []*gray{g, g.double()} {
			m, _ := gozxing.NewHybridBinarizer(&lumSource{g: l}).GetBlackMatrix()
			r, err := detector.NewDetector(m).Detect(hints)
			if err != nil {
				continue
			}
			pts := r.GetPoints()
			bl, tl, tr := pt(pts[0]), pt(pts[1]), pt(pts[2])
			n := r.GetBits().GetHeight()
			fd := float64(n)
			cs := []corr{{Point2f{3.5, 3.5}, tl}, {Point2f{fd - 3.5, 3.5}, tr}, {Point2f{3.5, fd - 3.5}, bl}}
			if len(pts) > 3 {
				cs = append(cs, corr{Point2f{fd - 6.5, fd - 6.5}, pt(pts[3])})
			} else {
				cs = append(cs, corr{Point2f{fd - 3.5, fd - 3.5}, Point2f{tr.X - tl.X + bl.X, tr.Y - tl.Y + bl.Y}})
			}
			h := fitHomography(cs)
			line := fmt.Sprintf("%s L%d n=%d align=%v:", im.name, li, n, len(pts) > 3)
			for mode := range sampleModes {
				bits := sampleBits(m, l, h, n, mode, false)
				if bits == nil {
					line += " nil"
					continue
				}
				parser, _ := zxdecoder.NewBitMatrixParser(bits)
				_, e1 := parser.ReadVersion()
				fi, e2 := parser.ReadFormatInformation()
				_, e3 := readSymbol(bits)
				lv := ""
				if fi != nil {
					lv = fi.GetErrorCorrectionLevel().String()
				}
				line += fmt.Sprintf(" [m%d v:%v f:%v%s rs:%T]", mode, e1 == nil, e2 == nil, lv, e3)
			}
			t.Log(line)
		}
	}
}
