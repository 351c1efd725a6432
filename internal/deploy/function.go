package deploy

import (
	"fmt"
	"time"

	"github.com/slipway-deploy/slipway/internal/appspec"
)

// Platform is the compute platform a deployment runs on, named as CodeDeploy names them.
type Platform int

const (
	// PlatformServer deployments install revisions on hosts through their agents.
	PlatformServer Platform = iota
	// PlatformLambda deployments move a Lambda alias from one function version to another.
	PlatformLambda
	// PlatformECS deployments replace an ECS service's task set behind a load balancer.
	PlatformECS
)

var platformNames = [...]string{"server", "lambda", "ecs"}

func (p Platform) String() string { return enumName(platformNames[:], int(p)) }

// ParsePlatform reads server, lambda or ecs.
func ParsePlatform(s string) (Platform, error) {
	i, err := parseEnum(platformNames[:], "compute platform", s)
	return Platform(i), err
}

// The events of lambda and ecs deployments that are not AppSpec hooks: steps the runtime
// carries out on AWS (RunStep).
const (
	// EventStart checks that the alias or service is where the deployment can start from.
	EventStart = "Start"
	// EventAllowTestTraffic points an ECS service's test listener at the replacement task set.
	EventAllowTestTraffic = "AllowTestTraffic"
	// EventTerminationWait makes the replacement task set primary, then waits before the
	// original is deleted (the deployment is Baking meanwhile; Continue ends the wait).
	EventTerminationWait = "TerminationWait"
	// EventTerminateOriginal deletes the original task set.
	EventTerminateOriginal = "TerminateOriginalTaskSet"
)

// DefaultHookTimeout is how long a lambda or ecs hook has to report its verdict, as CodeDeploy
// gives hooks one hour.
const DefaultHookTimeout = time.Hour

// FunctionOptions is what a lambda or ecs deployment knows of its target, fixed when it is
// created.
type FunctionOptions struct {
	// Target names the alias or service the deployment changes, as its only target's instance
	// id: "checkout-api:live" (function:alias), "prod/shop" (cluster/service).
	Target string
	// Original names what all traffic goes back to on a revert, for messages: "version 7",
	// "the original task set".
	Original string
	// HookTimeout bounds the wait for a hook's verdict; DefaultHookTimeout when 0.
	HookTimeout time.Duration
	// TerminationWait is how long an ECS deployment keeps the original task set once the
	// replacement is primary.
	TerminationWait time.Duration
	// Spec is the runtime's own description of the AWS resources and hooks (the group's AWS
	// settings and the AppSpec when the deployment was created). Decide carries it and never
	// reads it.
	Spec string
}

// FunctionEvents lists the lifecycle of a lambda or ecs deployment in order: CodeDeploy's
// events, with Start before them and, for ECS, the termination of the original task set after.
func FunctionEvents(p Platform) []string {
	switch p {
	case PlatformLambda:
		return []string{EventStart, appspec.EventBeforeAllowTraffic, appspec.EventAllowTraffic, appspec.EventAfterAllowTraffic}
	case PlatformECS:
		return []string{
			EventStart, appspec.EventBeforeInstall, appspec.EventInstall, appspec.EventAfterInstall,
			EventAllowTestTraffic, appspec.EventAfterAllowTestTraffic,
			appspec.EventBeforeAllowTraffic, appspec.EventAllowTraffic, appspec.EventAfterAllowTraffic,
			EventTerminationWait, EventTerminateOriginal,
		}
	}
	return nil
}

// HookEvent reports whether event of a lambda or ecs deployment runs an AppSpec hook.
func HookEvent(event string) bool {
	switch event {
	case appspec.EventBeforeInstall, appspec.EventAfterInstall, appspec.EventAfterAllowTestTraffic,
		appspec.EventBeforeAllowTraffic, appspec.EventAfterAllowTraffic:
		return true
	}
	return false
}

// InvokeHook asks the runtime to invoke the AppSpec's hook for Event (or to report the event
// Skipped when the AppSpec names none) and to report the hook's verdict as EventReported for
// the deployment's target. A restarted runtime finds it again with PendingFunctionWork.
type InvokeHook struct {
	Deployment string
	Instance   string
	Event      string
	Attempt    int
}

// RunStep asks the runtime to carry out a platform step (Start, Install, AllowTestTraffic,
// TerminationWait, TerminateOriginalTaskSet) and report it as EventReported. Every step can be
// carried out again with the same result, so a restarted runtime repeats what
// PendingFunctionWork lists.
type RunStep struct {
	Deployment string
	Instance   string
	Event      string
	Attempt    int
}

func (InvokeHook) isEffect() {}
func (RunStep) isEffect()    {}

// PendingFunctionWork is the hook or step a lambda or ecs deployment waits on, if any: what a
// restarted runtime must carry out (again). A hook whose execution the runtime already started
// must not be invoked twice: the runtime tells by the execution it recorded.
func PendingFunctionWork(d Deployment) (hook InvokeHook, step RunStep, ok bool) {
	if d.Platform == PlatformServer || d.Status != StatusInProgress || len(d.Targets) != 1 {
		return InvokeHook{}, RunStep{}, false
	}
	t := d.Targets[0]
	i := t.current()
	if i < 0 {
		return InvokeHook{}, RunStep{}, false
	}
	e := t.Events[i]
	switch {
	case HookEvent(e.Name):
		return InvokeHook{Deployment: d.ID, Instance: t.Instance, Event: e.Name, Attempt: e.Attempt}, RunStep{}, true
	case routerEvent(e.Name):
		return InvokeHook{}, RunStep{}, false
	}
	return InvokeHook{}, RunStep{Deployment: d.ID, Instance: t.Instance, Event: e.Name, Attempt: e.Attempt}, true
}

func (d Deployment) hookTimeout() time.Duration {
	if d.Function.HookTimeout > 0 {
		return d.Function.HookTimeout
	}
	return DefaultHookTimeout
}

// Validate checks what a lambda or ecs deployment needs before it starts.
func (o FunctionOptions) Validate() error {
	if o.Target == "" {
		return fmt.Errorf("%w: a lambda or ecs deployment needs its target", ErrInvalidConfig)
	}
	if o.HookTimeout < 0 || o.HookTimeout > MaxWait {
		return fmt.Errorf("%w: hook timeout %v; use up to %v", ErrInvalidConfig, o.HookTimeout, MaxWait)
	}
	if o.TerminationWait < 0 || o.TerminationWait > MaxWait {
		return fmt.Errorf("%w: termination wait %v; use 0 up to %v", ErrInvalidConfig, o.TerminationWait, MaxWait)
	}
	return nil
}
