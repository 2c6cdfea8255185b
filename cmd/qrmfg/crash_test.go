package main

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/qrmfg/qrmfg/internal/sqlstore"
	"github.com/qrmfg/qrmfg/internal/sqlstore/sqltest"
)

// buildBinary builds qrmfg once for the tests that need a real process.
var buildBinary = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "qrmfg-bin")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "qrmfg")
	// Static, without cgo, as `make build` ships it (glibc's per-thread
	// malloc arenas would take 64 MiB of address space each).
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	out, err := build.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build: %w\n%s", err, out)
	}
	return bin, nil
})

// realBinary skips in short mode (saying why), marks the test parallel and
// returns the built binary.
func realBinary(t *testing.T, why string) string {
	t.Helper()
	if testing.Short() {
		t.Skip(why)
	}
	t.Parallel()
	bin, err := buildBinary()
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

var listenRE = regexp.MustCompile(`msg="qrmfg listening" addr=(\S+)`)

// startProcess runs `qrmfg serve` as a child process and returns its base URL.
// loginAt logs the test admin in on the server at url and returns its
// access token.
func loginAt(t testing.TB, url string) string {
	t.Helper()
	res, err := http.Post(url+"/auth/login", "application/json",
		strings.NewReader(`{"username":"admin","password":"`+testAdminPassword+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(res.Body).Decode(&tok); err != nil || res.StatusCode != 200 {
		t.Fatalf("login: %d %v", res.StatusCode, err)
	}
	return tok.AccessToken
}

// postJSON posts body to url with a bearer token.
func postJSON(client *http.Client, url, token, body string) (*http.Response, error) {
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	return client.Do(req)
}

func startProcess(t *testing.T, bin string, env []string) (*exec.Cmd, string) {
	t.Helper()
	return startCommand(t, exec.Command(bin, "serve", "--addr", "127.0.0.1:0"), env)
}

// startCommand starts cmd, a `qrmfg serve` (perhaps under a wrapper such as
// prlimit), and returns it with its base URL.
func startCommand(t *testing.T, cmd *exec.Cmd, env []string) (*exec.Cmd, string) {
	t.Helper()
	cmd.Env = append(append(os.Environ(), "QRMFG_ADMIN_PASSWORD="+testAdminPassword), env...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	found := make(chan string, 1)
	// The last lines the server logged are shown when the test fails, so a
	// failure names the server's side of it.
	var (
		mu   sync.Mutex
		tail []string
	)
	t.Cleanup(func() {
		if t.Failed() {
			mu.Lock()
			defer mu.Unlock()
			t.Logf("the server's last log lines:\n%s", strings.Join(tail, "\n"))
		}
	})
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			mu.Lock()
			if tail = append(tail, sc.Text()); len(tail) > 40 {
				tail = tail[1:]
			}
			mu.Unlock()
			if m := listenRE.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case found <- m[1]:
				default:
				}
			}
		}
	}()
	select {
	case addr := <-found:
		return cmd, "http://" + addr
	case <-time.After(30 * time.Second):
		t.Fatal("qrmfg did not start within 30 s")
		return nil, ""
	}
}

