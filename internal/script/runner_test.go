package script

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

func TestRun_Succeeds(t *testing.T) {
	t.Parallel()
	res, log := runScript(t, &Runner{}, "echo hello\necho problem >&2\n", nil)
	if got, want := res.Code, Succeeded; got != want {
		t.Fatalf("Code = %v, want %v (%s)", got, want, res.Message)
	}
	if res.ExitCode != 0 || res.Signal != 0 || res.Message != "" || res.Err != nil {
		t.Errorf("result = %+v, want exit 0 and no message or error", res)
	}
	if got, want := outputLines(t, log, "stdout"), []string{"hello"}; !slices.Equal(got, want) {
		t.Errorf("stdout lines = %q, want %q", got, want)
	}
	if got, want := outputLines(t, log, "stderr"), []string{"problem"}; !slices.Equal(got, want) {
		t.Errorf("stderr lines = %q, want %q", got, want)
	}
	notes := outputLines(t, log, "script")
	if len(notes) != 2 || !strings.HasPrefix(notes[0], "start ") || !strings.HasPrefix(notes[1], "end ") {
		t.Fatalf("script lines = %q, want a start and an end line", notes)
	}
	if !strings.Contains(notes[1], "Succeeded, exit code 0") {
		t.Errorf("end line = %q, want it to give the code and exit status", notes[1])
	}
	for _, r := range parseLog(t, log) {
		if got, want := r.event, "ApplicationStart"; got != want {
			t.Errorf("event = %q, want %q", got, want)
		}
	}
	if got, want := res.Tail, "[stdout] hello\n[stderr] problem\n"; got != want && res.Tail != "[stderr] problem\n[stdout] hello\n" {
		t.Errorf("Tail = %q, want %q in either order", got, want)
	}
	if res.Finished.Before(res.Started) {
		t.Errorf("Finished %v before Started %v", res.Finished, res.Started)
	}
}

func TestRun_ExitStatus(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		body        string
		runAs       string
		wantExit    int
		wantSignal  syscall.Signal
		wantMessage string
	}{
		{"exit 3", "echo before\necho why >&2\nexit 3\n", "", 3, 0,
			"Script at specified location: scripts/hook.sh failed with exit code 3"},
		{"killed by a signal", "echo before\nkill -USR1 $$\nsleep 5\n", "", -1, syscall.SIGUSR1,
			"Script at specified location: scripts/hook.sh was killed by SIGUSR1"},
		{"run as the agent's own user", "echo before\nexit 1\n", currentUser(t), 1, 0,
			"Script at specified location: scripts/hook.sh run as user " + currentUser(t) + " failed with exit code 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			res, _ := runScript(t, &Runner{}, tt.body, func(c *Command) {
				c.Location = "scripts/hook.sh"
				c.RunAs = tt.runAs
			})
			if got, want := res.Code, Failed; got != want {
				t.Fatalf("Code = %v, want %v (%s)", got, want, res.Message)
			}
			if got, want := res.ExitCode, tt.wantExit; got != want {
				t.Errorf("ExitCode = %d, want %d", got, want)
			}
			if got, want := res.Signal, tt.wantSignal; got != want {
				t.Errorf("Signal = %v, want %v", got, want)
			}
			if got, want := res.Message, tt.wantMessage; got != want {
				t.Errorf("Message = %q, want %q", got, want)
			}
			if !strings.Contains(res.Tail, "[stdout] before\n") {
				t.Errorf("Tail = %q, want the script's output", res.Tail)
			}
		})
	}
}

func currentUser(t *testing.T) string {
	t.Helper()
	name := ownerName(uint32(os.Geteuid()))
	if strings.HasPrefix(name, "uid ") {
		t.Skipf("the current uid has no user name")
	}
	return name
}

