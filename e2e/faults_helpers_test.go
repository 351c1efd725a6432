package e2e

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/slipway-deploy/slipway/internal/api"
	"github.com/slipway-deploy/slipway/internal/script"
)

// The built-in deployment configs.
const (
	oneAtATime  = "CodeDeployDefault.OneAtATime"
	halfAtATime = "CodeDeployDefault.HalfAtATime"
	allAtOnce   = "CodeDeployDefault.AllAtOnce"
)

// hookOpts shapes the scripts writeHookBundle puts in a revision.
type hookOpts struct {
	// label names the revision in traces and in the installed index.html.
	label string
	// sleep, when set, is how long each hook sleeps (an argument to sleep(1), e.g. "0.2").
	sleep string
	// shared, when set, is a directory every agent's hooks append "+ host" and "- host" lines to
	// (file "concurrency"), so the test can see how many hosts ran hooks at once.
	shared string
}

// writeHookBundle writes a revision whose hooks (one per hookEvents entry) are steered per host by
// files in the agent's install prefix, so one revision behaves differently on each host:
//
//   - every hook appends "start EVENT DEPLOYMENT LABEL" to $SLIPWAY_INSTALL_PREFIX/trace, and
//     "end ..." when it succeeds;
//   - hold-EVENT makes the hook write holding-EVENT (the deployment id and the script's pid) and
//     wait until hold-EVENT is removed; holding-EVENT goes away when the script ends normally;
//   - fail-EVENT makes the hook fail (exit 1, with a line on stderr).
func writeHookBundle(t *testing.T, o hookOpts) string {
	t.Helper()
	dir := t.TempDir()
	var spec strings.Builder
	spec.WriteString("version: 0.0\nos: linux\nfiles:\n  - source: web\n    destination: /srv/app\nhooks:\n")
	for _, ev := range hookEvents {
		fmt.Fprintf(&spec, "  %s:\n    - location: hooks/%s.sh\n      timeout: 120\n", ev, ev)
		var b strings.Builder
		b.WriteString("#!/bin/sh\np=\"$SLIPWAY_INSTALL_PREFIX\"\nev=\"$LIFECYCLE_EVENT\"\n")
		fmt.Fprintf(&b, "echo \"start $ev $DEPLOYMENT_ID %s\" >> \"$p/trace\"\n", o.label)
		if o.shared != "" {
			fmt.Fprintf(&b, "echo \"+ $p\" >> %q\n", filepath.Join(o.shared, "concurrency"))
		}
		b.WriteString("if [ -e \"$p/hold-$ev\" ]; then\n  echo \"$DEPLOYMENT_ID $$\" > \"$p/holding-$ev\"\n" +
			"  while [ -e \"$p/hold-$ev\" ]; do sleep 0.05; done\nfi\n")
		if o.sleep != "" {
			fmt.Fprintf(&b, "sleep %s\n", o.sleep)
		}
		if o.shared != "" {
			fmt.Fprintf(&b, "echo \"- $p\" >> %q\n", filepath.Join(o.shared, "concurrency"))
		}
		fmt.Fprintf(&b, "status=0\nif [ -e \"$p/fail-$ev\" ]; then\n  echo \"$ev is broken on this host in %s\" >&2\n  status=1\n"+
			"else\n  echo \"end $ev $DEPLOYMENT_ID %s\" >> \"$p/trace\"\nfi\nrm -f \"$p/holding-$ev\"\nexit $status\n", o.label, o.label)
		writeFile(t, filepath.Join(dir, "hooks", ev+".sh"), b.String(), 0o755)
	}
	writeFile(t, filepath.Join(dir, "appspec.yml"), spec.String(), 0o644)
	writeFile(t, filepath.Join(dir, "web", "index.html"), "revision "+o.label+"\n", 0o644)
	return dir
}

// failOn makes event's hook fail on a's host until the returned function (also run at cleanup)
// clears it.
func failOn(t *testing.T, a *agent, event string) func() {
	t.Helper()
	path := filepath.Join(a.Prefix, "fail-"+event)
	writeFile(t, path, "", 0o644)
	unfail := func() { _ = os.Remove(path) }
	t.Cleanup(unfail)
	return unfail
}

