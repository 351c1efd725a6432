package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/slipway-deploy/slipway/internal/api"
	"github.com/slipway-deploy/slipway/internal/awsfake"
	"github.com/slipway-deploy/slipway/internal/blob/blobtest"
	"github.com/slipway-deploy/slipway/internal/bundle"
)

// The real slipway-server and CLI deploy to AWS stand-ins (internal/awsfake) started in the test
// on loopback ports; the group's endpoints point at them and the server gets its credentials
// from its environment, as it would from AWS's standard chain. Assertions are on the stand-ins'
// history, not on timings.

// lambdaLab is a server, a Lambda stand-in with function checkout (versions 1-4) and alias live
// on version 1, and an application "checkout" of platform lambda.
type lambdaLab struct {
	t    *testing.T
	s    *server
	fake *awsfake.Lambda
}

func newLambdaLab(t *testing.T, serverFlags ...string) *lambdaLab {
	t.Helper()
	awsfake.Credentials(t) // the server inherits the test's environment
	fake := awsfake.NewLambda(t, nil)
	fake.AddFunction("checkout", 4)
	fake.AddAlias("checkout", "live", "1")
	cfg := filepath.Join(t.TempDir(), "server.yaml")
	// The HTTP hooks of these tests listen on loopback ports.
	writeFile(t, cfg, "alarm_interval: 200ms\nhook_urls: [\"http://127.0.0.1/\"]\n", 0o600)
	l := &lambdaLab{t: t, s: startServer(t, append([]string{"--config", cfg}, serverFlags...)...), fake: fake}
	mustCLI(t, l.s, "app", "create", "checkout", "--platform", "lambda")
	return l
}

// group creates group live with the given extra flags.
func (l *lambdaLab) group(extra ...string) {
	args := append([]string{"group", "create", "checkout", "live", "--aws-region", "us-east-1", "--aws-endpoint", l.fake.URL}, extra...)
	mustCLI(l.t, l.s, args...)
}

// bundle writes an AppSpec-only bundle moving live from version from to to, with hooks.
func lambdaBundle(t *testing.T, from, to int, hooks map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	spec := fmt.Sprintf("version: 0.0\nResources:\n  - api:\n      Type: AWS::Lambda::Function\n      Properties:\n        Name: checkout\n        Alias: live\n        CurrentVersion: \"%d\"\n        TargetVersion: \"%d\"\n", from, to)
	if len(hooks) > 0 {
		spec += "Hooks:\n"
		for _, ev := range slices.Sorted(maps.Keys(hooks)) {
			spec += fmt.Sprintf("  - %s: %s\n", ev, hooks[ev])
		}
	}
	writeFile(t, filepath.Join(dir, "appspec.yml"), spec, 0o644)
	return dir
}

// percents is the share of version v in each state of the alias, in order, repeats folded.
func (l *lambdaLab) percents(v string) []int {
	var out []int
	for _, a := range l.fake.AliasHistory("checkout", "live") {
		p := a.Percent(v)
		if len(out) == 0 || out[len(out)-1] != p {
			out = append(out, p)
		}
	}
	return out
}

