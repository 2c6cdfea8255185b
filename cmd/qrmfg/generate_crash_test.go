package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// TestKillDuringBackgroundPDF kills the process (SIGKILL) while it writes a
// background PDF batch, which leaves the partial artifact (*.tmp) behind;
// the restart removes it, renders the batch again, and the finished PDF is
// the only file of the batch in the data directory.
func TestKillDuringBackgroundPDF(t *testing.T) {
	bin := realBinary(t, "builds and kills a real process")
	data := t.TempDir()
	env := []string{"QRMFG_DATA_DIR=" + data, "QRMFG_ASYNC_BATCH_THRESHOLD=100"}
	cmd, url := startProcess(t, bin, env)
	token := loginAt(t, url)
	res, err := postJSON(http.DefaultClient, url+"/qr/generate", token,
		`{"component_type":"PAD","vendor_code":"V0100","lot_number":"L1","count":40000,"format":"pdf"}`)
	if err != nil {
		t.Fatal(err)
	}
	var st struct {
		BatchID string `json:"batch_id"`
	}
	if err := json.NewDecoder(res.Body).Decode(&st); err != nil || res.StatusCode != 202 {
		t.Fatalf("background batch: %d %v", res.StatusCode, err)
	}
	_ = res.Body.Close()
	tmps := func() []string {
		m, _ := filepath.Glob(filepath.Join(data, "batches", "*.tmp"))
		return m
	}
	// Kill it once the partial file has content.
	deadline := time.Now().Add(60 * time.Second)
	for {
		if m := tmps(); len(m) == 1 {
			if fi, err := os.Stat(m[0]); err == nil && fi.Size() > 64<<10 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("no partial artifact appeared within 60 s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	_ = cmd.Wait()
	if len(tmps()) != 1 {
		t.Fatalf("after the kill: partial artifacts %v", tmps())
	}

	_, url = startProcess(t, bin, env)
	token = loginAt(t, url)
	var rec struct {
		Status string `json:"status"`
		Done   int    `json:"done"`
	}
	deadline = time.Now().Add(3 * time.Minute)
	for rec.Status != "completed" {
		if rec.Status == "failed" || time.Now().After(deadline) {
			t.Fatalf("resumed batch: %+v", rec)
		}
		time.Sleep(200 * time.Millisecond)
		req, _ := http.NewRequest("GET", url+"/qr/batches/"+st.BatchID, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = json.NewDecoder(res.Body).Decode(&rec)
		_ = res.Body.Close()
	}
	if m := tmps(); len(m) != 0 {
		t.Fatalf("partial artifacts left after the restart: %v", m)
	}
	files, _ := filepath.Glob(filepath.Join(data, "batches", "*"))
	if len(files) != 1 || filepath.Base(files[0]) != st.BatchID+".pdf" {
		t.Fatalf("batch files %v, want only %s.pdf", files, st.BatchID)
	}
	f, err := os.Open(files[0])
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fi, _ := f.Stat()
	tail := make([]byte, 64)
	if _, err := f.ReadAt(tail, fi.Size()-64); err != nil && err != io.EOF {
		t.Fatal(err)
	}
	if !bytes.Contains(tail, []byte("%%EOF")) {
		t.Fatalf("the PDF does not end with %%%%EOF: %q", tail)
	}
}
