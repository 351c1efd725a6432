// Command deploy measures the latency of a trivial revision deployed by a real slipway-server to
// one real slipway-agent: from the create-deployment API call to the deployment's Succeeded, over
// many runs. The baseline, measured in the same run, is ansible-playbook on localhost
// (connection: local) doing the same file copy and running the same no-op scripts. See
// bench/README.md for the figures and how they were taken.
//
// The trivial revision has one small file in its files section and one `exit 0` script on each of
// the nine scriptable server events. Two warm-up deployments come first, so every timed deployment
// has a previous revision and runs ApplicationStop too, and the baseline learns which scripts a
// deployment runs. The baseline's runs are spread among slipway's.
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/slipway-deploy/slipway/bench/internal/rig"
	"github.com/slipway-deploy/slipway/internal/api"
)

const (
	app   = "bench"
	group = "one"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "deploy bench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	fl := flag.NewFlagSet("deploy", flag.ContinueOnError)
	runs := fl.Int("runs", 40, "timed deployments")
	ansibleRuns := fl.Int("ansible-runs", 8, "timed runs of each ansible-playbook baseline (0: skip)")
	pollEvery := fl.Duration("poll", 2*time.Millisecond, "how often the deployment list is polled for the end")
	work := fl.String("dir", "", "work directory, kept (default: a new temp dir, removed at the end)")
	if err := fl.Parse(args); err != nil {
		return err
	}
	dir, cleanup, err := rig.WorkDir(*work, "", "slipway-deploy-bench-")
	if err != nil {
		return err
	}
	defer cleanup()
	fmt.Fprintln(stdout, "machine:", rig.Machine())
	bins, err := rig.Build(ctx, dir, "slipway-server", "slipway-agent")
	if err != nil {
		return err
	}
	srv, err := rig.StartServer(ctx, bins["slipway-server"], rig.Mkdir(dir, "server"), nil)
	if err != nil {
		return err
	}
	defer srv.Stop()
	agent, err := rig.StartAgent(bins["slipway-agent"], srv, rig.Mkdir(dir, "agent"), "bench-host", "role=bench")
	if err != nil {
		return err
	}
	defer agent.Stop()
	c := srv.Admin()
	if err := rig.WaitInstances(ctx, c, 1, agent); err != nil {
		return err
	}
	if err := rig.CreateGroup(ctx, c, app, group, "role", "bench", "CodeDeployDefault.AllAtOnce"); err != nil {
		return err
	}
	rev, err := rig.WriteTrivial(filepath.Join(dir, "revision"), true)
	if err != nil {
		return err
	}
	digest, err := rig.Upload(ctx, c, app, rev.Dir)
	if err != nil {
		return err
	}

	polls := 0
	deployOnce := func() (observed, serverSide time.Duration, ran []string, err error) {
		start := time.Now()
		d, err := c.CreateDeployment(ctx, api.CreateDeployment{Application: app, Group: group, Revision: digest})
		if err != nil {
			return 0, 0, nil, fmt.Errorf("create deployment: %w", err)
		}
		end, seen, n, err := rig.WaitFinished(ctx, c, app, group, d.ID, *pollEvery)
		if err != nil {
			return 0, 0, nil, err
		}
		polls += n
		observed = seen.Sub(start)
		if end.EndTime != nil {
			serverSide = end.EndTime.Sub(start)
		}
		ran, err = checkDeployment(ctx, c, d.ID, agent, rev)
		return observed, serverSide, ran, err
	}
	// Warm-up: the first deployment has no previous revision, so ApplicationStop is skipped; the
	// second runs every hook a deployment runs, which the same-work baseline then runs too.
	if _, _, _, err := deployOnce(); err != nil {
		return err
	}
	_, _, hooksRan, err := deployOnce()
	if err != nil {
		return err
	}
	baselines := []*baseline{
		{what: "the same work (copy + the scripts slipway ran)", scripts: hooksRan},
		{what: "copy + all nine scripts", scripts: rig.ScriptableEvents},
	}
	ansibleNote := ""
	if *ansibleRuns > 0 {
		if _, err := exec.LookPath("ansible-playbook"); err != nil {
			ansibleNote = "ansible baseline: NOT MEASURED: ansible-playbook is not installed (apt-get install -y ansible); no ratio"
			*ansibleRuns = 0
		}
	}
	for _, b := range baselines {
		if *ansibleRuns > 0 {
			if b.run, err = playbook(ctx, dir, rev, b.scripts); err != nil {
				return err
			}
		}
	}

	// The baselines' runs are spread among slipway's, so that both see the same load on a shared
	// machine.
	var observed, serverSide []time.Duration
	var serverCPU, agentCPU time.Duration
	polls = 0
	every := max(*runs/max(*ansibleRuns, 1), 1)
	for i := range *runs {
		s0, err := srv.CPU()
		if err != nil {
			return err
		}
		a0, err := rig.ProcessCPU(agent.Pid())
		if err != nil {
			return err
		}
		o, sv, _, err := deployOnce()
		if err != nil {
			return err
		}
		s1, _ := srv.CPU()
		a1, _ := rig.ProcessCPU(agent.Pid())
		observed, serverSide = append(observed, o), append(serverSide, sv)
		serverCPU, agentCPU = serverCPU+s1-s0, agentCPU+a1-a0
		for _, b := range baselines {
			if b.run != nil && i%every == every-1 && len(b.times) < *ansibleRuns {
				d, err := b.run()
				if err != nil {
					return err
				}
				b.times = append(b.times, d)
			}
		}
	}

	fmt.Fprintf(stdout, "slipway: trivial revision (1 file, nine no-op hooks) to one slipway-agent, %d runs\n", *runs)
	fmt.Fprintf(stdout, "  hooks that ran per deployment: %d (%s)\n", len(hooksRan), strings.Join(hooksRan, ", "))
	if missing := notRan(hooksRan); len(missing) > 0 {
		fmt.Fprintf(stdout, "  not sent by the server: %s (a group without a traffic router has no traffic events)\n", strings.Join(missing, ", "))
	}
	fmt.Fprintf(stdout, "  create call → Succeeded seen by polling (every %s)   %s  (target < 250ms)\n", *pollEvery, rig.Summary(observed))
	fmt.Fprintf(stdout, "  create call → server's end time (ms resolution)       %s\n", rig.Summary(serverSide))
	fmt.Fprintf(stdout, "  server CPU per deployment %s (answering %d list polls included), agent CPU per deployment %s (hooks' own CPU not included)\n",
		rig.Round(serverCPU/time.Duration(*runs)), polls / *runs, rig.Round(agentCPU/time.Duration(*runs)))
	if ansibleNote != "" {
		fmt.Fprintln(stdout, ansibleNote)
		return nil
	}
	median := rig.Percentile(observed, 50)
	for _, b := range baselines {
		if len(b.times) == 0 {
			continue
		}
		am := rig.Percentile(b.times, 50)
		fmt.Fprintf(stdout, "ansible-playbook (local), %s: %d runs among slipway's\n  wall time  %s\n", b.what, len(b.times), rig.Summary(b.times))
		fmt.Fprintf(stdout, "  ratio ansible / slipway (medians): %.1f×  (target ≥ 10×)\n", float64(am)/float64(median))
	}
	return nil
}

