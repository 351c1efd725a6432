package awsecs

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	elb "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"

	"github.com/slipway-deploy/slipway/internal/appspec"
	"github.com/slipway-deploy/slipway/internal/awsconfig"
)

// ECSAPI is what a Deployment needs of the ECS service; *ecs.Client has it.
type ECSAPI interface {
	DescribeServices(ctx context.Context, in *ecs.DescribeServicesInput, opts ...func(*ecs.Options)) (*ecs.DescribeServicesOutput, error)
	CreateTaskSet(ctx context.Context, in *ecs.CreateTaskSetInput, opts ...func(*ecs.Options)) (*ecs.CreateTaskSetOutput, error)
	UpdateServicePrimaryTaskSet(ctx context.Context, in *ecs.UpdateServicePrimaryTaskSetInput, opts ...func(*ecs.Options)) (*ecs.UpdateServicePrimaryTaskSetOutput, error)
	DeleteTaskSet(ctx context.Context, in *ecs.DeleteTaskSetInput, opts ...func(*ecs.Options)) (*ecs.DeleteTaskSetOutput, error)
}

// ELBAPI is what a Deployment needs of Elastic Load Balancing v2; *elasticloadbalancingv2.Client
// has it.
type ELBAPI interface {
	DescribeListeners(ctx context.Context, in *elb.DescribeListenersInput, opts ...func(*elb.Options)) (*elb.DescribeListenersOutput, error)
	ModifyListener(ctx context.Context, in *elb.ModifyListenerInput, opts ...func(*elb.Options)) (*elb.ModifyListenerOutput, error)
}

var (
	// ErrInvalidTarget marks an AppSpec ECS resource that cannot be deployed as it is.
	ErrInvalidTarget = errors.New("invalid ECS target")
	// ErrNotReady marks a service or load balancer that is not in a state a blue/green
	// deployment can start from.
	ErrNotReady = errors.New("ECS service not ready for a blue/green deployment")
	// ErrOrder marks a step called before the one it depends on.
	ErrOrder = errors.New("ECS deployment step out of order")
)

// Deployment is one blue/green deployment of a service: the task sets and target groups it
// moves between, learnt by Prepare.
type Deployment struct {
	ecs    ECSAPI
	elb    ELBAPI
	group  Group
	target appspec.ECSTarget
	id     string

	original    *ecstypes.TaskSet
	replacement *ecstypes.TaskSet
	blue, green string // target group ARNs
	// listeners hold the default actions of the production and test listeners as Prepare
	// read them; changes replace the forward action and keep the others.
	listeners map[string][]elbtypes.Action
	// primaryMoved says the replacement was made primary.
	primaryMoved bool
}

// New returns a deployment of the AppSpec's TargetService into the group's service. id (the
// deployment's id) becomes the replacement task set's external id, so a resumed deployment
// finds it again.
func New(ecsAPI ECSAPI, elbAPI ELBAPI, g Group, t appspec.ECSTarget, id string) (*Deployment, error) {
	if err := g.Validate(); err != nil {
		return nil, err
	}
	switch {
	case t.TaskDefinition == "":
		return nil, fmt.Errorf("%w: TaskDefinition is empty; give the ARN of the task definition revision to deploy", ErrInvalidTarget)
	case t.ContainerName == "" || t.ContainerPort == 0:
		return nil, fmt.Errorf("%w: LoadBalancerInfo needs ContainerName and ContainerPort of the container that takes the traffic", ErrInvalidTarget)
	case id == "":
		return nil, fmt.Errorf("%w: empty deployment id", ErrInvalidTarget)
	}
	return &Deployment{ecs: ecsAPI, elb: elbAPI, group: g, target: t, id: id, listeners: map[string][]elbtypes.Action{}}, nil
}

// State is the service and its listeners as a deployment sees them.
type State struct {
	Original, Replacement TaskSet
	// Blue and Green are the target groups of the original and the replacement.
	Blue, Green string
	// Production and Test map each target group a listener forwards to to its share of the
	// traffic, 0-100; Test is nil without a test listener.
	Production, Test map[string]int
}

// TaskSet is what a deployment tells of a task set.
type TaskSet struct {
	ID, ARN        string
	Status         string // PRIMARY, ACTIVE, DRAINING
	TaskDefinition string
	Stability      string // STEADY_STATE, STABILIZING
	Desired        int
	Running        int
}

func taskSetOf(ts *ecstypes.TaskSet) TaskSet {
	if ts == nil {
		return TaskSet{}
	}
	return TaskSet{
		ID: aws.ToString(ts.Id), ARN: aws.ToString(ts.TaskSetArn), Status: aws.ToString(ts.Status),
		TaskDefinition: aws.ToString(ts.TaskDefinition), Stability: string(ts.StabilityStatus),
		Desired: int(ts.ComputedDesiredCount), Running: int(ts.RunningCount),
	}
}