// TestKillDuringAllocation kills the process (SIGKILL) while clients allocate
// batches, restarts it, and checks on the database that every committed
// batch is whole and contiguous and that no serial was issued twice; then
// allocation goes on from where the counter stands.
func TestKillDuringAllocation(t *testing.T) {
	bin := realBinary(t, "builds and kills a real process")
	for _, d := range sqltest.Dialects {
		t.Run(d.String(), func(t *testing.T) {
			t.Parallel()
			dbURL := sqltest.URL(t, d)
			env := []string{"QRMFG_DATA_DIR=" + t.TempDir(), "DATABASE_URL=" + dbURL}
			if d == sqlstore.Postgres {
				m := NewMain(os.Stdout, os.Stderr, env)
				if err := m.ParseFlags([]string{"migrate", "up"}); err != nil {
					t.Fatal(err)
				}
				if err := m.Run(context.Background()); err != nil {
					t.Fatal(err)
				}
			}
			var acked atomic.Int64
			for round := range 3 {
				cmd, url := startProcess(t, bin, env)
				token := loginAt(t, url)
				var wg sync.WaitGroup
				stop := make(chan struct{})
				for w := range 4 {
					wg.Add(1)
					go func() {
						defer wg.Done()
						client := &http.Client{Timeout: 10 * time.Second}
						rng := rand.New(rand.NewPCG(uint64(round), uint64(w)))
						for {
							select {
							case <-stop:
								return
							default:
							}
							n := 1 + rng.IntN(500)
							body := fmt.Sprintf(`{"component_type":"PAD","vendor_code":"V0100","lot_number":"L2025-09","count":%d}`, n)
							res, err := postJSON(client, url+"/inventory/batches", token, body)
							if err != nil {
								return // the process is gone
							}
							_ = res.Body.Close()
							if res.StatusCode == 201 {
								acked.Add(int64(n))
							}
						}
					}()
				}
				time.Sleep(time.Duration(300+round*200) * time.Millisecond)
				if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
					t.Fatal(err)
				}
				_ = cmd.Wait()
				close(stop)
				wg.Wait()
			}
			checkBatchesWhole(t, d, dbURL, acked.Load())
			// After the crashes, allocation continues past every issued serial.
			_, url := startProcess(t, bin, env)
			res, err := postJSON(http.DefaultClient, url+"/inventory/batches", loginAt(t, url),
				`{"component_type":"PAD","vendor_code":"V0100","lot_number":"L2025-09","count":10}`)
			if err != nil || res.StatusCode != 201 {
				t.Fatalf("allocation after restart: %v %v", res, err)
			}
			_ = res.Body.Close()
			checkBatchesWhole(t, d, dbURL, acked.Load()+10)
			// Every batch that committed is in the audit trail once its event
			// is relayed (the restarted process relays what the killed ones left).
			auditAllBatches(t, dbURL)
			// T12 (f): the audit chain the killed processes appended to has no
			// half-written link.
			out, err := cli(t, env, "", "audit", "verify")
			if err != nil || !strings.Contains(out, "audit log ok") {
				t.Fatalf("audit chain after kill -9: %v\n%s", err, out)
			}
			t.Logf("T12 (f) %s: %s", d, strings.TrimSpace(out))
		})
	}
}

