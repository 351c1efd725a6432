package githubapp_test

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-github/v60/github"

	"github.com/slipway-deploy/slipway/internal/api"
)

const otherSHA = "0123456789abcdef0123456789abcdef01234567"

// deploymentEvent derives a deployment webhook from the real one (with-installation), for another
// GitHub Deployment id, commit and payload.
func deploymentEvent(t *testing.T, id int64, sha string, payload any) []byte {
	t.Helper()
	return deploymentEventIn(t, id, sha, "production", payload)
}

func deploymentEventIn(t *testing.T, id int64, sha, environment string, payload any) []byte {
	t.Helper()
	return derive(t, readCorpus(t, "deployment/with-installation.payload.json"), func(m map[string]any) {
		d := obj(m, "deployment")
		d["id"], d["sha"], d["payload"], d["environment"], d["original_environment"] = id, sha, payload, environment, environment
	})
}

// knownDeployment makes the stand-in know a GitHub Deployment, as if the Action or a person had
// created it there.
func (e *env) knownDeployment(id int64, sha, environment string) {
	e.gh.AddDeployment(corpusRepo, github.Deployment{ID: github.Int64(id), SHA: github.String(sha), Ref: github.String("master"), Environment: github.String(environment)})
}

func TestDeploymentWebhook_RunsTheGitHubDeploymentAndReports(t *testing.T) {
	t.Parallel()
	e := newCorpusEnv(t, envOptions{})
	h := e.startHost("web-1", nil)

	// The real payload, byte for byte: its payload is {}, so the server fetches the tarball.
	body := readCorpus(t, "deployment/with-installation.payload.json")
	if code, answer := e.deliver("deployment", "", body); code != http.StatusAccepted {
		t.Fatalf("deliver: %d %s", code, answer)
	}
	list := waitFor(t, 10*time.Second, "a deployment", func() ([]api.Deployment, bool) { l := e.deployments(); return l, len(l) > 0 })
	d := e.finished(list[0].ID)
	if d.Status != "Succeeded" || d.Creator != "github" || d.Application != "hello" || d.Group != "prod" {
		t.Fatalf("deployment: %s by %s in %s/%s, want Succeeded by github in hello/prod", d.Status, d.Creator, d.Application, d.Group)
	}
	for _, c := range h.seen() {
		if c.Bundle.Env["BUNDLE_COMMIT"] != corpusSHA {
			t.Errorf("%s: BUNDLE_COMMIT %q, want %s", c.Event, c.Bundle.Env["BUNDLE_COMMIT"], corpusSHA)
		}
	}

	e.statesOf(corpusGHDep, "queued", "in_progress", "success")
	for _, st := range e.gh.Statuses(corpusGHDep) {
		if st.GetLogURL() != publicURL+"/deployments/"+d.ID || st.GetEnvironmentURL() != "https://hello.example.com" {
			t.Errorf("status %s: log_url %q environment_url %q", st.GetState(), st.GetLogURL(), st.GetEnvironmentURL())
		}
	}
	run := waitFor(t, 10*time.Second, "the check run to complete", func() (githubtestRun, bool) {
		runs := e.gh.CheckRuns(corpusRepo)
		return runsOf(runs), len(runs) == 1 && runs[0].GetConclusion() != ""
	})
	if run.Name != "hello/prod" || run.SHA != corpusSHA || run.ExternalID != d.ID || run.Conclusion != "success" || run.Buttons != 0 {
		t.Errorf("check run: %+v, want hello/prod on %s for %s, success, no buttons", run, corpusSHA, d.ID)
	}
	if !strings.Contains(run.Summary, "| web-1 | Succeeded |") {
		t.Errorf("check run summary lacks the host row:\n%s", run.Summary)
	}
	if len(e.gh.Calls("POST /app/installations/1/access_tokens")) == 0 {
		t.Error("no installation token was minted for installation 1 (from the payload)")
	}
	// Once GitHub knows everything, the deployment's Finished effect is done.
	waitFor(t, 10*time.Second, "the Finished effect to be marked done", func() (int, bool) {
		pending, err := e.st.PendingEffects(context.Background(), 0)
		return len(pending), err == nil && len(pending) == 0
	})
	e.noViolations()
}

