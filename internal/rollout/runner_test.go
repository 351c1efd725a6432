package rollout_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/slipway-deploy/slipway/internal/rollout"
	"github.com/slipway-deploy/slipway/internal/traffic"
)

func weightOf(p int) *int { return &p }

func TestRunner_PromotionGate(t *testing.T) {
	h := newHarness(t)
	plan := h.lambdaPlan(lambdaSpec(nil))
	h.runner.PollInterval = time.Minute
	h.runner.Alarms = rollout.AlarmFunc(func(context.Context) (string, bool) {
		// The gate holds through the polls of minutes 1 to 4; someone promotes at minute 5.
		if h.clock.Since() == 5*time.Minute {
			h.runner.Promote()
		}
		return "", false
	})
	gated := shape(t, traffic.Config{Steps: []traffic.StepConfig{
		{Weight: weightOf(20)}, {Pause: traffic.PauseUntilPromoted}, {Weight: weightOf(100)},
	}})
	res := h.run(plan, gated)
	if res.Status != rollout.Succeeded {
		t.Fatalf("run: %+v\n%s", res, h.timeline())
	}
	wantAlias(t, h, []aliasPoint{{0, "1", 0}, {0, "1", 20}, {5 * time.Minute, "2", 100}})
}

func TestRunner_StopBeforeAnyChangeRevertsNothing(t *testing.T) {
	h := newHarness(t)
	h.hookFunction("PreTraffic", "Succeeded")
	plan := h.lambdaPlan(lambdaSpec(map[string]string{"BeforeAllowTraffic": "PreTraffic"}))
	h.on = func(r rollout.Record) {
		if r.Kind == rollout.EventSucceeded && r.Event == "BeforeAllowTraffic" {
			h.runner.Stop("not today")
		}
	}
	res := h.run(plan, traffic.AllAtOnce())
	if res.Status != rollout.Stopped || res.Reverted {
		t.Fatalf("run: %+v; want Stopped with nothing to revert", res)
	}
	if n := len(h.lambda.CallsOf("UpdateAlias")); n != 0 {
		t.Errorf("UpdateAlias called %d times", n)
	}
}

func TestRunner_HookTimeout(t *testing.T) {
	h := newHarness(t)
	h.lambda.AddFunction("Silent", 1) // invoked, never reports
	plan := h.lambdaPlan(lambdaSpec(map[string]string{"BeforeAllowTraffic": "Silent"}))
	h.runner.HookTimeout = 10 * time.Minute
	res := h.run(plan, traffic.AllAtOnce())
	if res.Status != rollout.Failed || !strings.Contains(res.Err.Error(), "hook Silent did not report a status within 10m0s") {
		t.Fatalf("run: %+v", res)
	}
	if h.clock.Since() != 10*time.Minute {
		t.Errorf("the run failed at +%v; want +10m", h.clock.Since())
	}
}

func TestRunner_RefusesAnalysisItCannotRun(t *testing.T) {
	h := newHarness(t)
	plan := h.lambdaPlan(lambdaSpec(nil))
	s := shape(t, traffic.Config{Steps: []traffic.StepConfig{{Weight: weightOf(10)}, {Analysis: &traffic.AnalysisConfig{Name: "error-rate"}}}})
	res := h.run(plan, s)
	if res.Status != rollout.Failed || !errors.Is(res.Err, traffic.ErrInvalidShape) || !strings.Contains(res.Err.Error(), `analysis "error-rate"`) {
		t.Fatalf("run: %+v", res)
	}
	if n := len(h.lambda.Calls()); n != 0 {
		t.Errorf("%d AWS calls before the refusal; want none", n)
	}
}

func TestRunner_AnalysisFailureReverts(t *testing.T) {
	h := newHarness(t)
	plan := h.lambdaPlan(lambdaSpec(nil))
	h.runner.PollInterval = time.Minute
	h.runner.Analyze = func(context.Context, string) error {
		if h.clock.Since() >= 3*time.Minute {
			return errors.New("error rate 7% > 1%")
		}
		return nil
	}
	s := shape(t, traffic.Config{Steps: []traffic.StepConfig{{Weight: weightOf(10)}, {Analysis: &traffic.AnalysisConfig{Name: "error-rate", Duration: "10m"}}}})
	res := h.run(plan, s)
	if res.Status != rollout.Failed || !res.Reverted || !strings.Contains(res.Err.Error(), "analysis error-rate: error rate 7% > 1%") {
		t.Fatalf("run: %+v", res)
	}
	wantAlias(t, h, []aliasPoint{{0, "1", 0}, {0, "1", 10}, {3 * time.Minute, "1", 0}})
}

func TestRunner_CancelledContextInterruptsWithoutRevert(t *testing.T) {
	h := newHarness(t)
	plan := h.lambdaPlan(lambdaSpec(nil))
	ctx, cancel := context.WithCancel(context.Background())
	h.on = func(r rollout.Record) {
		if r.Kind == rollout.WeightSet {
			cancel()
		}
	}
	res := h.runner.Run(ctx, plan, shape(t, traffic.Config{Canary: &traffic.IncrementConfig{Percent: 10, Interval: "5m"}}))
	if res.Status != rollout.Interrupted || res.Reverted {
		t.Fatalf("run: %+v; want Interrupted, nothing reverted (a new runner resumes)", res)
	}
	if a := h.lambda.Alias("api", "live"); a.Percent("2") != 10 {
		t.Errorf("alias %+v; want it left at 10%%", a)
	}
}
