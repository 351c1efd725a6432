package awsecs_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/slipway-deploy/slipway/internal/appspec"
	"github.com/slipway-deploy/slipway/internal/awsconfig"
	"github.com/slipway-deploy/slipway/internal/awsecs"
	"github.com/slipway-deploy/slipway/internal/awsfake"
)

type world struct {
	*awsfake.BlueGreen
	group  awsecs.Group
	target appspec.ECSTarget
	ecsAPI awsecs.ECSAPI
	elbAPI awsecs.ELBAPI
}

// newWorld starts the stand-ins of a service ready for blue/green, and real SDK clients for
// them.
func newWorld(t *testing.T) *world {
	t.Helper()
	awsfake.Credentials(t)
	w := &world{BlueGreen: awsfake.NewBlueGreen(t, nil)}
	w.group = awsecs.Group{Cluster: awsfake.BlueGreenCluster, Service: awsfake.BlueGreenService,
		TargetGroups: [2]string{w.Blue, w.Green}, ProductionListener: w.Production, TestListener: w.Test}
	w.target = appspec.ECSTarget{TaskDefinition: awsfake.NextTaskDefinition, ContainerName: awsfake.BlueGreenContainer, ContainerPort: awsfake.BlueGreenPort}
	ecsClient, elbClient, err := awsecs.NewClients(context.Background(), awsconfig.Config{
		Region: "eu-west-1", Endpoints: map[string]string{awsconfig.ServiceECS: w.ECS.URL, awsconfig.ServiceELB: w.ELB.URL},
	})
	if err != nil {
		t.Fatal(err)
	}
	w.ecsAPI, w.elbAPI = ecsClient, elbClient
	return w
}

func (w *world) deployment(t *testing.T) *awsecs.Deployment {
	t.Helper()
	d, err := awsecs.New(w.ecsAPI, w.elbAPI, w.group, w.target, "d-1234")
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Prepare(context.Background()); err != nil {
		t.Fatal(err)
	}
	return d
}

func waitSteady(t *testing.T, d *awsecs.Deployment) {
	t.Helper()
	for range 10 {
		ok, _, err := d.Steady(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			return
		}
	}
	t.Fatal("the replacement did not become steady in 10 describes")
}

func TestDeployment_BlueGreen(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	d := w.deployment(t)
	if err := d.CreateReplacement(ctx); err != nil {
		t.Fatal(err)
	}
	waitSteady(t, d)
	if err := d.AllowTestTraffic(ctx); err != nil {
		t.Fatal(err)
	}
	if got := w.ELB.Listener(w.Test).Percent(w.Green); got != 100 {
		t.Errorf("test listener sends %d%% to green; want 100", got)
	}
	if got := w.ELB.Listener(w.Production).Percent(w.Blue); got != 100 {
		t.Errorf("production sends %d%% to blue before the shift; want 100", got)
	}
	for _, p := range []int{10, 100} {
		if err := d.SetWeight(ctx, p); err != nil {
			t.Fatal(err)
		}
		if got := w.ELB.Listener(w.Production).Percent(w.Green); got != p {
			t.Errorf("after SetWeight(%d) green gets %d%%", p, got)
		}
	}
	if err := d.MakePrimary(ctx); err != nil {
		t.Fatal(err)
	}
	if err := d.TerminateOriginal(ctx); err != nil {
		t.Fatal(err)
	}
	sets := w.TaskSets()
	if len(sets) != 1 {
		t.Fatalf("task sets after the deployment: %+v; want the replacement only", sets)
	}
	rep := sets[0]
	if rep.Status != "PRIMARY" || rep.TargetGroup != w.Green || rep.TaskDefinition != w.target.TaskDefinition ||
		rep.ExternalID != "d-1234" || rep.Scale != 100 || rep.LaunchType != "FARGATE" || strings.Join(rep.Subnets, ",") != "subnet-0aa" {
		t.Errorf("replacement %+v; want PRIMARY in green with the new task definition, the original's launch type and subnets", rep)
	}
	final := w.ELB.Listener(w.Production)
	if len(final.Weights) != 1 || final.Weights[w.Green] == 0 {
		t.Errorf("production listener ends forwarding to %v; want green alone", final.Weights)
	}
	state, err := d.State(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if state.Production[w.Green] != 100 || state.Replacement.Status != "PRIMARY" || state.Original.ID != "" {
		t.Errorf("State = %+v", state)
	}
}

func TestDeployment_RevertAfterPrimaryMoved(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	d := w.deployment(t)
	for _, step := range []func() error{
		func() error { return d.CreateReplacement(ctx) },
		func() error { return d.AllowTestTraffic(ctx) },
		func() error { return d.SetWeight(ctx, 100) },
		func() error { return d.MakePrimary(ctx) },
	} {
		if err := step(); err != nil {
			t.Fatal(err)
		}
	}
	if err := d.Revert(ctx); err != nil {
		t.Fatal(err)
	}
	sets := w.TaskSets()
	if len(sets) != 1 || sets[0].ID != w.Original || sets[0].Status != "PRIMARY" {
		t.Errorf("task sets after revert: %+v; want the original alone, primary", sets)
	}
	for name, l := range map[string]string{"production": w.Production, "test": w.Test} {
		if got := w.ELB.Listener(l).Weights; len(got) != 1 || got[w.Blue] == 0 {
			t.Errorf("%s listener forwards to %v after revert; want blue alone", name, got)
		}
	}
}

func TestDeployment_ResumeFindsTheReplacement(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	d := w.deployment(t)
	if err := d.CreateReplacement(ctx); err != nil {
		t.Fatal(err)
	}
	if err := d.SetWeight(ctx, 30); err != nil {
		t.Fatal(err)
	}
	again := w.deployment(t) // a restarted server
	if again.Percent() != 30 {
		t.Errorf("resumed deployment sees %d%% on green; want 30", again.Percent())
	}
	if err := again.CreateReplacement(ctx); err != nil {
		t.Fatal(err)
	}
	if n := len(w.TaskSets()); n != 2 {
		t.Errorf("%d task sets after a resumed CreateReplacement; want 2 (no second replacement)", n)
	}
}

func TestDeployment_ResumedTerminationIsDone(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	d := w.deployment(t)
	for _, step := range []func(context.Context) error{d.CreateReplacement, d.MakePrimary, d.TerminateOriginal} {
		if err := step(ctx); err != nil {
			t.Fatal(err)
		}
	}
	again := w.deployment(t) // a server restarted before it recorded the termination
	if err := again.TerminateOriginal(ctx); err != nil {
		t.Fatalf("TerminateOriginal again: %v; want nil (the original is gone)", err)
	}
	if n := len(w.TaskSets()); n != 1 {
		t.Errorf("%d task sets; want the replacement alone", n)
	}
}

func TestDeployment_PrepareRefuses(t *testing.T) {
	for _, tc := range []struct {
		name  string
		setup func(w *world)
		want  string
	}{
		{"ECS controller", func(w *world) {
			w.ECS.AddService(awsfake.ECSService{Cluster: "prod", Service: "rolling", Controller: "ECS", DesiredCount: 1})
			w.group.Service = "rolling"
		}, "deploymentController type EXTERNAL"},
		{"no primary task set", func(w *world) {
			w.ECS.AddService(awsfake.ECSService{Cluster: "prod", Service: "empty", DesiredCount: 1})
			w.group.Service = "empty"
		}, "has no primary task set"},
		{"missing service", func(w *world) { w.group.Service = "nope" }, "has no active service nope"},
		{"foreign target group", func(w *world) {
			w.group.TargetGroups = [2]string{w.ELB.AddTargetGroup("a"), w.ELB.AddTargetGroup("b")}
		}, "none of the group's target groups"},
		{"listener elsewhere", func(w *world) {
			w.group.ProductionListener = w.ELB.AddListener(443, w.Green)
		}, "production listener sends nothing to"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t)
			tc.setup(w)
			d, err := awsecs.New(w.ecsAPI, w.elbAPI, w.group, w.target, "d-1")
			if err != nil {
				t.Fatal(err)
			}
			err = d.Prepare(context.Background())
			if !errors.Is(err, awsecs.ErrNotReady) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Prepare: %v; want ErrNotReady saying %q", err, tc.want)
			}
		})
	}
}

