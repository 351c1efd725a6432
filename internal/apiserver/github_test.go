package apiserver_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
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
	"github.com/slipway-deploy/slipway/internal/apiserver"
	"github.com/slipway-deploy/slipway/internal/blob"
	"github.com/slipway-deploy/slipway/internal/bundle"
	"github.com/slipway-deploy/slipway/internal/orchestrator"
	"github.com/slipway-deploy/slipway/internal/store"
)

const (
	adminToken  = "admin-token-0123456789"
	enrollToken = "enroll-token-0123456789"
	commit      = "f95f852bd8fca8fcc58a9a2d6c842781e32a215e"
)

// harness is a server over a real SQLite store and blob directory, behind httptest.
type harness struct {
	URL    string
	client *api.Client
}

func newHarness(t *testing.T) harness {
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
	log := slog.New(slog.DiscardHandler)
	orch := orchestrator.New(st, log, nil)
	if err := orch.Load(ctx); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = orch.Run(ctx)
	}()
	reg := prometheus.NewRegistry()
	srv := apiserver.New(apiserver.Config{AdminToken: adminToken, EnrollToken: enrollToken, Lease: time.Minute, MaxBundleBytes: 1 << 20},
		st, blobs, orch, log, reg)
	ts := httptest.NewServer(srv.Handler(reg))
	t.Cleanup(func() {
		ts.Close()
		cancel()
		<-done
		_ = st.Close()
	})
	return harness{URL: ts.URL, client: api.NewClient(ts.URL, adminToken)}
}

// linkedGroup creates application shop and group prod, linked to repository octo/shop (42) and
// environment production, and registers one host in it.
func (h harness) linkedGroup(t *testing.T) *api.Client {
	t.Helper()
	ctx := context.Background()
	if _, err := h.client.CreateApplication(ctx, api.Application{Name: "shop"}); err != nil {
		t.Fatal(err)
	}
	_, err := h.client.CreateGroup(ctx, api.DeploymentGroup{
		Application: "shop", Name: "prod", Environment: "production",
		TagGroups: [][]api.TagFilter{{{Key: "role", Value: "web", Type: "KEY_AND_VALUE"}}},
		GitHub:    &api.GitHubLink{Repository: "octo/shop", RepositoryID: 42, EnvironmentURL: "https://shop.example.com"},
	})
	if err != nil {
		t.Fatal(err)
	}
	reg, err := api.NewClient(h.URL, "").Register(ctx, enrollToken, api.Register{Name: "web-1", Tags: map[string]string{"role": "web"}})
	if err != nil {
		t.Fatal(err)
	}
	return api.NewClient(h.URL, reg.Credential)
}

