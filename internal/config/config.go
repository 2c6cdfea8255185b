// Package config reads qrmfg's settings once, at start, and hands them to the
// rest of the program as a typed Config value. Nothing else in qrmfg reads the
// environment.
//
// Every setting is one row of a table (see settings.go) that drives parsing,
// validation, flag registration, masking of secrets, Dump and the generated
// documentation (docs/configuration.md). Values come from, in increasing
// precedence: the built-in default, the environment (or, for secrets, a file
// named by the NAME_FILE variable), and a command-line flag.
//
// An environment variable that is empty (or, for a setting that is not
// secret, only blanks) counts as unset. A flag given explicitly counts even
// when empty.
package config

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"maps"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/qrmfg/qrmfg/internal/qrmfg"
)

// Config is the effective configuration of one qrmfg process. Build it with
// Load (or Default for tests); it is read-only afterwards and passed to
// whatever needs it.
type Config struct {
	Addr    string // QRMFG_ADDR: listen address of the HTTP server
	DataDir string // QRMFG_DATA_DIR: directory for the SQLite file and local state
	Target  string // QRMFG_TARGET: "all" or one service, see Targets

	Log      Log
	Database Database

	// RedisURL is REDIS_URL: empty means rate limits and cache live in memory.
	RedisURL string
	// BrokerURL is BROKER_URL: empty means the in-process event bus.
	BrokerURL string

	Auth     Auth
	Features Features
	Metrics  Metrics
	Services Services
	Limits   Limits
	HTTP     HTTP
	Rate     RateLimits

	// PayloadBaseURL is QRMFG_PAYLOAD_BASE_URL, the base of URL payloads
	// encoded in QR codes; empty lets the caller choose.
	PayloadBaseURL string
	// Payload holds the keys and GS1 settings of the payload formats.
	Payload Payload

	Engraving Engraving

	// sources records where each setting came from, by variable name; a
	// missing entry means SourceDefault.
	sources map[string]Source
}

// Payload holds the payload formats' settings, parsed by the caller.
type Payload struct {
	HMACKeys    string // QRMFG_PAYLOAD_HMAC_KEYS (secret)
	Ed25519Keys string // QRMFG_PAYLOAD_ED25519_KEYS (secret)
	GTINs       string // QRMFG_GS1_GTINS
	GS1Resolver string // QRMFG_GS1_RESOLVER
}

// Log holds the logging settings.
type Log struct {
	Level  slog.Level // QRMFG_LOG_LEVEL
	Format string     // QRMFG_LOG_FORMAT: "text" or "json"
}

// Database holds the database settings.
type Database struct {
	// URL is DATABASE_URL after normalisation: "" (SQLite under DataDir),
	// postgres://…, postgresql://…, sqlite:///path or file:path.
	URL         string
	PoolSize    int           // DB_POOL_SIZE
	MaxOverflow int           // DB_MAX_OVERFLOW
	BusyTimeout time.Duration // QRMFG_DB_BUSY_TIMEOUT (SQLite)
}

// MaxOpen is the largest number of open connections: PoolSize + MaxOverflow.
func (d Database) MaxOpen() int { return d.PoolSize + d.MaxOverflow }

// Auth holds the token and bootstrap-admin settings.
type Auth struct {
	// JWTSecretKey is JWT_SECRET_KEY. Empty means the caller generates a
	// random key at start (embedded shape); when set it is at least 32 bytes.
	JWTSecretKey    string
	JWTAlgorithm    string        // JWT_ALGORITHM: "HS256" or "EdDSA"
	AccessTokenTTL  time.Duration // JWT_ACCESS_TOKEN_EXPIRE_MINUTES
	RefreshTokenTTL time.Duration // QRMFG_REFRESH_TOKEN_TTL
	AdminPassword   string        // QRMFG_ADMIN_PASSWORD: empty means generate and print one
	AdminUsername   string        // QRMFG_ADMIN_USERNAME: name of the bootstrap admin
	// PreviousJWTKeys is QRMFG_JWT_PREVIOUS_KEYS: earlier JWT_SECRET_KEY
	// values, still accepted (never used to sign) during a key rotation.
	PreviousJWTKeys []string
	// AuditSigningKey is QRMFG_AUDIT_SIGNING_KEY: the base64 Ed25519 seed that
	// signs audit checkpoints. Empty: kept under QRMFG_DATA_DIR/keys (target all).
	AuditSigningKey string
	// AuditCheckpointEvery is QRMFG_AUDIT_CHECKPOINT_EVERY: a checkpoint is
	// signed after this many audit entries.
	AuditCheckpointEvery int
	// AuditCheckpointInterval is QRMFG_AUDIT_CHECKPOINT_INTERVAL: a checkpoint
	// is also signed this often when the log has grown since the last one.
	AuditCheckpointInterval time.Duration
}

