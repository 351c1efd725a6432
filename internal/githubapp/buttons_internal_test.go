package githubapp

import (
	"strings"
	"testing"

	"github.com/slipway-deploy/slipway/internal/api"
)

// A running blue/green deployment's check run shows the buttons of its phase, within GitHub's
// limits (three buttons; label and identifier 20 characters, description 40).
func TestCheckActions_BlueGreenPhases(t *testing.T) {
	for _, tc := range []struct {
		name    string
		status  string
		traffic api.DeploymentTraffic
		want    string
	}{
		{"installing", "InProgress", api.DeploymentTraffic{Phase: "Install"}, "abort"},
		{"ready", "Ready", api.DeploymentTraffic{Phase: "Ready", Waiting: "continue"}, "continue abort"},
		{"moving", "InProgress", api.DeploymentTraffic{Phase: "AllowTraffic", Waiting: "router"}, "pause abort"},
		{"timed pause", "InProgress", api.DeploymentTraffic{Phase: "AllowTraffic", Waiting: "pause"}, "promote pause abort"},
		{"analysis", "InProgress", api.DeploymentTraffic{Phase: "AllowTraffic", Waiting: "analysis"}, "promote pause abort"},
		{"until promoted", "InProgress", api.DeploymentTraffic{Phase: "AllowTraffic", Waiting: "promotion"}, "promote abort"},
		{"paused", "InProgress", api.DeploymentTraffic{Phase: "AllowTraffic", Paused: true}, "promote abort"},
		{"originals draining", "InProgress", api.DeploymentTraffic{Phase: "BlockTraffic"}, "abort"},
		{"baking", "Baking", api.DeploymentTraffic{Phase: "Bake", Waiting: "bake"}, "continue abort"},
		{"releasing", "Baking", api.DeploymentTraffic{Phase: "Release", Waiting: "release"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr := tc.traffic
			buttons := checkActions(api.Deployment{Status: tc.status, DeploymentType: "BLUE_GREEN", Traffic: &tr}, false)
			var ids []string
			for _, b := range buttons {
				ids = append(ids, b.Identifier)
				if b.Label == "" || len(b.Label) > 20 || b.Description == "" || len(b.Description) > 40 || len(b.Identifier) > 20 {
					t.Errorf("button %+v is outside GitHub's limits", *b)
				}
			}
			if got := strings.Join(ids, " "); got != tc.want || len(buttons) > maxActions {
				t.Errorf("buttons %q, want %q", got, tc.want)
			}
		})
	}
	// Finished, it is the in-place buttons' rule again.
	done := checkActions(api.Deployment{Status: "Stopped", DeploymentType: "BLUE_GREEN", Traffic: &api.DeploymentTraffic{}}, false)
	if len(done) != 1 || done[0].Identifier != actionRollback {
		t.Errorf("stopped blue/green deployment: %d buttons", len(done))
	}
}
