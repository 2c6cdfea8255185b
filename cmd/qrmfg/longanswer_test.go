package main

import (
	"archive/zip"
	"bytes"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestLongAnswersOutliveTheReadTimeout: an answer may take longer than the
// time allowed to read its request. Here a ZIP read slowly by its client arrives
// whole more than 5 s after its POST (huma's body deadline used to cancel
// it there).
func TestLongAnswersOutliveTheReadTimeout(t *testing.T) {
	t.Parallel()
	s := startServer(t)

	req, _ := http.NewRequest("POST", s.url+"/qr/generate",
		strings.NewReader(`{"component_type":"PAD","vendor_code":"V0100","lot_number":"L1","count":4000,"format":"zip","style":{"module_px":24}}`))
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(s.authorize(req))
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("generate: %v %v", err, res)
	}
	defer res.Body.Close()
	var buf bytes.Buffer
	if _, err := io.CopyN(&buf, res.Body, 64<<10); err != nil {
		t.Fatalf("first 64 KB: %v", err)
	}
	time.Sleep(6 * time.Second) // the client is slow: past huma's 5 s
	if _, err := io.Copy(&buf, res.Body); err != nil {
		t.Fatalf("the ZIP broke off after %d bytes: %v", buf.Len(), err)
	}
	zr, err := zip.NewReader(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		t.Fatalf("ZIP of %d bytes: %v", buf.Len(), err)
	}
	if len(zr.File) != 4001 {
		t.Fatalf("%d files, want 4,000 images and the manifest", len(zr.File))
	}
}
