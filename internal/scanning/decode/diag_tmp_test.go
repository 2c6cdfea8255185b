package decode

import (
	"bytes"
	"image"
	"testing"

	"github.com/makiuchi-d/gozxing"
	multidetector "github.com/makiuchi-d/gozxing/multi/qrcode/detector"
	"github.com/makiuchi-d/gozxing/qrcode/detector"
)

func TestDiagTmp(t *testing.T) {
	imgs := loadQRReal(t)
	miss := map[string]bool{}
	for _, n := range []string{"zxing/qrcode-1/18.png", "zxing/qrcode-2/13.png", "zxing-cpp/qrcode-1/13.webp", "zxing-cpp/qrcode-2/#1314.webp", "zxing-cpp/qrcode-2/#199b.jpg", "zxing-cpp/qrcode-2/#709.webp", "zxing-cpp/qrcode-2/#940.png", "zxing-cpp/qrcode-2/13.webp", "zxing-cpp/qrcode-2/16.webp", "zxing-cpp/qrcode-2/30a.webp", "zxing-cpp/qrcode-2/6.webp", "zxing-cpp/qrcode-2/estimate-tilt.jpg", "zxing-cpp/qrcode-2/fix-finderpattern-order.webp", "zxing-cpp/qrcode-2/high-res-1.jpg", "zxing-cpp/qrcode-2/low-res-v1-a.webp", "zxing-cpp/qrcode-2/qr-inv-1.webp", "zxing-cpp/qrcode-3/21.webp", "zxing-cpp/qrcode-3/25.webp", "zxing-cpp/qrcode-3/40.webp"} {
		miss[n] = true
	}
	for _, im := range imgs {
		if !miss[im.name] {
			continue
		}
		p, _, _ := image.Decode(bytes.NewReader(im.data))
		g := grayOf(p)
		line := im.name + ":"
		for li, l := range []*gray{g, g.double()} {
			for bi, bin := range []func(gozxing.LuminanceSource) gozxing.Binarizer{gozxing.NewHybridBinarizer, gozxing.NewGlobalHistgramBinarizer} {
				m, _ := bin(&lumSource{g: l}).GetBlackMatrix()
				for inv := 0; inv < 2; inv++ {
					if inv == 1 {
						m.FlipAll()
					}
					ns := 0
					if r, err := detector.NewDetector(m).Detect(hints); err == nil {
						ns = r.GetBits().GetHeight()
					}
					rs, _ := multidetector.NewMultiDetector(m).DetectMulti(hints)
					dims := []int{}
					for _, r := range rs {
						dims = append(dims, r.GetBits().GetHeight())
					}
					line += " " + string(rune('0'+li)) + string(rune('0'+bi)) + string(rune('0'+inv)) + ":" + itoa(ns) + "/" + itoas(dims)
				}
			}
		}
		t.Log(line)
	}
}

func itoa(i int) string {
	if i == 0 {
		return "-"
	}
	s := ""
	for i > 0 {
		s = string(rune('0'+i%10)) + s
		i /= 10
	}
	return s
}
func itoas(a []int) string {
	s := ""
	for _, x := range a {
		s += itoa(x) + ","
	}
	return s
}
