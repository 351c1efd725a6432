package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/slipway-deploy/slipway/internal/api"
	"github.com/slipway-deploy/slipway/internal/deploy"
	"github.com/slipway-deploy/slipway/internal/script"
)

// The fault tests run the real server, agents and CLI. Each starts from a fleet on which a first
// revision succeeded everywhere (healthyFleet), so every host is healthy and on the group's
// current revision, and the next deployment takes the hosts in instance-id order: the order of
// the agents healthyFleet returns. Hooks are steered per host with hold/failOn (see
// writeHookBundle); nothing waits on a clock except the lease test, which is about one.

// lifecycle is an in-place host's events in order.
var lifecycle = deploy.LifecycleEvents(false)

// healthyFleet starts n agents in group shop/prod (config, groupFlags) on s and deploys revision
// v1 to all of them at once. It returns the agents in the order the next deployment takes them,
// and the v1 deployment.
func healthyFleet(t *testing.T, s *server, n int, config string, groupFlags ...string) ([]*agent, api.Deployment) {
	t.Helper()
	agents := setupGroup(t, s, n, config, groupFlags...)
	v1 := deployAndWait(t, s, writeHookBundle(t, hookOpts{label: "v1"}), "--config", allAtOnce)
	if v1.Status != "Succeeded" || v1.Overview.Succeeded != n {
		t.Fatalf("first deployment: %s with %+v, want Succeeded on %d hosts", v1.Status, v1.Overview, n)
	}
	return inOrder(t, agents, hostOrder(v1)), v1
}

func names(agents []*agent) []string {
	out := make([]string, len(agents))
	for i, a := range agents {
		out[i] = a.Name
	}
	return out
}

// wantHosts checks each agent's status in d, in the order given.
func wantHosts(t *testing.T, d api.Deployment, agents []*agent, want ...string) {
	t.Helper()
	got := hostStatuses(d)
	for i, a := range agents {
		if got[a.Name] != want[i] {
			t.Errorf("deployment %s: %s (position %d) is %s, want %s", d.ID, a.Name, i, got[a.Name], want[i])
		}
	}
}

// wantFailedAt checks that a's host failed in event with diagnostic code: the events before it
// succeeded, the ones after were skipped and their hooks never started.
func wantFailedAt(t *testing.T, d api.Deployment, a *agent, event, code string) api.LifecycleEvent {
	t.Helper()
	in := instanceOf(t, d, a.Name)
	if in.Status != "Failed" {
		t.Errorf("%s is %s, want Failed", a.Name, in.Status)
	}
	i := slices.Index(lifecycle, event)
	runs := hookRuns(t, a, d.ID)
	var failed api.LifecycleEvent
	for j, name := range lifecycle {
		ev := eventOf(t, in, name)
		want := "Succeeded"
		switch {
		case j == i:
			want, failed = "Failed", ev
		case j > i:
			want = "Skipped"
			if runs[name] != 0 {
				t.Errorf("%s ran %s after %s failed", a.Name, name, event)
			}
		}
		if ev.Status != want {
			t.Errorf("%s %s: %s, want %s", a.Name, name, ev.Status, want)
		}
	}
	if failed.Diagnostics == nil || failed.Diagnostics.ErrorCode != code {
		t.Errorf("%s %s diagnostics %+v, want code %s", a.Name, event, failed.Diagnostics, code)
	}
	return failed
}

// wantUntouched checks that a's host was skipped by d and ran none of its hooks.
func wantUntouched(t *testing.T, d api.Deployment, a *agent) {
	t.Helper()
	in := instanceOf(t, d, a.Name)
	if in.Status != "Skipped" {
		t.Errorf("%s is %s, want Skipped", a.Name, in.Status)
	}
	for _, ev := range in.Events {
		if ev.Status != "Skipped" {
			t.Errorf("%s %s: %s in a skipped host", a.Name, ev.Name, ev.Status)
		}
	}
	if runs := hookRuns(t, a, d.ID); len(runs) != 0 {
		t.Errorf("skipped host %s ran hooks %v", a.Name, runs)
	}
}

// wantServes checks the revision label each agent's host serves.
func wantServes(t *testing.T, agents []*agent, want ...string) {
	t.Helper()
	for i, a := range agents {
		if got := serves(t, a); got != want[i] {
			t.Errorf("%s serves %q, want %q", a.Name, got, want[i])
		}
	}
}

func groupRevision(t *testing.T, s *server) string {
	t.Helper()
	g, err := s.client().GetGroup(context.Background(), "shop", "prod")
	if err != nil {
		t.Fatal(err)
	}
	return g.CurrentRevision
}

// health is a host's standing in group shop/prod, as `slipway instance list --json` shows it.
func health(t *testing.T, s *server) map[string]api.InstanceGroup {
	t.Helper()
	var list []api.Instance
	if err := json.Unmarshal([]byte(mustCLI(t, s, "instance", "list", "--json")), &list); err != nil {
		t.Fatal(err)
	}
	out := map[string]api.InstanceGroup{}
	for _, in := range list {
		for _, g := range in.Groups {
			if g.Application == "shop" && g.Group == "prod" {
				out[in.Name] = g
			}
		}
	}
	return out
}

// waitEvent polls until event of a's host in deployment id has status, and returns the deployment.
func waitEvent(t *testing.T, s *server, id string, a *agent, event, status string) api.Deployment {
	t.Helper()
	return waitFor(t, 60*time.Second, fmt.Sprintf("%s %s to be %s", a.Name, event, status), func() (api.Deployment, bool) {
		d, err := s.client().GetDeployment(context.Background(), id)
		if err != nil {
			return d, false
		}
		for _, in := range d.Instances {
			if in.Instance != a.Name {
				continue
			}
			for _, ev := range in.Events {
				if ev.Name == event {
					return d, ev.Status == status
				}
			}
		}
		return d, false
	})
}

