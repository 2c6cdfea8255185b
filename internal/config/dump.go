package config

import (
	"cmp"
	"fmt"
	"io"
	"net/url"
	"slices"
	"strings"
	"text/tabwriter"
)

// Dump writes the effective configuration to w, one NAME=value line per
// setting sorted by name, each followed by where the value came from
// (default, env, file or flag). Secrets are masked: JWT_SECRET_KEY=****, and
// URLs keep everything but their password.
func (c Config) Dump(w io.Writer) error {
	table := settings()
	slices.SortFunc(table, func(a, b setting) int { return cmp.Compare(a.name, b.name) })
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, s := range table {
		fmt.Fprintf(tw, "%s=%s\t# %s\n", s.name, s.mask(s.bind.get(&c)), c.Source(s.name))
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("config: dump: %w", err)
	}
	return nil
}

// mask hides the secret part of a value of s.
func (s setting) mask(v string) string {
	switch {
	case v == "":
		return ""
	case s.secret == whole:
		return "****"
	case s.secret == password:
		return maskURL(v)
	}
	return v
}

// maskURL replaces the password of a URL, and any password= query parameter,
// with ****. A value that does not parse as a URL is masked whole.
func maskURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "****"
	}
	// url.URL escapes '*' in user info, so mask with a plain placeholder and
	// swap it afterwards.
	const placeholder = "MASKEDxPASSWORD"
	masked := false
	if u.User != nil {
		if _, ok := u.User.Password(); ok {
			u.User = url.UserPassword(u.User.Username(), placeholder)
			masked = true
		}
	}
	if q := u.Query(); q.Has("password") {
		q.Set("password", placeholder)
		u.RawQuery = q.Encode()
		masked = true
	}
	if !masked {
		return raw // as written: String() would reformat it
	}
	return strings.ReplaceAll(u.String(), placeholder, "****")
}

// Setting describes one setting, for documentation and help output.
type Setting struct {
	Name    string // environment variable
	Flag    string // command-line flag without dashes, "" when it has none
	Default string // default value as text, "" when empty
	Values  string // the accepted values
	Help    string // what it does
	Secret  bool   // masked in Dump and readable from Name+"_FILE"
	Inert   string // why it does nothing yet, "" when it works
}

// Settings returns every setting in documentation order.
func Settings() []Setting {
	table := settings()
	out := make([]Setting, len(table))
	for i, s := range table {
		out[i] = Setting{Name: s.name, Flag: s.flag, Default: s.def, Values: s.bind.expect(), Help: s.help, Secret: s.secret != public, Inert: s.inert}
	}
	return out
}

// Markdown renders every setting as a Markdown table (variable, flag, default,
// accepted values, description), for the README and docs/configuration.md.
func Markdown() string {
	var b strings.Builder
	b.WriteString("| Variable | Flag | Default | Values | Description |\n")
	b.WriteString("|---|---|---|---|---|\n")
	code := func(s string) string {
		if s == "" {
			return ""
		}
		return "`" + s + "`"
	}
	for _, s := range Settings() {
		help := s.Help
		if s.Secret {
			help += fmt.Sprintf(" Secret: masked in dumps; may be read from the file named by `%s_FILE`.", s.Name)
		}
		if s.Inert != "" {
			help += fmt.Sprintf(" **Does nothing yet** (%s); setting it draws a warning at start.", s.Inert)
		}
		flag := ""
		if s.Flag != "" {
			flag = "--" + s.Flag
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |\n", code(s.Name), code(flag), code(s.Default), cell(s.Values), cell(help))
	}
	return b.String()
}

// cell escapes the characters that would break a Markdown table cell.
func cell(s string) string {
	return strings.NewReplacer("|", `\|`, "\n", " ", "<", "&lt;", ">", "&gt;").Replace(s)
}

// unknownVariables warns about QRMFG_ variables that are no setting, with the
// closest known name when one is near.
func unknownVariables(environ []string, table []setting) []Warning {
	// Variables of the command-line clients and of the tests, not of the server.
	known := map[string]bool{"QRMFG_TOKEN": true, "QRMFG_TEST_DATABASE_URL": true}
	var names []string
	add := func(n string) {
		if !known[n] {
			known[n] = true
			names = append(names, n)
		}
	}
	for _, s := range table {
		add(s.name)
		if s.secret != public {
			add(s.name + "_FILE")
		}
		for _, a := range s.aliases {
			add(a)
		}
	}
	var warns []Warning
	seen := map[string]bool{}
	for _, kv := range environ {
		name, _, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(name, "QRMFG_") || known[name] || seen[name] {
			continue
		}
		seen[name] = true
		msg := "is not a qrmfg setting and is ignored"
		if s := suggest(name, names); s != "" {
			msg += fmt.Sprintf("; did you mean %s?", s)
		}
		warns = append(warns, Warning{Name: name, Message: msg})
	}
	return warns
}

// suggest returns the known name nearest to name by edit distance, if it is
// near enough to be a likely typo, or the name without the QRMFG_ prefix
// when that is a setting (QRMFG_DATABASE_URL → DATABASE_URL).
func suggest(name string, known []string) string {
	if bare := strings.TrimPrefix(name, "QRMFG_"); slices.Contains(known, bare) {
		return bare
	}
	best, bestDist := "", max(2, len(name)/4)+1
	for _, k := range known {
		if d := editDistance(name, k); d < bestDist {
			best, bestDist = k, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b, in bytes.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
