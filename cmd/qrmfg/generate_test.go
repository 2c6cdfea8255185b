package main

import (
	"archive/zip"
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// needTool skips (or, under CI=true, fails) when a reference tool is missing.
func needTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is not installed (make deps installs it)", name)
		}
		t.Skipf("%s is not installed; run make deps", name)
	}
	return p
}

// zbar decodes every code in the image files with zbarimg.
func zbar(t *testing.T, files ...string) []string {
	t.Helper()
	out, err := exec.Command(needTool(t, "zbarimg"), append([]string{"-q", "--raw"}, files...)...).Output()
	if err != nil {
		t.Fatalf("zbarimg: %v", err)
	}
	return strings.Fields(string(out))
}

func TestGenerateFormats(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	// JSON: the seed's body as it is.
	r := s.json("POST", "/qr/generate", seedBatch)
	if r.status != 200 {
		t.Fatalf("generate json: %d %s", r.status, r.body)
	}
	var res struct {
		Batch struct{ ID string }
		Items []struct {
			UID, Payload string
			PNGURL       string `json:"png_url"`
		}
	}
	if err := json.Unmarshal(r.body, &res); err != nil || len(res.Items) != 100 || res.Items[0].UID != "PAD-V0100-L2025-09-00001" {
		t.Fatalf("json answer: %v %.300s", err, r.body)
	}
	dir := t.TempDir()
	img := s.do("GET", res.Items[41].PNGURL, "", "")
	if img.status != 200 || img.header.Get("Content-Type") != "image/png" || img.header.Get("ETag") == "" {
		t.Fatalf("item png: %d %v", img.status, img.header)
	}
	one := filepath.Join(dir, "one.png")
	_ = os.WriteFile(one, img.body, 0o600)
	if got := zbar(t, one); len(got) != 1 || got[0] != "PAD-V0100-L2025-09-00042" {
		t.Fatalf("zbarimg read %v", got)
	}
	if again := s.do("GET", res.Items[41].PNGURL, "", "", "If-None-Match", img.header.Get("ETag")); again.status != 304 {
		t.Fatalf("If-None-Match: %d", again.status)
	}
	for _, ext := range []string{"svg", "pdf", "txt"} {
		if r := s.do("GET", "/qr/items/PAD-V0100-L2025-09-00001."+ext, "", ""); r.status != 200 || len(r.body) == 0 {
			t.Fatalf("item %s: %d", ext, r.status)
		}
	}
	// ZIP with signed payloads: every image decodes to its manifest payload.
	r = s.json("POST", "/qr/generate", `{"component_type":"BRK","vendor_code":"ACME","lot_number":"L7","count":40,"format":"zip","payload":"signed","style":{"ec_level":"Q","module_px":4}}`)
	if r.status != 200 || r.header.Get("Content-Type") != "application/zip" {
		t.Fatalf("zip: %d %s", r.status, r.body)
	}
	zr, err := zip.NewReader(bytes.NewReader(r.body), int64(len(r.body)))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{}
	var files []string
	for _, f := range zr.File {
		rc, _ := f.Open()
		if f.Name == "manifest.csv" {
			rows, _ := csv.NewReader(rc).ReadAll()
			for _, row := range rows[1:] {
				want[row[0]+".png"] = row[1]
			}
			continue
		}
		data := new(bytes.Buffer)
		_, _ = data.ReadFrom(rc)
		p := filepath.Join(dir, f.Name)
		_ = os.WriteFile(p, data.Bytes(), 0o600)
		files = append(files, p)
	}
	if len(files) != 40 || len(want) != 40 {
		t.Fatalf("zip has %d images and %d manifest rows", len(files), len(want))
	}
	for _, f := range files {
		got := zbar(t, f)
		if len(got) != 1 || got[0] != want[filepath.Base(f)] || !strings.Contains(got[0], ".K1.") {
			t.Fatalf("%s decodes to %v, manifest says %q", filepath.Base(f), got, want[filepath.Base(f)])
		}
	}
	// PDF label sheet: rasterised, every code on the page decodes.
	r = s.json("POST", "/qr/generate", `{"component_type":"PAD","vendor_code":"V0100","lot_number":"L2","count":24,"format":"pdf"}`)
	if r.status != 200 || !bytes.HasPrefix(r.body, []byte("%PDF-")) {
		t.Fatalf("pdf: %d %.100s", r.status, r.body)
	}
	pdf := filepath.Join(dir, "sheet.pdf")
	_ = os.WriteFile(pdf, r.body, 0o600)
	if out, err := exec.Command(needTool(t, "pdftoppm"), "-r", "200", "-png", pdf, filepath.Join(dir, "page")).CombinedOutput(); err != nil {
		t.Fatalf("pdftoppm: %v %s", err, out)
	}
	// Decoders miss codes in a page-wide grid of identical-looking symbols,
	// so each label of the a4-24 layout (3×8 labels of 70×37 mm) is cut out
	// and decoded alone.
	f, err := os.Open(filepath.Join(dir, "page-1.png"))
	if err != nil {
		t.Fatal(err)
	}
	page, err := png.Decode(f)
	_ = f.Close()
	if err != nil {
		t.Fatal(err)
	}
	px := func(mm float64) int { return int(mm * 200 / 25.4) }
	var labels []string
	for row := range 8 {
		for col := range 3 {
			r := image.Rect(px(float64(col)*70), px(0.5+float64(row)*37), px(float64(col+1)*70), px(0.5+float64(row+1)*37))
			crop := image.NewGray(r)
			draw.Draw(crop, r, page, r.Min, draw.Src)
			name := filepath.Join(dir, fmt.Sprintf("label-%d-%d.png", row, col))
			out, _ := os.Create(name)
			_ = png.Encode(out, crop)
			_ = out.Close()
			labels = append(labels, name)
		}
	}
	got := zbar(t, labels...)
	if len(got) != 24 || got[0] != "PAD-V0100-L2-00001" || got[23] != "PAD-V0100-L2-00024" {
		t.Fatalf("the 24 labels decode to %d codes: %v", len(got), got)
	}
}