// githubtestRun is what a test checks of a check run.
type githubtestRun struct {
	Name, SHA, ExternalID, Conclusion, Summary string
	Buttons, Writes, Annotations               int
}

func runsOf(runs []githubtestCheckRun) githubtestRun {
	if len(runs) == 0 {
		return githubtestRun{}
	}
	r := runs[len(runs)-1]
	return githubtestRun{
		Name: r.GetName(), SHA: r.GetHeadSHA(), ExternalID: r.GetExternalID(), Conclusion: r.GetConclusion(),
		Summary: r.GetOutput().GetSummary(), Buttons: len(r.Actions), Writes: r.Writes, Annotations: len(r.Annotations),
	}
}

func TestDeploymentWebhook_ActionAndWebhookMakeOneDeploymentInEitherOrder(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	e.linkGroup("hello", "prod", "production", false)
	e.startHost("web-1", nil)
	rev := e.upload("hello", tarball(t, "uploaded"), api.RevisionOrigin{Commit: corpusSHA})
	payload := map[string]any{"slipway": api.GitHubDeploymentPayload{Application: "hello", Group: "prod", Revision: rev}}
	action := func(id int64) api.Deployment {
		d, err := e.client.CreateDeployment(context.Background(), api.CreateDeployment{
			Application: "hello", Group: "prod", Revision: rev,
			GitHub: &api.GitHubDeployment{Repository: corpusRepo, RepositoryID: corpusRepoID, DeploymentID: id, SHA: corpusSHA, Ref: "master", Environment: "production"},
		})
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	webhook := func(id int64) string {
		delivery := "order-" + time.Now().Format("150405.000000")
		if code, answer := e.deliver("deployment", delivery, deploymentEvent(t, id, corpusSHA, payload)); code != http.StatusAccepted {
			t.Fatalf("deliver: %d %s", code, answer)
		}
		return e.delivery(delivery).Outcome
	}

	// The Action's call first, then the webhook.
	e.knownDeployment(501, corpusSHA, "production")
	first := action(501)
	if out := webhook(501); !strings.Contains(out, first.ID) {
		t.Errorf("webhook after the Action: outcome %q, want it to find %s", out, first.ID)
	}
	e.finished(first.ID)
	// The webhook first, then the Action's call.
	e.knownDeployment(502, corpusSHA, "production")
	out := webhook(502)
	second := action(502)
	if !strings.Contains(out, "created deployment "+second.ID) {
		t.Errorf("webhook before the Action: outcome %q; the Action got %s", out, second.ID)
	}
	e.finished(second.ID)

	e.wantDeployments(2)
	if n := len(e.gh.Calls("/tarball/")); n != 0 {
		t.Errorf("tarball fetched %d times; the uploaded revision should have been used", n)
	}
	// The second success supersedes the first.
	e.statesOf(502, "queued", "in_progress", "success")
	waitFor(t, 10*time.Second, "the first deployment to be made inactive", func() ([]string, bool) {
		s := e.gh.StatusStates(501)
		return s, slices.Equal(s, []string{"queued", "in_progress", "success", "inactive"})
	})
	e.noViolations()
}

func TestDeploymentWebhook_RefusesWithAReasonOnGitHub(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	e.linkGroup("hello", "prod", "production", false)
	// A group of another repository: this repository's Deployments may not run it.
	if _, err := e.client.CreateGroup(context.Background(), api.DeploymentGroup{
		Application: "hello", Name: "theirs", Environment: "production",
		TagGroups: [][]api.TagFilter{{{Key: "role", Type: "KEY_ONLY"}}},
		GitHub:    &api.GitHubLink{Repository: "octo/other", RepositoryID: 7},
	}); err != nil {
		t.Fatal(err)
	}
	e.gh.AddTarball(corpusRepo, otherSHA, tarball(t, "x")[:100]) // cut short: not a valid archive
	for _, tc := range []struct {
		name    string
		id      int64
		sha     string
		payload any
		want    string
	}{
		{"group of another repository", 601, corpusSHA, map[string]any{"slipway": map[string]string{"application": "hello", "group": "theirs"}}, "not linked to Codertocat/Hello-World"},
		{"unknown group", 602, corpusSHA, map[string]any{"slipway": map[string]string{"application": "hello", "group": "nope"}}, "does not exist"},
		{"revision never uploaded", 603, corpusSHA, map[string]any{"slipway": map[string]string{"application": "hello", "group": "prod", "revision": strings.Repeat("ab", 32)}}, "not uploaded"},
		{"broken tarball", 604, otherSHA, map[string]any{}, "cannot be deployed"},
		{"unknown deployment config", 605, corpusSHA, map[string]any{"slipway": map[string]string{"application": "hello", "group": "prod", "deployment_config": "Nope"}}, "no deployment config"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e.knownDeployment(tc.id, tc.sha, "production")
			if tc.name == "unknown deployment config" {
				e.gh.AddTarball(corpusRepo, corpusSHA, tarball(t, "v1"))
			}
			id := "refuse-" + tc.name
			e.deliver("deployment", id, deploymentEvent(t, tc.id, tc.sha, tc.payload))
			if out := e.delivery(id).Outcome; !strings.HasPrefix(out, "refused") {
				t.Errorf("outcome %q, want refused", out)
			}
			sts := e.gh.Statuses(tc.id)
			if len(sts) != 1 || sts[0].GetState() != "error" || !strings.Contains(sts[0].GetDescription(), tc.want) {
				t.Errorf("statuses %+v, want one error saying %q", sts, tc.want)
			}
		})
	}
	e.wantDeployments(0)
	e.noViolations()
}

