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