func TestRun_Missing(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := writeScript(t, dir, "file", "#!/bin/sh\n", 0o755)
	tests := []struct {
		name, path, wantMessage string
	}{
		{"no such file", filepath.Join(dir, "nope.sh"), "Script does not exist at specified location: " + filepath.Join(dir, "nope.sh")},
		{"no such directory", filepath.Join(dir, "no", "hook.sh"), "Script does not exist at specified location: " + filepath.Join(dir, "no", "hook.sh")},
		{"a file as a directory", filepath.Join(file, "hook.sh"), "Script does not exist at specified location: " + filepath.Join(file, "hook.sh")},
		{"a directory", dir, "Script at specified location: " + dir + " is a directory, not a script file"},
		{"not a regular file", "/dev/null", "Script at specified location: /dev/null is not a regular file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			log := &lockedBuffer{}
			res := (&Runner{Log: log}).Run(context.Background(), Command{Event: "BeforeInstall", Path: tt.path, Location: "hook.sh"})
			if got, want := res.Code, Missing; got != want {
				t.Fatalf("Code = %v, want %v (%s)", got, want, res.Message)
			}
			if got, want := res.Message, tt.wantMessage; got != want {
				t.Errorf("Message = %q, want %q", got, want)
			}
			if got, want := res.ExitCode, -1; got != want {
				t.Errorf("ExitCode = %d, want %d", got, want)
			}
			if notes := outputLines(t, log.String(), "script"); len(notes) != 2 || !strings.Contains(notes[1], "ScriptMissing, not run") {
				t.Errorf("script lines = %q, want start and an end naming ScriptMissing", notes)
			}
		})
	}
}

func TestRun_NotExecutableIsMadeExecutable(t *testing.T) {
	t.Parallel()
	tests := []struct {
		mode, want fs.FileMode
	}{
		{0o644, 0o755},
		{0o600, 0o711},
		{0o640 | fs.ModeSetgid, 0o751 | fs.ModeSetgid},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%v", tt.mode), func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			path := writeScript(t, dir, "hook.sh", "#!/bin/sh\necho ran\n", tt.mode)
			log := &lockedBuffer{}
			res := (&Runner{Log: log}).Run(context.Background(), Command{Event: "AfterInstall", Path: path})
			if got, want := res.Code, Succeeded; got != want {
				t.Fatalf("Code = %v, want %v (%s)", got, want, res.Message)
			}
			fi, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := fi.Mode()&(fs.ModePerm|fs.ModeSetgid), tt.want; got != want {
				t.Errorf("mode = %v, want %v", got, want)
			}
			if got, want := outputLines(t, log.String(), "stdout"), []string{"ran"}; !slices.Equal(got, want) {
				t.Errorf("stdout = %q, want %q", got, want)
			}
			if !strings.Contains(log.String(), "was not executable; made it executable") {
				t.Errorf("log does not say the script was made executable:\n%s", log)
			}
		})
	}
}

func TestRun_ChmodImpossible(t *testing.T) {
	t.Parallel()
	// Even root may not change the mode of a /proc/<pid> file: a real, non-executable regular file
	// whose chmod fails, with no setup to undo.
	const path = "/proc/self/cmdline"
	fi, err := os.Stat(path)
	if err != nil || !fi.Mode().IsRegular() || fi.Mode()&0o111 != 0 {
		t.Skipf("%s is not a non-executable regular file here (%v, %v)", path, fi, err)
	}
	res := (&Runner{}).Run(context.Background(), Command{Event: "AfterInstall", Path: path, Location: "cmdline"})
	if got, want := res.Code, NotExecutable; got != want {
		t.Fatalf("Code = %v, want %v (%s)", got, want, res.Message)
	}
	if got, want := res.Message, "Unable to set script at specified location: cmdline as executable: operation not permitted"; got != want {
		t.Errorf("Message = %q, want %q", got, want)
	}
	if !errors.Is(res.Err, fs.ErrPermission) {
		t.Errorf("Err = %v, want a permission error", res.Err)
	}
}

