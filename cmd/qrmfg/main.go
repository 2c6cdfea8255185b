// Command qrmfg marks and tracks manufactured parts with QR codes.
//
//	qrmfg serve     run the server (everything in one process by default)
//	qrmfg migrate   apply or list database migrations
//	qrmfg config    print the effective configuration, secrets masked
//	qrmfg version   print the version
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"runtime/debug"
	"sort"
	"strings"
	"syscall"
	"text/tabwriter"

	"github.com/qrmfg/qrmfg/internal/app"
	"github.com/qrmfg/qrmfg/internal/config"
	"github.com/qrmfg/qrmfg/internal/qrmfg"
	"github.com/qrmfg/qrmfg/internal/sqlstore"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = ""

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	m := NewMain(os.Stdout, os.Stderr, os.Environ())
	err := m.ParseFlags(os.Args[1:])
	if err == nil {
		err = m.Run(ctx)
	}
	if cerr := m.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "qrmfg:", describe(err))
		}
		os.Exit(exitCode(err))
	}
}

func describe(err error) string {
	if e := qrmfg.AsError(err); e != nil && e.Code != qrmfg.EINTERNAL {
		if e.Err != nil && e.Message == "invalid command line" {
			return e.Err.Error()
		}
		return e.Message
	}
	return err.Error()
}

func exitCode(err error) int {
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if qrmfg.ErrorCode(err) == qrmfg.EINVALID {
		return 2
	}
	return 1
}

// Main is the program: ParseFlags, Run, Close. Tests start it on port 0
// with a temporary data directory.
type Main struct {
	Stdout, Stderr io.Writer
	Stdin          io.Reader // nil: os.Stdin
	Environ        []string

	cmd    string
	args   []string
	Config config.Config
	log    *slog.Logger

	app  *app.App
	addr chan net.Addr
	gen  *generateFlags
	scan *scanFlags
	sim  *simFlags
	adm  *adminFlags
	inv  *inventoryFlags
}

// getenv returns the value of name in the Main's environment.
func (m *Main) getenv(name string) string {
	v := ""
	for _, kv := range m.Environ {
		if k, val, ok := strings.Cut(kv, "="); ok && k == name {
			v = val
		}
	}
	return v
}

// NewMain returns a Main writing to the given streams with the given environment.
func NewMain(stdout, stderr io.Writer, environ []string) *Main {
	return &Main{Stdout: stdout, Stderr: stderr, Environ: environ, addr: make(chan net.Addr, 1)}
}

// Version returns the build's version.
func Version() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		if bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			return bi.Main.Version
		}
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				return "dev-" + s.Value[:12]
			}
		}
	}
	return "dev"
}

const usage = `qrmfg marks and tracks manufactured parts with QR codes.

Usage:
  qrmfg serve [--addr :8000] [--data-dir ./data] [--target all] [--database-url URL]
  qrmfg migrate up|status [--data-dir DIR] [--database-url URL]
  qrmfg generate --type PAD --vendor V0100 --lot L2025-09 --count 100 [--format png|svg|zip|pdf] [--out DIR|FILE] [--server URL]
  qrmfg scan PHOTO... [--server URL] [--session ID] [--device D] [--location L] [--json]
                          read, grade and check the codes in photos (offline: format and signature only)
  qrmfg sim [--listen 127.0.0.1:2323 | --pty] [--time-scale 20] [--image burn.png] [--drop-after N] [--alarm-at N --alarm-code C] ...
                          run a simulated GRBL laser controller (see docs/engraving.md)
  qrmfg user create NAME [--role operator] [--lines L1,L2] [--password-stdin]
  qrmfg user reset-password|disable|enable NAME | list
                          manage users in the configured database (reset-password admin
                          recovers a lost admin password)
  qrmfg audit verify [--checkpoints FILE] | checkpoints [--out FILE] | export [--format csv|json] [--out FILE]
                          check the audit chain (against an outside copy of the signed checkpoints), export it
  qrmfg inventory export [--out FILE] [--status S] [--lot L] ... | import FILE.csv [--dry-run] [--server URL]
                          export items as CSV, or import them (all rows or none)
  qrmfg config            print the effective configuration (secrets masked)
  qrmfg openapi           print the OpenAPI document the server serves at /openapi.json
  qrmfg version

Flags may follow a command's verbs and arguments; qrmfg COMMAND --help lists the
command's own. Configuration comes from the environment (see docs/configuration.md);
flags override it. Only serve and migrate up create a database.
`

