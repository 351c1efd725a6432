package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/slipway-deploy/slipway/internal/api"
)

// bin holds the three binaries, built once for the whole package.
var bin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "slipway-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	for name, pkg := range map[string]string{"slipway": "../action", "slipway-agent": "../agent", "slipway-server": "../server", "testweb": "./testweb"} {
		cmd := exec.Command("go", "build", "-o", filepath.Join(dir, name), pkg)
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			fmt.Fprintln(os.Stderr, "build", name, err)
			os.Exit(1)
		}
	}
	bin = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func randomToken(t *testing.T) string {
	t.Helper()
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// proc is a running binary whose output is kept for failure messages.
type proc struct {
	cmd *exec.Cmd
	out *syncBuffer
	// done is closed once the process has exited; err is its exit error, set before.
	done chan struct{}
	err  error
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func start(t *testing.T, env []string, name string, args ...string) *proc {
	t.Helper()
	cmd := exec.Command(filepath.Join(bin, name), args...)
	cmd.Env = append(os.Environ(), env...)
	p := &proc{cmd: cmd, out: &syncBuffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.out, p.out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.stop(syscall.SIGTERM)
		if t.Failed() {
			t.Logf("%s output:\n%s", name, p.out.String())
		}
	})
	return p
}

// stop signals the process and waits for it (SIGKILL after 10 s). Only this process gets the
// signal: hook scripts an agent started run in their own process groups and outlive a killed agent,
// as they would on a real host.
func (p *proc) stop(sig syscall.Signal) {
	if p.exited() {
		return
	}
	_ = p.cmd.Process.Signal(sig)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// exited reports whether the process has ended.
func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// server is a slipway-server on a loopback port with its own data directory.
type server struct {
	t       *testing.T
	URL     string
	Admin   string
	Enroll  string
	DataDir string
	extra   []string
	p       *proc
	// runs are every process of this server, the current one last: a restart starts another.
	runs []*proc
}

func startServer(t *testing.T, extra ...string) *server {
	t.Helper()
	s := &server{t: t, Admin: randomToken(t), Enroll: randomToken(t), DataDir: t.TempDir(), extra: extra}
	s.start("127.0.0.1:0")
	return s
}

func (s *server) start(listen string) {
	s.t.Helper()
	env := []string{"SLIPWAY_ADMIN_TOKEN=" + s.Admin, "SLIPWAY_ENROLL_TOKEN=" + s.Enroll}
	args := append([]string{"--listen", listen, "--data-dir", s.DataDir}, s.extra...)
	s.p = start(s.t, env, "slipway-server", args...)
	s.runs = append(s.runs, s.p)
	url := waitFor(s.t, 15*time.Second, "server to listen", func() (string, bool) {
		sc := bufio.NewScanner(strings.NewReader(s.p.out.String()))
		for sc.Scan() {
			if rest, ok := strings.CutPrefix(sc.Text(), "listening on "); ok {
				return rest, true
			}
		}
		if s.p.exited() {
			s.t.Fatalf("server exited: %v\n%s", s.p.err, s.p.out.String())
		}
		return "", false
	})
	if s.URL == "" {
		s.URL = url
	}
}

// restart stops the server with sig and starts it again on the same address and data.
func (s *server) restart(sig syscall.Signal) {
	s.t.Helper()
	s.p.stop(sig)
	s.resume()
}

// resume starts a stopped server again on the same address and data.
func (s *server) resume() {
	s.t.Helper()
	s.start(strings.TrimPrefix(s.URL, "http://"))
}

// output is everything the server printed, over all its runs.
func (s *server) output() string { return outputOf(s.runs) }

func outputOf(runs []*proc) string {
	var b strings.Builder
	for _, p := range runs {
		b.WriteString(p.out.String())
	}
	return b.String()
}

// client is an admin API client; it trusts the CA that SLIPWAY_CA_CERT names, as the CLI does.
func (s *server) client() *api.Client {
	c := api.NewClient(s.URL, s.Admin)
	if err := c.WithCA(os.Getenv("SLIPWAY_CA_CERT")); err != nil {
		s.t.Fatal(err)
	}
	return c
}

// agent is a slipway-agent run with its own deployment root and install prefix.
type agent struct {
	Name, Root, Prefix string
	// Via, when set, is the URL the agent reaches the server by instead of the server's own
	// (a proxy the test controls).
	Via string
	// Env is added to the agent's environment, which its hooks inherit.
	Env  []string
	tags []string
	p    *proc
	// runs are every process of this agent, the current one last.
	runs []*proc
}

func startAgent(t *testing.T, s *server, name string, tags ...string) *agent {
	t.Helper()
	a := &agent{Name: name, Root: t.TempDir(), Prefix: t.TempDir()}
	a.start(t, s, tags...)
	return a
}

func (a *agent) start(t *testing.T, s *server, tags ...string) {
	url := s.URL
	if a.Via != "" {
		url = a.Via
	}
	args := []string{"run", "--server", url, "--name", a.Name, "--root", a.Root, "--install-prefix", a.Prefix, "--poll-wait", "5s"}
	for _, tag := range tags {
		args = append(args, "--tag", tag)
	}
	a.tags = tags
	a.p = start(t, append([]string{"SLIPWAY_ENROLL_TOKEN=" + s.Enroll}, a.Env...), "slipway-agent", args...)
	a.runs = append(a.runs, a.p)
}

// output is everything the agent printed, over all its runs.
func (a *agent) output() string { return outputOf(a.runs) }

// kill ends the agent process with SIGKILL: no chance to report, clean up or forget anything.
func (a *agent) kill() { a.p.stop(syscall.SIGKILL) }

// restart starts the agent again with the same name, root, prefix and tags.
func (a *agent) restart(t *testing.T, s *server) {
	t.Helper()
	a.start(t, s, a.tags...)
}

// cli runs the slipway CLI against s; it returns stdout, stderr and the exit code.
func cli(t *testing.T, s *server, args ...string) (string, string, int) {
	t.Helper()
	r := runCLI(s, args...)
	if r.err != nil {
		t.Fatal(r.err)
	}
	return r.stdout, r.stderr, r.code
}

// cliRun is the outcome of one CLI run; err is set only when the CLI could not be run at all.
type cliRun struct {
	stdout, stderr string
	code           int
	err            error
}

// runCLI runs the slipway CLI against s without touching the test, so that goroutines may use it.
func runCLI(s *server, args ...string) cliRun {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(bin, "slipway"), args...)
	cmd.Env = append(os.Environ(), "SLIPWAY_SERVER="+s.URL, "SLIPWAY_TOKEN="+s.Admin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := cliRun{}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		r.code = ee.ExitCode()
	} else if err != nil {
		r.err = fmt.Errorf("slipway %s: %w", strings.Join(args, " "), err)
	}
	r.stdout, r.stderr = stdout.String(), stderr.String()
	return r
}

func mustCLI(t *testing.T, s *server, args ...string) string {
	t.Helper()
	out, errOut, code := cli(t, s, args...)
	if code != 0 {
		t.Fatalf("slipway %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, out, errOut)
	}
	return out
}

// waitFor polls f until it says done or the deadline passes.
func waitFor[T any](t *testing.T, within time.Duration, what string, f func() (T, bool)) T {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		v, ok := f()
		if ok {
			return v
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", within, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitInstances waits until n agents are registered.
func waitInstances(t *testing.T, s *server, n int) {
	t.Helper()
	waitFor(t, 20*time.Second, fmt.Sprintf("%d instances", n), func() (int, bool) {
		list, err := s.client().ListInstances(context.Background())
		return len(list), err == nil && len(list) >= n
	})
}

func getDeployment(t *testing.T, s *server, id string) api.Deployment {
	t.Helper()
	out := mustCLI(t, s, "deployment", "get", id, "--json")
	var d api.Deployment
	if err := json.Unmarshal([]byte(out), &d); err != nil {
		t.Fatalf("deployment get --json: %v\n%s", err, out)
	}
	return d
}

// writeBundle writes a revision directory: an appspec with one hook script per named event. Each
// script appends "<event> <deployment> <revision label>" to $SLIPWAY_INSTALL_PREFIX/trace, and a
// script listed in fail exits 1.
func writeBundle(t *testing.T, label string, fail map[string]bool, events ...string) string {
	t.Helper()
	dir := t.TempDir()
	var spec strings.Builder
	spec.WriteString("version: 0.0\nos: linux\nfiles:\n  - source: web\n    destination: /srv/app\nhooks:\n")
	for _, ev := range events {
		fmt.Fprintf(&spec, "  %s:\n    - location: hooks/%s.sh\n      timeout: 60\n", ev, ev)
		body := fmt.Sprintf("#!/bin/sh\necho \"%s $DEPLOYMENT_ID %s\" >> \"$SLIPWAY_INSTALL_PREFIX/trace\"\n", ev, label)
		if fail[ev] {
			body += "echo \"" + ev + " is broken in " + label + "\" >&2\nexit 1\n"
		}
		writeFile(t, filepath.Join(dir, "hooks", ev+".sh"), body, 0o755)
	}
	writeFile(t, filepath.Join(dir, "appspec.yml"), spec.String(), 0o644)
	writeFile(t, filepath.Join(dir, "web", "index.html"), "revision "+label+"\n", 0o644)
	return dir
}

func writeFile(t *testing.T, path, content string, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	return string(b)
}

var _ = io.Discard