func TestDeploymentWebhook_FailureIsAnnotatedAndTheRollbackReports(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	e.linkGroup("hello", "prod", "production", true)
	good, bad := tarball(t, "good"), tarball(t, "bad")
	e.gh.AddTarball(corpusRepo, corpusSHA, good)
	e.gh.AddTarball(corpusRepo, otherSHA, bad)
	badDigest := digestOf(bad)
	e.startHostFailing("web-1", func(c api.Command) bool { return c.Bundle.Digest == badDigest && c.Event == "AfterInstall" })
	e.startHostFailing("web-2", func(c api.Command) bool { return c.Bundle.Digest == badDigest && c.Event == "AfterInstall" })

	e.knownDeployment(701, corpusSHA, "production")
	e.deliver("deployment", "", deploymentEvent(t, 701, corpusSHA, map[string]any{}))
	e.statesOf(701, "queued", "in_progress", "success")

	e.knownDeployment(702, otherSHA, "production")
	e.deliver("deployment", "", deploymentEvent(t, 702, otherSHA, map[string]any{}))
	e.statesOf(702, "queued", "in_progress", "failure")
	failed := waitFor(t, 20*time.Second, "the failed deployment", func() (api.Deployment, bool) {
		for _, d := range e.deployments() {
			if d.Status == "Failed" && d.RolledBackBy != "" {
				return d, true
			}
		}
		return api.Deployment{}, false
	})
	if desc := e.gh.Statuses(702)[2].GetDescription(); !strings.Contains(desc, "rolled back by "+failed.RolledBackBy) {
		t.Errorf("failure description %q does not name the rollback %s", desc, failed.RolledBackBy)
	}
	rb := e.finished(failed.RolledBackBy)
	if rb.Status != "Succeeded" {
		t.Fatalf("rollback %s: %s", rb.ID, rb.Status)
	}

	// The rollback has a GitHub Deployment of its own, at the good commit, created by the server
	// and saying what it rolls back.
	ghRollback := waitFor(t, 10*time.Second, "the rollback's GitHub Deployment", func() (int64, bool) {
		for _, d := range e.gh.Deployments(corpusRepo) {
			var p map[string]any
			_ = json.Unmarshal(d.Payload, &p)
			if p["slipway_deployment"] == rb.ID {
				return d.GetID(), d.GetSHA() == corpusSHA && strings.Contains(d.GetDescription(), failed.ID) && p["slipway_rollback_of"] == failed.ID
			}
		}
		return 0, false
	})
	e.statesOf(ghRollback, "queued", "in_progress", "success")
	// The first good deployment is superseded by the rollback.
	waitFor(t, 10*time.Second, "the first deployment to be made inactive", func() ([]string, bool) {
		s := e.gh.StatusStates(701)
		return s, slices.Equal(s, []string{"queued", "in_progress", "success", "inactive"})
	})
	// Its deployment webhook comes back to the server and is left alone.
	var ghd githubDeployment
	for _, d := range e.gh.Deployments(corpusRepo) {
		if d.GetID() == ghRollback {
			ghd = githubDeployment{id: d.GetID(), payload: d.Payload}
		}
	}
	id := "rollback-echo"
	e.deliver("deployment", id, deploymentEvent(t, ghd.id, corpusSHA, json.RawMessage(ghd.payload)))
	if out := e.delivery(id).Outcome; !strings.Contains(out, "created by this server") {
		t.Errorf("the rollback's own deployment webhook: outcome %q", out)
	}

	// The failed deployment's check run failed, with one annotation per failed hook, pointing at
	// the script, and no buttons left (it was rolled back).
	var failedRun githubtestCheckRun
	waitFor(t, 10*time.Second, "the failed check run to complete", func() (string, bool) {
		for _, r := range e.gh.CheckRuns(corpusRepo) {
			if r.GetExternalID() == failed.ID {
				failedRun = r
				return r.GetConclusion(), r.GetConclusion() != "" && len(r.Annotations) == 2
			}
		}
		return "", false
	})
	if failedRun.GetConclusion() != "failure" || len(failedRun.Actions) != 0 {
		t.Errorf("failed check run: conclusion %s, %d buttons", failedRun.GetConclusion(), len(failedRun.Actions))
	}
	for _, a := range failedRun.Annotations {
		if a.GetPath() != "scripts/check.sh" || a.GetAnnotationLevel() != "failure" || !strings.Contains(a.GetMessage(), "not ok") {
			t.Errorf("annotation %+v", a)
		}
	}
	if !strings.Contains(failedRun.GetOutput().GetText(), "not ok") {
		t.Errorf("check run text lacks the hook output:\n%s", failedRun.GetOutput().GetText())
	}
	e.wantDeployments(3)
	e.noViolations()
}

