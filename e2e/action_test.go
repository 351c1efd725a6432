package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/slipway-deploy/slipway/internal/githubapp/githubtest"
)

// The Action end to end: the slipway binary run as the runner runs it (INPUT_* variables,
// GITHUB_OUTPUT, GITHUB_STEP_SUMMARY, an OIDC token from the runner's endpoint) against a real
// server verifying the token against a local issuer, a real agent, and a GitHub API stand-in.

// actionFixture is a server that accepts the test issuer's tokens, application shop with group
// prod (linked to acme/shop, id 4242, refs/heads/main only, GitHub environment staging), the
// GitHub stand-in, and a workspace holding the revision in deploy/.
type actionFixture struct {
	s         *server
	issuer    *actionsIssuer
	github    *githubtest.Server
	workspace string
}

func newActionFixture(t *testing.T, agents int, fail map[string]bool) (*actionFixture, []*agent) {
	t.Helper()
	f := &actionFixture{issuer: newActionsIssuer(t), github: githubtest.New(t), workspace: t.TempDir()}
	f.s = startServerWithPublicURL(t, "--oidc-issuer", f.issuer.URL)
	var as []*agent
	for i := 1; i <= agents; i++ {
		as = append(as, startAgent(t, f.s, fmt.Sprintf("web-%d", i), "role=web"))
	}
	waitInstances(t, f.s, agents)
	mustCLI(t, f.s, "app", "create", "shop")
	mustCLI(t, f.s, "group", "create", "shop", "prod", "--tag", "role=web", "--config", "CodeDeployDefault.AllAtOnce",
		"--environment", "staging", "--github-repo", "acme/shop", "--github-repo-id", "4242", "--allowed-ref", "refs/heads/main")
	if err := os.Rename(writeBundle(t, "v1", fail, hookEvents...), filepath.Join(f.workspace, "deploy")); err != nil {
		t.Fatal(err)
	}
	return f, as
}

// startServerWithPublicURL starts a server whose public URL is its own address, so it can be
// the audience of workflow tokens. The port is found first, then given to the server.
func startServerWithPublicURL(t *testing.T, extra ...string) *server {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	s := &server{t: t, Admin: randomToken(t), Enroll: randomToken(t), DataDir: t.TempDir(),
		extra: append([]string{"--public-url", "http://" + addr}, extra...)}
	s.start(addr)
	return s
}

// runnerEnv is what the runner gives a step of a push to main in acme/shop.
func (f *actionFixture) runnerEnv(dir string) map[string]string {
	return map[string]string{
		"PATH": os.Getenv("PATH"), "HOME": os.Getenv("HOME"),
		"GITHUB_ACTIONS": "true", "GITHUB_API_URL": f.github.URL, "GITHUB_SERVER_URL": "https://github.com",
		"GITHUB_REPOSITORY": "acme/shop", "GITHUB_REPOSITORY_ID": "4242", "GITHUB_SHA": strings.Repeat("ab", 20),
		"GITHUB_REF": "refs/heads/main", "GITHUB_RUN_ID": "7", "GITHUB_WORKSPACE": f.workspace,
		"GITHUB_OUTPUT": filepath.Join(dir, "output"), "GITHUB_STEP_SUMMARY": filepath.Join(dir, "summary"),
		"ACTIONS_ID_TOKEN_REQUEST_URL":   f.issuer.URL + "/token?api-version=2.0",
		"ACTIONS_ID_TOKEN_REQUEST_TOKEN": f.issuer.RequestToken,
	}
}

type actionResult struct {
	code    int
	log     string
	outputs map[string]string
	summary string
}

// runAction runs `slipway action` in the workspace with the inputs of a workflow step.
func (f *actionFixture) runAction(t *testing.T, inputs map[string]string) actionResult {
	t.Helper()
	return f.startAction(t, inputs)()
}