func TestRun_StartProblems(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, content string
		wantCode      Code
		wantMessage   string
	}{
		{"no #! line runs with sh", "echo ran without a shebang\n", Succeeded, ""},
		{"missing interpreter", "#!/nonexistent/bin/sh\necho x\n", Failed,
			"Script at specified location: hook could not be started: the interpreter /nonexistent/bin/sh named on its #! line does not exist"},
		{"windows line endings", "#!/bin/sh\r\necho x\r\n", Failed,
			"Script at specified location: hook could not be started: its #! line ends with a carriage return (Windows line endings); convert the script to Unix line endings"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := writeScript(t, t.TempDir(), "hook", tt.content, 0o755)
			res := (&Runner{}).Run(context.Background(), Command{Event: "AfterInstall", Path: path, Location: "hook", Env: []string{testPath}})
			if got, want := res.Code, tt.wantCode; got != want {
				t.Fatalf("Code = %v, want %v (%s)", got, want, res.Message)
			}
			if got, want := res.Message, tt.wantMessage; got != want {
				t.Errorf("Message = %q, want %q", got, want)
			}
		})
	}

	t.Run("relative path", func(t *testing.T) {
		t.Parallel()
		res := (&Runner{}).Run(context.Background(), Command{Event: "AfterInstall", Path: "hook.sh"})
		if got, want := res.Code, UnknownError; got != want {
			t.Errorf("Code = %v, want %v", got, want)
		}
	})
	t.Run("missing working directory", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		path := writeScript(t, dir, "hook", "#!/bin/sh\n", 0o755)
		res := (&Runner{}).Run(context.Background(), Command{Event: "AfterInstall", Path: path, Location: "hook", Dir: filepath.Join(dir, "gone")})
		if got, want := res.Code, Failed; got != want {
			t.Fatalf("Code = %v, want %v (%s)", got, want, res.Message)
		}
		if !strings.Contains(res.Message, "working directory") {
			t.Errorf("Message = %q, want it to name the working directory", res.Message)
		}
	})
}

func TestRun_TimeoutKillsProcessGroup(t *testing.T) {
	t.Parallel()
	res, log := runScript(t, &Runner{KillGrace: time.Minute}, `
sh -c 'sleep 1000 & echo $! > grandchild.pid; wait' &
echo $! > child.pid
echo $$ > script.pid
echo waiting
wait
`, func(c *Command) {
		c.Location = "slow.sh"
		c.Timeout = 2 * time.Second
	})
	if got, want := res.Code, TimedOut; got != want {
		t.Fatalf("Code = %v, want %v (%s)", got, want, res.Message)
	}
	if got, want := res.Message, "Script at specified location: slow.sh failed to complete in 2 seconds (it was ended by SIGTERM)"; got != want {
		t.Errorf("Message = %q, want %q", got, want)
	}
	if got, want := res.Tail, "[stdout] waiting\n"; got != want {
		t.Errorf("Tail = %q, want %q", got, want)
	}
	dir := filepath.Dir(logPathOf(t, log))
	waitGone(t, readPID(t, filepath.Join(dir, "script.pid")), readPID(t, filepath.Join(dir, "child.pid")), readPID(t, filepath.Join(dir, "grandchild.pid")))
}

// logPathOf returns the script path named in the log's start line.
func logPathOf(t *testing.T, log string) string {
	t.Helper()
	notes := outputLines(t, log, "script")
	if len(notes) == 0 {
		t.Fatal("no start line")
	}
	path, _, _ := strings.Cut(strings.TrimPrefix(notes[0], "start "), " ")
	return path
}

func TestRun_TimeoutScriptHandlesTERM(t *testing.T) {
	t.Parallel()
	// The grace is long: if the script were SIGKILLed instead of exiting, ExitCode would say so.
	res, _ := runScript(t, &Runner{KillGrace: time.Minute}, `
trap 'echo cleaning up; exit 0' TERM
echo ready
while :; do sleep 0.05; done
`, func(c *Command) { c.Timeout = time.Second })
	if got, want := res.Code, TimedOut; got != want {
		t.Fatalf("Code = %v, want %v (%s)", got, want, res.Message)
	}
	if res.ExitCode != 0 || res.Signal != 0 {
		t.Errorf("ExitCode = %d, Signal = %v, want a clean exit from the trap", res.ExitCode, res.Signal)
	}
	if !strings.Contains(res.Tail, "[stdout] cleaning up\n") {
		t.Errorf("Tail = %q, want the trap's output", res.Tail)
	}
	if !strings.Contains(res.Message, "(it exited after SIGTERM)") {
		t.Errorf("Message = %q, want it to say the script exited after SIGTERM", res.Message)
	}
}

func TestRun_TimeoutIgnoredTERMGetsKILL(t *testing.T) {
	t.Parallel()
	res, log := runScript(t, &Runner{KillGrace: 100 * time.Millisecond}, `
trap '' TERM
sleep 1000 &
echo $! > sleeper.pid
wait
`, func(c *Command) { c.Timeout = time.Second })
	if got, want := res.Code, TimedOut; got != want {
		t.Fatalf("Code = %v, want %v (%s)", got, want, res.Message)
	}
	if got, want := res.Signal, syscall.SIGKILL; got != want {
		t.Errorf("Signal = %v, want %v", got, want)
	}
	if !strings.Contains(res.Message, "(it was ended by SIGKILL)") {
		t.Errorf("Message = %q, want it to say SIGKILL", res.Message)
	}
	waitGone(t, readPID(t, filepath.Join(filepath.Dir(logPathOf(t, log)), "sleeper.pid")))
}

