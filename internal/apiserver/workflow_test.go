package apiserver

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/slipway-deploy/slipway/internal/api"
	"github.com/slipway-deploy/slipway/internal/auth"
	"github.com/slipway-deploy/slipway/internal/store"
)

// fakeVerifier accepts the tokens it was given, as the workflows named, and refuses the rest
// with the error an auth.Verifier would return. Token strings have a JWT's three parts.
type fakeVerifier map[string]auth.Workflow

func (f fakeVerifier) Verify(_ context.Context, raw string) (auth.Workflow, error) {
	if w, ok := f[raw]; ok {
		return w, nil
	}
	return auth.Workflow{}, fmt.Errorf("%w: it expired at 2026-01-01T00:00:00Z", auth.ErrTokenInvalid)
}

// Tokens of three workflows: acme/shop on main, acme/shop on a branch, and another repository.
const (
	tokMain   = "wf.main.token"
	tokBranch = "wf.branch.token"
	tokOther  = "wf.other.token"
	tokBad    = "wf.expired.token"
)

// The commits the main and topic workflows run on.
const (
	mainSHA  = "f95f852bd8fca8fcc58a9a2d6c842781e32a215e"
	topicSHA = "0123456789abcdef0123456789abcdef01234567"
)

type workflowFixture struct {
	*env
	digest string // a revision of shop, uploaded with the admin token
}

// newWorkflowFixture runs the API accepting the three workflows' tokens, with application shop
// and groups staging (linked to acme/shop, any ref), prod (linked, main only, environment
// production) and unlinked (no repository).
func newWorkflowFixture(t *testing.T) *workflowFixture {
	t.Helper()
	shop := auth.Workflow{Repository: "acme/shop", RepositoryID: 4242, Ref: "refs/heads/main", Environment: "production", SHA: mainSHA}
	branch := shop
	branch.Ref, branch.Environment, branch.SHA = "refs/heads/topic", "", topicSHA
	e := newEnv(t, func(c *Config) {
		c.Workflows = fakeVerifier{tokMain: shop, tokBranch: branch, tokOther: {Repository: "evil/fork", RepositoryID: 99, Ref: "refs/heads/main"}}
	})
	ctx := t.Context()
	if _, err := e.admin.CreateApplication(ctx, api.Application{Name: "shop"}); err != nil {
		t.Fatal(err)
	}
	link := &api.GitHubLink{Repository: "acme/shop", RepositoryID: 4242}
	web := [][]api.TagFilter{{{Key: "role", Value: "web", Type: "KEY_AND_VALUE"}}}
	for _, g := range []api.DeploymentGroup{
		{Name: "staging", TagGroups: web, GitHub: link},
		{Name: "prod", TagGroups: web, Environment: "production",
			GitHub: &api.GitHubLink{Repository: "acme/shop", RepositoryID: 4242, AllowedRefs: []string{"refs/heads/main"}}},
		{Name: "unlinked", TagGroups: web},
	} {
		g.Application = "shop"
		if _, err := e.admin.CreateGroup(ctx, g); err != nil {
			t.Fatal(err)
		}
	}
	f := &workflowFixture{env: e}
	digest, err := f.uploadAs(e.admin)
	if err != nil {
		t.Fatal(err)
	}
	f.digest = digest
	return f
}

func (f *workflowFixture) as(token string) *api.Client { return api.NewClient(f.url, token) }

// uploadAs uploads a valid revision of shop with c's credential.
func (f *workflowFixture) uploadAs(c *api.Client) (string, error) {
	f.t.Helper()
	b := bundleOf(f.t, map[string]string{"appspec.yml": sampleSpec, "start.sh": "#!/bin/sh\n"})
	rev, err := c.UploadRevision(f.t.Context(), "shop", bytes.NewReader(b), int64(len(b)), "", "")
	return rev.Digest, err
}

// wantRefused checks an API error's status and that its message says why.
func wantRefused(t *testing.T, what string, err error, status int, says string) {
	t.Helper()
	if got := api.StatusOf(err); got != status {
		t.Errorf("%s: status %d (%v), want %d", what, got, err, status)
		return
	}
	if !strings.Contains(err.Error(), says) {
		t.Errorf("%s: %q does not say %q", what, err, says)
	}
}

