package rollout_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/slipway-deploy/slipway/internal/api"
	"github.com/slipway-deploy/slipway/internal/appspec"
	"github.com/slipway-deploy/slipway/internal/awsfake"
	"github.com/slipway-deploy/slipway/internal/awslambda"
	"github.com/slipway-deploy/slipway/internal/rollout"
	"github.com/slipway-deploy/slipway/internal/traffic"
)

// lambdaPlan sets up function api (versions 1-3) with alias live on 1 and returns the plan
// of moving it to 2 with spec's hooks.
func (h *harness) lambdaPlan(spec *appspec.Spec) rollout.Plan {
	h.t.Helper()
	h.lambda.AddFunction("api", 3)
	h.lambda.AddAlias("api", "live", "1")
	client, err := awslambda.NewClient(context.Background(), h.cfg)
	if err != nil {
		h.t.Fatal(err)
	}
	shift, err := awslambda.New(client, *spec.Lambda)
	if err != nil {
		h.t.Fatal(err)
	}
	plan, err := rollout.LambdaPlan("d-1", spec, shift)
	if err != nil {
		h.t.Fatal(err)
	}
	return plan
}

type aliasPoint struct {
	at      time.Duration
	version string
	target  int // percent on version 2
}

func aliasTimeline(h *harness) []aliasPoint {
	var out []aliasPoint
	for _, a := range h.lambda.AliasHistory("api", "live") {
		out = append(out, aliasPoint{a.At.Sub(awsfake.Epoch), a.Version, a.Percent("2")})
	}
	return out
}

// wantAlias checks the alias's history against want.
func wantAlias(t *testing.T, h *harness, want []aliasPoint) {
	t.Helper()
	if got := aliasTimeline(h); !slices.Equal(got, want) {
		t.Errorf("alias timeline %+v; want %+v\n%s", got, want, h.timeline())
	}
}

func TestLambda_CanaryPreset(t *testing.T) {
	h := newHarness(t)
	h.hookFunction("PreTraffic", api.HookSucceeded)
	h.hookFunction("PostTraffic", api.HookSucceeded)
	plan := h.lambdaPlan(lambdaSpec(map[string]string{"BeforeAllowTraffic": "PreTraffic", "AfterAllowTraffic": "PostTraffic"}))
	res := h.run(plan, shape(t, traffic.Config{Preset: traffic.PresetLambdaCanary10Percent5Minutes}))
	if res.Status != rollout.Succeeded {
		t.Fatalf("run: %v %v\n%s", res.Status, res.Err, h.timeline())
	}
	wantAlias(t, h, []aliasPoint{{0, "1", 0}, {0, "1", 10}, {5 * time.Minute, "2", 100}})
	if final := h.lambda.Alias("api", "live"); final.Version != "2" || len(final.Weights) != 0 {
		t.Errorf("final alias %+v; want version 2 with no routing configuration", final)
	}
	wantEvents := []string{
		"EventSucceeded Start", "EventSucceeded BeforeAllowTraffic", "EventSucceeded AllowTraffic", "EventSucceeded AfterAllowTraffic",
	}
	if got := h.events(rollout.EventSucceeded, rollout.EventFailed); !slices.Equal(got, wantEvents) {
		t.Errorf("events %v; want %v", got, wantEvents)
	}
	// The hooks ran in order around the shift: the first before any weight, the second after
	// the last.
	pre, post := h.lambda.Invocations("PreTraffic"), h.lambda.Invocations("PostTraffic")
	if len(pre) != 1 || len(post) != 1 || pre[0].At != at(0) || post[0].At != at(5*time.Minute) {
		t.Errorf("hook invocations pre %+v post %+v", pre, post)
	}
}

func TestLambda_Linear(t *testing.T) {
	h := newHarness(t)
	plan := h.lambdaPlan(lambdaSpec(nil))
	res := h.run(plan, shape(t, traffic.Config{Preset: traffic.PresetLambdaLinear10PercentEvery1Minute}))
	if res.Status != rollout.Succeeded {
		t.Fatalf("run: %v %v", res.Status, res.Err)
	}
	got := aliasTimeline(h)[1:]
	if len(got) != 10 {
		t.Fatalf("alias changed %d times: %+v; want 10", len(got), got)
	}
	for i, p := range got {
		if p.at != time.Duration(i)*time.Minute || p.target != (i+1)*10 {
			t.Errorf("change %d: %+v; want %d%% at %dm", i, p, (i+1)*10, i)
		}
	}
	if skipped := h.events(rollout.EventSkipped); !slices.Equal(skipped, []string{"EventSkipped BeforeAllowTraffic", "EventSkipped AfterAllowTraffic"}) {
		t.Errorf("skipped %v; want both hooks (the AppSpec names none)", skipped)
	}
}