func TestRun_ContextCancelStopsGroup(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := writeScript(t, dir, "hook.sh", "#!/bin/sh\nsleep 1000 &\necho $! > child.pid\nwait\n", 0o755)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan Result, 1)
	go func() {
		done <- (&Runner{KillGrace: time.Minute}).Run(ctx, Command{Event: "ValidateService", Path: path, Dir: dir, Env: []string{testPath}})
	}()
	child := readPID(t, filepath.Join(dir, "child.pid"))
	cancel()
	res := <-done
	if got, want := res.Code, UnknownError; got != want {
		t.Fatalf("Code = %v, want %v (%s)", got, want, res.Message)
	}
	if !errors.Is(res.Err, context.Canceled) {
		t.Errorf("Err = %v, want context.Canceled", res.Err)
	}
	if !strings.Contains(res.Message, "the agent is stopping") {
		t.Errorf("Message = %q, want it to say the agent is stopping", res.Message)
	}
	waitGone(t, child)

	t.Run("already cancelled", func(t *testing.T) {
		res := (&Runner{}).Run(ctx, Command{Event: "ValidateService", Path: path, Dir: dir})
		if got, want := res.Code, UnknownError; got != want {
			t.Errorf("Code = %v, want %v", got, want)
		}
		if got, want := res.ExitCode, -1; got != want {
			t.Errorf("ExitCode = %d, want %d (not started)", got, want)
		}
	})
}

func TestRun_OutputsLeftOpen(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		body        string
		wantCode    Code
		wantMessage string
	}{
		{"stdout and stderr", "sleep 1000 &\necho $! > bg.pid\necho started\n", OutputsLeftOpen,
			"Script at specified location: start.sh exited, but a background process it started still holds its stdout and stderr open. " +
				"Redirect that process's output, for example `my-daemon > /dev/null 2>&1 &`, so the script can finish"},
		{"stderr only", "sleep 1000 > /dev/null &\necho $! > bg.pid\n", OutputsLeftOpen,
			"Script at specified location: start.sh exited, but a background process it started still holds its stderr open. " +
				"Redirect that process's output, for example `my-daemon > /dev/null 2>&1 &`, so the script can finish"},
		{"and failed", "sleep 1000 &\necho $! > bg.pid\nexit 4\n", Failed,
			"Script at specified location: start.sh failed with exit code 4 (and left its stdout and stderr open)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			res, log := runScript(t, &Runner{PipeGrace: 100 * time.Millisecond}, tt.body, func(c *Command) { c.Location = "start.sh" })
			bg := readPID(t, filepath.Join(filepath.Dir(logPathOf(t, log)), "bg.pid"))
			killOnCleanup(t, bg)
			if got, want := res.Code, tt.wantCode; got != want {
				t.Fatalf("Code = %v, want %v (%s)", got, want, res.Message)
			}
			if got, want := res.Message, tt.wantMessage; got != want {
				t.Errorf("Message = %q, want %q", got, want)
			}
			if !Running(bg) {
				t.Errorf("background process %d was killed; it must be left running", bg)
			}
		})
	}
}

func TestRun_OutputStillInThePipeAfterExitIsNotLeftOpen(t *testing.T) {
	t.Parallel()
	// A script that prints and exits, read by an agent that is slow to get the CPU: when the
	// grace after the exit is over, what the pipes still hold is the script's output, not a sign
	// that someone holds them open. A grace of 1 ns makes the slow reader certain.
	const n = 2000
	res, log := runScript(t, &Runner{PipeGrace: time.Nanosecond},
		fmt.Sprintf("i=0\nwhile [ $i -lt %d ]; do echo \"line $i\"; echo \"err $i\" >&2; i=$((i+1)); done\n", n), nil)
	if got, want := res.Code, Succeeded; got != want {
		t.Fatalf("Code = %v, want %v (%s)", got, want, res.Message)
	}
	out, errs := outputLines(t, log, "stdout"), outputLines(t, log, "stderr")
	if len(out) != n || len(errs) != n || out[n-1] != fmt.Sprintf("line %d", n-1) || errs[n-1] != fmt.Sprintf("err %d", n-1) {
		t.Errorf("logged %d stdout and %d stderr lines, want %d of each, the last ones included", len(out), len(errs), n)
	}
}

