// Package app wires qrmfg together: which modules a target runs, which
// adapters they get, and the order things start and stop.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/qrmfg/qrmfg/internal/audit"
	"github.com/qrmfg/qrmfg/internal/bus"
	"github.com/qrmfg/qrmfg/internal/config"
	"github.com/qrmfg/qrmfg/internal/engraving"
	"github.com/qrmfg/qrmfg/internal/engraving/grblsim"
	"github.com/qrmfg/qrmfg/internal/generation"
	"github.com/qrmfg/qrmfg/internal/httpapi"
	"github.com/qrmfg/qrmfg/internal/inventory"
	"github.com/qrmfg/qrmfg/internal/metrics"
	"github.com/qrmfg/qrmfg/internal/qrmfg"
	"github.com/qrmfg/qrmfg/internal/scanning"
	"github.com/qrmfg/qrmfg/internal/sqlstore"
	"github.com/qrmfg/qrmfg/internal/webui"
	"github.com/qrmfg/qrmfg/web"
)

// Built lists the targets this version can run; the others are accepted by
// the configuration (they are the distributed shape's) but refused here.
var built = []string{"all", "inventory", "qr"}

// App is one running qrmfg process.
type App struct {
	cfg     config.Config
	log     *slog.Logger
	version string

	DB         *sqlstore.DB
	Bus        *bus.InProc
	Relay      *bus.Relay
	Inventory  *inventory.Service
	Generation *generation.Service
	Scanning   *scanning.Service
	Engraving  *engraving.Service
	Security   *Security
	sim        *grblsim.Sim
	API        *httpapi.Server
	// Metrics is the process's registry and series; nil when
	// ENABLE_MONITORING is off.
	Metrics *metrics.Metrics

	workers sync.WaitGroup
	cancel  context.CancelFunc
}