// hold makes event's hook wait on a's host until release.
func hold(t *testing.T, a *agent, event string) {
	t.Helper()
	writeFile(t, filepath.Join(a.Prefix, "hold-"+event), "", 0o644)
	// A held script outlives a killed agent; let it end before the prefix is removed.
	t.Cleanup(func() { release(t, a, event) })
}

// waitHolding waits until a's hook for event is held, and returns the deployment it runs for.
func waitHolding(t *testing.T, a *agent, event string) string {
	t.Helper()
	id, _ := waitHeld(t, a, event)
	return id
}

// waitHeld waits until a's hook for event is held, and returns the deployment it runs for and
// the script's pid.
func waitHeld(t *testing.T, a *agent, event string) (string, int) {
	t.Helper()
	f := waitFor(t, 60*time.Second, a.Name+" to hold in "+event, func() ([]string, bool) {
		f := strings.Fields(readFile(t, filepath.Join(a.Prefix, "holding-"+event)))
		return f, len(f) == 2
	})
	pid, err := strconv.Atoi(f[1])
	if err != nil {
		t.Fatalf("holding-%s: %v", event, err)
	}
	return f[0], pid
}

// release lets a held hook go on, and waits for the script to end (it may be an orphan of a
// killed agent, which nobody else waits for). A script that was killed leaves its holding file
// behind, with a pid that no longer runs.
func release(t *testing.T, a *agent, event string) {
	t.Helper()
	_ = os.Remove(filepath.Join(a.Prefix, "hold-"+event))
	holding := filepath.Join(a.Prefix, "holding-"+event)
	waitFor(t, 30*time.Second, a.Name+"'s "+event+" script to end", func() (bool, bool) {
		f := strings.Fields(readFile(t, holding))
		if len(f) == 2 {
			if pid, err := strconv.Atoi(f[1]); err == nil && !script.Running(pid) {
				_ = os.Remove(holding)
				return true, true
			}
		}
		_, err := os.Stat(holding)
		return true, errors.Is(err, os.ErrNotExist)
	})
}

// startDeploy creates a deployment with the CLI, without waiting, and returns its id.
func startDeploy(t *testing.T, s *server, bundle string, extra ...string) string {
	t.Helper()
	args := append([]string{"deploy", "--app", "shop", "--group", "prod", "--bundle", bundle}, extra...)
	return deployID(t, mustCLI(t, s, args...))
}

// deployAndWait deploys bundle with the CLI's --wait and returns the finished deployment; the
// CLI's exit code must agree with the status.
func deployAndWait(t *testing.T, s *server, bundle string, extra ...string) api.Deployment {
	t.Helper()
	args := []string{"deploy", "--app", "shop", "--group", "prod", "--wait"}
	if bundle != "" { // none when extra names the revision another way
		args = append(args, "--bundle", bundle)
	}
	out, errOut, code := cli(t, s, append(args, extra...)...)
	d := getDeployment(t, s, deployID(t, out))
	if (code == 0) != (d.Status == "Succeeded") {
		t.Fatalf("deploy --wait exited %d for a deployment that is %s\nstdout:\n%s\nstderr:\n%s", code, d.Status, out, errOut)
	}
	return d
}

// waitFinished polls the API until deployment id reaches a final status.
func waitFinished(t *testing.T, s *server, id string, within time.Duration) api.Deployment {
	t.Helper()
	return waitFor(t, within, "deployment "+id+" to finish", func() (api.Deployment, bool) {
		d, err := s.client().GetDeployment(context.Background(), id)
		return d, err == nil && finished(d.Status)
	})
}

func finished(status string) bool {
	return status == "Succeeded" || status == "Failed" || status == "Stopped"
}

// hostOrder lists a started deployment's hosts by name, in deployment order.
func hostOrder(d api.Deployment) []string {
	var names []string
	for _, in := range d.Instances {
		names = append(names, in.Instance)
	}
	return names
}

