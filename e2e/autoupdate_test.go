package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/slipway-deploy/slipway/internal/api"
)

// A host that joins a group with a current revision gets it without anyone deploying, and the
// hosts already on it are left alone (CodeDeploy's automatic update of new instances).
func TestAutoUpdate_NewHostGetsTheGroupsRevision(t *testing.T) {
	s, agents := setupFleet(t, 2, oneAtATime)
	v1 := deployAndWait(t, s, writeHookBundle(t, hookOpts{label: "v1"}))
	if v1.Status != "Succeeded" {
		t.Fatalf("first deployment %s, want Succeeded", v1.Status)
	}

	late := startAgent(t, s, "web-3", "role=web")
	auto := waitFor(t, 60*time.Second, "an auto-update deployment to finish", func() (api.Deployment, bool) {
		list, err := s.client().ListDeployments(context.Background(), api.DeploymentFilter{Application: "shop", Group: "prod"})
		if err != nil {
			return api.Deployment{}, false
		}
		for _, d := range list {
			if d.Creator == "autoUpdate" && finished(d.Status) {
				return d, true
			}
		}
		return api.Deployment{}, false
	})
	d := getDeployment(t, s, auto.ID)
	if d.Status != "Succeeded" || d.Revision != v1.Revision {
		t.Fatalf("auto-update: status %s, revision %s; want Succeeded with %s", d.Status, d.Revision, v1.Revision)
	}
	if got := hostOrder(d); len(got) != 1 || got[0] != "web-3" {
		t.Errorf("auto-update targets %v, want only the new host web-3", got)
	}
	if got := serves(t, late); got != "v1" {
		t.Errorf("web-3 serves %q, want v1", got)
	}
	for _, a := range agents {
		if runs := hookRuns(t, a, d.ID); len(runs) != 0 {
			t.Errorf("%s ran hooks %v for the auto-update; only the new host should", a.Name, runs)
		}
	}
}
