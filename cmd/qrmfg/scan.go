package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/qrmfg/qrmfg/internal/app"
	"github.com/qrmfg/qrmfg/internal/partid"
	"github.com/qrmfg/qrmfg/internal/qrmfg"
	"github.com/qrmfg/qrmfg/internal/scanning"
	"github.com/qrmfg/qrmfg/internal/scanning/decode"
	"github.com/qrmfg/qrmfg/internal/scanning/grade"
)

// scanFlags are the flags of `qrmfg scan`.
type scanFlags struct {
	server   string
	token    string
	session  string
	device   string
	location string
	json     bool
}

func (f *scanFlags) register(fs *flag.FlagSet, tokenDefault string) {
	fs.StringVar(&f.server, "server", "", "validate against a running server at this URL (verdicts from its inventory)")
	fs.StringVar(&f.token, "token", tokenDefault, "access token or API key for --server (default $QRMFG_TOKEN)")
	fs.StringVar(&f.session, "session", "", "scanning session id (with --server)")
	fs.StringVar(&f.device, "device", "", "device name recorded with the scans (with --server)")
	fs.StringVar(&f.location, "location", "", "location recorded with the scans (with --server)")
	fs.BoolVar(&f.json, "json", false, "print the answers as JSON")
}

// interleaved parses flags that follow the positional arguments too
// (`qrmfg scan a.jpg --server URL`), returning the positional ones.
func interleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for len(args) > 0 {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			break
		}
		if args[0] == "--" {
			pos = append(pos, args[1:]...)
			break
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
	return pos, nil
}

// scanFiles reads each photo: locally (decode, grade, payload check without a
// database) or through a server's POST /scanning/scan.
func (m *Main) scanFiles(ctx context.Context, f *scanFlags, files []string) error {
	if len(files) == 0 {
		return qrmfg.Errorf(qrmfg.EINVALID, "scan needs at least one image file")
	}
	if f.server == "" && (f.session != "" || f.device != "" || f.location != "") {
		return qrmfg.Errorf(qrmfg.EINVALID, "--session, --device and --location are recorded by a server; add --server")
	}
	var pc *partid.PayloadConfig
	if f.server == "" {
		var err error
		if pc, err = m.offlinePayloads(); err != nil {
			return err
		}
	}
	var failed []string
	pr := m.newProgress("scanning", len(files), "photos")
	if len(files) < 2 {
		pr.w = nil // one photo needs no progress
	}
	defer pr.Finish()
	for i, file := range files {
		pr.Set(i)
		data, err := os.ReadFile(file)
		if err != nil {
			return fmt.Errorf("read %s: %w", file, err)
		}
		var res scanning.ScanResult
		if f.server != "" {
			res, err = m.scanRemote(ctx, f, file, data)
		} else {
			res, err = scanLocal(ctx, pc, data, m.Config.Limits.MaxUploadBytes, int(m.Config.Limits.MaxImagePixels))
		}
		// The results may share the terminal with the progress line.
		pr.Finish()
		if err != nil {
			fmt.Fprintf(m.Stderr, "%s: %s\n", file, qrmfg.ErrorMessage(err))
			failed = append(failed, file)
			continue
		}
		if len(res.Codes) == 0 {
			failed = append(failed, file)
		}
		if f.json {
			b, _ := json.MarshalIndent(map[string]any{"file": file, "result": res}, "", "  ")
			fmt.Fprintf(m.Stdout, "%s\n", b)
			continue
		}
		printScan(m.Stdout, file, res, f.server == "")
	}
	if len(failed) > 0 {
		return qrmfg.Errorf(qrmfg.ENOTFOUND, "no code read from %s", strings.Join(failed, ", "))
	}
	return nil
}

// scanLocal decodes and grades the photo and checks each payload's format
// and signature; with no database, valid means only "well formed and
// signature verified", not "known to the inventory".
func scanLocal(ctx context.Context, pc *partid.PayloadConfig, data []byte, maxBytes int64, maxPixels int) (scanning.ScanResult, error) {
	start := time.Now()
	img, format, err := scanning.DecodeImage(data, maxBytes, maxPixels)
	if err != nil {
		return scanning.ScanResult{}, err
	}
	codes, err := decode.Image(ctx, img, decode.Options{TryInverted: true, MaxPixels: maxPixels})
	if err != nil {
		return scanning.ScanResult{}, err
	}
	b := img.Bounds()
	res := scanning.ScanResult{Codes: []scanning.Outcome{},
		Image: &scanning.ImageInfo{Width: b.Dx(), Height: b.Dy(), Format: format}}
	for _, c := range codes {
		o := scanning.Outcome{Scan: scanning.Scan{Payload: c.Text, Source: scanning.SourceImage, Verdict: scanning.VerdictValid}}
		if d, err := pc.Decode(c.Text); err != nil {
			o.Verdict, o.Reason = scanning.VerdictMalformed, qrmfg.ErrorMessage(err)
			if v := partid.Verdict(err); v == partid.VerdictInvalidSignature || v == partid.VerdictUnknownKey {
				o.Verdict = scanning.VerdictInvalidSignature
			}
		} else {
			o.UID, o.Format = d.ID.String(), string(d.Format)
		}
		if g, err := grade.Measure(img, c); err == nil {
			o.Grade = &g
		}
		o.Symbol = scanning.SymbolOf(c)
		res.Codes = append(res.Codes, o)
	}
	res.Image.DecodeMS = float64(time.Since(start).Microseconds()) / 1000
	return res, nil
}