// RateLimits holds the gateway's request quotas (per second unless named
// otherwise); see internal/gateway/ratelimit.
type RateLimits struct {
	PerSecond      int            // QRMFG_RATE_LIMIT: requests per identity
	Burst          int            // QRMFG_RATE_LIMIT_BURST
	IPPerSecond    int            // QRMFG_RATE_LIMIT_IP: requests per client address
	CodesPerHour   int            // QRMFG_RATE_LIMIT_CODES_PER_HOUR: QR codes generated or allocated per identity
	UploadsPerMin  int            // QRMFG_RATE_LIMIT_UPLOADS_PER_MINUTE: photos per identity
	LoginsPerMin   int            // QRMFG_RATE_LIMIT_LOGINS_PER_MINUTE: login attempts per account and per address
	TrustedProxies []netip.Prefix // QRMFG_TRUSTED_PROXIES: proxies whose X-Forwarded-For is believed
}

// Metrics says where /metrics is served (when Features.Monitoring is on).
type Metrics struct {
	Addr     string         // QRMFG_METRICS_ADDR: separate listener for /metrics; "" for none
	Networks []netip.Prefix // QRMFG_METRICS_NETWORKS: clients served /metrics on the main listener
}

// Features holds the feature switches.
type Features struct {
	Caching      bool // ENABLE_CACHING
	RateLimiting bool // ENABLE_RATE_LIMITING
	Monitoring   bool // ENABLE_MONITORING
}

// Services holds the base URLs of the services in the distributed shape.
// Empty means the service runs in this process.
type Services struct {
	QR        string // QR_SERVICE_URL
	Inventory string // INVENTORY_SERVICE_URL
	Engraving string // ENGRAVING_SERVICE_URL
	Scanning  string // SCANNING_SERVICE_URL
	Audit     string // AUDIT_SERVICE_URL
}

// URL returns the base URL configured for the service target ("qr",
// "inventory", "engraving", "scanning" or "audit"), or "" when it has none.
func (s Services) URL(target string) string {
	switch target {
	case "qr":
		return s.QR
	case "inventory":
		return s.Inventory
	case "engraving":
		return s.Engraving
	case "scanning":
		return s.Scanning
	case "audit":
		return s.Audit
	}
	return ""
}

// Limits holds the size limits.
type Limits struct {
	MaxBatch            int           // QRMFG_MAX_BATCH: most items in one allocation
	AsyncBatchThreshold int           // QRMFG_ASYNC_BATCH_THRESHOLD: larger batches run in the background (202)
	MaxBodyBytes        int64         // QRMFG_MAX_BODY_BYTES
	MaxUploadBytes      int64         // QRMFG_MAX_UPLOAD_BYTES
	MaxImagePixels      int64         // QRMFG_MAX_IMAGE_PIXELS
	ScanMemory          int64         // QRMFG_SCAN_MEMORY: bytes the photo decodes in flight may use together
	ScanConcurrency     int           // QRMFG_SCAN_CONCURRENCY: photos decoded at once (0: one per CPU)
	ScanQueueWait       time.Duration // QRMFG_SCAN_QUEUE_WAIT: wait for decode room before 503
	StreamsPerIdentity  int           // QRMFG_STREAMS_PER_IDENTITY: SSE streams per user or API key
	StreamsMax          int           // QRMFG_STREAMS_MAX: SSE streams in the process
	StreamsFDReserve    int           // QRMFG_STREAMS_FD_RESERVE: file descriptors streams leave free
}

// HTTP holds the HTTP server settings.
type HTTP struct {
	ReadHeaderTimeout time.Duration // QRMFG_HTTP_READ_HEADER_TIMEOUT
	ReadTimeout       time.Duration // QRMFG_HTTP_READ_TIMEOUT (0 = none)
	WriteTimeout      time.Duration // QRMFG_HTTP_WRITE_TIMEOUT (0 = none)
	IdleTimeout       time.Duration // QRMFG_HTTP_IDLE_TIMEOUT (0 = none)
	ShutdownTimeout   time.Duration // QRMFG_SHUTDOWN_TIMEOUT
	// CORSOrigins is QRMFG_CORS_ORIGINS: origins like https://app.example.com
	// (no trailing slash), or "*". Empty allows no cross-origin requests.
	CORSOrigins []string
}

