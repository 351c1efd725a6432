package githubapp_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/slipway-deploy/slipway/internal/api"
)

const (
	prNumber  = 1
	commentID = 492700400 // the real payload's comment id
	headSHA   = "ec26c3e57ca3a959ca5aad62de7213c562f8c821"
)

// prComment derives an issue_comment webhook from the real one: the same comment, on a pull
// request (issue.pull_request set, as GitHub sends it for pull requests), with body and author
// changed.
func prComment(t *testing.T, id int64, body, user string) []byte {
	t.Helper()
	return derive(t, readCorpus(t, "issue_comment/created.with-installation.payload.json"), func(m map[string]any) {
		issue := obj(m, "issue")
		issue["pull_request"] = map[string]any{
			"url":      "https://api.github.com/repos/Codertocat/Hello-World/pulls/1",
			"html_url": "https://github.com/Codertocat/Hello-World/pull/1",
		}
		c := obj(m, "comment")
		now := time.Now().UTC().Truncate(time.Second).Format(time.RFC3339)
		c["id"], c["body"], c["created_at"], c["updated_at"] = id, body, now, now
		obj(c, "user")["login"] = user
		obj(m, "sender")["login"] = user
	})
}

// command delivers a comment and waits for it to be handled; it returns the outcome.
func (e *env) command(id int64, body, user string) string {
	e.t.Helper()
	e.gh.AddComment(corpusRepo, prNumber, id, body)
	delivery := "comment-" + time.Now().Format("150405.000000000")
	if code, answer := e.deliver("issue_comment", delivery, prComment(e.t, id, body, user)); code != http.StatusAccepted {
		e.t.Fatalf("deliver: %d %s", code, answer)
	}
	return e.delivery(delivery).Outcome
}

// newPullRequestEnv is an env with group hello/prod linked to the corpus repository, pull
// request #1 open with its head's tarball, Codertocat allowed to write, and a host.
func newPullRequestEnv(t *testing.T) *env {
	t.Helper()
	e := newEnv(t, envOptions{})
	e.linkGroup("hello", "prod", "production", false)
	e.gh.SetPermission(corpusRepo, "Codertocat", "write")
	e.gh.AddPull(corpusRepo, prNumber, headSHA, "feature", "open", 0)
	e.gh.AddTarball(corpusRepo, headSHA, tarball(t, "pr"))
	e.startHost("web-1", nil)
	return e
}

// lastReply is the last comment the server wrote on the pull request.
func (e *env) lastReply() string {
	e.t.Helper()
	var last string
	for _, c := range e.gh.Comments(corpusRepo, prNumber) {
		if strings.HasPrefix(c.Body, "> ") {
			last = c.Body
		}
	}
	return last
}

