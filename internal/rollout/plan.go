package rollout

import (
	"context"
	"fmt"
	"time"

	"github.com/slipway-deploy/slipway/internal/appspec"
	"github.com/slipway-deploy/slipway/internal/awsecs"
	"github.com/slipway-deploy/slipway/internal/awslambda"
	"github.com/slipway-deploy/slipway/internal/hook"
)

// Names of the steps that are not AppSpec hook events.
const (
	EventStart            = "Start"
	EventAllowTestTraffic = "AllowTestTraffic"
	EventTerminationWait  = "TerminationWait"
	EventTerminateTaskSet = "TerminateOriginalTaskSet"
)

// DefaultSteadyTimeout bounds the wait for a replacement task set to become steady.
const DefaultSteadyTimeout = 30 * time.Minute

// hookStep is the step of a hook event: it invokes the AppSpec's hook, or is skipped when the
// AppSpec names none.
func hookStep(spec *appspec.Spec, event string) (Step, error) {
	st := Step{Event: event}
	name, ok := spec.FunctionHooks[event]
	if !ok {
		return st, nil
	}
	t, err := hook.ParseTarget(name)
	if err != nil {
		return Step{}, fmt.Errorf("AppSpec hook %s: %w", event, err)
	}
	st.Hook = &t
	return st, nil
}

// LambdaPlan is a Lambda deployment, in CodeDeploy's order: check the alias (Start),
// BeforeAllowTraffic, move the alias's traffic (AllowTraffic), AfterAllowTraffic.
func LambdaPlan(deployment string, spec *appspec.Spec, shift *awslambda.Shift) (Plan, error) {
	if spec.Platform != appspec.PlatformLambda {
		return Plan{}, fmt.Errorf("a Lambda deployment needs a Lambda AppSpec, not a %s one", spec.Platform)
	}
	before, err := hookStep(spec, appspec.EventBeforeAllowTraffic)
	if err != nil {
		return Plan{}, err
	}
	after, err := hookStep(spec, appspec.EventAfterAllowTraffic)
	if err != nil {
		return Plan{}, err
	}
	return Plan{
		Deployment: deployment,
		Steps: []Step{
			{Event: EventStart, Do: func(ctx context.Context) error { _, err := shift.Check(ctx); return err }},
			before,
			{Event: appspec.EventAllowTraffic, Traffic: shift.SetWeight, Changes: true},
			after,
		},
		Revert: shift.Revert,
	}, nil
}

// ECSOptions are the waits of an ECS deployment.
type ECSOptions struct {
	// SteadyTimeout bounds the wait for the replacement to become steady; 0 means
	// DefaultSteadyTimeout.
	SteadyTimeout time.Duration
	// TerminationWait is how long the original task set is kept once the replacement is
	// primary; a promotion ends it early.
	TerminationWait time.Duration
}

// ECSPlan is an ECS blue/green deployment, in CodeDeploy's order: read the service (Start),
// BeforeInstall, create the replacement task set and wait until it is steady (Install),
// AfterInstall, point the test listener at it (AllowTestTraffic), AfterAllowTestTraffic,
// BeforeAllowTraffic, move the production traffic (AllowTraffic), AfterAllowTraffic; then the
// replacement becomes primary (TerminationWait) and the original is deleted after the
// termination wait (TerminateOriginalTaskSet).
func ECSPlan(deployment string, spec *appspec.Spec, d *awsecs.Deployment, opt ECSOptions) (Plan, error) {
	if spec.Platform != appspec.PlatformECS {
		return Plan{}, fmt.Errorf("an ECS deployment needs an ECS AppSpec, not a %s one", spec.Platform)
	}
	hooks := map[string]Step{}
	for _, ev := range appspec.ECSHookEvents {
		st, err := hookStep(spec, ev)
		if err != nil {
			return Plan{}, err
		}
		hooks[ev] = st
	}
	allowTest := Step{Event: EventAllowTestTraffic}
	if d.HasTestListener() {
		allowTest.Do = d.AllowTestTraffic
	}
	steady := opt.SteadyTimeout
	if steady <= 0 {
		steady = DefaultSteadyTimeout
	}
	return Plan{
		Deployment: deployment,
		Steps: []Step{
			{Event: EventStart, Do: d.Prepare},
			hooks[appspec.EventBeforeInstall],
			{Event: appspec.EventInstall, Do: d.CreateReplacement, Changes: true, Timeout: steady,
				Poll: func(ctx context.Context) (bool, string, error) {
					ok, ts, err := d.Steady(ctx)
					return ok, fmt.Sprintf("replacement task set %s: %s, %d of %d tasks running", ts.ID, ts.Stability, ts.Running, ts.Desired), err
				}},
			hooks[appspec.EventAfterInstall],
			allowTest,
			hooks[appspec.EventAfterAllowTestTraffic],
			hooks[appspec.EventBeforeAllowTraffic],
			{Event: appspec.EventAllowTraffic, Traffic: d.SetWeight},
			hooks[appspec.EventAfterAllowTraffic],
			{Event: EventTerminationWait, Do: d.MakePrimary, Wait: opt.TerminationWait},
			{Event: EventTerminateTaskSet, Do: d.TerminateOriginal},
		},
		Revert: d.Revert,
	}, nil
}
