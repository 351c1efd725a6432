package traffic_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/slipway-deploy/slipway/internal/traffic"
)

// lab is a real HAProxy in master-worker mode in front of real HTTP servers that answer with
// their names. Backend "app" has the servers given to newLab; backend "chk" has a health-checked
// server that is up ("live") and one that is down ("dead"); backend "hash" balances by source
// address, which allows only weights 0 and 100%.
type lab struct {
	tb       testing.TB
	dir      string
	sock     string // the stats socket
	master   string // the master CLI socket
	tcpStats string // the same runtime API over TCP
	front    string // base URL of the frontend
	cfg      string
	client   *http.Client

	mu   sync.Mutex
	cmd  *exec.Cmd
	out  *buffer
	done chan struct{}

	hold    chan struct{}          // a request to /hold blocks until this is closed
	holding map[string]chan string // per server: signalled when a /hold request arrives
}

// server is one of the lab's app servers and the weight the configuration gives it.
type server struct {
	name   string
	weight int
}

func requireHAProxy(tb testing.TB) string {
	tb.Helper()
	path, err := exec.LookPath("haproxy")
	if err != nil {
		if os.Getenv("CI") == "true" {
			tb.Fatalf("CI=true: haproxy is not installed (scripts/test-deps.sh installs it): %v", err)
		}
		tb.Skipf("haproxy is not installed; `apt-get install -y haproxy` (or run scripts/test-deps.sh as root) to run this test")
	}
	return path
}

func newLab(tb testing.TB, servers ...server) *lab {
	tb.Helper()
	bin := requireHAProxy(tb)
	// Unix socket paths are limited to 108 bytes; t.TempDir() under a long TMPDIR and test name
	// can pass that, so the lab's directory is short.
	dir, err := os.MkdirTemp("", "slipway-hx-")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { os.RemoveAll(dir) })
	l := &lab{
		tb:      tb,
		dir:     dir,
		sock:    filepath.Join(dir, "admin.sock"),
		master:  filepath.Join(dir, "master.sock"),
		hold:    make(chan struct{}),
		holding: map[string]chan string{},
		client: &http.Client{
			Timeout:   5 * time.Second,
			Transport: &http.Transport{MaxIdleConnsPerHost: 4, IdleConnTimeout: time.Second},
		},
	}
	tb.Cleanup(l.client.CloseIdleConnections)
	tb.Cleanup(func() { closeOnce(l.hold) })

	var app strings.Builder
	var liveAddr string
	for _, s := range servers {
		addr := l.backendServer(s.name)
		if liveAddr == "" {
			liveAddr = addr
		}
		fmt.Fprintf(&app, "  server %s %s weight %d\n", s.name, addr, s.weight)
	}
	front, tcpStats, dead := freePort(tb), freePort(tb), freePort(tb)
	l.front = "http://" + front
	l.tcpStats = tcpStats
	config := fmt.Sprintf(`global
  master-worker
  stats socket %s mode 600 level admin
  stats socket ipv4@%s level admin
  stats timeout 10s
defaults
  mode http
  timeout connect 1s
  timeout client 10s
  timeout server 10s
frontend fe
  bind %s
  default_backend app
backend app
  balance roundrobin
%sbackend chk
  balance roundrobin
  server live %s check inter 50ms rise 1 fall 1
  server dead %s check inter 50ms rise 1 fall 1
backend hash
  balance source
  server h1 %s weight 10
  server h2 %s weight 10
`, l.sock, tcpStats, front, app.String(), liveAddr, dead, liveAddr, liveAddr)
	l.cfg = filepath.Join(dir, "haproxy.cfg")
	if err := os.WriteFile(l.cfg, []byte(config), 0o600); err != nil {
		tb.Fatal(err)
	}
	if out, err := exec.Command(bin, "-c", "-q", "-f", l.cfg).CombinedOutput(); err != nil {
		tb.Fatalf("haproxy -c: %v\n%s\n%s", err, out, config)
	}
	tb.Cleanup(l.stop)
	l.start()
	return l
}

func closeOnce(c chan struct{}) {
	select {
	case <-c:
	default:
		close(c)
	}
}

// backendServer starts an HTTP server that answers with name; /hold answers only once the lab
// releases it.
func (l *lab) backendServer(name string) string {
	arrived := make(chan string, 16)
	l.holding[name] = arrived
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/hold" {
			arrived <- name
			select {
			case <-l.hold:
			case <-r.Context().Done():
				return
			}
		}
		io.WriteString(w, name)
	}))
	l.tb.Cleanup(srv.Close)
	return srv.Listener.Addr().String()
}