// TestConfigs_BatchSizeAndHostOrder deploys to a fleet of five hosts in three health classes
// with each preset and two custom configs: the first batch holds its hooks, and exactly the
// config's batch of hosts is in its hooks at once, taken unhealthy first, then hosts on an old
// revision, then hosts on the current one. (A host with no revision yet is one never deployed
// to, which counts as unhealthy, so "unknown revision" sorts with the unhealthy hosts; within a
// class hosts go by instance id.)
func TestConfigs_BatchSizeAndHostOrder(t *testing.T) {
	cases := []struct {
		name, config, minHealthy string
		batch                    int
	}{
		{"OneAtATime", oneAtATime, "", 1},
		{"HalfAtATime", halfAtATime, "", 2}, // minimum ⌈5/2⌉ = 3, so ⌊5/2⌋ at a time
		{"AllAtOnce", allAtOnce, "", 5},
		{"HOST_COUNT", "keep-two", "HOST_COUNT:2", 3},
		{"FLEET_PERCENT", "keep-a-fifth", "FLEET_PERCENT:20", 4},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := startServer(t)
			if tc.minHealthy != "" {
				mustCLI(t, s, "config", "create", tc.config, "--min-healthy", tc.minHealthy)
			}
			o, v1 := healthyFleet(t, s, 5, tc.config)

			// Mix the fleet: v2 one at a time, stopped while the third host is in AfterInstall.
			// The first two end healthy on v2 (an old revision, as the group stays on v1), the
			// third unhealthy (stopped halfway), the last two untouched on v1 (current).
			hold(t, o[2], "AfterInstall")
			mix := startDeploy(t, s, writeHookBundle(t, hookOpts{label: "v2"}), "--config", oneAtATime)
			waitHolding(t, o[2], "AfterInstall")
			mustCLI(t, s, "deployment", "stop", mix)
			release(t, o[2], "AfterInstall")
			if d := waitFinished(t, s, mix, 60*time.Second); d.Status != "Stopped" {
				t.Fatalf("mixing deployment %s, want Stopped", d.Status)
			}
			v2 := getDeployment(t, s, mix).Revision
			h := health(t, s)
			for i, want := range []api.InstanceGroup{
				{Health: "Healthy", Revision: v2}, {Health: "Healthy", Revision: v2},
				{Health: "Unhealthy", Revision: v1.Revision},
				{Health: "Healthy", Revision: v1.Revision}, {Health: "Healthy", Revision: v1.Revision},
			} {
				if got := h[o[i].Name]; got.Health != want.Health || got.Revision != want.Revision {
					t.Fatalf("after the stopped deployment %s is %s on %s, want %s on %s", o[i].Name, got.Health, got.Revision, want.Health, want.Revision)
				}
			}
			order := []*agent{o[2], o[0], o[1], o[3], o[4]}

			shared := t.TempDir()
			for _, a := range o {
				hold(t, a, "BeforeInstall")
			}
			id := startDeploy(t, s, writeHookBundle(t, hookOpts{label: "v3", shared: shared}))
			first := order[:tc.batch]
			for _, a := range first {
				if got := waitHolding(t, a, "BeforeInstall"); got != id {
					t.Fatalf("%s holds for %s, want %s", a.Name, got, id)
				}
			}
			for _, a := range order[tc.batch:] {
				if runs := hookRuns(t, a, id); len(runs) != 0 {
					t.Errorf("%s ran %v while the first batch %v held", a.Name, runs, names(first))
				}
			}
			if got := hookConcurrency(t, shared); got != tc.batch {
				t.Errorf("%d hosts in their hooks at once with the first batch held, want %d", got, tc.batch)
			}
			for _, a := range order {
				release(t, a, "BeforeInstall")
			}
			d := waitFinished(t, s, id, 60*time.Second)
			if d.Status != "Succeeded" || d.Overview.Succeeded != 5 {
				t.Fatalf("deployment %s with %+v, want Succeeded on 5 hosts (%s)", d.Status, d.Overview, d.ErrorMessage)
			}
			if got, want := hostOrder(d), names(order); !slices.Equal(got, want) {
				t.Errorf("host order %v, want %v (unhealthy, then old revision, then current)", got, want)
			}
			if got := maxOverlap(d); got != tc.batch {
				t.Errorf("server had %d hosts in progress at once, want %d", got, tc.batch)
			}
			if got := hookConcurrency(t, shared); got != tc.batch {
				t.Errorf("%d hosts ran hooks at once, want %d", got, tc.batch)
			}
			wantServes(t, o, "v3", "v3", "v3", "v3", "v3")
		})
	}
}

// TestFailingHook_Positions fails a hook on the first, a middle and the last host of a healthy
// fleet of five under each preset, and checks the verdict of DESIGN.md §6.
func TestFailingHook_Positions(t *testing.T) {
	const (
		ok   = "Succeeded"
		fail = "Failed"
		skip = "Skipped"
	)
	cases := []struct {
		name, config string
		minHealthy   string
		// fail maps host positions to the event that fails there.
		fail  map[int]string
		want  string // deployment status
		code  string // deployment error code
		hosts []string
	}{
		// OneAtATime keeps all but one host healthy: any failure before the last host ends
		// the deployment and skips the rest; a failure on the last host alone still succeeds.
		{name: "OneAtATime/first", config: oneAtATime, fail: map[int]string{0: "BeforeInstall"},
			want: fail, code: "HEALTH_CONSTRAINTS", hosts: []string{fail, skip, skip, skip, skip}},
		{name: "OneAtATime/middle", config: oneAtATime, fail: map[int]string{2: "AfterInstall"},
			want: fail, code: "HEALTH_CONSTRAINTS", hosts: []string{ok, ok, fail, skip, skip}},
		{name: "OneAtATime/last", config: oneAtATime, fail: map[int]string{4: "ValidateService"},
			want: ok, hosts: []string{ok, ok, ok, ok, fail}},
		// HalfAtATime keeps ⌈5/2⌉ = 3 healthy: one failure anywhere is allowed, and so are two
		// when the second is on the last host; two early failures end it.
		{name: "HalfAtATime/first", config: halfAtATime, fail: map[int]string{0: "BeforeInstall"},
			want: ok, hosts: []string{fail, ok, ok, ok, ok}},
		{name: "HalfAtATime/middle", config: halfAtATime, fail: map[int]string{2: "AfterInstall"},
			want: ok, hosts: []string{ok, ok, fail, ok, ok}},
		{name: "HalfAtATime/last", config: halfAtATime, fail: map[int]string{4: "ValidateService"},
			want: ok, hosts: []string{ok, ok, ok, ok, fail}},
		{name: "HalfAtATime/first and last", config: halfAtATime, fail: map[int]string{0: "ApplicationStart", 4: "ApplicationStart"},
			want: ok, hosts: []string{fail, ok, ok, ok, fail}},
		{name: "HalfAtATime/first two", config: halfAtATime, fail: map[int]string{0: "AfterInstall", 1: "AfterInstall"},
			want: fail, code: "HEALTH_CONSTRAINTS", hosts: []string{fail, fail, skip, skip, skip}},
		// AllAtOnce has a minimum of 0, but one host must succeed.
		{name: "AllAtOnce/first", config: allAtOnce, fail: map[int]string{0: "BeforeInstall"},
			want: ok, hosts: []string{fail, ok, ok, ok, ok}},
		{name: "AllAtOnce/middle", config: allAtOnce, fail: map[int]string{2: "AfterInstall"},
			want: ok, hosts: []string{ok, ok, fail, ok, ok}},
		{name: "AllAtOnce/last", config: allAtOnce, fail: map[int]string{4: "ValidateService"},
			want: ok, hosts: []string{ok, ok, ok, ok, fail}},
		{name: "AllAtOnce/every host", config: allAtOnce,
			fail: map[int]string{0: "ValidateService", 1: "ValidateService", 2: "ValidateService", 3: "ValidateService", 4: "ValidateService"},
			want: fail, code: "HEALTH_CONSTRAINTS", hosts: []string{fail, fail, fail, fail, fail}},
		// A minimum of all five hosts leaves none to deploy to.
		{name: "HOST_COUNT 5 of 5", config: "keep-five", minHealthy: "HOST_COUNT:5",
			want: fail, code: "HEALTH_CONSTRAINTS_INVALID", hosts: []string{skip, skip, skip, skip, skip}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := startServer(t)
			if tc.minHealthy != "" {
				mustCLI(t, s, "config", "create", tc.config, "--min-healthy", tc.minHealthy)
			}
			o, v1 := healthyFleet(t, s, 5, tc.config)
			for i, ev := range tc.fail {
				failOn(t, o[i], ev)
			}
			d := deployAndWait(t, s, writeHookBundle(t, hookOpts{label: "v2"}))
			if d.Status != tc.want || d.ErrorCode != tc.code {
				t.Errorf("deployment %s (%s), want %s (%s); %s", d.Status, d.ErrorCode, tc.want, tc.code, d.ErrorMessage)
			}
			if got, want := hostOrder(d), names(o); !slices.Equal(got, want) {
				t.Fatalf("host order %v, want %v", got, want)
			}
			wantHosts(t, d, o, tc.hosts...)
			for i, a := range o {
				switch tc.hosts[i] {
				case fail:
					ev := wantFailedAt(t, d, a, tc.fail[i], "ScriptFailed")
					if ev.Diagnostics != nil && !strings.Contains(ev.Diagnostics.LogTail, tc.fail[i]+" is broken on this host") {
						t.Errorf("%s %s log tail %q lacks the script's error", a.Name, tc.fail[i], ev.Diagnostics.LogTail)
					}
					want := "v2" // installed before the hook failed
					if slices.Index(lifecycle, tc.fail[i]) < slices.Index(lifecycle, "Install") {
						want = "v1"
					}
					wantServes(t, []*agent{a}, want)
				case skip:
					wantUntouched(t, d, a)
					wantServes(t, []*agent{a}, "v1")
				case ok:
					wantServes(t, []*agent{a}, "v2")
					for ev, n := range hookRuns(t, a, d.ID) {
						if n != 1 {
							t.Errorf("%s ran %s %d times", a.Name, ev, n)
						}
					}
				}
			}
			if tc.want == fail && !strings.Contains(d.ErrorMessage, "minimum") && !strings.Contains(d.ErrorMessage, "at least one") && !strings.Contains(d.ErrorMessage, "one at a time") {
				t.Errorf("error message %q does not say which rule failed the deployment", d.ErrorMessage)
			}
			wantRevision := v1.Revision
			if tc.want == ok {
				wantRevision = d.Revision
			}
			if got := groupRevision(t, s); got != wantRevision {
				t.Errorf("group revision %s, want %s", got, wantRevision)
			}
		})
	}
}

