// Command fleet measures a real slipway-server driving many agents: a trivial revision deployed
// AllAtOnce to -agents hosts (wall time from the create call to Succeeded, the server's CPU time
// and peak RSS, its CPU time per host-event), then -idle agents connected and long-polling with
// nothing to do (the server's RSS and CPU per second). See bench/README.md for the figures.
//
// The agents are the real agent code (internal/agent), thousands per process (this program
// started again as `fleet worker`), each with its own deployment root, install prefix,
// credential and HTTP connection, registering through the real HTTP API. The server is the real
// slipway-server binary in its own process, so its CPU time and memory are its own.
//
// Baselines for the CPU per host-event, measured in the same run: the server's CPU time for one
// bare HTTP round trip (GET /healthz on the same server, keep-alive), and this process's CPU time
// for one durable SQLite write transaction with the server's settings (WAL, synchronous=FULL,
// the same driver). A host-event needs at least two HTTP requests (the long poll that carries the
// command and the result report) and a durable write of the result.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/slipway-deploy/slipway/bench/internal/rig"
	"github.com/slipway-deploy/slipway/internal/api"
)

const (
	app   = "fleet"
	group = "all"
	// events is how many lifecycle events the server runs on each host of a group without a
	// traffic router: ApplicationStop, DownloadBundle, BeforeInstall, Install, AfterInstall,
	// ApplicationStart, ValidateService.
	events = 7
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	if len(os.Args) > 1 && os.Args[1] == "worker" {
		err = worker(ctx, os.Args[2:], os.Stdout)
	} else {
		err = run(ctx, os.Args[1:], os.Stdout)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "fleet bench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	fl := flag.NewFlagSet("fleet", flag.ContinueOnError)
	nAgents := fl.Int("agents", 1000, "agents the trivial revision is deployed to, AllAtOnce")
	nIdle := fl.Int("idle", 10000, "agents connected and idle for the idle figures (includes -agents; 0: skip)")
	idleFor := fl.Duration("idle-window", 65*time.Second, "how long the idle server's CPU is measured (more than one 30s long poll)")
	hooks := fl.Bool("hooks", false, "give the trivial revision a no-op script on each of the nine events, as bench/deploy does (default: the file only; see bench/README.md)")
	wave := fl.Int("wave", 500, "agents a worker starts at once while connecting")
	perWorker := fl.Int("per-worker", 5000, "agents per worker process (fewer if the file limit says so)")
	work := fl.String("dir", "", "work directory for the server and the baselines, kept (default: a new temp dir, removed at the end)")
	serverBin := fl.String("server-bin", "", "use this slipway-server binary instead of building one (e.g. one built for profiling)")
	cpuprofile := fl.String("cpuprofile", "", "write CPU profiles: the server's over the deployment's first -profile-for to `PREFIX`.server and over the idle window to PREFIX.idle.server (through its --debug-listen profiler), the deployment's agent workers' to PREFIX.agents")
	profileFor := fl.Duration("profile-for", 20*time.Second, "how long the server's CPU profile runs from the create call")
	agentsDir := fl.String("agents-dir", "", "where the agents' roots go (default: a temp dir on /dev/shm when it exists: on a real fleet every host has its own disk)")
	if err := fl.Parse(args); err != nil {
		return err
	}
	if *nAgents < 1 {
		return fmt.Errorf("-agents %d: give at least 1", *nAgents)
	}
	if *nIdle != 0 && *nIdle < *nAgents {
		return fmt.Errorf("-idle %d: give at least -agents (%d), or 0", *nIdle, *nAgents)
	}
	dir, cleanup, err := rig.WorkDir(*work, "", "slipway-fleet-bench-")
	if err != nil {
		return err
	}
	defer cleanup()
	adir, cleanupAgents, err := rig.WorkDir(*agentsDir, "/dev/shm", "slipway-fleet-agents-")
	if err != nil {
		return err
	}
	defer cleanupAgents()

	fmt.Fprintln(stdout, "machine:", rig.Machine())
	limit, err := fileLimit()
	if err != nil {
		return err
	}
	if need := uint64(max(*nIdle, *nAgents)) + 256; limit < need {
		return fmt.Errorf("the server needs about %d file descriptors (one per agent, plus its own) and RLIMIT_NOFILE's hard limit is %d: raise it (ulimit -Hn, or LimitNOFILE in a systemd unit)", need, limit)
	}
	per, err := agentsPerWorker(limit, *perWorker)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "RLIMIT_NOFILE hard limit %d: up to %d agents per worker process; agents' roots in %s, server data in %s\n", limit, per, adir, dir)

	bin := *serverBin
	if bin == "" {
		bins, err := rig.Build(ctx, dir, "slipway-server")
		if err != nil {
			return err
		}
		bin = bins["slipway-server"]
	}
	var serverArgs []string
	if *cpuprofile != "" {
		serverArgs = append(serverArgs, "--debug-listen", "127.0.0.1:0")
	}
	srv, err := rig.StartServer(ctx, bin, dir, nil, serverArgs...)
	if err != nil {
		return err
	}
	defer srv.Stop()
	c := srv.Admin()

	// Baselines first, while nothing else runs.
	httpCPU, err := httpBaseline(ctx, srv, 20000, 4)
	if err != nil {
		return err
	}
	sqlCPU, sqlWall, err := sqliteBaseline(ctx, filepath.Join(dir, "baseline.db"), 2000)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "baselines: server CPU per bare HTTP round trip (GET /healthz, keep-alive) %s; one SQLite write transaction (WAL, synchronous=FULL): CPU %s, wall %s\n",
		rig.Round(httpCPU), rig.Round(sqlCPU), rig.Round(sqlWall))

	if err := rig.CreateGroup(ctx, c, app, group, "fleet", "deploy", "CodeDeployDefault.AllAtOnce"); err != nil {
		return err
	}
	rev, err := rig.WriteTrivial(filepath.Join(dir, "revision"), *hooks)
	if err != nil {
		return err
	}
	digest, err := rig.Upload(ctx, c, app, rev.Dir)
	if err != nil {
		return err
	}

	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find this program to start agent workers: %w", err)
	}
	w := &workers{exe: exe, server: srv.URL, enroll: srv.EnrollToken, dir: adir, perWorker: per, wave: *wave}
	defer w.stop()
	start := time.Now()
	if *cpuprofile != "" {
		w.cpuprofile = *cpuprofile + ".agents"
	}
	if err := w.add(ctx, *nAgents, "deploy"); err != nil {
		return err
	}
	w.cpuprofile = ""
	fmt.Fprintf(stdout, "%d agents registered and long-polling in %s\n", *nAgents, rig.Round(time.Since(start)))

	profiled := make(chan error, 1)
	if *cpuprofile != "" {
		go func() { profiled <- srv.CPUProfile(ctx, *cpuprofile+".server", *profileFor) }()
	}
	if err := deployFleet(ctx, stdout, srv, w, digest, rev, *hooks, httpCPU, sqlCPU); err != nil {
		return err
	}
	if *cpuprofile != "" {
		if err := <-profiled; err != nil {
			return err
		}
		fmt.Fprintf(stdout, "CPU profiles: %s.server (the server's first %s of the deployment), %s.agents (the agent workers', written when they stop)\n",
			*cpuprofile, *profileFor, *cpuprofile)
	}
	if *nIdle == 0 {
		return nil
	}
	start = time.Now()
	if err := w.add(ctx, *nIdle-*nAgents, "idle"); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%d more agents registered and long-polling in %s\n", *nIdle-*nAgents, rig.Round(time.Since(start)))
	idleProfile := ""
	if *cpuprofile != "" {
		idleProfile = *cpuprofile + ".idle.server"
	}
	return idle(ctx, stdout, srv, w, *idleFor, idleProfile)
}