func TestDeployment_RevertKeepsTheReplacementWhileTrafficCannotMoveBack(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	d := w.deployment(t)
	if err := d.CreateReplacement(ctx); err != nil {
		t.Fatal(err)
	}
	if err := d.SetWeight(ctx, 50); err != nil {
		t.Fatal(err)
	}
	w.ELB.Fail("ModifyListener", 0, awsfake.Fault{Status: 403, Code: "AccessDenied", Message: "not allowed", Times: -1})
	err := d.Revert(ctx)
	if err == nil || !strings.Contains(err.Error(), "allow elasticloadbalancing:ModifyListener") {
		t.Fatalf("Revert: %v; want the ModifyListener refusal with its IAM action", err)
	}
	if n := len(w.TaskSets()); n != 2 {
		t.Errorf("%d task sets; the replacement must stay while green still takes traffic", n)
	}
}

func TestGroup_Validate(t *testing.T) {
	tg := func(n string) string {
		return "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/" + n + "/1"
	}
	ok := awsecs.Group{Cluster: "c", Service: "s", TargetGroups: [2]string{tg("a"), tg("b")},
		ProductionListener: "arn:aws:elasticloadbalancing:eu-west-1:123456789012:listener/app/lb/1/2"}
	if err := ok.Validate(); err != nil {
		t.Fatalf("valid group: %v", err)
	}
	if ok.TerminationWait = "90m"; ok.Validate() != nil || ok.Termination() != 90*time.Minute {
		t.Errorf("termination_wait 90m: %v, %v", ok.Validate(), ok.Termination())
	}
	for _, tc := range []struct {
		change func(*awsecs.Group)
		want   string
	}{
		{func(g *awsecs.Group) { g.Cluster = "" }, "cluster is empty"},
		{func(g *awsecs.Group) { g.TargetGroups[1] = g.TargetGroups[0] }, "names " + tg("a") + " twice"},
		{func(g *awsecs.Group) { g.TargetGroups[1] = "green" }, "target_groups[1] \"green\" is not a target group ARN"},
		{func(g *awsecs.Group) { g.TestListener = g.ProductionListener }, "test_listener is the production listener"},
		{func(g *awsecs.Group) { g.TerminationWait = "72h" }, `termination_wait "72h"; use a duration from 0s to 48h0m0s`},
		{func(g *awsecs.Group) { g.TerminationWait = "1 hour" }, `termination_wait "1 hour"`},
	} {
		g := ok
		tc.change(&g)
		if err := g.Validate(); !errors.Is(err, awsecs.ErrInvalidGroup) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Validate: %v; want it to say %q", err, tc.want)
		}
	}
}
