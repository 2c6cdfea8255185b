package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/qrmfg/qrmfg/internal/app"
	"github.com/qrmfg/qrmfg/internal/audit"
	"github.com/qrmfg/qrmfg/internal/auth"
	"github.com/qrmfg/qrmfg/internal/qrmfg"
	"github.com/qrmfg/qrmfg/internal/sqlstore"
)

// adminFlags are the flags of `qrmfg user` and `qrmfg audit`.
type adminFlags struct {
	role          string
	lines         string
	passwordStdin bool
	checkpoints   string
	format        string
	out           string
}

func (f *adminFlags) register(fs *flag.FlagSet, cmd string) {
	switch cmd {
	case "user":
		fs.StringVar(&f.role, "role", "operator", "role of a new user: viewer, operator, supervisor or admin")
		fs.StringVar(&f.lines, "lines", "", "production lines the user is restricted to, comma-separated (empty: all)")
		fs.BoolVar(&f.passwordStdin, "password-stdin", false, "read the password from the first line of standard input instead of generating one")
	case "audit":
		fs.StringVar(&f.checkpoints, "checkpoints", "", "verify against the signed checkpoints in `FILE` (an outside copy from qrmfg audit checkpoints)")
		fs.StringVar(&f.format, "format", "csv", "export format: csv or json")
		fs.StringVar(&f.out, "out", "-", "output file (- for standard output)")
	}
}

const userUsage = "usage: qrmfg user create NAME [--role R] [--lines L1,L2] [--password-stdin] | reset-password NAME [--password-stdin] | disable NAME | enable NAME | list"

const auditUsage = "usage: qrmfg audit verify [--checkpoints FILE] | checkpoints [--out FILE] | export [--format csv|json] [--out FILE]"

// openSecurity opens the database (migrating SQLite as serve does; a
// PostgreSQL schema must be current) and the security modules over it.
func (m *Main) openSecurity(ctx context.Context) (*sqlstore.DB, *app.Security, error) {
	if err := m.existingDatabase(); err != nil {
		return nil, nil, err
	}
	db, err := sqlstore.Open(ctx, sqlstore.Options{URL: m.Config.Database.URL, SQLitePath: m.Config.SQLitePath(),
		PoolSize: 2, MaxOverflow: 1, BusyTimeout: m.Config.Database.BusyTimeout}, nil)
	if err != nil {
		return nil, nil, err
	}
	if db.Dialect() == sqlstore.SQLite {
		_, err = db.Migrate(ctx)
	} else {
		err = db.CheckSchema(ctx)
	}
	if err != nil {
		_ = db.Close()
		return nil, nil, err
	}
	sec, err := app.NewSecurity(m.Config, db, m.log)
	if err != nil {
		_ = db.Close()
		return nil, nil, err
	}
	return db, sec, nil
}

// password reads one from standard input or makes a random one, which is
// printed once.
func (m *Main) password(f *adminFlags) (pw string, generated bool, err error) {
	if !f.passwordStdin {
		return auth.RandomPassword(), true, nil
	}
	line, err := bufio.NewReader(io.LimitReader(m.stdin(), 4096)).ReadString('\n')
	if err != nil && err != io.EOF {
		return "", false, fmt.Errorf("read the password from standard input: %w", err)
	}
	return strings.TrimRight(line, "\r\n"), false, nil
}

func (m *Main) stdin() io.Reader {
	if m.Stdin != nil {
		return m.Stdin
	}
	return os.Stdin
}