func deployFleet(ctx context.Context, stdout io.Writer, srv *rig.Server, w *workers, digest string, rev rig.Trivial, hooks bool, httpCPU, sqlCPU time.Duration) error {
	c := srv.Admin()
	cpu0, err := srv.CPU()
	if err != nil {
		return err
	}
	agents0 := w.cpu()
	load := loadAverage()
	start := time.Now()
	d, err := c.CreateDeployment(ctx, api.CreateDeployment{Application: app, Group: group, Revision: digest})
	if err != nil {
		return fmt.Errorf("create deployment: %w", err)
	}
	end, seen, _, err := rig.WaitFinished(ctx, c, app, group, d.ID, 20*time.Millisecond)
	if err != nil {
		return err
	}
	wall := seen.Sub(start)
	cpu1, err := srv.CPU()
	if err != nil {
		return err
	}
	agentsCPU := w.cpu() - agents0
	_, peak, err := srv.Memory()
	if err != nil {
		return err
	}
	failures, err := check(ctx, c, w, d.ID, rev)
	if err != nil {
		return err
	}
	what := "1 file, nine no-op hooks (5 run without a traffic router)"
	if !hooks {
		what = "1 file, no hooks"
	}
	cpu := cpu1 - cpu0
	perEvent := cpu / time.Duration(w.n*events)
	fmt.Fprintf(stdout, "AllAtOnce to %d agents, trivial revision (%s), load average before: %s\n", w.n, what, load)
	fmt.Fprintf(stdout, "  create call → %-14s %s  (target < 10s)\n", end.Status, rig.Round(wall))
	if failures != "" {
		fmt.Fprintf(stdout, "  NOT EVERY HOST SUCCEEDED: %d of %d; failed events: %s\n", end.Overview.Succeeded, w.n, failures)
	}
	fmt.Fprintf(stdout, "  server CPU time              %s  (%.0f%% of one core over the deployment)\n", rig.Round(cpu), 100*cpu.Seconds()/wall.Seconds())
	fmt.Fprintf(stdout, "  server peak RSS (VmHWM)      %s  (since start, registration included)\n", rig.MiB(peak))
	fmt.Fprintf(stdout, "  agents' CPU (workers)        %s  (hook scripts not included)\n", rig.Round(agentsCPU))
	fmt.Fprintf(stdout, "  server CPU per host-event    %s  = %s / (%d hosts × %d events)\n", rig.Round(perEvent), rig.Round(cpu), w.n, events)
	fmt.Fprintf(stdout, "    = %.1f× a bare HTTP round trip's server CPU (a host-event needs at least 2 requests)\n", float64(perEvent)/float64(httpCPU))
	fmt.Fprintf(stdout, "    = %.1f× one durable SQLite write transaction's CPU\n", float64(perEvent)/float64(sqlCPU))
	return nil
}

