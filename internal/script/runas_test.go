package script

import (
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Users CI creates for these tests:
//
//	useradd -m -s /bin/sh slipway-test
//	useradd -M -s /usr/sbin/nologin slipway-nologin
const (
	testUser    = "slipway-test"
	nologinUser = "slipway-nologin"
)

// sharedDir returns a directory other users can read and search. t.TempDir's parent is 0700.
func sharedDir(t *testing.T, a account) string {
	t.Helper()
	dir := t.TempDir()
	for _, d := range []string{filepath.Dir(dir), dir} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if p := a.accessProblem(dir, 0o1); p != "" {
		t.Fatalf("the test directory is out of reach of %s (set TMPDIR elsewhere): %s", a.name, p)
	}
	return dir
}

func TestRun_RunAs(t *testing.T) {
	t.Parallel()
	const body = `id -un
id -u
echo "HOME=$HOME USER=$USER LOGNAME=$LOGNAME SHELL=${SHELL-unset} KEEP=$KEEP"
pwd
`
	for _, name := range []string{testUser, nologinUser} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			a := requireUser(t, name)
			dir := sharedDir(t, a)
			path := writeScript(t, dir, "hook.sh", "#!/bin/sh\n"+body, 0o755)
			log := &lockedBuffer{}
			res := (&Runner{Log: log}).Run(context.Background(), Command{
				Event: "ApplicationStart", Path: path, Dir: dir, RunAs: name, Timeout: time.Minute,
				Env: []string{testPath, "HOME=/root", "USER=root", "LOGNAME=root", "SHELL=/bin/bash", "KEEP=kept"},
			})
			if got, want := res.Code, Succeeded; got != want {
				t.Fatalf("Code = %v, want %v (%s)\n%s", got, want, res.Message, log)
			}
			want := []string{
				name,
				strconv.FormatUint(uint64(a.uid), 10),
				"HOME=" + a.home + " USER=" + name + " LOGNAME=" + name + " SHELL=unset KEEP=kept",
				dir,
			}
			if got := outputLines(t, log.String(), "stdout"); !slices.Equal(got, want) {
				t.Errorf("stdout = %q, want %q", got, want)
			}
			if !strings.Contains(log.String(), "(as user "+name+", timeout 60s)") {
				t.Errorf("the start line does not name the user:\n%s", log)
			}
		})
	}
}

func TestRun_RunAsCannotReach(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		setup    func(t *testing.T, a account) (path, dir string)
		wantCode Code
		// wantHint is what the message must say; %d is replaced by the test directory.
		wantHint string
	}{
		{"deployment directory 0700",
			func(t *testing.T, _ account) (string, string) {
				dir := t.TempDir() // its parent is 0700, owned by root
				return writeScript(t, dir, "hook.sh", "#!/bin/sh\nid -un\n", 0o755), dir
			},
			NotExecutable, "%p has mode 0700 and owner root, so user slipway-test cannot search it"},
		{"script not readable",
			func(t *testing.T, a account) (string, string) {
				dir := sharedDir(t, a)
				return writeScript(t, dir, "hook.sh", "#!/bin/sh\nid -un\n", 0o711), dir
			},
			Failed, "%d/hook.sh has mode 0711 and owner root, so user slipway-test cannot read and execute it"},
		{"script not executable by the user",
			func(t *testing.T, a account) (string, string) {
				dir := sharedDir(t, a)
				return writeScript(t, dir, "hook.sh", "#!/bin/sh\nid -un\n", 0o744), dir
			},
			NotExecutable, "%d/hook.sh has mode 0744 and owner root, so user slipway-test cannot read and execute it"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a := requireUser(t, testUser)
			path, dir := tt.setup(t, a)
			res := (&Runner{}).Run(context.Background(), Command{
				Event: "AfterInstall", Path: path, Location: "hook.sh", Dir: dir, RunAs: testUser, Env: []string{testPath},
			})
			if got, want := res.Code, tt.wantCode; got != want {
				t.Fatalf("Code = %v, want %v (%s)", got, want, res.Message)
			}
			hint := strings.NewReplacer("%d", dir, "%p", filepath.Dir(dir)).Replace(tt.wantHint)
			if !strings.HasPrefix(res.Message, "Script at specified location: hook.sh run as user slipway-test ") || !strings.HasSuffix(res.Message, "; "+hint) {
				t.Errorf("Message = %q, want the script, the user, and %q", res.Message, hint)
			}
		})
	}
}