func (m *Main) user(ctx context.Context, f *adminFlags) error {
	if len(m.args) == 0 {
		return qrmfg.Errorf(qrmfg.EINVALID, userUsage)
	}
	action, args := m.args[0], m.args[1:]
	wantArgs := 1
	if action == "list" {
		wantArgs = 0
	}
	switch action {
	case "create", "reset-password", "disable", "enable", "list":
	default:
		return qrmfg.Errorf(qrmfg.EINVALID, "unknown user action %q; %s", action, userUsage)
	}
	if len(args) != wantArgs {
		return qrmfg.Errorf(qrmfg.EINVALID, userUsage)
	}
	db, sec, err := m.openSecurity(ctx)
	if err != nil {
		return err
	}
	defer db.Close()
	// As serve does, the first admin is made when there are no users yet
	// (a database made by migrate up), except when this command makes the
	// first user itself.
	// Resetting the first admin's password on such a database makes the
	// admin with that password: one password, shown once.
	var pw string
	var generated bool
	if action == "reset-password" {
		if pw, generated, err = m.password(f); err != nil {
			return err
		}
	}
	if action != "create" {
		cfg := m.Config
		if action == "reset-password" && args[0] == cfg.Auth.AdminUsername {
			cfg.Auth.AdminPassword = pw
		}
		if err := sec.Bootstrap(ctx, cfg, m.log); err != nil {
			return err
		}
	}
	ctx = qrmfg.WithActor(ctx, qrmfg.Actor{Kind: "system", ID: "cli", Name: "qrmfg user"})
	svc := sec.Auth
	if action == "list" {
		us, err := svc.ListUsers(ctx)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(m.Stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "USERNAME\tROLE\tLINES\tDISABLED\tCREATED")
		for _, u := range us {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%t\t%s\n", u.Username, u.Role, strings.Join(u.Lines, ","), u.Disabled, u.CreatedAt.Format("2006-01-02"))
		}
		return tw.Flush()
	}
	name := args[0]
	record := func(act string, id string, after map[string]any) {
		if _, err := sec.Audit.Record(ctx, act, "user", id, nil, after, audit.Success); err != nil {
			m.log.Error("audit record failed", "action", act, "err", err)
		}
	}
	if action == "create" {
		pw, generated, err := m.password(f)
		if err != nil {
			return err
		}
		var lines []string
		for _, l := range strings.Split(f.lines, ",") {
			if l = strings.TrimSpace(l); l != "" {
				lines = append(lines, l)
			}
		}
		u, err := svc.CreateUser(ctx, auth.NewUser{Username: name, Password: pw, Role: auth.Role(f.role), Lines: lines})
		if err != nil {
			return err
		}
		record("auth.user.create", u.ID, map[string]any{"username": u.Username, "role": u.Role, "lines": u.Lines})
		fmt.Fprintf(m.Stdout, "created user %s (%s)\n", u.Username, u.Role)
		if generated {
			fmt.Fprintf(m.Stdout, "password: %s\n(shown once; the user can change it with POST /auth/me/password)\n", pw)
		}
		return nil
	}
	u, err := svc.UserByName(ctx, name)
	if err != nil {
		return err
	}
	switch action {
	case "reset-password":
		if err := svc.ResetPassword(ctx, u.ID, pw); err != nil {
			return err
		}
		record("auth.user.reset_password", u.ID, nil)
		fmt.Fprintf(m.Stdout, "password of %s reset; every session of the user is logged out\n", u.Username)
		if generated {
			fmt.Fprintf(m.Stdout, "password: %s\n(shown once)\n", pw)
		}
	case "disable":
		if err := svc.Disable(ctx, u.ID); err != nil {
			return err
		}
		record("auth.user.disable", u.ID, nil)
		fmt.Fprintf(m.Stdout, "user %s disabled; its tokens and API keys stop working within seconds\n", u.Username)
	case "enable":
		if err := svc.Enable(ctx, u.ID); err != nil {
			return err
		}
		record("auth.user.enable", u.ID, nil)
		fmt.Fprintf(m.Stdout, "user %s enabled\n", u.Username)
	}
	return nil
}

func (m *Main) auditCmd(ctx context.Context, f *adminFlags) error {
	if len(m.args) != 1 {
		return qrmfg.Errorf(qrmfg.EINVALID, auditUsage)
	}
	db, sec, err := m.openSecurity(ctx)
	if err != nil {
		return err
	}
	defer db.Close()
	lg := sec.Audit
	out := func(fn func(io.Writer) error) error {
		if f.out == "-" {
			return fn(m.Stdout)
		}
		file, err := os.Create(f.out)
		if err != nil {
			return fmt.Errorf("create %s: %w", f.out, err)
		}
		if err := fn(file); err != nil {
			_ = file.Close()
			return err
		}
		return file.Close()
	}
	switch m.args[0] {
	case "verify":
		var rep audit.Report
		n := 0
		if f.checkpoints != "" {
			file, err := os.Open(f.checkpoints)
			if err != nil {
				return fmt.Errorf("open checkpoints: %w", err)
			}
			cps, err := audit.ReadCheckpoints(file)
			_ = file.Close()
			if err != nil {
				return err
			}
			n = len(cps)
			rep, err = lg.VerifyAgainst(ctx, lg.PublicKey(), cps...)
			if err != nil {
				return err
			}
		} else {
			cps, err := lg.Checkpoints(ctx)
			if err != nil {
				return err
			}
			n = len(cps)
			if rep, err = lg.VerifyAgainst(ctx, lg.PublicKey(), cps...); err != nil {
				return err
			}
		}
		if !rep.OK {
			fmt.Fprintf(m.Stdout, "audit log BROKEN at row %d (%s): %s\n", rep.FirstBad.Seq, rep.FirstBad.Kind, rep.FirstBad.Reason)
			return qrmfg.Errorf(qrmfg.ECONFLICT, "the audit log does not verify: first bad row %d", rep.FirstBad.Seq)
		}
		fmt.Fprintf(m.Stdout, "audit log ok: %d entries, chain intact, consistent with %d signed checkpoints\n", rep.Entries, n)
		return nil
	case "checkpoints":
		if _, err := lg.Checkpoint(ctx); err != nil {
			return err
		}
		cps, err := lg.Checkpoints(ctx)
		if err != nil {
			return err
		}
		return out(func(w io.Writer) error { return audit.WriteCheckpoints(w, cps) })
	case "export":
		return out(func(w io.Writer) error { return lg.Export(ctx, w, audit.Filter{}, f.format) })
	}
	return qrmfg.Errorf(qrmfg.EINVALID, "unknown audit action %q; %s", m.args[0], auditUsage)
}