func TestIssueComment_DeploysThePullRequestHead(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	e.linkGroup("hello", "staging", "staging", false)
	e.linkGroup("hello", "prod", "production", false)
	e.gh.SetPermission(corpusRepo, "Codertocat", "write")
	e.gh.AddPull(corpusRepo, prNumber, headSHA, "feature", "open", 0)
	e.gh.AddTarball(corpusRepo, headSHA, tarball(t, "pr"))
	e.startHost("web-1", nil)

	out := e.command(commentID, "/deploy staging --config CodeDeployDefault.OneAtATime\nplease", "Codertocat")
	if !strings.HasPrefix(out, "done") {
		t.Fatalf("outcome %q", out)
	}
	if got := e.gh.Reactions(commentID); !slices.Equal(got, []string{"eyes", "rocket"}) {
		t.Errorf("reactions: got %v, want eyes then rocket", got)
	}
	list := e.deployments()
	if len(list) != 1 {
		t.Fatalf("deployments: got %d, want 1", len(list))
	}
	d := list[0]
	if d.Group != "staging" || d.DeploymentConfig != "CodeDeployDefault.OneAtATime" || d.Creator != "github" {
		t.Errorf("deployment: group %s config %s creator %s", d.Group, d.DeploymentConfig, d.Creator)
	}
	reply := e.lastReply()
	if !strings.Contains(reply, "> /deploy staging") || !strings.Contains(reply, publicURL+"/deployments/"+d.ID) || !strings.Contains(reply, headSHA[:7]) {
		t.Errorf("reply:\n%s", reply)
	}
	ghds := e.gh.Deployments(corpusRepo)
	if len(ghds) != 1 || ghds[0].GetSHA() != headSHA || ghds[0].GetEnvironment() != "staging" {
		t.Fatalf("GitHub Deployments: %+v, want one for the head commit in staging", ghds)
	}
	var req map[string]any
	for _, c := range e.gh.Calls("POST /repos/" + corpusRepo + "/deployments") {
		c.Decode(t, &req)
	}
	if rc, ok := req["required_contexts"].([]any); !ok || len(rc) != 0 {
		t.Errorf("required_contexts: got %v, want an explicit empty list", req["required_contexts"])
	}
	e.finished(d.ID)
	e.statesOf(ghds[0].GetID(), "queued", "in_progress", "success")

	// GitHub then sends the deployment webhook for the Deployment the comment created: it finds
	// the deployment instead of making another.
	delivery := "echo-of-comment"
	e.deliver("deployment", delivery, deploymentEventIn(t, ghds[0].GetID(), headSHA, "staging", json.RawMessage(ghds[0].Payload)))
	if out := e.delivery(delivery).Outcome; !strings.Contains(out, "already runs") {
		t.Errorf("deployment webhook of the comment's Deployment: outcome %q", out)
	}
	e.wantDeployments(1)

	// The same comment delivered again under a new delivery id (a crash before the delivery was
	// marked done) finds the GitHub Deployment it created.
	e.command(commentID, "/deploy staging --config CodeDeployDefault.OneAtATime\nplease", "Codertocat")
	if n := len(e.gh.Deployments(corpusRepo)); n != 1 {
		t.Errorf("GitHub Deployments after the comment was handled twice: %d, want 1", n)
	}
	e.wantDeployments(1)
	e.noViolations()
}

func TestIssueComment_RefusesAndIgnores(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	e.linkGroup("hello", "staging", "staging", false)
	e.linkGroup("hello", "prod", "production", false)
	e.gh.SetPermission(corpusRepo, "reader", "read")
	e.gh.SetPermission(corpusRepo, "Codertocat", "admin")
	e.gh.AddPull(corpusRepo, prNumber, headSHA, "feature", "open", 0)

	for i, tc := range []struct {
		name, body, user string
		wantReply        string
	}{
		{"reader", "/deploy staging", "reader", "needs write access"},
		{"stranger", "/deploy staging", "stranger", "needs write access"},
		{"no group named with two linked", "/deploy", "Codertocat", "name the group"},
		{"unknown group", "/deploy qa", "Codertocat", `no group "qa"`},
		{"unknown option", "/deploy staging --force", "Codertocat", "unknown option --force"},
		{"--commit without a commit", "/deploy staging --commit", "Codertocat", "--commit needs the head commit's id"},
		{"--commit not a commit", "/deploy staging --commit=main", "Codertocat", `--commit "main": give 7 to 40 hex digits`},
		{"--commit on /rollback", "/rollback prod --commit abcdef1", "Codertocat", "unknown option --commit"},
		{"nothing to stop", "/stop prod", "Codertocat", "nothing is running"},
		{"nothing to roll back to", "/rollback prod", "Codertocat", "no successful deployment"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id := int64(900 + i)
			if out := e.command(id, tc.body, tc.user); !strings.HasPrefix(out, "refused") {
				t.Errorf("outcome %q, want refused", out)
			}
			if got := e.gh.Reactions(id); !slices.Equal(got, []string{"eyes", "-1"}) {
				t.Errorf("reactions: got %v, want eyes then -1", got)
			}
			if reply := e.lastReply(); !strings.Contains(reply, tc.wantReply) {
				t.Errorf("reply %q, want it to say %q", reply, tc.wantReply)
			}
		})
	}

	// Comments that are not commands, and commands on issues, get no reaction at all.
	for i, body := range []string{"LGTM", "please /deploy it", "/deployment is broken"} {
		id := int64(950 + i)
		if out := e.command(id, body, "Codertocat"); !strings.HasPrefix(out, "ignored") {
			t.Errorf("%q: outcome %q, want ignored", body, out)
		}
		if got := e.gh.Reactions(id); len(got) != 0 {
			t.Errorf("%q: reactions %v", body, got)
		}
	}
	onIssue := derive(t, readCorpus(t, "issue_comment/created.payload.json"), func(m map[string]any) {
		obj(m, "comment")["body"] = "/deploy staging"
	})
	e.deliver("issue_comment", "on-issue", onIssue)
	if out := e.delivery("on-issue").Outcome; !strings.Contains(out, "not a pull request") {
		t.Errorf("command on an issue: outcome %q", out)
	}
	e.wantDeployments(0)
	e.noViolations()
}

