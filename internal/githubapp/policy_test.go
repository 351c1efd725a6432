package githubapp_test

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/slipway-deploy/slipway/internal/api"
)

// allowRefs restricts a group to refs matching patterns.
func (e *env) allowRefs(app, name string, patterns ...string) {
	e.t.Helper()
	g, err := e.client.GetGroup(context.Background(), app, name)
	if err != nil {
		e.t.Fatal(err)
	}
	g.GitHub.AllowedRefs = patterns
	if _, err := e.client.UpdateGroup(context.Background(), g); err != nil {
		e.t.Fatal(err)
	}
}

func TestAllowedRefs_BindWebhooksAndComments(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	e.linkGroup("hello", "prod", "production", false)
	e.allowRefs("hello", "prod", "refs/heads/main")
	e.gh.AddTarball(corpusRepo, corpusSHA, tarball(t, "v1"))
	e.gh.SetPermission(corpusRepo, "Codertocat", "admin")
	e.startHost("web-1", nil)

	deliver := func(ghID int64, ref string) string {
		e.knownDeployment(ghID, corpusSHA, "production")
		body := derive(t, deploymentEvent(t, ghID, corpusSHA, map[string]any{}), func(m map[string]any) { obj(m, "deployment")["ref"] = ref })
		id := fmt.Sprintf("ref-%d", ghID)
		e.deliver("deployment", id, body)
		return e.delivery(id).Outcome
	}
	// The real payload's ref, master, is not main: refused, and GitHub is told why.
	if out := deliver(1201, "master"); !strings.HasPrefix(out, "refused") {
		t.Errorf("master: outcome %q", out)
	}
	if sts := e.gh.Statuses(1201); len(sts) != 1 || sts[0].GetState() != "error" || !strings.Contains(sts[0].GetDescription(), "refs/heads/main") {
		t.Errorf("master: statuses %+v", sts)
	}
	// A commit names no branch: left to the Action's OIDC-checked call, without a status.
	if out := deliver(1202, corpusSHA); !strings.HasPrefix(out, "ignored") {
		t.Errorf("commit: outcome %q", out)
	}
	if sts := e.gh.Statuses(1202); len(sts) != 0 {
		t.Errorf("commit: statuses %+v, want none", sts)
	}
	e.wantDeployments(0)
	if out := deliver(1203, "main"); !strings.HasPrefix(out, "created") {
		t.Errorf("main: outcome %q", out)
	}
	e.finished(e.deployments()[0].ID)

	// A pull request's branch is not main; a fork's "main" is not this repository's main.
	e.gh.AddTarball(corpusRepo, headSHA, tarball(t, "pr"))
	e.gh.AddPull(corpusRepo, prNumber, headSHA, "feature", "open", 0)
	if out := e.command(1301, "/deploy prod", "Codertocat"); !strings.Contains(out, "refs/heads/feature") {
		t.Errorf("feature branch: outcome %q", out)
	}
	e.gh.AddPull(corpusRepo, prNumber, headSHA, "main", "open", 999)
	// A fork's author could push between the comment and its handling: the commenter names the
	// commit reviewed, and a head that moved since is refused.
	if out := e.command(1302, "/deploy prod", "Codertocat"); !strings.Contains(out, "comes from a fork: name the commit you reviewed, `/deploy prod --commit "+headSHA[:7]+"`") {
		t.Errorf("fork without --commit: outcome %q", out)
	}
	if out := e.command(1303, "/deploy prod --commit 0000000", "Codertocat"); !strings.Contains(out, "the head of #1 is now `"+headSHA[:7]+"`, not `0000000`") {
		t.Errorf("fork with a stale --commit: outcome %q", out)
	}
	if out := e.command(1304, "/deploy prod --commit "+headSHA[:10], "Codertocat"); !strings.Contains(out, "refs/pull/1/head") {
		t.Errorf("fork: outcome %q", out)
	}
	e.wantDeployments(1)
	e.noViolations()
}

func TestReporter_AnnotationsAreBatchedFiftyPerRequest(t *testing.T) {
	t.Parallel()
	e := newCorpusEnv(t, envOptions{})
	const hosts = 56
	for i := range hosts {
		e.startHost(fmt.Sprintf("web-%02d", i), map[string]bool{"ApplicationStop": true})
	}
	e.deliver("deployment", "", readCorpus(t, "deployment/with-installation.payload.json"))
	run := waitFor(t, 60*time.Second, "every annotation", func() (int, bool) {
		runs := e.gh.CheckRuns(corpusRepo)
		if len(runs) != 1 {
			return 0, false
		}
		return len(runs[0].Annotations), len(runs[0].Annotations) >= hosts && runs[0].GetConclusion() != ""
	})
	if run != hosts {
		t.Errorf("annotations: got %d, want %d (one per failed hook)", run, hosts)
	}
	e.statesOf(corpusGHDep, "queued", "in_progress", "failure")
	// The stand-in refuses (and records) a request with more than 50.
	e.noViolations()
}

