package main

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestLoadConfig_DebugListenOnlyOnLoopback(t *testing.T) {
	for _, tc := range []struct {
		addr, wantErr string
	}{
		{"127.0.0.1:6060", ""},
		{"[::1]:0", ""},
		{"0.0.0.0:6060", "loopback"},
		{":6060", "loopback"},
		{"localhost:6060", "loopback"},
		{"192.0.2.10:6060", "loopback"},
		{"127.0.0.1", "give host:port"},
	} {
		t.Run(tc.addr, func(t *testing.T) {
			cfg, err := loadConfig([]string{"--data-dir", t.TempDir(), "--debug-listen", tc.addr}, tokensEnv(), io.Discard)
			if tc.wantErr == "" {
				if err != nil || cfg.DebugListen != tc.addr {
					t.Fatalf("got %q, %v; want %q accepted", cfg.DebugListen, err, tc.addr)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("got %v, want an error saying %q", err, tc.wantErr)
			}
		})
	}
	cfg, err := loadConfig([]string{"--data-dir", t.TempDir()}, tokensEnv("SLIPWAY_DEBUG_LISTEN", "127.0.0.1:7070"), io.Discard)
	if err != nil || cfg.DebugListen != "127.0.0.1:7070" {
		t.Errorf("from the environment: got %q, %v", cfg.DebugListen, err)
	}
}

// startServer runs the server in-process and returns the lines it prints, as they come.
func startServer(t *testing.T, args ...string) <-chan string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		err := run(ctx, append([]string{"--listen", "127.0.0.1:0", "--data-dir", t.TempDir()}, args...), tokensEnv(), pw, io.Discard)
		_ = pw.CloseWithError(io.EOF)
		done <- err
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("server: %v", err)
		}
	})
	lines := make(chan string, 8)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	return lines
}

// nextLine waits for the server's next line of output.
func nextLine(t *testing.T, lines <-chan string) string {
	t.Helper()
	select {
	case l, ok := <-lines:
		if !ok {
			t.Fatal("the server stopped printing")
		}
		return l
	case <-time.After(30 * time.Second):
		t.Fatal("no output from the server within 30s")
	}
	return ""
}

func get(t *testing.T, url string) int {
	t.Helper()
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	return resp.StatusCode
}

func TestRun_ProfilerOnlyOnItsOwnListener(t *testing.T) {
	lines := startServer(t, "--debug-listen", "127.0.0.1:0")
	debugURL, ok := strings.CutPrefix(nextLine(t, lines), "pprof listening on ")
	if !ok {
		t.Fatalf("first line does not announce the profiler")
	}
	public, ok := strings.CutPrefix(nextLine(t, lines), "listening on ")
	if !ok {
		t.Fatalf("second line does not announce the server")
	}
	if got := get(t, debugURL+"cmdline"); got != http.StatusOK {
		t.Errorf("profiler's listener: %s/cmdline answered %d, want 200", debugURL, got)
	}
	if got := get(t, public+"/debug/pprof/cmdline"); got != http.StatusNotFound {
		t.Errorf("public listener: /debug/pprof/cmdline answered %d, want 404", got)
	}
}

func TestRun_NoProfilerByDefault(t *testing.T) {
	lines := startServer(t)
	public, ok := strings.CutPrefix(nextLine(t, lines), "listening on ")
	if !ok {
		t.Fatalf("first line does not announce the server")
	}
	if got := get(t, public+"/debug/pprof/"); got != http.StatusNotFound {
		t.Errorf("/debug/pprof/ answered %d, want 404", got)
	}
}
