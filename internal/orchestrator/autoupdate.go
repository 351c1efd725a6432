package orchestrator

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/slipway-deploy/slipway/internal/deploy"
	"github.com/slipway-deploy/slipway/internal/store"
)

// CatchUp gives the group's current revision to the group's hosts that it never deployed to —
// hosts that registered, or changed tags, into the group — as CodeDeploy does for new instances.
// It starts an auto-update deployment limited to those hosts when the group is idle and has a
// revision; a busy group is caught up when its active deployment finishes.
//
// The auto-update uses AllAtOnce whatever the group's config: the new hosts serve nothing yet,
// so there is no health to protect, and a one-host HalfAtATime could never start.
func (o *Orchestrator) CatchUp(ctx context.Context, application, group string) error {
	o.catchUp.Lock()
	defer o.catchUp.Unlock()
	g, err := o.store.GetGroup(ctx, application, group)
	if err != nil {
		return fmt.Errorf("catch up %s/%s: %w", application, group, err)
	}
	if g.CurrentRevision == "" || g.Queue.Active != "" || len(g.Queue.Waiting) > 0 {
		return nil
	}
	newcomers, err := o.newcomers(ctx, g)
	if err != nil || len(newcomers) == 0 {
		return err
	}
	cfg, err := o.store.GetConfig(ctx, deploy.ConfigAllAtOnce)
	if err != nil {
		return err
	}
	d := deploy.Deployment{
		ID:                            store.NewDeploymentID(),
		Application:                   application,
		Group:                         group,
		Revision:                      g.CurrentRevision,
		Creator:                       deploy.CreatorAutoUpdate,
		Config:                        cfg,
		Description:                   fmt.Sprintf("bring %d new instance(s) to the group's revision", len(newcomers)),
		IgnoreApplicationStopFailures: g.IgnoreApplicationStopFailures,
		OnlyInstances:                 newcomers,
		Lease:                         o.Lease,
		CreateTime:                    o.now().UTC(),
	}
	if g.LastSuccessfulDeployment != "" {
		if last, err := o.store.GetDeployment(ctx, g.LastSuccessfulDeployment); err == nil {
			d.FileExistsBehavior = last.Deployment.FileExistsBehavior
		}
	}
	if _, err := o.Create(ctx, d, false); err != nil {
		return fmt.Errorf("catch up %s/%s: %w", application, group, err)
	}
	o.log.Info("auto-update started", "deployment_id", d.ID, "application", application, "group", group, "instances", len(newcomers))
	return nil
}

// newcomers are the group's members that the group has no record of.
func (o *Orchestrator) newcomers(ctx context.Context, g store.Group) ([]string, error) {
	members, err := targets(ctx, o.store, g, g.Tags, nil)
	if err != nil {
		return nil, err
	}
	known, err := o.store.InstanceHealth(ctx, g.Application, g.Name)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, m := range members {
		if _, ok := known[m.ID]; !ok {
			out = append(out, m.ID)
		}
	}
	slices.Sort(out)
	return out, nil
}

// InstanceJoined catches up every group whose tags an instance now matches. Call it after a
// host registers or its tags change.
func (o *Orchestrator) InstanceJoined(ctx context.Context, tags map[string]string) error {
	return o.catchUpGroups(ctx, func(g store.Group) bool { return g.Tags.Match(tags) })
}

// CatchUpAll catches up every group. The server calls it once at start: a host that registered
// just before a crash would otherwise wait for the group's next deployment.
func (o *Orchestrator) CatchUpAll(ctx context.Context) error {
	return o.catchUpGroups(ctx, func(store.Group) bool { return true })
}

func (o *Orchestrator) catchUpGroups(ctx context.Context, match func(store.Group) bool) error {
	apps, err := o.store.ListApplications(ctx)
	if err != nil {
		return err
	}
	var errs []error
	for _, a := range apps {
		groups, err := o.store.ListGroups(ctx, a.Name)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, g := range groups {
			if match(g) {
				errs = append(errs, o.CatchUp(ctx, a.Name, g.Name))
			}
		}
	}
	return errors.Join(errs...)
}
