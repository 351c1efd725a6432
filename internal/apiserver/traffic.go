package apiserver

import (
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/gorilla/mux"

	"github.com/slipway-deploy/slipway/internal/api"
	"github.com/slipway-deploy/slipway/internal/deploy"
	"github.com/slipway-deploy/slipway/internal/store"
	"github.com/slipway-deploy/slipway/internal/traffic"
)

// Groups' traffic settings: deployment type, router, blue/green.

func routerJSON(r deploy.Router) *api.TrafficRouter {
	if !r.Enabled() {
		return nil
	}
	return &api.TrafficRouter{Type: r.Type, Address: r.Address, Backend: r.Backend, ServerName: r.ServerName}
}

func blueGreenJSON(g store.Group) *api.BlueGreen {
	if g.Type != deploy.BlueGreen {
		return nil
	}
	o := g.BlueGreen
	return &api.BlueGreen{
		ReplacementTags:  tagGroupsJSON(deploy.TagSet{g.ReplacementTags})[0],
		ReplacementFleet: tagGroupsJSON(g.ReplacementFleet()),
		Traffic:          shapeJSON(o.Traffic),
		ReadyWait:        api.Duration(o.ReadyWait),
		ReleaseCommand:   o.ReleaseCommand,
		ReleaseWait:      api.Duration(o.ReleaseWait),
	}
}

func shapeJSON(c traffic.Config) api.TrafficShape {
	out := api.TrafficShape{Preset: c.Preset, AllAtOnce: c.AllAtOnce}
	if c.Canary != nil {
		out.Canary = &api.TrafficIncrement{Percent: c.Canary.Percent, Interval: c.Canary.Interval}
	}
	if c.Linear != nil {
		out.Linear = &api.TrafficIncrement{Percent: c.Linear.Percent, Interval: c.Linear.Interval}
	}
	for _, st := range c.Steps {
		s := api.TrafficStep{Weight: st.Weight, Pause: st.Pause}
		if st.Analysis != nil {
			s.Analysis = &api.TrafficAnalysis{Name: st.Analysis.Name, Duration: st.Analysis.Duration}
		}
		out.Steps = append(out.Steps, s)
	}
	return out
}

func shapeConfig(in api.TrafficShape) traffic.Config {
	c := traffic.Config{Preset: in.Preset, AllAtOnce: in.AllAtOnce}
	if in.Canary != nil {
		c.Canary = &traffic.IncrementConfig{Percent: in.Canary.Percent, Interval: in.Canary.Interval}
	}
	if in.Linear != nil {
		c.Linear = &traffic.IncrementConfig{Percent: in.Linear.Percent, Interval: in.Linear.Interval}
	}
	for _, st := range in.Steps {
		s := traffic.StepConfig{Weight: st.Weight, Pause: st.Pause}
		if st.Analysis != nil {
			s.Analysis = &traffic.AnalysisConfig{Name: st.Analysis.Name, Duration: st.Analysis.Duration}
		}
		c.Steps = append(c.Steps, s)
	}
	return c
}

// trafficFromJSON reads a group request's deployment type, router and blue/green settings into g.
// Errors name the field to change.
func (s *Server) trafficFromJSON(in api.DeploymentGroup, g *store.Group) error {
	if in.DeploymentType != "" {
		t, err := deploy.ParseType(in.DeploymentType)
		if err != nil {
			return invalid("deployment_type", "%q: use IN_PLACE or BLUE_GREEN", in.DeploymentType)
		}
		g.Type = t
	}
	if r := in.TrafficRouter; r != nil {
		g.Router = deploy.Router{Type: r.Type, Address: r.Address, Backend: r.Backend, ServerName: r.ServerName}
		if err := g.Router.Validate(); err != nil {
			return invalid("traffic_router", "%v", err)
		}
	}
	bg := in.BlueGreen
	switch {
	case g.Type != deploy.BlueGreen && bg != nil:
		return invalid("blue_green", "blue_green is for BLUE_GREEN groups; set deployment_type BLUE_GREEN, or leave blue_green out")
	case g.Type != deploy.BlueGreen:
		return nil
	case !g.Router.Enabled():
		return invalid("traffic_router", "a BLUE_GREEN group moves traffic through a router; give its type (haproxy), address and backend")
	case bg == nil:
		return invalid("blue_green", "a BLUE_GREEN group needs blue_green: the replacement fleet's tags and a traffic shape")
	case len(bg.ReplacementTags) == 0:
		return invalid("blue_green.replacement_tags", "give the tag filters that select the replacement fleet in place of the first of tag_groups, e.g. [{\"key\":\"fleet\",\"value\":\"green\",\"type\":\"KEY_AND_VALUE\"}]")
	}
	tags, err := tagFiltersFromJSON("blue_green.replacement_tags", bg.ReplacementTags)
	if err != nil {
		return err
	}
	if err := (deploy.TagSet{tags}).Validate(); err != nil {
		return invalid("blue_green.replacement_tags", "%v", err)
	}
	g.ReplacementTags = tags
	g.BlueGreen = deploy.BlueGreenOptions{
		Traffic:        shapeConfig(bg.Traffic),
		ReadyWait:      time.Duration(bg.ReadyWait),
		ReleaseCommand: bg.ReleaseCommand,
		ReleaseWait:    time.Duration(bg.ReleaseWait),
	}
	if err := g.BlueGreen.Traffic.Validate(); err != nil {
		return invalid("blue_green.traffic", "%v", err)
	}
	if c := bg.ReleaseCommand; c != "" && !slices.Contains(s.cfg.ReleaseCommands, c) {
		have := "it has none; define them under release_commands in its configuration"
		if len(s.cfg.ReleaseCommands) > 0 {
			have = "it has " + strings.Join(s.cfg.ReleaseCommands, ", ")
		}
		return invalid("blue_green.release_command", "%q is not one of this server's release commands: %s", c, have)
	}
	if err := g.BlueGreen.Validate(); err != nil {
		return invalid("blue_green", "%v", err)
	}
	return nil
}

