// Command slipway-server is the Slipway API, webhook receiver, orchestrator and agent endpoint.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/slipway-deploy/slipway/internal/apiserver"
	"github.com/slipway-deploy/slipway/internal/blob"
	"github.com/slipway-deploy/slipway/internal/githubapp"
	"github.com/slipway-deploy/slipway/internal/hook"
	"github.com/slipway-deploy/slipway/internal/orchestrator"
	"github.com/slipway-deploy/slipway/internal/rollout"
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
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) (err error) {
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
	// Close writes the heartbeats not yet flushed: its error is a lost write.
	defer func() { err = errors.Join(err, st.Close()) }()
	s3c, blobs, err := openBundles(ctx, cfg, log)
	if err != nil {
		return err
	}
	tempDir := filepath.Join(cfg.DataDir, "tmp")
	// Copies of S3 revisions being checked live here; a crash leaves them behind.
	if err := os.RemoveAll(tempDir); err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	if err := os.MkdirAll(tempDir, 0o700); err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	orch := orchestrator.New(st, log, nil)
	orch.Lease = cfg.Lease
	orch.ReleaseCommands = cfg.ReleaseCommands
	orch.DrainTimeout = cfg.DrainTimeout
	orch.Alarms = newGroupAlarms(st, log)
	orch.AlarmInterval = cfg.AlarmInterval
	// Lambda and ECS hooks' executions live in the store, so a verdict outlives a restart.
	hooks := hook.NewStoredBoard(st)
	hooks.OnSettle = orch.HookSettled
	driver := &rollout.Driver{Board: hooks, PollInterval: cfg.AWSPollInterval}
	orch.Functions = driver

	workflows, err := cfg.workflowVerifier()
	if err != nil {
		return err
	}
	if workflows != nil {
		log.Info("accepting GitHub Actions OIDC tokens", "issuer", workflows.Issuer(), "audience", cfg.PublicURL)
	} else {
		log.Info("not accepting GitHub Actions OIDC tokens", "reason", cfg.workflowTokensOff())
	}
	if cfg.AgentTags == agentTagsHost {
		log.Warn("agents set their own tags (agent_tags: host): any enrolled host can join any deployment group and receive its bundles")
	}

	opts := []apiserver.Option{apiserver.WithHooks(hooks)}
	if s3c != nil { // a nil *S3Client in the interface would not compare equal to nil
		opts = append(opts, apiserver.WithS3(s3c))
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	apiCfg := apiserver.Config{
		AdminToken:     cfg.AdminToken,
		EnrollToken:    cfg.EnrollToken,
		Lease:          cfg.Lease,
		MaxBundleBytes: cfg.MaxBundleBytes,
		TempDir:        tempDir,
		// Upload slots' PUTs last as long as agents' download URLs.
		UploadTTL: cfg.S3PresignTTL,
		// Groups name them; the commands themselves stay in this configuration.
		ReleaseCommands: slices.Sorted(maps.Keys(cfg.ReleaseCommands)),
		HookTimeout:     cfg.HookTimeout,
		HostsSetTags:    cfg.AgentTags == agentTagsHost,
	}
	if apiCfg.HookURLs, err = cfg.hookURLs(); err != nil {
		return fmt.Errorf("hook_urls: %w", err)
	}
	if workflows != nil { // not a nil *auth.Verifier in the interface
		apiCfg.Workflows = workflows
	}
	srv := apiserver.New(apiCfg, st, blobs, orch, log, reg, opts...)
	gh, err := newGitHub(cfg, st, srv, tempDir, log)
	if err != nil {
		return err
	}
	if gh != nil {
		// Set before Load: deployments resumed at start are news for GitHub too.
		orch.Observe = gh.Observe
		if h := gh.Webhooks(); h != nil {
			srv.Handle(http.MethodPost, githubapp.PathWebhook, h)
		}
	}
	if err := orch.Load(ctx); err != nil {
		return err
	}
	if err := orch.CatchUpAll(ctx); err != nil {
		log.Error("auto-update at start", "error", err)
	}

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
	var wg sync.WaitGroup
	errc := make(chan error, 4)
	// Started before the line that says the server is up, so a script that waits for that
	// line finds the profiler ready too.
	if cfg.DebugListen != "" {
		dbg, err := listenDebug(cfg.DebugListen, log)
		if err != nil {
			_ = ln.Close()
			return err
		}
		fmt.Fprintf(stdout, "pprof listening on http://%s/debug/pprof/\n", dbg.ln.Addr())
		wg.Go(func() { errc <- dbg.serve(ctx) })
	}
	scheme := "http"
	if cfg.TLSCertFile != "" {
		scheme = "https"
	}
	// Hooks report to the public URL; without one, to the address listened on, which only a
	// hook on this machine or network may reach.
	driver.StatusBase = cfg.PublicURL
	if driver.StatusBase == "" {
		driver.StatusBase = scheme + "://" + ln.Addr().String()
	}
	fmt.Fprintf(stdout, "listening on %s://%s\n", scheme, ln.Addr())
	log.Info("slipway-server started", "version", version, "addr", ln.Addr().String(), "data_dir", cfg.DataDir, "bundle_store", cfg.BundleStore)

	wg.Go(func() { errc <- orch.Run(ctx) })
	wg.Go(func() { cleanUploads(ctx, blobs, cfg.S3PresignTTL, log) })
	if gh != nil {
		wg.Go(func() { errc <- gh.Run(ctx) })
	}
	wg.Go(func() {
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
	})
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

// uploadCleanInterval is how often the server looks for direct uploads never completed.
const uploadCleanInterval = time.Hour

// cleanUploads removes, at start and then every uploadCleanInterval until ctx ends, the objects
// clients uploaded to direct upload slots they never completed. A slot's URL lasts ttl and the
// slot can be completed for ttl more, so an object last written two lifetimes ago is abandoned.
func cleanUploads(ctx context.Context, blobs apiserver.Blobs, ttl time.Duration, log *slog.Logger) {
	c, ok := blobs.(interface {
		CleanUploads(context.Context, time.Time) (int, error)
	})
	if !ok {
		return
	}
	t := time.NewTicker(uploadCleanInterval)
	defer t.Stop()
	for {
		if n, err := c.CleanUploads(ctx, time.Now().Add(-2*ttl)); err != nil && ctx.Err() == nil {
			log.Warn("clean abandoned direct uploads", "error", err)
		} else if n > 0 {
			log.Info("removed abandoned direct uploads", "count", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// openBundles opens the bundle store the configuration names, and the S3 client that serves it
// and revisions registered by S3 location (nil when there is no S3 configuration to be had and
// bundles are on disk: the server then refuses S3 registrations, saying what to set).
func openBundles(ctx context.Context, cfg Config, log *slog.Logger) (*blob.S3Client, apiserver.Blobs, error) {
	s3c, s3err := blob.NewS3Client(ctx, cfg.s3Options())
	// Puts cut short by a crash leave temporary files or objects; nothing writes them now.
	start := time.Now()
	cleanCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	clean := func(c interface {
		CleanTemp(context.Context, time.Time) (int, error)
	}) {
		if n, err := c.CleanTemp(cleanCtx, start); err != nil {
			log.Warn("clean unfinished bundle uploads", "error", err)
		} else if n > 0 {
			log.Info("removed unfinished bundle uploads", "count", n)
		}
	}
	if cfg.BundleStore == storeS3 {
		if s3err != nil {
			return nil, nil, s3err
		}
		st, err := blob.NewS3(s3c, cfg.S3Bucket, cfg.S3Prefix, blob.WithMaxSize(cfg.MaxBundleBytes))
		if err != nil {
			return nil, nil, err
		}
		clean(st)
		return s3c, st, nil
	}
	d, err := blob.NewDisk(filepath.Join(cfg.DataDir, "bundles"), blob.WithMaxSize(cfg.MaxBundleBytes))
	if err != nil {
		return nil, nil, err
	}
	clean(d)
	if s3err != nil {
		log.Info("revisions cannot be registered by S3 location", "reason", s3err.Error())
		return nil, d, nil
	}
	return s3c, d, nil
}

// newGitHub builds the GitHub integration when the configuration asks for it, or returns nil.
func newGitHub(cfg Config, st *store.SQLite, srv *apiserver.Server, tempDir string, log *slog.Logger) (*githubapp.App, error) {
	g := cfg.GitHub
	if !g.Enabled() {
		return nil, nil
	}
	auth := githubapp.Auth{APIURL: g.APIURL, AppID: g.AppID, Token: g.Token}
	if g.PrivateKeyFile != "" {
		key, err := os.ReadFile(g.PrivateKeyFile)
		if err != nil {
			return nil, fmt.Errorf("github.private_key_file: %w", err)
		}
		auth.PrivateKey = key
	}
	app, err := githubapp.New(githubapp.Config{
		Auth: auth, WebhookSecret: g.WebhookSecret, PublicURL: cfg.PublicURL,
		CheckRunInterval: g.CheckRunInterval, MaxBundleBytes: cfg.MaxBundleBytes, TempDir: tempDir,
	}, st, srv, log)
	if err != nil {
		return nil, err
	}
	mode := "token"
	if g.AppID != 0 {
		mode = "app"
	}
	log.Info("github integration on", "auth", mode, "api_url", g.APIURL, "webhooks", g.WebhookSecret != "")
	return app, nil
}

// debugServer serves Go's profiler on its own loopback listener (Config.DebugListen), so the
// public listener never exposes it.
type debugServer struct {
	ln net.Listener
	hs *http.Server
}

func listenDebug(addr string, log *slog.Logger) (*debugServer, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("debug listener: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return &debugServer{ln: ln, hs: &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		// No WriteTimeout: a CPU profile or trace streams for as long as it was asked to run.
		IdleTimeout: 2 * time.Minute,
		ErrorLog:    slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}}, nil
}

// serve runs until ctx ends.
func (d *debugServer) serve(ctx context.Context) error {
	go func() {
		<-ctx.Done()
		_ = d.hs.Close()
	}()
	if err := d.hs.Serve(d.ln); !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("debug listener: %w", err)
	}
	return nil
}
