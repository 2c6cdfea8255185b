package config

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// binder connects a setting to its typed Config field.
type binder interface {
	// set parses raw and stores it in c. The warning is non-empty when the
	// value was accepted but rewritten (a seed-style URL, say). Errors are
	// *badValue.
	set(c *Config, raw string) (warning string, err error)
	// get renders the field of c as text that set accepts.
	get(c *Config) string
	// expect describes the accepted values, for messages and docs.
	expect() string
}

// badValue is why a raw value was refused. The setting adds its name and the
// value: `NAME: "raw" reason (expected …)`.
type badValue struct {
	reason string
	expect string // overrides the binder's description when set
}

func (e *badValue) Error() string { return e.reason }

func bad(format string, args ...any) error { return &badValue{reason: fmt.Sprintf(format, args...)} }

// field is the binder of every kind: a pointer into Config plus the parsing
// and rendering of its type.
type field[T any] struct {
	ptr    func(*Config) *T
	parse  func(raw string) (T, string, error)
	format func(T) string
	desc   string
}

func (f field[T]) set(c *Config, raw string) (string, error) {
	v, w, err := f.parse(raw)
	if err != nil {
		return "", err
	}
	*f.ptr(c) = v
	return w, nil
}

func (f field[T]) get(c *Config) string { return f.format(*f.ptr(c)) }
func (f field[T]) expect() string       { return f.desc }

// text is a string setting. check, when not nil, validates the value and may
// rewrite it (returning a warning that says so).
func text(ptr func(*Config) *string, check func(string) (string, string, error), desc string) binder {
	parse := func(raw string) (string, string, error) {
		if check == nil {
			return raw, "", nil
		}
		return check(raw)
	}
	return field[string]{ptr: ptr, parse: parse, format: func(s string) string { return s }, desc: desc}
}

func notEmpty(raw string) (string, string, error) {
	if raw == "" {
		return "", "", bad("is empty")
	}
	return raw, "", nil
}

func checkAddr(raw string) (string, string, error) {
	_, port, err := net.SplitHostPort(raw)
	if err != nil {
		return "", "", bad("is not a listen address")
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return "", "", bad("has a bad port")
	}
	return raw, "", nil
}

func minBytes(n int) func(string) (string, string, error) {
	return func(raw string) (string, string, error) {
		if raw != "" && len(raw) < n {
			return "", "", bad("is %d bytes long", len(raw))
		}
		return raw, "", nil
	}
}

// oneOf is a string setting with a fixed set of values, matched without
// regard to case and stored in the spelling given here.
func oneOf(ptr func(*Config) *string, allowed ...string) binder {
	desc := "one of " + strings.Join(allowed, ", ")
	parse := func(raw string) (string, string, error) {
		for _, a := range allowed {
			if strings.EqualFold(raw, a) {
				return a, "", nil
			}
		}
		return "", "", bad("is not allowed")
	}
	return field[string]{ptr: ptr, parse: parse, format: func(s string) string { return s }, desc: desc}
}

func logLevel(ptr func(*Config) *slog.Level) binder {
	levels := []struct {
		name  string
		level slog.Level
	}{{"debug", slog.LevelDebug}, {"info", slog.LevelInfo}, {"warn", slog.LevelWarn}, {"error", slog.LevelError}}
	parse := func(raw string) (slog.Level, string, error) {
		for _, l := range levels {
			if strings.EqualFold(raw, l.name) {
				return l.level, "", nil
			}
		}
		return 0, "", bad("is not a log level")
	}
	format := func(v slog.Level) string {
		for _, l := range levels {
			if l.level == v {
				return l.name
			}
		}
		return v.String()
	}
	return field[slog.Level]{ptr: ptr, parse: parse, format: format, desc: "one of debug, info, warn, error"}
}

// integer is a whole-number setting within lo..hi.
func integer[T int | int64](ptr func(*Config) *T, lo, hi T) binder {
	desc := fmt.Sprintf("%d..%d", lo, hi)
	parse := func(raw string) (T, string, error) {
		n, err := strconv.ParseInt(raw, 10, 64)
		if err != nil {
			if ne := (*strconv.NumError)(nil); errors.As(err, &ne) && errors.Is(ne.Err, strconv.ErrRange) {
				return 0, "", bad("is out of range")
			}
			return 0, "", bad("is not a whole number")
		}
		if n < int64(lo) || n > int64(hi) {
			return 0, "", bad("is out of range")
		}
		return T(n), "", nil
	}
	return field[T]{ptr: ptr, parse: parse, format: func(v T) string { return strconv.FormatInt(int64(v), 10) }, desc: desc}
}

