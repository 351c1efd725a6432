package rollout_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/slipway-deploy/slipway/internal/api"
	"github.com/slipway-deploy/slipway/internal/appspec"
	"github.com/slipway-deploy/slipway/internal/awsconfig"
	"github.com/slipway-deploy/slipway/internal/awsecs"
	"github.com/slipway-deploy/slipway/internal/awsfake"
	"github.com/slipway-deploy/slipway/internal/rollout"
	"github.com/slipway-deploy/slipway/internal/traffic"
)

// ecsWorld is a service ready for blue/green on stand-ins stamped by the harness's clock.
type ecsWorld struct {
	*harness
	*awsfake.BlueGreen
	group awsecs.Group
}

func newECSWorld(t *testing.T) *ecsWorld {
	t.Helper()
	h := newHarness(t)
	w := &ecsWorld{harness: h, BlueGreen: awsfake.NewBlueGreen(t, h.clock.Now)}
	w.group = awsecs.Group{Cluster: awsfake.BlueGreenCluster, Service: awsfake.BlueGreenService,
		TargetGroups: [2]string{w.Blue, w.Green}, ProductionListener: w.Production, TestListener: w.Test}
	h.runner.PollInterval = 15 * time.Second
	return w
}

func ecsSpec(hooks map[string]string) *appspec.Spec {
	return &appspec.Spec{
		Platform: appspec.PlatformECS, Version: "0.0", FunctionHooks: hooks,
		ECS: &appspec.ECSTarget{TaskDefinition: awsfake.NextTaskDefinition, ContainerName: awsfake.BlueGreenContainer, ContainerPort: awsfake.BlueGreenPort},
	}
}

func (w *ecsWorld) plan(spec *appspec.Spec, opt rollout.ECSOptions) rollout.Plan {
	w.t.Helper()
	ecsAPI, elbAPI, err := awsecs.NewClients(context.Background(), awsconfig.Config{
		Region: "eu-west-1", Endpoints: map[string]string{awsconfig.ServiceECS: w.ECS.URL, awsconfig.ServiceELB: w.ELB.URL},
	})
	if err != nil {
		w.t.Fatal(err)
	}
	d, err := awsecs.New(ecsAPI, elbAPI, w.group, *spec.ECS, "d-9")
	if err != nil {
		w.t.Fatal(err)
	}
	plan, err := rollout.ECSPlan("d-9", spec, d, opt)
	if err != nil {
		w.t.Fatal(err)
	}
	return plan
}

// listener renders a listener's history as "+offset blue%/green%" entries.
func (w *ecsWorld) listener(arn string) []string {
	var out []string
	for _, s := range w.ELB.ListenerHistory(arn) {
		out = append(out, fmt.Sprintf("+%v %d/%d", s.At.Sub(awsfake.Epoch), s.Percent(w.Blue), s.Percent(w.Green)))
	}
	return out
}

// taskSets renders the service's task set history as "+offset change blue|green".
func (w *ecsWorld) taskSets() []string {
	var out []string
	for _, c := range w.ECS.History(awsfake.BlueGreenCluster, awsfake.BlueGreenService) {
		out = append(out, fmt.Sprintf("+%v %s %s", c.At.Sub(awsfake.Epoch), c.Change, w.Side(c.TargetGroup)))
	}
	return out
}

func check(t *testing.T, what string, got, want []string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Errorf("%s:\n got %q\nwant %q", what, got, want)
	}
}

func TestECS_BlueGreenWithTestTraffic(t *testing.T) {
	w := newECSWorld(t)
	w.ECS.SteadyAfter(2) // the replacement reports STABILIZING to two describes
	hooks := map[string]string{}
	for _, ev := range appspec.ECSHookEvents {
		hooks[ev] = "Check" + ev
		w.hookFunction("Check"+ev, api.HookSucceeded)
	}
	plan := w.plan(ecsSpec(hooks), rollout.ECSOptions{TerminationWait: time.Hour})
	res := w.run(plan, shape(t, traffic.Config{Preset: traffic.PresetECSCanary10Percent5Minutes}))
	if res.Status != rollout.Succeeded {
		t.Fatalf("run: %+v\n%s", res, w.timeline())
	}
	check(t, "task sets", w.taskSets(), []string{
		"+0s created blue", "+0s steady blue", "+0s primary blue", // the service as it was
		"+0s created green", "+30s steady green", "+5m30s primary green", "+1h5m30s deleted blue",
	})
	check(t, "production listener (blue/green %)", w.listener(w.Production), []string{"+0s 100/0", "+30s 90/10", "+5m30s 0/100"})
	check(t, "test listener (blue/green %)", w.listener(w.Test), []string{"+0s 100/0", "+30s 0/100"})
	var invoked []string
	for _, ev := range appspec.ECSHookEvents {
		for _, inv := range w.lambda.Invocations("Check" + ev) {
			invoked = append(invoked, fmt.Sprintf("+%v %s", inv.At.Sub(awsfake.Epoch), ev))
		}
	}
	check(t, "hooks", invoked, []string{"+0s BeforeInstall", "+30s AfterInstall", "+30s AfterAllowTestTraffic", "+30s BeforeAllowTraffic", "+5m30s AfterAllowTraffic"})
	sets := w.TaskSets()
	if len(sets) != 1 || sets[0].Status != "PRIMARY" || sets[0].TaskDefinition != ecsSpec(nil).ECS.TaskDefinition {
		t.Errorf("task sets at the end: %+v; want the replacement alone, primary", sets)
	}
	check(t, "events", w.events(rollout.EventSucceeded), []string{
		"EventSucceeded Start", "EventSucceeded BeforeInstall", "EventSucceeded Install", "EventSucceeded AfterInstall",
		"EventSucceeded AllowTestTraffic", "EventSucceeded AfterAllowTestTraffic", "EventSucceeded BeforeAllowTraffic",
		"EventSucceeded AllowTraffic", "EventSucceeded AfterAllowTraffic", "EventSucceeded TerminationWait", "EventSucceeded TerminateOriginalTaskSet",
	})
}