// command is what ParseFlags knows of a subcommand: its usage line (verbs
// and arguments) and which setting flags it takes besides its own.
type command struct {
	usage    string
	settings []string // setting flags it offers (config.RegisterFlags): nil all of them, empty none
}

var (
	dbFlags  = []string{"data-dir", "database-url"}
	commands = map[string]command{
		"serve":     {"qrmfg serve [flags]\n\nRuns the server (every module in one process with --target all).", nil},
		"migrate":   {"qrmfg migrate up|status [flags]\n\nup applies the pending migrations (creating the database if need be); status lists them.", dbFlags},
		"config":    {"qrmfg config [flags]\n\nPrints the effective configuration, secrets masked.", nil},
		"generate":  {"qrmfg generate --type T --vendor V --lot L [--count N] [flags]\n\nAllocates parts and writes their codes, from the local database or a server (--server).", dbFlags},
		"scan":      {"qrmfg scan PHOTO... [flags]\n\nReads, grades and checks the codes in photos (offline: format and signature only; --server: against its inventory).", []string{"data-dir"}},
		"sim":       {"qrmfg sim [flags]\n\nRuns a simulated GRBL laser controller (see docs/engraving.md).", []string{}},
		"user":      {userUsage, dbFlags},
		"audit":     {auditUsage, dbFlags},
		"inventory": {inventoryUsage + "\n\nExports items as CSV or imports them (all rows or none), in the local database or on a server (--server).", dbFlags},
		"openapi":   {"qrmfg openapi\n\nPrints the OpenAPI document the server serves at /openapi.json, without serving or touching a database.", []string{}},
	}
)

