package apiserver

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/slipway-deploy/slipway/internal/api"
	"github.com/slipway-deploy/slipway/internal/blob"
	"github.com/slipway-deploy/slipway/internal/bundle"
	"github.com/slipway-deploy/slipway/internal/orchestrator"
	"github.com/slipway-deploy/slipway/internal/store"
)

const (
	adminToken  = "admin-token-for-tests-0123456789"
	enrollToken = "enroll-token-for-tests-0123456789"
)

const (
	pathApps    = api.PathAPI + "/applications"
	pathConfigs = api.PathAPI + "/deployment-configs"
	pathDeps    = api.PathAPI + "/deployments"
	pathInsts   = api.PathAPI + "/instances"
)

// env is a server as slipway-server wires it: real SQLite and bundle store in a temporary
// directory, the real orchestrator running, served over HTTP.
type env struct {
	t       *testing.T
	srv     *Server
	url     string
	dir     string
	store   *store.SQLite
	blobDir string
	logFile string
	admin   *api.Client
	reg     *prometheus.Registry
}

// newEnv starts a server; change adjusts its Config first.
func newEnv(t *testing.T, change ...func(*Config)) *env {
	t.Helper()
	return newEnvWith(t, envSetup{}, change...)
}

// envSetup is what a test wires differently from slipway-server's defaults.
type envSetup struct {
	// blobs is the bundle store; a Disk under the test's directory when nil.
	blobs Blobs
	opts  []Option
}

func newEnvWith(t *testing.T, setup envSetup, change ...func(*Config)) *env {
	t.Helper()
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	st, err := store.OpenSQLite(ctx, filepath.Join(dir, "slipway.db"))
	if err != nil {
		t.Fatal(err)
	}
	blobDir := filepath.Join(dir, "bundles")
	cfg := Config{AdminToken: adminToken, EnrollToken: enrollToken, Lease: time.Minute, MaxBundleBytes: 8 << 20, TempDir: dir}
	for _, c := range change {
		c(&cfg)
	}
	blobs := setup.blobs
	if blobs == nil {
		if blobs, err = blob.NewDisk(blobDir, blob.WithMaxSize(cfg.MaxBundleBytes)); err != nil {
			t.Fatal(err)
		}
	}
	// A file, which the server's goroutines may write while a test reads it.
	logFile := filepath.Join(dir, "server.log")
	logs, err := os.Create(logFile)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { logs.Close() })
	log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	orch := orchestrator.New(st, log, nil)
	orch.Lease = cfg.Lease
	if err := orch.Load(ctx); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	srv := New(cfg, st, blobs, orch, log, reg, setup.opts...)
	hs := httptest.NewServer(srv.Handler(reg))
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = orch.Run(ctx)
	}()
	t.Cleanup(func() {
		hs.Close()
		cancel()
		<-done
		st.Close()
	})
	return &env{t: t, srv: srv, url: hs.URL, dir: dir, store: st, blobDir: blobDir, logFile: logFile,
		admin: api.NewClient(hs.URL, adminToken), reg: reg}
}

// logs returns what the server logged so far.
func (e *env) logs() string {
	e.t.Helper()
	b, err := os.ReadFile(e.logFile)
	if err != nil {
		e.t.Fatal(err)
	}
	return string(b)
}

// reply is an answer read in full.
type reply struct {
	status int
	header http.Header
	body   []byte
}

// apiError decodes the body as the error every non-2xx answer carries.
func (r reply) apiError(t *testing.T) api.Error {
	t.Helper()
	var e api.Error
	if err := json.Unmarshal(r.body, &e); err != nil || e.Message == "" {
		t.Fatalf("status %d: body %q is not an error body (%v)", r.status, r.body, err)
	}
	return e
}

func (r reply) decode(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("status %d: decode %q: %v", r.status, r.body, err)
	}
}

// call sends a request with token as bearer ("" for none); body is JSON unless it is []byte.
func (e *env) call(method, path, token string, body any) reply {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		rd = bytes.NewReader(b)
	case string:
		rd = strings.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			e.t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequestWithContext(e.t.Context(), method, e.url+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return e.send(req)
}

func (e *env) send(req *http.Request) reply {
	e.t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return reply{status: resp.StatusCode, header: resp.Header, body: b}
}

// want fails the test unless r has status.
func want(t *testing.T, r reply, status int) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d; body %s", r.status, status, r.body)
	}
}

