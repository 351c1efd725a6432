package install

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/slipway-deploy/slipway/internal/appspec"
)

// requireTool skips the test when a command it needs is absent, except in CI, where the machine
// is set up by scripts/test-deps.sh and an absent command is a broken setup.
func requireTool(t *testing.T, name string) {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		missing(t, "command %s is not installed (apt-get install acl / e2fsprogs): %v", name, err)
	}
}

func requireUser(t *testing.T, name string) *user.User {
	t.Helper()
	u, err := user.Lookup(name)
	if err != nil {
		missing(t, "user %s does not exist (useradd -m -s /bin/sh %s): %v", name, name, err)
	}
	return u
}

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		missing(t, "the test needs root (chown, chattr)")
	}
}

func missing(t *testing.T, format string, args ...any) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("CI=true: "+format, args...)
	}
	t.Skipf(format, args...)
}

// testUser is created by scripts/test-deps.sh.
const testUser = "slipway-test"

// tree describes files to create: a key ending in "/" is a directory, a value starting with
// "symlink:" is a symlink to the rest, anything else is a file with that content.
type tree map[string]string

const linkPrefix = "symlink:"

func makeTree(t *testing.T, root string, tr tree) {
	t.Helper()
	keys := make([]string, 0, len(tr))
	for k := range tr {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		p := filepath.Join(root, k)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		v := tr[k]
		switch {
		case strings.HasSuffix(k, "/"):
			if err := os.MkdirAll(p, 0o755); err != nil {
				t.Fatal(err)
			}
		case strings.HasPrefix(v, linkPrefix):
			if err := os.Symlink(strings.TrimPrefix(v, linkPrefix), p); err != nil {
				t.Fatal(err)
			}
		default:
			if err := os.WriteFile(p, []byte(v), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// fixture is a bundle, a host directory to install into and a deployment-instructions directory,
// all under one t.TempDir().
type fixture struct {
	t       *testing.T
	archive string
	host    string
	instr   string
	in      *Installer
}

func newFixture(t *testing.T, bundle tree) *fixture {
	t.Helper()
	dir := t.TempDir()
	f := &fixture{
		t:       t,
		archive: filepath.Join(dir, "deployment-archive"),
		host:    filepath.Join(dir, "host"),
		instr:   filepath.Join(dir, "deployment-instructions"),
		in:      &Installer{Logger: testLogger(t)},
	}
	for _, d := range []string{f.archive, f.host} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	makeTree(t, f.archive, bundle)
	return f
}

func (f *fixture) path(rel string) string { return filepath.Join(f.host, rel) }

func (f *fixture) cleanupFile() string { return filepath.Join(f.instr, "group-1-cleanup") }

func (f *fixture) request(spec *appspec.Spec) Request {
	return Request{
		Spec:        spec,
		ArchiveDir:  f.archive,
		CleanupFile: f.cleanupFile(),
		InstallFile: filepath.Join(f.instr, "group-1-install.json"),
	}
}

func (f *fixture) install(spec *appspec.Spec) error {
	f.t.Helper()
	return f.in.Install(context.Background(), f.request(spec))
}

func (f *fixture) mustInstall(spec *appspec.Spec) {
	f.t.Helper()
	if err := f.install(spec); err != nil {
		f.t.Fatalf("Install: %v", err)
	}
}

// cleanupLines is the cleanup list as written, one entry per line.
func (f *fixture) cleanupLines() []string {
	f.t.Helper()
	data, err := os.ReadFile(f.cleanupFile())
	if err != nil {
		f.t.Fatalf("read cleanup list: %v", err)
	}
	return completeLines(data)
}

func spec(files ...appspec.File) *appspec.Spec {
	return &appspec.Spec{Platform: appspec.PlatformServer, Version: "0.0", OS: appspec.OSLinux, Files: files}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	return string(b)
}

func exists(t *testing.T, path string) bool {
	t.Helper()
	_, err := os.Lstat(path)
	if err != nil && !os.IsNotExist(err) {
		t.Fatalf("lstat %s: %v", path, err)
	}
	return err == nil
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(string(bytes.TrimRight(p, "\n")))
	return len(p), nil
}

// commands stands in for setfacl, semanage and restorecon. onCall, if set, runs at each call,
// so a test can look at the files at that moment.
type commands struct {
	mu     sync.Mutex
	calls  []string
	onCall func(name string, args []string) error
}

func (c *commands) run(_ context.Context, name string, args ...string) error {
	c.mu.Lock()
	c.calls = append(c.calls, strings.Join(append([]string{name}, args...), " "))
	c.mu.Unlock()
	if c.onCall != nil {
		return c.onCall(name, args)
	}
	return nil
}

func (c *commands) got() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.calls)
}

func lookPathAll(file string) (string, error) { return "/usr/sbin/" + file, nil }