// ParseFlags reads the subcommand and its flags, and loads the configuration.
// Flags may stand anywhere after the subcommand, before or after its verbs
// and arguments; a flag the subcommand does not take is refused by name.
func (m *Main) ParseFlags(args []string) error {
	if len(args) == 0 {
		fmt.Fprint(m.Stderr, usage)
		return qrmfg.Errorf(qrmfg.EINVALID, "no command given")
	}
	m.cmd, args = args[0], args[1:]
	cmd, ok := commands[m.cmd]
	switch {
	case ok:
	case m.cmd == "version" || m.cmd == "--version" || m.cmd == "-version":
		m.cmd = "version"
		return nil
	case m.cmd == "help" || m.cmd == "-h" || m.cmd == "--help":
		fmt.Fprint(m.Stdout, usage)
		return flag.ErrHelp
	default:
		fmt.Fprint(m.Stderr, usage)
		return qrmfg.Errorf(qrmfg.EINVALID, "unknown command %q", m.cmd)
	}
	fs := flag.NewFlagSet("qrmfg "+m.cmd, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	switch m.cmd {
	case "generate":
		m.gen = &generateFlags{}
		m.gen.register(fs, m.getenv("QRMFG_TOKEN"))
	case "scan":
		m.scan = &scanFlags{}
		m.scan.register(fs, m.getenv("QRMFG_TOKEN"))
	case "sim":
		m.sim = &simFlags{}
		m.sim.register(fs)
	case "user", "audit":
		m.adm = &adminFlags{}
		m.adm.register(fs, m.cmd)
	case "inventory":
		m.inv = &inventoryFlags{}
		m.inv.register(fs, m.getenv("QRMFG_TOKEN"))
	}
	if cmd.settings == nil || len(cmd.settings) > 0 {
		config.RegisterFlags(fs, cmd.settings...)
	}
	pos, err := interleaved(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		printUsage(m.Stdout, fs, cmd.usage)
		return err
	}
	if err != nil {
		return qrmfg.Errorf(qrmfg.EINVALID, "%v; see qrmfg %s --help", err, m.cmd)
	}
	cfg, warns, err := config.FromFlags(fs, m.Environ)
	if err != nil {
		return err
	}
	m.Config, m.args = cfg, pos
	m.log = newLogger(m.Stderr, cfg.Log)
	for _, w := range warns {
		m.log.Warn("configuration", "variable", w.Name, "warning", w.Message)
	}
	return nil
}

// printUsage writes a subcommand's usage line and its flags, and nothing else.
func printUsage(w io.Writer, fs *flag.FlagSet, usage string) {
	fmt.Fprintf(w, "Usage:\n  %s\n", strings.TrimPrefix(usage, "usage: "))
	n := 0
	fs.VisitAll(func(*flag.Flag) { n++ })
	if n > 0 {
		fmt.Fprintln(w, "\nFlags:")
		fs.SetOutput(w)
		fs.PrintDefaults()
		fs.SetOutput(io.Discard)
	}
}

func newLogger(w io.Writer, c config.Log) *slog.Logger {
	opts := &slog.HandlerOptions{Level: c.Level}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// Run runs the subcommand until it finishes or ctx is cancelled.
func (m *Main) Run(ctx context.Context) error {
	switch m.cmd {
	case "version":
		fmt.Fprintln(m.Stdout, "qrmfg", Version())
		return nil
	case "config":
		return m.Config.Dump(m.Stdout)
	case "openapi":
		return m.openapi(ctx)
	case "migrate":
		return m.migrate(ctx)
	case "serve":
		return m.serve(ctx)
	case "generate":
		return m.generate(ctx, m.gen)
	case "scan":
		return m.scanFiles(ctx, m.scan, m.args)
	case "sim":
		return m.simulate(ctx, m.sim)
	case "user":
		return m.user(ctx, m.adm)
	case "audit":
		return m.auditCmd(ctx, m.adm)
	case "inventory":
		return m.inventoryCmd(ctx, m.inv)
	}
	return qrmfg.Errorf(qrmfg.EINVALID, "unknown command %q", m.cmd)
}

// Addr returns the address the server listens on, once it does.
func (m *Main) Addr(ctx context.Context) (net.Addr, error) {
	select {
	case a := <-m.addr:
		m.addr <- a
		return a, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (m *Main) serve(ctx context.Context) error {
	if len(m.args) > 0 {
		return qrmfg.Errorf(qrmfg.EINVALID, "serve takes no arguments, got %q", strings.Join(m.args, " "))
	}
	a, err := app.New(ctx, m.Config, m.log, Version())
	if err != nil {
		return err
	}
	m.app = a
	if err := a.Security.Bootstrap(ctx, m.Config, m.log); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", m.Config.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", m.Config.Addr, err)
	}
	m.addr <- ln.Addr()
	return a.Serve(ctx, ln)
}

func (m *Main) migrate(ctx context.Context) error {
	action := "status"
	if len(m.args) > 0 {
		action = m.args[0]
	}
	if len(m.args) > 1 || (action != "up" && action != "status") {
		return qrmfg.Errorf(qrmfg.EINVALID, "usage: qrmfg migrate up|status")
	}
	if action != "up" {
		if err := m.existingDatabase(); err != nil {
			return err
		}
	}
	db, err := sqlstore.Open(ctx, sqlstore.Options{URL: m.Config.Database.URL, SQLitePath: m.Config.SQLitePath(),
		PoolSize: 1, MaxOverflow: 1, BusyTimeout: m.Config.Database.BusyTimeout}, nil)
	if err != nil {
		return err
	}
	defer db.Close()
	if action == "up" {
		applied, err := db.Migrate(ctx)
		for _, a := range applied {
			fmt.Fprintf(m.Stdout, "applied %04d %s\n", a.Version, a.Name)
		}
		if err != nil {
			return err
		}
		if len(applied) == 0 {
			fmt.Fprintln(m.Stdout, "the schema is current; nothing to apply")
		}
		return nil
	}
	st, err := db.MigrationStatus(ctx)
	if err != nil {
		return err
	}
	sort.Slice(st, func(i, j int) bool { return st[i].Version < st[j].Version })
	tw := tabwriter.NewWriter(m.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "VERSION\tNAME\tSTATUS")
	for _, s := range st {
		state := "pending"
		if s.Applied {
			state = "applied " + s.AppliedAt.Format("2006-01-02 15:04:05Z")
		}
		fmt.Fprintf(tw, "%04d\t%s\t%s\n", s.Version, s.Name, state)
	}
	return tw.Flush()
}

// existingDatabase refuses to go on when the SQLite database the
// configuration names does not exist: only serve and migrate up create one,
// so that a mistyped --data-dir does not make an empty database and report
// on it. (A PostgreSQL database is never created; connecting to a missing
// one fails naming it.)
func (m *Main) existingDatabase() error {
	p := m.Config.SQLitePath()
	if p == "" {
		return nil
	}
	if _, err := os.Stat(p); errors.Is(err, fs.ErrNotExist) {
		return qrmfg.Errorf(qrmfg.ENOTFOUND, "there is no database at %s: name the right one with --data-dir or --database-url, "+
			"or create it with `qrmfg serve` or `qrmfg migrate up`", p)
	} else if err != nil {
		return fmt.Errorf("database %s: %w", p, err)
	}
	return nil
}

// Close releases what Run opened: the app's workers, bus and database.
func (m *Main) Close() error {
	if m.app != nil {
		err := m.app.Close()
		m.app = nil
		if m.cmd == "serve" {
			m.log.Info("stopped")
		}
		return err
	}
	return nil
}