func printScan(w io.Writer, file string, res scanning.ScanResult, offline bool) {
	size := ""
	if im := res.Image; im != nil {
		size = fmt.Sprintf(" (%s %d×%d, %.1f ms)", im.Format, im.Width, im.Height, im.DecodeMS)
	}
	fmt.Fprintf(w, "%s: %d code(s)%s\n", file, len(res.Codes), size)
	for i, c := range res.Codes {
		verdict := string(c.Verdict)
		if offline && c.Verdict == scanning.VerdictValid {
			verdict = "valid (offline: format and signature only)"
		}
		fmt.Fprintf(w, "  %d. %s\n     verdict: %s", i+1, c.Payload, verdict)
		if c.Reason != "" {
			fmt.Fprintf(w, " — %s", c.Reason)
		}
		fmt.Fprintln(w)
		if c.Item != nil {
			fmt.Fprintf(w, "     item: %s, %s at %q\n", c.Item.UID, c.Item.Status, c.Item.Location)
		}
		if g := c.Grade; g != nil {
			fmt.Fprintf(w, "     grade: %s (%d)  SC %s %.0f%%  MOD %s  FPD %s  AN %s %.3f  GN %s %.2f  UEC %s %.0f%%  [indicative ISO/IEC 15415]\n",
				g.Letter, g.Overall, grade.Letter(g.SC.Grade), 100*g.SC.Value, grade.Letter(g.MOD.Grade), grade.Letter(g.FPD.Grade),
				grade.Letter(g.AN.Grade), g.AN.Value, grade.Letter(g.GN.Grade), g.GN.Value, grade.Letter(g.UEC.Grade), 100*g.UEC.Value)
		}
		if s := c.Symbol; s != nil {
			var pts []string
			for _, p := range s.Corners {
				pts = append(pts, fmt.Sprintf("(%.0f,%.0f)", p.X, p.Y))
			}
			model := ""
			if s.Model == 1 {
				model = "QR Model 1, "
			}
			fmt.Fprintf(w, "     symbol: %sversion %d-%s, %d/%d codewords corrected, module %.1f px, corners %s\n",
				model, s.Version, s.Level, s.ErrorsCorrected, s.ECCapacity, s.ModuleSize, strings.Join(pts, " "))
		}
	}
}

func (m *Main) scanRemote(ctx context.Context, f *scanFlags, file string, data []byte) (scanning.ScanResult, error) {
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	for _, kv := range [][2]string{{"session_id", f.session}, {"device", f.device}, {"location", f.location}} {
		if kv[1] != "" {
			_ = mw.WriteField(kv[0], kv[1])
		}
	}
	part, _ := mw.CreateFormFile("image", filepath.Base(file))
	_, _ = part.Write(data)
	_ = mw.Close()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(f.server, "/")+"/scanning/scan", &body)
	if err != nil {
		return scanning.ScanResult{}, qrmfg.Errorf(qrmfg.EINVALID, "--server %q: %v", f.server, err)
	}
	req.Header.Set("Content-Type", mw.FormDataContentType())
	if f.token != "" {
		req.Header.Set("Authorization", "Bearer "+f.token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return scanning.ScanResult{}, fmt.Errorf("scan on %s: %w", f.server, err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		var p struct{ Detail, Code string }
		_ = json.NewDecoder(io.LimitReader(res.Body, 1<<20)).Decode(&p)
		return scanning.ScanResult{}, qrmfg.Errorf(qrmfg.EINVALID, "server answered %s: %s", res.Status, p.Detail)
	}
	var out scanning.ScanResult
	if err := json.NewDecoder(res.Body).Decode(&out); err != nil {
		return out, fmt.Errorf("read the answer of %s: %w", f.server, err)
	}
	return out, nil
}

// offlinePayloads builds the payload configuration for a local scan from
// the environment and, for the embedded shape, the key files the server
// keeps under the data directory. Missing keys are not created: signed
// codes then read as invalid_signature (unknown key).
func (m *Main) offlinePayloads() (*partid.PayloadConfig, error) {
	c := m.Config
	gtins, err := app.GS1GTINs(c)
	if err != nil {
		return nil, err
	}
	pc := &partid.PayloadConfig{BaseURL: c.PayloadBaseURL, GS1Resolver: c.Payload.GS1Resolver, GTINs: gtins, Keys: partid.NewKeyring()}
	load := func(spec, file string, add func(id string, secret []byte, current bool) error) error {
		if spec == "" {
			b, err := os.ReadFile(filepath.Join(c.DataDir, "keys", file))
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			if err != nil {
				return err
			}
			spec = strings.TrimSpace(string(b))
		}
		for i, pair := range strings.Split(spec, ",") {
			id, b64, ok := strings.Cut(strings.TrimSpace(pair), "=")
			secret, err := base64.StdEncoding.DecodeString(b64)
			if !ok || err != nil {
				return qrmfg.Errorf(qrmfg.EINVALID, "payload key %q is not id=base64", id)
			}
			if err := add(id, secret, i == 0); err != nil {
				return err
			}
		}
		return nil
	}
	if err := load(c.Payload.HMACKeys, "payload-hmac.keys", pc.Keys.AddHMAC); err != nil {
		return nil, err
	}
	err = load(c.Payload.Ed25519Keys, "payload-ed25519.keys", func(id string, secret []byte, current bool) error {
		if len(secret) != ed25519.SeedSize {
			return qrmfg.Errorf(qrmfg.EINVALID, "ed25519 key %s has %d bytes; a seed has %d", id, len(secret), ed25519.SeedSize)
		}
		return pc.Keys.AddEd25519(id, ed25519.NewKeyFromSeed(secret), current)
	})
	if err != nil {
		return nil, err
	}
	return pc, nil
}
