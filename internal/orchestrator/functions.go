package orchestrator

import (
	"context"
	"sync"

	"github.com/slipway-deploy/slipway/internal/deploy"
	"github.com/slipway-deploy/slipway/internal/hook"
	"github.com/slipway-deploy/slipway/internal/rollout"
)

// Functions carries out the AWS side of lambda and ecs deployments (*rollout.Driver provides
// it): their steps, traffic changes and hooks.
type Functions interface {
	Step(ctx context.Context, d deploy.Deployment, event string, ending func() bool) rollout.Outcome
	Traffic(ctx context.Context, d deploy.Deployment, c deploy.SetTraffic) (note string, err error)
	// Hook invokes a hook; done says its outcome is known now, else it comes through
	// HookSettled.
	Hook(ctx context.Context, d deploy.Deployment, event string, attempt int) (out rollout.Outcome, done bool)
}

var _ Functions = (*rollout.Driver)(nil)

// fnJob is one piece of a lambda or ecs deployment's AWS work.
type fnJob struct {
	deployment string
	hook       *deploy.InvokeHook
	step       *deploy.RunStep
	traffic    *deploy.SetTraffic
}

// fnQueues runs each lambda or ecs deployment's AWS work in order, on one goroutine per
// deployment while it has work: a revert asked while a step runs comes after that step.
type fnQueues struct {
	mu     sync.Mutex
	queues map[string][]fnJob
}

// enqueueFunction adds work for a deployment, starting its worker if it has none. It does not
// block: act calls it with the orchestrator's lock held.
func (o *Orchestrator) enqueueFunction(j fnJob) {
	o.fns.mu.Lock()
	defer o.fns.mu.Unlock()
	if o.fns.queues == nil {
		o.fns.queues = map[string][]fnJob{}
	}
	q, running := o.fns.queues[j.deployment]
	o.fns.queues[j.deployment] = append(q, j)
	if !running {
		o.bg.Go(func(ctx context.Context) { o.workFunction(ctx, j.deployment) })
	}
}

func (o *Orchestrator) workFunction(ctx context.Context, id string) {
	for {
		o.fns.mu.Lock()
		q := o.fns.queues[id]
		if len(q) == 0 || ctx.Err() != nil {
			// Stopping leaves the rest pending in the deployment: Load finds it again.
			delete(o.fns.queues, id)
			o.fns.mu.Unlock()
			return
		}
		j := q[0]
		o.fns.queues[id] = q[1:]
		o.fns.mu.Unlock()
		o.carryOutFunction(ctx, j)
	}
}

func (o *Orchestrator) carryOutFunction(ctx context.Context, j fnJob) {
	d, ok := o.activeDeployment(j.deployment)
	if !ok {
		return
	}
	if o.Functions == nil {
		o.report(ctx, d, j, rollout.Outcome{Status: deploy.EventFailed, Message: "this server drives no lambda or ecs deployments"})
		return
	}
	switch {
	case j.traffic != nil:
		note, err := o.Functions.Traffic(ctx, d, *j.traffic)
		if ctx.Err() != nil {
			return
		}
		var in deploy.Input = deploy.TrafficApplied{Change: j.traffic.Change}
		if err != nil {
			o.log.Warn("traffic change failed", "deployment_id", d.ID, "error", err)
			in = deploy.TrafficFailed{Change: j.traffic.Change, Message: err.Error()}
		} else {
			o.log.Info("traffic changed", "deployment_id", d.ID, "change", j.traffic.Change, "note", note)
		}
		if _, err := o.Apply(ctx, d.ID, in); err != nil && !ignorable(err) {
			o.log.Error("report traffic change", "deployment_id", d.ID, "error", err)
		}
	case j.step != nil:
		out := o.Functions.Step(ctx, d, j.step.Event, func() bool { return o.ending(d.ID) })
		if ctx.Err() != nil {
			return
		}
		o.report(ctx, d, j, out)
	case j.hook != nil:
		out, done := o.Functions.Hook(ctx, d, j.hook.Event, j.hook.Attempt)
		if done && ctx.Err() == nil {
			o.report(ctx, d, j, out)
		}
	}
}

// report feeds a step's or hook's outcome to its deployment as the target's event result.
func (o *Orchestrator) report(ctx context.Context, d deploy.Deployment, j fnJob, out rollout.Outcome) {
	in := deploy.EventReported{Status: out.Status, Diagnostics: deploy.Diagnostics{Message: out.Message}}
	switch {
	case j.step != nil:
		in.Instance, in.Event, in.Attempt = j.step.Instance, j.step.Event, j.step.Attempt
	case j.hook != nil:
		in.Instance, in.Event, in.Attempt = j.hook.Instance, j.hook.Event, j.hook.Attempt
	default:
		return
	}
	if out.Status == deploy.EventFailed {
		o.log.Warn("lifecycle event failed", "deployment_id", d.ID, "event", in.Event, "error", out.Message)
	}
	if _, err := o.Apply(ctx, d.ID, in); err != nil && !ignorable(err) {
		o.log.Error("report lifecycle event", "deployment_id", d.ID, "event", in.Event, "error", err)
	}
}

// HookSettled feeds a hook's verdict to its deployment (the hook board's OnSettle).
func (o *Orchestrator) HookSettled(e hook.Execution) {
	d, ok := o.activeDeployment(e.Deployment)
	if !ok || len(d.Targets) != 1 {
		return
	}
	j := fnJob{deployment: d.ID, hook: &deploy.InvokeHook{Deployment: d.ID, Instance: d.Targets[0].Instance, Event: e.Event, Attempt: e.Attempt}}
	o.report(context.Background(), d, j, rollout.Verdict(e))
}

func (o *Orchestrator) activeDeployment(id string) (deploy.Deployment, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	e, ok := o.active[id]
	if !ok {
		return deploy.Deployment{}, false
	}
	return e.d, true
}

// ending reports whether a deployment is winding down (stopped or failed), or gone.
func (o *Orchestrator) ending(id string) bool {
	d, ok := o.activeDeployment(id)
	return !ok || d.Stop.Requested || d.Shift.Failure.Code != ""
}

// functionWork turns a lambda or ecs deployment's effect into work, or reports false.
func functionWork(eff deploy.Effect) (fnJob, bool) {
	switch eff := eff.(type) {
	case deploy.InvokeHook:
		return fnJob{deployment: eff.Deployment, hook: &eff}, true
	case deploy.RunStep:
		return fnJob{deployment: eff.Deployment, step: &eff}, true
	case deploy.SetTraffic:
		if eff.Platform != deploy.PlatformServer {
			return fnJob{deployment: eff.Deployment, traffic: &eff}, true
		}
	}
	return fnJob{}, false
}

// resumeFunction gives a restarted server's queue what a lambda or ecs deployment waits on.
func (o *Orchestrator) resumeFunction(d deploy.Deployment) {
	if d.Platform == deploy.PlatformServer {
		return
	}
	if h, s, ok := deploy.PendingFunctionWork(d); ok {
		if h.Event != "" {
			o.enqueueFunction(fnJob{deployment: d.ID, hook: &h})
		} else {
			o.enqueueFunction(fnJob{deployment: d.ID, step: &s})
		}
	}
	for _, c := range deploy.PendingTraffic(d) {
		o.enqueueFunction(fnJob{deployment: d.ID, traffic: &c})
	}
	o.log.Info("resumed deployment", "deployment_id", d.ID, "platform", d.Platform.String(), "phase", d.Shift.Phase.String(), "percent", d.Shift.Percent)
}