func TestGenerateInBackground(t *testing.T) {
	t.Parallel()
	s := startServer(t, "QRMFG_ASYNC_BATCH_THRESHOLD=100")
	r := s.json("POST", "/qr/generate", `{"component_type":"PAD","vendor_code":"V0100","lot_number":"L9","count":3000,"format":"zip"}`)
	if r.status != 202 || r.header.Get("Location") == "" {
		t.Fatalf("large batch: %d %s", r.status, r.body)
	}
	st := r.json(t)
	id := st["batch_id"].(string)
	// Follow the SSE stream to the end.
	res, err := s.get(s.url + "/qr/batches/" + id + "/events")
	if err != nil {
		t.Fatal(err)
	}
	var last map[string]any
	sc := bufio.NewScanner(res.Body)
	deadline := time.Now().Add(60 * time.Second)
	for sc.Scan() && time.Now().Before(deadline) {
		if data, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
			_ = json.Unmarshal([]byte(data), &last)
		}
	}
	_ = res.Body.Close()
	if last["status"] != "completed" || last["done"].(float64) != 3000 {
		t.Fatalf("last progress event %v", last)
	}
	d := s.do("GET", "/qr/batches/"+id+"/download?format=zip", "", "")
	zr, err := zip.NewReader(bytes.NewReader(d.body), int64(len(d.body)))
	if d.status != 200 || err != nil || len(zr.File) != 3001 {
		t.Fatalf("download: %d %v", d.status, err)
	}
	c := s.do("GET", "/qr/batches/"+id+"/download?format=csv", "", "")
	if c.status != 200 || strings.Count(string(c.body), "\n") != 3001 {
		t.Fatalf("csv download: %d", c.status)
	}
}