// inOrder returns the agents in the order of names.
func inOrder(t *testing.T, agents []*agent, names []string) []*agent {
	t.Helper()
	by := map[string]*agent{}
	for _, a := range agents {
		by[a.Name] = a
	}
	var out []*agent
	for _, n := range names {
		a, ok := by[n]
		if !ok {
			t.Fatalf("deployment names host %s, which is not one of the agents", n)
		}
		out = append(out, a)
	}
	return out
}

func instanceOf(t *testing.T, d api.Deployment, name string) api.DeploymentInstance {
	t.Helper()
	for _, in := range d.Instances {
		if in.Instance == name {
			return in
		}
	}
	t.Fatalf("deployment %s has no host %s", d.ID, name)
	return api.DeploymentInstance{}
}

func eventOf(t *testing.T, in api.DeploymentInstance, name string) api.LifecycleEvent {
	t.Helper()
	for _, e := range in.Events {
		if e.Name == name {
			return e
		}
	}
	t.Fatalf("host %s has no event %s", in.Instance, name)
	return api.LifecycleEvent{}
}

// hostStatuses maps host name to its status in d.
func hostStatuses(d api.Deployment) map[string]string {
	out := map[string]string{}
	for _, in := range d.Instances {
		out[in.Instance] = in.Status
	}
	return out
}

// traceLine is one line a hook appended to a host's trace.
type traceLine struct {
	Phase, Event, Deployment, Label string
}

func readTrace(t *testing.T, a *agent) []traceLine {
	t.Helper()
	var out []traceLine
	for _, l := range strings.Split(strings.TrimSpace(readFile(t, filepath.Join(a.Prefix, "trace"))), "\n") {
		f := strings.Fields(l)
		if len(f) != 4 {
			continue
		}
		out = append(out, traceLine{Phase: f[0], Event: f[1], Deployment: f[2], Label: f[3]})
	}
	return out
}

// hookRuns counts, for deployment id, how often each hook started on a's host.
func hookRuns(t *testing.T, a *agent, id string) map[string]int {
	t.Helper()
	runs := map[string]int{}
	for _, l := range readTrace(t, a) {
		if l.Deployment == id && l.Phase == "start" {
			runs[l.Event]++
		}
	}
	return runs
}

// maxOverlap is the largest number of hosts the server had in progress at one time, from the
// hosts' start and end times. A host that ends at the instant another starts does not overlap it:
// the server ends one and starts the next in the same decision.
func maxOverlap(d api.Deployment) int {
	type edge struct {
		at    time.Time
		delta int
	}
	var edges []edge
	for _, in := range d.Instances {
		if in.StartTime == nil || in.EndTime == nil {
			continue
		}
		edges = append(edges, edge{*in.StartTime, +1}, edge{*in.EndTime, -1})
	}
	sort.Slice(edges, func(i, j int) bool {
		if !edges[i].at.Equal(edges[j].at) {
			return edges[i].at.Before(edges[j].at)
		}
		return edges[i].delta < edges[j].delta // ends before starts at the same instant
	})
	cur, most := 0, 0
	for _, e := range edges {
		cur += e.delta
		most = max(most, cur)
	}
	return most
}

// hookConcurrency is the largest number of hosts whose hooks ran at once, from the shared file
// the hooks append to.
func hookConcurrency(t *testing.T, shared string) int {
	t.Helper()
	cur, most := 0, 0
	for _, l := range strings.Split(readFile(t, filepath.Join(shared, "concurrency")), "\n") {
		switch {
		case strings.HasPrefix(l, "+ "):
			cur++
		case strings.HasPrefix(l, "- "):
			cur--
		}
		most = max(most, cur)
	}
	return most
}

// serves reads the revision label a host's installed index.html names.
func serves(t *testing.T, a *agent) string {
	t.Helper()
	return strings.TrimSpace(strings.TrimPrefix(readFile(t, filepath.Join(a.Prefix, "srv/app/index.html")), "revision "))
}