// wantError checks an error answer: its status, the field it names, and words its message holds.
func wantError(t *testing.T, r reply, status int, field string, words ...string) api.Error {
	t.Helper()
	want(t, r, status)
	e := r.apiError(t)
	if e.Field != field {
		t.Errorf("field = %q, want %q (message %q)", e.Field, field, e.Message)
	}
	for _, w := range words {
		if !strings.Contains(e.Message, w) {
			t.Errorf("message %q does not say %q", e.Message, w)
		}
	}
	return e
}

// agent is a host speaking the agent protocol by hand.
type agent struct {
	e          *env
	name       string
	id         string
	credential string
}

func (e *env) register(name string, tags map[string]string) *agent {
	e.t.Helper()
	r := e.call(http.MethodPost, api.PathAgent+"/register", enrollToken, api.Register{Name: name, Tags: tags})
	want(e.t, r, http.StatusCreated)
	var out api.Registered
	r.decode(e.t, &out)
	return &agent{e: e, name: name, id: out.Instance, credential: out.Credential}
}

// next polls for a command, waiting at most wait; nil when there is none.
func (a *agent) next(wait time.Duration) *api.Command {
	a.e.t.Helper()
	r := a.e.call(http.MethodGet, api.PathAgent+"/commands/next?wait="+wait.String(), a.credential, nil)
	if r.status == http.StatusNoContent {
		return nil
	}
	want(a.e.t, r, http.StatusOK)
	var c api.Command
	r.decode(a.e.t, &c)
	return &c
}

func (a *agent) report(cmdID, status string) reply {
	a.e.t.Helper()
	now := time.Now().UTC()
	return a.e.call(http.MethodPost, api.PathAgent+"/commands/"+cmdID+"/result", a.credential,
		api.Result{Status: status, StartTime: now, EndTime: now})
}

// runUntilFinished answers every command the host gets with status until the deployment ends,
// and returns it.
func (a *agent) runUntilFinished(deploymentID, status string) api.Deployment {
	a.e.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		d, err := a.e.admin.GetDeployment(a.e.t.Context(), deploymentID)
		if err != nil {
			a.e.t.Fatal(err)
		}
		switch d.Status {
		case "Succeeded", "Failed", "Stopped":
			return d
		}
		if c := a.next(100 * time.Millisecond); c != nil {
			want(a.e.t, a.report(c.ID, status), http.StatusNoContent)
		}
	}
	a.e.t.Fatalf("deployment %s did not finish in time", deploymentID)
	return api.Deployment{}
}

// randomText is n characters that do not compress.
func randomText(n int) string {
	b := make([]byte, n/2)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// sampleSpec is a valid server AppSpec with one hook.
const sampleSpec = "version: 0.0\nos: linux\nfiles:\n  - source: /\n    destination: /srv/app\nhooks:\n  ApplicationStart:\n    - location: start.sh\n"

// bundleOf packs files (name → content) as a tgz the way the CLI does.
func bundleOf(t *testing.T, files map[string]string) []byte {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	var buf bytes.Buffer
	if _, err := bundle.Build(t.Context(), &buf, dir, bundle.FormatTgz, bundle.BuildOptions{}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func (e *env) upload(app string, data []byte) reply {
	e.t.Helper()
	return e.call(http.MethodPost, api.PathAPI+"/applications/"+app+"/revisions", adminToken, data)
}

// blobFiles lists the files under the bundle store, temporary files included.
func (e *env) blobFiles() []string {
	e.t.Helper()
	var out []string
	err := filepath.WalkDir(e.blobDir, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			out = append(out, p)
		}
		return err
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return out
}

// fleet makes an application "app", a group "web" of hosts tagged role=web, and uploads a
// revision; it returns the revision's digest.
func (e *env) fleet() string {
	e.t.Helper()
	ctx := e.t.Context()
	if _, err := e.admin.CreateApplication(ctx, api.Application{Name: "app"}); err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.admin.CreateGroup(ctx, api.DeploymentGroup{Application: "app", Name: "web",
		TagGroups: [][]api.TagFilter{{{Key: "role", Value: "web", Type: "KEY_AND_VALUE"}}}}); err != nil {
		e.t.Fatal(err)
	}
	r := e.upload("app", bundleOf(e.t, map[string]string{"appspec.yml": sampleSpec, "start.sh": "#!/bin/sh\n"}))
	want(e.t, r, http.StatusCreated)
	var rev api.Revision
	r.decode(e.t, &rev)
	return rev.Digest
}

func (e *env) deploy(digest string) api.Deployment {
	e.t.Helper()
	d, err := e.admin.CreateDeployment(e.t.Context(), api.CreateDeployment{Application: "app", Group: "web", Revision: digest})
	if err != nil {
		e.t.Fatal(err)
	}
	return d
}