// upload sends a small bundle, naming the commit it was built from when commit is not empty.
func (h harness) upload(t *testing.T, commit string) api.Revision {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "appspec.yml"), []byte("version: 0.0\nos: linux\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := bundle.Build(context.Background(), &buf, dir, bundle.FormatTgz, bundle.BuildOptions{}); err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest(http.MethodPost, h.URL+api.PathAPI+"/applications/shop/revisions", &buf)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+adminToken)
	if commit != "" {
		req.Header.Set("X-Slipway-Commit", commit)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("upload: %s %s", resp.Status, body)
	}
	var out api.Revision
	if err := json.Unmarshal(body, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// createRaw posts a deployment and returns it with the HTTP status, which the client hides.
func (h harness) createRaw(t *testing.T, in api.CreateDeployment) (api.Deployment, int) {
	t.Helper()
	b, _ := json.Marshal(in)
	req, _ := http.NewRequest(http.MethodPost, h.URL+api.PathAPI+"/deployments", bytes.NewReader(b))
	req.Header.Set("Authorization", "Bearer "+adminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out api.Deployment
	body, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(body, &out); err != nil {
		t.Fatalf("create deployment: %s %s", resp.Status, body)
	}
	return out, resp.StatusCode
}

func TestCreateDeployment_GitHubDeploymentIsCreatedOnce(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t)
	agent := h.linkedGroup(t)
	rev := h.upload(t, commit)
	in := api.CreateDeployment{
		Application: "shop", Group: "prod", Revision: rev.Digest,
		GitHub: &api.GitHubDeployment{Repository: "octo/shop", RepositoryID: 42, DeploymentID: 145988746, SHA: commit, Ref: "main", Environment: "production"},
	}
	first, status := h.createRaw(t, in)
	if status != http.StatusCreated || first.Creator != "github" {
		t.Fatalf("first create: got %d creator %q, want 201 and creator github", status, first.Creator)
	}
	again, status := h.createRaw(t, in)
	if status != http.StatusOK || again.ID != first.ID {
		t.Errorf("second create for the same GitHub Deployment: got %d %s, want 200 and %s", status, again.ID, first.ID)
	}
	list, err := h.client.ListDeployments(ctx, api.DeploymentFilter{})
	if err != nil || len(list) != 1 {
		t.Errorf("deployments: got %d %v, want 1", len(list), err)
	}

	// Hooks see the commit the revision was built from.
	cmd, err := agent.NextCommand(ctx, time.Second)
	if err != nil || cmd == nil {
		t.Fatalf("NextCommand: %v %v", cmd, err)
	}
	if got := cmd.Bundle.Env["BUNDLE_COMMIT"]; got != commit {
		t.Errorf("BUNDLE_COMMIT: got %q, want %q", got, commit)
	}
}

func TestCreateDeployment_GitHubDeploymentMustMatchTheGroup(t *testing.T) {
	h := newHarness(t)
	h.linkedGroup(t)
	rev := h.upload(t, "")
	good := api.GitHubDeployment{Repository: "octo/shop", RepositoryID: 42, DeploymentID: 1, SHA: commit, Environment: "production"}
	for _, tc := range []struct {
		name  string
		edit  func(*api.GitHubDeployment)
		field string
	}{
		{"another repository", func(g *api.GitHubDeployment) { g.RepositoryID = 43; g.Repository = "octo/evil" }, "github.repository_id"},
		{"another environment", func(g *api.GitHubDeployment) { g.Environment = "staging" }, "github.environment"},
		{"a branch for a sha", func(g *api.GitHubDeployment) { g.SHA = "main" }, "github.sha"},
		{"no deployment id", func(g *api.GitHubDeployment) { g.DeploymentID = 0 }, "github.deployment_id"},
		{"no owner", func(g *api.GitHubDeployment) { g.Repository = "shop" }, "github.repository"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			gh := good
			tc.edit(&gh)
			_, err := h.client.CreateDeployment(context.Background(), api.CreateDeployment{Application: "shop", Group: "prod", Revision: rev.Digest, GitHub: &gh})
			var ae *api.Error
			if !errors.As(err, &ae) || ae.Status != http.StatusBadRequest || ae.Field != tc.field {
				t.Errorf("got %v, want 400 naming %s", err, tc.field)
			}
		})
	}
}

func TestUploadRevision_RefusesABadCommitOrDirectory(t *testing.T) {
	h := newHarness(t)
	h.linkedGroup(t)
	for _, tc := range []struct{ header, value, want string }{
		{"X-Slipway-Commit", "main", "commit"},
		{"X-Slipway-Directory", "/srv/deploy", "relative to the repository's root"},
		{"X-Slipway-Directory", "../elsewhere", "relative to the repository's root"},
		{"X-Slipway-Directory", "deploy/../../elsewhere", "relative to the repository's root"},
		{"X-Slipway-Directory", `deploy\web`, "relative to the repository's root"},
	} {
		req, _ := http.NewRequest(http.MethodPost, h.URL+api.PathAPI+"/applications/shop/revisions", strings.NewReader("not an archive"))
		req.Header.Set("Authorization", "Bearer "+adminToken)
		req.Header.Set(tc.header, tc.value)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), tc.want) {
			t.Errorf("%s: %s: got %s %s, want 400 saying %q", tc.header, tc.value, resp.Status, body, tc.want)
		}
	}
}

func TestDeploymentPage(t *testing.T) {
	h := newHarness(t)
	h.linkedGroup(t)
	rev := h.upload(t, "")
	d, err := h.client.CreateDeployment(context.Background(), api.CreateDeployment{
		Application: "shop", Group: "prod", Revision: rev.Digest, Description: "<script>alert(1)</script>",
	})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get(h.URL + apiserver.PathDeploymentPage + d.ID)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	page := string(body)
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("page: %s %s", resp.Status, resp.Header.Get("Content-Type"))
	}
	for _, want := range []string{"shop/prod", d.ID, "web-1", "ApplicationStop", "&lt;script&gt;", `http-equiv="refresh"`} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if strings.Contains(page, "<script>") {
		t.Error("the description reached the page unescaped")
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") {
		t.Errorf("Content-Security-Policy: got %q", csp)
	}
	resp, err = http.Get(h.URL + apiserver.PathDeploymentPage + "d-nosuchdeployment")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("unknown deployment page: got %s, want 404", resp.Status)
	}
}