// Engraving holds the laser-machine settings.
type Engraving struct {
	// MachineNetworks is QRMFG_MACHINE_NETWORKS: network addresses of laser
	// machines must fall in one of these prefixes.
	MachineNetworks []netip.Prefix
	// Simulator is QRMFG_SIMULATOR: register a simulated laser in the
	// embedded shape.
	Simulator bool
	// SimTimeScale is QRMFG_SIMULATOR_TIME_SCALE: how many times faster than
	// real time the simulated laser runs (default engraving.DefaultSimTimeScale).
	SimTimeScale int
}

// Targets returns the allowed values of QRMFG_TARGET: "all" (the embedded
// shape) first, then the processes of the distributed shape.
func Targets() []string {
	return []string{"all", "gateway", "qr", "inventory", "engraving", "scanning", "audit", "worker"}
}

// IsPostgres reports whether the database is PostgreSQL.
func (c Config) IsPostgres() bool {
	return strings.HasPrefix(c.Database.URL, "postgres://") || strings.HasPrefix(c.Database.URL, "postgresql://")
}

// SQLitePath returns the file path of the SQLite database: <DataDir>/qrmfg.db
// when DATABASE_URL is empty, the path of a sqlite:/// or file: URL (without
// its query), and "" for PostgreSQL. SQLAlchemy's convention holds:
// sqlite:///rel.db is relative, sqlite:////abs.db is absolute.
func (c Config) SQLitePath() string {
	u := c.Database.URL
	var p string
	switch {
	case u == "":
		return filepath.Join(c.DataDir, "qrmfg.db")
	case strings.HasPrefix(u, "sqlite:///"):
		p = strings.TrimPrefix(u, "sqlite:///")
	case strings.HasPrefix(u, "file://"):
		p = strings.TrimPrefix(u, "file://")
	case strings.HasPrefix(u, "file:"):
		p = strings.TrimPrefix(u, "file:")
	default:
		return ""
	}
	p, _, _ = strings.Cut(p, "?")
	return p
}

// Source returns where the setting with the given variable name came from.
// Settings that were never set, and unknown names, report SourceDefault.
func (c Config) Source(name string) Source {
	if s, ok := c.sources[name]; ok {
		return s
	}
	return SourceDefault
}

// Source tells where the value of a setting came from.
type Source string

// The sources of a value, in increasing precedence (a file and the variable
// itself cannot both be set).
const (
	SourceDefault Source = "default" // the built-in default
	SourceEnv     Source = "env"     // the environment variable
	SourceFile    Source = "file"    // the file named by NAME_FILE
	SourceFlag    Source = "flag"    // a command-line flag
)

// Warning is a problem that does not stop qrmfg from starting: an unknown
// QRMFG_ variable, a seed-style value that was normalised, an odd combination.
type Warning struct {
	Name    string // the variable the warning is about
	Message string
}

func (w Warning) String() string { return w.Name + ": " + w.Message }

// Default returns the configuration with every setting at its default. It is
// valid as it is (the embedded shape).
func Default() Config {
	var c Config
	for _, s := range settings() {
		if _, err := s.bind.set(&c, s.def); err != nil {
			// The table is code, not input: a bad default is a bug that
			// TestDefaultIsValid catches.
			panic(fmt.Sprintf("config: default of %s: %v", s.name, err))
		}
	}
	return c
}

// RegisterFlags defines on fs the command-line flags of the settings that
// have one (--addr, --data-dir, --target, --database-url, …), or, given
// names, only those flags. Flags already defined on fs are left alone, so
// calling it twice is harmless. Load calls it; call it yourself to print
// usage before Load, or to offer a command only the settings it uses before
// FromFlags.
func RegisterFlags(fs *flag.FlagSet, names ...string) {
	for _, s := range settings() {
		if s.flag == "" || fs.Lookup(s.flag) != nil || len(names) > 0 && !slices.Contains(names, s.flag) {
			continue
		}
		v := &flagValue{s: s.def, isBool: s.isBool()}
		// The backquoted name is what flag usage shows as the argument.
		fs.Var(v, s.flag, fmt.Sprintf("%s (env `%s`)", s.help, s.name))
	}
}

// flagValue is the flag.Value of every setting flag: it keeps the raw text,
// which Load parses like an environment value.
type flagValue struct {
	s      string
	isBool bool
}

func (v *flagValue) String() string {
	if v == nil {
		return ""
	}
	return v.s
}

func (v *flagValue) Set(s string) error { v.s = s; return nil }