func TestGenerateBadInput(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	base := `{"component_type":"PAD","vendor_code":"V0100","lot_number":"L1","count":5`
	cases := []struct {
		name, body, field string
	}{
		{"component type pattern", `{"component_type":"pad!","vendor_code":"V0100","lot_number":"L1","count":5}`, "component_type"},
		{"lot with illegal characters", `{"component_type":"PAD","vendor_code":"V0100","lot_number":"L 1/2","count":5}`, "lot_number"},
		{"count 0", `{"component_type":"PAD","vendor_code":"V0100","lot_number":"L1","count":0}`, "count"},
		{"count too large", `{"component_type":"PAD","vendor_code":"V0100","lot_number":"L1","count":100001}`, "count"},
		{"unknown format", base + `,"format":"tiff"}`, "format"},
		{"unknown payload", base + `,"payload":"barcode"}`, "payload"},
		{"style with no contrast", base + `,"style":{"foreground":"#777777","background":"#808080"}}`, "foreground"},
		{"bad colour", base + `,"style":{"foreground":"black"}}`, "style.foreground"},
		{"bad EC level", base + `,"style":{"ec_level":"X"}}`, "style.ec_level"},
		{"gs1 without GTIN", base + `,"payload":"gs1"}`, "gtin"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := s.json("POST", "/qr/generate", c.body)
			if r.status != 422 || !strings.Contains(strings.ToLower(string(r.body)), strings.ToLower(c.field)) {
				t.Fatalf("%d %s; want 422 naming %s", r.status, r.body, c.field)
			}
		})
	}
	// Nothing was allocated by the refused requests.
	if r := s.do("GET", "/inventory/items?limit=1&total=true", "", ""); r.json(t)["total"].(float64) != 0 {
		t.Fatalf("refused requests allocated items: %s", r.body)
	}
	if r := s.do("GET", "/qr/items/PAD-V0100-L1-00001.png", "", ""); r.status != 404 {
		t.Fatalf("image of an unknown item: %d", r.status)
	}
	if r := s.do("GET", "/qr/items/PAD-V0100-L1-00001.gif", "", ""); r.status != 422 {
		t.Fatalf("unknown image format: %d", r.status)
	}
}

// The preview draws the code the batch's first item will carry, with the
// requested payload format and style, and allocates nothing; a bad style
// is refused as /qr/generate refuses it.
func TestPreview(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	body := `{"component_type":"PAD","vendor_code":"V0100","lot_number":"L2025-09","count":3,"payload":"url","style":{"ec_level":"H","module_px":6,"invert":true}}`
	r := s.json("POST", "/qr/preview", body)
	if r.status != 200 || r.header.Get("Content-Type") != "image/png" {
		t.Fatalf("preview: %d %s %.200s", r.status, r.header.Get("Content-Type"), r.body)
	}
	payload := r.header.Get("X-QR-Payload")
	if !strings.HasSuffix(payload, "PAD-V0100-L2025-09-00001") || !strings.HasPrefix(payload, "http") {
		t.Fatalf("preview payload %q", payload)
	}
	img, err := png.Decode(bytes.NewReader(r.body))
	if err != nil {
		t.Fatal(err)
	}
	// Inverted: the corner (quiet zone) is ink, dark.
	if c := color.GrayModel.Convert(img.At(0, 0)).(color.Gray); c.Y > 128 {
		t.Fatalf("corner %v: the style's invert was not applied", c)
	}
	// zbar reads light-on-dark after we invert it back.
	inv := image.NewGray(img.Bounds())
	draw.Draw(inv, inv.Bounds(), img, image.Point{}, draw.Src)
	for i := range inv.Pix {
		inv.Pix[i] = 255 - inv.Pix[i]
	}
	f := filepath.Join(t.TempDir(), "preview.png")
	var buf bytes.Buffer
	if err := png.Encode(&buf, inv); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(f, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	if got := zbar(t, f); len(got) != 1 || got[0] != payload {
		t.Fatalf("zbarimg read %q, want %q", got, payload)
	}
	for field, bad := range map[string]string{
		"style.foreground": `,"style":{"foreground":"black"}}`,
		"style.ec_level":   `,"style":{"ec_level":"X"}}`,
		"lot_number":       `}`,
	} {
		b := `{"component_type":"PAD","vendor_code":"V0100","count":3` + bad
		if field != "lot_number" {
			b = `{"component_type":"PAD","vendor_code":"V0100","lot_number":"L1","count":3` + bad
		}
		if r := s.json("POST", "/qr/preview", b); r.status != 422 || !strings.Contains(string(r.body), field) {
			t.Fatalf("preview with a bad %s: %d %s", field, r.status, r.body)
		}
	}
	if r := s.do("GET", "/inventory/items?limit=1&total=true", "", ""); r.json(t)["total"].(float64) != 0 {
		t.Fatalf("the preview allocated items: %s", r.body)
	}
	// The batch's first item carries the previewed payload.
	r = s.json("POST", "/qr/generate", body)
	var res struct{ Items []struct{ Payload string } }
	if err := json.Unmarshal(r.body, &res); r.status != 200 || err != nil || len(res.Items) != 3 || res.Items[0].Payload != payload {
		t.Fatalf("generate: %d %v %.300s; want the first payload %q", r.status, err, r.body, payload)
	}
}
