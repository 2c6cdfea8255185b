package main

import (
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"strings"

	"github.com/qrmfg/qrmfg/internal/app"
	"github.com/qrmfg/qrmfg/internal/qrmfg"
)

// openapi prints the OpenAPI document of the full server without serving
// it: the API is built on a throw-away SQLite database in a temporary
// directory, so no configured database is touched. The web UI's types are
// generated from this output (web/scripts/gen-api.mjs).
func (m *Main) openapi(ctx context.Context) error {
	if len(m.args) > 0 {
		return qrmfg.Errorf(qrmfg.EINVALID, "openapi takes no arguments, got %q", strings.Join(m.args, " "))
	}
	dir, err := os.MkdirTemp("", "qrmfg-openapi-")
	if err != nil {
		return err
	}
	defer func() { _ = os.RemoveAll(dir) }()
	cfg := m.Config
	cfg.DataDir, cfg.Database.URL, cfg.Target = dir, "", "all"
	a, err := app.New(ctx, cfg, slog.New(slog.DiscardHandler), Version())
	if err != nil {
		return err
	}
	doc, err := json.Marshal(a.API.OpenAPI())
	if cerr := a.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	_, err = m.Stdout.Write(append(doc, '\n'))
	return err
}
