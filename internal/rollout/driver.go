package rollout

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/slipway-deploy/slipway/internal/appspec"
	"github.com/slipway-deploy/slipway/internal/awsecs"
	"github.com/slipway-deploy/slipway/internal/awslambda"
	"github.com/slipway-deploy/slipway/internal/deploy"
	"github.com/slipway-deploy/slipway/internal/hook"
)

// Defaults of a Driver.
const (
	// DefaultPollInterval is how often a replacement task set is read while it stabilises.
	DefaultPollInterval = 15 * time.Second
	// DefaultSteadyTimeout bounds the wait for a replacement task set to become steady.
	DefaultSteadyTimeout = 30 * time.Minute
)

// Driver carries out the AWS side of lambda and ecs deployments. Its zero value is not usable:
// set Board and StatusBase.
type Driver struct {
	// Board records the hooks' executions; StatusBase is the server's public URL, where hooks
	// report (api.HookStatusPath is appended).
	Board      *hook.Board
	StatusBase string
	// HTTP posts to HTTP hooks; nil uses hook.NewCaller's default.
	HTTP *http.Client
	// PollInterval and SteadyTimeout pace and bound the wait for a replacement task set
	// (DefaultPollInterval, DefaultSteadyTimeout when 0).
	PollInterval  time.Duration
	SteadyTimeout time.Duration
}

// Outcome is how a step or a hook ended, as the deployment's event records it.
type Outcome struct {
	Status  deploy.EventStatus
	Message string
}

func failed(err error) Outcome { return Outcome{Status: deploy.EventFailed, Message: err.Error()} }

func succeeded(format string, args ...any) Outcome {
	return Outcome{Status: deploy.EventSucceeded, Message: fmt.Sprintf(format, args...)}
}

// Step carries out a RunStep of deployment d. ending is asked while a step waits (for a task
// set to become steady): once it says true, the step gives up, so a stop's revert is not held
// up for the whole steady timeout.
func (r *Driver) Step(ctx context.Context, d deploy.Deployment, event string, ending func() bool) Outcome {
	spec, err := specOf(d)
	if err != nil {
		return failed(err)
	}
	if d.Platform == deploy.PlatformLambda {
		if event != deploy.EventStart {
			return failed(fmt.Errorf("a lambda deployment has no step %s", event))
		}
		shift, err := r.shift(ctx, spec)
		if err != nil {
			return failed(err)
		}
		p, err := shift.Check(ctx)
		if err != nil {
			return failed(err)
		}
		t := spec.Lambda
		return succeeded("alias %s of %s on version %s, %d%% on version %s", t.Alias, t.Name, t.CurrentVersion, 100-p, t.TargetVersion)
	}
	dep, err := r.service(ctx, d, spec)
	if err != nil {
		return failed(err)
	}
	switch event {
	case deploy.EventStart:
		return succeeded("service %s: %d%% of the production traffic on the replacement", d.Function.Target, dep.Percent())
	case appspec.EventInstall:
		if err := dep.CreateReplacement(ctx); err != nil {
			return failed(err)
		}
		return r.steady(ctx, dep, ending)
	case deploy.EventAllowTestTraffic:
		if !dep.HasTestListener() {
			return Outcome{Status: deploy.EventSkipped, Message: "the group has no test listener"}
		}
		if err := dep.AllowTestTraffic(ctx); err != nil {
			return failed(err)
		}
		return succeeded("the test listener forwards to the replacement task set")
	case deploy.EventTerminationWait:
		if err := dep.MakePrimary(ctx); err != nil {
			return failed(err)
		}
		return succeeded("the replacement task set is primary")
	case deploy.EventTerminateOriginal:
		if err := dep.TerminateOriginal(ctx); err != nil {
			return failed(err)
		}
		return succeeded("the original task set is deleted")
	}
	return failed(fmt.Errorf("an ecs deployment has no step %s", event))
}

// steady waits until the replacement task set is steady with all its tasks running.
func (r *Driver) steady(ctx context.Context, dep *awsecs.Deployment, ending func() bool) Outcome {
	timeout := r.SteadyTimeout
	if timeout <= 0 {
		timeout = DefaultSteadyTimeout
	}
	interval := r.PollInterval
	if interval <= 0 {
		interval = DefaultPollInterval
	}
	deadline := time.Now().Add(timeout)
	for {
		ok, ts, err := dep.Steady(ctx)
		if err != nil {
			return failed(err)
		}
		if ok {
			return succeeded("replacement task set %s steady, %d of %d tasks running", ts.ID, ts.Running, ts.Desired)
		}
		switch {
		case ending():
			return failed(fmt.Errorf("the deployment ended while replacement task set %s stabilised", ts.ID))
		case time.Now().After(deadline):
			return failed(fmt.Errorf("replacement task set %s did not become steady within %v (%s, %d of %d tasks running); see its service's events", ts.ID, timeout, ts.Stability, ts.Running, ts.Desired))
		}
		select {
		case <-ctx.Done():
			return failed(ctx.Err())
		case <-time.After(interval):
		}
	}
}

