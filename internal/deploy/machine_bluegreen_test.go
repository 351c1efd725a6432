package deploy_test

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/slipway-deploy/slipway/internal/deploy"
	"github.com/slipway-deploy/slipway/internal/traffic"
)

// bgDeployment is a blue/green deployment of r2 with the given traffic shape.
func bgDeployment(shape traffic.Config) deploy.Deployment {
	d := newDeployment(deploy.Config{Name: deploy.ConfigAllAtOnce, MinimumHealthyHosts: deploy.MinimumHealthyHosts{Type: deploy.HostCount}})
	d.Type = deploy.BlueGreen
	d.Router = testRouter
	d.BlueGreen = deploy.BlueGreenOptions{Traffic: shape}
	return d
}

// fleets are two original hosts on r1 (o1, o2) and two new replacement hosts (g1, g2).
func fleets() deploy.Start {
	return deploy.Start{
		Instances: []deploy.Instance{{ID: "g1", Name: "green-1"}, {ID: "g2", Name: "green-2"}},
		Originals: []deploy.Instance{{ID: "o1", Name: "blue-1", Health: deploy.Healthy, Revision: "r1"}, {ID: "o2", Name: "blue-2", Health: deploy.Healthy, Revision: "r1"}},
	}
}

func linear25() traffic.Config {
	return traffic.Config{Linear: &traffic.IncrementConfig{Percent: 25, Interval: "1m"}}
}

// hosts answers every outstanding agent command until none is left, failing the events failAt
// names; it returns the commands it answered.
func (dr *driver) hosts(failAt map[string]string) []deploy.SendCommand {
	dr.t.Helper()
	var done []deploy.SendCommand
	for len(dr.pending) > 0 {
		c := dr.pending[0]
		done = append(done, c)
		if failAt[c.Instance] == c.Event {
			dr.report(deploy.EventFailed, deploy.Diagnostics{ErrorCode: "ScriptFailed", Message: "exit status 1"})
		} else {
			dr.report(deploy.EventSucceeded, deploy.Diagnostics{})
		}
	}
	return done
}

// traffic answers the deployment's pending router change as applied and returns it.
func (dr *driver) traffic() deploy.SetTraffic {
	dr.t.Helper()
	p := deploy.PendingTraffic(dr.r.d)
	if len(p) != 1 || p[0].Change == 0 {
		dr.t.Fatalf("pending traffic %+v, want one change (status %v, phase %v)", p, dr.r.d.Status, dr.r.d.Shift.Phase)
	}
	dr.now = dr.now.Add(10 * time.Millisecond)
	dr.step(deploy.TrafficApplied{Change: p[0].Change})
	return p[0]
}

// tick moves the clock to the next deadline and feeds Tick.
func (dr *driver) tick() {
	dr.t.Helper()
	dl, ok := deploy.NextDeadline(dr.r.d)
	if !ok {
		dr.t.Fatalf("no deadline (status %v, phase %v)", dr.r.d.Status, dr.r.d.Shift.Phase)
	}
	dr.now = dl
	dr.step(deploy.Tick{})
}

// weights renders a change as "server:admin/weight" words in server order.
func weights(c deploy.SetTraffic) string {
	parts := make([]string, len(c.Servers))
	for i, s := range c.Servers {
		parts[i] = fmt.Sprintf("%s:%v/%d", s.Server, s.Admin, s.Weight)
	}
	return strings.Join(parts, " ")
}

func percents(points []deploy.TrafficPoint) []int {
	out := make([]int, len(points))
	for i, p := range points {
		out[i] = p.Percent
	}
	return out
}