// New opens the database and builds the modules of cfg.Target. In the
// embedded shape (SQLite) it applies pending migrations; against PostgreSQL
// it refuses to start when the schema is behind. It does not create the
// first admin: the commands that should (serve, user) call
// Security.Bootstrap, so that the generated password is printed by them and
// not among another command's log lines.
func New(ctx context.Context, cfg config.Config, log *slog.Logger, version string) (*App, error) {
	ok := false
	for _, b := range built {
		ok = ok || b == cfg.Target
	}
	if !ok {
		return nil, qrmfg.Errorf(qrmfg.EINVALID, "target %q is part of the distributed shape and is not available in this version; available: %s",
			cfg.Target, strings.Join(built, ", "))
	}
	db, err := sqlstore.Open(ctx, sqlstore.Options{URL: cfg.Database.URL, SQLitePath: cfg.SQLitePath(),
		PoolSize: cfg.Database.PoolSize, MaxOverflow: cfg.Database.MaxOverflow, BusyTimeout: cfg.Database.BusyTimeout}, nil)
	if err != nil {
		return nil, err
	}
	a := &App{cfg: cfg, log: log, version: version, DB: db}
	if db.Dialect() == sqlstore.SQLite {
		applied, err := db.Migrate(ctx)
		if err != nil {
			_ = db.Close()
			return nil, fmt.Errorf("migrate: %w", err)
		}
		for _, m := range applied {
			log.Info("migration applied", "version", m.Version, "name", m.Name)
		}
	} else if err := db.CheckSchema(ctx); err != nil {
		_ = db.Close()
		return nil, err
	}
	a.Bus = bus.NewInProc(log)
	a.Relay = bus.NewRelay(db.Outbox(), a.Bus, log, time.Second)
	db.SetOutboxNotifier(a.Relay.Notify)
	a.Inventory = inventory.NewService(db.Inventory(), inventory.Limits{MaxBatch: cfg.Limits.MaxBatch})
	payloads, err := payloadConfig(cfg)
	if err != nil {
		_ = db.Close()
		return nil, err
	}
	if cfg.Features.Monitoring {
		a.Metrics = metrics.New(log)
	}
	genOpt := generation.Options{AsyncThreshold: cfg.Limits.AsyncBatchThreshold, DataDir: cfg.DataDir, Log: log}
	if a.Metrics != nil {
		genOpt.Generated = a.Metrics.Generated
	}
	a.Generation = generation.NewService(a.Inventory, payloads, db.Generation(), genOpt)
	procLimits := readProcessLimits()
	scanOpt := scanning.Options{
		Limits: scanning.Limits{MaxUploadBytes: cfg.Limits.MaxUploadBytes, MaxImagePixels: int(cfg.Limits.MaxImagePixels)},
		Budget: scanning.Budget{Memory: decodeMemory(cfg.Limits.ScanMemory, procLimits, log),
			Concurrency: cfg.Limits.ScanConcurrency, Wait: cfg.Limits.ScanQueueWait}}
	var metricsNetworks []netip.Prefix
	if a.Metrics != nil {
		a.Metrics.DBPools(db.Pools())
		a.Metrics.Outbox(db.Outbox().Backlog)
		scanOpt.ObserveDecode = a.Metrics.ObserveDecode
		if cfg.Metrics.Addr == "" {
			metricsNetworks = cfg.Metrics.Networks
		}
	}
	a.Scanning = scanning.NewService(db.Scanning(), a.Inventory, payloads, scanOpt, log)
	if a.Metrics != nil {
		a.Metrics.DecodeQueue(a.Scanning.DecodeQueue)
		if err := a.Bus.Subscribe(metrics.ScansConsumer, scanning.EventScanRecorded, a.Metrics.Scan); err != nil {
			_ = db.Close()
			return nil, fmt.Errorf("subscribe %s: %w", metrics.ScansConsumer, err)
		}
	}
	if err := a.Bus.Subscribe(inventory.SeenConsumer, inventory.SeenPattern, a.Inventory.HandleScanRecorded); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("subscribe %s: %w", inventory.SeenConsumer, err)
	}
	if cfg.Target == "all" {
		gen := a.Generation
		a.Engraving = engraving.NewService(db.Engraving(), a.Inventory, engraving.Options{
			AllowedNetworks: cfg.Engraving.MachineNetworks, Exclusive: db.Dialect() == sqlstore.SQLite, Log: log,
			Payload: func(ctx context.Context, uid string) (string, error) {
				r, err := gen.RenderItem(ctx, uid, "txt", nil)
				if err != nil {
					return "", err
				}
				return r.Payload, nil
			}})
		if err := a.Bus.Subscribe(inventory.EngravedConsumer, inventory.EngravedPattern, a.Inventory.HandleJobCompleted); err != nil {
			_ = db.Close()
			return nil, fmt.Errorf("subscribe %s: %w", inventory.EngravedConsumer, err)
		}
		if a.Metrics != nil {
			a.Metrics.Machines(a.Engraving.Machines)
			if err := a.Bus.Subscribe(metrics.JobsConsumer, metrics.JobsPattern, a.Metrics.Job); err != nil {
				_ = db.Close()
				return nil, fmt.Errorf("subscribe %s: %w", metrics.JobsConsumer, err)
			}
		}
	}
	if a.Security, err = NewSecurity(cfg, db, log); err != nil {
		_ = db.Close()
		return nil, err
	}
	// Every committed change reaches the audit log through the outbox.
	if err := a.Bus.Subscribe(audit.EventsConsumer, audit.EventsPattern,
		a.Security.Audit.HandleEvent(db.Audit(), scanning.EventScanRecorded)); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("subscribe %s: %w", audit.EventsConsumer, err)
	}
	svcs := httpapi.Services{Inventory: a.Inventory, Idempotency: db.Idempotency(), Generation: a.Generation, Scanning: a.Scanning, Engraving: a.Engraving}
	switch cfg.Target {
	case "inventory":
		svcs.Generation, svcs.Scanning = nil, nil
	case "qr":
		svcs.Inventory, svcs.Idempotency, svcs.Scanning = nil, nil, nil
	}
	a.API = httpapi.New(httpapi.Options{
		Version: version, MaxBodyBytes: cfg.Limits.MaxBodyBytes, Log: log,
		Auth: a.Security.Auth, Audit: a.Security.Audit, Limits: a.Security.Limits,
		CORSOrigins: cfg.HTTP.CORSOrigins, TrustedProxies: cfg.Rate.TrustedProxies,
		Streams: httpapi.StreamLimits{PerIdentity: cfg.Limits.StreamsPerIdentity, Total: cfg.Limits.StreamsMax,
			FDReserve: cfg.Limits.StreamsFDReserve, OpenFiles: procLimits.openFiles},
		UI:      webui.Handler(web.Dist()),
		Metrics: a.Metrics, MetricsNetworks: metricsNetworks,
		Ready: func(ctx context.Context) error {
			if err := db.Ping(ctx); err != nil {
				return err
			}
			return db.CheckSchema(ctx)
		},
	}, svcs)
	return a, nil
}

