package degrade

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

func TestSetIsDeterministic(t *testing.T) {
	t.Parallel()
	a, err := Set(42, 4)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Set(42, 4)
	if err != nil {
		t.Fatal(err)
	}
	c, err := Set(43, 4)
	if err != nil {
		t.Fatal(err)
	}
	for i := range a {
		if a[i].Text != b[i].Text || a[i].Params != b[i].Params || !bytes.Equal(a[i].Image.Pix, b[i].Image.Pix) {
			t.Fatalf("sample %d differs between two runs with the same seed", i)
		}
	}
	if a[0].Text == c[0].Text && bytes.Equal(a[0].Image.Pix, c[0].Image.Pix) {
		t.Error("another seed gave the same first sample")
	}
}

func TestWriteSet(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := WriteSet(dir, 1, 2); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"manifest.csv", "000.png", "001.png"} {
		if fi, err := os.Stat(filepath.Join(dir, name)); err != nil || fi.Size() == 0 {
			t.Errorf("%s: %v", name, err)
		}
	}
	// WRITE_DEGRADED=dir keeps a set for a look or for other decoders.
	if out := os.Getenv("WRITE_DEGRADED"); out != "" {
		if err := WriteSet(out, 2026, 200); err != nil {
			t.Fatal(err)
		}
	}
}

func TestTray(t *testing.T) {
	t.Parallel()
	a, texts, err := Tray(5, 3, 2, 600, 400)
	if err != nil {
		t.Fatal(err)
	}
	b, _, _ := Tray(5, 3, 2, 600, 400)
	if len(texts) != 6 || texts[0] != "PAD-V0100-L2025-09-00001" || texts[5] != "PAD-V0100-L2025-09-00006" || !bytes.Equal(a.Pix, b.Pix) {
		t.Fatalf("tray: texts %q, same pixels for the same seed: %v", texts, bytes.Equal(a.Pix, b.Pix))
	}
	one, text, err := TrayOfOne(5, 3, 2, 600, 400, 4)
	if err != nil || text != texts[4] {
		t.Fatalf("tray of one: %q %v", text, err)
	}
	// Only the other labels' pixels differ: the light and noise are the same.
	same := 0
	for i := range a.Pix {
		if a.Pix[i] == one.Pix[i] {
			same++
		}
	}
	if frac := float64(same) / float64(len(a.Pix)); frac < 0.3 || frac > 0.95 {
		t.Errorf("%.0f%% of the pixels are the same in the tray and the tray of one", 100*frac)
	}
	if _, _, err := Tray(5, 0, 2, 600, 400); err == nil {
		t.Error("a tray of no columns")
	}
	if _, _, err := TrayOfOne(5, 3, 2, 600, 400, 6); err == nil {
		t.Error("label 6 of 6")
	}
}
