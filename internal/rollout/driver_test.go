package rollout_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/slipway-deploy/slipway/internal/api"
	"github.com/slipway-deploy/slipway/internal/appspec"
	"github.com/slipway-deploy/slipway/internal/awsconfig"
	"github.com/slipway-deploy/slipway/internal/awsecs"
	"github.com/slipway-deploy/slipway/internal/awsfake"
	"github.com/slipway-deploy/slipway/internal/deploy"
	"github.com/slipway-deploy/slipway/internal/hook"
	"github.com/slipway-deploy/slipway/internal/rollout"
)

func never() bool { return false }

// lambdaDeployment is a deployment of fn's alias live from version 1 to 2 on a Lambda stand-in,
// with the given hooks.
func lambdaDeployment(t *testing.T, hooks map[string]string) (*awsfake.Lambda, deploy.Deployment) {
	t.Helper()
	awsfake.Credentials(t)
	fake := awsfake.NewLambda(t, nil)
	fake.AddFunction("fn", 3)
	fake.AddAlias("fn", "live", "1")
	spec := &appspec.Spec{Platform: appspec.PlatformLambda, FunctionHooks: hooks,
		Lambda: &appspec.LambdaTarget{Name: "fn", Alias: "live", CurrentVersion: "1", TargetVersion: "2"}}
	f, err := rollout.NewFunction(spec, awsconfig.Config{Region: "eu-west-1", Endpoint: fake.URL}, awsecs.Group{})
	if err != nil {
		t.Fatal(err)
	}
	if f.Target != "fn:live" || f.Original != "version 1" {
		t.Errorf("function options %+v", f)
	}
	return fake, deploy.Deployment{ID: "d-1", Platform: deploy.PlatformLambda, Type: deploy.BlueGreen, Function: f}
}

func TestDriver_Lambda(t *testing.T) {
	fake, d := lambdaDeployment(t, nil)
	ctx := context.Background()
	r := &rollout.Driver{Board: hook.NewBoard(), StatusBase: "http://127.0.0.1:1"}
	if out := r.Step(ctx, d, deploy.EventStart, never); out.Status != deploy.EventSucceeded {
		t.Fatalf("Start: %+v", out)
	}
	for _, p := range []int{10, 10, 100} {
		if _, err := r.Traffic(ctx, d, deploy.SetTraffic{Percent: p}); err != nil {
			t.Fatalf("Traffic(%d): %v", p, err)
		}
	}
	if a := fake.Alias("fn", "live"); a.Version != "2" || len(a.Weights) != 0 {
		t.Errorf("alias %+v after 100%%; want version 2 alone", a)
	}
	if n := len(fake.CallsOf("UpdateAlias")); n != 2 {
		t.Errorf("%d UpdateAlias calls; want 2 (the repeated 10%% changes nothing)", n)
	}
	note, err := r.Traffic(ctx, d, deploy.SetTraffic{Revert: true})
	if err != nil || note != "alias live of fn back on version 1 alone" {
		t.Fatalf("revert: %q, %v", note, err)
	}
	if a := fake.Alias("fn", "live"); a.Version != "1" || len(a.Weights) != 0 {
		t.Errorf("alias %+v after the revert; want version 1 alone", a)
	}
}

func TestDriver_LambdaStartRefusesAMovedAlias(t *testing.T) {
	fake, d := lambdaDeployment(t, nil)
	fake.SetAlias("fn", "live", "3", nil)
	r := &rollout.Driver{Board: hook.NewBoard()}
	out := r.Step(context.Background(), d, deploy.EventStart, never)
	if out.Status != deploy.EventFailed || !strings.Contains(out.Message, "set CurrentVersion: 3") {
		t.Errorf("Start = %+v; want Failed saying to set CurrentVersion: 3", out)
	}
}

func TestDriver_Hooks(t *testing.T) {
	failing := awsfake.HTTPHook(t, api.HookStatus{Status: api.HookFailed, Message: "p99 840ms"})
	fake, d := lambdaDeployment(t, map[string]string{"BeforeAllowTraffic": "CheckFn", "AfterAllowTraffic": failing.URL})
	fake.AddFunction("CheckFn", 1)
	board := hook.NewBoard()
	status := awsfake.StatusEndpoint(t, board)
	settled := make(chan hook.Execution, 4)
	board.OnSettle = func(e hook.Execution) { settled <- e }
	fake.OnInvoke("CheckFn", awsfake.Reporter(api.HookSucceeded, nil))
	r := &rollout.Driver{Board: board, StatusBase: status.URL}
	ctx := context.Background()

	if out, done := r.Hook(ctx, d, "BeforeAllowTraffic", 2); done {
		t.Fatalf("Lambda hook: done at once with %+v; want its verdict through the board", out)
	}
	e := wait(t, settled)
	if e.Event != "BeforeAllowTraffic" || e.Attempt != 2 || rollout.Verdict(e).Status != deploy.EventSucceeded {
		t.Errorf("settled %+v", e)
	}
	// A restart asks again: the verdict recorded stands, and the function is not invoked twice.
	if out, done := r.Hook(ctx, d, "BeforeAllowTraffic", 2); !done || out.Status != deploy.EventSucceeded {
		t.Errorf("asked again: %+v %v; want the recorded verdict", out, done)
	}
	if n := len(fake.Invocations("CheckFn")); n != 1 {
		t.Errorf("%d invocations; want 1", n)
	}

	r.Hook(ctx, d, "AfterAllowTraffic", 4)
	e = wait(t, settled)
	if out := rollout.Verdict(e); out.Status != deploy.EventFailed || out.Message != "p99 840ms" {
		t.Errorf("HTTP hook verdict %+v", out)
	}
	if out, done := r.Hook(ctx, d, "AfterAllowTestTraffic", 5); !done || out.Status != deploy.EventSkipped {
		t.Errorf("an event without a hook: %+v %v; want Skipped at once", out, done)
	}
}

