package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/qrmfg/qrmfg/internal/app"
	"github.com/qrmfg/qrmfg/internal/generation"
	"github.com/qrmfg/qrmfg/internal/qrmfg"
)

// generateFormats are the formats of --format: one file per part (png, svg)
// or one file for the batch (zip, pdf).
var generateFormats = []string{"png", "svg", "zip", "pdf"}

// generateFlags are the flags of `qrmfg generate`.
type generateFlags struct {
	req    generation.Request
	out    string
	server string
	token  string
}

func (g *generateFlags) register(fs *flag.FlagSet, tokenDefault string) {
	fs.StringVar(&g.req.ComponentType, "type", "", "component type, e.g. PAD (required)")
	fs.StringVar(&g.req.VendorCode, "vendor", "", "vendor code, e.g. V0100 (required)")
	fs.StringVar(&g.req.LotNumber, "lot", "", "lot number, e.g. L2025-09 (required)")
	fs.IntVar(&g.req.Count, "count", 1, "number of parts")
	fs.StringVar(&g.req.ManufacturingDate, "mfg-date", "", "manufacturing date YYYY-MM-DD")
	fs.IntVar(&g.req.WarrantyYears, "warranty", 0, "warranty in years")
	fs.StringVar(&g.req.Payload, "payload", "uid", "payload format: uid, url, gs1, signed, ed25519")
	fs.StringVar(&g.req.Format, "format", "png", "output: png or svg (one file per part in --out), zip or pdf (one file)")
	fs.StringVar(&g.req.Style.ECLevel, "ec", "M", "error correction level L, M, Q or H")
	fs.IntVar(&g.req.Style.ModulePx, "module-px", 10, "module size in pixels")
	fs.BoolVar(&g.req.Style.Invert, "invert", false, "light-on-dark marks")
	fs.StringVar(&g.req.Style.Sheet, "sheet", "", "PDF label sheet preset (avery-l7651, avery-5160, a4-24, a4-4x4, letter-4x4)")
	fs.StringVar(&g.out, "out", ".", "output directory (png, svg) or file (zip, pdf)")
	fs.StringVar(&g.server, "server", "", "generate on a running server at this URL instead of the local database")
	fs.StringVar(&g.token, "token", tokenDefault, "access token or API key for --server (default $QRMFG_TOKEN)")
}

func (m *Main) generate(ctx context.Context, g *generateFlags) error {
	if g.req.ComponentType == "" || g.req.VendorCode == "" || g.req.LotNumber == "" {
		return qrmfg.Errorf(qrmfg.EINVALID, "generate needs --type, --vendor and --lot")
	}
	if !slices.Contains(generateFormats, g.req.Format) {
		return qrmfg.FieldError("format", "--format %q is not one the command line writes; use one of %s",
			g.req.Format, strings.Join(generateFormats, ", "))
	}
	files := g.req.Format == "png" || g.req.Format == "svg"
	req := g.req
	if files {
		req.Style.Image, req.Format = g.req.Format, generation.FormatZIP
	}
	if g.server != "" {
		return m.generateRemote(ctx, g, req, files)
	}
	if err := m.existingDatabase(); err != nil {
		return err
	}
	// The command writes --out itself: a background copy of the artifact
	// under the data directory (what the server does for large batches)
	// would render every code twice.
	cfg := m.Config
	cfg.Limits.AsyncBatchThreshold = max(cfg.Limits.MaxBatch, cfg.Limits.AsyncBatchThreshold)
	a, err := app.New(ctx, cfg, m.log, Version())
	if err != nil {
		return err
	}
	m.app = a
	res, err := a.Generation.Generate(ctx, req)
	if err != nil {
		return err
	}
	start := time.Now()
	pr := m.newProgress("rendering", res.Batch.Count, "codes")
	if files {
		if err := os.MkdirAll(g.out, 0o750); err != nil {
			return fmt.Errorf("create %s: %w", g.out, err)
		}
		err = a.Generation.Each(ctx, res, func(uid, _ string, png, svg []byte) error {
			data, ext := png, ".png"
			if svg != nil {
				data, ext = svg, ".svg"
			}
			pr.Add(1)
			return os.WriteFile(filepath.Join(g.out, uid+ext), data, 0o640)
		})
	} else {
		err = writeFile(g.out, func(w io.Writer) error {
			if req.Format == generation.FormatPDF {
				return a.Generation.WritePDF(ctx, w, res, pr.Set)
			}
			return a.Generation.WriteZIP(ctx, w, res, pr.Set)
		})
	}
	pr.Finish()
	if err != nil {
		return err
	}
	if res.Async {
		a.Generation.Wait()
	}
	fmt.Fprintf(m.Stdout, "batch %s: %d codes %s-%s-%s %05d..%05d written to %s in %s\n", res.Batch.ID, res.Batch.Count,
		res.Batch.ComponentType, res.Batch.VendorCode, res.Batch.LotNumber, res.Batch.FirstSerial, res.Batch.LastSerial(),
		g.out, time.Since(start).Round(time.Millisecond))
	return nil
}