func TestWorkflow_MayDeployItsGroupsOnly(t *testing.T) {
	f := newWorkflowFixture(t)
	ctx := t.Context()
	wf := f.as(tokMain)

	digest, err := f.uploadAs(wf)
	if err != nil {
		t.Fatalf("workflow upload: %v", err)
	}
	g, err := wf.GetGroup(ctx, "shop", "prod")
	if err != nil || g.Environment != "production" {
		t.Fatalf("workflow reads its group: %+v, %v", g, err)
	}
	d, err := wf.CreateDeployment(ctx, api.CreateDeployment{Application: "shop", Group: "prod", Revision: digest,
		GitHub: &api.GitHubDeployment{Repository: "acme/shop", RepositoryID: 4242, DeploymentID: 1, SHA: "f95f852bd8fca8fcc58a9a2d6c842781e32a215e"}})
	if err != nil {
		t.Fatalf("workflow deploys prod: %v", err)
	}
	if _, err := wf.GetDeployment(ctx, d.ID); err != nil {
		t.Errorf("workflow reads its deployment: %v", err)
	}
	if _, err := wf.StopDeployment(ctx, d.ID, false); err != nil {
		t.Errorf("workflow stops its deployment: %v", err)
	}

	_, err = wf.CreateDeployment(ctx, api.CreateDeployment{Application: "shop", Group: "unlinked", Revision: digest})
	wantRefused(t, "deploy to an unlinked group", err, http.StatusForbidden, "group shop/unlinked is not linked to a GitHub repository")
	_, err = wf.CreateDeployment(ctx, api.CreateDeployment{Application: "shop", Group: "staging", Revision: digest,
		GitHub: &api.GitHubDeployment{Repository: "evil/fork", RepositoryID: 99, DeploymentID: 2}})
	wantRefused(t, "report to another repository", err, http.StatusForbidden, "may only report to its own repository (id 4242)")

	// Administration stays with the admin token, including routes a workflow might guess.
	_, err = wf.CreateApplication(ctx, api.Application{Name: "mine"})
	wantRefused(t, "create an application", err, http.StatusForbidden, "this call needs the admin token")
	_, err = wf.UpdateGroup(ctx, api.DeploymentGroup{Application: "shop", Name: "prod", TagGroups: [][]api.TagFilter{{{Key: "k", Type: "KEY_ONLY"}}}})
	wantRefused(t, "update a group", err, http.StatusForbidden, "this call needs the admin token")
	_, err = wf.ListInstances(ctx)
	wantRefused(t, "list instances", err, http.StatusForbidden, "this call needs the admin token")
	_, err = wf.SetInstanceTags(ctx, "web-1", map[string]string{"role": "web"})
	wantRefused(t, "tag an instance", err, http.StatusForbidden, "this call needs the admin token")
	_, err = wf.Rollback(ctx, "shop", "prod")
	wantRefused(t, "roll back", err, http.StatusForbidden, "this call needs the admin token")
}