func TestDecide_BlueGreenLinear(t *testing.T) {
	dr := newDriver(t, bgDeployment(linear25()))
	dr.step(fleets())

	// Install: the replacements only, the originals untouched.
	installed := dr.hosts(nil)
	for _, c := range installed {
		if strings.HasPrefix(c.Instance, "o") {
			t.Fatalf("original %s got %s while the replacements installed", c.Instance, c.Event)
		}
	}
	if got := len(installed); got != 2*7+2 {
		t.Errorf("%d commands (install and BeforeAllowTraffic), want %d", got, 2*7+2)
	}
	d := dr.r.d
	if d.Shift.Phase != deploy.PhaseAllowTraffic || d.Status != deploy.StatusInProgress {
		t.Fatalf("phase %v status %v, want AllowTraffic InProgress", d.Shift.Phase, d.Status)
	}

	// The shift: 25% now, then 25% more each minute.
	wantChanges := []string{
		"blue-1:ready/3 blue-2:ready/3 green-1:ready/1 green-2:ready/1",
		"blue-1:ready/1 blue-2:ready/1 green-1:ready/1 green-2:ready/1",
		"blue-1:ready/1 blue-2:ready/1 green-1:ready/3 green-2:ready/3",
		"blue-1:ready/0 blue-2:ready/0 green-1:ready/1 green-2:ready/1",
	}
	for i, want := range wantChanges {
		if i > 0 {
			if _, ok := deploy.CommandFor(dr.r.d, "g1"); ok {
				t.Fatalf("a replacement got a command during the pause before step %d", i)
			}
			before := dr.now
			dr.tick()
			if got := dr.now.Sub(before); got < 50*time.Second {
				t.Errorf("pause before step %d lasted %v, want about a minute", i, got)
			}
		}
		c := dr.traffic()
		if got := weights(c); got != want {
			t.Errorf("change %d:\n got %s\nwant %s", i+1, got, want)
		}
	}
	if got := percents(dr.r.d.Shift.Timeline); !slices.Equal(got, []int{25, 50, 75, 100}) {
		t.Errorf("timeline %v, want 25 50 75 100", got)
	}
	for _, tg := range dr.r.d.Targets {
		if tg.Fleet == deploy.ReplacementFleet && tg.Events[8].Status != deploy.EventSucceeded {
			t.Errorf("%s AllowTraffic %v after the shift, want Succeeded", tg.Instance, tg.Events[8].Status)
		}
	}

	// AfterAllowTraffic on the replacements, then the originals' block-traffic events.
	after := dr.hosts(nil)
	var order []string
	for _, c := range after {
		order = append(order, c.Instance+" "+c.Event)
	}
	if want := []string{"g1 AfterAllowTraffic", "g2 AfterAllowTraffic", "o1 BeforeBlockTraffic", "o2 BeforeBlockTraffic"}; !slices.Equal(order, want) {
		t.Errorf("commands after the shift %v, want %v", order, want)
	}
	if c := dr.traffic(); weights(c) != "blue-1:drain/0 blue-2:drain/0 green-1:ready/1 green-2:ready/1" || !c.WaitDrained {
		t.Errorf("block change %s (wait %v), want the originals drained and waited for", weights(c), c.WaitDrained)
	}
	dr.hosts(nil)
	d = dr.r.d
	if d.Status != deploy.StatusSucceeded {
		t.Fatalf("status %v %s, want Succeeded", d.Status, d.Error.Message)
	}
	for _, tg := range d.Targets {
		if tg.Status != deploy.InstanceSucceeded {
			t.Errorf("%s %v, want Succeeded", tg.Instance, tg.Status)
		}
	}
	health := effectsOf[deploy.SetInstanceHealth](dr.r.effects)
	wantHealth := []deploy.SetInstanceHealth{{Instance: "g1", Health: deploy.Healthy, Revision: "r2"}, {Instance: "g2", Health: deploy.Healthy, Revision: "r2"}}
	if !reflect.DeepEqual(health, wantHealth) {
		t.Errorf("health effects %+v, want the replacements healthy on r2 and the originals untouched", health)
	}
	if s := effectsOf[deploy.SwapFleets](dr.r.effects); len(s) != 1 || s[0].Group != "web" {
		t.Errorf("SwapFleets effects %+v, want one for web", s)
	}
	if g := effectsOf[deploy.SetGroupRevision](dr.r.effects); len(g) != 1 {
		t.Errorf("SetGroupRevision effects %+v, want one", g)
	}
}

