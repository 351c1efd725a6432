package apiserver

import (
	"net/http"
	"reflect"
	"testing"
	"time"

	"github.com/slipway-deploy/slipway/internal/api"
)

func TestGroups_TrafficSettings(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.ReleaseCommands = []string{"terminate"} })
	want(t, e.call(http.MethodPost, pathApps, adminToken, api.Application{Name: "app"}), http.StatusCreated)
	groups := pathApps + "/app/groups"
	blue := [][]api.TagFilter{{{Key: "fleet", Value: "blue", Type: "KEY_AND_VALUE"}}}
	green := []api.TagFilter{{Key: "fleet", Value: "green", Type: "KEY_AND_VALUE"}}
	shop := []api.TagFilter{{Key: "app", Value: "shop", Type: "KEY_AND_VALUE"}}
	router := &api.TrafficRouter{Type: "haproxy", Address: "/run/haproxy/admin.sock", Backend: "shop", ServerName: "{name}"}
	ten := 10
	bg := api.DeploymentGroup{
		Name: "shop", TagGroups: [][]api.TagFilter{blue[0], shop}, DeploymentType: "BLUE_GREEN", TrafficRouter: router,
		BlueGreen: &api.BlueGreen{
			ReplacementTags: green,
			Traffic:         api.TrafficShape{Steps: []api.TrafficStep{{Weight: &ten}, {Pause: "until_promoted"}, {Analysis: &api.TrafficAnalysis{Name: "errors", Duration: "1m"}}}},
			ReadyWait:       api.Duration(30 * time.Minute), ReleaseCommand: "terminate", ReleaseWait: api.Duration(time.Hour),
		},
		AlarmConfiguration: &api.AlarmConfiguration{Interval: api.Duration(time.Second), Alarms: []api.Alarm{
			{Name: "errors", Prometheus: &api.PrometheusAlarm{URL: "http://127.0.0.1:9090", Query: "up", Op: "<", Threshold: ptr(1.0)}},
			{Name: "health", HTTP: &api.HTTPAlarm{URL: "http://127.0.0.1:9/healthz", Status: []int{200}}},
		}},
	}
	r := e.call(http.MethodPost, groups, adminToken, bg)
	want(t, r, http.StatusCreated)
	var got api.DeploymentGroup
	r.decode(t, &got)
	r = e.call(http.MethodGet, groups+"/shop", adminToken, nil)
	want(t, r, http.StatusOK)
	r.decode(t, &got)
	// The group's tag groups other than the first select the replacement fleet too.
	wantBG := *bg.BlueGreen
	wantBG.ReplacementFleet = [][]api.TagFilter{green, shop}
	if got.DeploymentType != "BLUE_GREEN" || !reflect.DeepEqual(got.TrafficRouter, router) || !reflect.DeepEqual(got.BlueGreen, &wantBG) ||
		!reflect.DeepEqual(got.AlarmConfiguration, bg.AlarmConfiguration) {
		t.Errorf("read back %+v %+v %+v %+v, want what was created", got.DeploymentType, got.TrafficRouter, got.BlueGreen, got.AlarmConfiguration)
	}

	// An in-place group with a router.
	inPlace := api.DeploymentGroup{Name: "web", TagGroups: blue, TrafficRouter: router}
	r = e.call(http.MethodPost, groups, adminToken, inPlace)
	want(t, r, http.StatusCreated)
	var web api.DeploymentGroup
	r.decode(t, &web)
	if web.DeploymentType != "" || !reflect.DeepEqual(web.TrafficRouter, router) || web.BlueGreen != nil {
		t.Errorf("in place with router: %+v", web)
	}

	with := func(change func(*api.DeploymentGroup)) api.DeploymentGroup {
		g := bg
		b := *bg.BlueGreen
		g.BlueGreen, g.Name = &b, "bad"
		change(&g)
		return g
	}
	for _, tc := range []struct {
		name  string
		body  api.DeploymentGroup
		field string
		says  string
	}{
		{"unknown type", with(func(g *api.DeploymentGroup) { g.DeploymentType = "CANARY" }), "deployment_type", "IN_PLACE or BLUE_GREEN"},
		{"blue/green settings in place", with(func(g *api.DeploymentGroup) { g.DeploymentType = "" }), "blue_green", "deployment_type BLUE_GREEN"},
		{"no router", with(func(g *api.DeploymentGroup) { g.TrafficRouter = nil }), "traffic_router", "moves traffic through a router"},
		{"bad router", with(func(g *api.DeploymentGroup) { g.TrafficRouter = &api.TrafficRouter{Type: "haproxy", Address: "socket"} }), "traffic_router", "address"},
		{"no blue_green", with(func(g *api.DeploymentGroup) { g.BlueGreen = nil }), "blue_green", "replacement fleet"},
		{"no replacement tags", with(func(g *api.DeploymentGroup) { g.BlueGreen.ReplacementTags = nil }), "blue_green.replacement_tags", "in place of the first of tag_groups"},
		{"bad replacement tag", with(func(g *api.DeploymentGroup) {
			g.BlueGreen.ReplacementTags = []api.TagFilter{{Key: "fleet", Type: "EXACT"}}
		}), "blue_green.replacement_tags[0].type", "tag filter type"},
		{"two shapes", with(func(g *api.DeploymentGroup) { g.BlueGreen.Traffic.AllAtOnce = true }), "blue_green.traffic", "keep one of"},
		{"bad preset", with(func(g *api.DeploymentGroup) { g.BlueGreen.Traffic = api.TrafficShape{Preset: "Fast"} }), "blue_green.traffic", "preset \"Fast\""},
		{"unknown release command", with(func(g *api.DeploymentGroup) { g.BlueGreen.ReleaseCommand = "rm" }), "blue_green.release_command", "terminate"},
		{"same fleets", with(func(g *api.DeploymentGroup) { g.BlueGreen.ReplacementTags = blue[0] }), "", "tell them apart"},
		{"bad alarm", with(func(g *api.DeploymentGroup) {
			g.AlarmConfiguration = &api.AlarmConfiguration{Alarms: []api.Alarm{{Name: "errors", Prometheus: &api.PrometheusAlarm{URL: "x", Query: "up", Op: "gt"}}}}
		}), "alarm_configuration", `op "gt" is not a comparison`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantError(t, e.call(http.MethodPost, groups, adminToken, tc.body), http.StatusBadRequest, tc.field, tc.says)
		})
	}
}

