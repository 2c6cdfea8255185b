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