// releasingLog closes a file the first time the runner logs a line containing "busy".
type releasingLog struct {
	lockedBuffer
	once sync.Once
	f    *os.File
}

func (l *releasingLog) Write(p []byte) (int, error) {
	if bytes.Contains(p, []byte("busy")) {
		l.once.Do(func() { l.f.Close() })
	}
	return l.lockedBuffer.Write(p)
}

func TestRun_TextFileBusyIsRetried(t *testing.T) {
	t.Parallel()
	// exec fails with ETXTBSY while any process holds the script open for writing: typically a
	// child another goroutine has forked and not yet exec'd. Here the test holds it, and lets go
	// once the runner says it is waiting.
	dir := t.TempDir()
	path := writeScript(t, dir, "hook.sh", "#!/bin/sh\necho ran\n", 0o755)
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	log := &releasingLog{f: f}
	res := (&Runner{Log: log}).Run(context.Background(), Command{Event: "BeforeInstall", Path: path, Dir: dir, Env: []string{testPath}})
	if got, want := res.Code, Succeeded; got != want {
		t.Fatalf("Code = %v, want %v (%s)", got, want, res.Message)
	}
	if got, want := outputLines(t, log.String(), "stdout"), []string{"ran"}; !slices.Equal(got, want) {
		t.Errorf("stdout = %q, want %q", got, want)
	}
}

func TestRun_RedirectedDaemonSurvives(t *testing.T) {
	t.Parallel()
	res, log := runScript(t, &Runner{}, "sleep 1000 > /dev/null 2>&1 &\necho $! > daemon.pid\necho started\n", nil)
	daemon := readPID(t, filepath.Join(filepath.Dir(logPathOf(t, log)), "daemon.pid"))
	killOnCleanup(t, daemon)
	if got, want := res.Code, Succeeded; got != want {
		t.Fatalf("Code = %v, want %v (%s)", got, want, res.Message)
	}
	if !Running(daemon) {
		t.Errorf("daemon %d did not survive its start script", daemon)
	}
}

func TestRun_StdinIsClosed(t *testing.T) {
	t.Parallel()
	res, log := runScript(t, &Runner{}, "read x\necho \"read status $? [$x]\"\n", nil)
	if got, want := res.Code, Succeeded; got != want {
		t.Fatalf("Code = %v, want %v (%s)", got, want, res.Message)
	}
	if got, want := outputLines(t, log, "stdout"), []string{"read status 1 []"}; !slices.Equal(got, want) {
		t.Errorf("stdout = %q, want %q", got, want)
	}
}

func TestRun_Environment(t *testing.T) {
	t.Parallel()
	// /proc/$$/environ is what the shell was given, before it adds PWD and the like.
	const body = "tr '\\0' '\\n' < /proc/$$/environ\n"
	tests := []struct {
		name string
		env  []string
		want []string
	}{
		{"exactly as given",
			[]string{testPath, "A=1", "B=two words", "EMPTY=", "EQ=a=b", "UNICODE=h\u00e9llo", "LIFECYCLE_EVENT=ApplicationStart"},
			[]string{testPath, "A=1", "B=two words", "EMPTY=", "EQ=a=b", "UNICODE=h\u00e9llo", "LIFECYCLE_EVENT=ApplicationStart"}},
		{"nil is empty, not the agent's", nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			res, log := runScript(t, &Runner{}, body, func(c *Command) { c.Env = tt.env })
			if got, want := res.Code, Succeeded; got != want {
				t.Fatalf("Code = %v, want %v (%s)", got, want, res.Message)
			}
			got := outputLines(t, log, "stdout")
			slices.Sort(got)
			want := slices.Clone(tt.want)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Errorf("environment = %q, want %q", got, want)
			}
		})
	}

	t.Run("never logged", func(t *testing.T) {
		t.Parallel()
		const secret = "s3cr3t-token-value"
		res, log := runScript(t, &Runner{}, "true\n", func(c *Command) { c.Env = append(c.Env, "GITHUB_TOKEN="+secret) })
		if got, want := res.Code, Succeeded; got != want {
			t.Fatalf("Code = %v, want %v (%s)", got, want, res.Message)
		}
		if strings.Contains(log, secret) {
			t.Errorf("the log contains the environment:\n%s", log)
		}
	})
}

