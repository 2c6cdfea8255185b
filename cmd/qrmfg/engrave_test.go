package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

const seedJob = `{"item_uid":"PAD-V0100-L2025-09-00001","qr_code_data":"PAD-V0100-L2025-09-00001","laser_settings":{"power":75,"speed":1500,"passes":2,"depth":0.2},"priority":"normal"}`

// TestEngraveSeedJob: the seed's body engraves on the embedded simulated
// laser; progress arrives as server-sent events; the burn image decodes to
// the item's id with zbarimg; the item is engraved.
func TestEngraveSeedJob(t *testing.T) {
	t.Parallel()
	needTool(t, "zbarimg")
	s := startServer(t)
	if r := s.json("POST", "/inventory/batches", seedBatch); r.status != 201 {
		t.Fatalf("allocate: %d %s", r.status, r.body)
	}
	r := s.do("GET", "/engraving/machines", "", "")
	if r.status != 200 || !strings.Contains(string(r.body), `"name":"sim-1"`) || !strings.Contains(string(r.body), `"connected":true`) {
		t.Fatalf("machines: %d %s", r.status, r.body)
	}
	r = s.json("POST", "/engraving/jobs", seedJob)
	if r.status != 201 {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	job := r.json(t)
	id := job["id"].(string)
	if job["status"] != "queued" || job["estimate_seconds"].(float64) <= 0 || r.header.Get("Location") != "/engraving/jobs/"+id {
		t.Fatalf("created %s", r.body)
	}
	// Follow the job's events until it ends.
	res, err := s.get(s.url + "/engraving/jobs/" + id + "/events")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if ct := res.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("events content type %q", ct)
	}
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	var last map[string]any
	events, progressed := 0, false
	deadline := time.AfterFunc(60*time.Second, func() { res.Body.Close() })
	defer deadline.Stop()
	for sc.Scan() {
		line, ok := strings.CutPrefix(sc.Text(), "data: ")
		if !ok {
			continue
		}
		events++
		last = nil
		if err := json.Unmarshal([]byte(line), &last); err != nil {
			t.Fatal(err)
		}
		if a := last["lines_acked"].(float64); a > 0 && a < last["lines_total"].(float64) {
			progressed = true
		}
	}
	if last == nil || last["status"] != "completed" || !progressed {
		t.Fatalf("%d events, progress seen %v, last %v", events, progressed, last)
	}
	if r := s.do("GET", "/engraving/jobs/"+id+"/gcode", "", ""); r.status != 200 || !strings.HasPrefix(r.header.Get("Content-Type"), "text/plain") ||
		!strings.Contains(string(r.body), "M4") {
		t.Fatalf("gcode: %d %.200s", r.status, r.body)
	}
	r = s.do("GET", "/engraving/jobs/"+id+"/preview.png", "", "")
	if r.status != 200 || r.header.Get("Content-Type") != "image/png" || r.header.Get("X-Preview-Source") != "burned" {
		t.Fatalf("preview: %d %v", r.status, r.header)
	}
	file := filepath.Join(t.TempDir(), "burn.png")
	if err := os.WriteFile(file, r.body, 0o600); err != nil {
		t.Fatal(err)
	}
	if got := zbar(t, file); !slices.Equal(got, []string{"PAD-V0100-L2025-09-00001"}) {
		t.Fatalf("zbarimg read %q", got)
	}
	for range 100 {
		if it := s.do("GET", "/inventory/items/PAD-V0100-L2025-09-00001", "", "").json(t); it["status"] == "engraved" {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if it := s.do("GET", "/inventory/items/PAD-V0100-L2025-09-00001", "", "").json(t); it["status"] != "engraved" {
		t.Fatalf("item is %v", it["status"])
	}
	// Engraving it again is refused, naming its status.
	r = s.json("POST", "/engraving/jobs", seedJob)
	if r.status != 409 || !strings.Contains(string(r.body), "is engraved") {
		t.Fatalf("second engraving: %d %s", r.status, r.body)
	}
}

// TestEngraveBadInput: every bad request gets a clear answer that names the
// problem.
func TestEngraveBadInput(t *testing.T) {
	t.Parallel()
	s := startServer(t, "QRMFG_MACHINE_NETWORKS=10.20.0.0/16")
	if r := s.json("POST", "/inventory/batches", seedBatch); r.status != 201 {
		t.Fatalf("allocate: %d %s", r.status, r.body)
	}
	if r := s.json("POST", "/inventory/items/PAD-V0100-L2025-09-00002/transitions", `{"to":"void","reason":"test"}`); r.status != 200 {
		t.Fatalf("void: %d %s", r.status, r.body)
	}
	body := func(uid, laser, priority string) string {
		return `{"item_uid":"` + uid + `","laser_settings":` + laser + `,"priority":"` + priority + `"}`
	}
	ok := `{"power":75,"speed":1500,"passes":2,"depth":0.2}`
	cases := []struct {
		name, path, body string
		status           int
		want             string
	}{
		{"UnknownItem", "/engraving/jobs", body("PAD-V0100-L2025-09-09999", ok, "normal"), 422, "unknown item PAD-V0100-L2025-09-09999"},
		{"ItemNotGenerated", "/engraving/jobs", body("PAD-V0100-L2025-09-00002", ok, "normal"), 409, "is void"},
		{"Power150", "/engraving/jobs", body("PAD-V0100-L2025-09-00003", `{"power":150,"speed":1500,"passes":2,"depth":0.2}`, "normal"), 422, "laser_settings.power"},
		{"Speed0", "/engraving/jobs", body("PAD-V0100-L2025-09-00003", `{"power":75,"speed":0,"passes":2,"depth":0.2}`, "normal"), 422, "laser_settings.speed"},
		{"Passes0", "/engraving/jobs", body("PAD-V0100-L2025-09-00003", `{"power":75,"speed":1500,"passes":0,"depth":0.2}`, "normal"), 422, "laser_settings.passes"},
		{"UnknownPriority", "/engraving/jobs", body("PAD-V0100-L2025-09-00003", ok, "asap"), 422, "unknown priority"},
		{"UnknownMachineForJob", "/engraving/jobs", `{"item_uid":"PAD-V0100-L2025-09-00003","laser_settings":` + ok + `,"machine_id":"nope"}`, 422, "unknown machine"},
		{"AddressOutsideNetworks", "/engraving/machines", `{"name":"laser-2","address":"tcp://192.168.1.50:23","work_area":{"width_mm":300,"height_mm":200}}`, 422, "outside the machine networks"},
		{"BadAddress", "/engraving/machines", `{"name":"laser-3","address":"ftp://x","work_area":{"width_mm":300,"height_mm":200}}`, 422, "address"},
	}
	for _, tc := range cases {
		r := s.json("POST", tc.path, tc.body)
		if r.status != tc.status || !strings.Contains(string(r.body), tc.want) {
			t.Errorf("%s: %d %s; want %d naming %q", tc.name, r.status, r.body, tc.status, tc.want)
		}
	}
	if r := s.do("GET", "/engraving/machines/nope", "", ""); r.status != 404 {
		t.Errorf("unknown machine: %d %s", r.status, r.body)
	}
	if r := s.do("GET", "/engraving/jobs/nope", "", ""); r.status != 404 {
		t.Errorf("unknown job: %d %s", r.status, r.body)
	}
}

// TestSimCommandMachine runs `qrmfg sim` as a separate controller, registers
// it through the API as a network machine, engraves on it and checks the
// offline preview, the test frame, the audited unlock and disconnect.
func TestSimCommandMachine(t *testing.T) {
	t.Parallel()
	needTool(t, "zbarimg")
	var out syncBuffer
	sm := NewMain(&out, io.Discard, []string{"QRMFG_DATA_DIR=" + t.TempDir()})
	if err := sm.ParseFlags([]string{"sim", "--listen", "127.0.0.1:0", "--time-scale", "2000"}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- sm.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("sim: %v", err)
		}
	})
	actx, acancel := context.WithTimeout(ctx, 10*time.Second)
	defer acancel()
	addr, err := sm.Addr(actx)
	if err != nil {
		t.Fatal(err)
	}
	s := startServer(t, "QRMFG_SIMULATOR=false")
	r := s.json("POST", "/engraving/machines", `{"name":"laser-ext","address":"tcp://`+addr.String()+`","work_area":{"width_mm":0,"height_mm":0},"laser_type":"diode","spot_size_mm":0.1}`)
	if r.status != 201 {
		t.Fatalf("register: %d %s", r.status, r.body)
	}
	id := r.json(t)["id"].(string)
	if r := s.json("POST", "/engraving/machines", `{"name":"laser-ext","address":"tcp://`+addr.String()+`","work_area":{"width_mm":10,"height_mm":10}}`); r.status != 409 {
		t.Fatalf("duplicate name: %d %s", r.status, r.body)
	}
	r = s.json("POST", "/engraving/machines/"+id+"/connect", "")
	m := r.json(t)
	if r.status != 200 || m["connected"] != true || m["state"] != "idle" || m["settings"].(map[string]any)["$30"] != 1000.0 ||
		m["work_area"].(map[string]any)["width_mm"] != 200.0 {
		t.Fatalf("connect: %d %s", r.status, r.body)
	}
	if r := s.json("POST", "/engraving/machines/"+id+"/frame", `{"placement":{"x_mm":5,"y_mm":5,"size_mm":12}}`); r.status != 200 {
		t.Fatalf("frame: %d %s", r.status, r.body)
	}
	if r := s.json("POST", "/engraving/machines/"+id+"/unlock", ""); r.status != 200 {
		t.Fatalf("unlock: %d %s", r.status, r.body)
	}
	if r := s.json("POST", "/inventory/batches", seedBatch); r.status != 201 {
		t.Fatalf("allocate: %d %s", r.status, r.body)
	}
	r = s.json("POST", "/engraving/jobs", `{"item_uid":"PAD-V0100-L2025-09-00005","laser_settings":{"power":75,"speed":3000,"passes":1,"depth":0},"priority":"urgent"}`)
	if r.status != 201 {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	job := r.json(t)["id"].(string)
	var j map[string]any
	for range 600 {
		j = s.do("GET", "/engraving/jobs/"+job, "", "").json(t)
		if j["status"] != "queued" && j["status"] != "running" {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if j["status"] != "completed" || j["machine_id"] != id || j["actual_seconds"] == nil {
		t.Fatalf("job %v", j)
	}
	r = s.do("GET", "/engraving/jobs/"+job+"/preview.png", "", "")
	if r.status != 200 || r.header.Get("X-Preview-Source") != "simulated" {
		t.Fatalf("preview: %d %v", r.status, r.header)
	}
	file := filepath.Join(t.TempDir(), "offline.png")
	if err := os.WriteFile(file, r.body, 0o600); err != nil {
		t.Fatal(err)
	}
	if got := zbar(t, file); !slices.Equal(got, []string{"PAD-V0100-L2025-09-00005"}) {
		t.Fatalf("zbarimg read %q from the offline preview", got)
	}
	hist := s.do("GET", "/engraving/machines/"+id+"/history", "", "")
	if !strings.Contains(string(hist.body), `"kind":"unlocked"`) || !strings.Contains(string(hist.body), `"kind":"frame"`) {
		t.Fatalf("history %s", hist.body)
	}
	if r := s.json("POST", "/engraving/machines/"+id+"/disconnect", ""); r.status != 200 || r.json(t)["connected"] != false {
		t.Fatalf("disconnect: %d %s", r.status, r.body)
	}
	if !strings.Contains(out.String(), "GRBL simulator on tcp://") {
		t.Fatalf("sim output %q", out.String())
	}
}

// An operator moves a queued job up the queue over HTTP: the change is
// audited; a bad priority is 422 naming it; a job no longer queued is 409.
func TestEngraveSetPriority(t *testing.T) {
	t.Parallel()
	s := startServer(t, "QRMFG_SIMULATOR=false")
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := closed.Addr().String()
	_ = closed.Close() // nothing listens: the machine stays disconnected and its jobs queued
	r := s.json("POST", "/engraving/machines", `{"name":"laser-off","address":"tcp://`+addr+`","work_area":{"width_mm":300,"height_mm":200}}`)
	if r.status != 201 {
		t.Fatalf("register: %d %s", r.status, r.body)
	}
	if r := s.json("POST", "/inventory/batches", seedBatch); r.status != 201 {
		t.Fatalf("allocate: %d %s", r.status, r.body)
	}
	r = s.json("POST", "/engraving/jobs", `{"item_uid":"PAD-V0100-L2025-09-00001","laser_settings":{"power":75,"speed":3000,"passes":1,"depth":0},"priority":"low"}`)
	if r.status != 201 {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	job := r.json(t)["id"].(string)
	if r := s.json("PATCH", "/engraving/jobs/"+job, `{"priority":"asap"}`); r.status != 422 || !strings.Contains(string(r.body), "priority") {
		t.Fatalf("bad priority: %d %s", r.status, r.body)
	}
	if r := s.json("PATCH", "/engraving/jobs/nope", `{"priority":"high"}`); r.status != 404 {
		t.Fatalf("unknown job: %d %s", r.status, r.body)
	}
	r = s.json("PATCH", "/engraving/jobs/"+job, `{"priority":"urgent"}`)
	if r.status != 200 || r.json(t)["priority"] != "urgent" || r.json(t)["status"] != "queued" {
		t.Fatalf("raise: %d %s", r.status, r.body)
	}
	if j := s.do("GET", "/engraving/jobs/"+job, "", "").json(t); j["priority"] != "urgent" {
		t.Fatalf("stored: %v", j)
	}
	// Both attempts are in the audit trail, the refused one as failed.
	a := s.do("GET", "/audit/events?action=engraving.job.reprioritize&object_id="+job, "", "").json(t)
	outcomes := map[string]bool{}
	for _, e := range a["events"].([]any) {
		outcomes[e.(map[string]any)["outcome"].(string)] = true
	}
	if !outcomes["success"] || !outcomes["failed"] {
		t.Fatalf("audit of the priority changes: %v", a)
	}
	if r := s.json("POST", "/engraving/jobs/"+job+"/cancel", ""); r.status != 200 {
		t.Fatalf("cancel: %d %s", r.status, r.body)
	}
	if r := s.json("PATCH", "/engraving/jobs/"+job, `{"priority":"high"}`); r.status != 409 {
		t.Fatalf("cancelled job: %d %s", r.status, r.body)
	}
}
