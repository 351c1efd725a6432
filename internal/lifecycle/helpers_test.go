package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/slipway-deploy/slipway/internal/appspec"
	"github.com/slipway-deploy/slipway/internal/script"
)

// fixture is a Host on a fresh root whose hooks can write into Out: every hook sees OUT=<Out>.
type fixture struct {
	t    *testing.T
	host *Host
	// Out is where test scripts leave their evidence, outside any revision.
	Out string
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	out := t.TempDir()
	h := &Host{
		Root: Root(filepath.Join(t.TempDir(), "root")),
		Env:  []string{"PATH=" + os.Getenv("PATH"), "OUT=" + out},
		// Short graces keep the timeout and left-open tests quick; the outcomes do not depend on them.
		KillGrace: 300 * time.Millisecond,
		PipeGrace: 300 * time.Millisecond,
	}
	return &fixture{t: t, host: h, Out: out}
}

// deployment is a deployment of group "g" with the given id and bundle.
func deployment(id, bundle string) Deployment {
	return Deployment{ID: id, ApplicationName: "app", GroupName: "web", GroupID: "g", Bundle: bundle}
}

// localEvents is the order `slipway-agent local` runs: the in-place lifecycle without a router.
var localEvents = DefaultLocalEvents

// deploy runs events of d in order, stopping after the first failure as the agent does, and
// returns every result it got.
func (f *fixture) deploy(d Deployment, events ...string) []Result {
	f.t.Helper()
	if len(events) == 0 {
		events = localEvents
	}
	var out []Result
	for _, e := range events {
		r := f.host.Run(context.Background(), d, e)
		out = append(out, r)
		if r.Status == StatusFailed {
			break
		}
	}
	return out
}

// mustDeploy is deploy for a deployment that must succeed.
func (f *fixture) mustDeploy(d Deployment, events ...string) []Result {
	f.t.Helper()
	rs := f.deploy(d, events...)
	for _, r := range rs {
		if r.Status == StatusFailed {
			f.t.Fatalf("deployment %s: %s: %s %s: %s\n%s", d.ID, r.Event, r.Status, r.Code, r.Message, r.Tail)
		}
	}
	return rs
}

// run runs one event and returns its result.
func (f *fixture) run(d Deployment, event string) Result {
	f.t.Helper()
	return f.host.Run(context.Background(), d, event)
}

// result finds the result of event in rs.
func result(t *testing.T, rs []Result, event string) Result {
	t.Helper()
	for _, r := range rs {
		if r.Event == event {
			return r
		}
	}
	t.Fatalf("no result for %s in %v", event, events(rs))
	return Result{}
}

func events(rs []Result) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.Event+"="+r.Status.String())
	}
	return out
}

// trace is what the scripts appended to $OUT/trace, one line per entry.
func (f *fixture) trace() []string {
	f.t.Helper()
	b, err := os.ReadFile(filepath.Join(f.Out, "trace"))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		f.t.Fatal(err)
	}
	return strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
}

// writeTree writes files (slash-separated path → content) under dir. Names ending in .sh are
// executable.
func writeTree(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		mode := os.FileMode(0o644)
		if strings.HasSuffix(name, ".sh") {
			mode = 0o755
		}
		if err := os.WriteFile(p, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
	}
}

// newBundle writes a revision directory holding appspec.yml and files.
func newBundle(t *testing.T, spec string, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	all := map[string]string{"appspec.yml": spec}
	for k, v := range files {
		all[k] = v
	}
	writeTree(t, dir, all)
	return dir
}

// traceScript appends "<rev> <event> <deployment>" to $OUT/trace.
func traceScript(rev string) string {
	return "#!/bin/sh\necho \"" + rev + " $LIFECYCLE_EVENT $DEPLOYMENT_ID\" >> \"$OUT/trace\"\n"
}

// traceBundle is a revision named rev with one tracing script on every scriptable server event.
// When failAt is an event, that event has a second script that exits 1.
func traceBundle(t *testing.T, rev, failAt string) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("version: 0.0\nos: linux\nhooks:\n")
	for _, e := range appspec.ServerHookEvents {
		fmt.Fprintf(&b, "  %s:\n    - location: scripts/trace.sh\n      timeout: 60\n", e)
		if e == failAt {
			b.WriteString("    - location: scripts/fail.sh\n      timeout: 60\n")
		}
	}
	return newBundle(t, b.String(), map[string]string{
		"scripts/trace.sh": traceScript(rev),
		"scripts/fail.sh":  "#!/bin/sh\necho \"" + rev + " fails on purpose\" >&2\nexit 1\n",
	})
}

// testUser returns the test account, skipping without it unless CI=true, where it must exist.
func testUser(t *testing.T, name string) *user.User {
	t.Helper()
	u, err := user.Lookup(name)
	if err != nil {
		needs(t, fmt.Sprintf("user %s (%v)", name, err))
	}
	if os.Geteuid() != 0 {
		needs(t, "root, to run scripts as or chown to "+name)
	}
	return u
}

// needs skips for a missing test dependency, or fails under CI, where scripts/test-deps.sh has
// installed everything.
func needs(t *testing.T, what string) {
	t.Helper()
	msg := "needs " + what + "; run scripts/test-deps.sh as root"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// openToAll makes dir and the directories above it up to the system temp dir searchable by every
// user, so a script run as another user can reach a revision under t.TempDir().
func openToAll(t *testing.T, dir string) {
	t.Helper()
	top := filepath.Clean(os.TempDir())
	for d := dir; d != top && d != filepath.Dir(d); d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(d, fi.Mode().Perm()|0o755); err != nil {
			t.Fatal(err)
		}
	}
}

// waitGone waits until pid is gone (or a zombie nobody reaps), failing after a generous deadline:
// the deadline bounds a hang, it is not a measurement.
func waitGone(t *testing.T, pid int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if !script.Running(pid) {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("process %d is still running", pid)
}

// readPid reads a pid a script wrote, and makes sure the process is killed when the test ends.
func readPid(t *testing.T, path string) int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatalf("pid file %s: %v", path, err)
	}
	t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGKILL) })
	return pid
}

// dirNames lists the entries of dir, sorted.
func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		out = append(out, e.Name())
	}
	slices.Sort(out)
	return out
}

func exists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