// Serve runs the HTTP server on ln and the background workers until ctx is
// done, then shuts down in order: stop accepting and drain requests, stop the
// workers (the relay makes a last sweep), close the bus, close the database.
func (a *App) Serve(ctx context.Context, ln net.Listener) error {
	wctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	a.cancel = cancel
	a.workers.Add(1)
	go func() {
		defer a.workers.Done()
		_ = a.Relay.Run(wctx)
	}()
	a.workers.Add(1)
	go func() {
		defer a.workers.Done()
		a.Security.RunCheckpoints(wctx, a.cfg.Auth.AuditCheckpointInterval, a.log)
	}()
	if err := a.Generation.Resume(ctx); err != nil {
		a.log.Error("resume background batches", "err", err)
	}
	if err := a.Scanning.Resume(ctx); err != nil {
		a.log.Error("finish interrupted session closes", "err", err)
	}
	if a.Engraving != nil {
		if err := a.startEngraving(wctx); err != nil {
			a.log.Error("start engraving", "err", err)
		}
		a.workers.Add(1)
		go func() {
			defer a.workers.Done()
			<-wctx.Done()
			_ = a.Engraving.Close()
			if a.sim != nil {
				_ = a.sim.Close()
			}
		}()
	}
	srv := &http.Server{
		Handler:           a.API,
		ReadHeaderTimeout: a.cfg.HTTP.ReadHeaderTimeout,
		ReadTimeout:       a.cfg.HTTP.ReadTimeout,
		WriteTimeout:      a.cfg.HTTP.WriteTimeout,
		IdleTimeout:       a.cfg.HTTP.IdleTimeout,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(a.log.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	errc := make(chan error, 2)
	go func() { errc <- srv.Serve(ln) }()
	a.log.Info("qrmfg listening", "addr", ln.Addr().String(), "target", a.cfg.Target, "database", a.DB.Dialect().String())
	if a.Metrics != nil && a.cfg.Metrics.Addr != "" {
		mln, err := net.Listen("tcp", a.cfg.Metrics.Addr)
		if err != nil {
			_ = srv.Close()
			return fmt.Errorf("metrics listener (QRMFG_METRICS_ADDR): %w", err)
		}
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", a.Metrics.Handler())
		msrv := &http.Server{Handler: mux, ReadHeaderTimeout: a.cfg.HTTP.ReadHeaderTimeout, WriteTimeout: time.Minute,
			ErrorLog: slog.NewLogLogger(a.log.Handler(), slog.LevelWarn)}
		go func() { errc <- msrv.Serve(mln) }()
		defer func() { _ = msrv.Close() }()
		a.log.Info("metrics listening", "addr", mln.Addr().String())
	}
	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-errc:
	}
	a.log.Info("shutting down: draining requests", "timeout", a.cfg.HTTP.ShutdownTimeout.String())
	sctx, scancel := context.WithTimeout(context.Background(), a.cfg.HTTP.ShutdownTimeout)
	defer scancel()
	if err := srv.Shutdown(sctx); err != nil {
		a.log.Warn("drain did not finish in time; closing connections", "err", err)
		_ = srv.Close()
	}
	if errors.Is(serveErr, http.ErrServerClosed) {
		serveErr = nil
	}
	return serveErr
}

// startEngraving runs the in-process simulated laser "sim-1" when
// QRMFG_SIMULATOR is set (at QRMFG_SIMULATOR_TIME_SCALE, by default
// engraving.DefaultSimTimeScale, so a code takes seconds), then the
// dispatcher. A compressed clock gives the driver that many times less time
// to refill the planner than a real machine would; FullLookahead keeps those
// artificial stops out of the measured machine time the estimate is checked
// against.
func (a *App) startEngraving(ctx context.Context) error {
	if a.cfg.Engraving.Simulator {
		scale := a.cfg.Engraving.SimTimeScale
		if scale <= 0 {
			scale = engraving.DefaultSimTimeScale
		}
		sim, err := grblsim.New(grblsim.Config{TimeScale: float64(scale), FullLookahead: scale > 1, ID: "sim-1"})
		if err != nil {
			return err
		}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			_ = sim.Close()
			return fmt.Errorf("simulated laser: %w", err)
		}
		a.sim = sim
		go func() { _ = sim.Serve(ctx, ln) }()
		if _, err := a.Engraving.RegisterSimulator(ctx, "sim-1", "tcp://"+ln.Addr().String(), sim); err != nil {
			return fmt.Errorf("register the simulated laser: %w", err)
		}
	}
	return a.Engraving.Start(ctx)
}

// Close stops the workers and closes the bus and the database.
func (a *App) Close() error {
	if a.cancel != nil {
		a.cancel()
	}
	a.workers.Wait()
	if a.Generation != nil {
		a.Generation.Wait()
	}
	var err error
	if a.Bus != nil {
		err = a.Bus.Close()
	}
	if a.DB != nil {
		err = errors.Join(err, a.DB.Close())
	}
	return err
}