func TestAWS_LambdaCanary(t *testing.T) {
	l := newLambdaLab(t)
	check := awsfake.HTTPHook(t, api.HookStatus{Status: api.HookSucceeded})
	l.group("--traffic", "canary:10:3s")
	out, errOut, code := cli(t, l.s, "deploy", "--app", "checkout", "--group", "live", "--bundle",
		lambdaBundle(t, 1, 2, map[string]string{"AfterAllowTraffic": check.URL}), "--wait")
	if code != 0 {
		t.Fatalf("deploy exit %d\n%s\n%s", code, out, errOut)
	}
	if got := l.percents("2"); !slices.Equal(got, []int{0, 10, 100}) {
		t.Errorf("version 2's share over the alias's history: %v; want 0, 10, 100", got)
	}
	final := l.fake.Alias("checkout", "live")
	if final.Version != "2" || len(final.Weights) != 0 {
		t.Errorf("alias ends %+v; want version 2 alone", final)
	}
	h := l.fake.AliasHistory("checkout", "live")
	var canary, full time.Time
	for _, a := range h {
		if canary.IsZero() && a.Percent("2") == 10 {
			canary = a.At
		}
		if a.Version == "2" {
			full = a.At
		}
	}
	if gap := full.Sub(canary); gap < 3*time.Second {
		t.Errorf("the canary held 10%% for %v; want at least the 3s interval", gap)
	}
	if p := check.Payloads(); len(p) != 1 || p[0].LifecycleEvent != "AfterAllowTraffic" {
		t.Errorf("hook payloads %+v; want one AfterAllowTraffic", p)
	}
	d := getDeployment(t, l.s, strings.TrimSpace(out))
	if d.Status != "Succeeded" || d.Traffic == nil || d.Traffic.Percent != 100 {
		t.Errorf("deployment %+v", d)
	}
	g, err := l.s.client().GetGroup(t.Context(), "checkout", "live")
	if err != nil || g.CurrentRevision != d.Revision {
		t.Errorf("group revision %q, %v; want %s", g.CurrentRevision, err, d.Revision)
	}
	_, rbErr, code := cli(t, l.s, "rollback", "--app", "checkout", "--group", "live")
	if code == 0 || !strings.Contains(rbErr, "only one successful revision") {
		t.Errorf("rollback after the first release: exit %d %s; want a refusal that says why", code, rbErr)
	}
}

// slipway rollback after a successful release moves the alias back to the version the release
// before installed, all at once; after a failed one (which the alias was already put back from)
// it is refused, saying so.
func TestAWS_LambdaRollbackRestoresTheAlias(t *testing.T) {
	l := newLambdaLab(t)
	l.group("--traffic", "linear:50:1s")
	for _, to := range []int{2, 3} {
		if out, errOut, code := cli(t, l.s, "deploy", "--app", "checkout", "--group", "live", "--bundle", lambdaBundle(t, to-1, to, nil), "--wait"); code != 0 {
			t.Fatalf("deploy to version %d: exit %d\n%s\n%s", to, code, out, errOut)
		}
	}
	before := len(l.fake.AliasHistory("checkout", "live"))
	out, errOut, code := cli(t, l.s, "rollback", "--app", "checkout", "--group", "live", "--wait")
	if code != 0 {
		t.Fatalf("rollback: exit %d\n%s\n%s", code, out, errOut)
	}
	if a := l.fake.Alias("checkout", "live"); a.Version != "2" || len(a.Weights) != 0 {
		t.Errorf("alias after the rollback %+v; want version 2 alone", a)
	}
	if h := l.fake.AliasHistory("checkout", "live")[before:]; len(h) != 1 {
		t.Errorf("the rollback changed the alias %d times (%+v); want once, all at once", len(h), h)
	}
	d := getDeployment(t, l.s, deployID(t, out))
	if d.Creator != "rollback" || d.Status != "Succeeded" {
		t.Errorf("rollback deployment %s by %s", d.Status, d.Creator)
	}

	failing := awsfake.HTTPHook(t, api.HookStatus{Status: api.HookFailed, Message: "smoke test failed"})
	if _, _, code := cli(t, l.s, "deploy", "--app", "checkout", "--group", "live", "--bundle",
		lambdaBundle(t, 2, 4, map[string]string{"AfterAllowTraffic": failing.URL}), "--wait"); code != 1 {
		t.Fatalf("failing deploy: exit %d; want 1", code)
	}
	_, rbErr, code := cli(t, l.s, "rollback", "--app", "checkout", "--group", "live")
	if code == 0 || !strings.Contains(rbErr, "puts the alias or service back by itself") {
		t.Errorf("rollback after a failed deployment: exit %d %s; want a refusal that says the alias is back", code, rbErr)
	}
	if a := l.fake.Alias("checkout", "live"); a.Version != "2" || len(a.Weights) != 0 {
		t.Errorf("alias at the end %+v; want version 2 alone", a)
	}
}