func TestLambda_FailedHookRevertsTheAlias(t *testing.T) {
	h := newHarness(t)
	h.hookFunction("PostTraffic", api.HookFailed)
	plan := h.lambdaPlan(lambdaSpec(map[string]string{"AfterAllowTraffic": "PostTraffic"}))
	res := h.run(plan, shape(t, traffic.Config{Canary: &traffic.IncrementConfig{Percent: 20, Interval: "10m"}}))
	if res.Status != rollout.Failed || !res.Reverted || !strings.Contains(res.Err.Error(), "hook PostTraffic reported Failed") {
		t.Fatalf("run: %+v; want Failed and reverted, naming the hook\n%s", res, h.timeline())
	}
	wantAlias(t, h, []aliasPoint{{0, "1", 0}, {0, "1", 20}, {10 * time.Minute, "2", 100}, {10 * time.Minute, "1", 0}})
}

func TestLambda_APIErrorMidShiftReverts(t *testing.T) {
	h := newHarness(t)
	plan := h.lambdaPlan(lambdaSpec(nil))
	// The third weight change is refused; the revert (a fourth UpdateAlias) goes through.
	h.lambda.Fail("UpdateAlias", 2, awsfake.Fault{Status: 409, Code: "ResourceConflictException",
		Message: "The operation cannot be performed at this time. An update is in progress for resource: api"})
	res := h.run(plan, shape(t, traffic.Config{Linear: &traffic.IncrementConfig{Percent: 25, Interval: "1m"}}))
	if res.Status != rollout.Failed || !res.Reverted {
		t.Fatalf("run: %+v; want Failed and reverted", res)
	}
	if !strings.Contains(res.Err.Error(), "lambda:UpdateAlias: ResourceConflictException") {
		t.Errorf("error %q does not name the refused call", res.Err)
	}
	wantAlias(t, h, []aliasPoint{{0, "1", 0}, {0, "1", 25}, {time.Minute, "1", 50}, {2 * time.Minute, "1", 0}})
}

func TestLambda_AlarmStopsAndReverts(t *testing.T) {
	h := newHarness(t)
	plan := h.lambdaPlan(lambdaSpec(nil))
	h.runner.PollInterval = 30 * time.Second
	h.runner.Alarms = rollout.AlarmFunc(func(context.Context) (string, bool) {
		if h.clock.Since() >= 2*time.Minute {
			return "api-errors is ALARM", true
		}
		return "", false
	})
	res := h.run(plan, shape(t, traffic.Config{Canary: &traffic.IncrementConfig{Percent: 10, Interval: "15m"}}))
	if res.Status != rollout.Failed || !res.Reverted || !errors.Is(res.Err, rollout.ErrAlarm) || !strings.Contains(res.Err.Error(), "api-errors is ALARM") {
		t.Fatalf("run: %+v; want Failed by the alarm, reverted", res)
	}
	wantAlias(t, h, []aliasPoint{{0, "1", 0}, {0, "1", 10}, {2 * time.Minute, "1", 0}})
}

func TestLambda_WrongCurrentVersionChangesNothing(t *testing.T) {
	h := newHarness(t)
	spec := lambdaSpec(nil)
	plan := h.lambdaPlan(spec)
	h.lambda.SetAlias("api", "live", "3", nil)
	res := h.run(plan, traffic.AllAtOnce())
	if res.Status != rollout.Failed || res.Reverted || !errors.Is(res.Err, awslambda.ErrAliasMoved) {
		t.Fatalf("run: %+v; want Failed without a revert", res)
	}
	if got := h.lambda.CallsOf("UpdateAlias"); len(got) != 0 {
		t.Errorf("UpdateAlias was called %d times; an alias on another version must be left alone", len(got))
	}
}

func TestLambda_HTTPHook(t *testing.T) {
	h := newHarness(t)
	srv := awsfake.HTTPHook(t, api.HookStatus{Status: api.HookSucceeded})
	plan := h.lambdaPlan(lambdaSpec(map[string]string{"BeforeAllowTraffic": srv.URL + "/check"}))
	res := h.run(plan, traffic.AllAtOnce())
	if res.Status != rollout.Succeeded {
		t.Fatalf("run: %+v\n%s", res, h.timeline())
	}
	if got := srv.Payloads(); len(got) != 1 || got[0].DeploymentID != "d-1" || got[0].LifecycleEvent != "BeforeAllowTraffic" {
		t.Errorf("HTTP hook payloads %+v; want one for d-1's BeforeAllowTraffic", got)
	}
}
