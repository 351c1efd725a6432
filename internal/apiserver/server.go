package apiserver

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/gorilla/mux"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/slipway-deploy/slipway/internal/api"
	"github.com/slipway-deploy/slipway/internal/hook"
	"github.com/slipway-deploy/slipway/internal/orchestrator"
)

// Body limits: JSON calls are small; bundles have their own limit (Config.MaxBundleBytes).
const (
	maxJSONBody = 1 << 20
	// maxPollWait bounds an agent's long poll below common proxy idle timeouts.
	maxPollWait     = 60 * time.Second
	defaultPollWait = 30 * time.Second
)

// Config is what the handlers need to know beyond their dependencies.
type Config struct {
	// AdminToken guards /api/v1; EnrollToken lets new agents register.
	AdminToken  string
	EnrollToken string
	// Lease is how long a host may be silent on a command; agents heartbeat at a third of it.
	Lease time.Duration
	// MaxBundleBytes bounds an uploaded revision.
	MaxBundleBytes int64
	// Workflows verifies GitHub Actions OIDC tokens; nil accepts none.
	Workflows WorkflowVerifier
	// TempDir holds the short-lived copies made while checking a revision registered by S3
	// location; os.TempDir() when empty.
	TempDir string
	// ReleaseCommands are the names of the server's release commands, which blue/green groups
	// may name to release their original instances.
	ReleaseCommands []string
	// UploadTTL is how long an upload slot's presigned PUT works (blob.DefaultPresignTTL when
	// 0); the slot can be completed for as long again after that.
	UploadTTL time.Duration
	// BodyTimeout bounds the time a client may take to send a JSON body (defaultBodyTimeout when
	// 0), so a body trickled in, or never finished, does not hold a connection for ever.
	BodyTimeout time.Duration
	// HookTimeout bounds the wait for a lambda or ecs hook's verdict when the group does not
	// say (deploy.DefaultHookTimeout when 0).
	HookTimeout time.Duration
	// HookURLs are the URL prefixes a lambda or ecs AppSpec's HTTP hooks may call; with none, a
	// deployment naming an HTTP hook is refused (see hook.Target.AllowedBy).
	HookURLs []*url.URL
	// HostsSetTags lets an agent replace its instance's tags on every hello, as before tags
	// were an administrator's. When false (the default) a host's tags are those it enrolled
	// with until an administrator changes them: a host, compromised or misconfigured, cannot
	// move itself into another deployment group and receive that group's bundles.
	HostsSetTags bool
}

// Server holds the handlers' dependencies.
type Server struct {
	cfg     Config
	store   Store
	blobs   Blobs
	orch    *orchestrator.Orchestrator
	log     *slog.Logger
	metrics *metrics
	// s3 reads revisions registered by S3 location; nil when the server has no S3 access.
	s3 S3Objects
	// hooks takes lambda and ecs hooks' verdicts; nil when the server runs none.
	hooks *hook.Board
	extra []extraRoute
}

// extraRoute is a route added with Handle.
type extraRoute struct {
	method, path string
	handler      http.Handler
}

// Handle adds a route served beside the API (the GitHub webhook receiver), so it shares the
// server's metrics and error handling. Call it before Handler.
func (s *Server) Handle(method, path string, h http.Handler) {
	s.extra = append(s.extra, extraRoute{method: method, path: path, handler: h})
}

// Option adds an optional dependency to a Server.
type Option func(*Server)

// WithS3 lets the server register revisions by S3 location and hand agents presigned URLs
// to them.
func WithS3(o S3Objects) Option { return func(s *Server) { s.s3 = o } }

// New returns a server; it starts nothing.
func New(cfg Config, store Store, blobs Blobs, orch *orchestrator.Orchestrator, log *slog.Logger, reg prometheus.Registerer, opts ...Option) *Server {
	s := &Server{cfg: cfg, store: store, blobs: blobs, orch: orch, log: log, metrics: newMetrics(reg)}
	for _, o := range opts {
		o(s)
	}
	return s
}

// Handler builds the routes.
func (s *Server) Handler(gatherer prometheus.Gatherer) http.Handler {
	return s.metrics.instrument(s.router(gatherer))
}

// router builds the routes without instrumentation; tests walk it to check the API document.
func (s *Server) router(gatherer prometheus.Gatherer) *mux.Router {
	r := mux.NewRouter()
	r.HandleFunc("/healthz", s.handleHealth).Methods(http.MethodGet)
	r.HandleFunc("/readyz", s.handleReady).Methods(http.MethodGet)
	r.Handle("/metrics", promhttp.HandlerFor(gatherer, promhttp.HandlerOpts{})).Methods(http.MethodGet)
	// Before the API's subrouter, whose every route wants the admin token.
	r.HandleFunc(openAPIPath, s.handleOpenAPI).Methods(http.MethodGet)
	// A hook reports with its execution's own token, not a user's.
	r.HandleFunc(api.HookStatusPath("{id}"), s.handleHookStatus).Methods(http.MethodPut)
	s.routeAPI(r.PathPrefix(api.PathAPI).Subrouter())
	s.routeAgent(r.PathPrefix(api.PathAgent).Subrouter())
	r.HandleFunc(PathDeploymentPage+"{id}", s.handleDeploymentPage).Methods(http.MethodGet)
	for _, rt := range s.extra {
		r.Handle(rt.path, rt.handler).Methods(rt.method)
	}
	// mux (1.8.1) tells a wrong method from a wrong path only sometimes inside subrouters, so
	// every unmatched request goes to one handler that works it out.
	unmatched := s.unmatched(r)
	r.NotFoundHandler = unmatched
	_ = r.Walk(func(_ *mux.Route, sub *mux.Router, _ []*mux.Route) error {
		sub.MethodNotAllowedHandler = unmatched
		return nil
	})
	return r
}

// unmatched answers a request no route takes: 405 with the methods the path does take, or 404.
func (s *Server) unmatched(root *mux.Router) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var allow []string
		for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodDelete} {
			probe := r.Clone(r.Context())
			probe.Method = m
			var match mux.RouteMatch
			if !root.Match(probe, &match) || match.Route == nil {
				continue
			}
			// A match may be a subrouter's prefix standing in for a 405: only a route that
			// names the method counts.
			if methods, err := match.Route.GetMethods(); err == nil && slices.Contains(methods, m) {
				allow = append(allow, m)
			}
		}
		if len(allow) == 0 {
			s.writeError(w, r, errNotFound)
			return
		}
		w.Header().Set("Allow", strings.Join(allow, ", "))
		s.writeError(w, r, errMethodNotAllowed)
	})
}

func (s *Server) handleHealth(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

func (s *Server) handleReady(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := s.store.Ping(ctx); err != nil {
		s.log.Warn("not ready", "error", err)
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "store unavailable"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

// bearer returns the request's bearer token, or "".
func bearer(r *http.Request) string {
	h := r.Header.Get("Authorization")
	if len(h) < 7 || !strings.EqualFold(h[:7], "bearer ") {
		return ""
	}
	return strings.TrimSpace(h[7:])
}

// tokenEqual compares in constant time; hashing first hides the secret's length too.
func tokenEqual(got, want string) bool {
	if got == "" || want == "" {
		return false
	}
	g, w := sha256.Sum256([]byte(got)), sha256.Sum256([]byte(want))
	return subtle.ConstantTimeCompare(g[:], w[:]) == 1
}
