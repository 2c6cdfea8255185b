package main

import (
	"bytes"
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	_ "modernc.org/sqlite"
)

// cli runs one qrmfg command in-process with stdin and returns its output.
func cli(t *testing.T, env []string, stdin string, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	m := NewMain(&out, &out, env)
	m.Stdin = strings.NewReader(stdin)
	err := m.ParseFlags(args)
	if err == nil {
		err = m.Run(context.Background())
	}
	_ = m.Close()
	return out.String(), err
}

// TestUserCommands: users made, reset and disabled from the command line
// are what the server sees.
func TestUserCommands(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	env := []string{"QRMFG_DATA_DIR=" + dir, "QRMFG_ADMIN_PASSWORD=" + testAdminPassword}
	if _, err := cli(t, env, "", "migrate", "up"); err != nil {
		t.Fatal(err)
	}
	// With users in the database no admin is bootstrapped: make the one the
	// test server logs in as.
	if _, err := cli(t, env, testAdminPassword+"\n", "user", "create", "admin", "--role", "admin", "--password-stdin"); err != nil {
		t.Fatal(err)
	}
	out, err := cli(t, env, "line two password\n", "user", "create", "Line2Lead", "--role", "supervisor", "--lines", "L2", "--password-stdin")
	if err != nil || !strings.Contains(out, "created user line2lead (supervisor)") {
		t.Fatalf("create: %v\n%s", err, out)
	}
	if out, err := cli(t, env, "", "user", "create", "x", "--role", "emperor"); err == nil {
		t.Fatalf("bad role accepted: %s", out)
	}
	out, err = cli(t, env, "", "user", "create", "viewer1", "--role", "viewer")
	if err != nil || !strings.Contains(out, "password: ") {
		t.Fatalf("create with a generated password: %v\n%s", err, out)
	}
	generated := strings.TrimSpace(strings.SplitN(strings.SplitN(out, "password: ", 2)[1], "\n", 2)[0])

	s := startServer(t, env...)
	lead := s.login("line2lead", "line two password")
	me := s.do("GET", "/auth/me", "", "", "Authorization", "Bearer "+lead).json(t)
	if me["role"] != "supervisor" || len(me["lines"].([]any)) != 1 {
		t.Fatalf("me: %v", me)
	}
	s.login("viewer1", generated)

	if out, err := cli(t, env, "", "user", "disable", "viewer1"); err != nil || !strings.Contains(out, "disabled") {
		t.Fatalf("disable: %v %s", err, out)
	}
	if r := s.json("POST", "/auth/login", `{"username":"viewer1","password":"`+generated+`"}`, "Authorization", ""); r.status != 401 {
		t.Fatalf("disabled user logged in: %d %s", r.status, r.body)
	}
	if _, err := cli(t, env, "new password for lead\n", "user", "reset-password", "line2lead", "--password-stdin"); err != nil {
		t.Fatal(err)
	}
	if r := s.json("POST", "/auth/login", `{"username":"line2lead","password":"line two password"}`, "Authorization", ""); r.status != 401 {
		t.Fatalf("old password still works: %d", r.status)
	}
	s.login("line2lead", "new password for lead")
	out, err = cli(t, env, "", "user", "list")
	if err != nil || !strings.Contains(out, "viewer1") || !strings.Contains(out, "true") {
		t.Fatalf("list: %v\n%s", err, out)
	}
	if _, err := cli(t, env, "", "user", "disable", "nobody"); err == nil {
		t.Fatal("disable of an unknown user succeeded")
	}
}

