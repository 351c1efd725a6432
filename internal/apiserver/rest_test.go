package apiserver

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/slipway-deploy/slipway/internal/api"
)

func TestProbes(t *testing.T) {
	e := newEnv(t)
	for _, p := range []struct{ path, status string }{{"/healthz", "ok"}, {"/readyz", "ready"}} {
		r := e.call(http.MethodGet, p.path, "", nil)
		want(t, r, http.StatusOK)
		var body map[string]string
		r.decode(t, &body)
		if body["status"] != p.status {
			t.Errorf("%s: %v, want status %q", p.path, body, p.status)
		}
	}
	e.call(http.MethodGet, pathApps, adminToken, nil)
	r := e.call(http.MethodGet, "/metrics", "", nil)
	want(t, r, http.StatusOK)
	// Requests are counted by route template, never by raw path.
	if !strings.Contains(string(r.body), `slipway_http_request_duration_seconds_count{code="200",route="/api/v1/applications"}`) {
		t.Errorf("/metrics does not count the API call by route:\n%s", r.body)
	}
	wantError(t, e.call(http.MethodGet, "/nowhere", "", nil), http.StatusNotFound, "")
}

// TestUnmatched: a path that exists answers a wrong method 405 with the methods it takes, inside
// the subrouters too; a path that does not exist answers 404.
func TestUnmatched(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct{ method, path, allow string }{
		{http.MethodPut, pathApps, "GET, POST"},
		{http.MethodDelete, pathApps + "/app/groups/web", "GET, PUT"},
		{http.MethodGet, api.PathAgent + "/register", "POST"},
		{http.MethodPost, "/healthz", "GET"},
	} {
		r := e.call(tc.method, tc.path, adminToken, nil)
		wantError(t, r, http.StatusMethodNotAllowed, "", "method not allowed")
		if got := r.header.Get("Allow"); got != tc.allow {
			t.Errorf("%s %s: Allow %q, want %q", tc.method, tc.path, got, tc.allow)
		}
	}
	wantError(t, e.call(http.MethodGet, pathApps+"/app/nothing", adminToken, nil), http.StatusNotFound, "", "not found")
}

func TestApplications(t *testing.T) {
	e := newEnv(t)
	r := e.call(http.MethodPost, pathApps, adminToken, api.Application{Name: "shop"})
	want(t, r, http.StatusCreated)
	var app api.Application
	r.decode(t, &app)
	if app.Name != "shop" || app.ComputePlatform != "server" || app.CreateTime.IsZero() {
		t.Errorf("created %+v, want shop on the server platform with a create time", app)
	}
	want(t, e.call(http.MethodPost, pathApps, adminToken, api.Application{Name: "fn", ComputePlatform: "lambda"}), http.StatusCreated)

	wantError(t, e.call(http.MethodPost, pathApps, adminToken, api.Application{Name: "shop"}), http.StatusConflict, "", "shop")
	wantError(t, e.call(http.MethodPost, pathApps, adminToken, api.Application{Name: "bad name"}), http.StatusBadRequest, "name", "letters, digits")
	wantError(t, e.call(http.MethodPost, pathApps, adminToken, api.Application{Name: "x", ComputePlatform: "mainframe"}),
		http.StatusBadRequest, "compute_platform", "server, lambda or ecs")
	wantError(t, e.call(http.MethodPost, pathApps, adminToken, `{"name":"x","platform":"server"}`), http.StatusBadRequest, "", `"platform"`)
	wantError(t, e.call(http.MethodPost, pathApps, adminToken, `{"name":`), http.StatusBadRequest, "", "not valid JSON")

	r = e.call(http.MethodGet, pathApps, adminToken, nil)
	want(t, r, http.StatusOK)
	var list []api.Application
	r.decode(t, &list)
	if len(list) != 2 || list[0].Name != "fn" || list[1].Name != "shop" {
		t.Errorf("list = %+v, want fn and shop", list)
	}
	r = e.call(http.MethodGet, pathApps+"/shop", adminToken, nil)
	want(t, r, http.StatusOK)
	wantError(t, e.call(http.MethodGet, pathApps+"/nope", adminToken, nil), http.StatusNotFound, "", "nope")
}