// A failed AfterAllowTraffic sends all traffic back to the originals in the same decision,
// then the deployment fails once the hosts' events have ended. No rollback deployment starts:
// the originals still run the last good revision.
func TestDecide_BlueGreenRevertOnFailedHook(t *testing.T) {
	d := bgDeployment(traffic.Config{AllAtOnce: true})
	d.AutoRollback.OnFailure = true
	dr := newDriver(t, d)
	dr.step(fleets())
	dr.hosts(nil)
	dr.traffic() // 100%
	c := dr.pop()
	if c.Instance != "g1" || c.Event != "AfterAllowTraffic" {
		t.Fatalf("next command %s %s, want g1 AfterAllowTraffic", c.Instance, c.Event)
	}
	eff := dr.step(deploy.EventReported{Instance: c.Instance, Event: c.Event, Attempt: c.Attempt, Status: deploy.EventFailed,
		Diagnostics: deploy.Diagnostics{ErrorCode: "ScriptFailed", Message: "smoke test failed"}})
	revert := effectsOf[deploy.SetTraffic](eff)
	if len(revert) != 1 || weights(revert[0]) != "blue-1:ready/1 blue-2:ready/1 green-1:drain/0 green-2:drain/0" || revert[0].WaitDrained {
		t.Fatalf("effects of the failure %+v, want one change with all traffic on the originals", eff)
	}
	if dr.r.d.Status.Finished() {
		t.Fatal("finished while g2 still runs AfterAllowTraffic and the revert is unanswered")
	}
	dr.hosts(nil) // g2 finishes its event
	if dr.r.d.Status.Finished() {
		t.Fatal("finished before the revert was applied")
	}
	dr.traffic()
	got := dr.r.d
	if got.Status != deploy.StatusFailed || got.Error.Code != deploy.ErrorHealthConstraints {
		t.Fatalf("status %v %v, want Failed HEALTH_CONSTRAINTS", got.Status, got.Error.Code)
	}
	for _, want := range []string{"green-1 failed AfterAllowTraffic: ScriptFailed: smoke test failed", "all traffic is back on the original instances"} {
		if !strings.Contains(got.Error.Message, want) {
			t.Errorf("message %q lacks %q", got.Error.Message, want)
		}
	}
	if got := percents(got.Shift.Timeline); !slices.Equal(got, []int{100, 0}) {
		t.Errorf("timeline %v, want 100 then 0", got)
	}
	if r := effectsOf[deploy.StartRollback](dr.r.effects); len(r) != 0 {
		t.Errorf("started a rollback deployment %+v; the revert is the rollback", r)
	}
	if s := effectsOf[deploy.SwapFleets](dr.r.effects); len(s) != 0 {
		t.Errorf("swapped fleets after a failure: %+v", s)
	}
	for _, tg := range got.Targets {
		if tg.Fleet == deploy.OriginalFleet && (tg.Status != deploy.InstanceSkipped || tg.Attempt != 0) {
			t.Errorf("original %s %v after %d commands, want Skipped without any", tg.Instance, tg.Status, tg.Attempt)
		}
	}
}

// An alarm during the shift stops it and sends all traffic back at once, without waiting for
// the pause to end.
func TestDecide_BlueGreenAlarmStopsTheShift(t *testing.T) {
	dr := newDriver(t, bgDeployment(linear25()))
	dr.step(fleets())
	dr.hosts(nil)
	dr.traffic() // 25%
	dr.tick()
	dr.traffic() // 50%
	eff := dr.step(deploy.StopRequested{Alarm: true, Message: "alarm error-rate: 7% > 1%"})
	if c := effectsOf[deploy.SetTraffic](eff); len(c) != 1 || weights(c[0]) != "blue-1:ready/1 blue-2:ready/1 green-1:drain/0 green-2:drain/0" {
		t.Fatalf("effects of the alarm %+v, want the revert", eff)
	}
	if _, ok := deploy.NextDeadline(dr.r.d); ok {
		t.Error("the shape's pause is still timed after the stop")
	}
	dr.traffic()
	got := dr.r.d
	if got.Status != deploy.StatusStopped || got.Error.Code != deploy.ErrorAlarmActive || !strings.HasPrefix(got.Error.Message, "alarm error-rate") {
		t.Errorf("status %v %v %q, want Stopped ALARM_ACTIVE with the alarm's reason", got.Status, got.Error.Code, got.Error.Message)
	}
	if p := percents(got.Shift.Timeline); !slices.Equal(p, []int{25, 50, 0}) {
		t.Errorf("timeline %v, want 25 50 0", p)
	}
	for _, tg := range got.Targets {
		if tg.Fleet == deploy.ReplacementFleet && tg.Status != deploy.InstanceUnknown {
			t.Errorf("replacement %s %v, want Unknown (interrupted while traffic moved)", tg.Instance, tg.Status)
		}
	}
}