type githubDeployment struct {
	id      int64
	payload json.RawMessage
}

func TestReporter_PlainTokenPostsStatusesWithoutCheckRuns(t *testing.T) {
	t.Parallel()
	e := newCorpusEnv(t, envOptions{token: true})
	e.startHost("web-1", nil)
	e.deliver("deployment", "", readCorpus(t, "deployment/with-installation.payload.json"))
	e.statesOf(corpusGHDep, "queued", "in_progress", "success")
	if n := len(e.gh.Calls("check-runs")); n != 0 {
		t.Errorf("%d check run calls with a plain token, want none", n)
	}
	waitFor(t, 5*time.Second, "the log line saying why there is no check run", func() (bool, bool) {
		return true, strings.Contains(e.logs.String(), "no check run")
	})
	if n := len(e.gh.Calls("/app/")); n != 0 {
		t.Errorf("%d App calls with a plain token", n)
	}
	e.noViolations()
}

func TestReporter_LostAnswersDoNotDoubleWrites(t *testing.T) {
	t.Parallel()
	e := newCorpusEnv(t, envOptions{})
	// GitHub records the first status and creates the check run, but the answers are lost: the
	// reporter must find them on GitHub instead of posting them again.
	e.gh.LoseAnswer(http.MethodPost, "/repos/"+corpusRepo+"/deployments/")
	e.gh.LoseAnswer(http.MethodPost, "/repos/"+corpusRepo+"/check-runs")
	e.startHost("web-1", nil)
	e.deliver("deployment", "", readCorpus(t, "deployment/with-installation.payload.json"))
	d := e.finished(waitFor(t, 10*time.Second, "a deployment", func() ([]api.Deployment, bool) { l := e.deployments(); return l, len(l) > 0 })[0].ID)
	e.statesOf(corpusGHDep, "queued", "in_progress", "success")
	run := waitFor(t, 10*time.Second, "the check run to complete", func() ([]githubtestCheckRun, bool) {
		runs := e.gh.CheckRuns(corpusRepo)
		return runs, len(runs) > 0 && runs[len(runs)-1].GetConclusion() != ""
	})
	if len(run) != 1 || run[0].GetExternalID() != d.ID {
		t.Errorf("check runs: %d, want 1 for %s", len(run), d.ID)
	}
	if n := len(e.gh.Calls("GET /repos/" + corpusRepo + "/deployments/" + strconv.Itoa(corpusGHDep) + "/statuses")); n == 0 {
		t.Error("the reporter did not look up the status whose answer was lost")
	}
	e.noViolations()
}

