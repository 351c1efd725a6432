package orchestrator

import (
	"context"
	"fmt"
	"slices"
	"sort"

	"github.com/slipway-deploy/slipway/internal/deploy"
	"github.com/slipway-deploy/slipway/internal/store"
)

// Store is what the orchestrator needs of durable state (store.SQLite provides it).
type Store interface {
	// CreateDeployment stores a new deployment and admits it to its group's queue in one
	// transaction: AdmitStart means it is the group's active deployment now.
	CreateDeployment(ctx context.Context, d deploy.Deployment, refuseWhenBusy bool) (deploy.Deployment, deploy.Admission, error)
	GetDeployment(ctx context.Context, id string) (store.Versioned, error)
	ListDeployments(ctx context.Context, f store.DeploymentFilter) ([]store.Versioned, error)
	// ActiveDeployments lists the deployments that are not finished, with their versions.
	ActiveDeployments(ctx context.Context) ([]store.Versioned, error)
	// SaveDeployment stores d if the stored version is still version, with the effects Decide
	// returned; bookkeeping effects (instance health, group revision, queue release, rollback
	// creation) are applied in the same transaction.
	SaveDeployment(ctx context.Context, d deploy.Deployment, version int, effects []deploy.Effect) (store.Saved, error)
	GetGroup(ctx context.Context, application, name string) (store.Group, error)
	ListApplications(ctx context.Context) ([]store.Application, error)
	ListGroups(ctx context.Context, application string) ([]store.Group, error)
	GetConfig(ctx context.Context, name string) (deploy.Config, error)
	ListInstances(ctx context.Context, includeDeregistered bool) ([]store.Instance, error)
	InstanceHealth(ctx context.Context, application, group string) (map[string]deploy.Instance, error)
}

var _ Store = (*store.SQLite)(nil)

// startInput is the Start for a deployment: the group's instances as they are now, and for a
// blue/green deployment its replacement fleet (the group's tags with the replacement tags in
// place of the first tag group) apart from the fleet that serves (the group's tags).
func startInput(ctx context.Context, st Store, d deploy.Deployment) (deploy.Start, error) {
	if d.Platform != deploy.PlatformServer {
		return deploy.Start{}, nil // its target is the alias or service it names
	}
	g, err := st.GetGroup(ctx, d.Application, d.Group)
	if err != nil {
		return deploy.Start{}, fmt.Errorf("group %s/%s: %w", d.Application, d.Group, err)
	}
	if d.Type != deploy.BlueGreen {
		in, err := targets(ctx, st, g, g.Tags, d.OnlyInstances)
		return deploy.Start{Instances: in}, err
	}
	replacements, err := targets(ctx, st, g, g.ReplacementFleet(), nil)
	if err != nil {
		return deploy.Start{}, err
	}
	originals, err := targets(ctx, st, g, g.Tags, nil)
	return deploy.Start{Instances: replacements, Originals: originals}, err
}

// targets lists the group's instances as they are now that match tags (the group's, or its
// replacement fleet's), with the group's record of their health and revision (a host the group
// never deployed to is unhealthy with no revision, as CodeDeploy counts it).
// only, when not empty, limits the result to those instance ids.
func targets(ctx context.Context, st Store, g store.Group, tags deploy.TagSet, only []string) ([]deploy.Instance, error) {
	all, err := st.ListInstances(ctx, false)
	if err != nil {
		return nil, err
	}
	health, err := st.InstanceHealth(ctx, g.Application, g.Name)
	if err != nil {
		return nil, err
	}
	var out []deploy.Instance
	for _, in := range all {
		if in.Deregistered || !tags.Match(in.Tags) || len(only) > 0 && !slices.Contains(only, in.ID) {
			continue
		}
		rec, ok := health[in.ID]
		if !ok {
			rec = deploy.Instance{ID: in.ID, Health: deploy.Unhealthy}
		}
		rec.Name = in.Name
		out = append(out, rec)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}
