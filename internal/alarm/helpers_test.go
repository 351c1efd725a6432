package alarm

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// missing skips a test whose real dependency is absent, except in CI, where the machine is set up
// by scripts/test-deps.sh and an absent dependency is a broken setup.
func missing(t *testing.T, format string, args ...any) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("CI=true: "+format, args...)
	}
	t.Skipf(format, args...)
}

// eventually calls check until it returns "" or the deadline passes, then fails with the last
// thing check said.
func eventually(t *testing.T, within time.Duration, check func() string) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		msg := check()
		if msg == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %s", within, msg)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// refusedURL is the URL of a server that has just closed: connecting to it is refused.
func refusedURL() string {
	srv := httptest.NewServer(http.NotFoundHandler())
	srv.Close()
	return srv.URL
}

// hang answers nothing until the client gives up.
func hang(_ http.ResponseWriter, r *http.Request) { <-r.Context().Done() }

// startPrometheus runs the real Prometheus server (Debian's prometheus package; see
// scripts/test-deps.sh) with a configuration that scrapes target every 100ms, and returns its
// base URL. The server is stopped when the test ends.
func startPrometheus(t *testing.T, target string) string {
	t.Helper()
	bin, err := exec.LookPath("prometheus")
	if err != nil {
		missing(t, "prometheus is not installed (apt-get install prometheus, or run scripts/test-deps.sh as root): %v", err)
	}
	dir := t.TempDir()
	cfg := fmt.Sprintf(`global:
  scrape_interval: 100ms
  scrape_timeout: 100ms
scrape_configs:
  - job_name: slipway-test
    static_configs:
      - targets: [%q]
`, target)
	cfgFile := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfgFile, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	// A port taken between freePort and Prometheus' bind makes it exit at once; try again then.
	for attempt := 1; ; attempt++ {
		addr := freePort(t)
		logFile := filepath.Join(dir, fmt.Sprintf("prometheus%d.log", attempt))
		out, err := os.Create(logFile)
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(bin,
			"--config.file="+cfgFile,
			"--storage.tsdb.path="+filepath.Join(dir, fmt.Sprintf("data%d", attempt)),
			"--web.listen-address="+addr,
			"--log.level=warn",
		)
		cmd.Stdout, cmd.Stderr = out, out
		err = cmd.Start()
		out.Close() // the child has its own copy
		if err != nil {
			t.Fatalf("start prometheus: %v", err)
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		stop := func() {
			_ = cmd.Process.Kill()
			<-exited
		}
		base := "http://" + addr
		err = waitReady(base+"/-/ready", exited, 60*time.Second)
		if err == nil {
			t.Cleanup(stop)
			return base
		}
		stop()
		log, _ := os.ReadFile(logFile)
		if attempt == 3 || !strings.Contains(string(log), "address already in use") {
			t.Fatalf("prometheus did not become ready: %v\n%s", err, log)
		}
	}
}

// waitReady polls url until it answers 200, the process exits, or the deadline passes.
func waitReady(url string, exited <-chan error, within time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	client := &http.Client{Timeout: time.Second}
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if resp, err := client.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case err := <-exited:
			return fmt.Errorf("exited: %w", err)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func float(v float64) *float64 { return &v }

// pollOne builds a Poller for one alarm and polls it once.
func pollOne(t *testing.T, spec Spec, timeout time.Duration) State {
	t.Helper()
	p, err := NewPoller(Config{Alarms: []Spec{spec}, Timeout: Duration(timeout)}, Options{})
	if err != nil {
		t.Fatalf("NewPoller: %v", err)
	}
	snap := p.Poll(context.Background())
	if len(snap.States) != 1 {
		t.Fatalf("got %d states, want 1", len(snap.States))
	}
	return snap.States[0]
}

// checkState compares a state's status and says what is wrong when the reason lacks any of
// the wanted fragments.
func checkState(t *testing.T, got State, status Status, fragments ...string) {
	t.Helper()
	t.Logf("%v: %s", got.Status, got.Reason)
	if got.Status != status {
		t.Errorf("status = %v (%s), want %v", got.Status, got.Reason, status)
		return
	}
	for _, f := range fragments {
		if !strings.Contains(got.Reason, f) {
			t.Errorf("reason %q does not contain %q", got.Reason, f)
		}
	}
	if (status == PollFailed) != (got.Err != nil) {
		t.Errorf("status %v with Err = %v", status, got.Err)
	}
}