func TestGroups(t *testing.T) {
	e := newEnv(t)
	want(t, e.call(http.MethodPost, pathApps, adminToken, api.Application{Name: "app"}), http.StatusCreated)
	groups := pathApps + "/app/groups"
	web := api.DeploymentGroup{Name: "web", TagGroups: [][]api.TagFilter{{{Key: "role", Value: "web", Type: "KEY_AND_VALUE"}}}}

	r := e.call(http.MethodPost, groups, adminToken, web)
	want(t, r, http.StatusCreated)
	var g api.DeploymentGroup
	r.decode(t, &g)
	if g.Application != "app" || g.DeploymentConfig != "CodeDeployDefault.OneAtATime" || g.OnBusy != "queue" || g.CreateTime.IsZero() {
		t.Errorf("created %+v, want the defaults: OneAtATime, queue", g)
	}
	wantError(t, e.call(http.MethodPost, groups, adminToken, web), http.StatusConflict, "", "web")
	wantError(t, e.call(http.MethodPost, pathApps+"/nope/groups", adminToken, web), http.StatusNotFound, "", "nope")

	for _, tc := range []struct {
		name  string
		body  any
		field string
		says  string
	}{
		{"no tags", api.DeploymentGroup{Name: "g"}, "tag_groups", "at least one tag filter"},
		{"bad tag type", api.DeploymentGroup{Name: "g", TagGroups: [][]api.TagFilter{{{Key: "a", Type: "KEY_ONLY"}, {Key: "b", Type: "KEYS"}}}},
			"tag_groups[0][1].type", "KEYS"},
		{"bad name", api.DeploymentGroup{Name: "../g", TagGroups: web.TagGroups}, "name", "not a valid name"},
		{"bad on_busy", api.DeploymentGroup{Name: "g", TagGroups: web.TagGroups, OnBusy: "wait"}, "on_busy", "queue or reject"},
		{"other application", api.DeploymentGroup{Application: "other", Name: "g", TagGroups: web.TagGroups}, "application", "other"},
		{"unknown config", api.DeploymentGroup{Name: "g", TagGroups: web.TagGroups, DeploymentConfig: "Fast"}, "deployment_config", "Fast"},
		{"unknown field", `{"name":"g","tags":[]}`, "", `"tags"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantError(t, e.call(http.MethodPost, groups, adminToken, tc.body), http.StatusBadRequest, tc.field, tc.says)
		})
	}

	upd := web
	upd.OnBusy, upd.DeploymentConfig = "reject", "CodeDeployDefault.AllAtOnce"
	upd.AutoRollback = api.AutoRollback{OnFailure: true}
	r = e.call(http.MethodPut, groups+"/web", adminToken, upd)
	want(t, r, http.StatusOK)
	r.decode(t, &g)
	if g.OnBusy != "reject" || g.DeploymentConfig != "CodeDeployDefault.AllAtOnce" || !g.AutoRollback.OnFailure {
		t.Errorf("updated %+v", g)
	}
	wantError(t, e.call(http.MethodPut, groups+"/nope", adminToken, web), http.StatusNotFound, "", "nope")

	r = e.call(http.MethodGet, groups+"/web", adminToken, nil)
	want(t, r, http.StatusOK)
	r.decode(t, &g)
	if g.OnBusy != "reject" {
		t.Errorf("get after update: %+v", g)
	}
	wantError(t, e.call(http.MethodGet, groups+"/nope", adminToken, nil), http.StatusNotFound, "", "nope")
	r = e.call(http.MethodGet, groups, adminToken, nil)
	want(t, r, http.StatusOK)
	var list []api.DeploymentGroup
	r.decode(t, &list)
	if len(list) != 1 || list[0].Name != "web" {
		t.Errorf("list = %+v, want web", list)
	}
	wantError(t, e.call(http.MethodGet, pathApps+"/nope/groups", adminToken, nil), http.StatusNotFound, "", "nope")
}

func TestDeploymentConfigs(t *testing.T) {
	e := newEnv(t)
	r := e.call(http.MethodPost, pathConfigs, adminToken, api.DeploymentConfig{Name: "ThreeUp",
		MinimumHealthyHosts: api.MinimumHealthyHosts{Type: "HOST_COUNT", Value: 3}})
	want(t, r, http.StatusCreated)
	wantError(t, e.call(http.MethodPost, pathConfigs, adminToken, api.DeploymentConfig{Name: "ThreeUp",
		MinimumHealthyHosts: api.MinimumHealthyHosts{Type: "HOST_COUNT", Value: 1}}), http.StatusConflict, "", "ThreeUp")
	for _, tc := range []struct {
		name  string
		in    api.DeploymentConfig
		field string
	}{
		{"bad type", api.DeploymentConfig{Name: "c", MinimumHealthyHosts: api.MinimumHealthyHosts{Type: "HOSTS", Value: 1}}, "minimum_healthy_hosts.type"},
		{"built-in type", api.DeploymentConfig{Name: "c", MinimumHealthyHosts: api.MinimumHealthyHosts{Type: "MOST_CONCURRENCY", Value: 1}}, "minimum_healthy_hosts.type"},
		{"percent out of range", api.DeploymentConfig{Name: "c", MinimumHealthyHosts: api.MinimumHealthyHosts{Type: "FLEET_PERCENT", Value: 100}}, "minimum_healthy_hosts.value"},
		{"negative count", api.DeploymentConfig{Name: "c", MinimumHealthyHosts: api.MinimumHealthyHosts{Type: "HOST_COUNT", Value: -1}}, "minimum_healthy_hosts.value"},
		{"preset prefix", api.DeploymentConfig{Name: "CodeDeployDefault.Mine", MinimumHealthyHosts: api.MinimumHealthyHosts{Type: "HOST_COUNT", Value: 1}}, "name"},
		{"preset changed", api.DeploymentConfig{Name: "CodeDeployDefault.AllAtOnce", MinimumHealthyHosts: api.MinimumHealthyHosts{Type: "HOST_COUNT", Value: 1}}, "name"},
		{"bad name", api.DeploymentConfig{Name: "", MinimumHealthyHosts: api.MinimumHealthyHosts{Type: "HOST_COUNT", Value: 1}}, "name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantError(t, e.call(http.MethodPost, pathConfigs, adminToken, tc.in), http.StatusBadRequest, tc.field)
		})
	}
	r = e.call(http.MethodGet, pathConfigs, adminToken, nil)
	want(t, r, http.StatusOK)
	var list []api.DeploymentConfig
	r.decode(t, &list)
	var names []string
	for _, c := range list {
		names = append(names, c.Name)
	}
	for _, n := range []string{"CodeDeployDefault.OneAtATime", "CodeDeployDefault.HalfAtATime", "CodeDeployDefault.AllAtOnce", "ThreeUp"} {
		if !slices.Contains(names, n) {
			t.Errorf("list %v lacks %s", names, n)
		}
	}
}

func TestDeployments(t *testing.T) {
	e := newEnv(t)
	digest := e.fleet()
	host := e.register("web-1", map[string]string{"role": "web"})

	for _, tc := range []struct {
		name   string
		in     any
		status int
		field  string
		says   string
	}{
		{"no application", api.CreateDeployment{Group: "web", Revision: digest}, http.StatusBadRequest, "application", "give"},
		{"no group", api.CreateDeployment{Application: "app", Revision: digest}, http.StatusBadRequest, "group", "give"},
		{"no revision", api.CreateDeployment{Application: "app", Group: "web"}, http.StatusBadRequest, "revision", "digest"},
		{"unknown revision", api.CreateDeployment{Application: "app", Group: "web", Revision: strings.Repeat("a", 64)}, http.StatusBadRequest, "revision", "upload"},
		{"unknown config", api.CreateDeployment{Application: "app", Group: "web", Revision: digest, DeploymentConfig: "Fast"}, http.StatusBadRequest, "deployment_config", "Fast"},
		{"bad file_exists_behavior", api.CreateDeployment{Application: "app", Group: "web", Revision: digest, FileExistsBehavior: "KEEP"}, http.StatusBadRequest, "file_exists_behavior", "KEEP"},
		{"unknown group", api.CreateDeployment{Application: "app", Group: "db", Revision: digest}, http.StatusNotFound, "", "db"},
		{"unknown application", api.CreateDeployment{Application: "nope", Group: "web", Revision: digest}, http.StatusNotFound, "", "nope"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantError(t, e.call(http.MethodPost, pathDeps, adminToken, tc.in), tc.status, tc.field, tc.says)
		})
	}

	wantError(t, e.call(http.MethodPost, pathApps+"/app/groups/web/rollback", adminToken, "{}"), http.StatusConflict, "", "no successful deployment")

	r := e.call(http.MethodPost, pathDeps, adminToken, api.CreateDeployment{Application: "app", Group: "web", Revision: digest, Description: "first"})
	want(t, r, http.StatusCreated)
	var d api.Deployment
	r.decode(t, &d)
	if d.Creator != "user" || d.Description != "first" || d.DeploymentConfig != "CodeDeployDefault.OneAtATime" || d.Revision != digest {
		t.Errorf("created %+v", d)
	}
	fin := host.runUntilFinished(d.ID, "Succeeded")
	if fin.Status != "Succeeded" || len(fin.Instances) != 1 || fin.Instances[0].Instance != "web-1" || fin.Instances[0].InstanceID != host.id {
		t.Fatalf("finished %+v", fin)
	}
	if ev := fin.Instances[0].Events; len(ev) == 0 || ev[0].Status != "Succeeded" || ev[0].StartTime == nil {
		t.Errorf("events %+v, want each Succeeded with times", ev)
	}
	// Stopping a finished deployment changes nothing and says how it ended.
	r = e.call(http.MethodPost, pathDeps+"/"+d.ID+"/stop", adminToken, api.StopDeployment{})
	want(t, r, http.StatusOK)
	r.decode(t, &d)
	if d.Status != "Succeeded" {
		t.Errorf("stop of a finished deployment: %s, want Succeeded", d.Status)
	}
	wantError(t, e.call(http.MethodPost, pathDeps+"/d-nope/stop", adminToken, api.StopDeployment{}), http.StatusNotFound, "")
	wantError(t, e.call(http.MethodGet, pathDeps+"/d-nope", adminToken, nil), http.StatusNotFound, "")

	// A deployment of a second revision, stopped with rollback while its first event runs: the
	// running event may still report, then the deployment is Stopped and the first revision
	// deployed again.
	r = e.upload("app", bundleOf(t, map[string]string{"appspec.yml": sampleSpec, "start.sh": "#!/bin/sh\necho v2\n"}))
	want(t, r, http.StatusCreated)
	var v2 api.Revision
	r.decode(t, &v2)
	r = e.call(http.MethodPost, pathDeps, adminToken, api.CreateDeployment{Application: "app", Group: "web", Revision: v2.Digest})
	want(t, r, http.StatusCreated)
	var second api.Deployment
	r.decode(t, &second)
	r = e.call(http.MethodPost, pathDeps+"/"+second.ID+"/stop", adminToken, api.StopDeployment{Rollback: true})
	want(t, r, http.StatusOK)
	// Asked again while it stops, the server says where it stands rather than refusing.
	r = e.call(http.MethodPost, pathDeps+"/"+second.ID+"/stop", adminToken, api.StopDeployment{})
	want(t, r, http.StatusOK)
	var again api.Deployment
	r.decode(t, &again)
	if again.ID != second.ID || again.Status != "InProgress" {
		t.Errorf("second stop of a stopping deployment: %s %s, want %s InProgress", again.ID, again.Status, second.ID)
	}
	second = host.runUntilFinished(second.ID, "Succeeded")
	if second.Status != "Stopped" || second.ErrorCode != "MANUAL_STOP" || second.RolledBackBy == "" {
		t.Fatalf("stopped %+v, want Stopped (MANUAL_STOP) with a rollback", second)
	}
	rb := host.runUntilFinished(second.RolledBackBy, "Succeeded")
	if rb.Creator != "rollback" || rb.RollbackOf != second.ID || rb.Revision != digest || rb.Status != "Succeeded" {
		t.Errorf("rollback %+v", rb)
	}

	// Manual rollback of the group. The group has had one good revision only, and its newest
	// deployment (the rollback) succeeded with it: nothing earlier to go back to.
	wantError(t, e.call(http.MethodPost, pathApps+"/app/groups/web/rollback", adminToken, "{}"), http.StatusConflict, "", "only one successful revision")
	// Once v2 succeeds, a manual rollback undoes that release: back to the first revision.
	r = e.call(http.MethodPost, pathDeps, adminToken, api.CreateDeployment{Application: "app", Group: "web", Revision: v2.Digest})
	want(t, r, http.StatusCreated)
	var third api.Deployment
	r.decode(t, &third)
	if fin := host.runUntilFinished(third.ID, "Succeeded"); fin.Status != "Succeeded" {
		t.Fatalf("v2 deployment %s, want Succeeded", fin.Status)
	}
	r = e.call(http.MethodPost, pathApps+"/app/groups/web/rollback", adminToken, "{}")
	want(t, r, http.StatusCreated)
	var manual api.Deployment
	r.decode(t, &manual)
	if manual.Creator != "rollback" || manual.Revision != digest || manual.RollbackOf != third.ID {
		t.Errorf("manual rollback %+v, want a rollback of %s to %s", manual, third.ID, digest)
	}
	host.runUntilFinished(manual.ID, "Succeeded")
	wantError(t, e.call(http.MethodPost, pathApps+"/app/groups/nope/rollback", adminToken, "{}"), http.StatusNotFound, "", "nope")

	// Listing, with filters.
	r = e.call(http.MethodGet, pathDeps+"?application=app&group=web&status=Stopped", adminToken, nil)
	want(t, r, http.StatusOK)
	var list []api.Deployment
	r.decode(t, &list)
	if len(list) != 1 || list[0].ID != second.ID || list[0].Instances != nil {
		t.Errorf("Stopped deployments: %+v, want only %s, without per-host detail", list, second.ID)
	}
	r = e.call(http.MethodGet, pathDeps+"?limit=2", adminToken, nil)
	want(t, r, http.StatusOK)
	r.decode(t, &list)
	if len(list) != 2 {
		t.Errorf("limit=2 gave %d deployments", len(list))
	}
	wantError(t, e.call(http.MethodGet, pathDeps+"?limit=0", adminToken, nil), http.StatusBadRequest, "limit", "1 to 1000")
	wantError(t, e.call(http.MethodGet, pathDeps+"?status=Done", adminToken, nil), http.StatusBadRequest, "status", "Done")
}

func TestDeployments_OneAtATimePerGroup(t *testing.T) {
	e := newEnv(t)
	digest := e.fleet()
	e.register("web-1", map[string]string{"role": "web"})
	first := e.deploy(digest)
	second := e.deploy(digest)
	if second.Status != "Queued" {
		t.Errorf("second deployment %s while %s runs, want Queued", second.Status, first.ID)
	}
	// A group that refuses instead of queueing answers 409.
	if _, err := e.admin.UpdateGroup(t.Context(), api.DeploymentGroup{Application: "app", Name: "web", OnBusy: "reject",
		TagGroups: [][]api.TagFilter{{{Key: "role", Value: "web", Type: "KEY_AND_VALUE"}}}}); err != nil {
		t.Fatal(err)
	}
	wantError(t, e.call(http.MethodPost, pathDeps, adminToken, api.CreateDeployment{Application: "app", Group: "web", Revision: digest}),
		http.StatusConflict, "")
}

func TestInstances(t *testing.T) {
	e := newEnv(t)
	digest := e.fleet()
	web := e.register("web-1", map[string]string{"role": "web"})
	e.register("db-1", map[string]string{"role": "db"})
	web.runUntilFinished(e.deploy(digest).ID, "Succeeded")

	r := e.call(http.MethodGet, pathInsts, adminToken, nil)
	want(t, r, http.StatusOK)
	var list []api.Instance
	r.decode(t, &list)
	if len(list) != 2 || list[0].Name != "db-1" || list[1].Name != "web-1" {
		t.Fatalf("instances %+v, want db-1 and web-1 by name", list)
	}
	if g := list[1].Groups; len(g) != 1 || g[0].Health != "Healthy" || g[0].Revision != digest || list[1].LastSeen == nil {
		t.Errorf("web-1: %+v, want healthy on %s in group web, and seen", list[1], digest)
	}
	if g := list[0].Groups; len(g) != 0 {
		t.Errorf("db-1 is in groups %+v, want none: no group selects role=db", g)
	}

	// A host that matches groups no deployment has reached is listed in them, health unknown.
	for _, name := range []string{"all", "web-too"} {
		if _, err := e.admin.CreateGroup(t.Context(), api.DeploymentGroup{Application: "app", Name: name,
			TagGroups: [][]api.TagFilter{{{Key: "role", Type: "KEY_ONLY"}}}}); err != nil {
			t.Fatal(err)
		}
	}
	r = e.call(http.MethodGet, pathInsts, adminToken, nil)
	r.decode(t, &list)
	wantGroups := func(in api.Instance, want ...api.InstanceGroup) {
		t.Helper()
		if !slices.Equal(in.Groups, want) {
			t.Errorf("%s: groups %+v, want %+v", in.Name, in.Groups, want)
		}
	}
	wantGroups(list[0], api.InstanceGroup{Application: "app", Group: "all", Health: "Unknown"},
		api.InstanceGroup{Application: "app", Group: "web-too", Health: "Unknown"})
	wantGroups(list[1], api.InstanceGroup{Application: "app", Group: "web", Health: "Healthy", Revision: digest},
		api.InstanceGroup{Application: "app", Group: "all", Health: "Unknown"},
		api.InstanceGroup{Application: "app", Group: "web-too", Health: "Unknown"})

	r = e.call(http.MethodDelete, pathInsts+"/db-1", adminToken, nil)
	want(t, r, http.StatusNoContent)
	wantError(t, e.call(http.MethodDelete, pathInsts+"/db-1", adminToken, nil), http.StatusNotFound, "", "db-1")
	r = e.call(http.MethodGet, pathInsts, adminToken, nil)
	r.decode(t, &list)
	if len(list) != 1 || list[0].Name != "web-1" {
		t.Errorf("after deregistering db-1: %+v", list)
	}
}

func TestAgentProtocol_Validation(t *testing.T) {
	e := newEnv(t)
	host := e.register("web-1", nil)
	reg := api.PathAgent + "/register"
	tooMany := map[string]string{}
	for i := range 51 {
		tooMany[strings.Repeat("k", i+1)] = "v"
	}
	wantError(t, e.call(http.MethodPost, reg, enrollToken, api.Register{Name: "bad name"}), http.StatusBadRequest, "name", "not a valid name")
	wantError(t, e.call(http.MethodPost, reg, enrollToken, api.Register{Name: "h", Tags: tooMany}), http.StatusBadRequest, "tags", "at most 50")
	wantError(t, e.call(http.MethodPost, reg, enrollToken, api.Register{Name: "h", Tags: map[string]string{"": "v"}}), http.StatusBadRequest, "tags", "keys must be")
	wantError(t, e.call(http.MethodPost, api.PathAgent+"/hello", host.credential, api.Hello{Tags: tooMany}), http.StatusBadRequest, "tags", "at most 50")
	wantError(t, e.call(http.MethodGet, api.PathAgent+"/commands/next?wait=soon", host.credential, nil), http.StatusBadRequest, "wait", "30s")
	wantError(t, host.report("d-1:Install:1", "Done"), http.StatusBadRequest, "status", "Done", "Succeeded, Failed or Skipped")
	wantError(t, host.report("d-1:Install:1", "InProgress"), http.StatusBadRequest, "status", "InProgress")
	wantError(t, host.report("not-a-command", "Succeeded"), http.StatusNotFound, "", "deployment:event:attempt")
	// No command waiting: the poll ends empty after the wait asked for.
	want(t, e.call(http.MethodGet, api.PathAgent+"/commands/next?wait=0s", host.credential, nil), http.StatusNoContent)
}

func TestBodyLimits(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.MaxBundleBytes = 64 << 10 })
	big := `{"name":"` + strings.Repeat("a", maxJSONBody) + `"}`
	wantError(t, e.call(http.MethodPost, pathApps, adminToken, big), http.StatusRequestEntityTooLarge, "")
	wantError(t, e.call(http.MethodPost, api.PathAgent+"/register", enrollToken, big), http.StatusRequestEntityTooLarge, "")

	want(t, e.call(http.MethodPost, pathApps, adminToken, api.Application{Name: "app"}), http.StatusCreated)
	huge := bundleOf(t, map[string]string{"appspec.yml": sampleSpec, "start.sh": "#!/bin/sh\n", "noise": randomText(128 << 10)})
	wantError(t, e.upload("app", huge), http.StatusRequestEntityTooLarge, "", "max_bundle_bytes")
	if files := e.blobFiles(); len(files) != 0 {
		t.Errorf("a refused upload left %v", files)
	}
}
