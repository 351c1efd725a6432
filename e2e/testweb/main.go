// Command testweb is the application the end-to-end tests deploy behind HAProxy: hooks start it
// (serve) to answer every request with the revision's label, check it answers (check), and
// record whether the router has drained their host (state).
//
//	testweb serve --addr 127.0.0.1:PORT --label v2 --pid-file FILE
//	testweb check --url http://127.0.0.1:PORT/ --want v2 [--wait 10s]
//	testweb state --socket /path/admin.sock --backend app --server web-1
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/slipway-deploy/slipway/internal/traffic"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "testweb:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) == 0 {
		return errors.New("usage: testweb serve|check|state [flags]")
	}
	fs := flag.NewFlagSet(args[0], flag.ContinueOnError)
	addr := fs.String("addr", "", "address to listen on")
	label := fs.String("label", "", "what to answer")
	pidFile := fs.String("pid-file", "", "where to write the process id once listening")
	url := fs.String("url", "", "URL to check")
	want := fs.String("want", "", "what the answer must hold")
	wait := fs.Duration("wait", 0, "keep checking this long")
	socket := fs.String("socket", "", "HAProxy stats socket")
	backend := fs.String("backend", "", "HAProxy backend")
	server := fs.String("server", "", "HAProxy server")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	switch args[0] {
	case "serve":
		return serve(*addr, *label, *pidFile)
	case "check":
		return check(*url, *want, *wait)
	case "state":
		return state(*socket, *backend, *server)
	}
	return fmt.Errorf("unknown mode %q", args[0])
}

// serve answers every request with label until SIGTERM, then finishes the requests it has.
func serve(addr, label, pidFile string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			_, _ = io.WriteString(w, label+"\n") //nolint:gosec // label is the e2e harness's own argument
		}),
		ReadHeaderTimeout: 5 * time.Second,
	}
	if pidFile != "" {
		if err := os.WriteFile(pidFile, []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil { //nolint:gosec // the harness picks the path, in its temp dir
			return err
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return srv.Shutdown(shutdown)
}

// check GETs url until the answer holds want or wait has passed.
func check(url, want string, wait time.Duration) error {
	client := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(wait)
	for {
		err := func() error {
			resp, err := client.Get(url) //nolint:gosec // url is the e2e harness's own argument
			if err != nil {
				return err
			}
			defer func() { _ = resp.Body.Close() }()
			b, err := io.ReadAll(resp.Body)
			if err != nil {
				return err
			}
			if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), want) {
				return fmt.Errorf("%s answered %d %q, want %q", url, resp.StatusCode, b, want)
			}
			return nil
		}()
		if err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// state prints the server's admin state as HAProxy has it: ready, drain or maint.
func state(socket, backend, server string) error {
	h, err := traffic.NewHAProxy(traffic.HAProxyConfig{Address: socket})
	if err != nil {
		return err
	}
	b, err := h.State(context.Background(), backend)
	if err != nil {
		return err
	}
	s, ok := b.Server(server)
	if !ok {
		return fmt.Errorf("backend %s has no server %s", backend, server)
	}
	fmt.Println(s.Admin)
	return nil
}