func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

// check verifies the deployment: every host that succeeded has the file in place. It returns a
// summary of the failed events by error code, empty when every host succeeded.
func check(ctx context.Context, c *api.Client, w *workers, id string, rev rig.Trivial) (string, error) {
	d, err := c.GetDeployment(ctx, id)
	if err != nil {
		return "", err
	}
	if len(d.Instances) != w.n {
		return "", fmt.Errorf("deployment %s targets %d instances, want %d", id, len(d.Instances), w.n)
	}
	codes := map[string]int{}
	for _, in := range d.Instances {
		if in.Status != "Succeeded" {
			for _, e := range in.Events {
				if e.Status == "Failed" && e.Diagnostics != nil {
					codes[e.Name+" "+e.Diagnostics.ErrorCode]++
				}
			}
			continue
		}
		i, err := strconv.Atoi(strings.TrimPrefix(in.Instance, "host-"))
		if err != nil {
			return "", fmt.Errorf("unexpected instance name %q", in.Instance)
		}
		got, err := os.ReadFile(filepath.Join(agentPrefix(w.dir, i), rev.FileDest, "index.html"))
		if err != nil {
			return "", fmt.Errorf("%s succeeded but its copied file: %w", in.Instance, err)
		}
		if string(got) != rig.TrivialContent {
			return "", fmt.Errorf("%s succeeded but its copied file is %q", in.Instance, got)
		}
	}
	var parts []string
	for k, n := range codes {
		parts = append(parts, fmt.Sprintf("%s ×%d", k, n))
	}
	slices.Sort(parts)
	return strings.Join(parts, ", "), nil
}

// idle measures the server with every agent long-polling and nothing to do; with a profile path,
// it also writes the server's CPU profile of that window there.
func idle(ctx context.Context, stdout io.Writer, srv *rig.Server, w *workers, window time.Duration, profile string) error {
	// Let the burst of connecting settle: every agent is in a long poll, nothing else happens.
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(5 * time.Second):
	}
	cpu0, err := srv.CPU()
	if err != nil {
		return err
	}
	agents0 := w.cpu()
	start := time.Now()
	profiled := make(chan error, 1)
	if profile != "" {
		go func() { profiled <- srv.CPUProfile(ctx, profile, window) }()
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(window):
	}
	cpu1, err := srv.CPU()
	if err != nil {
		return err
	}
	elapsed := time.Since(start)
	agentsCPU := w.cpu() - agents0
	rss, peak, err := srv.Memory()
	if err != nil {
		return err
	}
	fds, err := rig.OpenFiles(srv.Pid())
	if err != nil {
		return err
	}
	cpu := cpu1 - cpu0
	perSecond := func(d time.Duration) time.Duration { return time.Duration(float64(d) / elapsed.Seconds()) }
	fmt.Fprintf(stdout, "%d idle agents long-polling (30s polls), measured over %s, load average %s:\n", w.n, rig.Round(elapsed), loadAverage())
	fmt.Fprintf(stdout, "  server CPU                   %s per second (%.1f%% of one core)\n", rig.Round(perSecond(cpu)), 100*cpu.Seconds()/elapsed.Seconds())
	fmt.Fprintf(stdout, "  server RSS                   %s (%.1f KiB per agent), peak %s\n", rig.MiB(rss), float64(rss)/1024/float64(w.n), rig.MiB(peak))
	fmt.Fprintf(stdout, "  server open files            %d\n", fds)
	fmt.Fprintf(stdout, "  agents' CPU (workers)        %s per second\n", rig.Round(perSecond(agentsCPU)))
	if profile != "" {
		if err := <-profiled; err != nil {
			return err
		}
		fmt.Fprintf(stdout, "CPU profile of the idle server: %s\n", profile)
	}
	return nil
}
