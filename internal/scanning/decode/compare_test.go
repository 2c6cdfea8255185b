package decode

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/xml"
	"fmt"
	"image"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/qrmfg/qrmfg/internal/scanning/decode/degrade"
)

// TestCompareCLIs runs zbar (zbarimg) and zxing-cpp (ZXingReader) over qr-real
// and over the seeded engraved-mark set next to this decoder and logs reads,
// wrong decodes and images/s for each. It is slow, so it runs only with
// QRMFG_COMPARE=1:
//
//	QRMFG_COMPARE=1 go test ./internal/scanning/decode -run CompareCLIs -v
//
// Each CLI gets all files in one invocation, so process start-up is paid
// once. zbarimg's --xml output (the only one that separates files) mangles
// payloads that are not UTF-8: it base64-encodes them with sign-extended
// bytes that swallow their neighbours, so its Shift_JIS codes show up as
// wrong here although its decode may have been right. Its time includes
// reading and decoding the image files, so this
// decoder is timed the same way here (Bytes on the file contents). Pin the
// run to one core with taskset for a one-core comparison.
func TestCompareCLIs(t *testing.T) {
	if os.Getenv("QRMFG_COMPARE") != "1" {
		t.Skip("set QRMFG_COMPARE=1 to compare with zbarimg and ZXingReader")
	}
	t.Run("qr-real", func(t *testing.T) { compareCLIs(t, loadQRReal(t)) })
	t.Run("engraved", func(t *testing.T) {
		// The seeded engraved-mark set of TestDegradedMarks, all 200
		// images unless DEGRADED_N says otherwise.
		n := 200
		if v, err := strconv.Atoi(os.Getenv("DEGRADED_N")); err == nil && v > 0 {
			n = v
		}
		set, err := degrade.Set(degradedSeed, n)
		if err != nil {
			t.Fatal(err)
		}
		imgs := make([]realImage, len(set))
		for i, s := range set {
			imgs[i] = realImage{name: s.Name, expected: []byte(s.Text), data: pngOf(t, s.Image)}
		}
		compareCLIs(t, imgs)
	})
	t.Run("many", func(t *testing.T) {
		img, want := trayPhoto()
		compareMany(t, "a4-24 sheet, 150 dpi", labelSheetPNG(t, 150), sheetTexts())
		compareMany(t, "a4-24 sheet, 300 dpi", labelSheetPNG(t, 300), sheetTexts())
		compareMany(t, "tray, 4000×3000", pngOf(t, img), want)
	})
}