// A lambda revision registered by S3 location (an AppSpec-only bundle in the user's versioned
// bucket, on the real S3-compatible server) is read from the version registered.
func TestAWS_LambdaRevisionRegisteredByS3Location(t *testing.T) {
	store := blobtest.StartS3(t)
	l := newLambdaLab(t, "--s3-endpoint", store.Endpoint, "--s3-path-style", "--s3-region", blobtest.Region)
	store.SetEnv(t) // after the lab's: the server signs with versitygw's keys, which the stand-in takes too
	store.CreateBucket(t, "releases", true)
	l.s.restart(syscall.SIGTERM)
	l.group("--traffic", "all-at-once")
	var tgz bytes.Buffer
	if _, err := bundle.Build(context.Background(), &tgz, lambdaBundle(t, 1, 3, nil), bundle.FormatTgz, bundle.BuildOptions{}); err != nil {
		t.Fatal(err)
	}
	store.Put(t, "releases", "checkout/v3.tgz", tgz.Bytes())
	out, errOut, code := cli(t, l.s, "deploy", "--app", "checkout", "--group", "live", "--s3", "s3://releases/checkout/v3.tgz", "--wait")
	if code != 0 {
		t.Fatalf("deploy --s3: exit %d\n%s\n%s", code, out, errOut)
	}
	if a := l.fake.Alias("checkout", "live"); a.Version != "3" || len(a.Weights) != 0 {
		t.Errorf("alias ends %+v; want version 3 alone", a)
	}
	d := getDeployment(t, l.s, deployID(t, out))
	if d.Status != "Succeeded" || d.Revision != fmt.Sprintf("%x", sha256.Sum256(tgz.Bytes())) {
		t.Errorf("deployment %s of %s; want Succeeded of the registered object", d.Status, d.Revision)
	}
}

// An HTTP hook outside the server's hook_urls is refused when the deployment is created: the
// server would otherwise POST wherever an uploaded AppSpec says, cloud metadata included.
func TestAWS_HTTPHookOutsideHookURLsIsRefused(t *testing.T) {
	l := newLambdaLab(t)
	l.group("--traffic", "all-at-once")
	_, errOut, code := cli(t, l.s, "deploy", "--app", "checkout", "--group", "live", "--bundle",
		lambdaBundle(t, 1, 2, map[string]string{"BeforeAllowTraffic": "http://169.254.169.254/latest/meta-data/"}))
	if code == 0 || !strings.Contains(errOut, "AppSpec hook BeforeAllowTraffic calls http://169.254.169.254/latest/meta-data/, which this server may not call (it allows http://127.0.0.1/)") ||
		!strings.Contains(errOut, "hook_urls") {
		t.Errorf("deploy with a hook outside hook_urls: exit %d\n%s", code, errOut)
	}
	if h := l.fake.AliasHistory("checkout", "live"); len(h) > 1 {
		t.Errorf("the alias changed: %+v", h)
	}
}

func TestAWS_LambdaFailingHookReverts(t *testing.T) {
	l := newLambdaLab(t)
	failing := awsfake.HTTPHook(t, api.HookStatus{Status: api.HookFailed, Message: "error rate 7%"})
	l.group("--traffic", "all-at-once")
	out, _, code := cli(t, l.s, "deploy", "--app", "checkout", "--group", "live", "--bundle",
		lambdaBundle(t, 1, 2, map[string]string{"AfterAllowTraffic": failing.URL}), "--wait")
	if code != 1 {
		t.Fatalf("deploy exit %d; want 1", code)
	}
	if got := l.percents("2"); !slices.Equal(got, []int{0, 100, 0}) {
		t.Errorf("version 2's share over the alias's history: %v; want 0, 100, 0 (reverted)", got)
	}
	if a := l.fake.Alias("checkout", "live"); a.Version != "1" || len(a.Weights) != 0 {
		t.Errorf("alias ends %+v; want version 1 alone", a)
	}
	d := getDeployment(t, l.s, strings.TrimSpace(out))
	if d.ErrorCode != "HOOK_EXECUTION_FAILURE" || !strings.Contains(d.ErrorMessage, "error rate 7%") || !strings.Contains(d.ErrorMessage, "back on version 1") {
		t.Errorf("deployment %s %s: %s", d.Status, d.ErrorCode, d.ErrorMessage)
	}
}