// baseline is one ansible-playbook variant and its timed runs.
type baseline struct {
	what    string
	scripts []string
	run     func() (time.Duration, error)
	times   []time.Duration
}

// checkDeployment makes sure the deployment did the work claimed: Succeeded, every event
// succeeded, the file is in place. It returns the hook events that ran.
func checkDeployment(ctx context.Context, c *api.Client, id string, a *rig.Agent, rev rig.Trivial) ([]string, error) {
	d, err := c.GetDeployment(ctx, id)
	if err != nil {
		return nil, err
	}
	if d.Status != "Succeeded" || len(d.Instances) != 1 {
		return nil, fmt.Errorf("deployment %s: status %s on %d instances, want Succeeded on 1 (%s)", id, d.Status, len(d.Instances), d.ErrorMessage)
	}
	var ran []string
	for _, e := range d.Instances[0].Events {
		if e.Status != "Succeeded" && (e.Status != "Skipped" || e.Name != "ApplicationStop") {
			return nil, fmt.Errorf("deployment %s: event %s is %s", id, e.Name, e.Status)
		}
		if e.Status == "Succeeded" && slices.Contains(rig.ScriptableEvents, e.Name) {
			ran = append(ran, e.Name)
		}
	}
	got, err := os.ReadFile(filepath.Join(a.Prefix, rev.FileDest, "index.html"))
	if err != nil {
		return nil, fmt.Errorf("deployment %s: the copied file: %w", id, err)
	}
	if string(got) != rig.TrivialContent {
		return nil, fmt.Errorf("deployment %s: the copied file is %q", id, got)
	}
	return ran, nil
}

