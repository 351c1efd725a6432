package rig

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/slipway-deploy/slipway/internal/api"
)

// Build compiles the named binaries (slipway-server, slipway-agent) from the repository root into
// dir and returns their paths by name.
func Build(ctx context.Context, dir string, names ...string) (map[string]string, error) {
	pkgs := map[string]string{"slipway-server": "./server", "slipway-agent": "./agent", "slipway": "./action"}
	out := map[string]string{}
	for _, name := range names {
		pkg, ok := pkgs[name]
		if !ok {
			return nil, fmt.Errorf("no binary %q", name)
		}
		path := filepath.Join(dir, name)
		if b, err := exec.CommandContext(ctx, "go", "build", "-o", path, pkg).CombinedOutput(); err != nil {
			return nil, fmt.Errorf("build %s (run from the repository root): %w\n%s", name, err, b)
		}
		out[name] = path
	}
	return out, nil
}

// Token returns a random secret for the server's admin and enrollment tokens.
func Token() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Server is a slipway-server process on a loopback port.
type Server struct {
	URL         string
	AdminToken  string
	EnrollToken string
	// DebugURL is the profiler's base URL (".../debug/pprof/") when the server was started
	// with --debug-listen, else "".
	DebugURL string
	cmd      *exec.Cmd
	log      *tail
	done     chan struct{}
}

// StartServer runs bin with its data in dataDir and waits until it listens. extraEnv is added to
// the environment (GODEBUG, GOMAXPROCS...). The server's log is kept in dataDir/server.log.
func StartServer(ctx context.Context, bin, dataDir string, extraEnv []string, args ...string) (*Server, error) {
	s := &Server{AdminToken: Token(), EnrollToken: Token(), done: make(chan struct{})}
	logFile, err := os.Create(filepath.Join(dataDir, "server.log"))
	if err != nil {
		return nil, err
	}
	s.log = &tail{f: logFile}
	cmd := exec.Command(bin, append([]string{"--listen", "127.0.0.1:0", "--data-dir", filepath.Join(dataDir, "data")}, args...)...)
	cmd.Env = append(os.Environ(), "SLIPWAY_ADMIN_TOKEN="+s.AdminToken, "SLIPWAY_ENROLL_TOKEN="+s.EnrollToken)
	cmd.Env = append(cmd.Env, extraEnv...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stderr = s.log
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s.cmd = cmd
	urls := make(chan string, 1)
	debugURL := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if u, ok := strings.CutPrefix(sc.Text(), "pprof listening on "); ok {
				debugURL <- u
			}
			if u, ok := strings.CutPrefix(sc.Text(), "listening on "); ok {
				urls <- u
			}
		}
	}()
	go func() {
		_ = cmd.Wait()
		_ = logFile.Close()
		close(s.done)
	}()
	select {
	case s.URL = <-urls:
		// The server prints the profiler's line, when it has one, before this one.
		select {
		case s.DebugURL = <-debugURL:
		default:
		}
		return s, nil
	case <-s.done:
		return nil, fmt.Errorf("slipway-server exited before listening:\n%s", s.log.last())
	case <-time.After(30 * time.Second):
		s.Stop()
		return nil, errors.New("slipway-server did not listen within 30s")
	case <-ctx.Done():
		s.Stop()
		return nil, ctx.Err()
	}
}

// Admin returns an API client with the admin token.
func (s *Server) Admin() *api.Client { return api.NewClient(s.URL, s.AdminToken) }

// Pid is the server's process id.
func (s *Server) Pid() int { return s.cmd.Process.Pid }

// Stop ends the server (SIGTERM, then SIGKILL after 10s) and waits for it.
func (s *Server) Stop() {
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
}

// CPUProfile asks the server's profiler (see DebugURL) for a CPU profile of the next d and
// writes it to path. It blocks for d.
func (s *Server) CPUProfile(ctx context.Context, path string, d time.Duration) error {
	if s.DebugURL == "" {
		return errors.New("cpu profile: the server was not started with --debug-listen")
	}
	url := fmt.Sprintf("%sprofile?seconds=%d", s.DebugURL, int(d.Round(time.Second).Seconds()))
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := (&http.Client{Timeout: d + time.Minute}).Do(req)
	if err != nil {
		return fmt.Errorf("cpu profile: %w", err)
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("cpu profile: %s", resp.Status)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		_ = f.Close()
		return fmt.Errorf("cpu profile: %w", err)
	}
	return f.Close()
}

// LogTail is the end of the server's log, for error messages.
func (s *Server) LogTail() string { return s.log.last() }

// CPU is the server's user and system CPU time so far.
func (s *Server) CPU() (time.Duration, error) { return ProcessCPU(s.Pid()) }

// Memory returns the server's VmRSS and VmHWM (peak RSS) in bytes.
func (s *Server) Memory() (rss, peak int64, err error) { return ProcessMemory(s.Pid()) }

// ProcessCPU reads utime+stime of pid from /proc/PID/stat.
func ProcessCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	// The command name may hold spaces; the fields after it are fixed.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, fmt.Errorf("/proc/%d/stat: %w", pid, err)
	}
	// USER_HZ is 100 on every Linux architecture Go supports.
	return time.Duration(utime+stime) * (time.Second / 100), nil
}

// ProcessMemory reads VmRSS and VmHWM of pid from /proc/PID/status, in bytes.
func ProcessMemory(pid int) (rss, peak int64, err error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		f := strings.Fields(v)
		if len(f) != 2 || f[1] != "kB" {
			continue
		}
		n, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			continue
		}
		switch k {
		case "VmRSS":
			rss = n << 10
		case "VmHWM":
			peak = n << 10
		}
	}
	return rss, peak, nil
}

// OpenFiles counts pid's open file descriptors.
func OpenFiles(pid int) (int, error) {
	entries, err := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/fd")
	return len(entries), err
}

// tail writes to a file and keeps the last few KiB in memory.
type tail struct {
	mu  sync.Mutex
	f   io.Writer
	buf []byte
}

const tailBytes = 8 << 10

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > 2*tailBytes {
		t.buf = append(t.buf[:0], t.buf[len(t.buf)-tailBytes:]...)
	}
	return t.f.Write(p)
}

func (t *tail) last() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.buf)
}