// Traffic carries out a SetTraffic of deployment d: the share of the traffic on the new version
// or task set, or the revert of everything the deployment changed. note says what was done.
func (r *Driver) Traffic(ctx context.Context, d deploy.Deployment, c deploy.SetTraffic) (note string, err error) {
	spec, err := specOf(d)
	if err != nil {
		return "", err
	}
	if d.Platform == deploy.PlatformLambda {
		shift, err := r.shift(ctx, spec)
		if err != nil {
			return "", err
		}
		t := spec.Lambda
		if c.Revert {
			if err := shift.Revert(ctx); err != nil {
				return "", err
			}
			return fmt.Sprintf("alias %s of %s back on version %s alone", t.Alias, t.Name, t.CurrentVersion), nil
		}
		if _, err := shift.Move(ctx, c.Percent); err != nil {
			return "", err
		}
		return fmt.Sprintf("alias %s of %s: %d%% on version %s", t.Alias, t.Name, c.Percent, t.TargetVersion), nil
	}
	dep, err := r.service(ctx, d, spec)
	if err != nil {
		return "", err
	}
	if c.Revert {
		if err := dep.Revert(ctx); err != nil {
			return "", err
		}
		return "listeners back on the original task set, which is primary; replacement deleted", nil
	}
	if err := dep.SetWeight(ctx, c.Percent); err != nil {
		return "", err
	}
	return fmt.Sprintf("production listener: %d%% to the replacement task set", c.Percent), nil
}

// Hook invokes the AppSpec's hook for event (attempt of the deployment's event). done says the
// outcome is known now: the AppSpec names no hook (Skipped), or a verdict recorded before a
// restart. Otherwise the verdict comes through the board's OnSettle, including a failure to
// invoke the hook. A hook invoked before a restart is not invoked again.
func (r *Driver) Hook(ctx context.Context, d deploy.Deployment, event string, attempt int) (out Outcome, done bool) {
	spec, err := specOf(d)
	if err != nil {
		return failed(err), true
	}
	name, ok := spec.Hooks[event]
	if !ok {
		return Outcome{Status: deploy.EventSkipped, Message: "the AppSpec names no hook for " + event}, true
	}
	target, err := hook.ParseTarget(name)
	if err != nil {
		return failed(err), true
	}
	prev, err := r.Board.Find(ctx, d.ID, event, attempt)
	switch {
	case err == nil && prev.Status != hook.Pending:
		return Verdict(prev), true
	case err == nil && prev.Invoked:
		return Outcome{}, false // invoked before a restart: its verdict is still to come
	case err != nil && !errors.Is(err, hook.ErrUnknownExecution):
		return failed(err), true
	}
	var fn hook.LambdaAPI
	if target.Function != "" {
		client, err := awslambda.NewClient(ctx, spec.AWS)
		if err != nil {
			return failed(fmt.Errorf("hook %s: %w", target, err)), true
		}
		fn = client
	}
	caller := hook.NewCaller(r.Board, r.StatusBase, fn, r.HTTP)
	if _, err := caller.Start(ctx, d.ID, event, attempt, target); err != nil {
		return failed(fmt.Errorf("hook %s: %w", target, err)), true
	}
	return Outcome{}, false
}

// Verdict is what a settled hook execution means for its deployment's event.
func Verdict(e hook.Execution) Outcome {
	if e.Status == hook.Succeeded {
		return Outcome{Status: deploy.EventSucceeded, Message: e.Message}
	}
	msg := e.Message
	if msg == "" {
		msg = "the hook reported Failed"
	}
	return Outcome{Status: deploy.EventFailed, Message: msg}
}

func (r *Driver) shift(ctx context.Context, spec Spec) (*awslambda.Shift, error) {
	client, err := awslambda.NewClient(ctx, spec.AWS)
	if err != nil {
		return nil, err
	}
	return awslambda.New(client, *spec.Lambda)
}

// service reads the ECS service and its listeners as they are now.
func (r *Driver) service(ctx context.Context, d deploy.Deployment, spec Spec) (*awsecs.Deployment, error) {
	ecsClient, elbClient, err := awsecs.NewClients(ctx, spec.AWS)
	if err != nil {
		return nil, err
	}
	dep, err := awsecs.New(ecsClient, elbClient, *spec.Service, *spec.Task, d.ID)
	if err != nil {
		return nil, err
	}
	if err := dep.Prepare(ctx); err != nil {
		return nil, err
	}
	return dep, nil
}
