package githubapp_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/slipway-deploy/slipway/internal/api"
	"github.com/slipway-deploy/slipway/internal/apiserver"
	"github.com/slipway-deploy/slipway/internal/blob"
	"github.com/slipway-deploy/slipway/internal/bundle"
	"github.com/slipway-deploy/slipway/internal/githubapp"
	"github.com/slipway-deploy/slipway/internal/githubapp/githubtest"
	"github.com/slipway-deploy/slipway/internal/orchestrator"
	"github.com/slipway-deploy/slipway/internal/store"
)

const (
	secret      = "webhook-secret-for-tests"
	adminToken  = "admin-token-0123456789"
	enrollToken = "enroll-token-0123456789"
	publicURL   = "https://slipway.example.com"
	// The repository, environment and commit of the corpus's deployment and comment payloads.
	corpusRepo   = "Codertocat/Hello-World"
	corpusRepoID = 186853002
	corpusSHA    = "f95f852bd8fca8fcc58a9a2d6c842781e32a215e"
	corpusGHDep  = 145988746
)

// corpusDir finds the real webhook payloads: shared/corpus/webhooks beside the repository (CI
// checks shared/ out there), or beside a parent of it (a git worktree one level deeper). Outside
// CI a machine without the corpus skips; in CI that is a failure.
func corpusDir(t testing.TB) string {
	t.Helper()
	dir := filepath.Join("..", "..", "..")
	for range 3 {
		p := filepath.Join(dir, "shared", "corpus", "webhooks")
		if _, err := os.Stat(filepath.Join(p, "SOURCES.tsv")); err == nil {
			return p
		}
		dir = filepath.Join(dir, "..")
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("webhook corpus missing: CI must check out shared/ beside the repository")
	}
	t.Skip("webhook corpus (shared/corpus/webhooks beside the repository) not found")
	return ""
}

// readCorpus returns a real payload's bytes exactly as stored.
func readCorpus(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(corpusDir(t), name))
	if err != nil {
		t.Fatalf("read corpus payload: %v", err)
	}
	return b
}

// derive changes fields of a real payload: edit gets it as generic JSON.
func derive(t testing.TB, raw []byte, edit func(m map[string]any)) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	edit(m)
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func obj(m map[string]any, key string) map[string]any { return m[key].(map[string]any) }

// env is a Slipway server (real store, blobs, orchestrator, REST API) with the GitHub
// integration, against a GitHub stand-in.
type env struct {
	t      *testing.T
	gh     *githubtest.Server
	st     *store.SQLite
	URL    string
	client *api.Client
	logs   *logBuffer
	ctx    context.Context
	// app is the GitHub integration, running until stopApp (a crash) is called.
	app     *githubapp.App
	stopApp func()
}

type envOptions struct {
	token    bool // a plain token instead of a GitHub App
	interval time.Duration
}

func newEnv(t *testing.T, opts envOptions) *env {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	dir := t.TempDir()
	st, err := store.OpenSQLite(ctx, filepath.Join(dir, "slipway.db"))
	if err != nil {
		t.Fatal(err)
	}
	blobs, err := blob.NewDisk(filepath.Join(dir, "bundles"))
	if err != nil {
		t.Fatal(err)
	}
	logs := &logBuffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	orch := orchestrator.New(st, log, nil)
	orch.Lease = time.Minute
	reg := prometheus.NewRegistry()
	srv := apiserver.New(apiserver.Config{AdminToken: adminToken, EnrollToken: enrollToken, Lease: time.Minute, MaxBundleBytes: 10 << 20}, st, blobs, orch, log, reg)
	gh := githubtest.New(t)
	gh.AddRepo(corpusRepo, corpusRepoID, 1)
	auth := githubapp.Auth{APIURL: gh.URL, AppID: gh.AppID, PrivateKey: gh.Key}
	if opts.token {
		auth = githubapp.Auth{APIURL: gh.URL, Token: gh.Token}
	}
	if opts.interval == 0 {
		opts.interval = 20 * time.Millisecond
	}
	app, err := githubapp.New(githubapp.Config{
		Auth: auth, WebhookSecret: secret, PublicURL: publicURL, CheckRunInterval: opts.interval,
		MaxBundleBytes: 10 << 20, TempDir: t.TempDir(),
	}, st, srv, log)
	if err != nil {
		t.Fatal(err)
	}
	orch.Observe = app.Observe
	srv.Handle(http.MethodPost, githubapp.PathWebhook, app.Webhooks())
	if err := orch.Load(ctx); err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler(reg))
	var wg sync.WaitGroup
	wg.Go(func() { _ = orch.Run(ctx) })
	e := &env{t: t, gh: gh, st: st, URL: ts.URL, client: api.NewClient(ts.URL, adminToken), logs: logs, ctx: ctx, app: app}
	e.startApp()
	t.Cleanup(func() {
		cancel()
		ts.Close()
		e.stopApp()
		wg.Wait()
		_ = st.Close()
		if t.Failed() || os.Getenv("SLIPWAY_TEST_LOG") != "" {
			t.Logf("server log:\n%s", logs.String())
		}
	})
	return e
}