// freePort returns a loopback address nothing listens on; HAProxy binds it a moment later.
func freePort(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// start runs HAProxy in the foreground (-db) in master-worker mode (-W) and waits until the
// runtime API and the master CLI (-S) answer. The worker answers before the master handles
// signals; a SIGUSR2 sent in between is lost, so reload needs the master's answer too.
func (l *lab) start() {
	l.tb.Helper()
	l.mu.Lock()
	l.out = &buffer{}
	l.cmd = exec.Command("haproxy", "-W", "-db", "-S", l.master, "-f", l.cfg)
	l.cmd.Stdout, l.cmd.Stderr = l.out, l.out
	if err := l.cmd.Start(); err != nil {
		l.mu.Unlock()
		l.tb.Fatal(err)
	}
	l.done = make(chan struct{})
	cmd, done := l.cmd, l.done
	l.mu.Unlock()
	go func() { cmd.Wait(); close(done) }()

	h := l.driver(traffic.HAProxyConfig{})
	l.waitFor("the runtime API to answer", func() bool {
		select {
		case <-done:
			l.tb.Fatalf("haproxy exited: %s", l.output())
		default:
		}
		_, err := h.Process(context.Background())
		return err == nil && l.masterAnswers()
	})
}

// masterAnswers reports whether the master CLI lists the processes. The master CLI keeps the
// connection open after answering, so the answer is read up to its last section.
func (l *lab) masterAnswers() bool {
	c, err := net.DialTimeout("unix", l.master, time.Second)
	if err != nil {
		return false
	}
	defer c.Close()
	if err := c.SetDeadline(time.Now().Add(time.Second)); err != nil {
		return false
	}
	if _, err := io.WriteString(c, "show proc\n"); err != nil {
		return false
	}
	var out []byte
	buf := make([]byte, 4096)
	for !bytes.Contains(out, []byte("# programs")) {
		n, err := c.Read(buf)
		if err != nil {
			return false
		}
		out = append(out, buf[:n]...)
	}
	return bytes.Contains(out, []byte("worker"))
}

// stop ends HAProxy (the master stops its workers) and waits for it.
func (l *lab) stop() {
	l.mu.Lock()
	cmd, done := l.cmd, l.done
	l.mu.Unlock()
	if cmd == nil {
		return
	}
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		cmd.Process.Kill()
		<-done
	}
}

// reload asks the master to reload (SIGUSR2): a new worker starts from the configuration.
func (l *lab) reload() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.cmd.Process.Signal(syscall.SIGUSR2); err != nil {
		l.tb.Fatal(err)
	}
}

func (l *lab) output() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.out.String()
}

func (l *lab) driver(cfg traffic.HAProxyConfig) *traffic.HAProxy {
	l.tb.Helper()
	if cfg.Address == "" {
		cfg.Address = l.sock
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 2 * time.Second
	}
	h, err := traffic.NewHAProxy(cfg)
	if err != nil {
		l.tb.Fatal(err)
	}
	return h
}

// waitFor polls cond until it holds, failing the test after a deadline.
func (l *lab) waitFor(what string, cond func() bool) {
	l.tb.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			l.tb.Fatalf("timed out waiting for %s\nhaproxy output:\n%s", what, l.output())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// count sends n requests through the frontend and counts the answers by server name; a failed
// request counts under its status ("503").
func (l *lab) count(n int) map[string]int {
	l.tb.Helper()
	got := map[string]int{}
	for range n {
		resp, err := l.client.Get(l.front + "/")
		if err != nil {
			l.tb.Fatalf("GET through haproxy: %v", err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			l.tb.Fatal(err)
		}
		if resp.StatusCode != http.StatusOK {
			got[fmt.Sprint(resp.StatusCode)]++
			continue
		}
		got[string(body)]++
	}
	return got
}

// settle sends a round of requests whose answers do not count. HAProxy's round robin finishes
// the round it is in with the weights it had (a server rising from weight 0 joins at the next
// round), and a round is the sum of the weights, at most 100 in these tests. A server set to
// weight 0 or drained leaves at once: no settling is needed to see that.
func (l *lab) settle() {
	l.tb.Helper()
	l.count(120)
}

// state reads backend through h, failing the test on error.
func state(tb testing.TB, h *traffic.HAProxy, backend string) traffic.Backend {
	tb.Helper()
	b, err := h.State(context.Background(), backend)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// summary renders a backend as "name:admin/health/weight" words.
func summary(b traffic.Backend) string {
	parts := make([]string, len(b.Servers))
	for i, s := range b.Servers {
		parts[i] = fmt.Sprintf("%s:%v/%v/%d", s.Name, s.Admin, s.Health, s.Weight)
	}
	return strings.Join(parts, " ")
}

// buffer collects HAProxy's output or a driver's log lines.
type buffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func (b *buffer) logger() *slog.Logger { return slog.New(slog.NewTextHandler(b, nil)) }