// TestAgentKilledMidHook_EventFailsAfterRestart kills an agent with SIGKILL while its hook runs
// and starts it again: it ends the hook its death left running, reports the interrupted event
// Failed (FailedAfterRestart), and the deployment goes on as its config says.
func TestAgentKilledMidHook_EventFailsAfterRestart(t *testing.T) {
	t.Run("OneAtATime first host, rolled back", func(t *testing.T) {
		s := startServer(t)
		o, v1 := healthyFleet(t, s, 5, oneAtATime, "--auto-rollback")
		hold(t, o[0], "AfterInstall")
		id := startDeploy(t, s, writeHookBundle(t, hookOpts{label: "v2"}))
		_, hook := waitHeld(t, o[0], "AfterInstall")
		o[0].kill()
		if !script.Running(hook) {
			t.Fatal("the hook died with its agent; the test needs it orphaned")
		}
		o[0].restart(t, s)
		d := waitFinished(t, s, id, 60*time.Second)
		wantOrphanEnded(t, o[0], hook)
		// The rollback runs the same hook: it must not be held.
		release(t, o[0], "AfterInstall")
		if d.Status != "Failed" || d.ErrorCode != "HEALTH_CONSTRAINTS" {
			t.Fatalf("deployment %s (%s), want Failed (HEALTH_CONSTRAINTS): %s", d.Status, d.ErrorCode, d.ErrorMessage)
		}
		wantHosts(t, d, o, "Failed", "Skipped", "Skipped", "Skipped", "Skipped")
		wantFailedAt(t, d, o[0], "AfterInstall", "FailedAfterRestart")
		for _, a := range o[1:] {
			wantUntouched(t, d, a)
		}
		if runs := hookRuns(t, o[0], id); runs["AfterInstall"] != 1 {
			t.Errorf("%s ran AfterInstall %d times, want once", o[0].Name, runs["AfterInstall"])
		}
		waitOutput(t, o[0], "the restarted agent to say it reported the interrupted event", "event interrupted by an agent restart reported as failed")
		wantRunOnce(t, s, d, o)
		if d.RolledBackBy == "" {
			t.Fatal("no rollback started for a failed deployment of a group with auto-rollback")
		}
		rb := waitFinished(t, s, d.RolledBackBy, 60*time.Second)
		if rb.Status != "Succeeded" || rb.Revision != v1.Revision || rb.Creator != "rollback" {
			t.Fatalf("rollback %s of %s by %s, want Succeeded of %s by rollback", rb.Status, rb.Revision, rb.Creator, v1.Revision)
		}
		wantRunOnce(t, s, rb, o)
		wantServes(t, o, "v1", "v1", "v1", "v1", "v1")
	})

	t.Run("AllAtOnce middle host", func(t *testing.T) {
		s := startServer(t)
		o, _ := healthyFleet(t, s, 5, allAtOnce)
		hold(t, o[2], "ApplicationStart")
		id := startDeploy(t, s, writeHookBundle(t, hookOpts{label: "v2"}))
		_, hook := waitHeld(t, o[2], "ApplicationStart")
		o[2].kill()
		o[2].restart(t, s)
		d := waitFinished(t, s, id, 60*time.Second)
		wantOrphanEnded(t, o[2], hook)
		release(t, o[2], "ApplicationStart")
		if d.Status != "Succeeded" {
			t.Fatalf("deployment %s (%s), want Succeeded: AllAtOnce needs only one host", d.Status, d.ErrorMessage)
		}
		wantHosts(t, d, o, "Succeeded", "Succeeded", "Failed", "Succeeded", "Succeeded")
		wantFailedAt(t, d, o[2], "ApplicationStart", "FailedAfterRestart")
		wantRunOnce(t, s, d, o)

		// The restarted agent takes the next deployment like any other.
		next := deployAndWait(t, s, writeHookBundle(t, hookOpts{label: "v3"}))
		if next.Status != "Succeeded" || next.Overview.Succeeded != 5 {
			t.Fatalf("next deployment %s with %+v, want Succeeded on 5 hosts", next.Status, next.Overview)
		}
		if got := hostOrder(next)[0]; got != o[2].Name {
			t.Errorf("next deployment starts with %s, want the unhealthy %s", got, o[2].Name)
		}
		wantServes(t, o, "v3", "v3", "v3", "v3", "v3")
	})
}