func TestWorkflow_PolicyRefusals(t *testing.T) {
	f := newWorkflowFixture(t)
	ctx := t.Context()
	digest := f.digest
	branch, other := f.as(tokBranch), f.as(tokOther)

	_, err := branch.CreateDeployment(ctx, api.CreateDeployment{Application: "shop", Group: "prod", Revision: digest})
	wantRefused(t, "branch deploys prod", err, http.StatusForbidden, "may be deployed from refs refs/heads/main; this workflow runs on refs/heads/topic")
	if _, err := branch.CreateDeployment(ctx, api.CreateDeployment{Application: "shop", Group: "staging", Revision: digest}); err != nil {
		t.Errorf("branch deploys staging (any ref, no environment): %v", err)
	}

	_, err = other.GetGroup(ctx, "shop", "staging")
	wantRefused(t, "other repository reads a group", err, http.StatusForbidden, "this token is from evil/fork (id 99)")
	_, err = f.uploadAs(other)
	wantRefused(t, "other repository uploads", err, http.StatusForbidden, "no group of application shop accepts this workflow")
	list, err := f.admin.ListDeployments(ctx, api.DeploymentFilter{Application: "shop"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = other.GetDeployment(ctx, list[0].ID)
	wantRefused(t, "other repository reads a deployment", err, http.StatusForbidden, "accepts workflows of repository acme/shop (id 4242)")
	_, err = other.StopDeployment(ctx, list[0].ID, false)
	wantRefused(t, "other repository stops a deployment", err, http.StatusForbidden, "accepts workflows of repository acme/shop (id 4242)")

	_, err = f.as(tokBad).GetGroup(ctx, "shop", "staging")
	wantRefused(t, "invalid token", err, http.StatusUnauthorized, "GitHub Actions token refused: it expired at")
	_, err = f.as("not-a-jwt-and-not-the-admin-token").GetGroup(ctx, "shop", "staging")
	wantRefused(t, "unknown static token", err, http.StatusUnauthorized, "missing or invalid bearer token")
}

// A workflow names only its own commit on an upload: the commit is how a GitHub Deployment or a
// /deploy of that commit to a stricter group (prod: main only, environment production) finds its
// bundle, so a branch that may deploy staging must not plant a bundle under main's commit.
func TestWorkflow_UploadNamesOnlyItsOwnCommit(t *testing.T) {
	f := newWorkflowFixture(t)
	ctx := t.Context()
	b := bundleOf(t, map[string]string{"appspec.yml": sampleSpec, "evil.sh": "#!/bin/sh\n"})
	upload := func(c *api.Client, commit string) (api.Revision, error) {
		return c.UploadRevision(ctx, "shop", bytes.NewReader(b), int64(len(b)), "", commit)
	}

	_, err := upload(f.as(tokBranch), mainSHA)
	wantRefused(t, "topic workflow names main's commit", err, http.StatusForbidden,
		`names commit "`+mainSHA+`", and this workflow runs on commit "`+topicSHA+`"`)
	if rev, err := f.store.RevisionForCommit(ctx, "shop", mainSHA); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("after the refusal main's commit has revision %+v (%v), want none", rev, err)
	}
	if _, err := upload(f.as(tokBranch), topicSHA); err != nil {
		t.Errorf("topic workflow names its own commit: %v", err)
	}
	if _, err := f.store.RevisionForCommit(ctx, "shop", topicSHA); err != nil {
		t.Errorf("the topic commit's revision: %v", err)
	}
	if _, err := upload(f.as(tokMain), ""); err != nil {
		t.Errorf("workflow names no commit: %v", err)
	}
	// The admin token is trusted to say where a bundle comes from.
	if _, err := upload(f.admin, mainSHA); err != nil {
		t.Errorf("admin names a commit: %v", err)
	}
}

// A GitHub Deployment runs one Slipway deployment: naming one that already runs for another
// group neither reads that deployment nor passes for it.
func TestWorkflow_GitHubDeploymentOfAnotherGroupIsAConflict(t *testing.T) {
	f := newWorkflowFixture(t)
	ctx := t.Context()
	gh := func(id int64) *api.GitHubDeployment {
		return &api.GitHubDeployment{Repository: "acme/shop", RepositoryID: 4242, DeploymentID: id, SHA: mainSHA}
	}
	prod, err := f.as(tokMain).CreateDeployment(ctx, api.CreateDeployment{Application: "shop", Group: "prod", Revision: f.digest, GitHub: gh(77)})
	if err != nil {
		t.Fatal(err)
	}
	got, err := f.as(tokBranch).CreateDeployment(ctx, api.CreateDeployment{Application: "shop", Group: "staging", Revision: f.digest, GitHub: gh(77)})
	wantRefused(t, "staging names prod's GitHub Deployment", err, http.StatusConflict, "already runs as a deployment of another group")
	if got.ID != "" {
		t.Errorf("the refusal returned deployment %s", got.ID)
	}
	again, err := f.as(tokMain).CreateDeployment(ctx, api.CreateDeployment{Application: "shop", Group: "prod", Revision: f.digest, GitHub: gh(77)})
	if err != nil || again.ID != prod.ID {
		t.Errorf("the same request again: %s, %v; want %s", again.ID, err, prod.ID)
	}
}