// compareMany runs this decoder, zbarimg and ZXingReader on one PNG photo
// of the codes want and logs how many of them each reads, its wrong
// decodes and its time (file decode included).
func compareMany(t *testing.T, name string, data []byte, want []string) {
	file := filepath.Join(t.TempDir(), "photo.png")
	if err := os.WriteFile(file, data, 0o600); err != nil {
		t.Fatal(err)
	}
	score := func(got []string) (read, wrong int) {
		left := map[string]bool{}
		for _, w := range want {
			left[w] = true
		}
		for _, g := range got {
			if left[g] {
				read++
				delete(left, g)
			} else {
				wrong++
			}
		}
		return read, wrong
	}
	start := time.Now()
	codes, err := Bytes(context.Background(), data, DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	read, wrong := score(texts(codes))
	t.Logf("%s: %-12s read %3d of %d, %d wrong, %6.0f ms", name, "qrmfg", read, len(want), wrong, time.Since(start).Seconds()*1000)
	for _, tool := range cliTools {
		path, err := exec.LookPath(tool.name)
		if err != nil {
			t.Logf("%s not installed; skipped", tool.name)
			continue
		}
		cmd := exec.CommandContext(context.Background(), path, append(tool.args, filepath.Base(file))...)
		cmd.Dir = filepath.Dir(file)
		cmd.Env = append(os.Environ(), "OMP_NUM_THREADS=1")
		var out bytes.Buffer
		cmd.Stdout = &out
		start := time.Now()
		_ = cmd.Run()
		el := time.Since(start)
		res := out.Bytes()
		if tool.name == "ZXingReader" {
			// Given one file, it leaves out the "File:" line of each result.
			res = bytes.ReplaceAll(res, []byte("Text:"), []byte("File: "+filepath.Base(file)+"\nText:"))
		}
		read, wrong := score(tool.parse(res)[filepath.Base(file)])
		t.Logf("%s: %-12s read %3d of %d, %d wrong, %6.0f ms", name, tool.name, read, len(want), wrong, el.Seconds()*1000)
	}
}

// compareCLIs runs this decoder, zbarimg and ZXingReader over imgs and logs
// reads, wrong decodes and images/s for each.
func compareCLIs(t *testing.T, imgs []realImage) {
	// Neither CLI reads WebP: give both lossless PNG copies of every image
	// (the pixels the decoders see are the same).
	dir := t.TempDir()
	var files []string
	for i, im := range imgs {
		p, _, err := image.Decode(bytes.NewReader(im.data))
		if err != nil {
			t.Fatalf("%s: %v", im.name, err)
		}
		name := fmt.Sprintf("%03d.png", i)
		if err := os.WriteFile(filepath.Join(dir, name), pngOf(t, p), 0o600); err != nil {
			t.Fatal(err)
		}
		files = append(files, name)
	}

	byName := expectedByName(imgs)
	s := scoreQRReal(t, imgs, DefaultOptions())
	t.Logf("qrmfg decode:  read %3d of %d, %d wrong, %6.0f images/s (file decode included)", s.read, len(imgs), s.wrong, float64(len(imgs))/s.elapsed.Seconds())

	for _, tool := range cliTools {
		path, err := exec.LookPath(tool.name)
		if err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("%s not installed", tool.name)
			}
			t.Logf("%s not installed; skipped", tool.name)
			continue
		}
		cmd := exec.CommandContext(context.Background(), path, append(tool.args, files...)...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "OMP_NUM_THREADS=1")
		var out bytes.Buffer
		cmd.Stdout = &out
		start := time.Now()
		_ = cmd.Run() // zbarimg exits non-zero when some file has no code
		el := time.Since(start)
		got := tool.parse(out.Bytes())
		read, wrong := 0, 0
		for i, im := range imgs {
			ok := false
			for _, text := range got[files[i]] {
				// XML turns CR LF into LF: compare zbar's text that way.
				exp := string(im.expected)
				if tool.name == "zbarimg" && !strings.Contains(text, "\r") {
					exp = strings.ReplaceAll(exp, "\r\n", "\n")
				}
				right, bad := verdict(realImage{name: im.name, expected: []byte(exp)}, []byte(text), byName)
				ok = ok || right
				if bad {
					wrong++
					t.Logf("%s wrong on %s: %q", tool.name, im.name, text)
				}
			}
			if ok {
				read++
			}
		}
		t.Logf("%-13s  read %3d of %d, %d wrong, %6.0f images/s (one invocation, file decode included)", tool.name+":", read, len(imgs), wrong, float64(len(imgs))/el.Seconds())
	}
}

// cliTools are the reference decoders compared with, their arguments
// before the files and their output parsers (file name to texts).
var cliTools = []struct {
	name  string
	args  []string
	parse func([]byte) map[string][]string
}{
	{"zbarimg", []string{"-q", "--xml", "-Sdisable", "-Sqrcode.enable"}, parseZbarXML},
	{"ZXingReader", []string{"-format", "QRCode"}, parseZXingReader},
}

func parseZbarXML(out []byte) map[string][]string {
	var doc struct {
		Sources []struct {
			Href    string `xml:"href,attr"`
			Symbols []struct {
				Data struct {
					Format string `xml:"format,attr"`
					Text   string `xml:",chardata"`
				} `xml:"data"`
			} `xml:"index>symbol"`
		} `xml:"source"`
	}
	got := map[string][]string{}
	if err := xml.Unmarshal(out, &doc); err != nil {
		return got
	}
	for _, s := range doc.Sources {
		for _, sym := range s.Symbols {
			text := sym.Data.Text
			if sym.Data.Format == "base64" {
				b, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(text), ""))
				if err != nil {
					continue
				}
				text = string(b)
			}
			got[s.Href] = append(got[s.Href], text)
		}
	}
	return got
}

// parseZXingReader reads ZXingReader's default output: per result a block
// starting "File:" with a quoted "Text:" that may span lines up to "Bytes:".
func parseZXingReader(out []byte) map[string][]string {
	got := map[string][]string{}
	for _, block := range strings.Split(string(out), "File:")[1:] {
		name, rest, _ := strings.Cut(block, "\n")
		name = strings.TrimSpace(name)
		i := strings.Index(rest, "Text:")
		j := strings.Index(rest, "\nBytes:")
		if i < 0 || j < i {
			continue
		}
		text := strings.TrimSpace(rest[i+len("Text:") : j])
		text = strings.TrimSuffix(strings.TrimPrefix(text, `"`), `"`)
		got[name] = append(got[name], text)
	}
	return got
}
