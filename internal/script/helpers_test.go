package script

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// testPath is the PATH scripts get in tests; the environment is otherwise exactly what a test gives.
const testPath = "PATH=/usr/local/bin:/usr/bin:/bin"

// lockedBuffer is a Log that tolerates being read while a script still writes (a Run in another
// goroutine).
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// writeScript writes body to dir/name with mode and returns its path.
func writeScript(t testing.TB, dir, name, body string, mode os.FileMode) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(body), mode); err != nil {
		t.Fatal(err)
	}
	// WriteFile's mode is filtered by the umask; tests need the exact bits.
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
	return path
}

// runScript runs body as a /bin/sh script in a fresh directory and returns the result and the log.
func runScript(t *testing.T, r *Runner, body string, edit func(*Command)) (Result, string) {
	t.Helper()
	dir := t.TempDir()
	log := &lockedBuffer{}
	r.Log = log
	c := Command{
		Event:   "ApplicationStart",
		Path:    writeScript(t, dir, "hook.sh", "#!/bin/sh\n"+body, 0o755),
		Dir:     dir,
		Timeout: time.Minute,
		Env:     []string{testPath},
	}
	if edit != nil {
		edit(&c)
	}
	res := r.Run(context.Background(), c)
	if res.LogErr != nil {
		t.Errorf("LogErr = %v", res.LogErr)
	}
	return res, log.String()
}

var logLine = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z \[([A-Za-z]+)\] \[(stdout|stderr|script)(\+?)\] (.*)$`)

type logRecord struct {
	event, stream string
	cont          bool
	text          string
}

// parseLog checks that every line of log is well formed and returns the records.
func parseLog(t *testing.T, log string) []logRecord {
	t.Helper()
	if log != "" && !strings.HasSuffix(log, "\n") {
		t.Errorf("log does not end with a newline: %q", lastBytes(log, 200))
	}
	var recs []logRecord
	sc := bufio.NewScanner(strings.NewReader(log))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		m := logLine.FindStringSubmatch(sc.Text())
		if m == nil {
			t.Fatalf("malformed log line %q", lastBytes(sc.Text(), 200))
		}
		recs = append(recs, logRecord{event: m[1], stream: m[2], cont: m[3] == "+", text: m[4]})
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return recs
}

// outputLines returns the lines of stream in the log, with continuation records joined back.
func outputLines(t *testing.T, log, stream string) []string {
	t.Helper()
	var lines []string
	for _, r := range parseLog(t, log) {
		if r.stream != stream {
			continue
		}
		if r.cont {
			if len(lines) == 0 {
				t.Fatalf("continuation record with nothing before it in %s", stream)
			}
			lines[len(lines)-1] += r.text
			continue
		}
		lines = append(lines, r.text)
	}
	return lines
}

func lastBytes(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "..." + s[len(s)-n:]
}

// readPID reads a pid a script wrote to path, waiting for it to appear.
func readPID(t *testing.T, path string) int {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, err := os.ReadFile(path)
		if err == nil && bytes.HasSuffix(b, []byte("\n")) {
			pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
			if err != nil {
				t.Fatalf("pid file %s: %v", path, err)
			}
			return pid
		}
		if time.Now().After(deadline) {
			t.Fatalf("no pid in %s after 10s", path)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitGone fails the test if any of pids still runs after a generous deadline.
func waitGone(t *testing.T, pids ...int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for _, pid := range pids {
		for Running(pid) {
			if time.Now().After(deadline) {
				t.Fatalf("process %d still runs", pid)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}

// killOnCleanup makes sure a process a test deliberately left running does not outlive it.
func killOnCleanup(t *testing.T, pid int) {
	t.Helper()
	t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGKILL) })
}

// requireUser skips when the machine lacks the Unix user name (CI creates it, so there it fails).
func requireUser(t *testing.T, name string) account {
	t.Helper()
	a, err := lookupAccount(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI must create user %s: %v", name, err)
		}
		t.Skipf("user %s does not exist on this machine (CI creates it): %v", name, err)
	}
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatalf("runas tests must run as root in CI")
		}
		t.Skip("runas tests need root")
	}
	return a
}
