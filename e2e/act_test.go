package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// The Action under the real act runner (github.com/nektos/act, installed by
// scripts/test-deps.sh): a repository with a workflow that checks it out and uses the action from
// its own root (uses: ./), exactly as a repository using Slipway from a checkout would. act runs
// the job on this machine (-P ubuntu-latest=-self-hosted: no Docker); the GitHub API and the
// OIDC token endpoint are the local stand-ins, passed as the runner's environment.

// findAct returns the act binary: on PATH, or where `go install` puts it.
func findAct(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("act"); err == nil {
		return p
	}
	gopath, err := exec.Command("go", "env", "GOPATH").Output()
	if err == nil {
		p := filepath.Join(strings.TrimSpace(string(gopath)), "bin", "act")
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("act is not installed: scripts/test-deps.sh installs it (go install github.com/nektos/act@v0.2.89)")
	}
	t.Skip("act is not installed; run scripts/test-deps.sh or go install github.com/nektos/act@v0.2.89")
	return ""
}

const actWorkflow = `name: deploy
on: push
permissions: {}
jobs:
  deploy:
    runs-on: ubuntu-latest
    environment: staging
    permissions:
      id-token: write
      deployments: write
      contents: read
    steps:
      - uses: actions/checkout@v4
      - id: slipway
        uses: ./
        with:
          server-url: %s
          application: shop
          deployment-group: prod
          path: deploy
          timeout-minutes: 5
      - name: record the outputs
        if: always()
        shell: bash
        run: printf '%%s\n' "deployment-id=$ID" "status=$STATUS" "github-deployment-id=$GHID" "log-url=$LOG" > %q
        env:
          ID: ${{ steps.slipway.outputs.deployment-id }}
          STATUS: ${{ steps.slipway.outputs.status }}
          GHID: ${{ steps.slipway.outputs.github-deployment-id }}
          LOG: ${{ steps.slipway.outputs.log-url }}
`

// actRepository makes a git repository holding what the action needs from this module (its
// sources, action.yml, the install script), the revision in deploy/ and the workflow.
func (f *actionFixture) actRepository(t *testing.T, outputsFile string) (dir, sha string) {
	t.Helper()
	dir = t.TempDir()
	for _, p := range []string{"go.mod", "go.sum", "action.yml", "scripts/action-install.sh", "action", "internal"} {
		copyTree(t, filepath.Join("..", p), filepath.Join(dir, p))
	}
	if err := os.Rename(filepath.Join(f.workspace, "deploy"), filepath.Join(dir, "deploy")); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, ".github/workflows/deploy.yml"), fmt.Sprintf(actWorkflow, f.s.URL, outputsFile), 0o644)
	gitIn(t, dir, "init", "-q", "-b", "main")
	gitIn(t, dir, "remote", "add", "origin", "https://github.com/acme/shop.git")
	gitIn(t, dir, "add", "-A")
	gitIn(t, dir, "commit", "-q", "-m", "deploy")
	return dir, gitIn(t, dir, "rev-parse", "HEAD")
}

func gitIn(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", append([]string{"-c", "user.name=e2e", "-c", "user.email=e2e@example.com"}, args...)...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// copyTree copies a file or a directory's files, leaving tests out: the action builds from
// sources only.
func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasSuffix(p, "_test.go") {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
			return err
		}
		return os.WriteFile(target, b, info.Mode().Perm())
	})
	if err != nil {
		t.Fatal(err)
	}
}

var readyLine = regexp.MustCompile(`slipway ready in ([0-9.]+)s \(([^)]*)\)`)