// startApp runs the GitHub integration until stopApp.
func (e *env) startApp() {
	ctx, cancel := context.WithCancel(e.ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = e.app.Run(ctx)
	}()
	e.stopApp = func() {
		cancel()
		<-done
	}
}

// crash stops the GitHub integration in the middle of what it does, as a crash would as far
// as GitHub and the store can tell: its calls to GitHub are cut off, whatever it did not record
// is lost, and the delivery it was processing is left pending. Then it starts again over the
// same store, as a restarted server does, and resumes.
func (e *env) crash() {
	e.t.Helper()
	e.stopApp()
	e.startApp()
}

// newCorpusEnv is an env ready for the corpus's deployment payload: group hello/prod linked to
// its repository and environment, the tarball at its commit, and its GitHub Deployment known.
func newCorpusEnv(t *testing.T, opts envOptions) *env {
	t.Helper()
	e := newEnv(t, opts)
	e.linkGroup("hello", "prod", "production", false)
	e.gh.AddTarball(corpusRepo, corpusSHA, tarball(t, "v1"))
	e.knownDeployment(corpusGHDep, corpusSHA, "production")
	return e
}

type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// linkGroup creates application app with group name linked to the corpus repository for environment.
func (e *env) linkGroup(app, name, environment string, autoRollback bool) {
	e.t.Helper()
	if _, err := e.client.GetApplication(context.Background(), app); err != nil {
		if _, err := e.client.CreateApplication(context.Background(), api.Application{Name: app}); err != nil {
			e.t.Fatal(err)
		}
	}
	_, err := e.client.CreateGroup(context.Background(), api.DeploymentGroup{
		Application: app, Name: name, Environment: environment, DeploymentConfig: "CodeDeployDefault.AllAtOnce",
		TagGroups:    [][]api.TagFilter{{{Key: "role", Value: "web", Type: "KEY_AND_VALUE"}}},
		AutoRollback: api.AutoRollback{OnFailure: autoRollback},
		GitHub:       &api.GitHubLink{Repository: corpusRepo, RepositoryID: corpusRepoID, EnvironmentURL: "https://hello.example.com"},
	})
	if err != nil {
		e.t.Fatal(err)
	}
}