// wantOrphanEnded checks that a's agent, restarted after a kill, ended the hook script (pid) its
// death left running, and said so.
func wantOrphanEnded(t *testing.T, a *agent, pid int) {
	t.Helper()
	if script.Running(pid) {
		t.Errorf("the hook %s's killed agent left running (pid %d) still runs after the restart", a.Name, pid)
	}
	waitOutput(t, a, "the restarted agent to say it ended the orphaned hook", "ended the script an interrupted event left running", "ended by SIGTERM")
}

// waitOutput waits for a's agent to have printed every one of lines: what it logs reaches the
// test through a pipe, a moment after the server has heard what followed.
func waitOutput(t *testing.T, a *agent, what string, lines ...string) {
	t.Helper()
	waitFor(t, 10*time.Second, what, func() (string, bool) {
		out := a.p.out.String()
		for _, l := range lines {
			if !strings.Contains(out, l) {
				return out, false
			}
		}
		return out, true
	})
}

// TestAgentGone_EventFailsAfterLease kills an agent mid-hook for good: its event fails when the
// lease (3 s here) runs out, with the host-unresponsive diagnostic, and the deployment ends.
func TestAgentGone_EventFailsAfterLease(t *testing.T) {
	t.Run("OneAtATime middle host", func(t *testing.T) {
		s := startServer(t, "--lease", "3s")
		o, _ := healthyFleet(t, s, 5, oneAtATime)
		hold(t, o[2], "AfterInstall")
		id := startDeploy(t, s, writeHookBundle(t, hookOpts{label: "v2"}))
		waitHolding(t, o[2], "AfterInstall")
		o[2].kill()
		d := waitFinished(t, s, id, 60*time.Second)
		if d.Status != "Failed" || d.ErrorCode != "AGENT_ISSUE" {
			t.Fatalf("deployment %s (%s), want Failed (AGENT_ISSUE): %s", d.Status, d.ErrorCode, d.ErrorMessage)
		}
		wantHosts(t, d, o, "Succeeded", "Succeeded", "Failed", "Skipped", "Skipped")
		ev := wantFailedAt(t, d, o[2], "AfterInstall", "HostUnresponsive")
		if ev.Diagnostics != nil && !strings.Contains(ev.Diagnostics.Message, "no report within 3s") {
			t.Errorf("diagnostic message %q does not name the lease", ev.Diagnostics.Message)
		}
		for _, a := range o[3:] {
			wantUntouched(t, d, a)
		}
	})

	t.Run("AllAtOnce first host, another holds longer than the lease", func(t *testing.T) {
		s := startServer(t, "--lease", "3s")
		o, _ := healthyFleet(t, s, 5, allAtOnce)
		hold(t, o[0], "BeforeInstall")
		hold(t, o[1], "BeforeInstall")
		id := startDeploy(t, s, writeHookBundle(t, hookOpts{label: "v2"}))
		waitHolding(t, o[0], "BeforeInstall")
		waitHolding(t, o[1], "BeforeInstall")
		o[0].kill()
		d := waitEvent(t, s, id, o[0], "BeforeInstall", "Failed")
		// o[1] is alive: its heartbeats keep its lease while its hook outlasts two leases.
		started := *eventOf(t, instanceOf(t, d, o[1].Name), "BeforeInstall").StartTime
		waitFor(t, 30*time.Second, "two leases to pass", func() (bool, bool) { return true, time.Since(started) > 6*time.Second })
		release(t, o[1], "BeforeInstall")
		d = waitFinished(t, s, id, 60*time.Second)
		if d.Status != "Succeeded" {
			t.Fatalf("deployment %s (%s), want Succeeded", d.Status, d.ErrorMessage)
		}
		wantHosts(t, d, o, "Failed", "Succeeded", "Succeeded", "Succeeded", "Succeeded")
		wantFailedAt(t, d, o[0], "BeforeInstall", "HostUnresponsive")
	})
}

