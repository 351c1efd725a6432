// Command lifecycle measures what `slipway-agent local` costs on top of the hooks it runs, and
// how much memory the agent holds while it waits for a hook. See bench/README.md for the figures
// and how they were taken.
//
// Overhead: a bundle with nine no-op hooks (one `exit 0` script on every scriptable event) is
// deployed -runs times on one root, after a warm-up run so that ApplicationStop and the
// block-traffic events have a previous revision and every run executes all nine scripts. Each
// timed agent run is paired with a baseline measured in the same run: the same nine scripts
// executed directly with fork/exec, one after the other. Overhead = agent time − script time.
//
// Idle memory: the agent's VmRSS (from /proc/PID/status) while a BeforeInstall hook sleeps.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/slipway-deploy/slipway/bench/internal/rig"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "lifecycle bench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	fl := flag.NewFlagSet("lifecycle", flag.ContinueOnError)
	runs := fl.Int("runs", 30, "timed runs of `slipway-agent local`")
	work := fl.String("dir", "", "work directory (default: a new temp dir, removed at the end)")
	if err := fl.Parse(args); err != nil {
		return err
	}
	dir, cleanup, err := rig.WorkDir(*work, "", "slipway-lifecycle-bench-")
	if err != nil {
		return err
	}
	defer cleanup()
	agent := filepath.Join(dir, "slipway-agent")
	if out, err := exec.CommandContext(ctx, "go", "build", "-o", agent, "./agent").CombinedOutput(); err != nil {
		return fmt.Errorf("build slipway-agent (run from the repository root): %w\n%s", err, out)
	}

	bundle := filepath.Join(dir, "noop-bundle")
	if err := writeNoopBundle(bundle); err != nil {
		return err
	}
	root := filepath.Join(dir, "root")
	// Each run is timed by the wall clock and by CPU time (user + system, the process and the
	// children it waited for: the agent's includes its hooks). On a busy shared machine the wall
	// time mostly measures the other tenants; the CPU time does not, but leaves out waiting for
	// the disk (fsync), so both are printed.
	local := func(id string, check bool) (wall, cpu time.Duration, err error) {
		cmd := exec.CommandContext(ctx, agent, "local", "--bundle", bundle, "--root", root, "--deployment-id", id)
		start := time.Now()
		out, err := cmd.CombinedOutput()
		wall = time.Since(start)
		if err != nil {
			return 0, 0, fmt.Errorf("slipway-agent local: %w\n%s", err, out)
		}
		if n := strings.Count(string(out), " Succeeded "); check && n != len(rig.ScriptableEvents)+2 {
			return 0, 0, fmt.Errorf("want %d succeeded events (nine hooks, DownloadBundle, Install), got %d:\n%s", len(rig.ScriptableEvents)+2, n, out)
		}
		return wall, cpuTime(cmd.ProcessState), nil
	}
	script := filepath.Join(bundle, "scripts", "noop.sh")
	direct := func() (wall, cpu time.Duration, err error) {
		start := time.Now()
		for range rig.ScriptableEvents {
			cmd := exec.CommandContext(ctx, script)
			if err := cmd.Run(); err != nil {
				return 0, 0, fmt.Errorf("run %s: %w", script, err)
			}
			cpu += cpuTime(cmd.ProcessState)
		}
		return time.Since(start), cpu, nil
	}

	fmt.Fprintf(stdout, "machine before the timed runs: %s\n", rig.Machine())
	if _, _, err := local("d-warmup", false); err != nil {
		return err
	}
	var agentWall, scriptWall, overWall, agentCPU, scriptCPU, overCPU []time.Duration
	for i := range *runs {
		aw, ac, err := local("d-"+strconv.Itoa(i), true)
		if err != nil {
			return err
		}
		sw, sc, err := direct()
		if err != nil {
			return err
		}
		agentWall, scriptWall, overWall = append(agentWall, aw), append(scriptWall, sw), append(overWall, aw-sw)
		agentCPU, scriptCPU, overCPU = append(agentCPU, ac), append(scriptCPU, sc), append(overCPU, ac-sc)
	}
	fmt.Fprintf(stdout, "slipway-agent local, nine no-op hooks, %d runs (median, [min … max]):\n", *runs)
	fmt.Fprintf(stdout, "  agent wall time        %s\n", summary(agentWall))
	fmt.Fprintf(stdout, "  scripts' own time      %s   (the same nine scripts, fork/exec, sequential)\n", summary(scriptWall))
	fmt.Fprintf(stdout, "  overhead               %s   (target < 50ms)\n", summary(overWall))
	fmt.Fprintf(stdout, "  ratio agent / scripts  %.1f×\n", float64(median(agentWall))/float64(median(scriptWall)))
	fmt.Fprintf(stdout, "CPU time (user+sys), same runs:\n")
	fmt.Fprintf(stdout, "  agent with its hooks   %s\n", summary(agentCPU))
	fmt.Fprintf(stdout, "  scripts alone          %s\n", summary(scriptCPU))
	fmt.Fprintf(stdout, "  overhead               %s\n", summary(overCPU))
	fmt.Fprintf(stdout, "  ratio agent / scripts  %.1f×\n", float64(median(agentCPU))/float64(median(scriptCPU)))

	rss, err := idleRSS(ctx, agent, dir)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "idle memory while a hook sleeps: VmRSS %s, VmHWM %s\n", rss["VmRSS"], rss["VmHWM"])
	fmt.Fprintf(stdout, "load average after: %s\n", rig.LoadAverage())
	return nil
}

