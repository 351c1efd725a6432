package e2e

import (
	"bufio"
	"encoding/json"
	"net/http"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/slipway-deploy/slipway/internal/githubapp/githubtest"
)

// A GitHub Deployment that the Action's call and the deployment webhook both refuse gets one
// error status, whichever refuses first: the real Action against a real server that is a GitHub
// App receiving the webhook of the Deployment the Action created.

// refusalFixture is an actionFixture whose server is also a GitHub App of the stand-in, with
// group shop/prod deployable from any ref (so the webhook runs, or refuses, what the Action
// creates).
func newRefusalFixture(t *testing.T) *actionFixture {
	t.Helper()
	f := &actionFixture{issuer: newActionsIssuer(t), github: githubtest.New(t), workspace: t.TempDir()}
	f.github.AddRepo("acme/shop", 4242, 1)
	keyFile := filepath.Join(t.TempDir(), "app.pem")
	writeFile(t, keyFile, string(f.github.Key), 0o600)
	t.Setenv("SLIPWAY_GITHUB_WEBHOOK_SECRET", ghSecret)
	f.s = startServerWithPublicURL(t, "--oidc-issuer", f.issuer.URL, "--github-api-url", f.github.URL,
		"--github-app-id", strconv.FormatInt(f.github.AppID, 10), "--github-private-key-file", keyFile)
	mustCLI(t, f.s, "app", "create", "shop")
	mustCLI(t, f.s, "group", "create", "shop", "prod", "--tag", "role=web", "--environment", "staging",
		"--github-repo", "acme/shop", "--github-repo-id", "4242")
	writeFile(t, filepath.Join(f.workspace, "deploy", "appspec.yml"), "version: 0.0\nos: linux\n", 0o644)
	return f
}

// webhookFor is the deployment webhook GitHub sends for Deployment d of acme/shop: the corpus's
// payload with the repository and the Deployment replaced.
func webhookFor(t *testing.T, d githubtest.Deployment) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(realPayload(t), &m); err != nil {
		t.Fatal(err)
	}
	repo := m["repository"].(map[string]any)
	repo["id"], repo["full_name"], repo["name"] = 4242, "acme/shop", "shop"
	dep := m["deployment"].(map[string]any)
	dep["id"], dep["sha"], dep["ref"], dep["environment"], dep["payload"] = d.GetID(), d.GetSHA(), d.GetRef(), d.GetEnvironment(), json.RawMessage(d.Payload)
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// delivered waits for the server's log to say it processed delivery id, and returns the line.
func delivered(t *testing.T, s *server, id string) string {
	t.Helper()
	return waitFor(t, 20*time.Second, "delivery "+id+" processed", func() (string, bool) {
		sc := bufio.NewScanner(strings.NewReader(s.output()))
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			var l struct {
				Msg      string
				Delivery string `json:"delivery_id"`
			}
			if json.Unmarshal(sc.Bytes(), &l) == nil && l.Delivery == id && (l.Msg == "webhook delivery processed" || l.Msg == "webhook delivery refused") {
				return sc.Text(), true
			}
		}
		return "", false
	})
}

func TestGitHub_ActionAndWebhookRefusingOneDeploymentPostOneError(t *testing.T) {
	f := newRefusalFixture(t)
	// Both refuse a deployment config that does not exist.
	inputs := map[string]string{"deployment-config": "NoSuchConfig", "path": "deploy"}
	// runHeld runs the Action with its call to GitHub held by hold, and while it is held delivers
	// the webhook of the Deployment the Action created and waits for the server to refuse it.
	runHeld := func(t *testing.T, delivery string, hold func(prefix string) (<-chan struct{}, func()), prefix string) (githubtest.Deployment, actionResult) {
		t.Helper()
		arrived, release := hold(prefix)
		wait := f.startAction(t, inputs)
		select {
		case <-arrived:
		case <-time.After(time.Minute):
			t.Fatalf("the Action never called %s", prefix)
		}
		list := f.github.Deployments("acme/shop")
		if len(list) == 0 {
			t.Fatal("the Action created no GitHub Deployment")
		}
		d := list[len(list)-1]
		if code := deliverDeployment(t, f.s, delivery, webhookFor(t, d)); code != http.StatusAccepted {
			t.Fatalf("webhook: %d", code)
		}
		if line := delivered(t, f.s, delivery); !strings.Contains(line, "refused") {
			t.Errorf("the webhook did not refuse the Deployment: %s", line)
		}
		release()
		return d, wait()
	}
	wantOneError := func(t *testing.T, id int64) {
		t.Helper()
		if got := f.github.StatusStates(id); !slices.Equal(got, []string{"error"}) {
			t.Errorf("statuses of GitHub Deployment %d: %v, want one error", id, got)
		}
		if sts := f.github.Statuses(id); len(sts) > 0 && !strings.Contains(sts[0].GetDescription(), "NoSuchConfig") {
			t.Errorf("error status %q does not say why", sts[0].GetDescription())
		}
	}

	t.Run("the Action first", func(t *testing.T) {
		// The server refuses the Action's call first; the Action's error status waits on its way
		// to GitHub while the webhook is processed.
		d, r := runHeld(t, "after-the-action", f.github.Hold, "/repos/acme/shop/deployments/")
		if r.code != 1 || !strings.Contains(r.log, "NoSuchConfig") {
			t.Fatalf("action: exit %d, want 1 and the refusal\n%s", r.code, r.log)
		}
		wantOneError(t, d.GetID())
	})

	t.Run("the webhook first", func(t *testing.T) {
		// GitHub creates the Deployment; its answer to the Action waits while the webhook is
		// processed.
		d, r := runHeld(t, "before-the-action", f.github.HoldAnswer, "/repos/acme/shop/deployments")
		if r.code != 1 || !strings.Contains(r.log, "reported the refusal on GitHub Deployment "+strconv.FormatInt(d.GetID(), 10)+" already") {
			t.Fatalf("action: exit %d, want 1 and no status of its own\n%s", r.code, r.log)
		}
		wantOneError(t, d.GetID())
	})
	if v := f.github.Violations(); len(v) > 0 {
		t.Errorf("requests GitHub would refuse: %v", v)
	}
}
