package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mediagate/mediagate/internal/acl"
	"github.com/mediagate/mediagate/internal/app"
	"github.com/mediagate/mediagate/internal/audit"
	"github.com/mediagate/mediagate/internal/config"
	"github.com/mediagate/mediagate/internal/db"
	"github.com/mediagate/mediagate/internal/invalidate"
	"github.com/mediagate/mediagate/internal/jobs"
	"github.com/mediagate/mediagate/internal/media"
	"github.com/mediagate/mediagate/internal/session"
)

func loadConfig(e env, name string, args []string, extra func(fs *flag.FlagSet)) (config.Config, error) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	if extra != nil {
		extra(fs)
	}
	cfg, err := config.Load(fs, args, e.getenv)
	if err == nil {
		e.useLog(cfg)
	}
	return cfg, err
}

// openDB connects, creating and migrating the database first: ours, then
// River's on its own track.
func openDB(ctx context.Context, cfg config.Config) (*pgxpool.Pool, error) {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	pool, err := db.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return nil, err
	}
	if err := jobs.Migrate(ctx, pool); err != nil {
		pool.Close()
		return nil, err
	}
	return pool, nil
}

// gcPercent is the GOGC the server runs with unless GOGC is set: twice Go's
// default. The live heap is small (every cache is bounded) and each
// streaming request allocates about 2 KB, so collecting half as often saves
// a few percent of the hop's CPU (BenchmarkSmedia1KB) for at most one more
// live heap's worth of memory.
const gcPercent = 200

// background runs f in a goroutine until the returned stop is called,
// which cancels f's context and waits for f to return.
func background(f func(context.Context)) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); f(ctx) }()
	return func() { cancel(); <-done }
}

func serve(ctx context.Context, e env, args []string) error {
	cfg, err := loadConfig(e, "serve", args, nil)
	if err != nil {
		return err
	}
	if e.getenv("GOGC") == "" {
		debug.SetGCPercent(gcPercent)
	}
	pool, err := openDB(ctx, cfg)
	if err != nil {
		return err
	}
	defer pool.Close()

	users := session.NewUsers(pool)
	u, generated, created, err := users.EnsureAdmin(ctx, cfg.AdminEmail, cfg.AdminPassword)
	if err != nil {
		return fmt.Errorf("first admin: %w", err)
	}
	if created {
		e.log.Info("created the first admin", "email", u.Email)
		if generated != "" {
			fmt.Fprintf(e.stderr, "\n  First admin: %s\n  Password:    %s\n  (shown once; set MEDIAGATE_ADMIN_PASSWORD to choose it)\n\n", u.Email, generated)
		}
	}

	// Caches are bypassed until the invalidation listener is up, so serving
	// may start before it.
	hub := invalidate.NewHub(e.log)
	listenCtx, stopListening := context.WithCancel(context.Background())
	listening := make(chan struct{})
	go func() {
		defer close(listening)
		hub.Run(listenCtx, func(ctx context.Context) (*pgx.Conn, error) { return pgx.Connect(ctx, cfg.DatabaseURL) })
	}()
	defer func() { stopListening(); <-listening }()
	waitCtx, cancelWait := context.WithTimeout(ctx, 5*time.Second)
	hub.WaitHealthy(waitCtx)
	cancelWait()

	storage, closeStorage, err := openStorage(ctx, cfg)
	if err != nil {
		return err
	}
	defer closeStorage()
	decide := acl.NewDecider(pool).Cached(hub)
	store := media.NewStore(pool, storage, decide, e.log)
	store.SetTrashRetention(cfg.TrashRetention)
	if err := store.Recover(ctx); err != nil {
		return fmt.Errorf("recover storage: %w", err)
	}
	pipeline, err := jobs.New(pool, store, jobs.Options{Workers: cfg.JobWorkers, Log: e.log, FFmpegTimeout: cfg.FFmpegTimeout})
	if err != nil {
		return err
	}
	store.SetEnqueuer(pipeline)
	if cfg.JobWorkers > 0 {
		if err := pipeline.Start(ctx); err != nil {
			return fmt.Errorf("start the media pipeline: %w", err)
		}
		defer func() {
			stopCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := pipeline.Stop(stopCtx); err != nil {
				e.log.Warn("stop the media pipeline", "err", err)
			}
		}()
	}
	auth := session.NewAuth(pool, cfg, e.log, hub)
	defer auth.Close()
	reads := audit.New(pool, e.log, audit.Options{})
	auditCtx, stopAudit := context.WithCancel(context.Background())
	go reads.Run(auditCtx)
	// After the server has drained, write out what the audit still holds.
	defer func() { stopAudit(); reads.Wait() }()
	a, err := app.New(cfg, pool, auth, decide, store, reads, e.log)
	if err != nil {
		return err
	}
	a.SetPipeline(pipeline)
	defer a.Close() // after the server and the janitor have stopped
	// How long notifications take to arrive, for the app's metrics.
	defer background(func(ctx context.Context) { hub.Probe(ctx, pool, 10*time.Second) })()
	// Abandoned resumable uploads are removed now and then from here on, by
	// every instance.
	defer background(a.Uploads().Run)()
	// So is the trash's expired content, as safely.
	defer background(store.RunTrashJanitor)()

	ln, removeSocket, err := listen(cfg)
	if err != nil {
		return err
	}
	// After Shutdown has closed the listener: a Unix socket's file goes too.
	defer removeSocket()
	if cfg.MetricsAddr != "" {
		stopMetrics, err := serveMetrics(e, cfg.MetricsAddr, a.MetricsHandler())
		if err != nil {
			ln.Close()
			return err
		}
		defer stopMetrics()
	}
	srv := &http.Server{
		Handler:           a.Routes(),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
		// No read or write timeout: uploads and direct downloads of large
		// files take as long as they take. A body that stops arriving is
		// ended by the app, each read of it waiting at most
		// cfg.BodyIdleTimeout (see app.limitBodyIdle).
		ErrorLog: slog.NewLogLogger(e.log.Handler(), slog.LevelWarn),
	}
	addr := ln.Addr().String()
	if _, ok := cfg.UnixSocket(); ok {
		addr = cfg.Addr // the socket was bound under a temporary name
	}
	e.log.Info("listening", "addr", addr, "data_dir", cfg.DataDir, "storage", storage.Blobs.Describe(), "accel", string(cfg.Accel))
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	e.log.Info("shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return nil
}

func migrateCmd(ctx context.Context, e env, args []string) error {
	cfg, err := loadConfig(e, "migrate", args, nil)
	if err != nil {
		return err
	}
	pool, err := openDB(ctx, cfg)
	if err != nil {
		return err
	}
	pool.Close()
	e.log.Info("database is up to date")
	return nil
}