// minutes is a duration given as a whole number of minutes, lo..hi (the
// seed's JWT_ACCESS_TOKEN_EXPIRE_MINUTES).
func minutes(ptr func(*Config) *time.Duration, lo, hi int) binder {
	desc := fmt.Sprintf("%d..%d minutes", lo, hi)
	parse := func(raw string) (time.Duration, string, error) {
		n, err := strconv.Atoi(raw)
		if err != nil {
			return 0, "", bad("is not a whole number")
		}
		if n < lo || n > hi {
			return 0, "", bad("is out of range")
		}
		return time.Duration(n) * time.Minute, "", nil
	}
	format := func(d time.Duration) string {
		if d%time.Minute != 0 {
			return d.String()
		}
		return strconv.FormatInt(int64(d/time.Minute), 10)
	}
	return field[time.Duration]{ptr: ptr, parse: parse, format: format, desc: desc}
}

func boolean(ptr func(*Config) *bool) binder {
	parse := func(raw string) (bool, string, error) {
		switch strings.ToLower(raw) {
		case "true", "1", "yes":
			return true, "", nil
		case "false", "0", "no":
			return false, "", nil
		}
		return false, "", bad("is not a boolean")
	}
	return field[bool]{ptr: ptr, parse: parse, format: strconv.FormatBool, desc: "true or false (also 1/0, yes/no)"}
}

// duration is a Go duration (30s, 5m, 1h30m) within lo..hi.
func duration(ptr func(*Config) *time.Duration, lo, hi time.Duration) binder {
	desc := fmt.Sprintf("a duration from %s to %s, like 30s or 5m", formatDuration(lo), formatDuration(hi))
	parse := func(raw string) (time.Duration, string, error) {
		d, err := time.ParseDuration(raw)
		if err != nil {
			return 0, "", bad("is not a duration")
		}
		if d < lo || d > hi {
			return 0, "", bad("is out of range")
		}
		return d, "", nil
	}
	return field[time.Duration]{ptr: ptr, parse: parse, format: formatDuration, desc: desc}
}

// formatDuration is time.Duration.String without trailing zero units:
// 5m rather than 5m0s, 720h rather than 720h0m0s.
func formatDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

var byteUnits = []struct {
	suffix string
	size   int64
}{
	{"gib", 1 << 30}, {"mib", 1 << 20}, {"kib", 1 << 10},
	{"gb", 1e9}, {"mb", 1e6}, {"kb", 1e3}, {"b", 1},
}

// byteSize is a size in bytes, written plain or with a unit (KiB, MiB, GiB,
// KB, MB, GB), within lo..hi.
func byteSize(ptr func(*Config) *int64, lo, hi int64) binder {
	desc := fmt.Sprintf("a size from %s to %s, in bytes or with KiB, MiB, GiB", formatBytes(lo), formatBytes(hi))
	parse := func(raw string) (int64, string, error) {
		s := strings.ToLower(raw)
		mult := int64(1)
		for _, u := range byteUnits {
			if t, ok := strings.CutSuffix(s, u.suffix); ok {
				s, mult = strings.TrimSpace(t), u.size
				break
			}
		}
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 0 {
			return 0, "", bad("is not a size")
		}
		if n > math.MaxInt64/mult {
			return 0, "", bad("is out of range")
		}
		n *= mult
		if n < lo || n > hi {
			return 0, "", bad("is out of range")
		}
		return n, "", nil
	}
	return field[int64]{ptr: ptr, parse: parse, format: formatBytes, desc: desc}
}

// formatBytes writes n with the largest binary unit that divides it.
func formatBytes(n int64) string {
	for _, u := range byteUnits[:3] {
		if n != 0 && n%u.size == 0 {
			return strconv.FormatInt(n/u.size, 10) + strings.Replace(strings.ToUpper(u.suffix), "I", "i", 1)
		}
	}
	return strconv.FormatInt(n, 10)
}