func TestReporter_AutoUpdateReportsUnderItsOwnGitHubDeployment(t *testing.T) {
	t.Parallel()
	e := newCorpusEnv(t, envOptions{})
	e.startHost("web-1", nil)
	e.deliver("deployment", "", readCorpus(t, "deployment/with-installation.payload.json"))
	e.statesOf(corpusGHDep, "queued", "in_progress", "success")

	// A host joins: the group's revision is brought to it by an auto-update, which GitHub hears
	// of at the same commit; it does not make the real deployment inactive.
	e.startHost("web-2", nil)
	auto := waitFor(t, 20*time.Second, "the auto-update to succeed", func() (api.Deployment, bool) {
		for _, d := range e.deployments() {
			if d.Creator == "autoUpdate" {
				return d, d.Status == "Succeeded"
			}
		}
		return api.Deployment{}, false
	})
	ghAuto := waitFor(t, 10*time.Second, "the auto-update's GitHub Deployment", func() (int64, bool) {
		for _, d := range e.gh.Deployments(corpusRepo) {
			if strings.Contains(string(d.Payload), auto.ID) {
				return d.GetID(), d.GetSHA() == corpusSHA && d.GetEnvironment() == "production"
			}
		}
		return 0, false
	})
	e.statesOf(ghAuto, "queued", "in_progress", "success")
	if s := e.gh.StatusStates(corpusGHDep); !slices.Equal(s, []string{"queued", "in_progress", "success"}) {
		t.Errorf("the deployment the auto-update caught a host up with: statuses %v", s)
	}
	e.noViolations()
}

func TestReporter_RetriesAStatusGitHubRefusedForAWhile(t *testing.T) {
	t.Parallel()
	e := newCorpusEnv(t, envOptions{})
	e.gh.Fail(http.MethodPost, fmt.Sprintf("/repos/%s/deployments/%d/statuses", corpusRepo, corpusGHDep), http.StatusServiceUnavailable, nil, "unavailable")
	e.startHost("web-1", nil)
	e.deliver("deployment", "", readCorpus(t, "deployment/with-installation.payload.json"))
	e.statesOf(corpusGHDep, "queued", "in_progress", "success")
	if !strings.Contains(e.logs.String(), "will retry") {
		t.Error("the refused status was not retried as such")
	}
	e.noViolations()
}

func TestReporter_MarksFinishedEffectsDoneAndGivesUpWhereTheAppIsNotInstalled(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	ctx := context.Background()
	if _, err := e.client.CreateApplication(ctx, api.Application{Name: "other"}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.client.CreateGroup(ctx, api.DeploymentGroup{
		Application: "other", Name: "prod", Environment: "production", DeploymentConfig: "CodeDeployDefault.AllAtOnce",
		TagGroups: [][]api.TagFilter{{{Key: "role", Value: "web", Type: "KEY_AND_VALUE"}}},
		GitHub:    &api.GitHubLink{Repository: "octo/uninstalled", RepositoryID: 77},
	}); err != nil {
		t.Fatal(err)
	}
	e.startHost("web-1", nil)
	rev := e.upload("other", tarball(t, "v1"), api.RevisionOrigin{Commit: corpusSHA})
	d, err := e.client.CreateDeployment(ctx, api.CreateDeployment{
		Application: "other", Group: "prod", Revision: rev,
		GitHub: &api.GitHubDeployment{Repository: "octo/uninstalled", RepositoryID: 77, DeploymentID: 5, SHA: corpusSHA, Environment: "production"},
	})
	if err != nil {
		t.Fatal(err)
	}
	e.finished(d.ID)
	waitFor(t, 10*time.Second, "the reporter to give up, saying why", func() (bool, bool) {
		return true, strings.Contains(e.logs.String(), "not installed on octo/uninstalled")
	})
	// Nothing is left pending in the outbox: the deployment is as reported as it can be.
	waitFor(t, 10*time.Second, "the Finished effect to be marked done", func() (int, bool) {
		pending, err := e.st.PendingEffects(ctx, 0)
		return len(pending), err == nil && len(pending) == 0
	})
	if n := len(e.gh.Calls("GET /repos/octo/uninstalled/installation")); n != 1 {
		t.Errorf("installation looked up %d times, want 1 (a missing App is not retried)", n)
	}
}

// A group limited to some refs runs a GitHub Deployment of an allowed ref only with a bundle of
// that Deployment's commit: the payload may not name a bundle built elsewhere (a branch's upload),
// or the ref check would decide nothing about what is installed.
func TestAllowedRefs_NamedRevisionMustBeOfTheDeploymentsCommit(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	e.linkGroup("hello", "prod", "production", false)
	e.allowRefs("hello", "prod", "refs/heads/main")
	e.startHost("web-1", nil)
	branchBundle := e.upload("hello", tarball(t, "from a branch"), api.RevisionOrigin{Commit: otherSHA})
	mainBundle := e.upload("hello", tarball(t, "from main"), api.RevisionOrigin{Commit: corpusSHA})

	deliver := func(ghID int64, revision string) string {
		e.knownDeployment(ghID, corpusSHA, "production")
		payload := map[string]any{"slipway": map[string]string{"application": "hello", "group": "prod", "revision": revision}}
		body := derive(t, deploymentEvent(t, ghID, corpusSHA, payload), func(m map[string]any) { obj(m, "deployment")["ref"] = "main" })
		id := fmt.Sprintf("named-%d", ghID)
		e.deliver("deployment", id, body)
		return e.delivery(id).Outcome
	}
	if out := deliver(1401, branchBundle); !strings.HasPrefix(out, "refused") {
		t.Errorf("a branch's bundle on main: outcome %q, want refused", out)
	}
	if sts := e.gh.Statuses(1401); len(sts) != 1 || sts[0].GetState() != "error" || !strings.Contains(sts[0].GetDescription(), "uploaded for commit") {
		t.Errorf("a branch's bundle on main: statuses %+v, want one error saying why", sts)
	}
	e.wantDeployments(0)
	if out := deliver(1402, mainBundle); !strings.HasPrefix(out, "created") {
		t.Errorf("main's bundle on main: outcome %q", out)
	}
	if d := e.finished(e.deployments()[0].ID); d.Revision != mainBundle {
		t.Errorf("deployed %s, want main's bundle %s", d.Revision, mainBundle)
	}
	e.noViolations()
}
