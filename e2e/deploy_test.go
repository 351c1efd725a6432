package e2e

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/slipway-deploy/slipway/internal/api"
)

var hookEvents = []string{"ApplicationStop", "BeforeInstall", "AfterInstall", "ApplicationStart", "ValidateService"}

// setupFleet starts a server and n agents tagged role=web, and creates application shop with group
// prod using config.
func setupFleet(t *testing.T, n int, config string, groupFlags ...string) (*server, []*agent) {
	t.Helper()
	s := startServer(t)
	return s, setupGroup(t, s, n, config, groupFlags...)
}

// setupGroup starts n agents tagged role=web against s, and creates application shop with group
// prod using config.
func setupGroup(t *testing.T, s *server, n int, config string, groupFlags ...string) []*agent {
	t.Helper()
	var agents []*agent
	for i := 1; i <= n; i++ {
		agents = append(agents, startAgent(t, s, fmt.Sprintf("web-%d", i), "role=web"))
	}
	waitInstances(t, s, n)
	mustCLI(t, s, "app", "create", "shop")
	args := append([]string{"group", "create", "shop", "prod", "--tag", "role=web", "--config", config}, groupFlags...)
	mustCLI(t, s, args...)
	return agents
}

func deployID(t *testing.T, stdout string) string {
	t.Helper()
	id := strings.TrimSpace(stdout)
	if !strings.HasPrefix(id, "d-") || strings.ContainsAny(id, " \n") {
		t.Fatalf("deploy printed %q, want a deployment id", stdout)
	}
	return id
}

func TestDeploy_SucceedsOnEveryHostThenRollsBackABrokenRevision(t *testing.T) {
	s, agents := setupFleet(t, 3, "CodeDeployDefault.OneAtATime", "--auto-rollback")

	good := writeBundle(t, "v1", nil, hookEvents...)
	id := deployID(t, mustCLI(t, s, "deploy", "--app", "shop", "--group", "prod", "--bundle", good, "--wait"))
	d := getDeployment(t, s, id)
	if d.Status != "Succeeded" || d.Overview.Succeeded != 3 {
		t.Fatalf("deployment %s: status %s, overview %+v; want Succeeded on 3 hosts", id, d.Status, d.Overview)
	}
	for _, inst := range d.Instances {
		if len(inst.Events) != 7 {
			t.Errorf("%s has %d events, want the 7 in-place events", inst.Instance, len(inst.Events))
		}
		for _, ev := range inst.Events {
			want := "Succeeded"
			if ev.Name == "ApplicationStop" {
				want = "Skipped" // first deployment: no previous revision to stop
			}
			if ev.Status != want {
				t.Errorf("%s %s: %s, want %s", inst.Instance, ev.Name, ev.Status, want)
			}
		}
	}
	for _, a := range agents {
		if got := readFile(t, filepath.Join(a.Prefix, "srv/app/index.html")); got != "revision v1\n" {
			t.Errorf("%s serves %q, want revision v1", a.Name, got)
		}
	}

	bad := writeBundle(t, "v2", map[string]bool{"ValidateService": true}, hookEvents...)
	out, errOut, code := cli(t, s, "deploy", "--app", "shop", "--group", "prod", "--bundle", bad, "--wait")
	if code != 1 {
		t.Fatalf("deploy of a broken revision: exit %d, want 1\n%s\n%s", code, out, errOut)
	}
	if !strings.Contains(errOut, "ValidateService is broken in v2") {
		t.Errorf("the failing script's output is not shown:\n%s", errOut)
	}
	failed := getDeployment(t, s, deployID(t, out))
	if failed.Status != "Failed" || failed.RolledBackBy == "" {
		t.Fatalf("broken deployment: status %s, rolled back by %q; want Failed with a rollback", failed.Status, failed.RolledBackBy)
	}
	// OneAtATime: the first host's failure ends the deployment before any other host is touched.
	if failed.Overview.Failed != 1 || failed.Overview.Skipped != 2 {
		t.Errorf("broken deployment overview %+v, want 1 failed and 2 skipped", failed.Overview)
	}
	rb := waitFor(t, 60*time.Second, "the rollback to finish", func() (api.Deployment, bool) {
		d := getDeployment(t, s, failed.RolledBackBy)
		return d, d.Status == "Succeeded" || d.Status == "Failed" || d.Status == "Stopped"
	})
	if rb.Status != "Succeeded" || rb.Creator != "rollback" || rb.Revision != d.Revision {
		t.Fatalf("rollback: status %s, creator %s, revision %s; want Succeeded, rollback, %s", rb.Status, rb.Creator, rb.Revision, d.Revision)
	}
	for _, a := range agents {
		if got := readFile(t, filepath.Join(a.Prefix, "srv/app/index.html")); got != "revision v1\n" {
			t.Errorf("%s serves %q after the rollback, want revision v1", a.Name, got)
		}
	}
	g, err := s.client().GetGroup(context.Background(), "shop", "prod")
	if err != nil {
		t.Fatal(err)
	}
	if g.CurrentRevision != d.Revision {
		t.Errorf("group revision %s, want the good one %s", g.CurrentRevision, d.Revision)
	}
}

// The README's quickstart is a promise to newcomers: run it as they would.
func TestQuickstart(t *testing.T) {
	cmd := exec.Command("bash", "../examples/quickstart.sh")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("quickstart: %v\n%s", err, out)
	}
	for _, want := range []string{
		"deployment d-", "Succeeded (3 succeeded)",
		"health check: connection refused on port 8080",
		"rollback started: deployment d-",
		"web-1", "web-2", "web-3",
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("quickstart output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(string(out), " i-") {
		t.Errorf("quickstart output names a host by instance id instead of its name:\n%s", out)
	}
}
