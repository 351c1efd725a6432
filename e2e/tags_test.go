package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/slipway-deploy/slipway/internal/api"
)

// A host restarted with another group's tags stays out of that group and keeps serving with its
// own; neither it nor a workflow may change its tags; the admin command moves it, and the group
// it joins installs its current revision there.
func TestTags_OnlyTheAdminMovesAHost(t *testing.T) {
	issuer := newActionsIssuer(t)
	s := startServerWithPublicURL(t, "--oidc-issuer", issuer.URL)
	startAgent(t, s, "web-1", "role=web")
	stage := startAgent(t, s, "stage-1", "role=staging")
	waitInstances(t, s, 2)
	mustCLI(t, s, "app", "create", "shop")
	mustCLI(t, s, "group", "create", "shop", "prod", "--tag", "role=web", "--config", allAtOnce)

	stage.p.stop(syscall.SIGTERM)
	stage.start(t, s, "role=web")
	waitFor(t, 30*time.Second, "stage-1 to log the refusal with the admin command", func() (bool, bool) {
		return true, strings.Contains(stage.p.out.String(), "slipway instance tag stage-1 --tag role=web")
	})
	v1 := deployAndWait(t, s, writeHookBundle(t, hookOpts{label: "v1"}))
	if got := hostOrder(v1); v1.Status != "Succeeded" || !slices.Equal(got, []string{"web-1"}) {
		t.Fatalf("v1: %s on %v; want Succeeded on web-1 only", v1.Status, got)
	}
	if stage.p.exited() {
		t.Fatalf("stage-1's agent stopped after the refusal; it should serve on:\n%s", stage.output())
	}
	if tags := instanceTags(t, s, "stage-1"); tags["role"] != "staging" || len(tags) != 1 {
		t.Fatalf("stage-1 has tags %v after restarting with role=web; want role=staging", tags)
	}

	// Only the admin token opens the admin call: not the host's own credential, nor a workflow.
	b, err := os.ReadFile(filepath.Join(stage.Root, "agent", "credential")) // as the README says
	if err != nil {
		t.Fatal(err)
	}
	var cred struct {
		Secret string `json:"credential"`
	}
	if err := json.Unmarshal(b, &cred); err != nil || cred.Secret == "" {
		t.Fatalf("credential file: %v", err)
	}
	issuer.mu.Lock()
	workflowToken := issuer.mint(s.URL)
	issuer.mu.Unlock()
	for name, tc := range map[string]struct {
		token  string
		status int
	}{"the agent's credential": {cred.Secret, http.StatusUnauthorized}, "a workflow token": {workflowToken, http.StatusForbidden}} {
		_, err := api.NewClient(s.URL, tc.token).SetInstanceTags(context.Background(), "stage-1", map[string]string{"role": "web"})
		if got := api.StatusOf(err); got != tc.status {
			t.Errorf("%s: SetInstanceTags answered %d (%v), want %d", name, got, err, tc.status)
		}
	}

	out := mustCLI(t, s, "instance", "tag", "stage-1", "--tag", "role=web")
	if !strings.Contains(out, "role=web") {
		t.Errorf("instance tag printed %q", out)
	}
	auto := waitFor(t, 60*time.Second, "an auto-update deployment to finish", func() (api.Deployment, bool) {
		list, err := s.client().ListDeployments(context.Background(), api.DeploymentFilter{Application: "shop", Group: "prod"})
		if err != nil {
			return api.Deployment{}, false
		}
		i := slices.IndexFunc(list, func(d api.Deployment) bool { return d.Creator == "autoUpdate" && finished(d.Status) })
		if i < 0 {
			return api.Deployment{}, false
		}
		return list[i], true
	})
	d := getDeployment(t, s, auto.ID)
	if got := hostOrder(d); d.Status != "Succeeded" || d.Revision != v1.Revision || !slices.Equal(got, []string{"stage-1"}) {
		t.Fatalf("auto-update: %s of %s on %v; want Succeeded of %s on stage-1 only", d.Status, d.Revision, got, v1.Revision)
	}
	if got := serves(t, stage); got != "v1" {
		t.Errorf("stage-1 serves %q after joining prod, want v1", got)
	}
}

// instanceTags returns the tags of the registered instance called name.
func instanceTags(t *testing.T, s *server, name string) map[string]string {
	t.Helper()
	list, err := s.client().ListInstances(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range list {
		if in.Name == name {
			return in.Tags
		}
	}
	t.Fatalf("no instance %s", name)
	return nil
}