// Prepare reads the service and its listeners and checks that the deployment can start: the
// service uses the EXTERNAL deployment controller and has a primary task set serving in one of
// the group's target groups (blue), and the production listener forwards to blue (or to blue
// and green, when a deployment is resumed). A replacement task set this deployment created
// before is found again.
func (d *Deployment) Prepare(ctx context.Context) error {
	svc, err := d.describeService(ctx)
	if err != nil {
		return err
	}
	if c := svc.DeploymentController; c == nil || c.Type != ecstypes.DeploymentControllerTypeExternal {
		kind := "ECS"
		if c != nil {
			kind = string(c.Type)
		}
		return fmt.Errorf("%w: service %s uses the %s deployment controller; Slipway drives task sets, which needs a service created with deploymentController type EXTERNAL", ErrNotReady, d.group.Service, kind)
	}
	d.original, d.replacement = nil, nil
	for i := range svc.TaskSets {
		ts := &svc.TaskSets[i]
		switch {
		case aws.ToString(ts.Status) == "PRIMARY" && aws.ToString(ts.ExternalId) == d.id:
			// A resumed deployment that had already made its replacement primary.
			d.replacement, d.primaryMoved = ts, true
		case aws.ToString(ts.Status) == "PRIMARY":
			d.original = ts
		case aws.ToString(ts.ExternalId) == d.id && aws.ToString(ts.Status) != "DRAINING":
			d.replacement = ts
		}
	}
	if d.primaryMoved {
		for i := range svc.TaskSets {
			if ts := &svc.TaskSets[i]; ts != d.replacement && aws.ToString(ts.Status) == "ACTIVE" {
				d.original = ts
			}
		}
	}
	if d.original == nil && d.primaryMoved {
		// The original is deleted already: only TerminateOriginal, done, has anything to say.
		return nil
	}
	if d.original == nil {
		return fmt.Errorf("%w: service %s has no primary task set to replace; create one (aws ecs create-task-set, then update-service-primary-task-set) serving in %s", ErrNotReady, d.group.Service, d.group.TargetGroups[0])
	}
	if err := d.pickTargetGroups(); err != nil {
		return err
	}
	return d.readListeners(ctx)
}

func (d *Deployment) describeService(ctx context.Context) (*ecstypes.Service, error) {
	out, err := d.ecs.DescribeServices(ctx, &ecs.DescribeServicesInput{Cluster: aws.String(d.group.Cluster), Services: []string{d.group.Service}})
	if err != nil {
		return nil, fmt.Errorf("describe service %s: %w", d.group.Service, awsconfig.Call("ecs:DescribeServices", err))
	}
	if len(out.Services) != 1 || aws.ToString(out.Services[0].Status) == "INACTIVE" {
		return nil, fmt.Errorf("%w: cluster %s has no active service %s; check the group's cluster and service", ErrNotReady, d.group.Cluster, d.group.Service)
	}
	return &out.Services[0], nil
}

// pickTargetGroups names blue the target group the original serves in, green the other.
func (d *Deployment) pickTargetGroups() error {
	var tgs []string
	for _, lb := range d.original.LoadBalancers {
		tgs = append(tgs, aws.ToString(lb.TargetGroupArn))
	}
	for i, tg := range d.group.TargetGroups {
		if slices.Contains(tgs, tg) {
			d.blue, d.green = tg, d.group.TargetGroups[1-i]
			return nil
		}
	}
	return fmt.Errorf("%w: the primary task set %s serves in %s, none of the group's target groups %s and %s", ErrNotReady,
		aws.ToString(d.original.Id), orNone(tgs), d.group.TargetGroups[0], d.group.TargetGroups[1])
}

func orNone(s []string) string {
	if len(s) == 0 {
		return "no target group"
	}
	return strings.Join(s, ", ")
}