// TestConcurrentDeployments_QueueOrReject starts two deployments of one group at the same moment,
// while the group's hosts hold the first: with on_busy=queue (the default) the second waits and
// runs after the first; with reject it is refused.
func TestConcurrentDeployments_QueueOrReject(t *testing.T) {
	race := func(t *testing.T, s *server, bundles ...string) []cliRun {
		var wg sync.WaitGroup
		out := make([]cliRun, len(bundles))
		for i, b := range bundles {
			wg.Go(func() { out[i] = runCLI(s, "deploy", "--app", "shop", "--group", "prod", "--bundle", b) })
		}
		wg.Wait()
		for _, r := range out {
			if r.err != nil {
				t.Fatal(r.err)
			}
		}
		return out
	}

	t.Run("queue", func(t *testing.T) {
		s := startServer(t)
		o, _ := healthyFleet(t, s, 5, allAtOnce)
		hold(t, o[0], "BeforeInstall")
		runs := race(t, s, writeHookBundle(t, hookOpts{label: "a"}), writeHookBundle(t, hookOpts{label: "b"}))
		var ids []string
		for _, r := range runs {
			if r.code != 0 {
				t.Fatalf("deploy exited %d in a queueing group:\n%s", r.code, r.stderr)
			}
			ids = append(ids, deployID(t, r.stdout))
		}
		first := waitHolding(t, o[0], "BeforeInstall")
		second := ids[0]
		if second == first {
			second = ids[1]
		}
		if d := getDeployment(t, s, second); d.Status != "Queued" {
			t.Fatalf("the second deployment is %s while the first runs, want Queued", d.Status)
		}
		// A third, created while the first still runs, queues behind the second.
		third := startDeploy(t, s, writeHookBundle(t, hookOpts{label: "c"}))
		if d := getDeployment(t, s, third); d.Status != "Queued" {
			t.Fatalf("the third deployment is %s, want Queued", d.Status)
		}
		release(t, o[0], "BeforeInstall")
		var done []api.Deployment
		for _, id := range []string{first, second, third} {
			d := waitFinished(t, s, id, 60*time.Second)
			if d.Status != "Succeeded" {
				t.Fatalf("deployment %s: %s (%s), want Succeeded", id, d.Status, d.ErrorMessage)
			}
			done = append(done, d)
		}
		for i := 1; i < len(done); i++ {
			if done[i].StartTime.Before(*done[i-1].EndTime) {
				t.Errorf("deployment %s started at %s, before %s ended at %s", done[i].ID, done[i].StartTime, done[i-1].ID, done[i-1].EndTime)
			}
		}
		// On every host each deployment's hooks ran whole before the next one's began.
		rank := map[string]int{first: 0, second: 1, third: 2}
		for _, a := range o {
			last := -1
			for _, l := range readTrace(t, a) {
				r, ok := rank[l.Deployment]
				if !ok {
					continue
				}
				if r < last {
					t.Errorf("%s ran %s %s after a hook of a later deployment", a.Name, l.Event, l.Deployment)
				}
				last = r
			}
		}
		wantServes(t, o, "c", "c", "c", "c", "c")
		if got := groupRevision(t, s); got != done[2].Revision {
			t.Errorf("group revision %s, want the last deployment's %s", got, done[2].Revision)
		}
	})

	t.Run("reject", func(t *testing.T) {
		s := startServer(t)
		o, _ := healthyFleet(t, s, 5, allAtOnce, "--reject-when-busy")
		hold(t, o[0], "BeforeInstall")
		runs := race(t, s, writeHookBundle(t, hookOpts{label: "a"}), writeHookBundle(t, hookOpts{label: "b"}))
		accepted, refused := -1, -1
		for i, r := range runs {
			if r.code == 0 {
				accepted = i
			} else {
				refused = i
			}
		}
		if accepted < 0 || refused < 0 {
			t.Fatalf("exit codes %d and %d, want one deployment accepted and one refused", runs[0].code, runs[1].code)
		}
		id := deployID(t, runs[accepted].stdout)
		if msg := runs[refused].stderr; !strings.Contains(msg, id) || !strings.Contains(msg, "in progress") {
			t.Errorf("the refusal does not name the deployment in progress (%s):\n%s", id, msg)
		}
		if got := waitHolding(t, o[0], "BeforeInstall"); got != id {
			t.Errorf("host holds for %s, want the accepted %s", got, id)
		}
		list, err := s.client().ListDeployments(context.Background(), api.DeploymentFilter{Application: "shop", Group: "prod"})
		if err != nil {
			t.Fatal(err)
		}
		if len(list) != 2 {
			t.Errorf("the group has %d deployments, want the first one and the accepted one", len(list))
		}
		release(t, o[0], "BeforeInstall")
		if d := waitFinished(t, s, id, 60*time.Second); d.Status != "Succeeded" {
			t.Fatalf("accepted deployment %s, want Succeeded", d.Status)
		}
		// Once the group is free again, a deployment is accepted.
		if d := deployAndWait(t, s, writeHookBundle(t, hookOpts{label: "c"})); d.Status != "Succeeded" {
			t.Fatalf("deployment after the group freed up: %s, want Succeeded", d.Status)
		}
	})
}

// handedOutAgain is what the server's logs say it handed out again after an agent lost a
// command: deployment → instance id → events.
func handedOutAgain(t *testing.T, s *server) map[string]map[string][]string {
	t.Helper()
	out := map[string]map[string][]string{}
	sc := bufio.NewScanner(strings.NewReader(s.output()))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var l struct {
			Msg, Event string
			Deployment string `json:"deployment_id"`
			Instance   string `json:"instance"`
		}
		if json.Unmarshal(sc.Bytes(), &l) != nil || !strings.HasPrefix(l.Msg, "command handed out again") {
			continue
		}
		if out[l.Deployment] == nil {
			out[l.Deployment] = map[string][]string{}
		}
		out[l.Deployment][l.Instance] = append(out[l.Deployment][l.Instance], l.Event)
	}
	return out
}

// commandRuns counts, from an agent's log, how often it started each event of deployment id.
func commandRuns(t *testing.T, a *agent, id string) map[string]int {
	t.Helper()
	runs := map[string]int{}
	sc := bufio.NewScanner(strings.NewReader(a.output()))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var l struct {
			Msg, Event string
			Deployment string `json:"deployment_id"`
		}
		if json.Unmarshal(sc.Bytes(), &l) == nil && l.Msg == "running command" && l.Deployment == id {
			runs[l.Event]++
		}
	}
	return runs
}

// wantRunOnce checks that every host of d ran each of its events exactly once (hooks from the
// trace, every event from the agent's log), except an event the server's log says it handed out
// again to that host, which may have run once more.
func wantRunOnce(t *testing.T, s *server, d api.Deployment, agents []*agent) {
	t.Helper()
	again := handedOutAgain(t, s)[d.ID]
	for _, a := range agents {
		in := instanceOf(t, d, a.Name)
		hooks, cmds := hookRuns(t, a, d.ID), commandRuns(t, a, d.ID)
		for _, ev := range in.Events {
			if ev.Status == "Skipped" {
				continue
			}
			const want = 1
			extra := 0
			for _, e := range again[in.InstanceID] {
				if e == ev.Name {
					extra++
				}
			}
			if extra > 0 {
				t.Logf("server recorded handing %s %s of %s out again %d time(s)", a.Name, ev.Name, d.ID, extra)
			}
			if got := cmds[ev.Name]; got < want || got > want+extra {
				t.Errorf("%s ran %s of %s %d times, want %d (%d recorded re-sends)", a.Name, ev.Name, d.ID, got, want, extra)
			}
			if slices.Contains(hookEvents, ev.Name) {
				if got := hooks[ev.Name]; got < want || got > want+extra {
					t.Errorf("%s's %s hook ran %d times for %s, want %d (%d recorded re-sends)", a.Name, ev.Name, got, d.ID, want, extra)
				}
			}
		}
	}
}