// A revert is marked as one, so the runtime carries it out for the servers the backend still
// has; the ones it skipped are named in the deployment's message, and the revert counts as done.
func TestDecide_BlueGreenRevertSkipsServers(t *testing.T) {
	dr := newDriver(t, bgDeployment(linear25()))
	dr.step(fleets())
	dr.hosts(nil)
	if c := dr.traffic(); c.Revert { // 25%
		t.Fatalf("a weight change %+v is marked as a revert", c)
	}
	eff := dr.step(deploy.StopRequested{Alarm: true, Message: "alarm error-rate: 7% > 1%"})
	revert := effectsOf[deploy.SetTraffic](eff)
	if len(revert) != 1 || !revert[0].Revert {
		t.Fatalf("effects of the alarm %+v, want one change marked as the revert", eff)
	}
	if c, ok := deploy.DesiredTraffic(dr.r.d); !ok || !c.Revert {
		t.Errorf("desired traffic %+v, %v while reverting; want it marked as the revert", c, ok)
	}
	dr.now = dr.now.Add(10 * time.Millisecond)
	dr.step(deploy.TrafficApplied{Change: revert[0].Change, Skipped: []string{"green-2", "blue-2"}})
	got := dr.r.d
	want := "all traffic is back on the original instances the router has: backend app no longer has these servers, which the revert skipped: blue-2, green-2"
	if got.Status != deploy.StatusStopped || got.Shift.RevertError != "" || !strings.Contains(got.Error.Message, want) {
		t.Errorf("status %v, revert error %q, message %q; want Stopped saying %q", got.Status, got.Shift.RevertError, got.Error.Message, want)
	}
	if p := percents(got.Shift.Timeline); !slices.Equal(p, []int{25, 0}) {
		t.Errorf("timeline %v, want 25 0", p)
	}
}

// With a ready wait the deployment stops at Ready until someone continues it, or stops when
// nobody does in time; traffic never moves in that case.
func TestDecide_BlueGreenReadyWait(t *testing.T) {
	newReady := func(t *testing.T) *driver {
		d := bgDeployment(traffic.Config{AllAtOnce: true})
		d.BlueGreen.ReadyWait = 30 * time.Minute
		dr := newDriver(t, d)
		dr.step(fleets())
		dr.hosts(nil)
		if got := dr.r.d; got.Status != deploy.StatusReady || got.Shift.Phase != deploy.PhaseReady || deploy.Summarize(got).Ready != 2 {
			t.Fatalf("status %v phase %v overview %+v, want Ready with 2 replacements ready", got.Status, got.Shift.Phase, deploy.Summarize(got))
		}
		return dr
	}
	t.Run("continued", func(t *testing.T) {
		dr := newReady(t)
		expectIgnored(t, dr.r.d, deploy.Promote{}, dr.now, deploy.ErrWrongStatus)
		eff := dr.step(deploy.Continue{})
		if c := effectsOf[deploy.SendCommand](eff); len(c) != 2 || c[0].Event != "BeforeAllowTraffic" {
			t.Fatalf("Continue sent %+v, want BeforeAllowTraffic to both replacements", c)
		}
		dr.hosts(nil)
		dr.traffic()
		dr.hosts(nil)
		dr.traffic()
		dr.hosts(nil)
		if dr.r.d.Status != deploy.StatusSucceeded {
			t.Errorf("status %v %s", dr.r.d.Status, dr.r.d.Error.Message)
		}
	})
	t.Run("timed out", func(t *testing.T) {
		dr := newReady(t)
		start := dr.now
		dr.tick()
		got := dr.r.d
		if dr.now.Sub(start) != 30*time.Minute || got.Status != deploy.StatusStopped || got.Error.Code != deploy.ErrorTimeout {
			t.Fatalf("after %v: %v %v, want Stopped TIMEOUT after 30m", dr.now.Sub(start), got.Status, got.Error.Code)
		}
		if _, ok := deploy.DesiredTraffic(got); ok || len(effectsOf[deploy.SetTraffic](dr.r.effects)) > 0 {
			t.Error("the router was asked for something though traffic never moved")
		}
		for _, tg := range got.Targets {
			if !tg.Status.Finished() {
				t.Errorf("%s %v after the stop", tg.Instance, tg.Status)
			}
		}
		if h := effectsOf[deploy.SetInstanceHealth](dr.r.effects); len(h) != 2 || h[0].Revision != "r2" {
			t.Errorf("health %+v, want the installed replacements healthy on r2", h)
		}
	})
}

