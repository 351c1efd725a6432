// Package haproxytest runs a real HAProxy for tests and benchmarks, as net/http/httptest runs a
// real HTTP server: one HTTP frontend on a loopback port in front of one backend of servers the
// caller names, with a stats socket at level admin for the runtime API, in master-worker mode so
// it can be reloaded.
package haproxytest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Server is one server of the backend.
type Server struct {
	// Name is the server's name in HAProxy, what a router's server name template must produce.
	Name string
	// Addr is host:port.
	Addr   string
	Weight int
	// Disabled starts the server in maintenance, as a replacement fleet waiting for traffic may.
	Disabled bool
}

// Config is the backend to put behind the frontend.
type Config struct {
	// Backend is the backend's name ("app" when empty).
	Backend string
	Servers []Server
	// Check health-checks the servers every 100ms (one failure marks a server down).
	Check bool
}

// HAProxy is a running HAProxy.
type HAProxy struct {
	// Socket is the stats socket (level admin): a router address.
	Socket string
	// URL is the frontend's base URL.
	URL string
	// Backend is the backend's name.
	Backend string

	dir, master, cfg string

	mu   sync.Mutex
	cmd  *exec.Cmd
	log  string // HAProxy's output, in a file its workers share
	done chan struct{}
}

// ErrNotInstalled marks a machine without the haproxy binary.
var ErrNotInstalled = errors.New("haproxy is not installed; apt-get install -y haproxy (scripts/test-deps.sh does, as root)")

// Start writes a configuration for cfg in a new temporary directory and runs HAProxy on it until
// Stop. It returns once the runtime API answers.
func Start(cfg Config) (*HAProxy, error) {
	bin, err := exec.LookPath("haproxy")
	if err != nil {
		return nil, ErrNotInstalled
	}
	if cfg.Backend == "" {
		cfg.Backend = "app"
	}
	// Unix socket paths are limited to 108 bytes, which a test's TempDir can pass.
	dir, err := os.MkdirTemp("", "slipway-hx-")
	if err != nil {
		return nil, err
	}
	front, err := freePort()
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	h := &HAProxy{
		Socket: filepath.Join(dir, "admin.sock"), URL: "http://" + front, Backend: cfg.Backend,
		dir: dir, master: filepath.Join(dir, "master.sock"), cfg: filepath.Join(dir, "haproxy.cfg"),
	}
	if err := os.WriteFile(h.cfg, []byte(h.config(cfg, front)), 0o600); err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	if out, err := exec.Command(bin, "-c", "-q", "-f", h.cfg).CombinedOutput(); err != nil {
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("haproxy -c: %w: %s", err, out)
	}
	if err := h.start(bin); err != nil {
		h.Stop()
		return nil, err
	}
	return h, nil
}

// New starts HAProxy for a test and stops it when the test ends. Without the haproxy binary the
// test is skipped, or fails when CI=true: CI must install it (scripts/test-deps.sh).
func New(tb testing.TB, cfg Config) *HAProxy {
	tb.Helper()
	h, err := Start(cfg)
	if errors.Is(err, ErrNotInstalled) {
		if os.Getenv("CI") == "true" {
			tb.Fatalf("CI=true: %v", err)
		}
		tb.Skip(err)
	}
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if tb.Failed() {
			tb.Logf("haproxy output:\n%s", h.Output())
		}
		h.Stop()
	})
	return h
}

func (h *HAProxy) config(cfg Config, front string) string {
	var servers strings.Builder
	for _, s := range cfg.Servers {
		fmt.Fprintf(&servers, "  server %s %s weight %d", s.Name, s.Addr, s.Weight)
		if cfg.Check {
			servers.WriteString(" check inter 100ms rise 1 fall 1")
		}
		if s.Disabled {
			servers.WriteString(" disabled")
		}
		servers.WriteString("\n")
	}
	return fmt.Sprintf(`global
  master-worker
  stats socket %s mode 600 level admin
  stats timeout 10s
defaults
  mode http
  timeout connect 1s
  timeout client 10s
  timeout server 10s
  retries 2
  option redispatch
frontend fe
  bind %s
  default_backend %s
backend %s
  balance roundrobin
%s`, h.Socket, front, cfg.Backend, cfg.Backend, servers.String())
}

