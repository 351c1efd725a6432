package githubapp_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/slipway-deploy/slipway/internal/api"
)

// checkRunAction derives a requested_action webhook from the real one (another app's check run
// in electron/electron) for a check run of the corpus repository, clicked by user.
func checkRunAction(t *testing.T, runID int64, externalID, identifier, user string) []byte {
	t.Helper()
	repo := obj(mustMap(t, readCorpus(t, "deployment/with-installation.payload.json")), "repository")
	return derive(t, readCorpus(t, "check_run/requested_action.payload.json"), func(m map[string]any) {
		run := obj(m, "check_run")
		run["id"], run["external_id"] = runID, externalID
		obj(m, "requested_action")["identifier"] = identifier
		m["repository"] = repo
		obj(m, "sender")["login"] = user
		obj(m, "installation")["id"] = 1
	})
}

func mustMap(t *testing.T, raw []byte) map[string]any {
	t.Helper()
	var m map[string]any
	derive(t, raw, func(x map[string]any) { m = x })
	return m
}

// click delivers a button click and returns the outcome.
func (e *env) click(runID int64, externalID, identifier, user string) string {
	e.t.Helper()
	delivery := "click-" + time.Now().Format("150405.000000000")
	if code, answer := e.deliver("check_run", delivery, checkRunAction(e.t, runID, externalID, identifier, user)); code != http.StatusAccepted {
		e.t.Fatalf("deliver: %d %s", code, answer)
	}
	return e.delivery(delivery).Outcome
}

// runningDeployment starts the corpus' GitHub deployment on one host that holds its first event
// until gate is closed, for Codertocat (write access) to click on; it returns the deployment's
// check run once it has its buttons.
func runningDeployment(t *testing.T, e *env) (githubtestCheckRun, api.Deployment, chan struct{}) {
	t.Helper()
	e.linkGroup("hello", "prod", "production", false)
	e.gh.SetPermission(corpusRepo, "Codertocat", "write")
	e.gh.AddTarball(corpusRepo, corpusSHA, tarball(t, "v1"))
	e.knownDeployment(corpusGHDep, corpusSHA, "production")
	gate := make(chan struct{})
	h := e.startHostGated("web-1", func(api.Command) bool { return false }, gate)
	e.deliver("deployment", "", readCorpus(t, "deployment/with-installation.payload.json"))
	waitFor(t, 10*time.Second, "the host's first command", func() (int, bool) { return len(h.seen()), len(h.seen()) > 0 })
	run := waitFor(t, 10*time.Second, "a check run with buttons", func() (githubtestCheckRun, bool) {
		runs := e.gh.CheckRuns(corpusRepo)
		return firstRun(runs), len(runs) == 1 && len(runs[0].Actions) == 2
	})
	return run, e.deployments()[0], gate
}

func TestCheckRun_StopButton(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	e.gh.SetPermission(corpusRepo, "reader", "read")
	run, d, gate := runningDeployment(t, e)
	if run.Actions[0].Identifier != "stop" || run.Actions[1].Identifier != "rollback" {
		t.Errorf("buttons: %+v %+v", *run.Actions[0], *run.Actions[1])
	}

	// Not Slipway's check run, someone without write access, and a forged external id: ignored.
	if out := e.click(run.GetID()+1, d.ID, "stop", "Codertocat"); !strings.HasPrefix(out, "ignored") {
		t.Errorf("another check run: %q", out)
	}
	if out := e.click(run.GetID(), "d-someoneelse", "stop", "Codertocat"); !strings.HasPrefix(out, "ignored") {
		t.Errorf("mismatched external id: %q", out)
	}
	if out := e.click(run.GetID(), d.ID, "stop", "reader"); !strings.HasPrefix(out, "refused") {
		t.Errorf("reader: %q", out)
	}
	if got, _ := e.client.GetDeployment(e.ctx, d.ID); got.Status != "InProgress" {
		t.Fatalf("after refused clicks the deployment is %s", got.Status)
	}
	if out := e.click(run.GetID(), d.ID, "stop", "Codertocat"); out != "stopped "+d.ID {
		t.Errorf("stop: %q", out)
	}
	close(gate) // the host finishes the event it runs; the rest is skipped
	stopped := e.finished(d.ID)
	if stopped.Status != "Stopped" || !strings.Contains(stopped.ErrorMessage, "Codertocat") {
		t.Errorf("deployment: %s %q", stopped.Status, stopped.ErrorMessage)
	}
	e.statesOf(corpusGHDep, "queued", "in_progress", "error")
	final := waitFor(t, 10*time.Second, "the check run to complete", func() (githubtestCheckRun, bool) {
		r := firstRun(e.gh.CheckRuns(corpusRepo))
		return r, r.GetConclusion() != ""
	})
	if final.GetConclusion() != "cancelled" || len(final.Actions) != 1 || final.Actions[0].Label != "Roll back" {
		t.Errorf("stopped check run: conclusion %s buttons %d", final.GetConclusion(), len(final.Actions))
	}
	e.noViolations()
}