func TestRun_LinesDoNotTear(t *testing.T) {
	t.Parallel()
	const n = 3000
	body := fmt.Sprintf(`
i=0; while [ $i -lt %[1]d ]; do i=$((i+1)); echo "out line $i with some padding to make it longer"; done &
j=0; while [ $j -lt %[1]d ]; do j=$((j+1)); echo "err line $j with some padding to make it longer" >&2; done &
wait
`, n)
	res, log := runScript(t, &Runner{}, body, nil)
	if got, want := res.Code, Succeeded; got != want {
		t.Fatalf("Code = %v, want %v (%s)", got, want, res.Message)
	}
	for stream, word := range map[string]string{"stdout": "out", "stderr": "err"} {
		lines := outputLines(t, log, stream)
		if got, want := len(lines), n; got != want {
			t.Fatalf("%s has %d lines, want %d", stream, got, want)
		}
		for i, l := range lines {
			if want := fmt.Sprintf("%s line %d with some padding to make it longer", word, i+1); l != want {
				t.Fatalf("%s line %d = %q, want %q", stream, i+1, l, want)
			}
		}
	}
}

func TestRun_AwkwardOutput(t *testing.T) {
	t.Parallel()
	const long = 40000 // more than two records
	res, log := runScript(t, &Runner{}, fmt.Sprintf(`
printf 'crlf\r\nprogress 1\rprogress 2\rdone\n'
printf 'bad \377\376 bytes\n'
printf 'tab\there\n'
printf 'no newline at the end' >&2
head -c %d /dev/zero | tr '\0' a
`, long), nil)
	if got, want := res.Code, Succeeded; got != want {
		t.Fatalf("Code = %v, want %v (%s)", got, want, res.Message)
	}
	out := outputLines(t, log, "stdout")
	want := []string{"crlf", "progress 1", "progress 2", "done", "bad \uFFFD bytes", "tab\there", strings.Repeat("a", long)}
	if !slices.Equal(out, want) {
		t.Errorf("stdout = %q, want %q", shorten(out), shorten(want))
	}
	if got, want := outputLines(t, log, "stderr"), []string{"no newline at the end"}; !slices.Equal(got, want) {
		t.Errorf("stderr = %q, want %q", got, want)
	}
	for _, r := range parseLog(t, log) {
		if len(r.text) > maxRecordBytes {
			t.Errorf("a %s record has %d bytes, want at most %d", r.stream, len(r.text), maxRecordBytes)
		}
	}
}

func TestRun_Tail(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, body, want string
	}{
		{"whole last lines that fit", "for i in 1 2 3 4 5 6 7 8 9; do echo \"line $i of the output\"; done\n",
			"[stdout] line 7 of the output\n[stdout] line 8 of the output\n[stdout] line 9 of the output\n"},
		{"a long last line is kept, cut", "echo short\nhead -c 40000 /dev/zero | tr '\\0' a\n",
			"[stdout] [truncated] " + strings.Repeat("a", 100) + "\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			res, _ := runScript(t, &Runner{TailBytes: 100}, tt.body, nil)
			if got, want := res.Code, Succeeded; got != want {
				t.Fatalf("Code = %v, want %v (%s)", got, want, res.Message)
			}
			if got, want := res.Tail, tt.want; got != want {
				t.Errorf("Tail = %q, want %q", got, want)
			}
		})
	}
}

func shorten(lines []string) []string {
	out := make([]string, len(lines))
	for i, l := range lines {
		out[i] = l
		if len(l) > 60 {
			out[i] = l[:60] + "...(" + strconv.Itoa(len(l)) + " bytes)"
		}
	}
	return out
}

func TestCode_String(t *testing.T) {
	t.Parallel()
	tests := []struct {
		code Code
		want string
	}{
		{Succeeded, "Succeeded"},
		{Missing, "ScriptMissing"},
		{NotExecutable, "ScriptNotExecutable"},
		{TimedOut, "ScriptTimedOut"},
		{Failed, "ScriptFailed"},
		{UnknownError, "UnknownError"},
		{OutputsLeftOpen, "OutputsLeftOpen"},
		{FailedAfterRestart, "FailedAfterRestart"},
		{Code(42), "Code(42)"},
	}
	for _, tt := range tests {
		if got := tt.code.String(); got != tt.want {
			t.Errorf("Code(%d).String() = %q, want %q", int(tt.code), got, tt.want)
		}
	}
}