// TestAuditCommands: `qrmfg audit verify` passes on an honest log, names the
// first edited row, and detects a cut tail only against an outside copy of
// the checkpoints.
func TestAuditCommands(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	env := []string{"QRMFG_DATA_DIR=" + dir, "QRMFG_ADMIN_PASSWORD=" + testAdminPassword}
	if _, err := cli(t, env, "", "migrate", "up"); err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{"a1", "a2", "a3", "a4", "a5"} {
		if _, err := cli(t, env, "a long password\n", "user", "create", u, "--password-stdin"); err != nil {
			t.Fatal(err)
		}
	}
	out, err := cli(t, env, "", "audit", "verify")
	if err != nil || !strings.Contains(out, "audit log ok: 5 entries") {
		t.Fatalf("verify: %v\n%s", err, out)
	}
	cps := filepath.Join(t.TempDir(), "checkpoints.json")
	if _, err := cli(t, env, "", "audit", "checkpoints", "--out", cps); err != nil {
		t.Fatal(err)
	}
	out, err = cli(t, env, "", "audit", "export", "--format", "csv")
	if err != nil || strings.Count(out, "auth.user.create") != 5 || strings.Contains(out, "a long password") {
		t.Fatalf("export: %v\n%s", err, out)
	}
	db, err := sql.Open("sqlite", filepath.Join(dir, "qrmfg.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	// Cut the last two rows and make the head agree: the chain alone passes,
	// the outside checkpoint does not.
	if _, err := db.Exec(`DELETE FROM audit_entries WHERE seq > 3`); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`UPDATE audit_head SET seq = 3, hash = (SELECT hash FROM audit_entries WHERE seq = 3)`); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`DELETE FROM audit_checkpoints`); err != nil {
		t.Fatal(err)
	}
	if out, err := cli(t, env, "", "audit", "verify"); err != nil {
		t.Fatalf("the chain alone cannot see a cut tail with a consistent head, yet verify failed: %v\n%s", err, out)
	}
	out, err = cli(t, env, "", "audit", "verify", "--checkpoints", cps)
	if err == nil || !strings.Contains(out, "BROKEN at row 4 (truncated)") {
		t.Fatalf("verify against the outside checkpoints: %v\n%s", err, out)
	}
	// An edited row is named.
	if _, err := db.Exec(`UPDATE audit_entries SET action = 'auth.user.delete' WHERE seq = 2`); err != nil {
		t.Fatal(err)
	}
	out, err = cli(t, env, "", "audit", "verify")
	if err == nil || !strings.Contains(out, "BROKEN at row 2 (hash_mismatch)") {
		t.Fatalf("verify after an edit: %v\n%s", err, out)
	}
	if _, err := os.Stat(cps); err != nil {
		t.Fatal(err)
	}
}

// TestFirstStartPrintsAdminPassword: without QRMFG_ADMIN_PASSWORD the first
// start logs a generated admin password once; it works, and a restart does
// not print another.
func TestFirstStartPrintsAdminPassword(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	start := func() (*server, string) {
		s := launch(t, []string{"QRMFG_DATA_DIR=" + dir})
		return s, s.logText()
	}
	s, logs := start()
	m := regexp.MustCompile(`first start: created the admin user.* username=admin password=(\S+)`).FindStringSubmatch(logs)
	if m == nil {
		t.Fatalf("no generated password in the log:\n%s", logs)
	}
	s.login("admin", m[1])
	_, logs2 := start()
	if strings.Contains(logs2, "password=") {
		t.Errorf("a second start printed a password:\n%s", logs2)
	}
}

// TestAuditRecordsCommittedChanges: a change made through the API reaches
// the audit log twice over: the gateway's record of the request and the
// change's own event from the outbox (written in the change's transaction),
// both with the caller and the request id.
func TestAuditRecordsCommittedChanges(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	r := s.json("POST", "/inventory/batches", `{"component_type":"PAD","vendor_code":"V0100","lot_number":"L1","count":2}`)
	if r.status != 201 {
		t.Fatalf("allocate: %d %s", r.status, r.body)
	}
	rid := r.header.Get("X-Request-ID")
	deadline := time.Now().Add(10 * time.Second)
	for {
		page := s.do("GET", "/audit/events?action=inventory.*&limit=100", "", "").json(t)
		actions := map[string]string{}
		for _, e := range page["events"].([]any) {
			e := e.(map[string]any)
			if e["request_id"] == rid {
				actions[e["action"].(string)] = e["actor"].(map[string]any)["name"].(string)
			}
		}
		if actions["inventory.batch.allocate"] == "admin" && actions["inventory.batch.allocated"] == "admin" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("audit entries of request %s: %v, want the request and the committed change, both by admin", rid, actions)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestResetFirstAdminShowsOnePassword: `user reset-password admin` on a
// database without users makes the admin with the reset's password and
// shows that one password, which logs in (it used to log a generated first
// password and then print a second one).
func TestResetFirstAdminShowsOnePassword(t *testing.T) {
	t.Parallel()
	env := []string{"QRMFG_DATA_DIR=" + t.TempDir()}
	if _, err := cli(t, env, "", "migrate", "up"); err != nil {
		t.Fatal(err)
	}
	out, err := cli(t, env, "", "user", "reset-password", "admin")
	if err != nil {
		t.Fatalf("reset: %v\n%s", err, out)
	}
	if n := strings.Count(out, "password="); n != 0 {
		t.Fatalf("a generated first password was logged as well:\n%s", out)
	}
	parts := strings.SplitN(out, "password: ", 2)
	if len(parts) != 2 {
		t.Fatalf("no password shown:\n%s", out)
	}
	pw := strings.TrimSpace(strings.SplitN(parts[1], "\n", 2)[0])
	s := launch(t, append(env, "QRMFG_ADMIN_PASSWORD=unused-because-admin-exists"))
	s.login("admin", pw)
}