func (d *Deployment) readListeners(ctx context.Context) error {
	arns := []string{d.group.ProductionListener}
	if d.group.TestListener != "" {
		arns = append(arns, d.group.TestListener)
	}
	out, err := d.elb.DescribeListeners(ctx, &elb.DescribeListenersInput{ListenerArns: arns})
	if err != nil {
		return fmt.Errorf("describe listeners: %w", awsconfig.Call("elasticloadbalancing:DescribeListeners", err))
	}
	for _, l := range out.Listeners {
		d.listeners[aws.ToString(l.ListenerArn)] = l.DefaultActions
	}
	for _, arn := range arns {
		actions, ok := d.listeners[arn]
		if !ok {
			return fmt.Errorf("%w: listener %s was not found", ErrNotReady, arn)
		}
		if forwardIndex(actions) < 0 {
			return fmt.Errorf("%w: listener %s has no forward action in its default actions; Slipway shifts traffic by weighing a forward action's target groups", ErrNotReady, arn)
		}
	}
	prod := weights(d.listeners[d.group.ProductionListener])
	for tg, w := range prod {
		if w > 0 && tg != d.blue && tg != d.green {
			return fmt.Errorf("%w: production listener forwards %d%% to %s, which is not one of the group's target groups", ErrNotReady, w, tg)
		}
	}
	if prod[d.blue] == 0 && d.replacement == nil {
		return fmt.Errorf("%w: production listener sends nothing to %s, where the primary task set serves; point it at %s before deploying", ErrNotReady, d.blue, d.blue)
	}
	return nil
}

func forwardIndex(actions []elbtypes.Action) int {
	return slices.IndexFunc(actions, func(a elbtypes.Action) bool { return a.Type == elbtypes.ActionTypeEnumForward })
}

// weights returns the share (0-100) of each target group of the forward action.
func weights(actions []elbtypes.Action) map[string]int {
	i := forwardIndex(actions)
	if i < 0 {
		return nil
	}
	a := actions[i]
	out := map[string]int{}
	if a.ForwardConfig == nil || len(a.ForwardConfig.TargetGroups) == 0 {
		out[aws.ToString(a.TargetGroupArn)] = 100
		return out
	}
	total := 0
	for _, tg := range a.ForwardConfig.TargetGroups {
		total += int(aws.ToInt32(tg.Weight))
	}
	for _, tg := range a.ForwardConfig.TargetGroups {
		w := int(aws.ToInt32(tg.Weight))
		if total == 0 {
			out[aws.ToString(tg.TargetGroupArn)] = 0
			continue
		}
		out[aws.ToString(tg.TargetGroupArn)] = (w*100 + total/2) / total
	}
	return out
}

// Percent is green's share of the production traffic now, as Prepare read it or the last
// change left it.
func (d *Deployment) Percent() int {
	return weights(d.listeners[d.group.ProductionListener])[d.green]
}

// clientToken derives CreateTaskSet's idempotency token (36 characters at most) from the
// deployment's id.
func (d *Deployment) clientToken() string {
	sum := sha256.Sum256([]byte(d.id))
	return hex.EncodeToString(sum[:])[:32]
}

// CreateReplacement creates the replacement task set at full scale in green, with the
// AppSpec's task definition; network configuration, platform version and capacity providers
// come from the AppSpec, else from the original.
func (d *Deployment) CreateReplacement(ctx context.Context) error {
	if d.original == nil {
		return fmt.Errorf("%w: CreateReplacement before Prepare", ErrOrder)
	}
	if d.replacement != nil {
		return nil
	}
	t := d.target
	in := &ecs.CreateTaskSetInput{
		Cluster:        aws.String(d.group.Cluster),
		Service:        aws.String(d.group.Service),
		TaskDefinition: aws.String(t.TaskDefinition),
		ExternalId:     aws.String(d.id),
		ClientToken:    aws.String(d.clientToken()),
		LoadBalancers: []ecstypes.LoadBalancer{{
			TargetGroupArn: aws.String(d.green),
			ContainerName:  aws.String(t.ContainerName),
			ContainerPort:  aws.Int32(int32Of(t.ContainerPort)),
		}},
		Scale:                    &ecstypes.Scale{Unit: ecstypes.ScaleUnitPercent, Value: 100},
		NetworkConfiguration:     d.original.NetworkConfiguration,
		PlatformVersion:          d.original.PlatformVersion,
		CapacityProviderStrategy: d.original.CapacityProviderStrategy,
		LaunchType:               d.original.LaunchType,
	}
	if len(t.Subnets) > 0 {
		in.NetworkConfiguration = &ecstypes.NetworkConfiguration{AwsvpcConfiguration: &ecstypes.AwsVpcConfiguration{
			Subnets: t.Subnets, SecurityGroups: t.SecurityGroups, AssignPublicIp: ecstypes.AssignPublicIp(t.AssignPublicIP),
		}}
	}
	if t.PlatformVersion != "" {
		in.PlatformVersion = aws.String(t.PlatformVersion)
	}
	if len(t.CapacityProviders) > 0 {
		in.CapacityProviderStrategy = nil
		for _, cp := range t.CapacityProviders {
			in.CapacityProviderStrategy = append(in.CapacityProviderStrategy, ecstypes.CapacityProviderStrategyItem{
				CapacityProvider: aws.String(cp.Provider), Base: int32Of(cp.Base), Weight: int32Of(cp.Weight),
			})
		}
	}
	if len(in.CapacityProviderStrategy) > 0 {
		in.LaunchType = "" // ECS takes one or the other
	}
	out, err := d.ecs.CreateTaskSet(ctx, in)
	if err != nil {
		return fmt.Errorf("create the replacement task set of %s: %w", t.TaskDefinition, awsconfig.Call("ecs:CreateTaskSet", err))
	}
	d.replacement = out.TaskSet
	return nil
}

