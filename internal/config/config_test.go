package config

import (
	"bytes"
	"errors"
	"flag"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/qrmfg/qrmfg/internal/qrmfg"
)

// load runs Load with a fresh flag set whose usage output is discarded.
func load(t *testing.T, args []string, env ...string) (Config, []Warning, error) {
	t.Helper()
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return Load(fs, args, env)
}

// mustLoad is load that fails the test on error.
func mustLoad(t *testing.T, args []string, env ...string) (Config, []Warning) {
	t.Helper()
	c, w, err := load(t, args, env...)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return c, w
}

// mustFail is load that expects an EINVALID error and returns its problems.
func mustFail(t *testing.T, args []string, env ...string) []string {
	t.Helper()
	_, _, err := load(t, args, env...)
	if qrmfg.ErrorCode(err) != qrmfg.EINVALID {
		t.Fatalf("Load(%q, %q) error = %v, want code %s", args, env, err, qrmfg.EINVALID)
	}
	p := Problems(err)
	if len(p) == 0 {
		t.Fatalf("Load error %v lists no problems", err)
	}
	return p
}

func writeFile(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func dump(t *testing.T, c Config) string {
	t.Helper()
	var b bytes.Buffer
	if err := c.Dump(&b); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func TestDefault(t *testing.T) {
	t.Parallel()
	c := Default()
	if err := c.Validate(); err != nil {
		t.Fatalf("Default().Validate() = %v", err)
	}
	if c.Addr != ":8000" || c.DataDir != "./data" || c.Target != "all" {
		t.Errorf("Addr, DataDir, Target = %q, %q, %q", c.Addr, c.DataDir, c.Target)
	}
	if c.Log.Level != slog.LevelInfo || c.Log.Format != "text" {
		t.Errorf("Log = %+v", c.Log)
	}
	if c.Database.URL != "" || c.Database.MaxOpen() != 50 || c.Database.BusyTimeout != 5*time.Second {
		t.Errorf("Database = %+v, MaxOpen %d", c.Database, c.Database.MaxOpen())
	}
	if c.IsPostgres() || c.SQLitePath() != filepath.Join("data", "qrmfg.db") {
		t.Errorf("IsPostgres %v, SQLitePath %q", c.IsPostgres(), c.SQLitePath())
	}
	if c.Auth.JWTSecretKey != "" || c.Auth.JWTAlgorithm != "HS256" || c.Auth.AccessTokenTTL != 15*time.Minute || c.Auth.RefreshTokenTTL != 720*time.Hour {
		t.Errorf("Auth = %+v", c.Auth)
	}
	if !c.Features.Caching || !c.Features.RateLimiting || !c.Features.Monitoring || !c.Engraving.Simulator {
		t.Errorf("Features = %+v, Simulator %v", c.Features, c.Engraving.Simulator)
	}
	wantLimits := Limits{MaxBatch: 100000, AsyncBatchThreshold: 5000, MaxBodyBytes: 10 << 20, MaxUploadBytes: 20 << 20, MaxImagePixels: 40_000_000,
		ScanMemory: 512 << 20, ScanQueueWait: time.Second, StreamsPerIdentity: 16, StreamsMax: 4096, StreamsFDReserve: 256}
	if c.Limits != wantLimits {
		t.Errorf("Limits = %+v, want %+v", c.Limits, wantLimits)
	}
	if c.HTTP.ReadTimeout != 30*time.Second || c.HTTP.WriteTimeout != 5*time.Minute || c.HTTP.IdleTimeout != 120*time.Second || c.HTTP.ShutdownTimeout != 30*time.Second {
		t.Errorf("HTTP = %+v", c.HTTP)
	}
	wantNets := []netip.Prefix{
		netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128"), netip.MustParsePrefix("10.0.0.0/8"),
		netip.MustParsePrefix("172.16.0.0/12"), netip.MustParsePrefix("192.168.0.0/16"),
	}
	if !slices.Equal(c.Engraving.MachineNetworks, wantNets) {
		t.Errorf("MachineNetworks = %v", c.Engraving.MachineNetworks)
	}
}

func TestLoadWithNothingSetIsDefault(t *testing.T) {
	t.Parallel()
	c, w := mustLoad(t, nil, "PATH=/usr/bin", "HOME=/root")
	if len(w) != 0 {
		t.Errorf("warnings = %v, want none", w)
	}
	if got, want := dump(t, c), dump(t, Default()); got != want {
		t.Errorf("Load with an empty environment differs from Default:\n%s\nwant\n%s", got, want)
	}
	c, _ = mustLoad(t, nil) // nil environ and nil args are fine
	if c.Addr != ":8000" {
		t.Errorf("Addr = %q", c.Addr)
	}
}

func TestLoadValues(t *testing.T) {
	t.Parallel()
	c, _ := mustLoad(t, nil,
		"QRMFG_LOG_LEVEL=DEBUG", "QRMFG_LOG_FORMAT=json", "QRMFG_TARGET=Inventory",
		"DB_POOL_SIZE= 5 ", "DB_MAX_OVERFLOW=0", "QRMFG_DB_BUSY_TIMEOUT=250ms",
		"JWT_ACCESS_TOKEN_EXPIRE_MINUTES=60", "QRMFG_REFRESH_TOKEN_TTL=168h",
		"JWT_SECRET_KEY=0123456789abcdef0123456789abcdef",
		"ENABLE_CACHING=No", "ENABLE_RATE_LIMITING=0", "ENABLE_MONITORING=YES", "QRMFG_SIMULATOR=FALSE",
		"QRMFG_MAX_BODY_BYTES=512KiB", "QRMFG_MAX_UPLOAD_BYTES=5MB", "QRMFG_MAX_IMAGE_PIXELS=1000000",
		"QRMFG_HTTP_WRITE_TIMEOUT=0", "QRMFG_CORS_ORIGINS=https://a.example.com/, http://localhost:5173 ,",
		"QRMFG_MACHINE_NETWORKS=192.168.7.0/24", "REDIS_URL=rediss://cache:6380/1",
		"QR_SERVICE_URL=http://qr:8001", "QRMFG_PAYLOAD_BASE_URL=https://id.example.com/p",
	)
	checks := []struct {
		name      string
		got, want any
	}{
		{"Log.Level", c.Log.Level, slog.LevelDebug},
		{"Log.Format", c.Log.Format, "json"},
		{"Target", c.Target, "inventory"},
		{"PoolSize", c.Database.PoolSize, 5},
		{"MaxOpen", c.Database.MaxOpen(), 5},
		{"BusyTimeout", c.Database.BusyTimeout, 250 * time.Millisecond},
		{"AccessTokenTTL", c.Auth.AccessTokenTTL, time.Hour},
		{"RefreshTokenTTL", c.Auth.RefreshTokenTTL, 168 * time.Hour},
		{"Caching", c.Features.Caching, false},
		{"RateLimiting", c.Features.RateLimiting, false},
		{"Monitoring", c.Features.Monitoring, true},
		{"Simulator", c.Engraving.Simulator, false},
		{"MaxBodyBytes", c.Limits.MaxBodyBytes, int64(512 << 10)},
		{"MaxUploadBytes", c.Limits.MaxUploadBytes, int64(5_000_000)},
		{"MaxImagePixels", c.Limits.MaxImagePixels, int64(1_000_000)},
		{"WriteTimeout", c.HTTP.WriteTimeout, time.Duration(0)},
		{"CORSOrigins", strings.Join(c.HTTP.CORSOrigins, " "), "https://a.example.com http://localhost:5173"},
		{"MachineNetworks", c.Engraving.MachineNetworks[0], netip.MustParsePrefix("192.168.7.0/24")},
		{"RedisURL", c.RedisURL, "rediss://cache:6380/1"},
		{"Services.URL(qr)", c.Services.URL("qr"), "http://qr:8001"},
		{"Services.URL(audit)", c.Services.URL("audit"), ""},
		{"PayloadBaseURL", c.PayloadBaseURL, "https://id.example.com/p"},
	}
	for _, ch := range checks {
		if ch.got != ch.want {
			t.Errorf("%s = %v, want %v", ch.name, ch.got, ch.want)
		}
	}
	if err := c.Validate(); err != nil {
		t.Errorf("a loaded config does not validate: %v", err)
	}
}

func TestLoadBadValues(t *testing.T) {
	t.Parallel()
	tests := []struct {
		env  string
		want string // the whole problem
	}{
		{"DB_POOL_SIZE=abc", `DB_POOL_SIZE: "abc" is not a whole number (expected 1..1000)`},
		{"DB_POOL_SIZE=0", `DB_POOL_SIZE: "0" is out of range (expected 1..1000)`},
		{"DB_POOL_SIZE=99999999999999999999", `DB_POOL_SIZE: "99999999999999999999" is out of range (expected 1..1000)`},
		{"DB_MAX_OVERFLOW=-1", `DB_MAX_OVERFLOW: "-1" is out of range (expected 0..1000)`},
		{"QRMFG_MAX_BATCH=1e5", `QRMFG_MAX_BATCH: "1e5" is not a whole number (expected 1..10000000)`},
		{"JWT_ACCESS_TOKEN_EXPIRE_MINUTES=15m", `JWT_ACCESS_TOKEN_EXPIRE_MINUTES: "15m" is not a whole number (expected 1..1440 minutes)`},
		{"QRMFG_TARGET=billing", `QRMFG_TARGET: "billing" is not allowed (expected one of all, gateway, qr, inventory, engraving, scanning, audit, worker)`},
		{"QRMFG_LOG_LEVEL=verbose", `QRMFG_LOG_LEVEL: "verbose" is not a log level (expected one of debug, info, warn, error)`},
		{"QRMFG_LOG_FORMAT=xml", `QRMFG_LOG_FORMAT: "xml" is not allowed (expected one of text, json)`},
		{"JWT_ALGORITHM=RS256", `JWT_ALGORITHM: "RS256" is not allowed (expected one of HS256)`},
		{"ENABLE_CACHING=maybe", `ENABLE_CACHING: "maybe" is not a boolean (expected true or false (also 1/0, yes/no))`},
		{"QRMFG_SIMULATOR=on", `QRMFG_SIMULATOR: "on" is not a boolean (expected true or false (also 1/0, yes/no))`},
		{"QRMFG_DB_BUSY_TIMEOUT=5", `QRMFG_DB_BUSY_TIMEOUT: "5" is not a duration (expected a duration from 0s to 1m, like 30s or 5m)`},
		{"QRMFG_SHUTDOWN_TIMEOUT=0s", `QRMFG_SHUTDOWN_TIMEOUT: "0s" is out of range (expected a duration from 1s to 10m, like 30s or 5m)`},
		{"QRMFG_HTTP_READ_TIMEOUT=-1s", `QRMFG_HTTP_READ_TIMEOUT: "-1s" is out of range (expected a duration from 0s to 1h, like 30s or 5m)`},
		{"QRMFG_MAX_BODY_BYTES=ten", `QRMFG_MAX_BODY_BYTES: "ten" is not a size (expected a size from 1KiB to 1GiB, in bytes or with KiB, MiB, GiB)`},
		{"QRMFG_MAX_UPLOAD_BYTES=2GiB", `QRMFG_MAX_UPLOAD_BYTES: "2GiB" is out of range (expected a size from 1KiB to 1GiB, in bytes or with KiB, MiB, GiB)`},
		{"QRMFG_MAX_UPLOAD_BYTES=99999999999GiB", `QRMFG_MAX_UPLOAD_BYTES: "99999999999GiB" is out of range (expected a size from 1KiB to 1GiB, in bytes or with KiB, MiB, GiB)`},
		{"QRMFG_ADDR=8000", `QRMFG_ADDR: "8000" is not a listen address (expected host:port, like :8000 or 127.0.0.1:8000)`},
		{"QRMFG_ADDR=:http-alt", `QRMFG_ADDR: ":http-alt" has a bad port (expected host:port, like :8000 or 127.0.0.1:8000)`},
		{"DATABASE_URL=mysql://root@db/qrmfg", `DATABASE_URL: "mysql://root@db/qrmfg" has an unsupported scheme (expected postgres://…, postgresql://…, sqlite:///path/to/file.db, file:path, or empty)`},
		{"DATABASE_URL=./qrmfg.db", `DATABASE_URL: "./qrmfg.db" has an unsupported scheme (expected postgres://…, postgresql://…, sqlite:///path/to/file.db, file:path, or empty)`},
		{"DATABASE_URL=sqlite://", `DATABASE_URL: "sqlite://" has no file path (sqlite:///relative.db or sqlite:////absolute.db) (expected postgres://…, postgresql://…, sqlite:///path/to/file.db, file:path, or empty)`},
		{"REDIS_URL=http://cache:6379", `REDIS_URL: "http://cache:6379" has an unsupported scheme "http" (expected redis://host:6379/0, rediss://…, or empty)`},
		{"REDIS_URL=redis://", `REDIS_URL: "redis://" has no host (expected redis://host:6379/0, rediss://…, or empty)`},
		{"BROKER_URL=redis://cache", `BROKER_URL: "redis://cache" has an unsupported scheme "redis" (expected amqp://user:pass@host:5672/vhost, amqps://…, or empty)`},
		{"INVENTORY_SERVICE_URL=inventory:8002", `INVENTORY_SERVICE_URL: "inventory:8002" is not an http(s) URL (expected an http:// or https:// URL, or empty)`},
		{"QRMFG_PAYLOAD_BASE_URL=ftp://x", `QRMFG_PAYLOAD_BASE_URL: "ftp://x" is not an http(s) URL (expected an http:// or https:// URL, or empty)`},
		{"QRMFG_CORS_ORIGINS=https://ok.example.com,example.com", `QRMFG_CORS_ORIGINS: "https://ok.example.com,example.com" has entry "example.com", which is not an origin (expected comma-separated origins like https://app.example.com, or *)`},
		{"QRMFG_CORS_ORIGINS=https://app.example.com/ui", `QRMFG_CORS_ORIGINS: "https://app.example.com/ui" has entry "https://app.example.com/ui", which is not an origin (expected comma-separated origins like https://app.example.com, or *)`},
		{"QRMFG_MACHINE_NETWORKS=10.0.0.0/8,10.1.2.3", `QRMFG_MACHINE_NETWORKS: "10.0.0.0/8,10.1.2.3" has entry "10.1.2.3", which is not a CIDR prefix (expected comma-separated CIDR prefixes like 10.0.0.0/8,::1/128)`},
		{"QRMFG_MACHINE_NETWORKS=10.1.2.3/8", `QRMFG_MACHINE_NETWORKS: "10.1.2.3/8" has entry "10.1.2.3/8", which has host bits set (the network is 10.0.0.0/8) (expected comma-separated CIDR prefixes like 10.0.0.0/8,::1/128)`},
		{"JWT_SECRET_KEY=too-short", `JWT_SECRET_KEY: the value is 9 bytes long (expected at least 32 bytes, e.g. the output of openssl rand -hex 32)`},
	}
	for _, tt := range tests {
		t.Run(tt.env, func(t *testing.T) {
			t.Parallel()
			p := mustFail(t, nil, tt.env)
			if len(p) != 1 || p[0] != tt.want {
				t.Errorf("problems = %q\nwant       [%q]", p, tt.want)
			}
		})
	}
}

func TestLoadReportsEveryProblemAtOnce(t *testing.T) {
	t.Parallel()
	_, _, err := load(t, []string{"--target=nope"},
		"DB_POOL_SIZE=abc", "QRMFG_LOG_LEVEL=loud", "ENABLE_MONITORING=sure", "QRMFG_HTTP_IDLE_TIMEOUT=forever")
	p := Problems(err)
	want := []string{"QRMFG_TARGET (flag --target)", "QRMFG_LOG_LEVEL", "DB_POOL_SIZE", "ENABLE_MONITORING", "QRMFG_HTTP_IDLE_TIMEOUT"}
	if len(p) != len(want) {
		t.Fatalf("problems = %q, want %d", p, len(want))
	}
	for i, name := range want {
		if !strings.HasPrefix(p[i], name+": ") {
			t.Errorf("problem %d = %q, want it to start with %q", i, p[i], name)
		}
		if !strings.Contains(err.Error(), p[i]) {
			t.Errorf("error text %q lacks %q", err, p[i])
		}
	}
}

func TestPrecedence(t *testing.T) {
	t.Parallel()
	t.Run("Default", func(t *testing.T) {
		t.Parallel()
		c, _ := mustLoad(t, nil)
		if c.Addr != ":8000" || c.Source("QRMFG_ADDR") != SourceDefault {
			t.Errorf("Addr = %q from %s", c.Addr, c.Source("QRMFG_ADDR"))
		}
	})
	t.Run("EnvOverDefault", func(t *testing.T) {
		t.Parallel()
		c, _ := mustLoad(t, nil, "QRMFG_ADDR=127.0.0.1:9000")
		if c.Addr != "127.0.0.1:9000" || c.Source("QRMFG_ADDR") != SourceEnv {
			t.Errorf("Addr = %q from %s", c.Addr, c.Source("QRMFG_ADDR"))
		}
	})
	t.Run("FlagOverEnv", func(t *testing.T) {
		t.Parallel()
		c, _ := mustLoad(t, []string{"--addr", ":9100", "--target=worker", "--data-dir=/var/lib/qrmfg"},
			"QRMFG_ADDR=:9000", "QRMFG_TARGET=gateway", "QRMFG_DATA_DIR=/srv", "JWT_SECRET_KEY=0123456789abcdef0123456789abcdef")
		if c.Addr != ":9100" || c.Target != "worker" || c.DataDir != "/var/lib/qrmfg" {
			t.Errorf("Addr, Target, DataDir = %q, %q, %q", c.Addr, c.Target, c.DataDir)
		}
		for _, n := range []string{"QRMFG_ADDR", "QRMFG_TARGET", "QRMFG_DATA_DIR"} {
			if c.Source(n) != SourceFlag {
				t.Errorf("Source(%s) = %s, want flag", n, c.Source(n))
			}
		}
	})
	t.Run("EmptyEnvIsUnset", func(t *testing.T) {
		t.Parallel()
		c, _ := mustLoad(t, nil, "QRMFG_ADDR=", "DB_POOL_SIZE=")
		if c.Addr != ":8000" || c.Database.PoolSize != 20 || c.Source("DB_POOL_SIZE") != SourceDefault {
			t.Errorf("Addr %q, PoolSize %d from %s", c.Addr, c.Database.PoolSize, c.Source("DB_POOL_SIZE"))
		}
	})
	t.Run("ExplicitEmptyFlagCounts", func(t *testing.T) {
		t.Parallel()
		c, _ := mustLoad(t, []string{"--database-url="}, "DATABASE_URL=postgres://db/qrmfg")
		if c.IsPostgres() || c.Source("DATABASE_URL") != SourceFlag {
			t.Errorf("URL %q from %s, want SQLite from flag", c.Database.URL, c.Source("DATABASE_URL"))
		}
	})
	t.Run("FirstEnvEntryWins", func(t *testing.T) {
		t.Parallel()
		c, _ := mustLoad(t, nil, "QRMFG_ADDR=:1", "QRMFG_ADDR=:2")
		if c.Addr != ":1" {
			t.Errorf("Addr = %q, want :1 (as os.Getenv)", c.Addr)
		}
	})
	t.Run("CallerFlagsAndArgs", func(t *testing.T) {
		t.Parallel()
		fs := flag.NewFlagSet("serve", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		dumpFlag := fs.Bool("config-dump", false, "print the configuration")
		c, _, err := Load(fs, []string{"--config-dump", "--addr=:7", "extra"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if !*dumpFlag || c.Addr != ":7" || !slices.Equal(fs.Args(), []string{"extra"}) {
			t.Errorf("config-dump %v, Addr %q, Args %q", *dumpFlag, c.Addr, fs.Args())
		}
	})
}

func TestLoadCommandLineErrors(t *testing.T) {
	t.Parallel()
	_, _, err := load(t, []string{"--no-such-flag"})
	if qrmfg.ErrorCode(err) != qrmfg.EINVALID || !strings.Contains(err.Error(), "no-such-flag") {
		t.Errorf("unknown flag: err = %v", err)
	}
	_, _, err = load(t, []string{"-h"})
	if !errors.Is(err, flag.ErrHelp) {
		t.Errorf("-h: err = %v, want it to wrap flag.ErrHelp", err)
	}
}

func TestRegisterFlagsUsage(t *testing.T) {
	t.Parallel()
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.String("addr", "mine", "the caller's own flag")
	RegisterFlags(fs)
	RegisterFlags(fs) // twice is harmless
	var b bytes.Buffer
	fs.SetOutput(&b)
	fs.PrintDefaults()
	out := b.String()
	for _, want := range []string{"-database-url DATABASE_URL", "-target QRMFG_TARGET", "(env QRMFG_TARGET) (default all)", "the caller's own flag"} {
		if !strings.Contains(out, want) {
			t.Errorf("usage lacks %q:\n%s", want, out)
		}
	}
}

func TestSecretFiles(t *testing.T) {
	t.Parallel()
	key := strings.Repeat("k", 40)
	t.Run("OneTrailingNewlineTrimmed", func(t *testing.T) {
		t.Parallel()
		c, _ := mustLoad(t, nil,
			"JWT_SECRET_KEY_FILE="+writeFile(t, key+"\n"),
			"QRMFG_ADMIN_PASSWORD_FILE="+writeFile(t, "pass word\n\n"),
			"DATABASE_URL_FILE="+writeFile(t, "postgres://u:p@db/qrmfg\r\n"),
			"REDIS_URL_FILE="+writeFile(t, "redis://:r@cache:6379"),
		)
		if c.Auth.JWTSecretKey != key {
			t.Errorf("JWTSecretKey = %q", c.Auth.JWTSecretKey)
		}
		if c.Auth.AdminPassword != "pass word\n" {
			t.Errorf("AdminPassword = %q, want only one newline trimmed", c.Auth.AdminPassword)
		}
		if c.Database.URL != "postgres://u:p@db/qrmfg" || c.RedisURL != "redis://:r@cache:6379" {
			t.Errorf("Database.URL %q, RedisURL %q", c.Database.URL, c.RedisURL)
		}
		for _, n := range []string{"JWT_SECRET_KEY", "QRMFG_ADMIN_PASSWORD", "DATABASE_URL", "REDIS_URL"} {
			if c.Source(n) != SourceFile {
				t.Errorf("Source(%s) = %s, want file", n, c.Source(n))
			}
		}
	})
	t.Run("ErrBothSet", func(t *testing.T) {
		t.Parallel()
		p := mustFail(t, nil, "JWT_SECRET_KEY="+key, "JWT_SECRET_KEY_FILE="+writeFile(t, key))
		want := "JWT_SECRET_KEY and JWT_SECRET_KEY_FILE are both set (expected only one of them)"
		if len(p) != 1 || p[0] != want {
			t.Errorf("problems = %q, want [%q]", p, want)
		}
	})
	t.Run("ErrMissingFile", func(t *testing.T) {
		t.Parallel()
		missing := filepath.Join(t.TempDir(), "nope")
		p := mustFail(t, nil, "QRMFG_ADMIN_PASSWORD_FILE="+missing)
		if len(p) != 1 || !strings.HasPrefix(p[0], "QRMFG_ADMIN_PASSWORD_FILE: cannot read \""+missing+"\"") || !strings.Contains(p[0], "no such file") {
			t.Errorf("problems = %q", p)
		}
	})
	t.Run("ErrEmptyFile", func(t *testing.T) {
		t.Parallel()
		p := mustFail(t, nil, "JWT_SECRET_KEY_FILE="+writeFile(t, "\n"))
		if len(p) != 1 || !strings.HasPrefix(p[0], "JWT_SECRET_KEY_FILE: file ") || !strings.Contains(p[0], "is empty") {
			t.Errorf("problems = %q", p)
		}
	})
	t.Run("ErrBadValueInFile", func(t *testing.T) {
		t.Parallel()
		p := mustFail(t, nil, "JWT_SECRET_KEY_FILE="+writeFile(t, "short\n"))
		want := "JWT_SECRET_KEY (from JWT_SECRET_KEY_FILE): the value is 5 bytes long"
		if len(p) != 1 || !strings.HasPrefix(p[0], want) {
			t.Errorf("problems = %q, want one starting %q", p, want)
		}
	})
	t.Run("FlagBeatsFile", func(t *testing.T) {
		t.Parallel()
		c, _ := mustLoad(t, []string{"--database-url=sqlite:///x.db"}, "DATABASE_URL_FILE="+writeFile(t, "postgres://db/q"))
		if c.Database.URL != "sqlite:///x.db" {
			t.Errorf("Database.URL = %q", c.Database.URL)
		}
	})
	t.Run("PublicSettingsHaveNoFile", func(t *testing.T) {
		t.Parallel()
		_, w := mustLoad(t, nil, "QRMFG_ADDR_FILE="+writeFile(t, ":1"))
		if len(w) != 1 || w[0].Name != "QRMFG_ADDR_FILE" {
			t.Errorf("warnings = %v, want one about QRMFG_ADDR_FILE", w)
		}
	})
}

func TestDumpMasksSecrets(t *testing.T) {
	t.Parallel()
	secrets := []string{"s3cr3t-jwt-key-that-is-long-enough!", "adm1n-pa55", "dbpa55", "qpa55", "redispa55", "mqpa55"}
	c, _ := mustLoad(t, []string{"--addr=:9"},
		"JWT_SECRET_KEY="+secrets[0],
		"QRMFG_ADMIN_PASSWORD_FILE="+writeFile(t, secrets[1]+"\n"),
		"DATABASE_URL=postgresql+asyncpg://qrmfg:"+secrets[2]+"@db:5432/qrmfg?sslmode=disable&password="+secrets[3],
		"REDIS_URL=redis://:"+secrets[4]+"@cache:6379/0",
		"CELERY_BROKER_URL=pyamqp://guest:"+secrets[5]+"@mq:5672//",
	)
	out := dump(t, c)
	for _, s := range secrets {
		if strings.Contains(out, s) {
			t.Errorf("dump shows secret %q:\n%s", s, out)
		}
	}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != len(Settings()) {
		t.Errorf("dump has %d lines, want one per setting (%d)", len(lines), len(Settings()))
	}
	if !slices.IsSorted(lines) {
		t.Errorf("dump is not sorted by name:\n%s", out)
	}
	want := []string{
		"JWT_SECRET_KEY=****  ", "# env",
		"QRMFG_ADMIN_PASSWORD=****  ",
		"DATABASE_URL=postgresql://qrmfg:****@db:5432/qrmfg?password=****&sslmode=disable  ",
		"REDIS_URL=redis://:****@cache:6379/0  ",
		"BROKER_URL=amqp://guest:****@mq:5672//  ",
		"QRMFG_ADDR=:9  ", "QRMFG_LOG_LEVEL=info  ",
	}
	for _, w := range want {
		if !strings.Contains(out, w) {
			t.Errorf("dump lacks %q:\n%s", w, out)
		}
	}
	sources := map[string]string{"JWT_SECRET_KEY": "env", "QRMFG_ADMIN_PASSWORD": "file", "QRMFG_ADDR": "flag", "QRMFG_LOG_LEVEL": "default", "BROKER_URL": "env"}
	for _, l := range lines {
		name, _, _ := strings.Cut(l, "=")
		if src, ok := sources[name]; ok && !strings.HasSuffix(l, "# "+src) {
			t.Errorf("line %q: want source %s", l, src)
		}
	}
	if d := dump(t, Default()); !strings.Contains(d, "JWT_SECRET_KEY=  ") {
		t.Errorf("an empty secret should dump as empty:\n%s", d)
	}
}

func TestProblemsDoNotShowSecrets(t *testing.T) {
	t.Parallel()
	_, _, err := load(t, nil,
		"JWT_SECRET_KEY=hunter2",
		"DATABASE_URL=mysql://root:hunter3@db/qrmfg",
		"REDIS_URL=http://:hunter4@cache",
		"QRMFG_ADMIN_PASSWORD=x", "QRMFG_ADMIN_PASSWORD_FILE=/nonexistent",
	)
	p := Problems(err)
	if len(p) != 4 {
		t.Fatalf("problems = %q, want 4", p)
	}
	for _, s := range []string{"hunter2", "hunter3", "hunter4"} {
		if strings.Contains(err.Error(), s) {
			t.Errorf("error shows secret %q: %v", s, err)
		}
	}
	if !strings.Contains(err.Error(), `DATABASE_URL: "mysql://root:****@db/qrmfg" has an unsupported scheme`) {
		t.Errorf("error should show the masked URL: %v", err)
	}
}

func TestUnknownVariables(t *testing.T) {
	t.Parallel()
	tests := []struct {
		env  string
		want string // the warning, or "" for none
	}{
		{"QRMFG_ADR=:1", "QRMFG_ADR: is not a qrmfg setting and is ignored; did you mean QRMFG_ADDR?"},
		{"QRMFG_LOGLEVEL=debug", "QRMFG_LOGLEVEL: is not a qrmfg setting and is ignored; did you mean QRMFG_LOG_LEVEL?"},
		{"QRMFG_MAX_BATCHES=10", "QRMFG_MAX_BATCHES: is not a qrmfg setting and is ignored; did you mean QRMFG_MAX_BATCH?"},
		{"QRMFG_ADMIN_PASWORD_FILE=/x", "QRMFG_ADMIN_PASWORD_FILE: is not a qrmfg setting and is ignored; did you mean QRMFG_ADMIN_PASSWORD_FILE?"},
		{"QRMFG_DATABASE_URL=postgres://db/q", "QRMFG_DATABASE_URL: is not a qrmfg setting and is ignored; did you mean DATABASE_URL?"},
		{"QRMFG_COLOUR_SCHEME=dark", "QRMFG_COLOUR_SCHEME: is not a qrmfg setting and is ignored"},
		{"QRMFG_ADMIN_PASSWORD_FILE=", ""},
		{"QRMFG_TARGET=all", ""},
		{"DB_POOL_SIZ=3", ""}, // only the QRMFG_ namespace is ours
	}
	for _, tt := range tests {
		t.Run(tt.env, func(t *testing.T) {
			t.Parallel()
			_, w := mustLoad(t, nil, tt.env)
			var got []string
			for _, x := range w {
				got = append(got, x.String())
			}
			switch {
			case tt.want == "" && len(got) != 0:
				t.Errorf("warnings = %q, want none", got)
			case tt.want != "" && (len(got) != 1 || got[0] != tt.want):
				t.Errorf("warnings = %q\nwant       [%q]", got, tt.want)
			}
		})
	}
	_, w, err := load(t, nil, "QRMFG_ADR=:1", "DB_POOL_SIZE=x")
	if err == nil || len(w) != 1 {
		t.Errorf("warnings must come with the error too: warnings %v, err %v", w, err)
	}
}

func TestSeedNormalisation(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		env      []string
		get      func(Config) string
		want     string
		warnings []string // names of the variables warned about
	}{
		{"AsyncpgURL", []string{"DATABASE_URL=postgresql+asyncpg://u:p@db:5432/qrmfg"}, func(c Config) string { return c.Database.URL }, "postgresql://u:p@db:5432/qrmfg", []string{"DATABASE_URL"}},
		{"PostgresURL", []string{"DATABASE_URL=postgres://u:p@db/qrmfg"}, func(c Config) string { return c.Database.URL }, "postgres://u:p@db/qrmfg", nil},
		{"UpperCaseScheme", []string{"DATABASE_URL=POSTGRESQL://db/q"}, func(c Config) string { return c.Database.URL }, "postgresql://db/q", nil},
		{"AiosqliteURL", []string{"DATABASE_URL=sqlite+aiosqlite:///./seed.db"}, func(c Config) string { return c.SQLitePath() }, "./seed.db", []string{"DATABASE_URL"}},
		{"Pyamqp", []string{"BROKER_URL=pyamqp://guest:guest@mq:5672//"}, func(c Config) string { return c.BrokerURL }, "amqp://guest:guest@mq:5672//", []string{"BROKER_URL", "BROKER_URL"}},
		{"CeleryBrokerURL", []string{"CELERY_BROKER_URL=pyamqp://mq//"}, func(c Config) string { return c.BrokerURL }, "amqp://mq//", []string{"CELERY_BROKER_URL", "BROKER_URL", "BROKER_URL"}},
		{"RabbitMQURL", []string{"RABBITMQ_URL=amqp://mq:5672/"}, func(c Config) string { return c.BrokerURL }, "amqp://mq:5672/", []string{"RABBITMQ_URL", "BROKER_URL"}},
		{"CeleryBrokerURLSameAsBrokerURL", []string{"CELERY_BROKER_URL=amqp://mq", "BROKER_URL=amqp://mq"}, func(c Config) string { return c.BrokerURL }, "amqp://mq", []string{"CELERY_BROKER_URL", "BROKER_URL"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, w := mustLoad(t, nil, tt.env...)
			if got := tt.get(c); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
			var names []string
			for _, x := range w {
				names = append(names, x.Name)
				if strings.Contains(x.Message, ":p@") || strings.Contains(x.Message, "guest:guest") {
					t.Errorf("warning shows a password: %v", x)
				}
			}
			if !slices.Equal(names, tt.warnings) {
				t.Errorf("warnings %v, want about %v", w, tt.warnings)
			}
		})
	}
	t.Run("ErrCeleryBrokerURLDiffers", func(t *testing.T) {
		t.Parallel()
		p := mustFail(t, nil, "CELERY_BROKER_URL=amqp://a", "BROKER_URL=amqp://b")
		if len(p) != 1 || !strings.HasPrefix(p[0], "BROKER_URL and CELERY_BROKER_URL are both set") {
			t.Errorf("problems = %q", p)
		}
	})
}

func TestIsPostgresAndSQLitePath(t *testing.T) {
	t.Parallel()
	tests := []struct {
		url, dataDir string
		postgres     bool
		path         string
	}{
		{"", "/var/lib/qrmfg", false, "/var/lib/qrmfg/qrmfg.db"},
		{"postgres://db/q", "./data", true, ""},
		{"postgresql://u@db:5432/q?sslmode=require", "./data", true, ""},
		{"sqlite:///rel/q.db", "./data", false, "rel/q.db"},
		{"sqlite:////abs/q.db?mode=rwc", "./data", false, "/abs/q.db"},
		{"sqlite:///:memory:", "./data", false, ":memory:"},
		{"file:q.db?_pragma=busy_timeout(5000)", "./data", false, "q.db"},
		{"file:///srv/q.db", "./data", false, "/srv/q.db"},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			t.Parallel()
			c, _ := mustLoad(t, []string{"--database-url=" + tt.url, "--data-dir=" + tt.dataDir})
			if c.IsPostgres() != tt.postgres || c.SQLitePath() != tt.path {
				t.Errorf("IsPostgres %v, SQLitePath %q; want %v, %q", c.IsPostgres(), c.SQLitePath(), tt.postgres, tt.path)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	t.Parallel()
	c := Default()
	c.Database.PoolSize = 0
	c.Target = "nope"
	c.Auth.JWTSecretKey = "short"
	c.HTTP.CORSOrigins = []string{"https://ok.example.com", "not an origin"}
	c.Log.Level = slog.LevelInfo + 2
	c.Auth.AccessTokenTTL = 90 * time.Second
	c.Limits.MaxUploadBytes = 0
	err := c.Validate()
	if qrmfg.ErrorCode(err) != qrmfg.EINVALID {
		t.Fatalf("Validate() = %v, want %s", err, qrmfg.EINVALID)
	}
	p := Problems(err)
	want := []string{
		`QRMFG_TARGET: "nope" is not allowed`,
		`QRMFG_LOG_LEVEL: "INFO+2" is not a log level`,
		`DB_POOL_SIZE: "0" is out of range (expected 1..1000)`,
		`JWT_SECRET_KEY: the value is 5 bytes long`,
		`JWT_ACCESS_TOKEN_EXPIRE_MINUTES: "1m30s" is not a whole number`,
		`QRMFG_MAX_UPLOAD_BYTES: "0" is out of range`,
		`QRMFG_CORS_ORIGINS: "https://ok.example.com,not an origin" has entry "not an origin"`,
	}
	if len(p) != len(want) {
		t.Fatalf("problems = %q, want %d", p, len(want))
	}
	for i := range want {
		if !strings.HasPrefix(p[i], want[i]) {
			t.Errorf("problem %d = %q, want prefix %q", i, p[i], want[i])
		}
	}
}

func TestGatewayNeedsServiceURLs(t *testing.T) {
	t.Parallel()
	key := "JWT_SECRET_KEY=" + strings.Repeat("x", 32)
	p := mustFail(t, []string{"--target=gateway"}, key, "QR_SERVICE_URL=http://qr:8001", "AUDIT_SERVICE_URL=http://audit:8005")
	want := []string{"INVENTORY_SERVICE_URL: is empty, but QRMFG_TARGET=gateway", "ENGRAVING_SERVICE_URL: ", "SCANNING_SERVICE_URL: "}
	if len(p) != len(want) {
		t.Fatalf("problems = %q, want %d", p, len(want))
	}
	for i := range want {
		if !strings.HasPrefix(p[i], want[i]) {
			t.Errorf("problem %d = %q, want prefix %q", i, p[i], want[i])
		}
	}
	c, w := mustLoad(t, []string{"--target=gateway"}, key, "QR_SERVICE_URL=http://qr:8001", "AUDIT_SERVICE_URL=http://audit:8005",
		"INVENTORY_SERVICE_URL=http://inventory:8002", "ENGRAVING_SERVICE_URL=https://engraving", "SCANNING_SERVICE_URL=http://scanning:8004/")
	if len(w) != 0 || c.Services.URL("scanning") != "http://scanning:8004/" {
		t.Errorf("warnings %v, scanning %q", w, c.Services.URL("scanning"))
	}
}

func TestCrossWarnings(t *testing.T) {
	t.Parallel()
	_, w := mustLoad(t, []string{"--target=inventory"}, "JWT_SECRET_KEY=0123456789abcdef0123456789abcdef", "QRMFG_ASYNC_BATCH_THRESHOLD=200", "QRMFG_MAX_BATCH=100")
	var names []string
	for _, x := range w {
		names = append(names, x.Name)
	}
	if !slices.Equal(names, []string{"QRMFG_ASYNC_BATCH_THRESHOLD"}) {
		t.Errorf("warnings = %v", w)
	}
	if _, w := mustLoad(t, nil); len(w) != 0 {
		t.Errorf("the embedded shape with an empty key should not warn: %v", w)
	}
}

// TestDistributedTargetNeedsJWTKey: each process of the distributed shape
// made up its own key, so tokens of one were 401 at another; now a
// distributed target without JWT_SECRET_KEY does not start.
func TestDistributedTargetNeedsJWTKey(t *testing.T) {
	t.Parallel()
	for _, target := range Targets()[1:] {
		env := []string{"QRMFG_TARGET=" + target}
		if target == "gateway" {
			for _, n := range []string{"QR", "INVENTORY", "ENGRAVING", "SCANNING", "AUDIT"} {
				env = append(env, n+"_SERVICE_URL=http://svc:8000")
			}
		}
		p := mustFail(t, nil, env...)
		if len(p) != 1 || !strings.HasPrefix(p[0], "JWT_SECRET_KEY: is empty, but QRMFG_TARGET="+target) {
			t.Errorf("target %s without a key: problems %q", target, p)
		}
	}
}

// TestInertSettingsWarn: settings that are accepted but do nothing in this
// version say so at start when they are set, and stay quiet when not.
func TestInertSettingsWarn(t *testing.T) {
	t.Parallel()
	_, w := mustLoad(t, nil, "BROKER_URL=amqp://mq", "REDIS_URL=redis://cache:6379/0", "ENABLE_CACHING=true",
		"ENABLE_MONITORING=true", "REDIS_CLUSTER_ENABLED=false", "CELERY_RESULT_BACKEND=redis://cache/1", "ENABLE_RATE_LIMITING=true")
	got := map[string]string{}
	for _, x := range w {
		got[x.Name] = x.Message
	}
	for _, n := range []string{"BROKER_URL", "REDIS_URL", "ENABLE_CACHING", "REDIS_CLUSTER_ENABLED", "CELERY_RESULT_BACKEND"} {
		if !strings.Contains(got[n], "does nothing") {
			t.Errorf("%s: warning %q, want one saying it does nothing", n, got[n])
		}
	}
	for _, n := range []string{"ENABLE_RATE_LIMITING", "ENABLE_MONITORING"} {
		if m, ok := got[n]; ok {
			t.Errorf("%s works, yet warned: %s", n, m)
		}
	}
	if len(got) != 5 {
		t.Errorf("warnings %v", w)
	}
}

func TestEditDistance(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		a, b string
		want int
	}{{"", "", 0}, {"", "abc", 3}, {"kitten", "sitting", 3}, {"QRMFG_ADR", "QRMFG_ADDR", 1}, {"flaw", "lawn", 2}} {
		if got := editDistance(tt.a, tt.b); got != tt.want {
			t.Errorf("editDistance(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
	}
}

// FuzzSettingValue gives every setting the same arbitrary value: Load must
// not panic, and whatever it accepts must validate and survive a round trip
// through the text that Dump shows.
func FuzzSettingValue(f *testing.F) {
	for _, s := range Settings() {
		f.Add(s.Default)
	}
	for _, v := range []string{"", " ", "0", "-1", "1e3", "true", "YES", "1KiB", "9223372036854775807GiB", "5m", "http://x", "postgresql+asyncpg://u:p@h/d", "sqlite:///", "file:", "*,https://a.b", "::1/128,10.0.0.1/8", strings.Repeat("k", 32), "\x00\n"} {
		f.Add(v)
	}
	table := settings()
	f.Fuzz(func(t *testing.T, value string) {
		for _, s := range table {
			c, _, err := Load(nil, nil, []string{s.name + "=" + value})
			if err != nil {
				if len(Problems(err)) == 0 || !strings.Contains(err.Error(), s.name) {
					t.Fatalf("%s=%q: error %v does not name the variable", s.name, value, err)
				}
				continue
			}
			if err := c.Validate(); err != nil {
				t.Fatalf("%s=%q loads but does not validate: %v", s.name, value, err)
			}
			shown := s.bind.get(&c)
			c2, _, err := Load(nil, nil, []string{s.name + "=" + shown})
			if err != nil {
				t.Fatalf("%s=%q: its rendering %q does not load: %v", s.name, value, shown, err)
			}
			if again := s.bind.get(&c2); again != shown {
				t.Fatalf("%s=%q: renders as %q, then as %q", s.name, value, shown, again)
			}
		}
	})
}