func TestIssueComment_StatusStopAndRollback(t *testing.T) {
	t.Parallel()
	e := newPullRequestEnv(t)

	e.command(1001, "/deploy", "Codertocat") // the one linked group
	first := e.finished(e.deployments()[0].ID)
	if first.Status != "Succeeded" {
		t.Fatalf("first deployment %s", first.Status)
	}
	if out := e.command(1002, "/status", "Codertocat"); !strings.HasPrefix(out, "done") {
		t.Fatalf("status: %q", out)
	}
	if reply := e.lastReply(); !strings.Contains(reply, "| hello/prod | production | `"+first.Revision[:7]+"`") {
		t.Errorf("status reply:\n%s", reply)
	}
	// One release only: /rollback has nothing earlier to go back to, and says so.
	if out := e.command(1009, "/rollback", "Codertocat"); !strings.Contains(out, "only one successful revision") {
		t.Fatalf("rollback with one release: %q", out)
	}
	// A second release from a new head commit; /rollback then undoes it.
	const secondSHA = "0123456789abcdef0123456789abcdef01234567"
	e.gh.AddPull(corpusRepo, prNumber, secondSHA, "feature", "open", 0)
	e.gh.AddTarball(corpusRepo, secondSHA, tarball(t, "pr2"))
	e.command(1010, "/deploy", "Codertocat")
	second := e.finished(e.deployments()[0].ID)
	if second.Status != "Succeeded" || second.Revision == first.Revision {
		t.Fatalf("second release %s of %s, want Succeeded with a new revision", second.Status, second.Revision)
	}
	if out := e.command(1003, "/rollback", "Codertocat"); !strings.HasPrefix(out, "done") {
		t.Fatalf("rollback: %q", out)
	}
	rb := waitFor(t, 10*time.Second, "the rollback", func() (api.Deployment, bool) {
		for _, d := range e.deployments() {
			if d.Creator == "rollback" {
				return d, true
			}
		}
		return api.Deployment{}, false
	})
	if rb.Revision != first.Revision || !strings.Contains(rb.Description, "@Codertocat") {
		t.Errorf("rollback: revision %s description %q", rb.Revision, rb.Description)
	}
	e.finished(rb.ID)
	// The rollback reports under a GitHub Deployment of its own, at the commit it redeploys.
	waitFor(t, 10*time.Second, "the rollback's GitHub Deployment to succeed", func() ([]string, bool) {
		for _, d := range e.gh.Deployments(corpusRepo) {
			if strings.Contains(string(d.Payload), rb.ID) {
				s := e.gh.StatusStates(d.GetID())
				return s, d.GetSHA() == headSHA && slices.Equal(s, []string{"queued", "in_progress", "success"})
			}
		}
		return nil, false
	})
	e.noViolations()
}