func TestAWS_LambdaAlarmReverts(t *testing.T) {
	l := newLambdaLab(t)
	var firing atomic.Bool
	health := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if firing.Load() {
			http.Error(w, "errors", http.StatusInternalServerError)
			return
		}
		fmt.Fprint(w, "ok")
	}))
	t.Cleanup(health.Close)
	alarms := filepath.Join(t.TempDir(), "alarms.yaml")
	writeFile(t, alarms, fmt.Sprintf("alarms:\n  - name: errors\n    http: {url: %q}\ninterval: 1s\n", health.URL), 0o600)
	l.group("--traffic", "linear:25:2s", "--alarms-file", alarms)
	id := strings.TrimSpace(mustCLI(t, l.s, "deploy", "--app", "checkout", "--group", "live", "--bundle", lambdaBundle(t, 1, 2, nil)))
	waitFor(t, 30*time.Second, "the alias at 50%", func() (bool, bool) {
		return true, l.fake.Alias("checkout", "live").Percent("2") >= 50
	})
	firing.Store(true)
	d := waitFor(t, 30*time.Second, "the deployment to stop", func() (api.Deployment, bool) {
		d := getDeployment(t, l.s, id)
		return d, d.Status == "Stopped" || d.Status == "Failed" || d.Status == "Succeeded"
	})
	if d.Status != "Stopped" || d.ErrorCode != "ALARM_ACTIVE" {
		t.Fatalf("deployment %s %s: %s", d.Status, d.ErrorCode, d.ErrorMessage)
	}
	if a := l.fake.Alias("checkout", "live"); a.Version != "1" || len(a.Weights) != 0 {
		t.Errorf("alias ends %+v; want version 1 alone", a)
	}
	if got := l.percents("2"); got[len(got)-1] != 0 || slices.Contains(got, 100) {
		t.Errorf("version 2's share over the alias's history: %v; want a shift cut short and back to 0", got)
	}
}

func TestAWS_LambdaServerKilledMidShiftResumes(t *testing.T) {
	l := newLambdaLab(t)
	l.group("--traffic", "linear:20:2s")
	id := strings.TrimSpace(mustCLI(t, l.s, "deploy", "--app", "checkout", "--group", "live", "--bundle", lambdaBundle(t, 1, 2, nil)))
	waitFor(t, 30*time.Second, "the alias at 40%", func() (bool, bool) {
		return true, l.fake.Alias("checkout", "live").Percent("2") == 40
	})
	l.s.restart(syscall.SIGKILL)
	d := waitFor(t, 60*time.Second, "the deployment to end", func() (api.Deployment, bool) {
		d := getDeployment(t, l.s, id)
		return d, d.Status == "Succeeded" || d.Status == "Failed" || d.Status == "Stopped"
	})
	if d.Status != "Succeeded" {
		t.Fatalf("deployment %s %s: %s\n%s", d.Status, d.ErrorCode, d.ErrorMessage, l.s.output())
	}
	// Resumed at the step it was on: no step done twice, none from the start again.
	if got := l.percents("2"); !slices.Equal(got, []int{0, 20, 40, 60, 80, 100}) {
		t.Errorf("version 2's share over the alias's history: %v; want 0, 20, 40, 60, 80, 100", got)
	}
	if n := len(l.fake.CallsOf("UpdateAlias")); n != 5 {
		t.Errorf("%d UpdateAlias calls; want 5, one per step", n)
	}
	if !strings.Contains(l.s.output(), `"msg":"resumed deployment"`) {
		t.Errorf("the restarted server did not say it resumed the deployment")
	}
}