// Steady reads the replacement task set and reports whether it has reached a steady state
// with all its tasks running, and how far it is. It reads the service (as CodeDeploy does), so
// the deployment needs no permission beyond ecs:DescribeServices to watch it.
func (d *Deployment) Steady(ctx context.Context) (bool, TaskSet, error) {
	if d.replacement == nil {
		return false, TaskSet{}, fmt.Errorf("%w: Steady before CreateReplacement", ErrOrder)
	}
	svc, err := d.describeService(ctx)
	if err != nil {
		return false, TaskSet{}, err
	}
	i := slices.IndexFunc(svc.TaskSets, func(ts ecstypes.TaskSet) bool { return aws.ToString(ts.TaskSetArn) == d.replacementArn() })
	if i < 0 {
		return false, TaskSet{}, fmt.Errorf("%w: the replacement task set %s is gone", ErrNotReady, aws.ToString(d.replacement.Id))
	}
	d.replacement = &svc.TaskSets[i]
	ts := taskSetOf(d.replacement)
	return d.replacement.StabilityStatus == ecstypes.StabilityStatusSteadyState && ts.Running >= ts.Desired, ts, nil
}

// HasTestListener reports whether the group has a test listener.
func (d *Deployment) HasTestListener() bool { return d.group.TestListener != "" }

// AllowTestTraffic points the test listener at green alone; without a test listener it does
// nothing.
func (d *Deployment) AllowTestTraffic(ctx context.Context) error {
	if d.group.TestListener == "" {
		return nil
	}
	if d.replacement == nil {
		return fmt.Errorf("%w: AllowTestTraffic before CreateReplacement", ErrOrder)
	}
	return d.forward(ctx, d.group.TestListener, map[string]int{d.green: 100})
}

// SetWeight sends percent of the production traffic to green and the rest to blue.
func (d *Deployment) SetWeight(ctx context.Context, percent int) error {
	if percent < 0 || percent > 100 {
		return fmt.Errorf("%w: weight %d%%; use 0 to 100", ErrInvalidTarget, percent)
	}
	if d.replacement == nil {
		return fmt.Errorf("%w: SetWeight before CreateReplacement", ErrOrder)
	}
	return d.forward(ctx, d.group.ProductionListener, map[string]int{d.blue: 100 - percent, d.green: percent})
}

// forward sets the listener's forward action to the given weights (out of 100); target groups
// with weight 0 are left out, so a finished shift forwards to one target group only.
func (d *Deployment) forward(ctx context.Context, listener string, w map[string]int) error {
	actions := slices.Clone(d.listeners[listener])
	i := forwardIndex(actions)
	if i < 0 {
		return fmt.Errorf("%w: listener %s has not been read; call Prepare first", ErrOrder, listener)
	}
	fwd := actions[i]
	cfg := &elbtypes.ForwardActionConfig{}
	if fwd.ForwardConfig != nil {
		cfg.TargetGroupStickinessConfig = fwd.ForwardConfig.TargetGroupStickinessConfig
	}
	for _, tg := range []string{d.blue, d.green} {
		if w[tg] > 0 {
			cfg.TargetGroups = append(cfg.TargetGroups, elbtypes.TargetGroupTuple{TargetGroupArn: aws.String(tg), Weight: aws.Int32(int32Of(w[tg]))})
		}
	}
	actions[i] = elbtypes.Action{Type: elbtypes.ActionTypeEnumForward, ForwardConfig: cfg, Order: fwd.Order}
	if _, err := d.elb.ModifyListener(ctx, &elb.ModifyListenerInput{ListenerArn: aws.String(listener), DefaultActions: actions}); err != nil {
		return fmt.Errorf("set the weights of listener %s: %w", listener, awsconfig.Call("elasticloadbalancing:ModifyListener", err))
	}
	d.listeners[listener] = actions
	return nil
}