func wait(t *testing.T, ch <-chan hook.Execution) hook.Execution {
	t.Helper()
	select {
	case e := <-ch:
		return e
	case <-time.After(10 * time.Second):
		t.Fatal("no verdict within 10s")
		return hook.Execution{}
	}
}

func TestDriver_ECS(t *testing.T) {
	awsfake.Credentials(t)
	w := awsfake.NewBlueGreen(t, nil)
	group := awsecs.Group{Cluster: awsfake.BlueGreenCluster, Service: awsfake.BlueGreenService,
		TargetGroups: [2]string{w.Blue, w.Green}, ProductionListener: w.Production, TestListener: w.Test, TerminationWait: "30s"}
	spec := &appspec.Spec{Platform: appspec.PlatformECS,
		ECS: &appspec.ECSTarget{TaskDefinition: awsfake.NextTaskDefinition, ContainerName: awsfake.BlueGreenContainer, ContainerPort: awsfake.BlueGreenPort}}
	cfg := awsconfig.Config{Region: "us-east-1", Endpoints: map[string]string{awsconfig.ServiceECS: w.ECS.URL, awsconfig.ServiceELB: w.ELB.URL}}
	f, err := rollout.NewFunction(spec, cfg, group)
	if err != nil {
		t.Fatal(err)
	}
	if f.Target != "prod/web" || f.TerminationWait != 30*time.Second {
		t.Errorf("function options %+v", f)
	}
	d := deploy.Deployment{ID: "d-9", Platform: deploy.PlatformECS, Type: deploy.BlueGreen, Function: f}
	r := &rollout.Driver{Board: hook.NewBoard(), PollInterval: time.Millisecond}
	ctx := context.Background()
	for _, ev := range []string{deploy.EventStart, "Install", deploy.EventAllowTestTraffic} {
		if out := r.Step(ctx, d, ev, never); out.Status != deploy.EventSucceeded {
			t.Fatalf("%s: %+v", ev, out)
		}
	}
	if got := w.ELB.Listener(w.Test).Percent(w.Green); got != 100 {
		t.Errorf("test listener sends %d%% to green; want 100", got)
	}
	for _, p := range []int{40, 100} {
		if _, err := r.Traffic(ctx, d, deploy.SetTraffic{Percent: p}); err != nil {
			t.Fatal(err)
		}
	}
	for _, ev := range []string{deploy.EventTerminationWait, deploy.EventTerminateOriginal, deploy.EventTerminateOriginal} {
		if out := r.Step(ctx, d, ev, never); out.Status != deploy.EventSucceeded {
			t.Fatalf("%s: %+v", ev, out)
		}
	}
	sets := w.TaskSets()
	if len(sets) != 1 || sets[0].Status != "PRIMARY" || sets[0].TargetGroup != w.Green {
		t.Errorf("task sets %+v; want the replacement alone, primary, in green", sets)
	}
}

func TestDriver_ECSStopsWaitingForAReplacementWhenTheDeploymentEnds(t *testing.T) {
	awsfake.Credentials(t)
	w := awsfake.NewBlueGreen(t, nil)
	w.ECS.SteadyAfter(-1)
	group := awsecs.Group{Cluster: awsfake.BlueGreenCluster, Service: awsfake.BlueGreenService,
		TargetGroups: [2]string{w.Blue, w.Green}, ProductionListener: w.Production}
	spec := &appspec.Spec{Platform: appspec.PlatformECS,
		ECS: &appspec.ECSTarget{TaskDefinition: awsfake.NextTaskDefinition, ContainerName: awsfake.BlueGreenContainer, ContainerPort: awsfake.BlueGreenPort}}
	f, err := rollout.NewFunction(spec, awsconfig.Config{Region: "us-east-1", Endpoints: map[string]string{awsconfig.ServiceECS: w.ECS.URL, awsconfig.ServiceELB: w.ELB.URL}}, group)
	if err != nil {
		t.Fatal(err)
	}
	d := deploy.Deployment{ID: "d-9", Platform: deploy.PlatformECS, Type: deploy.BlueGreen, Function: f}
	r := &rollout.Driver{Board: hook.NewBoard(), PollInterval: time.Millisecond}
	polls := 0
	out := r.Step(context.Background(), d, "Install", func() bool { polls++; return polls > 3 })
	if out.Status != deploy.EventFailed || !strings.Contains(out.Message, "ended while replacement task set") {
		t.Errorf("Install = %+v; want Failed because the deployment ended", out)
	}
	if out := r.Step(context.Background(), d, deploy.EventAllowTestTraffic, never); out.Status != deploy.EventSkipped {
		t.Errorf("AllowTestTraffic without a test listener = %+v; want Skipped", out)
	}
}
