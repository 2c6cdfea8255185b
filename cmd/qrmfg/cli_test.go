package main

import (
	"archive/zip"
	"bytes"
	"context"
	"database/sql"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/qrmfg/qrmfg/internal/sqlstore"
	"github.com/qrmfg/qrmfg/internal/sqlstore/sqltest"
)

// cliSplit runs one qrmfg command in-process and returns its standard
// output and standard error apart.
func cliSplit(t *testing.T, env []string, stdin string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errb bytes.Buffer
	m := NewMain(&out, &errb, env)
	m.Stdin = strings.NewReader(stdin)
	err = m.ParseFlags(args)
	if err == nil {
		err = m.Run(context.Background())
	}
	if cerr := m.Close(); err == nil {
		err = cerr
	}
	return out.String(), errb.String(), err
}

// migratedDataDir returns a new data directory with a migrated database and
// the environment naming it.
func migratedDataDir(t *testing.T) (string, []string) {
	t.Helper()
	dir := t.TempDir()
	env := []string{"QRMFG_DATA_DIR=" + dir}
	if _, logs, err := cliSplit(t, env, "", "migrate", "up"); err != nil {
		t.Fatal(err, logs)
	}
	return dir, env
}

// TestFlagsAfterTheVerb: a flag after a subcommand's verb or argument counts
// (it was ignored, so another database was changed or reported on), a flag
// the subcommand does not take is refused by name, and only serve and
// migrate up create a database.
func TestFlagsAfterTheVerb(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	other := filepath.Join(t.TempDir(), "other")
	env := []string{"QRMFG_DATA_DIR=" + other, "QRMFG_ADMIN_PASSWORD=" + testAdminPassword}
	mustRun := func(stdin string, args ...string) string {
		t.Helper()
		out, logs, err := cliSplit(t, env, stdin, args...)
		if err != nil {
			t.Fatalf("qrmfg %s: %v\n%s%s", strings.Join(args, " "), describe(err), out, logs)
		}
		return out
	}
	if out := mustRun("", "migrate", "up", "--data-dir", dir); !strings.Contains(out, "applied 0001") {
		t.Fatalf("migrate up --data-dir: %s", out)
	}
	if out := mustRun("", "user", "reset-password", "admin", "--data-dir", dir); !strings.Contains(out, "password of admin reset") {
		t.Fatalf("reset-password admin --data-dir: %s", out)
	}
	if out := mustRun("", "audit", "verify", "--data-dir", dir); !strings.Contains(out, "audit log ok: 2 entries") {
		t.Fatalf("audit verify --data-dir: %s", out)
	}
	if _, err := os.Stat(other); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the data directory of the environment was used although --data-dir named another: %v", err)
	}
	// --database-url after the verb, checked with the flag before it.
	pg := sqltest.URL(t, sqlstore.Postgres)
	env = []string{"QRMFG_DATA_DIR=" + dir}
	if out := mustRun("", "migrate", "up", "--database-url", pg); !strings.Contains(out, "applied 0001") {
		t.Fatalf("migrate up --database-url: %s", out)
	}
	mustRun("a long password\n", "user", "create", "bob", "--database-url", pg, "--role", "supervisor", "--password-stdin")
	if out := mustRun("", "user", "--database-url", pg, "list"); !strings.Contains(out, "bob") || !strings.Contains(out, "supervisor") {
		t.Fatalf("the user made with --database-url after the name is not in that database:\n%s", out)
	}
	if out := mustRun("", "user", "list"); strings.Contains(out, "bob") {
		t.Fatalf("the user made with --database-url went to the data directory's database:\n%s", out)
	}
	// sqlite:////abs.db names an absolute path (it failed to open).
	if out := mustRun("", "user", "list", "--database-url", "sqlite:///"+filepath.Join(dir, "qrmfg.db")); !strings.Contains(out, "admin") {
		t.Fatalf("user list --database-url sqlite:////…: %s", out)
	}
	env = []string{"QRMFG_DATA_DIR=" + other}

	// Where there is no database, the commands that read one say so.
	for _, args := range [][]string{
		{"audit", "verify"},
		{"user", "reset-password", "admin"},
		{"migrate", "status"},
		{"generate", "--type", "PAD", "--vendor", "V0100", "--lot", "L1", "--out", t.TempDir()},
	} {
		out, logs, err := cliSplit(t, env, "", args...)
		if err == nil || !strings.Contains(describe(err), "there is no database at "+filepath.Join(other, "qrmfg.db")) {
			t.Errorf("qrmfg %s where there is no database: %v\n%s%s", strings.Join(args, " "), err, out, logs)
		}
	}
	if _, err := os.Stat(other); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a command made the database it was asked to read: %v", err)
	}

	// A flag the subcommand does not take is refused by name.
	for _, args := range [][]string{{"audit", "verify", "--role", "admin"}, {"user", "list", "--checkpoints", "x"}, {"sim", "--data-dir", dir}, {"migrate", "up", "--addr", ":1"}} {
		_, _, err := cliSplit(t, env, "", args...)
		if exitCode(err) != 2 || !strings.Contains(describe(err), "-"+strings.TrimPrefix(args[len(args)-2], "--")) {
			t.Errorf("qrmfg %s: %v, want a usage error naming the flag", strings.Join(args, " "), err)
		}
	}
}

