package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// limitedServer runs the built binary under prlimit with the given limits
// (e.g. "--nofile=200:200") and returns its base URL.
func limitedServer(t *testing.T, limits []string, env ...string) string {
	t.Helper()
	if _, err := exec.LookPath("prlimit"); err != nil {
		t.Skip("prlimit (util-linux) is not installed")
	}
	bin, err := buildBinary()
	if err != nil {
		t.Fatal(err)
	}
	args := append(append(limits, bin), "serve", "--addr", "127.0.0.1:0")
	_, url := startCommand(t, exec.Command("prlimit", args...), append([]string{"QRMFG_DATA_DIR=" + t.TempDir()}, env...))
	return url
}

// call makes one request with a bearer credential (empty: none) and a
// timeout, and returns the answer with its body read.
func call(client *http.Client, method, url, cred, body string) (response, error) {
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		return response{}, err
	}
	if cred != "" {
		req.Header.Set("Authorization", "Bearer "+cred)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := client.Do(req)
	if err != nil {
		return response{}, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	return response{res.StatusCode, res.Header, b}, err
}

// TestStreamCaps (hardening issue, item 10): event streams are capped per
// identity (429) and in total (503), both with Retry-After, and the total
// leaves file descriptors for everything else: under an open-file limit of
// 200, with streams held open past every cap, /health, /ready and a login
// still answer, and a closed stream frees its place.
func TestStreamCaps(t *testing.T) {
	t.Parallel()
	url := limitedServer(t, []string{"--nofile=200:200"}, append(relaxedLimits,
		"QRMFG_STREAMS_PER_IDENTITY=60", "QRMFG_STREAMS_FD_RESERVE=100")...)
	client := &http.Client{Timeout: 5 * time.Second}
	admin := loginAt(t, url)
	r, err := call(client, "POST", url+"/auth/api-keys", admin, `{"name":"dashboard","role":"viewer","scopes":["engraving.*"]}`)
	if err != nil || r.status != 201 {
		t.Fatalf("create API key: %v %d %s", err, r.status, r.body)
	}
	key := r.json(t)["key"].(string)
	r, err = call(client, "GET", url+"/engraving/machines", admin, "")
	if err != nil || r.status != 200 {
		t.Fatalf("machines: %v %d %s", err, r.status, r.body)
	}
	var machines struct {
		Machines []struct {
			ID string `json:"id"`
		} `json:"machines"`
	}
	if err := json.Unmarshal(r.body, &machines); err != nil || len(machines.Machines) == 0 {
		t.Fatalf("machines: %v %s", err, r.body)
	}
	events := url + "/engraving/machines/" + machines.Machines[0].ID + "/events"

	// open opens a stream and keeps it open (the body unread) when it is
	// admitted; it returns the status and Retry-After.
	var open []*http.Response
	t.Cleanup(func() {
		for _, res := range open {
			res.Body.Close()
		}
	})
	streams := &http.Client{Transport: &http.Transport{ResponseHeaderTimeout: 5 * time.Second}}
	stream := func(cred string) (int, string) {
		req, _ := http.NewRequest("GET", events, nil)
		req.Header.Set("Authorization", "Bearer "+cred)
		res, err := streams.Do(req)
		if err != nil {
			t.Fatalf("stream %d: %v", len(open)+1, err)
		}
		if res.StatusCode == 200 {
			open = append(open, res)
		} else {
			res.Body.Close()
		}
		return res.StatusCode, res.Header.Get("Retry-After")
	}
	count := func(cred string, n int) map[string]int {
		got := map[string]int{}
		for range n {
			status, retry := stream(cred)
			got[fmt.Sprintf("%d retry-after=%t", status, retry != "")]++
		}
		return got
	}
	// The admin: 60 streams, then 429.
	if got := count(admin, 65); got["200 retry-after=false"] != 60 || got["429 retry-after=true"] != 5 {
		t.Errorf("admin's 65 streams: %v, want 60 opened and 5 refused with 429 and Retry-After", got)
	}
	// The API key: the process admits 200 − 100 = 100 streams in all, so
	// 40 more, then 503.
	if got := count(key, 60); got["200 retry-after=false"] != 40 || got["503 retry-after=true"] != 20 {
		t.Errorf("API key's 60 streams: %v, want 40 opened and 20 refused with 503 and Retry-After", got)
	}
	// Everything else still answers.
	start := time.Now()
	for _, c := range []struct{ method, path, cred, body string }{
		{"GET", "/health", "", ""}, {"GET", "/ready", "", ""},
		{"POST", "/auth/login", "", `{"username":"admin","password":"` + testAdminPassword + `"}`},
		{"GET", "/engraving/machines", key, ""},
	} {
		r, err := call(client, c.method, url+c.path, c.cred, c.body)
		if err != nil || r.status != 200 {
			t.Errorf("%s %s with %d streams open: %v %d %s", c.method, c.path, len(open), err, r.status, r.body)
		}
	}
	answered := time.Since(start)
	// A stream that ends frees its place.
	open[0].Body.Close()
	open = open[1:]
	var status int
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if status, _ = stream(key); status == 200 {
			break
		}
	}
	if status != 200 {
		t.Errorf("a new stream after one closed: %d, want 200", status)
	}
	t.Logf("RESULT streams open=%d nofile=200 reserve=100 health+ready+login+list answered in %v pass=%t",
		len(open), answered.Round(time.Millisecond), !t.Failed())
}
