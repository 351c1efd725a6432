package awsecs

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	elb "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"

	"github.com/slipway-deploy/slipway/internal/awsconfig"
)

// ErrInvalidGroup marks ECS settings of a deployment group that fail validation.
var ErrInvalidGroup = errors.New("invalid ECS group settings")

// MaxTerminationWait bounds the wait before the original task set is deleted, as CodeDeploy
// bounds it (2 days).
const MaxTerminationWait = 48 * time.Hour

// Group is what a deployment group says about its ECS service and load balancer.
type Group struct {
	Cluster string `json:"cluster" yaml:"cluster"`
	Service string `json:"service" yaml:"service"`
	// TargetGroups are the two target groups the service's task sets alternate between; the
	// one the primary task set serves in is blue for a deployment, the other green.
	TargetGroups [2]string `json:"target_groups" yaml:"target_groups"`
	// ProductionListener is the ARN of the listener whose default action forwards the
	// production traffic.
	ProductionListener string `json:"production_listener" yaml:"production_listener"`
	// TestListener, optional, is the ARN of a listener that forwards to green before any
	// production traffic does (AllowTestTraffic), for the AfterAllowTestTraffic hook to test.
	TestListener string `json:"test_listener,omitempty" yaml:"test_listener,omitempty"`
	// TerminationWait is how long the original task set is kept after the traffic has moved,
	// for a quick revert, as a Go duration ("1h", "90m"); empty or "0s" deletes it at once.
	TerminationWait string `json:"termination_wait,omitempty" yaml:"termination_wait,omitempty"`
}

// Termination returns TerminationWait as a duration; 0 when it is empty or invalid (Validate
// reports an invalid one).
func (g Group) Termination() time.Duration {
	d, err := time.ParseDuration(g.TerminationWait)
	if err != nil {
		return 0
	}
	return d
}

// Validate reports the first setting to change.
func (g Group) Validate() error {
	for _, f := range []struct{ name, value string }{
		{"cluster", g.Cluster}, {"service", g.Service},
		{"target_groups[0]", g.TargetGroups[0]}, {"target_groups[1]", g.TargetGroups[1]},
		{"production_listener", g.ProductionListener},
	} {
		if strings.TrimSpace(f.value) == "" {
			return fmt.Errorf("%w: %s is empty", ErrInvalidGroup, f.name)
		}
	}
	for i, tg := range g.TargetGroups {
		if !strings.HasPrefix(tg, "arn:") || !strings.Contains(tg, ":targetgroup/") {
			return fmt.Errorf("%w: target_groups[%d] %q is not a target group ARN (arn:aws:elasticloadbalancing:...:targetgroup/...)", ErrInvalidGroup, i, tg)
		}
	}
	if g.TargetGroups[0] == g.TargetGroups[1] {
		return fmt.Errorf("%w: target_groups names %s twice; give the two target groups the task sets alternate between", ErrInvalidGroup, g.TargetGroups[0])
	}
	for _, f := range []struct{ name, value string }{{"production_listener", g.ProductionListener}, {"test_listener", g.TestListener}} {
		if f.value != "" && (!strings.HasPrefix(f.value, "arn:") || !strings.Contains(f.value, ":listener/")) {
			return fmt.Errorf("%w: %s %q is not a listener ARN (arn:aws:elasticloadbalancing:...:listener/...)", ErrInvalidGroup, f.name, f.value)
		}
	}
	if g.TestListener != "" && g.TestListener == g.ProductionListener {
		return fmt.Errorf("%w: test_listener is the production listener; use another listener (port) for test traffic, or none", ErrInvalidGroup)
	}
	if g.TerminationWait != "" {
		d, err := time.ParseDuration(g.TerminationWait)
		if err != nil || d < 0 || d > MaxTerminationWait {
			return fmt.Errorf("%w: termination_wait %q; use a duration from 0s to %v, such as 1h", ErrInvalidGroup, g.TerminationWait, MaxTerminationWait)
		}
	}
	return nil
}

// NewClients returns the ECS and ELBv2 clients with the group's AWS settings.
func NewClients(ctx context.Context, cfg awsconfig.Config) (*ecs.Client, *elb.Client, error) {
	awsCfg, err := cfg.Load(ctx)
	if err != nil {
		return nil, nil, err
	}
	ecsClient := ecs.NewFromConfig(awsCfg, func(o *ecs.Options) {
		if e := cfg.EndpointFor(awsconfig.ServiceECS); e != "" {
			o.BaseEndpoint = aws.String(e)
		}
	})
	elbClient := elb.NewFromConfig(awsCfg, func(o *elb.Options) {
		if e := cfg.EndpointFor(awsconfig.ServiceELB); e != "" {
			o.BaseEndpoint = aws.String(e)
		}
	})
	return ecsClient, elbClient, nil
}