// Pause holds the shift at its weight, a timed pause does not run out meanwhile, and Promote
// resumes it; Promote also ends a wait for promotion.
func TestDecide_BlueGreenPauseAndPromote(t *testing.T) {
	shape := traffic.Config{Steps: []traffic.StepConfig{
		{Weight: ptr(10)}, {Pause: traffic.PauseUntilPromoted}, {Weight: ptr(50)}, {Pause: "1m"},
	}}
	dr := newDriver(t, bgDeployment(shape))
	dr.step(fleets())
	dr.hosts(nil)
	expectIgnored(t, dr.r.d, deploy.Promote{}, dr.now, deploy.ErrWrongStatus) // applying 10%
	dr.traffic()
	if _, ok := deploy.NextDeadline(dr.r.d); ok {
		t.Error("a wait for promotion has a deadline")
	}
	dr.step(deploy.Promote{})
	dr.traffic() // 50%
	dr.step(deploy.Pause{})
	expectIgnored(t, dr.r.d, deploy.Pause{}, dr.now, deploy.ErrStale)
	if _, ok := deploy.NextDeadline(dr.r.d); ok {
		t.Error("the pause's deadline still runs while paused")
	}
	dr.now = dr.now.Add(time.Hour)
	dr.step(deploy.Tick{})
	if len(deploy.PendingTraffic(dr.r.d)) != 0 || dr.r.d.Shift.Percent != 50 {
		t.Fatalf("moved on while paused: %+v", dr.r.d.Shift)
	}
	dr.step(deploy.Promote{}) // lifts the pause and ends the timed wait
	if c := dr.traffic(); !strings.Contains(weights(c), "green-1:ready/1") || !strings.Contains(weights(c), "blue-1:ready/0") {
		t.Errorf("after the promotion: %s, want 100%%", weights(c))
	}
	if p := percents(dr.r.d.Shift.Timeline); !slices.Equal(p, []int{10, 50, 100}) {
		t.Errorf("timeline %v", p)
	}
}

// The analysis step waits for the runtime's verdict, which counts only once its duration is
// over.
func TestDecide_BlueGreenAnalysis(t *testing.T) {
	shape := traffic.Config{Steps: []traffic.StepConfig{{Weight: ptr(20)}, {Analysis: &traffic.AnalysisConfig{Name: "errors", Duration: "2m"}}}}
	dr := newDriver(t, bgDeployment(shape))
	dr.step(fleets())
	dr.hosts(nil)
	dr.traffic()
	name, step, until, ok := deploy.CurrentAnalysis(dr.r.d)
	if !ok || name != "errors" || step != 1 || until.Sub(dr.now) != 2*time.Minute {
		t.Fatalf("CurrentAnalysis = %q %d %v %v", name, step, until.Sub(dr.now), ok)
	}
	expectIgnored(t, dr.r.d, deploy.AnalysisPassed{Step: 1}, dr.now, deploy.ErrWrongStatus)
	expectIgnored(t, dr.r.d, deploy.AnalysisPassed{Step: 0}, until, deploy.ErrStale)
	dr.now = until
	dr.step(deploy.AnalysisPassed{Step: 1})
	if c := dr.traffic(); dr.r.d.Shift.Percent != 100 {
		t.Errorf("after the analysis: %s at %d%%, want 100%%", weights(c), dr.r.d.Shift.Percent)
	}
}