func TestIssueComment_RunsOnceAndRepliesOnceAcrossACrash(t *testing.T) {
	t.Parallel()
	e := newPullRequestEnv(t)
	e.command(2001, "/deploy", "Codertocat")
	if d := e.finished(e.deployments()[0].ID); d.Status != "Succeeded" {
		t.Fatalf("the deployment to roll back to: %s", d.Status)
	}
	// A second release, so each /rollback below has an earlier revision to go back to.
	const secondSHA = "0123456789abcdef0123456789abcdef01234567"
	e.gh.AddPull(corpusRepo, prNumber, secondSHA, "feature", "open", 0)
	e.gh.AddTarball(corpusRepo, secondSHA, tarball(t, "pr2"))
	e.command(2002, "/deploy", "Codertocat")
	if d := e.finished(e.deployments()[0].ID); d.Status != "Succeeded" {
		t.Fatalf("the release to roll back: %s", d.Status)
	}
	rollbacks := func() []api.Deployment {
		var out []api.Deployment
		for _, d := range e.deployments() {
			if d.Creator == "rollback" {
				out = append(out, d)
			}
		}
		return out
	}
	replies := func(comment int64) int {
		n := 0
		for _, c := range e.gh.Comments(corpusRepo, prNumber) {
			if strings.Contains(c.Body, fmt.Sprintf("<!-- slipway:reply-to:%d -->", comment)) {
				n++
			}
		}
		return n
	}
	commentsPath := "/repos/" + corpusRepo + "/issues/" + strconv.Itoa(prNumber) + "/comments"
	for i, tc := range []struct {
		name string
		// fault holds the reply: before GitHub has it (the crash comes after the command ran
		// and its outcome was recorded), or after (the reply is posted, its id not recorded).
		fault      func(prefix string) (<-chan struct{}, func())
		wantPosted int
	}{
		{"after the command ran", e.gh.Hold, 2},
		{"after the reply was posted", e.gh.HoldAnswer, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id := int64(2100 + i)
			before := len(rollbacks())
			posts := len(e.gh.Calls("POST " + commentsPath))
			// The held call is never released: it belongs to the server that crashed.
			arrived, _ := tc.fault(commentsPath)
			e.gh.AddComment(corpusRepo, prNumber, id, "/rollback")
			delivery := fmt.Sprintf("crash-%d", id)
			if code, answer := e.deliver("issue_comment", delivery, prComment(t, id, "/rollback", "Codertocat")); code != http.StatusAccepted {
				t.Fatalf("deliver: %d %s", code, answer)
			}
			select {
			case <-arrived:
			case <-time.After(10 * time.Second):
				t.Fatal("the reply was never posted")
			}
			e.crash()
			if out := e.delivery(delivery).Outcome; !strings.HasPrefix(out, "done") {
				t.Errorf("outcome after the crash: %q", out)
			}
			list := rollbacks()
			if len(list) != before+1 {
				t.Fatalf("rollbacks: got %d, want %d (one for this comment)", len(list), before+1)
			}
			e.finished(list[0].ID)
			if n := replies(id); n != 1 {
				t.Errorf("replies to comment %d: got %d, want 1", id, n)
			}
			if n := len(e.gh.Calls("POST " + commentsPath)); n != posts+tc.wantPosted {
				t.Errorf("replies posted: got %d, want %d", n-posts, tc.wantPosted)
			}
			if n := len(e.gh.Calls("GET " + commentsPath)); n < i+1 {
				t.Errorf("the retried delivery did not look for its reply among the comments")
			}
			if got := e.gh.Reactions(id); !slices.Equal(got, []string{"eyes", "rocket"}) {
				t.Errorf("reactions: got %v, want eyes then rocket", got)
			}
		})
	}
	e.noViolations()
}

func TestParseCommand(t *testing.T) {
	// Exercised through the webhook in the tests above; here the grammar's corners.
	e := newEnv(t, envOptions{})
	e.linkGroup("hello", "prod", "production", false)
	e.gh.SetPermission(corpusRepo, "Codertocat", "write")
	for i, tc := range []struct{ body, want string }{
		{"\n\n  /STATUS  \n", "done"},
		{"/status prod extra", "refused"},
		{"/deploy --config", "refused"},
		{"/rollback hello/prod", "refused"}, // parsed, then refused: nothing to roll back to
		{"/stop\n/deploy", "refused"},       // the first line is the command
	} {
		if out := e.command(int64(1100+i), tc.body, "Codertocat"); !strings.HasPrefix(out, tc.want) {
			t.Errorf("%q: outcome %q, want %s", tc.body, out, tc.want)
		}
	}
	if reply := e.lastReply(); !strings.Contains(reply, "nothing is running in hello/prod") {
		t.Errorf("last reply %q", reply)
	}
}