// IsBoolFlag lets boolean settings be given as a bare --name.
func (v *flagValue) IsBoolFlag() bool { return v.isBool }

// Load builds the configuration from defaults, then environ (in os.Environ
// form, "NAME=value"), then the flags in args, which it parses with fs after
// registering the setting flags on it (see RegisterFlags). Flags the caller
// defined on fs beforehand are parsed too. fs may be nil: then args is ignored.
//
// Load checks everything in one pass. The error, if any, is a *qrmfg.Error
// with code EINVALID whose message lists every problem, one per line, each
// naming the variable and the expected form; Detail["problems"] holds them as
// a []string. A flag parse error (including flag.ErrHelp) is wrapped.
// Warnings are returned even when a value is bad (not on a flag parse error).
// On error the Config is the zero value.
func Load(fs *flag.FlagSet, args []string, environ []string) (Config, []Warning, error) {
	if fs != nil {
		RegisterFlags(fs)
		if err := fs.Parse(args); err != nil {
			return Config{}, nil, &qrmfg.Error{Code: qrmfg.EINVALID, Message: "invalid command line", Err: err}
		}
	}
	return FromFlags(fs, environ)
}

// FromFlags builds the configuration like Load, from a flag set the caller
// has already parsed (after RegisterFlags with the settings it offers): the
// setting flags given on it override environ. fs may be nil.
func FromFlags(fs *flag.FlagSet, environ []string) (Config, []Warning, error) {
	table := settings()
	flags := map[string]string{}
	if fs != nil {
		fs.Visit(func(f *flag.Flag) { flags[f.Name] = f.Value.String() })
	}
	env := parseEnviron(environ)

	c := Default()
	c.sources = map[string]Source{}
	var warns []Warning
	var problems []string
	for _, s := range table {
		in, err := s.resolve(flags, env)
		if err != nil {
			problems = append(problems, err.Error())
			continue
		}
		warns = append(warns, in.warns...)
		if in.src == SourceDefault {
			continue
		}
		w, err := s.bind.set(&c, in.raw)
		if err != nil {
			problems = append(problems, s.problem(in.label, in.raw, err))
			continue
		}
		if w != "" {
			warns = append(warns, Warning{Name: s.name, Message: w})
		}
		if s.inert != "" {
			warns = append(warns, Warning{Name: s.name, Message: "is set but does nothing yet: " + s.inert})
		}
		c.sources[s.name] = in.src
	}
	warns = append(warns, unknownVariables(environ, table)...)
	for _, name := range slices.Sorted(maps.Keys(seedInert)) {
		if strings.TrimSpace(env[name]) != "" {
			warns = append(warns, Warning{Name: name, Message: seedInert[name]})
		}
	}
	if len(problems) > 0 {
		return Config{}, warns, invalid(problems)
	}
	cw, cerrs := crossCheck(&c)
	warns = append(warns, cw...)
	if len(cerrs) > 0 {
		return Config{}, warns, invalid(cerrs)
	}
	return c, warns, nil
}

// Validate checks c as Load would, all at once: every value against its
// setting's rules, then the rules that tie settings together. Use it on a
// Config built or changed in code. The error is like Load's.
func (c Config) Validate() error {
	var problems []string
	for _, s := range settings() {
		raw := s.bind.get(&c)
		var scratch Config
		if _, err := s.bind.set(&scratch, raw); err != nil {
			problems = append(problems, s.problem(s.name, raw, err))
		}
	}
	_, cerrs := crossCheck(&c)
	return invalid(append(problems, cerrs...))
}

// crossCheck applies the rules that involve more than one setting.
func crossCheck(c *Config) (warns []Warning, problems []string) {
	if c.Target == "gateway" {
		for _, s := range []struct{ name, target, url string }{
			{"QR_SERVICE_URL", "qr", c.Services.QR},
			{"INVENTORY_SERVICE_URL", "inventory", c.Services.Inventory},
			{"ENGRAVING_SERVICE_URL", "engraving", c.Services.Engraving},
			{"SCANNING_SERVICE_URL", "scanning", c.Services.Scanning},
			{"AUDIT_SERVICE_URL", "audit", c.Services.Audit},
		} {
			if s.url == "" {
				problems = append(problems, fmt.Sprintf("%s: is empty, but QRMFG_TARGET=gateway routes to the %s service (expected an http(s) URL like http://%s:8000)", s.name, s.target, s.target))
			}
		}
	}
	if c.Target != "all" && c.Auth.JWTSecretKey == "" {
		problems = append(problems, fmt.Sprintf("JWT_SECRET_KEY: is empty, but QRMFG_TARGET=%s is one process of the distributed shape, whose processes must share one key to accept each other's tokens (expected the same secret of at least 32 bytes in every process, e.g. the output of openssl rand -hex 32)", c.Target))
	}
	if c.Limits.AsyncBatchThreshold > c.Limits.MaxBatch {
		warns = append(warns, Warning{Name: "QRMFG_ASYNC_BATCH_THRESHOLD", Message: fmt.Sprintf("%d is above QRMFG_MAX_BATCH=%d, so no batch will run in the background", c.Limits.AsyncBatchThreshold, c.Limits.MaxBatch)})
	}
	return warns, problems
}

