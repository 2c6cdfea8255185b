package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"

	"github.com/qrmfg/qrmfg/internal/app"
	"github.com/qrmfg/qrmfg/internal/inventory"
	"github.com/qrmfg/qrmfg/internal/qrmfg"
)

// inventoryFlags are the flags of `qrmfg inventory`.
type inventoryFlags struct {
	server, token string
	out           string
	dryRun        bool
	filter        inventory.ItemFilter
	status        string
}

func (f *inventoryFlags) register(fs *flag.FlagSet, tokenDefault string) {
	fs.StringVar(&f.server, "server", "", "import to or export from a running server at this URL instead of the local database")
	fs.StringVar(&f.token, "token", tokenDefault, "access token or API key for --server (default $QRMFG_TOKEN)")
	fs.StringVar(&f.out, "out", "-", "export: output file (- for standard output)")
	fs.BoolVar(&f.dryRun, "dry-run", false, "import: check every row and write nothing")
	fs.StringVar(&f.status, "status", "", "export: only items in these statuses, comma-separated")
	fs.StringVar(&f.filter.ComponentType, "type", "", "export: only items of this component type")
	fs.StringVar(&f.filter.VendorCode, "vendor", "", "export: only items of this vendor")
	fs.StringVar(&f.filter.LotNumber, "lot", "", "export: only items of this lot")
	fs.StringVar(&f.filter.BatchID, "batch", "", "export: only items of this batch")
}

const inventoryUsage = "usage: qrmfg inventory export [--out FILE] [--status S] [--type T] [--vendor V] [--lot L] [--batch ID] | import FILE.csv [--dry-run]"

// inventoryCmd imports or exports items as CSV, in the local database or on
// a server, with progress on a terminal.
func (m *Main) inventoryCmd(ctx context.Context, f *inventoryFlags) error {
	if len(m.args) == 0 {
		return qrmfg.Errorf(qrmfg.EINVALID, inventoryUsage)
	}
	action, args := m.args[0], m.args[1:]
	switch {
	case action == "export" && len(args) == 0:
	case action == "import" && len(args) == 1:
	default:
		return qrmfg.Errorf(qrmfg.EINVALID, inventoryUsage)
	}
	for _, s := range strings.Split(f.status, ",") {
		if s = strings.TrimSpace(s); s != "" {
			st, err := inventory.ParseStatus(s)
			if err != nil {
				return err
			}
			f.filter.Statuses = append(f.filter.Statuses, st)
		}
	}
	var inv *inventory.Service
	if f.server == "" {
		if err := m.existingDatabase(); err != nil {
			return err
		}
		a, err := app.New(ctx, m.Config, m.log, Version())
		if err != nil {
			return err
		}
		m.app = a
		inv = a.Inventory
		ctx = qrmfg.WithActor(ctx, qrmfg.Actor{Kind: "system", ID: "cli", Name: "qrmfg inventory"})
	}
	if action == "import" {
		return m.importItems(ctx, f, inv, args[0])
	}
	return m.exportItems(ctx, f, inv)
}

func (m *Main) importItems(ctx context.Context, f *inventoryFlags, inv *inventory.Service, path string) error {
	file, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("open %s: %w", path, err)
	}
	defer file.Close()
	total := 0
	if st, err := file.Stat(); err == nil {
		total = int(st.Size())
	}
	label := "reading"
	if f.server != "" {
		label = "uploading"
	}
	pr := m.newProgress(label+" "+path, total, "bytes")
	body := &countingReader{r: file, p: pr}
	var rep inventory.ImportReport
	if f.server == "" {
		rep, err = inv.ImportCSV(ctx, body, f.dryRun)
		pr.Finish()
		if err != nil {
			return err
		}
	} else {
		q := ""
		if f.dryRun {
			q = "?dry_run=true"
		}
		res, err := m.call(ctx, f.server, f.token, http.MethodPost, "/inventory/import"+q, "text/csv", body)
		pr.Finish()
		if err != nil {
			return err
		}
		defer res.Body.Close()
		var p struct {
			Detail string
			Extra  struct {
				Report *inventory.ImportReport
			}
		}
		switch res.StatusCode {
		case http.StatusOK:
			if err := json.NewDecoder(res.Body).Decode(&rep); err != nil {
				return fmt.Errorf("read the answer of %s: %w", f.server, err)
			}
		case http.StatusUnprocessableEntity:
			if err := json.NewDecoder(io.LimitReader(res.Body, 16<<20)).Decode(&p); err != nil || p.Extra.Report == nil {
				return qrmfg.Errorf(qrmfg.EINVALID, "server answered %s: %s", res.Status, p.Detail)
			}
			rep = *p.Extra.Report
		default:
			return problem(res)
		}
	}
	for _, e := range rep.Errors {
		col := ""
		if e.Column != "" {
			col = ", " + e.Column
		}
		fmt.Fprintf(m.Stderr, "%s: line %d%s: %s\n", path, e.Line, col, e.Reason)
	}
	if len(rep.Errors) > 0 {
		return qrmfg.Errorf(qrmfg.EINVALID, "%s has %d bad row(s) of %d; nothing was imported", path, rep.Rows-rep.Valid, rep.Rows)
	}
	if rep.DryRun {
		fmt.Fprintf(m.Stdout, "%s: %d rows, all valid (dry run: nothing imported)\n", path, rep.Rows)
		return nil
	}
	fmt.Fprintf(m.Stdout, "%s: %d items imported\n", path, rep.Imported)
	return nil
}

