package decode

import "testing"

func TestTh2Tmp(t *testing.T) {
	imgs := loadQRReal(t)
	s := scoreQRReal(t, imgs, Options{TryHarder: true, TryInverted: true})
	t.Logf("tryharder: read %d wrong %d in %v missed %v", s.read, s.wrong, s.elapsed, s.missed)
	s = scoreQRReal(t, imgs, Options{})
	t.Logf("zero options: read %d wrong %d in %v", s.read, s.wrong, s.elapsed)
}
