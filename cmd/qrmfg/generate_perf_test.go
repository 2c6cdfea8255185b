package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
)

// BenchmarkGenerateZIP10k posts count=10,000 format=zip to the real server
// (embedded SQLite) and reads the whole ZIP: allocation, persistence, render
// and packaging. Goal: ≥ 50,000 codes/s.
func BenchmarkGenerateZIP10k(b *testing.B) {
	logs := &syncBuffer{}
	m := NewMain(io.Discard, logs, []string{"QRMFG_DATA_DIR=" + b.TempDir(), "QRMFG_ASYNC_BATCH_THRESHOLD=1000000", "QRMFG_LOG_LEVEL=warn",
		"QRMFG_ADMIN_PASSWORD=" + testAdminPassword, "ENABLE_RATE_LIMITING=false"})
	if err := m.ParseFlags([]string{"serve", "--addr", "127.0.0.1:0"}); err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	addr, err := m.Addr(ctx)
	if err != nil {
		b.Fatal(err)
	}
	defer func() { cancel(); <-done; _ = m.Close() }()
	token := loginAt(b, "http://"+addr.String())
	url := "http://" + addr.String() + "/qr/generate"
	var bytes int64
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		body := fmt.Sprintf(`{"component_type":"PAD","vendor_code":"V0100","lot_number":"L%d","count":10000,"format":"zip"}`, i)
		res, err := postJSON(http.DefaultClient, url, token, body)
		if err != nil {
			b.Fatal(err)
		}
		n, err := io.Copy(io.Discard, res.Body)
		_ = res.Body.Close()
		if err != nil || res.StatusCode != 200 {
			b.Fatalf("status %d, %v", res.StatusCode, err)
		}
		bytes += n
	}
	b.ReportMetric(10_000*float64(b.N)/b.Elapsed().Seconds(), "codes/s")
	b.ReportMetric(float64(bytes)/float64(b.N)/1e6, "MB/zip")
}

// TestGenerate100kMemory streams a 100,000-code ZIP from a separate qrmfg
// process and checks its peak resident memory stays under 300 MB: the batch
// is rendered and written in bounded chunks, never held whole.
func TestGenerate100kMemory(t *testing.T) {
	bin := realBinary(t, "builds a binary and renders 100,000 codes")
	cmd, url := startProcess(t, bin, []string{"QRMFG_DATA_DIR=" + t.TempDir(), "QRMFG_ASYNC_BATCH_THRESHOLD=1000000"})
	res, err := postJSON(http.DefaultClient, url+"/qr/generate", loginAt(t, url),
		`{"component_type":"PAD","vendor_code":"V0100","lot_number":"L2025-09","count":100000,"format":"zip"}`)
	if err != nil {
		t.Fatal(err)
	}
	n, err := io.Copy(io.Discard, res.Body)
	_ = res.Body.Close()
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("status %d, %v", res.StatusCode, err)
	}
	peak := peakRSS(t, cmd.Process.Pid)
	t.Logf("100,000 codes: %.1f MB ZIP streamed; server peak RSS %.1f MB", float64(n)/1e6, float64(peak)/(1<<20))
	if peak > 300<<20 {
		t.Fatalf("peak RSS %d MB is over 300 MB", peak>>20)
	}
}

// peakRSS reads VmHWM (the peak resident set) of a process from /proc.
func peakRSS(t *testing.T, pid int) int64 {
	t.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	t.Fatal("no VmHWM in /proc status")
	return 0
}