func (m *Main) generateRemote(ctx context.Context, g *generateFlags, req generation.Request, files bool) error {
	body, _ := json.Marshal(req)
	res, err := m.call(ctx, g.server, g.token, http.MethodPost, "/qr/generate", "application/json", bytes.NewReader(body))
	if err != nil {
		return err
	}
	defer res.Body.Close()
	id := res.Header.Get("X-Batch-ID")
	switch res.StatusCode {
	case http.StatusOK:
	case http.StatusAccepted:
		// Above the server's async threshold: follow the rendering, then
		// download the artifact.
		var st struct {
			BatchID string            `json:"batch_id"`
			Links   map[string]string `json:"links"`
		}
		if err := json.NewDecoder(res.Body).Decode(&st); err != nil {
			return fmt.Errorf("read the answer of %s: %w", g.server, err)
		}
		if st.BatchID == "" || st.Links[req.Format] == "" {
			return fmt.Errorf("the answer of %s has no batch id or no %s download link", g.server, req.Format)
		}
		id = st.BatchID
		if err := m.followBatch(ctx, g, st.BatchID); err != nil {
			return err
		}
		if res, err = m.call(ctx, g.server, g.token, http.MethodGet, st.Links[req.Format], "", nil); err != nil {
			return err
		}
		defer res.Body.Close()
		if res.StatusCode != http.StatusOK {
			return problem(res)
		}
	default:
		return problem(res)
	}
	out := g.out
	if files {
		out = filepath.Join(g.out, id+".zip")
		if err := os.MkdirAll(g.out, 0o750); err != nil {
			return err
		}
	}
	if err := writeFile(out, func(w io.Writer) error { _, err := io.Copy(w, res.Body); return err }); err != nil {
		return err
	}
	fmt.Fprintf(m.Stdout, "batch %s written to %s\n", id, out)
	return nil
}

// problem turns a server's error answer into an error naming its detail.
func problem(res *http.Response) error {
	var p struct{ Detail, Code string }
	_ = json.NewDecoder(io.LimitReader(res.Body, 1<<20)).Decode(&p)
	return qrmfg.Errorf(qrmfg.EINVALID, "server answered %s: %s", res.Status, p.Detail)
}

// followBatch reads the batch's progress events until it is rendered,
// drawing the progress on a terminal; a dropped stream is reopened.
func (m *Main) followBatch(ctx context.Context, g *generateFlags, id string) error {
	var pr *progress
	defer func() {
		if pr != nil {
			pr.Finish()
		}
	}()
	for {
		res, err := m.call(ctx, g.server, g.token, http.MethodGet, "/qr/batches/"+id+"/events", "", nil)
		if err != nil {
			return err
		}
		if res.StatusCode != http.StatusOK {
			err := problem(res)
			_ = res.Body.Close()
			return err
		}
		var rec generation.Record
		sc := bufio.NewScanner(res.Body)
		for sc.Scan() {
			data, ok := strings.CutPrefix(sc.Text(), "data: ")
			if !ok || json.Unmarshal([]byte(data), &rec) != nil {
				continue
			}
			if pr == nil {
				pr = m.newProgress("rendering on the server", rec.Total, "codes")
			}
			pr.Set(rec.Done)
			switch rec.Status {
			case generation.StatusCompleted:
				_ = res.Body.Close()
				return nil
			case generation.StatusFailed:
				_ = res.Body.Close()
				return fmt.Errorf("batch %s failed on the server: %s", id, rec.Error)
			}
		}
		_ = res.Body.Close()
		if err := ctx.Err(); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

// writeFile writes through a temporary file renamed into place, so a failed
// run never leaves a truncated file under the final name.
func writeFile(path string, fn func(io.Writer) error) error {
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		return qrmfg.Errorf(qrmfg.EINVALID, "--out %s is a directory; give a file name for zip and pdf", path)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".qrmfg-*")
	if err != nil {
		return fmt.Errorf("create %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if err := fn(tmp); err != nil {
		_ = tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
