package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/slipway-deploy/slipway/bench/internal/rig"
	"github.com/slipway-deploy/slipway/internal/agent"
	"github.com/slipway-deploy/slipway/internal/api"
	"github.com/slipway-deploy/slipway/internal/lifecycle"
)

// The agents run in worker processes (this program, run as `fleet worker`), a few thousand
// each: every agent holds two file descriptors (its connection and the lock on its deployment
// root), and one process may not be allowed 20,000 of them.

// fdsPerAgent is what one agent holds open while idle: its connection and its root's lock.
const fdsPerAgent = 2

func hostName(i int) string { return fmt.Sprintf("host-%05d", i) }

func agentRoot(dir string, i int) lifecycle.Root {
	return lifecycle.Root(filepath.Join(dir, hostName(i), "root"))
}

func agentPrefix(dir string, i int) string { return filepath.Join(dir, hostName(i), "prefix") }

// workers are the processes that run the agents.
type workers struct {
	exe, server, enroll, dir string
	perWorker, wave          int
	// cpuprofile, when set, makes the next workers started write a CPU profile there (the
	// first one; the others to path.2, path.3...).
	cpuprofile string
	n          int
	procs      []*workerProc
}

type workerProc struct {
	cmd   *exec.Cmd
	lines chan string
	done  chan struct{}
}

// add starts n more agents tagged fleet=tag, in as many workers as it takes, and returns once
// every one of them has enrolled and sent its first long poll.
func (w *workers) add(ctx context.Context, n int, tag string) error {
	for first := w.n; first < w.n+n; first += w.perWorker {
		count := min(w.perWorker, w.n+n-first)
		if err := w.start(ctx, first, count, tag); err != nil {
			return err
		}
	}
	w.n += n
	return nil
}