// TestSubcommandHelp: each subcommand's --help lists its verbs and its own
// flags, not those of the others.
func TestSubcommandHelp(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		args      []string
		want, not []string
	}{
		{[]string{"audit", "--help"}, []string{"verify", "checkpoints", "export", "-checkpoints", "-format", "-data-dir", "-database-url"}, []string{"-role", "-addr", "-target", "-listen"}},
		{[]string{"user", "create", "--help"}, []string{"reset-password", "disable", "list", "-role", "-lines", "-password-stdin", "-data-dir"}, []string{"-checkpoints", "-addr", "-server"}},
		{[]string{"migrate", "-h"}, []string{"up|status", "-database-url"}, []string{"-addr", "-target", "-role"}},
		{[]string{"sim", "--help"}, []string{"-listen", "-time-scale"}, []string{"-data-dir", "-database-url", "-addr"}},
		{[]string{"scan", "--help"}, []string{"PHOTO", "-server", "-json", "-data-dir"}, []string{"-database-url", "-addr", "-role"}},
		{[]string{"generate", "--help"}, []string{"-type", "-count", "-server", "-data-dir"}, []string{"-addr", "-target", "-checkpoints"}},
		{[]string{"serve", "--help"}, []string{"-addr", "-target", "-database-url"}, []string{"-role", "-server"}},
	} {
		out, logs, err := cliSplit(t, nil, "", c.args...)
		if !errors.Is(err, flag.ErrHelp) || exitCode(err) != 0 {
			t.Errorf("qrmfg %s: %v", strings.Join(c.args, " "), err)
		}
		for _, w := range c.want {
			if !strings.Contains(out, w) {
				t.Errorf("qrmfg %s does not mention %s:\n%s%s", strings.Join(c.args, " "), w, out, logs)
			}
		}
		for _, n := range c.not {
			if strings.Contains(out, n+" ") {
				t.Errorf("qrmfg %s lists %s, a flag it does not take:\n%s", strings.Join(c.args, " "), n, out)
			}
		}
	}
}

// TestAdminMadeOnlyByServeAndUser: generate (which once printed the first
// admin's password among its log lines) makes no user; a user command on a
// database without users makes the admin and prints its password.
func TestAdminMadeOnlyByServeAndUser(t *testing.T) {
	t.Parallel()
	dir, env := migratedDataDir(t)
	out, logs, err := cliSplit(t, env, "", "generate", "--type", "PAD", "--vendor", "V0100", "--lot", "L1", "--count", "2", "--out", t.TempDir())
	if err != nil || strings.Contains(out+logs, "password") {
		t.Fatalf("generate: %v\n%s%s", err, out, logs)
	}
	db, err := sql.Open("sqlite", filepath.Join(dir, "qrmfg.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var users int
	if err := db.QueryRow(`SELECT count(*) FROM users`).Scan(&users); err != nil || users != 0 {
		t.Fatalf("users after generate: %d, %v", users, err)
	}
	out, logs, err = cliSplit(t, env, "", "user", "list")
	if err != nil || !strings.Contains(out, "admin") || !strings.Contains(logs, "first start: created the admin user") || !strings.Contains(logs, "password=") {
		t.Fatalf("user list on a database without users: %v\n%s%s", err, out, logs)
	}
}

// TestCLIErrors: a failed command ends with its error, not with a log line
// about stopping, and --format names the formats the command line writes.
func TestCLIErrors(t *testing.T) {
	t.Parallel()
	_, env := migratedDataDir(t)
	out, logs, err := cliSplit(t, env, "", "generate", "--type", "PA D", "--vendor", "V0100", "--lot", "L1", "--out", t.TempDir())
	if err == nil || !strings.Contains(describe(err), "component_type") || strings.Contains(logs, "stopped") {
		t.Fatalf("generate with a bad type: %v\n%s%s", err, out, logs)
	}
	_, _, err = cliSplit(t, env, "", "generate", "--type", "PAD", "--vendor", "V0100", "--lot", "L1", "--format", "jpg")
	if exitCode(err) != 2 || !strings.Contains(describe(err), "png, svg, zip, pdf") {
		t.Fatalf("--format jpg: %v", err)
	}
}

// TestGenerateServerInBackground: above the server's async threshold,
// generate --server follows the batch and downloads it to --out (it exited
// 0 having written nothing).
func TestGenerateServerInBackground(t *testing.T) {
	t.Parallel()
	s := startServer(t, "QRMFG_ASYNC_BATCH_THRESHOLD=100")
	out := filepath.Join(t.TempDir(), "batch.zip")
	stdout, logs, err := cliSplit(t, nil, "", "generate", "--type", "PAD", "--vendor", "V0100", "--lot", "L7", "--count", "300",
		"--format", "zip", "--out", out, "--server", s.url, "--token", s.token)
	if err != nil {
		t.Fatalf("%v\n%s%s", err, stdout, logs)
	}
	zr, err := zip.OpenReader(out)
	if err != nil {
		t.Fatalf("--out after a background batch: %v\n%s", err, stdout)
	}
	defer zr.Close()
	if len(zr.File) != 301 || !strings.Contains(stdout, "written to "+out) {
		t.Fatalf("%d files in the ZIP; output %s", len(zr.File), stdout)
	}
	// PNG files: the batch's ZIP lands in the directory.
	dir := t.TempDir()
	if _, logs, err := cliSplit(t, nil, "", "generate", "--type", "PAD", "--vendor", "V0100", "--lot", "L7", "--count", "200",
		"--out", dir, "--server", s.url, "--token", s.token); err != nil {
		t.Fatalf("%v\n%s", err, logs)
	}
	if zips, _ := filepath.Glob(filepath.Join(dir, "*.zip")); len(zips) != 1 {
		t.Fatalf("ZIPs in --out: %v", zips)
	}
}
