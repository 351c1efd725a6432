// Command slipway-server is the Slipway API, webhook receiver, orchestrator and agent endpoint.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/slipway-deploy/slipway/internal/apiserver"
	"github.com/slipway-deploy/slipway/internal/blob"
	"github.com/slipway-deploy/slipway/internal/orchestrator"
	"github.com/slipway-deploy/slipway/internal/store"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "slipway-server:", err)
		}
		os.Exit(1)
	}
}

var version = "dev"

// run starts the server and blocks until ctx ends. It prints one line, "listening on URL", once
// the port is open, so scripts and tests can find a server started on port 0.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "version" {
		fmt.Fprintln(stdout, "slipway-server", version)
		return nil
	}
	cfg, err := loadConfig(args, getenv, stderr)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewJSONHandler(stderr, nil))

	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	st, err := store.OpenSQLite(ctx, filepath.Join(cfg.DataDir, "slipway.db"))
	if err != nil {
		return err
	}
	defer st.Close()
	blobs, err := blob.NewDisk(filepath.Join(cfg.DataDir, "bundles"), blob.WithMaxSize(cfg.MaxBundleBytes))
	if err != nil {
		return err
	}
	// Uploads cut short by a crash leave temp files; nothing can be writing them now.
	if n, err := blobs.CleanTemp(ctx, time.Now()); err != nil {
		log.Warn("clean bundle temp files", "error", err)
	} else if n > 0 {
		log.Info("removed unfinished bundle uploads", "count", n)
	}
	orch := orchestrator.New(st, log, nil)
	orch.Lease = cfg.Lease
	if err := orch.Load(ctx); err != nil {
		return err
	}
	if err := orch.CatchUpAll(ctx); err != nil {
		log.Error("auto-update at start", "error", err)
	}

	workflows, err := cfg.workflowVerifier()
	if err != nil {
		return err
	}
	if workflows != nil {
		log.Info("accepting GitHub Actions OIDC tokens", "issuer", workflows.Issuer(), "audience", cfg.PublicURL)
	} else {
		log.Info("not accepting GitHub Actions OIDC tokens: set public_url (their audience) and oidc_issuer to accept them")
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	apiCfg := apiserver.Config{
		AdminToken:     cfg.AdminToken,
		EnrollToken:    cfg.EnrollToken,
		Lease:          cfg.Lease,
		MaxBundleBytes: cfg.MaxBundleBytes,
	}
	if workflows != nil { // not a nil *auth.Verifier in the interface
		apiCfg.Workflows = workflows
	}
	srv := apiserver.New(apiCfg, st, blobs, orch, log, reg)

	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	hs := &http.Server{
		// Requests end with the server, so agents' long polls do not hold up a shutdown.
		BaseContext:       func(net.Listener) context.Context { return ctx },
		Handler:           srv.Handler(reg),
		ReadHeaderTimeout: 10 * time.Second,
		// No WriteTimeout: long polls and bundle downloads are bounded by their own limits.
		IdleTimeout: 2 * time.Minute,
		ErrorLog:    slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	scheme := "http"
	if cfg.TLSCertFile != "" {
		scheme = "https"
	}
	fmt.Fprintf(stdout, "listening on %s://%s\n", scheme, ln.Addr())
	log.Info("slipway-server started", "version", version, "addr", ln.Addr().String(), "data_dir", cfg.DataDir)

	var wg sync.WaitGroup
	errc := make(chan error, 2)
	wg.Add(2)
	go func() {
		defer wg.Done()
		errc <- orch.Run(ctx)
	}()
	go func() {
		defer wg.Done()
		var err error
		if cfg.TLSCertFile != "" {
			err = hs.ServeTLS(ln, cfg.TLSCertFile, cfg.TLSKeyFile)
		} else {
			err = hs.Serve(ln)
		}
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		errc <- err
	}()
	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-errc:
	}
	cancel()
	shutdownCtx, done := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer done()
	if err := hs.Shutdown(shutdownCtx); err != nil {
		log.Warn("shutdown", "error", err)
	}
	wg.Wait()
	log.Info("slipway-server stopped")
	return runErr
}