// The release command runs on the originals after the bake; Continue cuts the bake short, and
// a stop during it sends traffic back to the (drained, still running) originals.
func TestDecide_BlueGreenRelease(t *testing.T) {
	toBake := func(t *testing.T) *driver {
		d := bgDeployment(traffic.Config{AllAtOnce: true})
		d.BlueGreen.ReleaseCommand, d.BlueGreen.ReleaseWait = "terminate", time.Hour
		dr := newDriver(t, d)
		dr.step(fleets())
		dr.hosts(nil)
		dr.traffic()
		dr.hosts(nil)
		dr.traffic()
		dr.hosts(nil)
		if got := dr.r.d; got.Status != deploy.StatusBaking || got.Shift.Phase != deploy.PhaseBake {
			t.Fatalf("status %v phase %v, want Baking", got.Status, got.Shift.Phase)
		}
		return dr
	}
	wantRelease := deploy.ReleaseOriginals{Deployment: "d-2", Command: "terminate", Instances: []string{"blue-1", "blue-2"}, InstanceIDs: []string{"o1", "o2"}}
	for _, early := range []bool{false, true} {
		t.Run(fmt.Sprint("early=", early), func(t *testing.T) {
			dr := toBake(t)
			var eff []deploy.Effect
			if early {
				eff = dr.step(deploy.Continue{})
			} else {
				start := dr.now
				dr.tick()
				eff = dr.r.effects[len(dr.r.effects)-1:]
				if dr.now.Sub(start) != time.Hour {
					t.Errorf("released after %v, want the 1h wait", dr.now.Sub(start))
				}
			}
			if r := effectsOf[deploy.ReleaseOriginals](eff); len(r) != 1 || !reflect.DeepEqual(r[0], wantRelease) {
				t.Fatalf("effects %+v, want %+v", eff, wantRelease)
			}
			if r, ok := deploy.PendingRelease(dr.r.d); !ok || !reflect.DeepEqual(r, wantRelease) {
				t.Errorf("PendingRelease = %+v, %v", r, ok)
			}
			expectIgnored(t, dr.r.d, deploy.StopRequested{}, dr.now, deploy.ErrWrongStatus)
			dr.step(deploy.OriginalsReleased{OK: true, Message: "exit status 0"})
			if got := dr.r.d; got.Status != deploy.StatusSucceeded || !got.Shift.Release.OK {
				t.Errorf("status %v release %+v", got.Status, got.Shift.Release)
			}
		})
	}
	t.Run("stopped", func(t *testing.T) {
		dr := toBake(t)
		eff := dr.step(deploy.StopRequested{Message: "aborted by a user"})
		if c := effectsOf[deploy.SetTraffic](eff); len(c) != 1 || !strings.HasPrefix(weights(c[0]), "blue-1:ready/1 blue-2:ready/1") {
			t.Fatalf("stop during the bake: %+v, want the originals back", eff)
		}
		dr.traffic()
		if got := dr.r.d; got.Status != deploy.StatusStopped || got.Error.Code != deploy.ErrorManualStop {
			t.Errorf("status %v %v", got.Status, got.Error.Code)
		}
	})
}