func writeNoopBundle(dir string) error {
	var spec strings.Builder
	spec.WriteString("version: 0.0\nos: linux\nhooks:\n")
	for _, e := range rig.ScriptableEvents {
		fmt.Fprintf(&spec, "  %s:\n    - location: scripts/noop.sh\n      timeout: 60\n", e)
	}
	if err := os.MkdirAll(filepath.Join(dir, "scripts"), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "appspec.yml"), []byte(spec.String()), 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "scripts", "noop.sh"), []byte("#!/bin/sh\nexit 0\n"), 0o755)
}

// idleRSS starts a deployment whose BeforeInstall sleeps, reads the agent's memory figures while
// it waits, then stops it.
func idleRSS(ctx context.Context, agent, dir string) (map[string]string, error) {
	bundle := filepath.Join(dir, "sleep-bundle")
	pidFile := filepath.Join(dir, "sleep.pid")
	if err := os.MkdirAll(bundle, 0o755); err != nil {
		return nil, err
	}
	spec := "version: 0.0\nos: linux\nhooks:\n  BeforeInstall:\n    - location: sleep.sh\n      timeout: 120\n"
	sleep := "#!/bin/sh\necho $$ > " + pidFile + ".tmp\nmv " + pidFile + ".tmp " + pidFile + "\nexec sleep 120\n"
	if err := os.WriteFile(filepath.Join(bundle, "appspec.yml"), []byte(spec), 0o644); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(bundle, "sleep.sh"), []byte(sleep), 0o755); err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, agent, "local", "--bundle", bundle, "--root", filepath.Join(dir, "idle-root"))
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	}()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := os.Stat(pidFile); err == nil {
			break
		}
		if time.Now().After(deadline) {
			return nil, errors.New("the sleeping hook did not start")
		}
		time.Sleep(10 * time.Millisecond)
	}
	// Let the agent settle into its wait: the figure wanted is the steady state, not start-up.
	time.Sleep(500 * time.Millisecond)
	b, err := os.ReadFile("/proc/" + strconv.Itoa(cmd.Process.Pid) + "/status")
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if ok && strings.HasPrefix(k, "Vm") {
			out[k] = strings.Join(strings.Fields(v), " ")
		}
	}
	return out, nil
}

// cpuTime is the user and system time of a finished process and the children it waited for.
func cpuTime(ps *os.ProcessState) time.Duration {
	if ps == nil {
		return 0
	}
	return ps.UserTime() + ps.SystemTime()
}

func median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}

func summary(d []time.Duration) string {
	return fmt.Sprintf("%-8s [%s … %s]", round(median(d)), round(slices.Min(d)), round(slices.Max(d)))
}

func round(d time.Duration) time.Duration { return d.Round(10 * time.Microsecond) }