// auditAllBatches waits until every batch in the database has its
// inventory.batch.allocated entry in the audit log, exactly once.
func auditAllBatches(t *testing.T, dbURL string) {
	t.Helper()
	db, err := sqlstore.Open(context.Background(), sqlstore.Options{URL: dbURL, PoolSize: 1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var batches, entries, distinct int
	for deadline := time.Now().Add(20 * time.Second); ; {
		err := db.SQL().QueryRow(`SELECT (SELECT count(*) FROM batches),
			(SELECT count(*) FROM audit_entries WHERE action = 'inventory.batch.allocated'),
			(SELECT count(DISTINCT object_id) FROM audit_entries WHERE action = 'inventory.batch.allocated')`).Scan(&batches, &entries, &distinct)
		if err != nil {
			t.Fatal(err)
		}
		if batches == entries && entries == distinct {
			t.Logf("audit: %d batches, %d allocation entries", batches, entries)
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("audit: %d batches, %d allocation entries (%d distinct)", batches, entries, distinct)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func checkBatchesWhole(t *testing.T, d sqlstore.Dialect, dbURL string, acked int64) {
	t.Helper()
	db, err := sqlstore.Open(context.Background(), sqlstore.Options{URL: dbURL, PoolSize: 1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	q := func(query string, dest ...any) {
		t.Helper()
		if err := db.SQL().QueryRow(query).Scan(dest...); err != nil {
			t.Fatalf("%s: %v", query, err)
		}
	}
	var batches, items, distinct, broken, overlaps int64
	var next sql.NullInt64
	q(`SELECT count(*) FROM batches`, &batches)
	q(`SELECT count(*), count(DISTINCT serial) FROM items`, &items, &distinct)
	// A batch is whole when it has exactly count items, all in its range.
	q(`SELECT count(*) FROM batches b WHERE b.count <> (SELECT count(*) FROM items i WHERE i.batch_id = b.id
		AND i.serial BETWEEN b.first_serial AND b.first_serial + b.count - 1)`, &broken)
	q(`SELECT count(*) FROM batches a JOIN batches b ON a.id < b.id
		AND a.first_serial <= b.first_serial + b.count - 1 AND b.first_serial <= a.first_serial + a.count - 1`, &overlaps)
	q(`SELECT max(next_serial) FROM lot_counters`, &next)
	var maxSerial sql.NullInt64
	q(`SELECT max(serial) FROM items`, &maxSerial)
	t.Logf("%s: %d batches, %d items, %d acknowledged to clients", d, batches, items, acked)
	if broken != 0 || overlaps != 0 || distinct != items {
		t.Fatalf("%d broken batches, %d overlapping ranges, %d items but %d distinct serials", broken, overlaps, items, distinct)
	}
	if items < acked {
		t.Fatalf("%d items stored but %d were acknowledged: committed work was lost", items, acked)
	}
	if maxSerial.Valid && next.Int64 <= maxSerial.Int64 {
		t.Fatalf("lot counter %d is not past the highest serial %d", next.Int64, maxSerial.Int64)
	}
}

// TestKillDuringEngraving kills the process (SIGKILL) while the embedded
// laser burns a job with the next job queued, and restarts it: the job is
// interrupted, its machine is paused (stored, visible in the API) and the
// queued job is not claimed until an operator resumes the machine; a new
// job for the interrupted job's item is refused naming that job.
func TestKillDuringEngraving(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills a real process")
	}
	t.Parallel()
	bin, err := buildBinary()
	if err != nil {
		t.Fatal(err)
	}
	// Real time: the seed's job takes about two minutes of machine time.
	env := []string{"QRMFG_DATA_DIR=" + t.TempDir(), "QRMFG_SIMULATOR_TIME_SCALE=1"}
	attach := func(url string) *server { return &server{t: t, url: url, token: loginAt(t, url)} }
	poll := func(s *server, path, what string, cond func(map[string]any) bool) map[string]any {
		t.Helper()
		for deadline := time.Now().Add(30 * time.Second); ; {
			r := s.do("GET", path, "", "")
			v := r.json(t)
			if r.status == 200 && cond(v) {
				return v
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: no %s: %d %s", path, what, r.status, r.body)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	cmd, url := startProcess(t, bin, env)
	s := attach(url)
	if r := s.json("POST", "/inventory/batches", seedBatch); r.status != 201 {
		t.Fatalf("allocate: %d %s", r.status, r.body)
	}
	r := s.json("POST", "/engraving/jobs", seedJob)
	if r.status != 201 {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	burning := r.json(t)["id"].(string)
	running := poll(s, "/engraving/jobs/"+burning, "progress", func(j map[string]any) bool {
		return j["status"] == "running" && j["lines_acked"].(float64) > 0
	})
	machine := running["machine_id"].(string)
	r = s.json("POST", "/engraving/jobs", strings.ReplaceAll(seedJob, "00001", "00002"))
	if r.status != 201 {
		t.Fatalf("create the next job: %d %s", r.status, r.body)
	}
	next := r.json(t)["id"].(string)
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()

	_, url = startProcess(t, bin, env)
	s = attach(url)
	m := poll(s, "/engraving/machines/"+machine, "connection", func(m map[string]any) bool { return m["connected"] == true })
	if m["paused"] != true || !strings.Contains(m["pause_reason"].(string), burning) {
		t.Fatalf("machine after the restart: not paused for job %s: %v", burning, m)
	}
	if j := s.do("GET", "/engraving/jobs/"+burning, "", "").json(t); j["status"] != "interrupted" || j["error_code"] != "crash" {
		t.Fatalf("the killed job after the restart: %v %v", j["status"], j["error_code"])
	}
	time.Sleep(2500 * time.Millisecond) // the dispatcher looks at the queue every second
	if j := s.do("GET", "/engraving/jobs/"+next, "", "").json(t); j["status"] != "queued" {
		t.Fatalf("the next job is %v after the restart, before an operator resumed the machine", j["status"])
	}
	if r := s.json("POST", "/engraving/jobs", seedJob); r.status != 409 || !strings.Contains(string(r.body), burning) {
		t.Fatalf("a new job for the interrupted job's item: %d %s", r.status, r.body)
	}
	// The operator has cleared the fixture.
	if r := s.json("POST", "/engraving/machines/"+machine+"/resume", ""); r.status != 200 || r.json(t)["paused"] != false {
		t.Fatalf("resume: %d %s", r.status, r.body)
	}
	poll(s, "/engraving/jobs/"+next, "start", func(j map[string]any) bool { return j["status"] != "queued" })
	poll(s, "/audit/events?action=engraving.machine.resume&object_id="+machine, "audit entry of the resume", func(a map[string]any) bool {
		return len(a["events"].([]any)) == 1
	})
}