// Deployments' traffic.

func deploymentTraffic(d deploy.Deployment) *api.DeploymentTraffic {
	if d.Type != deploy.BlueGreen {
		return nil
	}
	s := d.Shift
	shape := d.Shape()
	out := &api.DeploymentTraffic{
		Phase: s.Phase.String(), Shape: shape.Name, Percent: s.Percent, Steps: len(shape.Steps),
		Waiting: waiting(d), Paused: s.Paused, Reverted: s.Reverting, RevertError: s.RevertError,
		RevertSkipped: s.RevertSkipped,
	}
	switch out.Waiting {
	case "pause", "analysis", "continue", "bake":
		out.WaitUntil = timePtr(s.Deadline)
	}
	switch {
	case s.Phase == deploy.PhaseAllowTraffic:
		out.Step = min(s.Step+1, out.Steps)
	case s.Phase > deploy.PhaseAllowTraffic:
		out.Step = out.Steps
	}
	for _, p := range s.Timeline {
		out.Timeline = append(out.Timeline, api.TrafficPoint{Time: p.Time.UTC(), Percent: p.Percent})
	}
	if r := s.Release; !r.StartTime.IsZero() {
		status := deploy.StatusInProgress.String()
		switch {
		case r.EndTime.IsZero():
		case r.OK:
			status = deploy.StatusSucceeded.String()
		default:
			status = deploy.StatusFailed.String()
		}
		out.Release = &api.OriginalsRelease{Command: d.BlueGreen.ReleaseCommand, Status: status, Message: r.Message,
			StartTime: timePtr(r.StartTime), EndTime: timePtr(r.EndTime)}
	}
	return out
}

// waiting says what a blue/green deployment waits for, in one word.
func waiting(d deploy.Deployment) string {
	s := d.Shift
	switch {
	case d.Status.Finished():
		return ""
	case s.Applying:
		return "router"
	case d.Status == deploy.StatusReady:
		return "continue"
	case s.Phase == deploy.PhaseBake:
		return "bake"
	case s.Phase == deploy.PhaseRelease:
		return "release"
	case s.Paused:
		return "promotion"
	case s.Phase != deploy.PhaseAllowTraffic || s.StepStart.IsZero():
		return ""
	}
	steps := d.Shape().Steps
	if s.Step >= len(steps) {
		return ""
	}
	switch steps[s.Step].Kind {
	case traffic.Pause:
		return "pause"
	case traffic.AwaitPromotion:
		return "promotion"
	case traffic.Analysis:
		return "analysis"
	}
	return ""
}

// Actions on a running deployment.

func (s *Server) handleDeploymentPromote(w http.ResponseWriter, r *http.Request) {
	s.act(w, r, api.ActionPromote)
}

func (s *Server) handleDeploymentPause(w http.ResponseWriter, r *http.Request) {
	s.act(w, r, api.ActionPause)
}

func (s *Server) handleDeploymentContinue(w http.ResponseWriter, r *http.Request) {
	s.act(w, r, api.ActionContinue)
}

// handleDeploymentAbort stops a deployment without a rollback deployment: a blue/green one sends
// all traffic back to its originals at once.
func (s *Server) handleDeploymentAbort(w http.ResponseWriter, r *http.Request) {
	s.act(w, r, api.ActionAbort)
}

func (s *Server) act(w http.ResponseWriter, r *http.Request, action string) {
	d, err := s.ActOnDeployment(r.Context(), mux.Vars(r)["id"], action, "")
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, d)
}

// fleetName is a target's fleet as the API names it.
func fleetName(f deploy.Fleet) string {
	if f == deploy.InPlaceFleet {
		return ""
	}
	return f.String()
}
