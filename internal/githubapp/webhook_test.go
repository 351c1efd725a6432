package githubapp_test

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/slipway-deploy/slipway/internal/githubapp"
)

func TestReceiver_AcceptsEveryRealPayloadOfTheHandledEvents(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	for _, event := range []string{"ping", "deployment", "issue_comment", "check_run"} {
		files, err := os.ReadDir(filepath.Join(corpusDir(t), event))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			t.Run(event+"/"+f.Name(), func(t *testing.T) {
				body := readCorpus(t, event+"/"+f.Name())
				id := "real-" + event + "-" + f.Name()
				if code, answer := e.deliver(event, id, body); code != http.StatusAccepted {
					t.Fatalf("got %d %s, want 202", code, answer)
				}
				d := e.delivery(id)
				if strings.HasPrefix(d.Outcome, "refused") || strings.HasPrefix(d.Outcome, "failed") {
					t.Errorf("outcome %q", d.Outcome)
				}
			})
		}
	}
	// None of these payloads is for a linked group or is a command on a pull request: nothing
	// may have been deployed or written to GitHub.
	e.wantDeployments(0)
	for _, c := range e.gh.Calls("") {
		if c.Method != http.MethodGet {
			t.Errorf("GitHub was written to: %s", c)
		}
	}
}

func TestReceiver_RefusesWhatGitHubDidNotSend(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	body := readCorpus(t, "ping/payload.json")
	good := func() map[string]string {
		return map[string]string{
			"X-GitHub-Event": "ping", "X-GitHub-Delivery": "d-1", "X-Hub-Signature-256": sign(body, secret), "Content-Type": "application/json",
		}
	}
	for _, tc := range []struct {
		name string
		edit func(h map[string]string) []byte
		want int
	}{
		{"forged signature", func(h map[string]string) []byte { h["X-Hub-Signature-256"] = sign(body, "not-the-secret"); return body }, http.StatusUnauthorized},
		{"body changed after signing", func(_ map[string]string) []byte { return bytes.Replace(body, []byte("zen"), []byte("zap"), 1) }, http.StatusUnauthorized},
		{"sha1 signature only", func(h map[string]string) []byte {
			delete(h, "X-Hub-Signature-256")
			h["X-Hub-Signature"] = "sha1=0000000000000000000000000000000000000000"
			return body
		}, http.StatusUnauthorized},
		{"sha1 in the sha256 header", func(h map[string]string) []byte {
			h["X-Hub-Signature-256"] = "sha1=" + strings.TrimPrefix(sign(body, secret), "sha256=")
			return body
		}, http.StatusUnauthorized},
		{"no signature", func(h map[string]string) []byte { delete(h, "X-Hub-Signature-256"); return body }, http.StatusUnauthorized},
		{"no event", func(h map[string]string) []byte { delete(h, "X-GitHub-Event"); return body }, http.StatusBadRequest},
		{"no delivery id", func(h map[string]string) []byte { delete(h, "X-GitHub-Delivery"); return body }, http.StatusBadRequest},
		{"form encoded", func(h map[string]string) []byte { h["Content-Type"] = "application/x-www-form-urlencoded"; return body }, http.StatusUnsupportedMediaType},
		{"too large", func(h map[string]string) []byte {
			big := bytes.Repeat([]byte(" "), githubapp.MaxWebhookBody+1)
			h["X-Hub-Signature-256"] = sign(big, secret)
			return big
		}, http.StatusRequestEntityTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := good()
			b := tc.edit(h)
			if code, answer := e.post(h, b); code != tc.want {
				t.Errorf("got %d %s, want %d", code, answer, tc.want)
			}
		})
	}
	if _, err := e.st.GetDelivery(context.Background(), "d-1"); err == nil {
		t.Error("a refused delivery was recorded")
	}
	// An event Slipway does not handle is acknowledged and not kept.
	push := readCorpus(t, "push/payload.json")
	if code, _ := e.deliver("push", "d-push", push); code != http.StatusAccepted {
		t.Errorf("push: got %d, want 202", code)
	}
	if _, err := e.st.GetDelivery(context.Background(), "d-push"); err == nil {
		t.Error("an unhandled event was recorded")
	}
}

func TestReceiver_ReplayedDeliveryIsProcessedOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	e.linkGroup("hello", "prod", "production", false)
	e.gh.AddTarball(corpusRepo, corpusSHA, tarball(t, "v1"))
	e.startHost("web-1", nil)
	body := readCorpus(t, "deployment/with-installation.payload.json")
	const id = "a1b2c3d4-0000-11e3-81ab-000000000001"
	if code, answer := e.deliver("deployment", id, body); code != http.StatusAccepted {
		t.Fatalf("first delivery: got %d %s", code, answer)
	}
	e.delivery(id)
	// GitHub's "Redeliver" sends the same id; an attacker replaying a captured delivery too.
	for range 3 {
		if code, answer := e.deliver("deployment", id, body); code != http.StatusOK || !strings.Contains(answer, "duplicate") {
			t.Errorf("replay: got %d %s, want 200 duplicate", code, answer)
		}
	}
	e.finished(e.deployments()[0].ID)
	e.wantDeployments(1)
	if n := len(e.gh.Calls("GET /repos/" + corpusRepo + "/tarball/")); n != 1 {
		t.Errorf("tarball fetched %d times, want 1", n)
	}
}