// startAction starts `slipway action` as runAction does and returns the function that waits for
// it to end, to be called from the test's goroutine.
func (f *actionFixture) startAction(t *testing.T, inputs map[string]string) func() actionResult {
	t.Helper()
	dir := t.TempDir()
	env := f.runnerEnv(dir)
	for k, v := range map[string]string{"server-url": f.s.URL, "application": "shop", "deployment-group": "prod",
		"path": "deploy", "wait": "true", "auth": "oidc", "github-token": f.github.Token} {
		env["INPUT_"+strings.ToUpper(k)] = v
	}
	for k, v := range inputs {
		env["INPUT_"+strings.ToUpper(k)] = v
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	cmd := exec.CommandContext(ctx, filepath.Join(bin, "slipway"), "action")
	cmd.Dir = f.workspace
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	return func() actionResult {
		t.Helper()
		defer cancel()
		err := cmd.Wait()
		r := actionResult{log: out.String()}
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			r.code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		r.outputs = readOutputs(t, env["GITHUB_OUTPUT"])
		r.summary = readFile(t, env["GITHUB_STEP_SUMMARY"])
		return r
	}
}

// readOutputs parses a GITHUB_OUTPUT file as the runner does (name<<DELIMITER ... DELIMITER).
func readOutputs(t *testing.T, path string) map[string]string {
	t.Helper()
	out := map[string]string{}
	lines := strings.Split(readFile(t, path), "\n")
	for i := 0; i < len(lines); i++ {
		name, delim, ok := strings.Cut(lines[i], "<<")
		if !ok {
			continue
		}
		var val []string
		for i++; i < len(lines) && lines[i] != delim; i++ {
			val = append(val, lines[i])
		}
		out[name] = strings.Join(val, "\n")
	}
	return out
}

func TestAction_DeploysWithOIDC(t *testing.T) {
	f, agents := newActionFixture(t, 2, nil)
	r := f.runAction(t, nil)
	if r.code != 0 {
		t.Fatalf("action: exit %d\n%s", r.code, r.log)
	}
	id := r.outputs["deployment-id"]
	d := getDeployment(t, f.s, id)
	if d.Status != "Succeeded" || d.Overview.Succeeded != 2 {
		t.Fatalf("deployment %s: %s %+v", id, d.Status, d.Overview)
	}
	for _, a := range agents {
		if got := readFile(t, filepath.Join(a.Prefix, "srv/app/index.html")); got != "revision v1\n" {
			t.Errorf("%s serves %q, want revision v1", a.Name, got)
		}
	}
	reqs := f.github.Calls("")
	if len(reqs) != 1 || reqs[0].Path != "/repos/acme/shop/deployments" {
		t.Fatalf("GitHub saw %+v, want one deployment created", reqs)
	}
	body := decodeCall(t, reqs[0])
	payload, _ := body["payload"].(map[string]any)
	slipway, _ := payload["slipway"].(map[string]any)
	if body["environment"] != "staging" || body["ref"] != strings.Repeat("ab", 20) ||
		slipway["application"] != "shop" || slipway["group"] != "prod" || slipway["revision"] != d.Revision {
		t.Errorf("GitHub deployment request %s; want environment staging, the run's sha and payload.slipway naming revision %s", reqs[0].Body, d.Revision)
	}
	want := map[string]string{"deployment-id": id, "status": "Succeeded", "github-deployment-id": "1001", "log-url": f.s.URL + "/deployments/" + id}
	for k, v := range want {
		if r.outputs[k] != v {
			t.Errorf("output %s = %q, want %q (all: %v)", k, r.outputs[k], v, r.outputs)
		}
	}
	for _, s := range []string{"### Slipway deployment " + id + ": ✅ Succeeded", "| web-1 | ✅ Succeeded |", "| web-2 | ✅ Succeeded |"} {
		if !strings.Contains(r.summary, s) {
			t.Errorf("summary lacks %q:\n%s", s, r.summary)
		}
	}
	for _, s := range []string{"::group::web-1: Succeeded", "::group::web-2: Succeeded", "ValidateService   Succeeded"} {
		if !strings.Contains(r.log, s) {
			t.Errorf("log lacks %q:\n%s", s, r.log)
		}
	}
}

func TestAction_FailingHookAnnotatedOnItsScript(t *testing.T) {
	f, _ := newActionFixture(t, 1, map[string]bool{"AfterInstall": true})
	r := f.runAction(t, nil)
	if r.code != 1 || r.outputs["status"] != "Failed" {
		t.Fatalf("action: exit %d, status %q; want 1 and Failed\n%s", r.code, r.outputs["status"], r.log)
	}
	want := "::error file=deploy/hooks/AfterInstall.sh,title=Slipway%3A AfterInstall failed on web-1::ScriptFailed: hooks/AfterInstall.sh:"
	if !strings.Contains(r.log, want) || !strings.Contains(r.log, "AfterInstall is broken in v1") {
		t.Errorf("log lacks the annotation %q with the script's output:\n%s", want, r.log)
	}
	if !strings.Contains(r.summary, "**AfterInstall failed on web-1**") {
		t.Errorf("summary:\n%s", r.summary)
	}
}

// TestAction_TokensRefused runs the Action with tokens the server must refuse; each says why,
// and nothing is deployed.
func TestAction_TokensRefused(t *testing.T) {
	f, _ := newActionFixture(t, 0, nil)
	stranger, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	job := f.issuer.job(4242, "refs/heads/main", "staging")
	change := func(k string, v any) func(string) map[string]any {
		return func(aud string) map[string]any {
			c := job(aud)
			c[k] = v
			return c
		}
	}
	tests := []struct {
		name string
		mint func(audience string) string
		want string
	}{
		{"expired", f.issuer.signed(t, change("exp", time.Now().Add(-time.Minute).Unix())), "GitHub Actions token refused: it expired at"},
		{"wrong audience", f.issuer.signed(t, change("aud", "https://elsewhere.example.com")), `its audience is ["https://elsewhere.example.com"]`},
		{"wrong issuer", func(aud string) string {
			c := job(aud)
			c["iss"] = "https://token.actions.githubusercontent.com"
			return signToken(t, stranger, c)
		}, `it was issued by "https://token.actions.githubusercontent.com" and this server trusts "` + f.issuer.URL + `" only`},
		{"signed by another key", func(aud string) string { return signToken(t, stranger, job(aud)) }, "its signature does not verify"},
		{"unsigned, alg none", func(aud string) string {
			claims, _ := json.Marshal(job(aud))
			enc := base64.RawURLEncoding.EncodeToString
			return enc([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + enc(claims) + "."
		}, "it is unsigned (alg none)"},
		{"other repository", f.issuer.signed(t, f.issuer.job(7, "refs/heads/main", "staging")), "group shop/prod accepts workflows of repository acme/shop (id 4242), and this token is from acme/shop (id 7)"},
		{"ref not allowed", f.issuer.signed(t, f.issuer.job(4242, "refs/heads/topic", "staging")), "may be deployed from refs refs/heads/main; this workflow runs on refs/heads/topic"},
		{"environment not declared", f.issuer.signed(t, f.issuer.job(4242, "refs/heads/main", "")), "the job must declare `environment: staging`; this job declares no environment"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f.issuer.issue(tt.mint)
			r := f.runAction(t, nil)
			if r.code != 1 || !strings.Contains(r.log, tt.want) {
				t.Errorf("exit %d; want 1 and the log to say %q:\n%s", r.code, tt.want, r.log)
			}
		})
	}
	if out := mustCLI(t, f.s, "deployment", "list"); strings.Contains(out, "d-") {
		t.Errorf("refused tokens deployed something:\n%s", out)
	}
	if reqs := f.github.Calls(""); len(reqs) != 0 {
		t.Errorf("refused runs created GitHub Deployments: %+v", reqs)
	}
}

// decodeCall is the JSON body of a call GitHub received.
func decodeCall(t *testing.T, c githubtest.Call) map[string]any {
	t.Helper()
	var m map[string]any
	c.Decode(t, &m)
	return m
}