func TestAction_UnderAct(t *testing.T) {
	act := findAct(t)
	f, agents := newActionFixture(t, 1, nil)
	outputsFile := filepath.Join(t.TempDir(), "outputs")
	repo, sha := f.actRepository(t, outputsFile)
	// act runs on the repository's real commit, and GitHub's token names the run's commit.
	f.issuer.issue(f.issuer.signed(t, f.issuer.jobAt(4242, "refs/heads/main", "staging", sha)))
	// act's workspace and tool cache in the test's own directory: the first run builds the
	// binary, the second finds it in the tool cache, as a later job on the same runner would.
	actCache := t.TempDir()

	runAct := func() (log string, code int, took time.Duration) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, act, "push", "-P", "ubuntu-latest=-self-hosted",
			"--action-cache-path", actCache, "--no-cache-server",
			"-s", "GITHUB_TOKEN="+f.github.Token,
			"--env", "GITHUB_API_URL="+f.github.URL,
			"--env", "GITHUB_REPOSITORY_ID=4242",
			"--env", "ACTIONS_ID_TOKEN_REQUEST_URL="+f.issuer.URL+"/token?api-version=2.0",
			"--env", "ACTIONS_ID_TOKEN_REQUEST_TOKEN="+f.issuer.RequestToken)
		cmd.Dir = repo
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		start := time.Now()
		err := cmd.Run()
		took = time.Since(start)
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return out.String(), code, took
	}
	outputs := func() map[string]string {
		got := map[string]string{}
		for _, line := range strings.Split(strings.TrimSpace(readFile(t, outputsFile)), "\n") {
			k, v, _ := strings.Cut(line, "=")
			got[k] = v
		}
		return got
	}

	log, code, took := runAct()
	if code != 0 {
		t.Fatalf("act: exit %d\n%s", code, log)
	}
	m := readyLine.FindStringSubmatch(log)
	if m == nil {
		t.Fatalf("act log has no 'slipway ready' line:\n%s", log)
	}
	t.Logf("act run 1: %s in all; slipway ready in %ss (%s)", took.Round(time.Millisecond), m[1], m[2])

	got := outputs()
	id := got["deployment-id"]
	want := map[string]string{"deployment-id": id, "status": "Succeeded", "github-deployment-id": "1001", "log-url": f.s.URL + "/deployments/" + id}
	for k, v := range want {
		if got[k] != v || v == "" {
			t.Errorf("output %s = %q, want %q; act log:\n%s", k, got[k], v, log)
		}
	}
	d := getDeployment(t, f.s, id)
	if d.Status != "Succeeded" {
		t.Fatalf("deployment %s %s", id, d.Status)
	}
	if got := readFile(t, filepath.Join(agents[0].Prefix, "srv/app/index.html")); got != "revision v1\n" {
		t.Errorf("%s serves %q, want revision v1", agents[0].Name, got)
	}
	// act shows the job summary the step wrote, line by line.
	for _, s := range []string{"Summary - ### Slipway deployment " + id + ": ✅ Succeeded", "| web-1 | ✅ Succeeded |"} {
		if !strings.Contains(log, s) {
			t.Errorf("act log lacks the summary's %q:\n%s", s, log)
		}
	}
	reqs := f.github.Calls("")
	if len(reqs) != 1 || decodeCall(t, reqs[0])["ref"] != sha || decodeCall(t, reqs[0])["environment"] != "staging" {
		t.Errorf("GitHub saw %+v; want one deployment of %s to staging", reqs, sha)
	}

	// A later push breaks ValidateService, whose script also prints workflow commands. The job
	// fails with an annotation on the script, and the runner does not obey the script's commands
	// (the agent prefixes each line of output with its stream, and the Action prints server text
	// with commands stopped, which action_test.go checks). The binary comes from the tool cache,
	// as for a later job on the same runner.
	writeFile(t, filepath.Join(repo, "deploy/hooks/ValidateService.sh"),
		"#!/bin/sh\necho '::error::forged by the revision'\necho '::set-output name=status::Succeeded'\necho 'port 80 is closed' >&2\nexit 1\n", 0o755)
	gitIn(t, repo, "commit", "-q", "-am", "break ValidateService")
	f.issuer.issue(f.issuer.signed(t, f.issuer.jobAt(4242, "refs/heads/main", "staging", gitIn(t, repo, "rev-parse", "HEAD"))))
	log, code, took = runAct()
	if code == 0 {
		t.Fatalf("act: exit 0 for a failing deployment\n%s", log)
	}
	if m := readyLine.FindStringSubmatch(log); m == nil || !strings.Contains(m[2], "cached") {
		t.Errorf("second run did not use the cached binary:\n%s", log)
	} else {
		t.Logf("act run 2: %s in all; slipway ready in %ss (%s)", took.Round(time.Millisecond), m[1], m[2])
	}
	got = outputs()
	if got["status"] != "Failed" || got["deployment-id"] == id || got["deployment-id"] == "" {
		t.Errorf("outputs %v: want the new deployment, Failed", got)
	}
	if !strings.Contains(log, "::error file=deploy/hooks/ValidateService.sh,title=Slipway%3A ValidateService failed on web-1::ScriptFailed") {
		t.Errorf("act log lacks the annotation on the script:\n%s", log)
	}
	if strings.Contains(log, "❗  ::error::forged") {
		t.Errorf("act obeyed an ::error command printed by a hook script:\n%s", log)
	}
}
