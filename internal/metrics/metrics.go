// Package metrics is qrmfg's Prometheus instrumentation: a registry owned
// by the process (never the global one), the series of the process and of
// the business, and the /metrics handler (Prometheus text and OpenMetrics).
//
// Every label takes its values from a small known set (route templates,
// methods, status codes, verdicts, grade letters, pool roles): no uid, user
// or raw path ever becomes a label.
package metrics

import (
	"context"
	"database/sql"
	"encoding/json"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/qrmfg/qrmfg/internal/engraving"
	"github.com/qrmfg/qrmfg/internal/generation"
	"github.com/qrmfg/qrmfg/internal/partid"
	"github.com/qrmfg/qrmfg/internal/qrmfg"
	"github.com/qrmfg/qrmfg/internal/scanning"
	"github.com/qrmfg/qrmfg/internal/sqlstore"
)

const namespace = "qrmfg"

// ScansConsumer is the name of the bus consumer that counts scans.
const ScansConsumer = "metrics.scans"

// Metrics holds the registry and the series the program updates.
type Metrics struct {
	reg *prometheus.Registry
	log *slog.Logger

	httpRequests *prometheus.HistogramVec
	decodeWait   prometheus.Histogram
	decodeTime   prometheus.Histogram
	scans        *prometheus.CounterVec
	grades       *prometheus.CounterVec
	codes        *prometheus.CounterVec
	logins       *prometheus.CounterVec
	rateLimited  *prometheus.CounterVec
	jobs         *prometheus.CounterVec
}

// Login results of qrmfg_logins_total.
const (
	LoginSuccess            = "success"
	LoginInvalidCredentials = "invalid_credentials"
	LoginRateLimited        = "rate_limited"
)

// RateLimits names the rate limits of qrmfg_rate_limit_refusals_total:
// the gateway's limiters and the per-account login limit.
var RateLimits = []string{"identity", "ip", "login_ip", "login_account", "codes", "uploads", "other"}

// latencyHistogram is a histogram with the classic buckets (for scrapers
// of the text formats) and a native histogram schema (for those that
// negotiate the protobuf format).
func latencyHistogram(name, help string) prometheus.HistogramOpts {
	return prometheus.HistogramOpts{Namespace: namespace, Name: name, Help: help,
		Buckets:                     prometheus.DefBuckets,
		NativeHistogramBucketFactor: 1.1, NativeHistogramMaxBucketNumber: 160, NativeHistogramMinResetDuration: time.Hour}
}

// Grade letters of ISO/IEC 15415 mark grading, for the zero-initialised
// grade counters.
var gradeLetters = []string{"A", "B", "C", "D", "F"}

// New builds the registry with the Go runtime and process collectors and
// the series of the HTTP API, photo decoding and scans.
func New(log *slog.Logger) *Metrics {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m := &Metrics{reg: reg, log: log,
		httpRequests: prometheus.NewHistogramVec(latencyHistogram("http_request_duration_seconds",
			"Time to answer an HTTP request, by route template, method and status code."), []string{"route", "method", "code"}),
		decodeWait: prometheus.NewHistogram(latencyHistogram("scan_decode_wait_seconds",
			"Time an uploaded photo waited for decode memory and a decode slot before its decode started.")),
		decodeTime: prometheus.NewHistogram(latencyHistogram("scan_decode_seconds",
			"Time an admitted photo held its decode room (loading, decoding and grading).")),
		scans: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "scans_total",
			Help: "Scans recorded, by verdict and source (image or text)."}, []string{"verdict", "source"}),
		grades: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "scan_grades_total",
			Help: "Graded scans of photos, by overall grade letter."}, []string{"grade"}),
	}
	m.codes = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "codes_generated_total",
		Help: "Codes allocated by generation requests, by payload format and artifact format (json, zip, pdf)."}, []string{"payload", "format"})
	m.logins = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "logins_total",
		Help: "Login attempts by result: success, or the reason of the refusal."}, []string{"result"})
	m.rateLimited = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "rate_limit_refusals_total",
		Help: "Requests refused (429) by a rate limit, by limit."}, []string{"limit"})
	m.jobs = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "engraving_jobs_total",
		Help: "Engraving jobs entering each state (queued, running, completed, failed, cancelled, interrupted)."}, []string{"state"})
	reg.MustRegister(m.httpRequests, m.decodeWait, m.decodeTime, m.scans, m.grades, m.codes, m.logins, m.rateLimited, m.jobs)
	for _, st := range jobEvents {
		m.jobs.WithLabelValues(string(st))
	}
	for _, p := range partid.Formats {
		for _, f := range generation.ArtifactFormats {
			m.codes.WithLabelValues(string(p), f)
		}
	}
	for _, r := range []string{LoginSuccess, LoginInvalidCredentials, LoginRateLimited} {
		m.logins.WithLabelValues(r)
	}
	for _, l := range RateLimits {
		m.rateLimited.WithLabelValues(l)
	}
	for _, v := range scanning.Verdicts {
		for _, src := range []string{scanning.SourceImage, scanning.SourceText} {
			m.scans.WithLabelValues(string(v), src)
		}
	}
	for _, g := range gradeLetters {
		m.grades.WithLabelValues(g)
	}
	return m
}