// A router that refuses a step fails the deployment after sending traffic back; one that
// refuses the revert too is named in the message.
func TestDecide_BlueGreenRouterRefuses(t *testing.T) {
	for _, revertFails := range []bool{false, true} {
		t.Run(fmt.Sprint("revert fails=", revertFails), func(t *testing.T) {
			dr := newDriver(t, bgDeployment(linear25()))
			dr.step(fleets())
			dr.hosts(nil)
			dr.traffic() // 25%
			dr.tick()
			first := deploy.PendingTraffic(dr.r.d)[0]
			eff := dr.step(deploy.TrafficFailed{Change: first.Change, Message: "change leaves no server serving"})
			revert := effectsOf[deploy.SetTraffic](eff)
			if len(revert) != 1 || !strings.HasPrefix(weights(revert[0]), "blue-1:ready/1") {
				t.Fatalf("effects %+v, want the revert", eff)
			}
			expectIgnored(t, dr.r.d, deploy.TrafficApplied{Change: first.Change}, dr.now, deploy.ErrStale)
			if revertFails {
				dr.step(deploy.TrafficFailed{Change: revert[0].Change, Message: "connection refused"})
			} else {
				dr.traffic()
			}
			got := dr.r.d
			if got.Status != deploy.StatusFailed || got.Error.Code != deploy.ErrorTrafficRouter ||
				!strings.Contains(got.Error.Message, "change leaves no server serving") {
				t.Fatalf("status %v %v %q", got.Status, got.Error.Code, got.Error.Message)
			}
			want := "all traffic is back on the original instances"
			if revertFails {
				want = "traffic could not be moved back to the original instances: connection refused"
			}
			if !strings.Contains(got.Error.Message, want) {
				t.Errorf("message %q lacks %q", got.Error.Message, want)
			}
		})
	}
}

// Failures while the replacements install are weighed as in place and never touch traffic.
func TestDecide_BlueGreenInstallFailure(t *testing.T) {
	d := bgDeployment(traffic.Config{AllAtOnce: true})
	d.Config = preset(t, deploy.ConfigHalfAtATime)
	dr := newDriver(t, d)
	start := fleets()
	start.Instances = append(start.Instances, deploy.Instance{ID: "g3"}, deploy.Instance{ID: "g4"})
	dr.step(start)
	dr.hosts(map[string]string{"g1": "Install", "g2": "Install", "g3": "AfterInstall"})
	got := dr.r.d
	if got.Status != deploy.StatusFailed || got.Error.Code != deploy.ErrorHealthConstraints {
		t.Fatalf("status %v %v %s", got.Status, got.Error.Code, got.Error.Message)
	}
	if len(effectsOf[deploy.SetTraffic](dr.r.effects)) != 0 || strings.Contains(got.Error.Message, "original instances") {
		t.Errorf("traffic touched by a failed install: %+v / %q", effectsOf[deploy.SetTraffic](dr.r.effects), got.Error.Message)
	}

	// One failure the minimum allows: the shift goes to the replacements that installed, the
	// failed one drained.
	d.Config = preset(t, deploy.ConfigAllAtOnce)
	dr = newDriver(t, d)
	dr.step(fleets())
	dr.hosts(map[string]string{"g2": "ValidateService"})
	if c := dr.traffic(); weights(c) != "blue-1:ready/0 blue-2:ready/0 green-1:ready/1 green-2:drain/0" {
		t.Errorf("shift with g2 failed: %s", weights(c))
	}
}