// Promote, pause and continue apply to blue/green deployments in their phases; abort stops any.
func TestDeployments_Actions(t *testing.T) {
	e := newEnv(t)
	digest := e.fleet()
	host := e.register("web-1", map[string]string{"role": "web"})
	d := e.deploy(digest)
	path := pathDeps + "/" + d.ID
	for _, action := range []string{"promote", "pause", "continue"} {
		wantError(t, e.call(http.MethodPost, path+"/"+action, adminToken, nil), http.StatusUnprocessableEntity, "", "blue/green")
	}
	wantError(t, e.call(http.MethodPost, pathDeps+"/d-nope/promote", adminToken, nil), http.StatusNotFound, "")

	r := e.call(http.MethodPost, path+"/abort", adminToken, nil)
	want(t, r, http.StatusOK)
	// Twice is not an error.
	want(t, e.call(http.MethodPost, path+"/abort", adminToken, nil), http.StatusOK)
	fin := host.runUntilFinished(d.ID, "Succeeded")
	if fin.Status != "Stopped" || fin.ErrorCode != "MANUAL_STOP" || fin.ErrorMessage != "aborted by a user" || fin.RolledBackBy != "" {
		t.Errorf("aborted: %s %s %q rolled back by %q", fin.Status, fin.ErrorCode, fin.ErrorMessage, fin.RolledBackBy)
	}
	wantError(t, e.call(http.MethodPost, path+"/promote", adminToken, nil), http.StatusConflict, "", "nothing to promote")
	wantError(t, e.call(http.MethodGet, path+"/promote", adminToken, nil), http.StatusMethodNotAllowed, "")
}

func ptr[T any](v T) *T { return &v }
