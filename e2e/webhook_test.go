package e2e

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-github/v60/github"

	"github.com/slipway-deploy/slipway/internal/api"
	"github.com/slipway-deploy/slipway/internal/bundle"
	"github.com/slipway-deploy/slipway/internal/githubapp/githubtest"
)

// The repository, GitHub Deployment and commit of the real deployment payload
// (shared/corpus/webhooks/deployment/with-installation.payload.json).
const (
	ghRepo       = "Codertocat/Hello-World"
	ghRepoID     = 186853002
	ghDeployment = 145988746
	ghSHA        = "f95f852bd8fca8fcc58a9a2d6c842781e32a215e"
	ghSecret     = "e2e-webhook-secret-0123456789"
	ghPublicURL  = "https://slipway.example.com"
)

// githubFleet is a real slipway-server configured as a GitHub App against a GitHub stand-in, two
// real agents, and group hello/prod linked to the corpus repository's production environment.
// The stand-in serves the repository's tarball at the payload's commit.
type githubFleet struct {
	s      *server
	gh     *githubtest.Server
	agents []*agent
}

func newGitHubFleet(t *testing.T) githubFleet {
	t.Helper()
	gh := githubtest.New(t)
	gh.AddRepo(ghRepo, ghRepoID, 1) // installation 1, as the payload says
	gh.AddDeployment(ghRepo, github.Deployment{ID: github.Int64(ghDeployment), SHA: github.String(ghSHA), Ref: github.String("master"), Environment: github.String("production")})
	gh.AddTarball(ghRepo, ghSHA, repoTarball(t))
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "app.pem")
	writeFile(t, keyFile, string(gh.Key), 0o600)
	config := filepath.Join(dir, "slipway.yml")
	writeFile(t, config, "github:\n  check_run_interval: 1s\n", 0o600)
	// Secrets reach the server through its environment, as in production.
	t.Setenv("SLIPWAY_GITHUB_WEBHOOK_SECRET", ghSecret)
	s := startServer(t, "--config", config, "--public-url", ghPublicURL, "--github-api-url", gh.URL,
		"--github-app-id", strconv.FormatInt(gh.AppID, 10), "--github-private-key-file", keyFile)
	f := githubFleet{s: s, gh: gh}
	for _, name := range []string{"web-1", "web-2"} {
		f.agents = append(f.agents, startAgent(t, s, name, "role=web"))
	}
	waitInstances(t, s, 2)
	ctx := context.Background()
	c := s.client()
	if _, err := c.CreateApplication(ctx, api.Application{Name: "hello"}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateGroup(ctx, api.DeploymentGroup{
		Application: "hello", Name: "prod", Environment: "production", DeploymentConfig: "CodeDeployDefault.OneAtATime",
		TagGroups: [][]api.TagFilter{{{Key: "role", Value: "web", Type: "KEY_AND_VALUE"}}},
		GitHub:    &api.GitHubLink{Repository: ghRepo, RepositoryID: ghRepoID},
	}); err != nil {
		t.Fatal(err)
	}
	return f
}

