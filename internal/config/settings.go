package config

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// secrecy tells whether and how a setting's value is hidden.
type secrecy int

const (
	public   secrecy = iota
	whole            // the whole value is secret: shown as ****
	password         // a URL whose password (and password= query) is secret
)

// setting is one row of the settings table.
type setting struct {
	name    string   // environment variable
	flag    string   // command-line flag without dashes, "" for none
	def     string   // default, as text in the setting's own syntax
	help    string   // one sentence for docs and flag usage
	secret  secrecy  // secrets are masked and may be read from NAME_FILE
	aliases []string // seed names honoured with a warning
	// inert says why a setting that is accepted does nothing yet; setting
	// it draws a warning at start.
	inert string
	bind  binder
}

// settings is the table of every setting, in documentation order. Adding a
// setting is adding a row here and a field to Config.
func settings() []setting {
	return []setting{
		// Process.
		{name: "QRMFG_ADDR", flag: "addr", def: ":8000", help: "Address the HTTP server listens on.", bind: text(func(c *Config) *string { return &c.Addr }, checkAddr, "host:port, like :8000 or 127.0.0.1:8000")},
		{name: "QRMFG_DATA_DIR", flag: "data-dir", def: "./data", help: "Directory for the SQLite database and other local state.", bind: text(func(c *Config) *string { return &c.DataDir }, notEmpty, "a directory path")},
		{name: "QRMFG_TARGET", flag: "target", def: "all", help: "What this process runs: all (the embedded shape) or one process of the distributed shape.", bind: oneOf(func(c *Config) *string { return &c.Target }, Targets()...)},
		{name: "QRMFG_LOG_LEVEL", def: "info", help: "Lowest level of log records written.", bind: logLevel(func(c *Config) *slog.Level { return &c.Log.Level })},
		{name: "QRMFG_LOG_FORMAT", def: "text", help: "Log format: text for people, json for log collectors.", bind: oneOf(func(c *Config) *string { return &c.Log.Format }, "text", "json")},

		// Database.
		{name: "DATABASE_URL", flag: "database-url", secret: password, help: "Database. Empty: the SQLite file qrmfg.db in QRMFG_DATA_DIR. The seed's postgresql+asyncpg:// is accepted and normalised.", bind: text(func(c *Config) *string { return &c.Database.URL }, normaliseDatabaseURL, "postgres://…, postgresql://…, sqlite:///path/to/file.db, file:path, or empty")},
		{name: "DB_POOL_SIZE", def: "20", help: "Connections kept open to PostgreSQL.", bind: integer(func(c *Config) *int { return &c.Database.PoolSize }, 1, 1000)},
		{name: "DB_MAX_OVERFLOW", def: "30", help: "Extra connections allowed above DB_POOL_SIZE under load.", bind: integer(func(c *Config) *int { return &c.Database.MaxOverflow }, 0, 1000)},
		{name: "QRMFG_DB_BUSY_TIMEOUT", def: "5s", help: "How long a SQLite write waits for the lock before failing.", bind: duration(func(c *Config) *time.Duration { return &c.Database.BusyTimeout }, 0, time.Minute)},

		// Cache, rate limits, events.
		{name: "REDIS_URL", secret: password, inert: inertRedis, help: "Redis for rate limits and cache. Empty: in memory.", bind: text(func(c *Config) *string { return &c.RedisURL }, urlScheme("redis", "rediss"), "redis://host:6379/0, rediss://…, or empty")},
		{name: "BROKER_URL", secret: password, aliases: []string{"CELERY_BROKER_URL", "RABBITMQ_URL"}, inert: "events use the in-process bus in this version", help: "RabbitMQ for events. Empty: in-process bus. The seed's CELERY_BROKER_URL and RABBITMQ_URL names and pyamqp:// are accepted.", bind: text(func(c *Config) *string { return &c.BrokerURL }, urlScheme("amqp", "amqps"), "amqp://user:pass@host:5672/vhost, amqps://…, or empty")},

		// Authentication.
		{name: "JWT_SECRET_KEY", secret: whole, help: "Key that signs access and refresh tokens. Empty: a random key per start (embedded shape only; the distributed shape's processes refuse to start without it).", bind: text(func(c *Config) *string { return &c.Auth.JWTSecretKey }, minBytes(32), "at least 32 bytes, e.g. the output of openssl rand -hex 32")},
		{name: "QRMFG_JWT_PREVIOUS_KEYS", secret: whole, help: "Earlier JWT_SECRET_KEY values, comma-separated: tokens they signed are still accepted during a key rotation; none is used to sign.", bind: list(func(c *Config) *[]string { return &c.Auth.PreviousJWTKeys }, 32, "secrets of at least 32 bytes, comma-separated")},
		{name: "JWT_ALGORITHM", def: "HS256", help: "Token signature algorithm. Only HS256 is accepted (the algorithm is pinned, RFC 8725).", bind: oneOf(func(c *Config) *string { return &c.Auth.JWTAlgorithm }, "HS256")},
		{name: "JWT_ACCESS_TOKEN_EXPIRE_MINUTES", def: "15", help: "Lifetime of an access token, in minutes.", bind: minutes(func(c *Config) *time.Duration { return &c.Auth.AccessTokenTTL }, 1, 1440)},
		{name: "QRMFG_REFRESH_TOKEN_TTL", def: "720h", help: "Lifetime of a refresh token.", bind: duration(func(c *Config) *time.Duration { return &c.Auth.RefreshTokenTTL }, time.Minute, 8760*time.Hour)},
		{name: "QRMFG_ADMIN_USERNAME", def: "admin", help: "Name of the admin created on first start (when there are no users).", bind: text(func(c *Config) *string { return &c.Auth.AdminUsername }, notEmpty, "a user name")},
		{name: "QRMFG_AUDIT_SIGNING_KEY", secret: whole, help: "Ed25519 seed (base64, 32 bytes) that signs audit checkpoints. Empty: generated on first start and kept in QRMFG_DATA_DIR/keys (target all).", bind: text(func(c *Config) *string { return &c.Auth.AuditSigningKey }, nil, "base64 of 32 random bytes, e.g. openssl rand -base64 32")},
		{name: "QRMFG_AUDIT_CHECKPOINT_EVERY", def: "1000", help: "Sign an audit checkpoint after this many entries.", bind: integer(func(c *Config) *int { return &c.Auth.AuditCheckpointEvery }, 1, 10_000_000)},
		{name: "QRMFG_AUDIT_CHECKPOINT_INTERVAL", def: "1h", help: "Also sign an audit checkpoint this often when the log has grown.", bind: duration(func(c *Config) *time.Duration { return &c.Auth.AuditCheckpointInterval }, time.Second, 7*24*time.Hour)},
		{name: "QRMFG_ADMIN_PASSWORD", secret: whole, help: "Password of the bootstrap admin created on first start. Empty: one is generated and printed once.", bind: text(func(c *Config) *string { return &c.Auth.AdminPassword }, nil, "any text")},

		// Features.
		{name: "ENABLE_CACHING", def: "true", inert: "there is no cache in this version", help: "Cache lookups (in Redis when REDIS_URL is set).", bind: boolean(func(c *Config) *bool { return &c.Features.Caching })},
		{name: "ENABLE_RATE_LIMITING", def: "true", help: "Limit requests per client at the gateway.", bind: boolean(func(c *Config) *bool { return &c.Features.RateLimiting })},
		{name: "QRMFG_RATE_LIMIT", def: "20", help: "Requests per second per identity (user or API key), on average.", bind: integer(func(c *Config) *int { return &c.Rate.PerSecond }, 1, 1_000_000)},
		{name: "QRMFG_RATE_LIMIT_BURST", def: "40", help: "Requests an identity may send at once after a quiet spell.", bind: integer(func(c *Config) *int { return &c.Rate.Burst }, 1, 10_000_000)},
		{name: "QRMFG_RATE_LIMIT_IP", def: "50", help: "Requests per second per client address (burst: twice as many).", bind: integer(func(c *Config) *int { return &c.Rate.IPPerSecond }, 1, 1_000_000)},
		{name: "QRMFG_RATE_LIMIT_CODES_PER_HOUR", def: "1000000", help: "QR codes one identity may generate or allocate per hour (burst: QRMFG_MAX_BATCH).", bind: integer(func(c *Config) *int { return &c.Rate.CodesPerHour }, 1, 1_000_000_000)},
		{name: "QRMFG_RATE_LIMIT_UPLOADS_PER_MINUTE", def: "600", help: "Photos one identity may upload to scan per minute (burst: a tenth of it).", bind: integer(func(c *Config) *int { return &c.Rate.UploadsPerMin }, 1, 1_000_000)},
		{name: "QRMFG_RATE_LIMIT_LOGINS_PER_MINUTE", def: "10", help: "Login attempts per account per minute (burst 5); per client address five times as many (burst 20).", bind: integer(func(c *Config) *int { return &c.Rate.LoginsPerMin }, 1, 100_000)},
		{name: "QRMFG_TRUSTED_PROXIES", help: "Networks of reverse proxies whose X-Forwarded-For names the client (for per-address limits and the audit). Empty: the peer address is the client.", bind: prefixes(func(c *Config) *[]netip.Prefix { return &c.Rate.TrustedProxies }, false)},
		{name: "ENABLE_MONITORING", def: "true", help: "Serve Prometheus metrics at /metrics (docs/observability.md).", bind: boolean(func(c *Config) *bool { return &c.Features.Monitoring })},
		{name: "QRMFG_METRICS_ADDR", help: "Address of a separate listener that serves only /metrics (e.g. 127.0.0.1:9464); then /metrics is not on QRMFG_ADDR. Empty: /metrics is on QRMFG_ADDR for QRMFG_METRICS_NETWORKS.", bind: text(func(c *Config) *string { return &c.Metrics.Addr }, optional(checkAddr), "host:port, like 127.0.0.1:9464, or empty")},
		{name: "QRMFG_METRICS_NETWORKS", def: "127.0.0.0/8,::1/128", help: "Client networks served /metrics on QRMFG_ADDR (the client address as QRMFG_TRUSTED_PROXIES give it); others get 404. Empty: /metrics only on QRMFG_METRICS_ADDR.", bind: prefixes(func(c *Config) *[]netip.Prefix { return &c.Metrics.Networks }, false)},

		// Services of the distributed shape.
		{name: "QR_SERVICE_URL", help: "Base URL of the qr service. Empty: in this process.", bind: text(func(c *Config) *string { return &c.Services.QR }, httpURL, httpExpect)},
		{name: "INVENTORY_SERVICE_URL", help: "Base URL of the inventory service. Empty: in this process.", bind: text(func(c *Config) *string { return &c.Services.Inventory }, httpURL, httpExpect)},
		{name: "ENGRAVING_SERVICE_URL", help: "Base URL of the engraving service. Empty: in this process.", bind: text(func(c *Config) *string { return &c.Services.Engraving }, httpURL, httpExpect)},
		{name: "SCANNING_SERVICE_URL", help: "Base URL of the scanning service. Empty: in this process.", bind: text(func(c *Config) *string { return &c.Services.Scanning }, httpURL, httpExpect)},
		{name: "AUDIT_SERVICE_URL", help: "Base URL of the audit service. Empty: in this process.", bind: text(func(c *Config) *string { return &c.Services.Audit }, httpURL, httpExpect)},

		// Limits.
		{name: "QRMFG_MAX_BATCH", def: "100000", help: "Most items one generation batch may allocate.", bind: integer(func(c *Config) *int { return &c.Limits.MaxBatch }, 1, 10_000_000)},
		{name: "QRMFG_ASYNC_BATCH_THRESHOLD", def: "5000", help: "Batches larger than this answer 202 and run in the background.", bind: integer(func(c *Config) *int { return &c.Limits.AsyncBatchThreshold }, 1, 10_000_000)},
		{name: "QRMFG_MAX_BODY_BYTES", def: "10MiB", help: "Largest request body (other than uploads).", bind: byteSize(func(c *Config) *int64 { return &c.Limits.MaxBodyBytes }, 1<<10, 1<<30)},
		{name: "QRMFG_MAX_UPLOAD_BYTES", def: "20MiB", help: "Largest uploaded file (photos to scan).", bind: byteSize(func(c *Config) *int64 { return &c.Limits.MaxUploadBytes }, 1<<10, 1<<30)},
		{name: "QRMFG_MAX_IMAGE_PIXELS", def: "40000000", help: "Largest image, in pixels, that is decoded.", bind: integer(func(c *Config) *int64 { return &c.Limits.MaxImagePixels }, 10_000, 1_000_000_000)},
		{name: "QRMFG_SCAN_MEMORY", def: "512MiB", help: "Memory the photo decodes in flight may use together (lowered to fit a process memory limit: GOMEMLIMIT or RLIMIT_AS). A photo that needs more alone is decoded downscaled, or refused (422) when even a quarter of its size does not fit.", bind: byteSize(func(c *Config) *int64 { return &c.Limits.ScanMemory }, 16<<20, 1<<40)},
		{name: "QRMFG_SCAN_CONCURRENCY", def: "0", help: "Photos decoded at once (0: one per CPU). Uploads beyond it, or beyond QRMFG_SCAN_MEMORY, wait QRMFG_SCAN_QUEUE_WAIT, then get 503 with Retry-After.", bind: integer(func(c *Config) *int { return &c.Limits.ScanConcurrency }, 0, 1024)},
		{name: "QRMFG_SCAN_QUEUE_WAIT", def: "1s", help: "How long an upload waits for decode memory or a decode slot before 503.", bind: duration(func(c *Config) *time.Duration { return &c.Limits.ScanQueueWait }, 0, time.Minute)},
		{name: "QRMFG_STREAMS_PER_IDENTITY", def: "16", help: "Server-sent event streams one user or API key may hold open at once (more: 429).", bind: integer(func(c *Config) *int { return &c.Limits.StreamsPerIdentity }, 1, 1_000_000)},
		{name: "QRMFG_STREAMS_MAX", def: "4096", help: "Server-sent event streams open at once in the process (more: 503); lowered to the open-file limit minus QRMFG_STREAMS_FD_RESERVE.", bind: integer(func(c *Config) *int { return &c.Limits.StreamsMax }, 1, 10_000_000)},
		{name: "QRMFG_STREAMS_FD_RESERVE", def: "256", help: "File descriptors under RLIMIT_NOFILE that streams never take, so health checks, logins and other requests, the database and files still open.", bind: integer(func(c *Config) *int { return &c.Limits.StreamsFDReserve }, 16, 1_000_000)},

		// HTTP server.
		{name: "QRMFG_HTTP_READ_HEADER_TIMEOUT", def: "10s", help: "Longest time a client may take to send a request's headers (slow-header attacks).", bind: duration(func(c *Config) *time.Duration { return &c.HTTP.ReadHeaderTimeout }, 100*time.Millisecond, 5*time.Minute)},
		{name: "QRMFG_HTTP_READ_TIMEOUT", def: "30s", help: "Longest time to read a request, body included (0: none).", bind: duration(func(c *Config) *time.Duration { return &c.HTTP.ReadTimeout }, 0, time.Hour)},
		{name: "QRMFG_HTTP_WRITE_TIMEOUT", def: "5m", help: "Longest time to write a response; long enough for streamed ZIP downloads (0: none).", bind: duration(func(c *Config) *time.Duration { return &c.HTTP.WriteTimeout }, 0, 24*time.Hour)},
		{name: "QRMFG_HTTP_IDLE_TIMEOUT", def: "2m", help: "How long an idle keep-alive connection stays open (0: none).", bind: duration(func(c *Config) *time.Duration { return &c.HTTP.IdleTimeout }, 0, time.Hour)},
		{name: "QRMFG_SHUTDOWN_TIMEOUT", def: "30s", help: "How long a graceful shutdown waits for requests and workers.", bind: duration(func(c *Config) *time.Duration { return &c.HTTP.ShutdownTimeout }, time.Second, 10*time.Minute)},
		{name: "QRMFG_CORS_ORIGINS", help: "Origins allowed to call the API from a browser. Empty: same origin only.", bind: origins(func(c *Config) *[]string { return &c.HTTP.CORSOrigins })},
		{name: "QRMFG_PAYLOAD_HMAC_KEYS", secret: whole, help: "HMAC keys of signed payloads as id=base64 pairs, comma-separated, the first one current (e.g. K2=…,K1=…). Empty: a key is generated on first start and kept in QRMFG_DATA_DIR/keys.", bind: text(func(c *Config) *string { return &c.Payload.HMACKeys }, nil, "id=base64secret[,id=base64secret…]")},
		{name: "QRMFG_PAYLOAD_ED25519_KEYS", secret: whole, help: "Ed25519 private keys (base64 32-byte seeds) of ed25519 payloads as id=seed pairs, the first one current. Empty: generated like the HMAC key.", bind: text(func(c *Config) *string { return &c.Payload.Ed25519Keys }, nil, "id=base64seed[,id=base64seed…]")},
		{name: "QRMFG_GS1_GTINS", help: "GTIN-14 of each component type for gs1 payloads, e.g. PAD=09506000134352,BRK=09506000134369.", bind: text(func(c *Config) *string { return &c.Payload.GTINs }, nil, "TYPE=GTIN14[,TYPE=GTIN14…]")},
		{name: "QRMFG_GS1_RESOLVER", help: "GS1 Digital Link resolver base for gs1 payloads. Empty: https://id.gs1.org.", bind: text(func(c *Config) *string { return &c.Payload.GS1Resolver }, httpURL, httpExpect)},
		{name: "QRMFG_PAYLOAD_BASE_URL", help: "Base of URL payloads encoded in QR codes, joined to the id with one '/'. Empty: the generating request's scheme and host (a trusted proxy's X-Forwarded-Proto and X-Forwarded-Host) followed by /inventory/items/.", bind: text(func(c *Config) *string { return &c.PayloadBaseURL }, httpURL, httpExpect)},

		// Engraving.
		{name: "QRMFG_MACHINE_NETWORKS", def: "127.0.0.0/8,::1/128,10.0.0.0/8,172.16.0.0/12,192.168.0.0/16", help: "Networks that laser machine addresses must be in.", bind: prefixes(func(c *Config) *[]netip.Prefix { return &c.Engraving.MachineNetworks }, true)},
		{name: "QRMFG_SIMULATOR", def: "true", help: "Register a simulated laser in the embedded shape.", bind: boolean(func(c *Config) *bool { return &c.Engraving.Simulator })},
		{name: "QRMFG_SIMULATOR_TIME_SCALE", def: "20", help: "How many times faster than real time the simulated laser runs (1: real time). Its measured machine time is unaffected.", bind: integer(func(c *Config) *int { return &c.Engraving.SimTimeScale }, 1, 10_000)},
	}
}