// invalid wraps the problems into one EINVALID error, or returns nil.
func invalid(problems []string) error {
	switch len(problems) {
	case 0:
		return nil
	case 1:
		return &qrmfg.Error{Code: qrmfg.EINVALID, Message: "invalid configuration: " + problems[0], Detail: map[string]any{"problems": problems}}
	}
	return &qrmfg.Error{
		Code:    qrmfg.EINVALID,
		Message: fmt.Sprintf("invalid configuration (%d problems):\n  %s", len(problems), strings.Join(problems, "\n  ")),
		Detail:  map[string]any{"problems": problems},
	}
}

// Problems returns the list of problems in an error from Load or Validate,
// one string per problem, or nil when err is not such an error.
func Problems(err error) []string {
	e := qrmfg.AsError(err)
	if e == nil {
		return nil
	}
	p, _ := e.Detail["problems"].([]string)
	return p
}

// parseEnviron turns "NAME=value" entries into a map. As with os.Getenv, the
// first entry of a name wins.
func parseEnviron(environ []string) map[string]string {
	env := make(map[string]string, len(environ))
	for _, kv := range environ {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			continue
		}
		if _, seen := env[k]; !seen {
			env[k] = v
		}
	}
	return env
}

// input is a raw value chosen for one setting and where it came from.
type input struct {
	raw   string
	src   Source
	label string // how problems name it: "NAME", "NAME (flag --x)", "NAME (from NAME_FILE)"
	warns []Warning
}

// resolve picks the raw value of s: flag, else the variable or its file (not
// both), else a seed alias, else the default.
func (s setting) resolve(flags, env map[string]string) (input, error) {
	if s.flag != "" {
		if v, ok := flags[s.flag]; ok {
			return input{raw: s.clean(v), src: SourceFlag, label: fmt.Sprintf("%s (flag --%s)", s.name, s.flag)}, nil
		}
	}
	v := s.clean(env[s.name])
	if s.secret != public {
		fileVar := s.name + "_FILE"
		if path := env[fileVar]; path != "" {
			if v != "" {
				return input{}, fmt.Errorf("%s and %s are both set (expected only one of them)", s.name, fileVar)
			}
			raw, err := readSecretFile(fileVar, path)
			if err != nil {
				return input{}, err
			}
			return input{raw: raw, src: SourceFile, label: fmt.Sprintf("%s (from %s)", s.name, fileVar)}, nil
		}
	}
	var warns []Warning
	for _, alias := range s.aliases {
		av := s.clean(env[alias])
		switch {
		case av == "":
		case v == "":
			warns = append(warns, Warning{Name: alias, Message: fmt.Sprintf("is the seed's name for %s; it is honoured, but rename it", s.name)})
			return input{raw: av, src: SourceEnv, label: fmt.Sprintf("%s (from %s)", s.name, alias), warns: warns}, nil
		case av != v:
			return input{}, fmt.Errorf("%s and %s are both set, to different values (expected only %s)", s.name, alias, s.name)
		default:
			warns = append(warns, Warning{Name: alias, Message: fmt.Sprintf("duplicates %s; remove it", s.name)})
		}
	}
	if v != "" {
		return input{raw: v, src: SourceEnv, label: s.name, warns: warns}, nil
	}
	return input{raw: s.def, src: SourceDefault, label: s.name, warns: warns}, nil
}

// readSecretFile reads a NAME_FILE secret and trims one trailing newline.
func readSecretFile(fileVar, path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return "", fmt.Errorf("%s: cannot read %q: %w (expected a readable file holding the secret)", fileVar, path, err)
	}
	s := string(b)
	if t, ok := strings.CutSuffix(s, "\n"); ok {
		s = strings.TrimSuffix(t, "\r")
	}
	if s == "" {
		return "", fmt.Errorf("%s: file %q is empty (expected the secret)", fileVar, path)
	}
	return s, nil
}