// MakePrimary makes the replacement the service's primary task set.
func (d *Deployment) MakePrimary(ctx context.Context) error {
	if d.replacement == nil {
		return fmt.Errorf("%w: MakePrimary before CreateReplacement", ErrOrder)
	}
	if err := d.setPrimary(ctx, d.replacement); err != nil {
		return err
	}
	d.primaryMoved = true
	return nil
}

func (d *Deployment) setPrimary(ctx context.Context, ts *ecstypes.TaskSet) error {
	_, err := d.ecs.UpdateServicePrimaryTaskSet(ctx, &ecs.UpdateServicePrimaryTaskSetInput{
		Cluster: aws.String(d.group.Cluster), Service: aws.String(d.group.Service), PrimaryTaskSet: ts.TaskSetArn,
	})
	if err != nil {
		return fmt.Errorf("make task set %s primary: %w", aws.ToString(ts.Id), awsconfig.Call("ecs:UpdateServicePrimaryTaskSet", err))
	}
	return nil
}

// TerminateOriginal deletes the original task set. Its tasks stop; there is no revert after.
func (d *Deployment) TerminateOriginal(ctx context.Context) error {
	if !d.primaryMoved {
		return fmt.Errorf("%w: TerminateOriginal before MakePrimary would delete the serving task set", ErrOrder)
	}
	if d.original == nil {
		return nil // deleted before: the step is done
	}
	return d.delete(ctx, d.original, "original")
}

func (d *Deployment) delete(ctx context.Context, ts *ecstypes.TaskSet, which string) error {
	_, err := d.ecs.DeleteTaskSet(ctx, &ecs.DeleteTaskSetInput{
		Cluster: aws.String(d.group.Cluster), Service: aws.String(d.group.Service),
		TaskSet: ts.TaskSetArn, Force: aws.Bool(true), // no traffic reaches it any more
	})
	var gone *ecstypes.TaskSetNotFoundException
	if errors.As(err, &gone) {
		return nil // deleted before: the step is done
	}
	if err != nil {
		return fmt.Errorf("delete the %s task set %s: %w", which, aws.ToString(ts.Id), awsconfig.Call("ecs:DeleteTaskSet", err))
	}
	return nil
}

// Revert sends all production (and test) traffic back to blue, makes the original primary again
// if it no longer is, and deletes the replacement. While the traffic cannot be moved back the
// replacement is kept: deleting it would leave green's share of requests with no task.
func (d *Deployment) Revert(ctx context.Context) error {
	if d.original == nil {
		return nil // Prepare did not get far enough to change anything
	}
	var errs []error
	for _, l := range []string{d.group.ProductionListener, d.group.TestListener} {
		if l == "" || forwardIndex(d.listeners[l]) < 0 {
			continue
		}
		if err := d.forward(ctx, l, map[string]int{d.blue: 100}); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("revert: %w", errors.Join(errs...))
	}
	if d.primaryMoved {
		if err := d.setPrimary(ctx, d.original); err != nil {
			return fmt.Errorf("revert: %w", err)
		}
		d.primaryMoved = false
	}
	if d.replacement != nil {
		if err := d.delete(ctx, d.replacement, "replacement"); err != nil {
			return fmt.Errorf("revert: %w", err)
		}
		d.replacement = nil
	}
	return nil
}

// State reads the service's task sets and the listeners' weights as they are now.
func (d *Deployment) State(ctx context.Context) (State, error) {
	if d.original == nil {
		return State{}, fmt.Errorf("%w: State before Prepare", ErrOrder)
	}
	svc, err := d.describeService(ctx)
	if err != nil {
		return State{}, err
	}
	s := State{Blue: d.blue, Green: d.green}
	for i := range svc.TaskSets {
		ts := &svc.TaskSets[i]
		switch aws.ToString(ts.TaskSetArn) {
		case aws.ToString(d.original.TaskSetArn):
			s.Original = taskSetOf(ts)
		case d.replacementArn():
			s.Replacement = taskSetOf(ts)
		}
	}
	if err := d.readListeners(ctx); err != nil && !errors.Is(err, ErrNotReady) {
		return State{}, err
	}
	s.Production = weights(d.listeners[d.group.ProductionListener])
	if d.group.TestListener != "" {
		s.Test = weights(d.listeners[d.group.TestListener])
	}
	return s, nil
}

// int32Of converts a value the AppSpec or a percentage bounds well inside int32.
func int32Of(n int) int32 {
	if n < math.MinInt32 || n > math.MaxInt32 {
		panic(fmt.Sprintf("awsecs: %d does not fit an int32", n))
	}
	return int32(n)
}

func (d *Deployment) replacementArn() string {
	if d.replacement == nil {
		return ""
	}
	return aws.ToString(d.replacement.TaskSetArn)
}