func (m *Main) exportItems(ctx context.Context, f *inventoryFlags, inv *inventory.Service) error {
	total, err := m.countItems(ctx, f, inv)
	if err != nil {
		return err
	}
	pr := m.newProgress("exporting", total, "items")
	if f.out == "-" && isTerminal(m.Stdout) {
		pr.w = nil // the rows themselves scroll by
	}
	defer pr.Finish()
	write := func(w io.Writer) error {
		cw := &rowCounter{w: w, p: pr}
		if f.server == "" {
			return inv.ExportCSV(ctx, f.filter, cw)
		}
		res, err := m.call(ctx, f.server, f.token, http.MethodGet, "/inventory/export.csv?"+f.query().Encode(), "", nil)
		if err != nil {
			return err
		}
		defer res.Body.Close()
		if res.StatusCode != http.StatusOK {
			return problem(res)
		}
		_, err = io.Copy(cw, res.Body)
		return err
	}
	if f.out == "-" {
		return write(m.Stdout)
	}
	if err := writeFile(f.out, write); err != nil {
		return err
	}
	pr.Finish()
	fmt.Fprintf(m.Stdout, "%d items written to %s\n", pr.done, f.out)
	return nil
}

// countItems returns how many items the export will write.
func (m *Main) countItems(ctx context.Context, f *inventoryFlags, inv *inventory.Service) (int, error) {
	if f.server == "" {
		lf := f.filter
		lf.Limit, lf.WithTotal = 1, true
		page, err := inv.List(ctx, lf)
		if err != nil || page.Total == nil {
			return 0, err
		}
		return int(*page.Total), nil
	}
	q := f.query()
	q.Set("limit", "1")
	q.Set("total", "true")
	res, err := m.call(ctx, f.server, f.token, http.MethodGet, "/inventory/items?"+q.Encode(), "", nil)
	if err != nil {
		return 0, err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return 0, problem(res)
	}
	var page struct{ Total int }
	if err := json.NewDecoder(res.Body).Decode(&page); err != nil {
		return 0, fmt.Errorf("read the answer of %s: %w", f.server, err)
	}
	return page.Total, nil
}

// query is the export's filter as the API's query parameters.
func (f *inventoryFlags) query() url.Values {
	q := url.Values{}
	for k, v := range map[string]string{"status": f.status, "component_type": f.filter.ComponentType,
		"vendor_code": f.filter.VendorCode, "lot_number": f.filter.LotNumber, "batch_id": f.filter.BatchID} {
		if v != "" {
			q.Set(k, v)
		}
	}
	return q
}

// call makes one request of a server with a token.
func (m *Main) call(ctx context.Context, server, token, method, path, contentType string, body io.Reader) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(server, "/")+path, body)
	if err != nil {
		return nil, qrmfg.Errorf(qrmfg.EINVALID, "--server %q: %v", server, err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, server, err)
	}
	return res, nil
}

// countingReader reports the bytes read through it as progress.
type countingReader struct {
	r io.Reader
	p *progress
}

func (c *countingReader) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	c.p.Add(n)
	return n, err
}

// rowCounter reports the CSV rows written through it (after the header) as
// progress. A quoted field with a line break counts twice: the count is for
// the eye, the file is what was exported.
type rowCounter struct {
	w    io.Writer
	p    *progress
	rows int
}

func (c *rowCounter) Write(b []byte) (int, error) {
	n, err := c.w.Write(b)
	c.rows += bytes.Count(b[:n], []byte{'\n'})
	c.p.Set(max(c.rows-1, 0))
	return n, err
}