func freePort() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer func() { _ = ln.Close() }()
	return ln.Addr().String(), nil
}

// start runs HAProxy in the foreground (-db) in master-worker mode (-W) with a master CLI (-S),
// and waits until both the runtime API and the master answer: a reload signalled before the
// master is ready would be lost.
func (h *HAProxy) start(bin string) error {
	h.mu.Lock()
	h.log = filepath.Join(h.dir, "haproxy.log")
	out, err := os.Create(h.log)
	if err != nil {
		h.mu.Unlock()
		return err
	}
	defer func() { _ = out.Close() }() // HAProxy has its own descriptor
	h.cmd = exec.Command(bin, "-W", "-db", "-S", h.master, "-f", h.cfg)
	h.cmd.Stdout, h.cmd.Stderr = out, out
	if err := h.cmd.Start(); err != nil {
		h.mu.Unlock()
		return err
	}
	h.done = make(chan struct{})
	cmd, done := h.cmd, h.done
	h.mu.Unlock()
	go func() { _ = cmd.Wait(); close(done) }()
	deadline := time.Now().Add(15 * time.Second)
	for !h.answers("show info", "Pid:", h.Socket) || !h.answers("show proc", "worker", h.master) {
		select {
		case <-done:
			return fmt.Errorf("haproxy exited: %s", h.Output())
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("haproxy did not answer on %s within 15s: %s", h.Socket, h.Output())
		}
		time.Sleep(10 * time.Millisecond)
	}
	return nil
}

// answers sends cmd to a CLI socket and reports whether the answer holds want.
func (h *HAProxy) answers(cmd, want, socket string) bool {
	c, err := net.DialTimeout("unix", socket, time.Second)
	if err != nil {
		return false
	}
	defer func() { _ = c.Close() }()
	if c.SetDeadline(time.Now().Add(time.Second)) != nil {
		return false
	}
	if _, err := io.WriteString(c, cmd+"\n"); err != nil {
		return false
	}
	var out []byte
	buf := make([]byte, 4096)
	for !bytes.Contains(out, []byte(want)) {
		n, err := c.Read(buf)
		if err != nil {
			return false
		}
		out = append(out, buf[:n]...)
	}
	return true
}

// Reload asks the master to reload (SIGUSR2), as an operator's reload does, and returns once the
// new worker answers the runtime API: it starts from the configuration's weights and states.
func (h *HAProxy) Reload() error {
	before := h.pid()
	h.mu.Lock()
	err := h.cmd.Process.Signal(syscall.SIGUSR2)
	h.mu.Unlock()
	if err != nil {
		return err
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		if p := h.pid(); p != "" && p != before {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no new haproxy worker within 15s of the reload: %s", h.Output())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// pid is the process id of the worker answering the runtime API, "" when none answers.
func (h *HAProxy) pid() string {
	c, err := net.DialTimeout("unix", h.Socket, time.Second)
	if err != nil {
		return ""
	}
	defer func() { _ = c.Close() }()
	if c.SetDeadline(time.Now().Add(time.Second)) != nil {
		return ""
	}
	if _, err := io.WriteString(c, "show info\n"); err != nil {
		return ""
	}
	b, _ := io.ReadAll(c)
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "Pid: "); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// Stop ends HAProxy and removes its directory.
func (h *HAProxy) Stop() {
	h.mu.Lock()
	cmd, done := h.cmd, h.done
	h.mu.Unlock()
	if cmd != nil && cmd.Process != nil {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	}
	_ = os.RemoveAll(h.dir)
}

// Output is what HAProxy printed.
func (h *HAProxy) Output() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	b, _ := os.ReadFile(h.log)
	return string(b)
}