func TestReporter_FindsTheInstallationForADeploymentTheActionCreated(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	e.linkGroup("hello", "prod", "production", false)
	e.startHost("web-1", nil)
	rev := e.upload("hello", tarball(t, "uploaded"), api.RevisionOrigin{Commit: corpusSHA})
	e.knownDeployment(901, corpusSHA, "production")
	// No webhook at all: only the Action's call, so no payload named the installation.
	d, err := e.client.CreateDeployment(context.Background(), api.CreateDeployment{
		Application: "hello", Group: "prod", Revision: rev,
		GitHub: &api.GitHubDeployment{Repository: corpusRepo, RepositoryID: corpusRepoID, DeploymentID: 901, SHA: corpusSHA, Environment: "production"},
	})
	if err != nil {
		t.Fatal(err)
	}
	e.finished(d.ID)
	e.statesOf(901, "queued", "in_progress", "success")
	if n := len(e.gh.Calls("GET /repos/" + corpusRepo + "/installation")); n != 1 {
		t.Errorf("installation looked up %d times, want once (then remembered)", n)
	}
	e.noViolations()
}

func TestReporter_AnnotationsNameScriptsByTheirPathInTheRepository(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	e.linkGroup("hello", "prod", "production", false)
	e.startHost("web-1", map[string]bool{"AfterInstall": true})
	// The Action built the bundle from deploy/web (its path input), uploaded it saying so, and
	// named it in the GitHub Deployment's payload; here the webhook creates the deployment.
	rev := e.upload("hello", tarball(t, "v1"), api.RevisionOrigin{Commit: corpusSHA, Directory: "deploy/web"})
	e.knownDeployment(1201, corpusSHA, "production")
	payload := map[string]any{"slipway": api.GitHubDeploymentPayload{Application: "hello", Group: "prod", Revision: rev}}
	e.deliver("deployment", "", deploymentEvent(t, 1201, corpusSHA, payload))
	e.statesOf(1201, "queued", "in_progress", "failure")
	run := waitFor(t, 10*time.Second, "the failed check run with its annotation", func() (githubtestCheckRun, bool) {
		r := firstRun(e.gh.CheckRuns(corpusRepo))
		return r, r.GetConclusion() != "" && len(r.Annotations) == 1
	})
	if got, want := run.Annotations[0].GetPath(), "deploy/web/scripts/check.sh"; got != want {
		t.Errorf("annotation path %q, want %q (the Action's path, then the hook's location)", got, want)
	}
	e.noViolations()
}