func TestDecide_BlueGreenStartChecks(t *testing.T) {
	tests := []struct {
		name   string
		change func(*deploy.Deployment, *deploy.Start)
		code   deploy.ErrorCode
		msg    string
	}{
		{"no replacements", func(_ *deploy.Deployment, s *deploy.Start) { s.Instances = nil }, deploy.ErrorNoInstances, "replacement tags"},
		{"no router", func(d *deploy.Deployment, _ *deploy.Start) { d.Router = deploy.Router{} }, deploy.ErrorMissingBlueGreenConfig, "traffic router"},
		{"overlap", func(_ *deploy.Deployment, s *deploy.Start) { s.Originals[1] = s.Instances[0] }, deploy.ErrorInvalidFleets, "green-1 matches both"},
		{"one server name", func(_ *deploy.Deployment, s *deploy.Start) { s.Originals[0].Name = "green-1" }, deploy.ErrorInvalidFleets, `both server "green-1"`},
		{"servers missing", func(d *deploy.Deployment, s *deploy.Start) {
			d.Router.ServerName = "web-{name}"
			s.Backend = &deploy.RouterBackend{Servers: []string{"web-green-1", "web-blue-1", "web-intruder"}}
		}, deploy.ErrorTrafficRouter, `backend app of the traffic router has no server for replacement instance green-2 (server "web-green-2"), ` +
			`original instance blue-2 (server "web-blue-2"); the group's server name template "web-{name}" makes them ` +
			`({name} is the instance's name, {id} its id) and the backend has web-blue-1, web-green-1, web-intruder: ` +
			`add those servers to the backend or change the template; no instance was touched`},
		{"backend unreadable", func(_ *deploy.Deployment, s *deploy.Start) {
			s.Backend = &deploy.RouterBackend{Error: "dial unix /run/haproxy/admin.sock: connect: no such file or directory"}
		}, deploy.ErrorTrafficRouter, "could not read backend app of the traffic router at /run/haproxy/admin.sock: dial unix"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, s := bgDeployment(linear25()), fleets()
			tt.change(&d, &s)
			got, eff, err := deploy.Decide(d, routed(d.Router, s), t0)
			if err != nil {
				t.Fatal(err)
			}
			if got.Status != deploy.StatusFailed || got.Error.Code != tt.code || !strings.Contains(got.Error.Message, tt.msg) {
				t.Errorf("%v %v %q, want Failed %v saying %q", got.Status, got.Error.Code, got.Error.Message, tt.code, tt.msg)
			}
			if len(effectsOf[deploy.SendCommand](eff)) > 0 {
				t.Error("sent commands")
			}
		})
	}
	d := bgDeployment(traffic.Config{})
	if _, _, err := deploy.Decide(d, fleets(), t0); !errors.Is(err, deploy.ErrInvalidInput) {
		t.Errorf("start with no traffic shape: %v, want ErrInvalidInput", err)
	}
	if _, _, err := deploy.Decide(newDeployment(preset(t, deploy.ConfigAllAtOnce)), fleets(), t0); !errors.Is(err, deploy.ErrInvalidInput) {
		t.Errorf("in-place start with originals: %v, want ErrInvalidInput", err)
	}
	if _, _, err := deploy.Decide(bgDeployment(linear25()), fleets(), t0); !errors.Is(err, deploy.ErrInvalidInput) {
		t.Errorf("start without the router's backend: %v, want ErrInvalidInput", err)
	}
}

// Without an original fleet (a group's first blue/green deployment) all traffic goes to the
// replacements at once and there is nothing to drain.
func TestDecide_BlueGreenNoOriginals(t *testing.T) {
	dr := newDriver(t, bgDeployment(linear25()))
	s := fleets()
	s.Originals = nil
	dr.step(s)
	dr.hosts(nil)
	if c := dr.traffic(); weights(c) != "green-1:ready/1 green-2:ready/1" {
		t.Errorf("change %s, want both replacements at full share", weights(c))
	}
	dr.hosts(nil)
	if got := dr.r.d; got.Status != deploy.StatusSucceeded || !slices.Equal(percents(got.Shift.Timeline), []int{100}) {
		t.Errorf("status %v timeline %v", got.Status, percents(got.Shift.Timeline))
	}
}

// Inputs that belong to other phases or to in-place deployments are refused without change.
func TestDecide_BlueGreenInputsOutOfPlace(t *testing.T) {
	inPlace := newDeployment(preset(t, deploy.ConfigAllAtOnce))
	inPlace, _, _ = deploy.Decide(inPlace, deploy.Start{Instances: healthyFleet(1)}, t0)
	for _, in := range []deploy.Input{deploy.Promote{}, deploy.Pause{}, deploy.Continue{}} {
		expectIgnored(t, inPlace, in, t0, deploy.ErrWrongStatus)
	}
	for _, in := range []deploy.Input{deploy.TrafficApplied{Change: 1}, deploy.TrafficFailed{Change: 1}, deploy.AnalysisPassed{}, deploy.OriginalsReleased{}} {
		expectIgnored(t, inPlace, in, t0, deploy.ErrStale)
	}
	d, _, _ := deploy.Decide(bgDeployment(linear25()), routed(testRouter, fleets()), t0)
	expectIgnored(t, d, deploy.Continue{}, t0, deploy.ErrWrongStatus)
	expectIgnored(t, d, deploy.Pause{}, t0, deploy.ErrWrongStatus)
	// A host cannot report the router's event.
	expectIgnored(t, d, deploy.EventReported{Instance: "g1", Event: "AllowTraffic", Attempt: 9, Status: deploy.EventSucceeded}, t0, deploy.ErrStale)
}