// tarball is a GitHub-style repository tarball: one leading directory holding the tree.
func tarball(t testing.TB, label string) []byte {
	t.Helper()
	dir := t.TempDir()
	root := filepath.Join(dir, "Codertocat-Hello-World-f95f852")
	if err := os.MkdirAll(filepath.Join(root, "scripts"), 0o755); err != nil {
		t.Fatal(err)
	}
	files := map[string]string{
		"appspec.yml":        "version: 0.0\nos: linux\nhooks:\n  AfterInstall:\n    - location: scripts/check.sh\n",
		"scripts/check.sh":   "#!/bin/sh\necho checking " + label + "\n",
		"README.md":          "hello " + label + "\n",
		"scripts/.gitignore": "",
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(root, name), []byte(content), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	var buf bytes.Buffer
	if _, err := bundle.Build(context.Background(), &buf, dir, bundle.FormatTgz, bundle.BuildOptions{}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// sign is GitHub's X-Hub-Signature-256 of body.
func sign(body []byte, key string) string {
	mac := hmac.New(sha256.New, []byte(key))
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

var deliveries atomic.Int64

// deliver posts a webhook as GitHub does, signed with the test secret; id "" makes a fresh one.
func (e *env) deliver(event, id string, body []byte) (int, string) {
	e.t.Helper()
	if id == "" {
		id = fmt.Sprintf("72d3162e-cc78-11e3-81ab-%012d", deliveries.Add(1))
	}
	return e.post(map[string]string{
		"X-GitHub-Event": event, "X-GitHub-Delivery": id, "X-Hub-Signature-256": sign(body, secret),
		"Content-Type": "application/json", "User-Agent": "GitHub-Hookshot/044aadd",
	}, body)
}

func (e *env) post(headers map[string]string, body []byte) (int, string) {
	e.t.Helper()
	req, err := http.NewRequest(http.MethodPost, e.URL+githubapp.PathWebhook, bytes.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// waitFor polls f until it reports done, or fails the test at the deadline.
func waitFor[T any](t testing.TB, within time.Duration, what string, f func() (T, bool)) T {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		v, ok := f()
		if ok {
			return v
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s (last: %+v)", within, what, v)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// delivery waits until a delivery is processed and returns its record.
func (e *env) delivery(id string) store.Delivery {
	e.t.Helper()
	return waitFor(e.t, 10*time.Second, "delivery "+id+" processed", func() (store.Delivery, bool) {
		d, err := e.st.GetDelivery(context.Background(), id)
		d.Payload = nil // not worth printing on a timeout
		return d, err == nil && !d.ProcessedTime.IsZero()
	})
}

// deployments lists the server's deployments.
func (e *env) deployments() []api.Deployment {
	e.t.Helper()
	list, err := e.client.ListDeployments(context.Background(), api.DeploymentFilter{})
	if err != nil {
		e.t.Fatal(err)
	}
	return list
}

// wantDeployments checks how many deployments the server holds.
func (e *env) wantDeployments(n int) {
	e.t.Helper()
	if got := len(e.deployments()); got != n {
		e.t.Errorf("deployments: got %d, want %d", got, n)
	}
}

// host is a minimal agent over the real agent protocol: it answers every command it gets,
// failing the events named in fail.
type host struct {
	commands []api.Command
	mu       sync.Mutex
	// gate, when set, holds each answer until a value is sent on it.
	gate chan struct{}
}

func (e *env) startHost(name string, fail map[string]bool) *host {
	e.t.Helper()
	return e.startHostFailing(name, func(c api.Command) bool { return fail[c.Event] })
}

// startHostFailing starts a host that fails the commands fail picks.
func (e *env) startHostFailing(name string, fail func(api.Command) bool) *host {
	e.t.Helper()
	return e.startHostGated(name, fail, nil)
}

// startHostGated starts a host that answers each command only once gate lets it (nil: at once).
func (e *env) startHostGated(name string, fail func(api.Command) bool, gate chan struct{}) *host {
	e.t.Helper()
	reg, err := api.NewClient(e.URL, "").Register(context.Background(), enrollToken, api.Register{Name: name, Tags: map[string]string{"role": "web"}})
	if err != nil {
		e.t.Fatal(err)
	}
	c := api.NewClient(e.URL, reg.Credential)
	h := &host{gate: gate}
	ctx, cancel := context.WithCancel(e.ctx)
	done := make(chan struct{})
	e.t.Cleanup(func() {
		cancel()
		<-done
	})
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			cmd, err := c.NextCommand(ctx, 200*time.Millisecond)
			if err != nil || cmd == nil {
				continue
			}
			h.mu.Lock()
			h.commands = append(h.commands, *cmd)
			h.mu.Unlock()
			if h.gate != nil {
				select {
				case <-h.gate:
				case <-ctx.Done():
					return
				}
			}
			res := api.Result{Status: "Succeeded", StartTime: time.Now(), EndTime: time.Now()}
			if fail(*cmd) {
				res.Status = "Failed"
				res.Diagnostics = &api.Diagnostics{ErrorCode: "ScriptFailed", ScriptName: "scripts/check.sh", Message: "exit status 3", LogTail: "checking...\nnot ok | broken"}
			}
			_ = c.Complete(ctx, cmd.ID, res)
		}
	}()
	return h
}

func (h *host) seen() []api.Command {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]api.Command(nil), h.commands...)
}

// finished waits for a deployment to end.
func (e *env) finished(id string) api.Deployment {
	e.t.Helper()
	return waitFor(e.t, 20*time.Second, "deployment "+id+" to finish", func() (api.Deployment, bool) {
		d, err := e.client.GetDeployment(context.Background(), id)
		return d, err == nil && (d.Status == "Succeeded" || d.Status == "Failed" || d.Status == "Stopped")
	})
}

// statesOf waits until a GitHub Deployment has the given statuses, and fails on anything else.
func (e *env) statesOf(ghID int64, want ...string) []string {
	e.t.Helper()
	got := waitFor(e.t, 20*time.Second, fmt.Sprintf("statuses %v on GitHub deployment %d", want, ghID), func() ([]string, bool) {
		got := e.gh.StatusStates(ghID)
		return got, len(got) >= len(want)
	})
	if strings.Join(got, ",") != strings.Join(want, ",") {
		e.t.Errorf("statuses of GitHub deployment %d: got %v, want %v", ghID, got, want)
	}
	return got
}

func (e *env) noViolations() {
	e.t.Helper()
	if v := e.gh.Violations(); len(v) > 0 {
		e.t.Errorf("requests GitHub would refuse: %v", v)
	}
}

type githubtestCheckRun = githubtest.CheckRun

func digestOf(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// upload registers a bundle as the Action does, saying where it was built from; it returns the
// digest.
func (e *env) upload(app string, data []byte, origin api.RevisionOrigin) string {
	e.t.Helper()
	rev, err := e.client.UploadRevisionFrom(context.Background(), app, bytes.NewReader(data), int64(len(data)), "", origin)
	if err != nil {
		e.t.Fatalf("upload: %v", err)
	}
	return rev.Digest
}