func TestECS_StopDuringTerminationWaitPutsTheOriginalBack(t *testing.T) {
	w := newECSWorld(t)
	w.on = func(r rollout.Record) {
		if r.Kind == rollout.Waiting && r.Event == rollout.EventTerminationWait {
			w.runner.Stop("operator asked for a rollback")
		}
	}
	plan := w.plan(ecsSpec(nil), rollout.ECSOptions{TerminationWait: 2 * time.Hour})
	res := w.run(plan, shape(t, traffic.Config{Linear: &traffic.IncrementConfig{Percent: 50, Interval: "1m"}}))
	if res.Status != rollout.Stopped || !res.Reverted || !strings.Contains(res.Err.Error(), "operator asked for a rollback") {
		t.Fatalf("run: %+v; want Stopped and reverted\n%s", res, w.timeline())
	}
	check(t, "task sets", w.taskSets(), []string{
		"+0s created blue", "+0s steady blue", "+0s primary blue",
		"+0s created green", "+15s steady green", "+1m15s primary green", "+1m15s primary blue", "+1m15s deleted green",
	})
	check(t, "production listener (blue/green %)", w.listener(w.Production), []string{"+0s 100/0", "+15s 50/50", "+1m15s 0/100", "+1m15s 100/0"})
	check(t, "test listener (blue/green %)", w.listener(w.Test), []string{"+0s 100/0", "+15s 0/100", "+1m15s 100/0"})
}

func TestECS_ReplacementNeverSteadyReverts(t *testing.T) {
	w := newECSWorld(t)
	w.ECS.SteadyAfter(-1)
	plan := w.plan(ecsSpec(nil), rollout.ECSOptions{SteadyTimeout: 5 * time.Minute})
	res := w.run(plan, traffic.AllAtOnce())
	if res.Status != rollout.Failed || !res.Reverted {
		t.Fatalf("run: %+v; want Failed and reverted", res)
	}
	want := "Install did not finish within 5m0s: replacement task set ecs-svc/"
	if !strings.Contains(res.Err.Error(), want) || !strings.Contains(res.Err.Error(), "STABILIZING, 0 of 3 tasks running") {
		t.Errorf("error %q; want it to say %q and how far the task set got", res.Err, want)
	}
	check(t, "task sets", w.taskSets(), []string{"+0s created blue", "+0s steady blue", "+0s primary blue", "+0s created green", "+5m0s deleted green"})
	if got := w.ELB.Listener(w.Production); got.Percent(w.Blue) != 100 {
		t.Errorf("production listener %+v; want blue alone", got)
	}
}

func TestECS_FailedTestTrafficHookReverts(t *testing.T) {
	w := newECSWorld(t)
	w.hookFunction("SmokeTest", api.HookFailed)
	plan := w.plan(ecsSpec(map[string]string{"AfterAllowTestTraffic": "SmokeTest"}), rollout.ECSOptions{})
	res := w.run(plan, traffic.AllAtOnce())
	if res.Status != rollout.Failed || !res.Reverted || !strings.Contains(res.Err.Error(), "hook SmokeTest reported Failed") {
		t.Fatalf("run: %+v\n%s", res, w.timeline())
	}
	check(t, "test listener (blue/green %)", w.listener(w.Test), []string{"+0s 100/0", "+15s 0/100", "+15s 100/0"})
	for _, s := range w.ELB.ListenerHistory(w.Production) {
		if s.Percent(w.Green) != 0 {
			t.Errorf("production traffic reached green: %+v", s)
		}
	}
	if sets := w.TaskSets(); len(sets) != 1 || sets[0].ID != w.Original {
		t.Errorf("task sets %+v; want the original alone", sets)
	}
}

func TestECS_ListenerErrorMidShiftReverts(t *testing.T) {
	w := newECSWorld(t)
	w.group.TestListener = ""
	// The production listener's second change (to 100%) is refused; the revert goes through.
	w.ELB.Fail("ModifyListener", 1, awsfake.Fault{Code: "TargetGroupAssociationLimit", Message: "The target group is associated with too many load balancers"})
	plan := w.plan(ecsSpec(nil), rollout.ECSOptions{})
	res := w.run(plan, shape(t, traffic.Config{Canary: &traffic.IncrementConfig{Percent: 30, Interval: "2m"}}))
	if res.Status != rollout.Failed || !res.Reverted || !strings.Contains(res.Err.Error(), "elasticloadbalancing:ModifyListener: TargetGroupAssociationLimit") {
		t.Fatalf("run: %+v\n%s", res, w.timeline())
	}
	check(t, "production listener (blue/green %)", w.listener(w.Production), []string{"+0s 100/0", "+15s 70/30", "+2m15s 100/0"})
	if skipped := w.events(rollout.EventSkipped); !slices.Contains(skipped, "EventSkipped AllowTestTraffic") {
		t.Errorf("skipped %v; want AllowTestTraffic skipped without a test listener", skipped)
	}
}