// Registry returns the registry, for collectors of other packages.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the registry in the format the scraper asks for
// (Prometheus text, OpenMetrics, or protobuf with native histograms).
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{EnableOpenMetrics: true,
		ErrorLog: slog.NewLogLogger(m.log.Handler(), slog.LevelWarn), ErrorHandling: promhttp.ContinueOnError, Registry: m.reg})
}

// ObserveHTTP records one answered request. route is the route template
// ("" when no route matched: it is reported as "unmatched").
func (m *Metrics) ObserveHTTP(route, method string, code int, d time.Duration) {
	if route == "" {
		route = "unmatched"
	}
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodOptions:
	default:
		method = "other"
	}
	m.httpRequests.WithLabelValues(route, method, strconv.Itoa(code)).Observe(d.Seconds())
}

// Generated counts the codes of an allocated batch
// (generation.Options.Generated).
func (m *Metrics) Generated(payload partid.Format, format string, codes int) {
	m.codes.WithLabelValues(string(payload), format).Add(float64(codes))
}

// Login counts a login attempt by result (LoginSuccess, …).
func (m *Metrics) Login(result string) { m.logins.WithLabelValues(result).Inc() }

// RateLimited counts a request refused by the named limit (RateLimits;
// another name counts as "other").
func (m *Metrics) RateLimited(limit string) {
	if !slices.Contains(RateLimits, limit) {
		limit = "other"
	}
	m.rateLimited.WithLabelValues(limit).Inc()
}

// ObserveDecode records one photo decode (scanning.Options.ObserveDecode).
func (m *Metrics) ObserveDecode(wait, held time.Duration) {
	m.decodeWait.Observe(wait.Seconds())
	m.decodeTime.Observe(held.Seconds())
}

// DecodeQueue exports the photo uploads waiting for decode room and those
// decoding, read from queue at scrape time.
func (m *Metrics) DecodeQueue(queue func() (waiting, decoding int)) {
	m.reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: namespace, Name: "scan_decode_queue_depth",
			Help: "Photo uploads waiting for decode memory or a decode slot."},
			func() float64 { w, _ := queue(); return float64(w) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: namespace, Name: "scan_decodes_in_progress",
			Help: "Photo decodes holding their decode room now."},
			func() float64 { _, d := queue(); return float64(d) }))
}

// Streams exports the server-sent event streams open, read at scrape time.
func (m *Metrics) Streams(open func() int) {
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: namespace, Name: "sse_streams_open",
		Help: "Server-sent event streams open now."}, func() float64 { return float64(open()) }))
}

// DBPools exports the statistics of each connection pool (database/sql
// DBStats: go_sql_* series, labelled db_name with the pool's role).
func (m *Metrics) DBPools(pools map[string]*sql.DB) {
	for role, db := range pools {
		m.reg.MustRegister(collectors.NewDBStatsCollector(db, role))
	}
}

// Scan counts a recorded scan from its scanning.scan.recorded event
// (a bus handler).
func (m *Metrics) Scan(_ context.Context, ev qrmfg.Event) error {
	var d scanning.ScanEventData
	if err := json.Unmarshal(ev.Data, &d); err != nil {
		m.log.Warn("metrics: unreadable scan event", "event_id", ev.ID, "err", err)
	}
	// An event of another version is not counted (and not redelivered):
	// the labels keep to the known verdicts.
	if !slices.Contains(scanning.Verdicts, d.Verdict) {
		return nil
	}
	src := d.Source
	if src != scanning.SourceImage {
		src = scanning.SourceText
	}
	m.scans.WithLabelValues(string(d.Verdict), src).Inc()
	for _, g := range gradeLetters {
		if d.Grade == g {
			m.grades.WithLabelValues(g).Inc()
		}
	}
	return nil
}

