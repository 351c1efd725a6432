package githubapp_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/slipway-deploy/slipway/internal/api"
)

// A repository other than the corpus's, with a group of its own.
const (
	otherRepo   = "octo/other"
	otherRepoID = 7
)

// commentIn derives a pull-request comment webhook for repository repo (id).
func commentIn(t *testing.T, repo string, repoID, id int64, body, user string) []byte {
	t.Helper()
	return derive(t, prComment(t, id, body, user), func(m map[string]any) {
		r := obj(m, "repository")
		r["id"], r["full_name"] = repoID, repo
		r["name"] = repo[strings.Index(repo, "/")+1:]
	})
}

func TestDispatcher_ASlowTarballHoldsOnlyItsRepository(t *testing.T) {
	t.Parallel()
	e := newCorpusEnv(t, envOptions{})
	e.startHost("web-1", nil)
	e.gh.AddRepo(otherRepo, otherRepoID, 1)
	e.gh.SetPermission(otherRepo, "Codertocat", "write")
	e.gh.SetPermission(corpusRepo, "Codertocat", "write")
	if _, err := e.client.CreateGroup(context.Background(), api.DeploymentGroup{
		Application: "hello", Name: "theirs", Environment: "production",
		TagGroups: [][]api.TagFilter{{{Key: "role", Type: "KEY_ONLY"}}},
		GitHub:    &api.GitHubLink{Repository: otherRepo, RepositoryID: otherRepoID},
	}); err != nil {
		t.Fatal(err)
	}
	deliver := func(event, id string, body []byte) {
		t.Helper()
		if code, answer := e.deliver(event, id, body); code != http.StatusAccepted {
			t.Fatalf("deliver %s: %d %s", id, code, answer)
		}
	}
	pending := func(id string) bool {
		t.Helper()
		d, err := e.st.GetDelivery(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		return d.ProcessedTime.IsZero()
	}

	// The corpus repository's deployment stops at its tarball fetch.
	arrived, _ := e.gh.Hold("/repos/" + corpusRepo + "/tarball/")
	deliver("deployment", "slow", readCorpus(t, "deployment/with-installation.payload.json"))
	select {
	case <-arrived:
	case <-time.After(10 * time.Second):
		t.Fatal("the tarball was never fetched")
	}
	// A later comment on the same repository waits its turn; a ping and a comment on another
	// repository do not wait for the fetch.
	e.gh.AddComment(corpusRepo, prNumber, 3001, "/status")
	deliver("issue_comment", "same-repo", prComment(t, 3001, "/status", "Codertocat"))
	deliver("ping", "ping", readCorpus(t, "ping/payload.json"))
	e.gh.AddComment(otherRepo, prNumber, 3002, "/status")
	deliver("issue_comment", "other-repo", commentIn(t, otherRepo, otherRepoID, 3002, "/status", "Codertocat"))
	if out := e.delivery("ping").Outcome; out != "pong" {
		t.Errorf("ping: outcome %q", out)
	}
	if out := e.delivery("other-repo").Outcome; out != "done: /status" {
		t.Errorf("comment on %s: outcome %q", otherRepo, out)
	}
	if c := e.gh.Comments(otherRepo, prNumber); len(c) != 2 || !strings.Contains(c[0].Body+c[1].Body, "| hello/theirs |") {
		t.Errorf("comments on %s: %+v, want the command and its reply", otherRepo, c)
	}
	if !pending("slow") || !pending("same-repo") {
		t.Fatal("the held deployment, or the comment after it on the same repository, was processed")
	}

	// A crash while the fetch is held: the worker stops with the server, both deliveries stay
	// pending, and after the restart they are processed in order.
	e.crash()
	if out := e.delivery("slow").Outcome; !strings.HasPrefix(out, "created deployment") {
		t.Errorf("deployment after the restart: outcome %q", out)
	}
	if out := e.delivery("same-repo").Outcome; out != "done: /status" {
		t.Errorf("comment on %s: outcome %q", corpusRepo, out)
	}
	if reply := e.lastReply(); !strings.Contains(reply, "| hello/prod | production |") {
		t.Errorf("status reply:\n%s", reply)
	}
	e.wantDeployments(1)
	if n := len(e.gh.Calls("GET /repos/" + corpusRepo + "/tarball/")); n != 2 {
		t.Errorf("tarball requested %d times, want 2 (cut short by the crash, then after the restart)", n)
	}
	e.noViolations()
}
