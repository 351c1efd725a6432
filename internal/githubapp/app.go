package githubapp

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"sync"
	"time"
)

// Config is the GitHub integration's configuration.
type Config struct {
	Auth Auth
	// WebhookSecret signs deliveries; without it the webhook receiver is not served.
	WebhookSecret string
	// PublicURL is the server's address for people: deployment pages are linked from GitHub.
	PublicURL string
	// CheckRunInterval is the least time between two updates of a check run
	// (DefaultCheckRunInterval when zero).
	CheckRunInterval time.Duration
	// MaxBundleBytes bounds a tarball fetched from GitHub, as uploads are bounded.
	MaxBundleBytes int64
	// TempDir holds tarballs while they are fetched (the system's when empty).
	TempDir string
}

// App is Slipway's GitHub integration: the webhook receiver, the dispatcher that processes the
// recorded deliveries, and the reporter that posts deployment statuses and check runs.
type App struct {
	cfg        Config
	clients    *Clients
	receiver   *Receiver
	dispatcher *Dispatcher
	reporter   *Reporter
}

// New wires the integration over the store and the server; it starts nothing (see Run).
func New(cfg Config, st Store, srv Server, log *slog.Logger) (*App, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.MaxBundleBytes <= 0 {
		return nil, errors.New("github: MaxBundleBytes must be positive")
	}
	clients, err := NewClients(cfg.Auth, st, log)
	if err != nil {
		return nil, err
	}
	now := time.Now
	a := &App{cfg: cfg, clients: clients}
	a.reporter = newReporter(st, srv, clients, log.With("component", "github_reporter"), now, cfg.PublicURL, cfg.CheckRunInterval)
	h := &handlers{
		store: st, server: srv, clients: clients, log: log.With("component", "github_webhooks"),
		publicURL: cfg.PublicURL, tempDir: cfg.TempDir, maxBundleBytes: cfg.MaxBundleBytes,
		notify: a.reporter.Notify, noteRollback: a.reporter.noteRollback,
	}
	a.dispatcher = newDispatcher(st, h.byEvent(), h.log, now)
	if cfg.WebhookSecret != "" {
		a.receiver = NewReceiver(cfg.WebhookSecret, st, a.dispatcher.Notify, h.log)
	}
	return a, nil
}

// Webhooks is the handler for POST PathWebhook, nil when no webhook secret is configured.
func (a *App) Webhooks() http.Handler {
	if a.receiver == nil {
		return nil
	}
	return a.receiver
}

// Observe is the orchestrator's hook: every stored change of a deployment may be news for GitHub.
func (a *App) Observe(id string) { a.reporter.Notify(id) }

// Run processes webhook deliveries and reports to GitHub until ctx ends.
func (a *App) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	errs := make([]error, 2)
	wg.Go(func() { errs[0] = a.dispatcher.Run(ctx) })
	wg.Go(func() { errs[1] = a.reporter.Run(ctx) })
	wg.Wait()
	return errors.Join(errs...)
}