// jobEvents maps the engraving job events to the state a job enters.
var jobEvents = map[string]engraving.JobStatus{
	engraving.EventJobQueued: engraving.JobQueued, engraving.EventJobStarted: engraving.JobRunning,
	engraving.EventJobCompleted: engraving.JobCompleted, engraving.EventJobFailed: engraving.JobFailed,
	engraving.EventJobCancelled: engraving.JobCancelled, engraving.EventJobInterrupted: engraving.JobInterrupted,
}

// JobsConsumer is the name of the bus consumer that counts engraving jobs,
// and JobsPattern the events it takes.
const (
	JobsConsumer = "metrics.engraving-jobs"
	JobsPattern  = "engraving.job.*"
)

// Job counts an engraving job entering a state from its event (a bus
// handler for JobsPattern).
func (m *Metrics) Job(_ context.Context, ev qrmfg.Event) error {
	if st, ok := jobEvents[ev.Type]; ok {
		m.jobs.WithLabelValues(string(st)).Inc()
	}
	return nil
}

// machineStates are the values of qrmfg_engraving_machine_state's state.
var machineStates = []engraving.MachineState{engraving.MachineDisconnected, engraving.MachineConnecting, engraving.MachineIdle,
	engraving.MachineRunning, engraving.MachineAlarm, engraving.MachineBusy}

// machineCollector reads the machines' live state at scrape time.
type machineCollector struct {
	list    func(context.Context) ([]engraving.MachineStatus, error)
	timeout time.Duration
	log     *slog.Logger
	state   *prometheus.Desc
}

// Machines exports each laser machine's live state as a gauge per machine
// and state (1 for the state it is in, 0 for the others), read from list
// at scrape time.
func (m *Metrics) Machines(list func(context.Context) ([]engraving.MachineStatus, error)) {
	m.reg.MustRegister(&machineCollector{list: list, timeout: 2 * time.Second, log: m.log,
		state: prometheus.NewDesc(prometheus.BuildFQName(namespace, "engraving", "machine_state"),
			"Live state of each laser machine (by id, and its name): 1 for its current state, 0 for the others.", []string{"machine", "name", "state"}, nil)})
}

func (c *machineCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.state }

func (c *machineCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	ms, err := c.list(ctx)
	if err != nil {
		c.log.Warn("metrics: list the machines", "err", err)
		return
	}
	for _, mc := range ms {
		for _, st := range machineStates {
			v := 0.0
			if mc.State == st {
				v = 1
			}
			ch <- prometheus.MustNewConstMetric(c.state, prometheus.GaugeValue, v, mc.ID, mc.Name, string(st))
		}
	}
}

// outboxCollector reads the outbox backlog at scrape time, within timeout.
type outboxCollector struct {
	backlog                func(context.Context) (sqlstore.Backlog, error)
	timeout                time.Duration
	now                    func() time.Time
	log                    *slog.Logger
	pending, dead, age, up *prometheus.Desc
}

// Outbox exports the outbox depth, its dead letters and the age of the
// oldest unsent event, queried at each scrape with a short timeout.
func (m *Metrics) Outbox(backlog func(context.Context) (sqlstore.Backlog, error)) {
	d := func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc(prometheus.BuildFQName(namespace, "outbox", name), help, nil, nil)
	}
	m.reg.MustRegister(&outboxCollector{backlog: backlog, timeout: 2 * time.Second, now: time.Now, log: m.log,
		pending: d("pending_events", "Events committed but not yet published, dead letters included."),
		dead:    d("dead_letters", "Events the relay gave up publishing; an operator must look at them."),
		age:     d("oldest_pending_age_seconds", "Age of the oldest event waiting to be published (dead letters excluded); 0 when none waits."),
		up:      d("scrape_ok", "1 when the outbox could be read at this scrape, 0 when the query failed or timed out.")})
}

func (c *outboxCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.pending
	ch <- c.dead
	ch <- c.age
	ch <- c.up
}

func (c *outboxCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	b, err := c.backlog(ctx)
	if err != nil {
		c.log.Warn("metrics: read the outbox", "err", err)
		ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, 0)
		return
	}
	age := 0.0
	if !b.Oldest.IsZero() {
		age = max(0, c.now().Sub(b.Oldest).Seconds())
	}
	ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, 1)
	ch <- prometheus.MustNewConstMetric(c.pending, prometheus.GaugeValue, float64(b.Pending))
	ch <- prometheus.MustNewConstMetric(c.dead, prometheus.GaugeValue, float64(b.DeadLetters))
	ch <- prometheus.MustNewConstMetric(c.age, prometheus.GaugeValue, age)
}
