package main

import (
	"encoding/csv"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/qrmfg/qrmfg/internal/sqlstore"
	"github.com/qrmfg/qrmfg/internal/sqlstore/sqltest"
)

// readCSV returns the rows of a CSV file after its header.
func readCSV(t *testing.T, path string) [][]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil || len(rows) == 0 {
		t.Fatalf("%s: %v", path, err)
	}
	return rows[1:]
}

// TestInventoryImportExport: items exported from one database as CSV import
// into another, locally (SQLite and PostgreSQL) and through a server; a bad
// row is named and nothing is written.
func TestInventoryImportExport(t *testing.T) {
	t.Parallel()
	for _, d := range sqltest.Dialects {
		t.Run(d.String(), func(t *testing.T) {
			t.Parallel()
			env := func() []string {
				e := []string{"QRMFG_DATA_DIR=" + t.TempDir()}
				if d == sqlstore.Postgres {
					e = append(e, "DATABASE_URL="+sqltest.URL(t, d))
				}
				if _, logs, err := cliSplit(t, e, "", "migrate", "up"); err != nil {
					t.Fatal(err, logs)
				}
				return e
			}
			from, to := env(), env()
			if _, logs, err := cliSplit(t, from, "", "generate", "--type", "PAD", "--vendor", "V0100", "--lot", "L3", "--count", "30", "--format", "zip", "--out", filepath.Join(t.TempDir(), "b.zip")); err != nil {
				t.Fatal(err, logs)
			}
			file := filepath.Join(t.TempDir(), "items.csv")
			out, logs, err := cliSplit(t, from, "", "inventory", "export", "--lot", "L3", "--out", file)
			if err != nil || !strings.Contains(out, "30 items written to "+file) || strings.Contains(logs, "exporting") {
				t.Fatalf("export: %v\n%s%s", err, out, logs)
			}
			if rows := readCSV(t, file); len(rows) != 30 || rows[0][0] != "PAD-V0100-L3-00001" {
				t.Fatalf("exported %d rows", len(rows))
			}
			if out, logs, err := cliSplit(t, to, "", "inventory", "import", file, "--dry-run"); err != nil || !strings.Contains(out, "30 rows, all valid (dry run") {
				t.Fatalf("dry run: %v\n%s%s", err, out, logs)
			}
			if out, logs, err := cliSplit(t, to, "", "inventory", "import", file); err != nil || !strings.Contains(out, "30 items imported") {
				t.Fatalf("import: %v\n%s%s", err, out, logs)
			}
			again := filepath.Join(t.TempDir(), "again.csv")
			if _, logs, err := cliSplit(t, to, "", "inventory", "export", "--status", "generated", "--out", again); err != nil || len(readCSV(t, again)) != 30 {
				t.Fatalf("export of the imported items: %v\n%s", err, logs)
			}
			// Importing the same file again clashes on every row: named, nothing written.
			out, logs, err = cliSplit(t, to, "", "inventory", "import", file)
			if exitCode(err) != 2 || !strings.Contains(logs, file+": line 2, uid: item PAD-V0100-L3-00001 already exists") {
				t.Fatalf("import of existing items: %v\n%s%s", err, out, logs)
			}
		})
	}
}

// TestInventoryCommandServer: the same through a server's API.
func TestInventoryCommandServer(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	generate(t, s, `{"component_type":"BRK","vendor_code":"V0200","lot_number":"L4","count":12}`)
	file := filepath.Join(t.TempDir(), "items.csv")
	if out, logs, err := cliSplit(t, nil, "", "inventory", "export", "--server", s.url, "--token", s.token, "--out", file, "--vendor", "V0200"); err != nil || !strings.Contains(out, "12 items written") {
		t.Fatalf("export: %v\n%s%s", err, out, logs)
	}
	bad := filepath.Join(t.TempDir(), "bad.csv")
	if err := os.WriteFile(bad, []byte("uid,status\nBRK-V0200-L5-00001,available\nBRK-V0200-L5-00002,lost\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, logs, err := cliSplit(t, nil, "", "inventory", "import", bad, "--server", s.url, "--token", s.token)
	if exitCode(err) != 2 || !strings.Contains(logs, "line 3, status: unknown status \"lost\"") {
		t.Fatalf("import with a bad row: %v\n%s%s", err, out, logs)
	}
	good := filepath.Join(t.TempDir(), "good.csv")
	if err := os.WriteFile(good, []byte("uid,status\nBRK-V0200-L5-00001,available\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, logs, err := cliSplit(t, nil, "", "inventory", "import", good, "--server", s.url, "--token", s.token); err != nil || !strings.Contains(out, "1 items imported") {
		t.Fatalf("import: %v\n%s%s", err, out, logs)
	}
	if r := s.do("GET", "/inventory/items/BRK-V0200-L5-00001", "", ""); r.status != 200 || r.json(t)["status"] != "available" {
		t.Fatalf("imported item: %d %s", r.status, r.body)
	}
}