// TestServerKilled_DeploymentResumes kills the server with SIGKILL at many points of running
// deployments and starts it again: each deployment finishes with the right result, and no host
// runs an event twice unless the server recorded handing it out again.
func TestServerKilled_DeploymentResumes(t *testing.T) {
	t.Run("HalfAtATime with a queued deployment", func(t *testing.T) {
		s := startServer(t)
		o, _ := healthyFleet(t, s, 5, halfAtATime)
		crash := func(why string) {
			t.Helper()
			t.Log("SIGKILL the server " + why)
			s.restart(syscall.SIGKILL)
		}
		hold(t, o[0], "ApplicationStop")
		hold(t, o[1], "BeforeInstall")
		hold(t, o[2], "AfterInstall")
		hold(t, o[3], "ValidateService")
		hold(t, o[4], "ApplicationStart")
		v2 := startDeploy(t, s, writeHookBundle(t, hookOpts{label: "v2"}))
		crash("right after the deployment started")
		waitHolding(t, o[0], "ApplicationStop")
		waitHolding(t, o[1], "BeforeInstall")
		crash("while both hosts of the batch hold a hook")
		crash("again at once")
		v3 := startDeploy(t, s, writeHookBundle(t, hookOpts{label: "v3"}))
		crash("with a second deployment queued")
		if d := getDeployment(t, s, v3); d.Status != "Queued" {
			t.Fatalf("second deployment %s after the restart, want Queued", d.Status)
		}
		release(t, o[0], "ApplicationStop")
		crash("right after a host finished ApplicationStop, before its bundle download")
		release(t, o[1], "BeforeInstall")
		waitHolding(t, o[2], "AfterInstall")
		s.p.stop(syscall.SIGKILL)
		t.Log("SIGKILL the server while a host holds AfterInstall; the hook ends while the server is down")
		release(t, o[2], "AfterInstall")
		s.resume()
		waitHolding(t, o[3], "ValidateService")
		release(t, o[3], "ValidateService")
		crash("right after a host's last hook, between hosts")
		waitHolding(t, o[4], "ApplicationStart")
		crash("while the last host holds ApplicationStart")
		release(t, o[4], "ApplicationStart")
		d2 := waitFinished(t, s, v2, 60*time.Second)
		crash("right after the first deployment finished and the queued one started")
		d3 := waitFinished(t, s, v3, 60*time.Second)

		for _, d := range []api.Deployment{d2, d3} {
			if d.Status != "Succeeded" || d.Overview.Succeeded != 5 {
				t.Errorf("deployment %s: %s with %+v, want Succeeded on 5 hosts (%s)", d.ID, d.Status, d.Overview, d.ErrorMessage)
			}
			for _, in := range d.Instances {
				for _, ev := range in.Events {
					if ev.Status != "Succeeded" {
						t.Errorf("%s %s %s: %s %+v", d.ID, in.Instance, ev.Name, ev.Status, ev.Diagnostics)
					}
				}
			}
			wantRunOnce(t, s, d, o)
		}
		if d3.StartTime.Before(*d2.EndTime) {
			t.Errorf("the queued deployment started at %s, before the first ended at %s", d3.StartTime, d2.EndTime)
		}
		wantServes(t, o, "v3", "v3", "v3", "v3", "v3")
		if got := groupRevision(t, s); got != d3.Revision {
			t.Errorf("group revision %s, want %s", got, d3.Revision)
		}
	})

	t.Run("while a host downloads its bundle", func(t *testing.T) {
		s := startServer(t)
		gate := newBundleGate(t, s.URL)
		a := &agent{Name: "web-1", Root: t.TempDir(), Prefix: t.TempDir(), Via: gate.URL}
		a.start(t, s, "role=web")
		waitInstances(t, s, 1)
		mustCLI(t, s, "app", "create", "shop")
		mustCLI(t, s, "group", "create", "shop", "prod", "--tag", "role=web", "--config", allAtOnce)
		id := startDeploy(t, s, writeHookBundle(t, hookOpts{label: "v1"}))
		gate.waitHeld(t)
		t.Log("SIGKILL the server while the agent's bundle download is under way")
		s.p.stop(syscall.SIGKILL)
		gate.release() // the download reaches a dead server
		waitFor(t, 60*time.Second, "the agent to see its download fail", func() (bool, bool) {
			out := a.p.out.String()
			return true, strings.Contains(out, "bundle download cut short") || strings.Contains(out, `"event":"DownloadBundle","status":"Failed"`)
		})
		s.resume()
		d := waitFinished(t, s, id, 60*time.Second)
		if d.Status != "Succeeded" {
			t.Fatalf("deployment %s (%s), want Succeeded", d.Status, d.ErrorMessage)
		}
		if ev := eventOf(t, instanceOf(t, d, a.Name), "DownloadBundle"); ev.Status != "Succeeded" {
			t.Errorf("DownloadBundle %s %+v, want Succeeded", ev.Status, ev.Diagnostics)
		}
		wantRunOnce(t, s, d, []*agent{a})
		wantServes(t, []*agent{a}, "v1")
	})

	t.Run("OneAtATime failure and automatic rollback", func(t *testing.T) {
		s := startServer(t)
		o, v1 := healthyFleet(t, s, 5, oneAtATime, "--auto-rollback")
		clearFail := failOn(t, o[1], "ValidateService")
		hold(t, o[1], "ValidateService")
		v2 := startDeploy(t, s, writeHookBundle(t, hookOpts{label: "v2"}))
		waitHolding(t, o[1], "ValidateService")
		s.restart(syscall.SIGKILL)
		// The rollback will start with this host (now unhealthy): hold it there until the
		// switch that failed v2 is off.
		hold(t, o[1], "ApplicationStop")
		release(t, o[1], "ValidateService")
		t.Log("SIGKILL the server right after the failing report")
		s.restart(syscall.SIGKILL)
		d2 := waitFinished(t, s, v2, 60*time.Second)
		if d2.Status != "Failed" || d2.ErrorCode != "HEALTH_CONSTRAINTS" {
			t.Fatalf("deployment %s (%s), want Failed (HEALTH_CONSTRAINTS): %s", d2.Status, d2.ErrorCode, d2.ErrorMessage)
		}
		wantHosts(t, d2, o, "Succeeded", "Failed", "Skipped", "Skipped", "Skipped")
		wantFailedAt(t, d2, o[1], "ValidateService", "ScriptFailed")
		if d2.RolledBackBy == "" {
			t.Fatal("no rollback recorded for the failed deployment")
		}
		rbID := waitHolding(t, o[1], "ApplicationStop")
		if rbID != d2.RolledBackBy {
			t.Fatalf("host holds for %s, want the rollback %s", rbID, d2.RolledBackBy)
		}
		s.restart(syscall.SIGKILL)
		clearFail()
		release(t, o[1], "ApplicationStop")
		rb := waitFinished(t, s, rbID, 60*time.Second)
		if rb.Status != "Succeeded" || rb.Revision != v1.Revision || rb.RollbackOf != v2 {
			t.Fatalf("rollback %s of %s (rollback of %q), want Succeeded of %s for %s", rb.Status, rb.Revision, rb.RollbackOf, v1.Revision, v2)
		}
		list, err := s.client().ListDeployments(context.Background(), api.DeploymentFilter{Application: "shop", Group: "prod"})
		if err != nil {
			t.Fatal(err)
		}
		if len(list) != 3 {
			t.Errorf("%d deployments in the group, want v1, v2 and one rollback", len(list))
		}
		wantRunOnce(t, s, d2, o)
		wantRunOnce(t, s, rb, o)
		wantServes(t, o, "v1", "v1", "v1", "v1", "v1")
		if got := groupRevision(t, s); got != v1.Revision {
			t.Errorf("group revision %s, want v1's %s", got, v1.Revision)
		}
	})
}

// bundleGate is a reverse proxy between an agent and the server that can hold the agent's
// bundle downloads, so a test can kill the server while one is under way.
type bundleGate struct {
	URL  string
	held chan struct{}
	open chan struct{}
}