func TestAWS_ECSBlueGreen(t *testing.T) {
	awsfake.Credentials(t)
	w := awsfake.NewBlueGreen(t, nil)
	cfg := filepath.Join(t.TempDir(), "server.yaml")
	writeFile(t, cfg, "aws_poll_interval: 200ms\nhook_urls: [\"http://127.0.0.1/\"]\n", 0o600)
	s := startServer(t, "--config", cfg)
	check := awsfake.HTTPHook(t, api.HookStatus{Status: api.HookSucceeded})
	mustCLI(t, s, "app", "create", "web", "--platform", "ecs")
	mustCLI(t, s, "group", "create", "web", "prod", "--aws-region", "us-east-1",
		"--aws-endpoint-for", "ecs="+w.ECS.URL, "--aws-endpoint-for", "elasticloadbalancing="+w.ELB.URL,
		"--ecs-cluster", awsfake.BlueGreenCluster, "--ecs-service", awsfake.BlueGreenService,
		"--ecs-target-groups", w.Blue+","+w.Green, "--ecs-production-listener", w.Production, "--ecs-test-listener", w.Test,
		"--ecs-termination-wait", "2s", "--traffic", "linear:50:1s")
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "appspec.yaml"), fmt.Sprintf(`version: 0.0
Resources:
  - TargetService:
      Type: AWS::ECS::Service
      Properties:
        TaskDefinition: %s
        LoadBalancerInfo:
          ContainerName: %s
          ContainerPort: %d
Hooks:
  - AfterAllowTestTraffic: %s
`, awsfake.NextTaskDefinition, awsfake.BlueGreenContainer, awsfake.BlueGreenPort, check.URL), 0o644)
	out, errOut, code := cli(t, s, "deploy", "--app", "web", "--group", "prod", "--bundle", dir, "--wait")
	if code != 0 {
		t.Fatalf("deploy exit %d\n%s\n%s\n%s", code, out, errOut, s.output())
	}
	sets := w.TaskSets()
	if len(sets) != 1 || sets[0].Status != "PRIMARY" || sets[0].TargetGroup != w.Green || sets[0].TaskDefinition != awsfake.NextTaskDefinition {
		t.Fatalf("task sets %+v; want the replacement alone, primary, in green", sets)
	}
	var changes []string
	var primary, deleted time.Time
	for _, c := range w.ECS.History(awsfake.BlueGreenCluster, awsfake.BlueGreenService) {
		changes = append(changes, c.Change+" "+w.Side(c.TargetGroup))
		switch c.Change {
		case "primary":
			primary = c.At
		case "deleted":
			deleted = c.At
		}
	}
	if got := strings.Join(changes, ", "); !strings.HasSuffix(got, "created green, steady green, primary green, deleted blue") {
		t.Errorf("task set history: %s; want the replacement created in green, made primary, then the original deleted", got)
	}
	if gap := deleted.Sub(primary); gap < 2*time.Second {
		t.Errorf("the original was deleted %v after the replacement became primary; want the 2s termination wait", gap)
	}
	var prod []int
	for _, st := range w.ELB.ListenerHistory(w.Production) {
		if p := st.Percent(w.Green); len(prod) == 0 || prod[len(prod)-1] != p {
			prod = append(prod, p)
		}
	}
	if !slices.Equal(prod, []int{0, 50, 100}) {
		t.Errorf("green's share of production over the listener's history: %v; want 0, 50, 100", prod)
	}
	if got := w.ELB.Listener(w.Test).Percent(w.Green); got != 100 {
		t.Errorf("test listener sends %d%% to green; want 100", got)
	}
	if p := check.Payloads(); len(p) != 1 || p[0].LifecycleEvent != "AfterAllowTestTraffic" {
		t.Errorf("hook payloads %+v", p)
	}

	// A second release (task definition web:8), then slipway rollback: web:7 gets a task set again,
	// all at once, and becomes primary.
	const third = "arn:aws:ecs:us-east-1:123456789012:task-definition/web:8"
	spec := strings.Replace(readFile(t, filepath.Join(dir, "appspec.yaml")), awsfake.NextTaskDefinition, third, 1)
	writeFile(t, filepath.Join(dir, "appspec.yaml"), spec, 0o644)
	if out, errOut, code := cli(t, s, "deploy", "--app", "web", "--group", "prod", "--bundle", dir, "--wait"); code != 0 {
		t.Fatalf("second deploy exit %d\n%s\n%s", code, out, errOut)
	}
	if sets := w.TaskSets(); len(sets) != 1 || sets[0].TaskDefinition != third {
		t.Fatalf("task sets after the second release %+v; want web:8 alone", sets)
	}
	out, errOut, code = cli(t, s, "rollback", "--app", "web", "--group", "prod", "--wait")
	if code != 0 {
		t.Fatalf("rollback exit %d\n%s\n%s", code, out, errOut)
	}
	if sets := w.TaskSets(); len(sets) != 1 || sets[0].Status != "PRIMARY" || sets[0].TaskDefinition != awsfake.NextTaskDefinition {
		t.Errorf("task sets after the rollback %+v; want web:7 alone, primary", sets)
	}
	if d := getDeployment(t, s, deployID(t, out)); d.Creator != "rollback" || d.Status != "Succeeded" {
		t.Errorf("rollback deployment %s by %s", d.Status, d.Creator)
	}
}