// commaList splits a comma-separated value, trimming blanks and dropping
// empty entries.
func commaList(raw string) []string {
	var out []string
	for _, p := range strings.Split(raw, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// list is a comma-separated list of values of at least minLen bytes each.
func list(ptr func(*Config) *[]string, minLen int, desc string) binder {
	parse := func(raw string) ([]string, string, error) {
		l := commaList(raw)
		for i, v := range l {
			if len(v) < minLen {
				return nil, "", bad("entry %d is %d bytes long", i+1, len(v))
			}
		}
		return l, "", nil
	}
	format := func(v []string) string { return strings.Join(v, ",") }
	return field[[]string]{ptr: ptr, parse: parse, format: format, desc: desc}
}

// origins is a comma-separated list of browser origins, or "*".
func origins(ptr func(*Config) *[]string) binder {
	parse := func(raw string) ([]string, string, error) {
		list := commaList(raw)
		for i, o := range list {
			if o == "*" {
				continue
			}
			u, err := url.Parse(o)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
				(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
				return nil, "", bad("has entry %q, which is not an origin", o)
			}
			list[i] = u.Scheme + "://" + u.Host
		}
		return list, "", nil
	}
	format := func(v []string) string { return strings.Join(v, ",") }
	return field[[]string]{ptr: ptr, parse: parse, format: format, desc: "comma-separated origins like https://app.example.com, or *"}
}

// prefixes is a comma-separated list of CIDR prefixes; required means the
// list may not be empty.
func prefixes(ptr func(*Config) *[]netip.Prefix, required bool) binder {
	parse := func(raw string) ([]netip.Prefix, string, error) {
		var out []netip.Prefix
		for _, p := range commaList(raw) {
			pfx, err := netip.ParsePrefix(p)
			if err != nil {
				return nil, "", bad("has entry %q, which is not a CIDR prefix", p)
			}
			if pfx != pfx.Masked() {
				return nil, "", bad("has entry %q, which has host bits set (the network is %s)", p, pfx.Masked())
			}
			out = append(out, pfx)
		}
		if len(out) == 0 && required {
			return nil, "", bad("lists no prefix")
		}
		return out, "", nil
	}
	format := func(v []netip.Prefix) string {
		s := make([]string, len(v))
		for i, p := range v {
			s[i] = p.String()
		}
		return strings.Join(s, ",")
	}
	return field[[]netip.Prefix]{ptr: ptr, parse: parse, format: format, desc: "comma-separated CIDR prefixes like 10.0.0.0/8,::1/128"}
}

const httpExpect = "an http:// or https:// URL, or empty"

func httpURL(raw string) (string, string, error) {
	if raw == "" {
		return "", "", nil
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", "", bad("is not an http(s) URL")
	}
	return raw, "", nil
}

// urlScheme accepts an empty value or a URL with a host and one of the given
// schemes. A seed scheme (a SQLAlchemy "+driver" suffix, or pyamqp) is
// rewritten with a warning.
func urlScheme(schemes ...string) func(string) (string, string, error) {
	return func(raw string) (string, string, error) {
		if raw == "" {
			return "", "", nil
		}
		norm, warn := normaliseScheme(raw)
		u, err := url.Parse(norm)
		if err != nil {
			return "", "", bad("is not a URL")
		}
		for _, s := range schemes {
			if u.Scheme == s {
				if u.Host == "" {
					return "", "", bad("has no host")
				}
				return norm, warn, nil
			}
		}
		return "", "", bad("has an unsupported scheme %q", u.Scheme)
	}
}

// normaliseScheme rewrites a seed-style scheme (postgresql+asyncpg,
// sqlite+aiosqlite, pyamqp) to ours and says so; other values pass unchanged.
func normaliseScheme(raw string) (string, string) {
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return raw, ""
	}
	lower := strings.ToLower(scheme)
	to := lower
	if base, _, ok := strings.Cut(lower, "+"); ok {
		to = base
	}
	if to == "pyamqp" { // Celery's name for its pure-Python AMQP transport
		to = "amqp"
	}
	if to == scheme {
		return raw, ""
	}
	w := ""
	if to != lower {
		w = fmt.Sprintf("scheme %s:// (from the Python seed) is read as %s://", scheme, to)
	}
	return to + "://" + rest, w
}

// normaliseDatabaseURL accepts an empty value, postgres(ql):// URLs and
// SQLite paths as sqlite:///path or file:path.
func normaliseDatabaseURL(raw string) (string, string, error) {
	if raw == "" {
		return "", "", nil
	}
	norm, warn := normaliseScheme(raw)
	switch {
	case strings.HasPrefix(norm, "postgres://"), strings.HasPrefix(norm, "postgresql://"):
		if _, err := url.Parse(norm); err != nil {
			return "", "", bad("is not a valid URL")
		}
		return norm, warn, nil
	case strings.HasPrefix(norm, "sqlite://"):
		p, ok := strings.CutPrefix(norm, "sqlite:///")
		if p, _, _ = strings.Cut(p, "?"); !ok || p == "" {
			return "", "", bad("has no file path (sqlite:///relative.db or sqlite:////absolute.db)")
		}
		return norm, warn, nil
	case strings.HasPrefix(norm, "file:"):
		p := strings.TrimPrefix(strings.TrimPrefix(norm, "file:"), "//")
		if p, _, _ = strings.Cut(p, "?"); p == "" {
			return "", "", bad("has no file path")
		}
		return norm, warn, nil
	}
	return "", "", bad("has an unsupported scheme")
}

// optional accepts the empty value and checks the others with check.
func optional(check func(string) (string, string, error)) func(string) (string, string, error) {
	return func(raw string) (string, string, error) {
		if raw == "" {
			return "", "", nil
		}
		return check(raw)
	}
}