func newBundleGate(t *testing.T, server string) *bundleGate {
	t.Helper()
	target, err := url.Parse(server)
	if err != nil {
		t.Fatal(err)
	}
	g := &bundleGate{held: make(chan struct{}, 1), open: make(chan struct{})}
	proxy := httputil.NewSingleHostReverseProxy(target)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.Contains(r.URL.Path, "/bundles/") {
			select {
			case g.held <- struct{}{}:
			default:
			}
			<-g.open
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(g.release)
	g.URL = srv.URL
	return g
}

// waitHeld waits until a bundle download is held.
func (g *bundleGate) waitHeld(t *testing.T) {
	t.Helper()
	select {
	case <-g.held:
	case <-time.After(60 * time.Second):
		t.Fatal("timed out waiting for the agent to ask for its bundle")
	}
}

// release lets held and later downloads through.
func (g *bundleGate) release() {
	select {
	case <-g.open:
	default:
		close(g.open)
	}
}

// TestStop_WithAndWithoutRollback stops a one-at-a-time deployment while its second host is in
// AfterInstall: that host ends Unknown (unhealthy), the rest are skipped, and with --rollback
// the last good revision is deployed again.
func TestStop_WithAndWithoutRollback(t *testing.T) {
	for _, rollback := range []bool{false, true} {
		t.Run(fmt.Sprintf("rollback=%v", rollback), func(t *testing.T) {
			s := startServer(t)
			o, v1 := healthyFleet(t, s, 5, oneAtATime)
			hold(t, o[1], "AfterInstall")
			id := startDeploy(t, s, writeHookBundle(t, hookOpts{label: "v2"}))
			waitHolding(t, o[1], "AfterInstall")

			// A deployment queued behind it says so, and stops at once, having touched nothing.
			out, errOut, code := cli(t, s, "deploy", "--app", "shop", "--group", "prod", "--bundle", writeHookBundle(t, hookOpts{label: "v3"}))
			queued := deployID(t, out)
			if want := fmt.Sprintf("deployment %s is queued behind %s, which runs in shop/prod; it starts when %s ends", queued, id, id); code != 0 || !strings.Contains(errOut, want) {
				t.Errorf("deploy while %s runs: exit %d, stderr:\n%s\nwant it to say %q", id, code, errOut, want)
			}
			if out := mustCLI(t, s, "deployment", "stop", queued); out != "deployment "+queued+" Stopped\n" {
				t.Errorf("stop of the queued deployment printed %q", out)
			}
			if d := waitFinished(t, s, queued, 30*time.Second); d.Status != "Stopped" || d.StartTime != nil {
				t.Errorf("queued deployment after stop: %s (started %v), want Stopped without starting", d.Status, d.StartTime)
			}

			args := []string{"deployment", "stop", id}
			if rollback {
				args = append(args, "--rollback")
			}
			// The held hook keeps it stopping: the CLI says what it waits for, the second time too.
			stopping := fmt.Sprintf("deployment %s is stopping: waiting for the lifecycle events running on %s to finish", id, o[1].Name)
			for range 2 {
				if out := mustCLI(t, s, args...); !strings.HasPrefix(out, stopping) {
					t.Errorf("deployment stop printed %q, want it to start with %q", out, stopping)
				}
			}
			release(t, o[1], "AfterInstall")
			d := waitFinished(t, s, id, 60*time.Second)
			if d.Status != "Stopped" || d.ErrorCode != "MANUAL_STOP" {
				t.Fatalf("deployment %s (%s), want Stopped (MANUAL_STOP)", d.Status, d.ErrorCode)
			}
			wantHosts(t, d, o, "Succeeded", "Unknown", "Skipped", "Skipped", "Skipped")
			in := instanceOf(t, d, o[1].Name)
			for _, ev := range []string{"ApplicationStart", "ValidateService"} {
				if got := eventOf(t, in, ev).Status; got != "Skipped" {
					t.Errorf("%s %s after the stop: %s, want Skipped", o[1].Name, ev, got)
				}
			}
			if runs := hookRuns(t, o[1], id); runs["ApplicationStart"] != 0 || runs["AfterInstall"] != 1 {
				t.Errorf("%s hook runs %v: want AfterInstall to finish and nothing after it", o[1].Name, runs)
			}
			for _, a := range o[2:] {
				wantUntouched(t, d, a)
			}
			if got := groupRevision(t, s); got != v1.Revision {
				t.Errorf("group revision %s after a stop, want v1's %s", got, v1.Revision)
			}
			if !rollback {
				if d.RolledBackBy != "" {
					t.Errorf("stop without --rollback started rollback %s", d.RolledBackBy)
				}
				h := health(t, s)
				if h[o[0].Name].Health != "Healthy" || h[o[0].Name].Revision != d.Revision || h[o[1].Name].Health != "Unhealthy" {
					t.Errorf("health after the stop %+v, want %s healthy on v2 and %s unhealthy", h, o[0].Name, o[1].Name)
				}
				wantServes(t, o, "v2", "v2", "v1", "v1", "v1")
				return
			}
			if d.RolledBackBy == "" {
				t.Fatal("stop --rollback started no rollback")
			}
			rb := waitFinished(t, s, d.RolledBackBy, 60*time.Second)
			if rb.Status != "Succeeded" || rb.Creator != "rollback" || rb.Revision != v1.Revision {
				t.Fatalf("rollback %s by %s of %s, want Succeeded by rollback of %s", rb.Status, rb.Creator, rb.Revision, v1.Revision)
			}
			wantServes(t, o, "v1", "v1", "v1", "v1", "v1")
		})
	}
}

// TestRollbackCommand_RedeploysLastGoodRevision: after a failed deployment left hosts on three
// revisions, `slipway rollback` brings them all back to the last good one, unhealthy host first.
func TestRollbackCommand_RedeploysLastGoodRevision(t *testing.T) {
	s := startServer(t)
	o, v1 := healthyFleet(t, s, 5, oneAtATime)
	clearFail := failOn(t, o[2], "AfterInstall")
	d2 := deployAndWait(t, s, writeHookBundle(t, hookOpts{label: "v2"}))
	if d2.Status != "Failed" {
		t.Fatalf("deployment %s, want Failed", d2.Status)
	}
	clearFail()
	wantServes(t, o, "v2", "v2", "v2", "v1", "v1")

	out, errOut, code := cli(t, s, "rollback", "--app", "shop", "--group", "prod", "--wait")
	if code != 0 {
		t.Fatalf("rollback: exit %d\n%s\n%s", code, out, errOut)
	}
	rb := getDeployment(t, s, deployID(t, out))
	if rb.Status != "Succeeded" || rb.Creator != "rollback" || rb.Revision != v1.Revision {
		t.Fatalf("rollback %s by %s of %s, want Succeeded by rollback of %s", rb.Status, rb.Creator, rb.Revision, v1.Revision)
	}
	if got, want := hostOrder(rb), names([]*agent{o[2], o[0], o[1], o[3], o[4]}); !slices.Equal(got, want) {
		t.Errorf("rollback host order %v, want %v (unhealthy, old revision, current)", got, want)
	}
	wantServes(t, o, "v1", "v1", "v1", "v1", "v1")

	mustCLI(t, s, "group", "create", "shop", "empty", "--tag", "role=none")
	_, errOut, code = cli(t, s, "rollback", "--app", "shop", "--group", "empty")
	if code == 0 || !strings.Contains(errOut, "no successful deployment") {
		t.Errorf("rollback of a group that never succeeded: exit %d\n%s", code, errOut)
	}
	_, errOut, code = cli(t, s, "rollback", "--app", "shop", "--group", "prd")
	if want := "no deployment group shop/prd: create it with 'slipway group create shop prd --tag K=V', or deploy to a group shop has: empty, prod"; code != 1 || !strings.Contains(errOut, want) {
		t.Errorf("rollback of a mistyped group: exit %d\n%s\nwant %q", code, errOut, want)
	}
}

// TestRollbackCommand_UndoesASuccessfulRelease: after a release succeeded, `slipway rollback`
// brings back the revision that was good before it (as Kamal's and Argo's rollbacks do), and
// `deploy --revision` redeploys any revision the server holds.
func TestRollbackCommand_UndoesASuccessfulRelease(t *testing.T) {
	s := startServer(t)
	o, v1 := healthyFleet(t, s, 2, allAtOnce)
	_, errOut, code := cli(t, s, "rollback", "--app", "shop", "--group", "prod")
	if code == 0 || !strings.Contains(errOut, "only one successful revision") {
		t.Fatalf("rollback with a single good revision: exit %d\n%s", code, errOut)
	}
	v2 := deployAndWait(t, s, writeHookBundle(t, hookOpts{label: "v2"}))
	if v2.Status != "Succeeded" {
		t.Fatalf("v2: %s, want Succeeded", v2.Status)
	}
	wantServes(t, o, "v2", "v2")

	out, errOut, code := cli(t, s, "rollback", "--app", "shop", "--group", "prod", "--wait")
	if code != 0 {
		t.Fatalf("rollback: exit %d\n%s\n%s", code, out, errOut)
	}
	rb := getDeployment(t, s, deployID(t, out))
	if rb.Status != "Succeeded" || rb.Revision != v1.Revision || rb.RollbackOf != v2.ID {
		t.Fatalf("rollback %s of %s (rolls back %q), want Succeeded with %s, rolling back %s", rb.Status, rb.Revision, rb.RollbackOf, v1.Revision, v2.ID)
	}
	wantServes(t, o, "v1", "v1")

	again := deployAndWait(t, s, "", "--revision", v2.Revision)
	if again.Status != "Succeeded" || again.Revision != v2.Revision {
		t.Fatalf("deploy --revision: %s of %s, want Succeeded with %s", again.Status, again.Revision, v2.Revision)
	}
	wantServes(t, o, "v2", "v2")
}

// TestUpdateOutdatedOnly_SkipsHostsOnTheRevision redeploys a revision that failed on one host with
// --update-outdated-only: only that host runs it.
func TestUpdateOutdatedOnly_SkipsHostsOnTheRevision(t *testing.T) {
	s := startServer(t)
	o, _ := healthyFleet(t, s, 5, allAtOnce)
	clearFail := failOn(t, o[3], "BeforeInstall")
	v2 := writeHookBundle(t, hookOpts{label: "v2"})
	d2 := deployAndWait(t, s, v2)
	if d2.Status != "Succeeded" || d2.Overview.Failed != 1 {
		t.Fatalf("deployment %s with %+v, want Succeeded with one failure", d2.Status, d2.Overview)
	}
	clearFail()
	d3 := deployAndWait(t, s, v2, "--update-outdated-only")
	if d3.Revision != d2.Revision {
		t.Fatalf("the same bundle uploaded again is revision %s, was %s", d3.Revision, d2.Revision)
	}
	if d3.Status != "Succeeded" {
		t.Fatalf("deployment %s (%s), want Succeeded", d3.Status, d3.ErrorMessage)
	}
	wantHosts(t, d3, o, "Skipped", "Skipped", "Skipped", "Succeeded", "Skipped")
	for _, a := range []*agent{o[0], o[1], o[2], o[4]} {
		wantUntouched(t, d3, a)
		if msg := instanceOf(t, d3, a.Name).Message; !strings.Contains(msg, "already runs revision") {
			t.Errorf("%s skipped with message %q, want it to say the host is up to date", a.Name, msg)
		}
	}
	for _, ev := range hookEvents {
		if n := hookRuns(t, o[3], d3.ID)[ev]; n != 1 {
			t.Errorf("%s ran %s %d times, want once", o[3].Name, ev, n)
		}
	}
	wantServes(t, o, "v2", "v2", "v2", "v2", "v2")
}

// TestIgnoreApplicationStopFailures_HostGoesOnPastABrokenStop: a broken ApplicationStop script of the installed revision
// fails a host, until the group ignores stop failures; then the host goes on past it.
func TestIgnoreApplicationStopFailures_HostGoesOnPastABrokenStop(t *testing.T) {
	s := startServer(t)
	o, _ := healthyFleet(t, s, 5, oneAtATime)
	failOn(t, o[0], "ApplicationStop")
	d2 := deployAndWait(t, s, writeHookBundle(t, hookOpts{label: "v2"}))
	if d2.Status != "Failed" {
		t.Fatalf("deployment %s, want Failed on the broken ApplicationStop", d2.Status)
	}
	wantHosts(t, d2, o, "Failed", "Skipped", "Skipped", "Skipped", "Skipped")
	wantFailedAt(t, d2, o[0], "ApplicationStop", "ScriptFailed")

	c := s.client()
	g, err := c.GetGroup(context.Background(), "shop", "prod")
	if err != nil {
		t.Fatal(err)
	}
	g.IgnoreApplicationStopFailures = true
	if _, err := c.UpdateGroup(context.Background(), g); err != nil {
		t.Fatal(err)
	}
	d3 := deployAndWait(t, s, writeHookBundle(t, hookOpts{label: "v3"}))
	if d3.Status != "Succeeded" || d3.Overview.Succeeded != 5 {
		t.Fatalf("deployment %s with %+v, want Succeeded on 5 hosts", d3.Status, d3.Overview)
	}
	in := instanceOf(t, d3, o[0].Name)
	for _, ev := range in.Events {
		want := "Succeeded"
		if ev.Name == "ApplicationStop" {
			want = "Failed"
		}
		if ev.Status != want {
			t.Errorf("%s %s: %s, want %s", o[0].Name, ev.Name, ev.Status, want)
		}
	}
	wantServes(t, o, "v3", "v3", "v3", "v3", "v3")
}