func TestCheckRun_RollBackButtonOnAFailedDeployment(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	e.linkGroup("hello", "prod", "production", false)
	e.gh.SetPermission(corpusRepo, "Codertocat", "admin")
	good, bad := tarball(t, "good"), tarball(t, "bad")
	e.gh.AddTarball(corpusRepo, corpusSHA, good)
	e.gh.AddTarball(corpusRepo, otherSHA, bad)
	badDigest := digestOf(bad)
	e.startHostFailing("web-1", func(c api.Command) bool { return c.Bundle.Digest == badDigest && c.Event == "ValidateService" })
	e.knownDeployment(801, corpusSHA, "production")
	e.knownDeployment(802, otherSHA, "production")
	e.deliver("deployment", "", deploymentEvent(t, 801, corpusSHA, map[string]any{}))
	e.statesOf(801, "queued", "in_progress", "success")
	e.deliver("deployment", "", deploymentEvent(t, 802, otherSHA, map[string]any{}))
	e.statesOf(802, "queued", "in_progress", "failure")
	failedRun := waitFor(t, 10*time.Second, "the failed check run with its Roll back button", func() (githubtestCheckRun, bool) {
		for _, r := range e.gh.CheckRuns(corpusRepo) {
			if r.GetHeadSHA() == otherSHA && r.GetConclusion() == "failure" && len(r.Actions) == 1 {
				return r, true
			}
		}
		return githubtestCheckRun{}, false
	})
	out := e.click(failedRun.GetID(), failedRun.GetExternalID(), "rollback", "Codertocat")
	if !strings.HasPrefix(out, "rolled back with ") {
		t.Fatalf("rollback: %q", out)
	}
	rb := e.finished(strings.TrimPrefix(out, "rolled back with "))
	if rb.Status != "Succeeded" || rb.Creator != "rollback" {
		t.Errorf("rollback: %s by %s", rb.Status, rb.Creator)
	}
	// A second click that GitHub delivered before the button went (or this click handled
	// again after a crash) finds the rollback it started, not a second one, which would undo
	// the release before.
	if again := e.click(failedRun.GetID(), failedRun.GetExternalID(), "rollback", "Codertocat"); again != out {
		t.Errorf("second click: %q, want %q", again, out)
	}
	n := 0
	for _, d := range e.deployments() {
		if d.Creator == "rollback" {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d rollback deployments after two clicks, want 1", n)
	}
	// The button is gone, so a later click cannot start a second rollback by mistake.
	waitFor(t, 10*time.Second, "the Roll back button to go", func() (int, bool) {
		for _, r := range e.gh.CheckRuns(corpusRepo) {
			if r.GetID() == failedRun.GetID() {
				return len(r.Actions), len(r.Actions) == 0
			}
		}
		return -1, false
	})
	e.noViolations()
}

func firstRun(runs []githubtestCheckRun) githubtestCheckRun {
	if len(runs) == 0 {
		return githubtestCheckRun{}
	}
	return runs[0]
}

// The blue/green buttons go through the server's own actions: promoting an in-place deployment
// is refused with the server's words, and Abort stops it as the CLI's abort does.
func TestCheckRun_TrafficButtons(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	run, d, gate := runningDeployment(t, e)
	if out := e.click(run.GetID(), d.ID, "promote", "Codertocat"); !strings.HasPrefix(out, "refused: ") || !strings.Contains(out, "blue/green") {
		t.Errorf("promote of an in-place deployment: %q", out)
	}
	if out := e.click(run.GetID(), d.ID, "abort", "Codertocat"); out != "abort "+d.ID {
		t.Errorf("abort: %q", out)
	}
	close(gate)
	stopped := e.finished(d.ID)
	if stopped.Status != "Stopped" || stopped.ErrorCode != "MANUAL_STOP" || !strings.Contains(stopped.ErrorMessage, "aborted requested by Codertocat") {
		t.Errorf("aborted: %s %s %q", stopped.Status, stopped.ErrorCode, stopped.ErrorMessage)
	}
	e.noViolations()
}
