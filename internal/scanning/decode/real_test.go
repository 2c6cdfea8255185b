package decode

import (
	"testing"
)

// minQRRealReads is the floor on images of qr-real read with DefaultOptions.
// Raise it when the decoder improves; a regression below it fails the test.
const minQRRealReads = 177

func TestQRReal(t *testing.T) {
	t.Parallel()
	imgs := loadQRReal(t)
	s := scoreQRReal(t, imgs, DefaultOptions())
	t.Logf("qr-real: read %d of %d, %d wrong, %.0f images/s", s.read, len(imgs), s.wrong, float64(len(imgs))/s.elapsed.Seconds())
	for _, m := range s.missed {
		t.Logf("missed %s", m)
	}
	if s.wrong > 0 {
		t.Errorf("%d wrong decodes: %q", s.wrong, s.wrongs)
	}
	if s.read < minQRRealReads {
		t.Errorf("read %d images, want at least %d", s.read, minQRRealReads)
	}
}