const inertRedis = "rate limits live in each process's memory in this version"

// seedInert lists the seed's variables that are not settings of qrmfg and do
// nothing; each draws a warning when set.
var seedInert = map[string]string{
	"REDIS_CLUSTER_ENABLED": "is the seed's Redis cluster switch; " + inertRedis + ", so it does nothing",
	"CELERY_RESULT_BACKEND": "is the seed's Celery result store; qrmfg has no Celery and keeps batch results in its database, so it does nothing",
}

// clean trims surrounding blanks from non-secret values; a secret is taken as
// it is written.
func (s setting) clean(v string) string {
	if s.secret != public {
		return v
	}
	return strings.TrimSpace(v)
}

// isBool reports whether the setting is a boolean (its flag may stand alone).
func (s setting) isBool() bool {
	_, ok := s.bind.(field[bool])
	return ok
}

// problem formats a bad value: `LABEL: "raw" reason (expected form)`. A secret
// value is never quoted; a URL secret is quoted with its password masked.
func (s setting) problem(label, raw string, err error) string {
	shown := strconv.Quote(raw)
	switch s.secret {
	case whole:
		shown = "the value"
	case password:
		shown = strconv.Quote(maskURL(raw))
	}
	expect := s.bind.expect()
	if bv := (*badValue)(nil); errors.As(err, &bv) {
		if bv.expect != "" {
			expect = bv.expect
		}
		return fmt.Sprintf("%s: %s %s (expected %s)", label, shown, bv.reason, expect)
	}
	return fmt.Sprintf("%s: %s: %v (expected %s)", label, shown, err, expect)
}
