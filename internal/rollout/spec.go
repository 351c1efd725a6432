package rollout

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/slipway-deploy/slipway/internal/appspec"
	"github.com/slipway-deploy/slipway/internal/awsconfig"
	"github.com/slipway-deploy/slipway/internal/awsecs"
	"github.com/slipway-deploy/slipway/internal/awslambda"
	"github.com/slipway-deploy/slipway/internal/deploy"
	"github.com/slipway-deploy/slipway/internal/hook"
)

// ErrInvalid marks a deployment that cannot be carried out as its AppSpec and group say: the
// message says what to change.
var ErrInvalid = errors.New("invalid lambda or ecs deployment")

// Spec is everything a Driver needs of one deployment, fixed when it is created: deploy carries
// it as FunctionOptions.Spec without reading it.
type Spec struct {
	AWS awsconfig.Config `json:"aws,omitzero"`
	// Lambda is the AppSpec's function, alias and versions (lambda).
	Lambda *appspec.LambdaTarget `json:"lambda,omitempty"`
	// Service is the group's ECS service and load balancer, Task the AppSpec's TargetService
	// (ecs).
	Service *awsecs.Group      `json:"service,omitempty"`
	Task    *appspec.ECSTarget `json:"task,omitempty"`
	// Hooks maps a hook event to the AppSpec's Lambda function or URL.
	Hooks map[string]string `json:"hooks,omitempty"`
}

// NewFunction builds the FunctionOptions of a deployment of spec (a Lambda or ECS AppSpec) to a
// group with the given AWS settings (and ECS service, for ecs), after checking what AWS would
// refuse later. The hook timeout and termination wait are left to the caller.
func NewFunction(spec *appspec.Spec, cfg awsconfig.Config, service awsecs.Group) (deploy.FunctionOptions, error) {
	if err := cfg.Validate(); err != nil {
		return deploy.FunctionOptions{}, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	s := Spec{AWS: cfg, Hooks: spec.FunctionHooks}
	var out deploy.FunctionOptions
	switch {
	case spec.Platform == appspec.PlatformLambda && spec.Lambda != nil:
		if _, err := awslambda.New(nil, *spec.Lambda); err != nil {
			return deploy.FunctionOptions{}, fmt.Errorf("%w: %w", ErrInvalid, err)
		}
		l := *spec.Lambda
		s.Lambda = &l
		out.Target = l.Name + ":" + l.Alias
		out.Original = "version " + l.CurrentVersion
	case spec.Platform == appspec.PlatformECS && spec.ECS != nil:
		if err := service.Validate(); err != nil {
			return deploy.FunctionOptions{}, fmt.Errorf("%w: the group's ECS settings: %w", ErrInvalid, err)
		}
		if _, err := awsecs.New(nil, nil, service, *spec.ECS, "check"); err != nil {
			return deploy.FunctionOptions{}, fmt.Errorf("%w: %w", ErrInvalid, err)
		}
		task := *spec.ECS
		s.Service, s.Task = &service, &task
		out.Target = service.Cluster + "/" + service.Service
		out.Original = "the original task set"
		out.TerminationWait = service.Termination()
	default:
		return deploy.FunctionOptions{}, fmt.Errorf("%w: the AppSpec is for the %v platform, not lambda or ecs", ErrInvalid, spec.Platform)
	}
	for _, event := range slices.Sorted(maps.Keys(s.Hooks)) {
		if _, err := hook.ParseTarget(s.Hooks[event]); err != nil {
			return deploy.FunctionOptions{}, fmt.Errorf("%w: AppSpec hook %s: %w", ErrInvalid, event, err)
		}
	}
	b, err := json.Marshal(s)
	if err != nil {
		return deploy.FunctionOptions{}, fmt.Errorf("encode deployment spec: %w", err)
	}
	out.Spec = string(b)
	return out, nil
}

// Rollback turns f, the FunctionOptions of a deployment of an earlier revision, into those of a
// rollback from where current (the group's last successful deployment) left the alias or
// service. A Lambda AppSpec names the version the alias must be on at the start, which was true
// when that revision was deployed but is not now: the rollback moves the alias from current's
// TargetVersion back to the earlier revision's. An ECS deployment starts from whatever task set
// serves, so f is kept as it is.
func Rollback(f deploy.FunctionOptions, platform deploy.Platform, current deploy.Deployment) (deploy.FunctionOptions, error) {
	if platform != deploy.PlatformLambda {
		return f, nil
	}
	var s Spec
	if err := json.Unmarshal([]byte(f.Spec), &s); err != nil || s.Lambda == nil {
		return f, fmt.Errorf("%w: the revision's spec names no Lambda function", ErrInvalid)
	}
	cur, err := specOf(current)
	if err != nil {
		return f, err
	}
	if cur.Lambda.Name != s.Lambda.Name || cur.Lambda.Alias != s.Lambda.Alias {
		return f, fmt.Errorf("%w: the last good revision moved %s:%s and this one %s:%s; deploy an AppSpec for the alias instead",
			ErrInvalid, cur.Lambda.Name, cur.Lambda.Alias, s.Lambda.Name, s.Lambda.Alias)
	}
	if cur.Lambda.TargetVersion == s.Lambda.TargetVersion {
		return f, fmt.Errorf("%w: alias %s of %s is on version %s already", ErrInvalid, s.Lambda.Alias, s.Lambda.Name, s.Lambda.TargetVersion)
	}
	s.Lambda.CurrentVersion = cur.Lambda.TargetVersion
	b, err := json.Marshal(s)
	if err != nil {
		return f, fmt.Errorf("encode deployment spec: %w", err)
	}
	f.Spec, f.Original = string(b), "version "+s.Lambda.CurrentVersion
	return f, nil
}

// specOf reads a deployment's Spec.
func specOf(d deploy.Deployment) (Spec, error) {
	var s Spec
	if err := json.Unmarshal([]byte(d.Function.Spec), &s); err != nil {
		return Spec{}, fmt.Errorf("deployment %s: read its spec: %w", d.ID, err)
	}
	switch d.Platform {
	case deploy.PlatformLambda:
		if s.Lambda == nil {
			return Spec{}, fmt.Errorf("deployment %s: its spec names no Lambda function", d.ID)
		}
	case deploy.PlatformECS:
		if s.Service == nil || s.Task == nil {
			return Spec{}, fmt.Errorf("deployment %s: its spec names no ECS service", d.ID)
		}
	default:
		return Spec{}, fmt.Errorf("deployment %s is of the %v platform", d.ID, d.Platform)
	}
	return s, nil
}