func notRan(ran []string) []string {
	var out []string
	for _, e := range rig.ScriptableEvents {
		if !slices.Contains(ran, e) {
			out = append(out, e)
		}
	}
	return out
}

// playbook writes a playbook that copies the revision's file and runs the no-op script once per
// event in scripts, and returns a function that runs it once and returns ansible-playbook's wall
// time.
func playbook(ctx context.Context, dir string, rev rig.Trivial, scripts []string) (func() (time.Duration, error), error) {
	adir := rig.Mkdir(dir, "ansible")
	dest := rig.Mkdir(adir, fmt.Sprintf("prefix-%d", len(scripts)), rev.FileDest)
	var pb strings.Builder
	pb.WriteString("- hosts: localhost\n  connection: local\n  gather_facts: false\n  tasks:\n")
	fmt.Fprintf(&pb, "    - name: Install\n      ansible.builtin.copy:\n        src: %s\n        dest: %s/index.html\n        mode: \"0644\"\n", rev.File, dest)
	for _, e := range scripts {
		fmt.Fprintf(&pb, "    - name: %s\n      ansible.builtin.command: %s\n", e, rev.Script)
	}
	path := filepath.Join(adir, fmt.Sprintf("playbook-%d.yml", len(scripts)))
	if err := os.WriteFile(path, []byte(pb.String()), 0o644); err != nil {
		return nil, err
	}
	return func() (time.Duration, error) {
		// Removed first, so that the copy task really copies, as every deployment does.
		_ = os.Remove(filepath.Join(dest, "index.html"))
		cmd := exec.CommandContext(ctx, "ansible-playbook", "-i", "localhost,", path)
		cmd.Env = append(os.Environ(), "ANSIBLE_NOCOWS=1", "ANSIBLE_RETRY_FILES_ENABLED=0",
			"ANSIBLE_PYTHON_INTERPRETER=/usr/bin/python3", "ANSIBLE_LOCALHOST_WARNING=0", "ANSIBLE_HOST_KEY_CHECKING=0")
		start := time.Now()
		out, err := cmd.CombinedOutput()
		elapsed := time.Since(start)
		if err != nil {
			return 0, fmt.Errorf("ansible-playbook %s: %w\n%s", path, err, out)
		}
		// ok counts the copy and every script; changed the same, so the copy did copy.
		if want := fmt.Sprintf("ok=%d changed=%d ", len(scripts)+1, len(scripts)+1); !strings.Contains(recap(out), want) {
			return 0, fmt.Errorf("ansible-playbook %s: want %q in the recap:\n%s", path, want, out)
		}
		return elapsed, nil
	}, nil
}

// recap returns the PLAY RECAP line of ansible-playbook's output.
func recap(out []byte) string {
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "localhost") && strings.Contains(sc.Text(), "ok=") {
			return strings.Join(strings.Fields(sc.Text()), " ") + " "
		}
	}
	return ""
}