func TestRun_RunAsUnknownUser(t *testing.T) {
	t.Parallel()
	path := writeScript(t, t.TempDir(), "hook.sh", "#!/bin/sh\necho should not run\n", 0o755)
	log := &lockedBuffer{}
	res := (&Runner{Log: log}).Run(context.Background(), Command{Event: "AfterInstall", Path: path, Location: "hook.sh", RunAs: "slipway-no-such-user"})
	if got, want := res.Code, Failed; got != want {
		t.Fatalf("Code = %v, want %v (%s)", got, want, res.Message)
	}
	if got, want := res.Message, "Script at specified location: hook.sh run as user slipway-no-such-user could not be started: user slipway-no-such-user does not exist on this host"; got != want {
		t.Errorf("Message = %q, want %q", got, want)
	}
	if strings.Contains(log.String(), "should not run") {
		t.Errorf("the script ran:\n%s", log)
	}
}

// TestRun_RunAsNeedsRoot runs this test binary again as a regular user, where asking for another
// user must fail clearly rather than with a bare EPERM from the kernel.
func TestRun_RunAsNeedsRoot(t *testing.T) {
	if path := os.Getenv("SLIPWAY_SCRIPT_TEST_CHILD"); path != "" {
		res := (&Runner{}).Run(context.Background(), Command{Event: "AfterInstall", Path: path, Location: "hook.sh", RunAs: "root"})
		if got, want := res.Code, Failed; got != want {
			t.Fatalf("Code = %v, want %v (%s)", got, want, res.Message)
		}
		if want := "not root, so it cannot run scripts as user root"; !strings.Contains(res.Message, want) {
			t.Errorf("Message = %q, want it to say %q", res.Message, want)
		}
		return
	}
	t.Parallel()
	a := requireUser(t, testUser)
	dir := sharedDir(t, a)
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "script.test")
	copyFile(t, self, bin, 0o755)
	path := writeScript(t, dir, "hook.sh", "#!/bin/sh\n", 0o755)

	cmd := exec.Command(bin, "-test.run=^TestRun_RunAsNeedsRoot$", "-test.v")
	cmd.Dir = dir
	cmd.Env = []string{testPath, "SLIPWAY_SCRIPT_TEST_CHILD=" + path, "HOME=" + a.home}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: a.credential()}
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS: TestRun_RunAsNeedsRoot") {
		t.Fatalf("the test as user %s: %v\n%s", testUser, err, out)
	}
}

func copyFile(t *testing.T, from, to string, mode os.FileMode) {
	t.Helper()
	src, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY|os.O_EXCL, mode)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestRun_OwnSession: a script runs in a session of its own, without the agent's controlling
// terminal: one run as a less privileged user could otherwise open /dev/tty and push input
// (TIOCSTI) into the terminal of a root agent started by hand, as `su -c` scripts once could.
func TestRun_OwnSession(t *testing.T) {
	t.Parallel()
	// Fields 1, 6 and 7 of /proc/PID/stat: the pid, its session and its controlling terminal.
	res, log := runScript(t, &Runner{}, "awk '{print $1, $6, $7}' /proc/$$/stat\n", nil)
	if got, want := res.Code, Succeeded; got != want {
		t.Fatalf("Code = %v, want %v (%s)", got, want, res.Message)
	}
	out := outputLines(t, log, "stdout")
	if len(out) != 1 {
		t.Fatalf("stdout = %q, want one line", out)
	}
	f := strings.Fields(out[0])
	if len(f) != 3 || f[0] != f[1] || f[2] != "0" {
		t.Errorf("pid, session, tty = %q: want the script to lead its own session, with no terminal", out[0])
	}
}
