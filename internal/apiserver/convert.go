package apiserver

import (
	"fmt"
	"strings"
	"time"

	"github.com/slipway-deploy/slipway/internal/api"
	"github.com/slipway-deploy/slipway/internal/deploy"
)

func sprintf(format string, args ...any) string { return fmt.Sprintf(format, args...) }

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	t = t.UTC()
	return &t
}

// deploymentJSON renders d; names maps instance ids to names and nil leaves out per-host detail.
func deploymentJSON(d deploy.Deployment, names map[string]string) api.Deployment {
	o := deploy.Summarize(d)
	out := api.Deployment{
		ID:               d.ID,
		Application:      d.Application,
		Group:            d.Group,
		Revision:         d.Revision,
		DeploymentConfig: d.Config.Name,
		Creator:          d.Creator.String(),
		Description:      d.Description,
		Status:           d.Status.String(),
		ErrorCode:        string(d.Error.Code),
		ErrorMessage:     d.Error.Message,
		RollbackOf:       d.RollbackOf,
		RolledBackBy:     d.RolledBackBy,
		Traffic:          deploymentTraffic(d),
		Overview: api.Overview{
			Pending: o.Pending, InProgress: o.InProgress, Succeeded: o.Succeeded, Failed: o.Failed,
			Skipped: o.Skipped, Unknown: o.Unknown, Ready: o.Ready,
		},
		CreateTime: d.CreateTime.UTC(),
		StartTime:  timePtr(d.StartTime),
		EndTime:    timePtr(d.EndTime),
	}
	if d.Type != deploy.InPlace {
		out.DeploymentType = d.Type.String()
	}
	if names == nil {
		return out
	}
	// The machine's messages name hosts by instance id; people know them by name.
	pairs := make([]string, 0, 2*len(names))
	for id, name := range names {
		pairs = append(pairs, id, name)
	}
	named := strings.NewReplacer(pairs...).Replace
	out.ErrorMessage = named(out.ErrorMessage)
	out.Instances = make([]api.DeploymentInstance, 0, len(d.Targets))
	for _, t := range d.Targets {
		name := names[t.Instance]
		if name == "" {
			name = t.Instance
		}
		di := api.DeploymentInstance{
			Instance:   name,
			InstanceID: t.Instance,
			Fleet:      fleetName(t.Fleet),
			Status:     t.Status.String(),
			Message:    named(t.Message),
			StartTime:  timePtr(t.StartTime),
			EndTime:    timePtr(t.EndTime),
			Events:     make([]api.LifecycleEvent, 0, len(t.Events)),
		}
		for _, e := range t.Events {
			le := api.LifecycleEvent{Name: e.Name, Status: e.Status.String(), StartTime: timePtr(e.StartTime), EndTime: timePtr(e.EndTime)}
			if e.Diagnostics != (deploy.Diagnostics{}) {
				le.Diagnostics = &api.Diagnostics{
					ErrorCode: e.Diagnostics.ErrorCode, ScriptName: e.Diagnostics.ScriptName,
					Message: named(e.Diagnostics.Message), LogTail: e.Diagnostics.LogTail,
				}
			}
			di.Events = append(di.Events, le)
		}
		out.Instances = append(out.Instances, di)
	}
	return out
}