func (w *workers) start(ctx context.Context, first, count int, tag string) error {
	args := []string{"worker", "-server", w.server, "-dir", w.dir, "-first", strconv.Itoa(first),
		"-count", strconv.Itoa(count), "-tag", tag, "-wave", strconv.Itoa(w.wave)}
	if w.cpuprofile != "" {
		path := w.cpuprofile
		if first > 0 {
			path += "." + strconv.Itoa(first)
		}
		args = append(args, "-cpuprofile", path)
	}
	cmd := exec.Command(w.exe, args...)
	cmd.Env = append(os.Environ(), "SLIPWAY_ENROLL_TOKEN="+w.enroll)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	p := &workerProc{cmd: cmd, lines: make(chan string, 16), done: make(chan struct{})}
	w.procs = append(w.procs, p)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			p.lines <- sc.Text()
		}
		_ = cmd.Wait()
		close(p.done)
	}()
	timeout := time.After(5 * time.Minute)
	for {
		select {
		case line := <-p.lines:
			if line == "ready" {
				return nil
			}
		case <-p.done:
			return fmt.Errorf("agent worker for hosts %d-%d exited: %v", first, first+count-1, cmd.ProcessState)
		case <-timeout:
			return fmt.Errorf("agent worker for hosts %d-%d not ready after 5 minutes", first, first+count-1)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// cpu is the workers' CPU time so far (their agents; hook scripts are their children and not
// counted).
func (w *workers) cpu() time.Duration {
	var total time.Duration
	for _, p := range w.procs {
		if c, err := rig.ProcessCPU(p.cmd.Process.Pid); err == nil {
			total += c
		}
	}
	return total
}

func (w *workers) stop() {
	for _, p := range w.procs {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
	}
	for _, p := range w.procs {
		select {
		case <-p.done:
		case <-time.After(20 * time.Second):
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	}
}

// worker is `fleet worker`: it runs -count agents from number -first, prints "ready" once all of
// them are long-polling, and runs them until ctx ends.
func worker(ctx context.Context, args []string, stdout io.Writer) error {
	fl := flag.NewFlagSet("fleet worker", flag.ContinueOnError)
	server := fl.String("server", "", "the server's URL")
	dir := fl.String("dir", "", "where the agents' roots go")
	first := fl.Int("first", 0, "number of the first agent")
	count := fl.Int("count", 0, "agents to run")
	tag := fl.String("tag", "", "value of every agent's fleet tag")
	wave := fl.Int("wave", 500, "agents started at once")
	cpuprofile := fl.String("cpuprofile", "", "write a CPU profile of this worker, from when its agents are ready until it stops, to `file`")
	if err := fl.Parse(args); err != nil {
		return err
	}
	f := &fleet{server: *server, enroll: os.Getenv("SLIPWAY_ENROLL_TOKEN"), dir: *dir}
	defer f.stop()
	for from := *first; from < *first+*count; from += *wave {
		to := min(from+*wave, *first+*count)
		for i := from; i < to; i++ {
			if err := f.start(ctx, i, *tag); err != nil {
				return err
			}
		}
		for i := from; i < to; i++ {
			if err := f.waitPolling(ctx, i); err != nil {
				return err
			}
		}
	}
	if *cpuprofile != "" {
		stop, err := profileCPU(*cpuprofile)
		if err != nil {
			return err
		}
		defer stop()
	}
	fmt.Fprintln(stdout, "ready")
	<-ctx.Done()
	return nil
}

// profileCPU starts a CPU profile of this process into path; call stop to write it.
func profileCPU(path string) (stop func(), err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		_ = f.Close()
		return nil, err
	}
	return func() {
		pprof.StopCPUProfile()
		_ = f.Close()
	}, nil
}

// fleet is many agents in one process.
type fleet struct {
	server, enroll, dir string
	wg                  sync.WaitGroup
	cancels             []context.CancelFunc
	// polling has, per agent number, a channel closed when its first long poll is on the wire.
	polling map[int]chan struct{}
	mu      sync.Mutex
	errs    []error
}

func (f *fleet) start(ctx context.Context, i int, tag string) error {
	polling := make(chan struct{})
	if f.polling == nil {
		f.polling = map[int]chan struct{}{}
	}
	f.polling[i] = polling
	// The agent's own default client (see agent.New), with a hook that sees the first long poll.
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.ResponseHeaderTimeout = agent.DefaultPollWait + agent.DefaultRequestTimeout
	var once sync.Once
	hc := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		if r.URL.Path == api.PathAgent+"/commands/next" {
			once.Do(func() { close(polling) })
		}
		return tr.RoundTrip(r)
	})}
	a, err := agent.New(agent.Config{
		Server:      f.server,
		EnrollToken: f.enroll,
		Name:        hostName(i),
		Tags:        map[string]string{"fleet": tag},
		Version:     "bench",
		Host: &lifecycle.Host{
			Root:          agentRoot(f.dir, i),
			InstallPrefix: agentPrefix(f.dir, i),
			Env:           []string{"PATH=/usr/local/bin:/usr/bin:/bin"},
			Logger:        slog.New(slog.DiscardHandler),
		},
		HTTP: hc,
	})
	if err != nil {
		return err
	}
	actx, cancel := context.WithCancel(ctx)
	f.cancels = append(f.cancels, cancel)
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		if err := a.Run(actx); err != nil {
			f.mu.Lock()
			f.errs = append(f.errs, fmt.Errorf("agent %d: %w", i, err))
			f.mu.Unlock()
		}
	}()
	return nil
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func (f *fleet) waitPolling(ctx context.Context, i int) error {
	timeout := time.After(2 * time.Minute)
	for {
		select {
		case <-f.polling[i]:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		case <-timeout:
			return fmt.Errorf("agent %d did not start polling within 2 minutes%s", i, f.failures())
		case <-time.After(time.Second):
			if err := f.firstError(); err != nil {
				return err
			}
		}
	}
}

func (f *fleet) firstError() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.errs) > 0 {
		return f.errs[0]
	}
	return nil
}

func (f *fleet) failures() string {
	if err := f.firstError(); err != nil {
		f.mu.Lock()
		defer f.mu.Unlock()
		return fmt.Sprintf(" (%d agents stopped; first: %v)", len(f.errs), err)
	}
	return ""
}

func (f *fleet) stop() {
	for _, cancel := range f.cancels {
		cancel()
	}
	f.wg.Wait()
}

// fileLimit returns the hard RLIMIT_NOFILE: Go programs (the server, the workers) raise their
// soft limit to it at start.
func fileLimit() (uint64, error) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, err
	}
	return lim.Max, nil
}

// agentsPerWorker is how many agents one worker may run within the file limit.
func agentsPerWorker(limit uint64, want int) (int, error) {
	const spare = 256
	if want < 1 {
		return 0, fmt.Errorf("-per-worker %d: give at least 1", want)
	}
	if limit < spare+fdsPerAgent {
		return 0, fmt.Errorf("the RLIMIT_NOFILE hard limit %d leaves no room for agents", limit)
	}
	// Compared as uint64: the limit may be RLIM_INFINITY, which no int holds.
	room := (limit - spare) / fdsPerAgent
	if room >= uint64(want) {
		return want, nil
	}
	return int(room), nil //nolint:gosec // room < want, so it fits an int
}