// repoTarball is the repository at ghSHA as GitHub's tarball endpoint serves it: a tgz with one
// leading directory. Its hook records the commit it was deployed from.
func repoTarball(t *testing.T) []byte {
	t.Helper()
	dir := t.TempDir()
	root := filepath.Join(dir, "Codertocat-Hello-World-f95f852")
	writeFile(t, filepath.Join(root, "appspec.yml"), "version: 0.0\nos: linux\nfiles:\n  - source: web\n    destination: /srv/app\n"+
		"hooks:\n  AfterInstall:\n    - location: scripts/commit.sh\n      timeout: 60\n", 0o644)
	writeFile(t, filepath.Join(root, "scripts", "commit.sh"), "#!/bin/sh\necho \"$BUNDLE_COMMIT\" > \"$SLIPWAY_INSTALL_PREFIX/commit\"\n", 0o755)
	writeFile(t, filepath.Join(root, "web", "index.html"), "hello from the repository\n", 0o644)
	var buf bytes.Buffer
	if _, err := bundle.Build(context.Background(), &buf, dir, bundle.FormatTgz, bundle.BuildOptions{}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// realPayload is the corpus's deployment payload, byte for byte.
func realPayload(t *testing.T) []byte {
	t.Helper()
	dir := filepath.Join("..", "..")
	for range 3 {
		b, err := os.ReadFile(filepath.Join(dir, "shared", "corpus", "webhooks", "deployment", "with-installation.payload.json"))
		if err == nil {
			return b
		}
		dir = filepath.Join(dir, "..")
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("webhook corpus missing: CI must check out shared/ beside the repository")
	}
	t.Skip("webhook corpus (shared/corpus/webhooks beside the repository) not found")
	return nil
}

// deliver posts a signed deployment webhook to the server and returns the HTTP status.
func (f githubFleet) deliver(t *testing.T, id string, body []byte) int {
	t.Helper()
	return deliverDeployment(t, f.s, id, body)
}

// deliverDeployment posts a deployment webhook to s as GitHub does, signed with ghSecret, and
// returns the HTTP status.
func deliverDeployment(t *testing.T, s *server, id string, body []byte) int {
	t.Helper()
	mac := hmac.New(sha256.New, []byte(ghSecret))
	mac.Write(body)
	req, err := http.NewRequest(http.MethodPost, s.URL+"/webhooks/github", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-GitHub-Event", "deployment")
	req.Header.Set("X-GitHub-Delivery", id)
	req.Header.Set("X-Hub-Signature-256", "sha256="+hex.EncodeToString(mac.Sum(nil)))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// succeeded waits for the one deployment the GitHub Deployment made to succeed.
func (f githubFleet) succeeded(t *testing.T) api.Deployment {
	t.Helper()
	d := waitFor(t, 90*time.Second, "the deployment to succeed", func() (api.Deployment, bool) {
		list, err := f.s.client().ListDeployments(context.Background(), api.DeploymentFilter{})
		if err != nil || len(list) == 0 {
			return api.Deployment{}, false
		}
		return list[0], finished(list[0].Status)
	})
	if d.Status != "Succeeded" || d.Creator != "github" {
		t.Fatalf("deployment %s: %s by %s, want Succeeded by github", d.ID, d.Status, d.Creator)
	}
	return d
}

// reported waits for GitHub to hear the whole story and checks it: exactly queued, in_progress,
// success on the GitHub Deployment, one check run that ended in success after progress updates,
// and no request GitHub would have refused.
func (f githubFleet) reported(t *testing.T, d api.Deployment) {
	t.Helper()
	states := waitFor(t, 30*time.Second, "the success status", func() ([]string, bool) {
		s := f.gh.StatusStates(ghDeployment)
		return s, slices.Contains(s, "success")
	})
	if !slices.Equal(states, []string{"queued", "in_progress", "success"}) {
		t.Errorf("statuses: got %v, want [queued in_progress success]", states)
	}
	runs := waitFor(t, 30*time.Second, "the check run to complete", func() ([]githubtest.CheckRun, bool) {
		runs := f.gh.CheckRuns(ghRepo)
		return runs, len(runs) > 0 && runs[0].GetConclusion() != ""
	})
	if len(runs) != 1 || runs[0].GetExternalID() != d.ID || runs[0].GetConclusion() != "success" || runs[0].GetName() != "hello/prod" {
		t.Errorf("check runs: %d, first %s/%s/%s", len(runs), runs[0].GetName(), runs[0].GetExternalID(), runs[0].GetConclusion())
	}
	if runs[0].Writes < 2 {
		t.Errorf("check run written %d times, want a create and at least one update", runs[0].Writes)
	}
	for _, h := range []string{"web-1", "web-2"} {
		if !strings.Contains(runs[0].GetOutput().GetSummary(), "| "+h+" | Succeeded |") {
			t.Errorf("check run summary lacks %s:\n%s", h, runs[0].GetOutput().GetSummary())
		}
	}
	if v := f.gh.Violations(); len(v) > 0 {
		t.Errorf("requests GitHub would refuse: %v", v)
	}
	// The log_url is the server's page for the deployment.
	sts := f.gh.Statuses(ghDeployment)
	u, err := url.Parse(sts[len(sts)-1].GetLogURL())
	if err != nil || !strings.HasPrefix(u.String(), ghPublicURL) {
		t.Fatalf("log_url %q", sts[len(sts)-1].GetLogURL())
	}
	resp, err := http.Get(f.s.URL + u.Path)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(page), "web-2") || !strings.Contains(string(page), "AfterInstall") {
		t.Errorf("deployment page %s: %s", u.Path, resp.Status)
	}
	// Hooks on every host saw the commit.
	for _, a := range f.agents {
		if got := strings.TrimSpace(readFile(t, filepath.Join(a.Prefix, "commit"))); got != ghSHA {
			t.Errorf("%s: BUNDLE_COMMIT %q, want %s", a.Name, got, ghSHA)
		}
	}
}

func TestGitHub_DeploymentWebhookDeploysOnAgentsAndReports(t *testing.T) {
	f := newGitHubFleet(t)
	if code := f.deliver(t, "e2e-delivery-1", realPayload(t)); code != http.StatusAccepted {
		t.Fatalf("webhook: got %d, want 202", code)
	}
	d := f.succeeded(t)
	if d.Overview.Succeeded != 2 {
		t.Errorf("overview %+v, want 2 hosts succeeded", d.Overview)
	}
	f.reported(t, d)
}

func TestGitHub_DeliveryAcceptedBeforeAKillIsProcessedOnceAfterRestart(t *testing.T) {
	f := newGitHubFleet(t)
	// Processing stops at the tarball fetch until the server has been killed.
	arrived, release := f.gh.Hold("/repos/" + ghRepo + "/tarball/")
	if code := f.deliver(t, "e2e-delivery-2", realPayload(t)); code != http.StatusAccepted {
		t.Fatalf("webhook: got %d, want 202", code)
	}
	select {
	case <-arrived:
	case <-time.After(30 * time.Second):
		t.Fatal("the delivery was not processed")
	}
	f.s.p.stop(syscall.SIGKILL)
	release()
	f.s.resume()

	d := f.succeeded(t)
	f.reported(t, d)
	list, err := f.s.client().ListDeployments(context.Background(), api.DeploymentFilter{})
	if err != nil || len(list) != 1 {
		t.Errorf("deployments: got %d %v, want exactly 1", len(list), err)
	}
	if n := len(f.gh.Calls("GET /repos/" + ghRepo + "/tarball/")); n != 2 {
		t.Errorf("tarball requested %d times, want 2 (cut short by the kill, then after the restart)", n)
	}
	// GitHub redelivering it now changes nothing.
	if code := f.deliver(t, "e2e-delivery-2", realPayload(t)); code != http.StatusOK {
		t.Errorf("redelivery: got %d, want 200", code)
	}
}
