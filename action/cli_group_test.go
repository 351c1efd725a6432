package main

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/slipway-deploy/slipway/internal/api"
)

func echoGroup(status int) fakeAnswer {
	return fakeAnswer{status: status, reply: func(r fakeRequest) any {
		var g api.DeploymentGroup
		_ = json.Unmarshal(r.Body, &g)
		return g
	}}
}

func writeTemp(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

var (
	blueTags   = [][]api.TagFilter{{{Key: "fleet", Value: "blue", Type: "KEY_AND_VALUE"}}}
	greenGroup = []api.TagFilter{{Key: "fleet", Value: "green", Type: "KEY_AND_VALUE"}}
	shopGroup  = []api.TagFilter{{Key: "app", Value: "shop", Type: "KEY_AND_VALUE"}}
)

func TestGroupCreate_BlueGreen(t *testing.T) {
	alarms := writeTemp(t, "alarms.yaml", `alarm_configuration:
  interval: 2s
  alarms:
    - name: health
      http: {url: "http://shop.internal/healthz", status: [200]}
`)
	steps := writeTemp(t, "steps.yaml", "steps:\n  - weight: 10\n  - pause: until_promoted\n  - analysis: {name: health, duration: 1m}\n")
	ten := 10
	tests := []struct {
		name  string
		extra []string
		shape api.TrafficShape
	}{
		{"linear", []string{"--traffic", "linear:25:1s"}, api.TrafficShape{Linear: &api.TrafficIncrement{Percent: 25, Interval: "1s"}}},
		{"canary", []string{"--traffic", "canary:10:5m"}, api.TrafficShape{Canary: &api.TrafficIncrement{Percent: 10, Interval: "5m"}}},
		{"preset", []string{"--traffic", "CodeDeployDefault.ECSAllAtOnce"}, api.TrafficShape{Preset: "CodeDeployDefault.ECSAllAtOnce"}},
		{"all at once", []string{"--traffic", "all-at-once"}, api.TrafficShape{AllAtOnce: true}},
		{"steps file", []string{"--traffic-file", steps}, api.TrafficShape{Steps: []api.TrafficStep{
			{Weight: &ten}, {Pause: "until_promoted"}, {Analysis: &api.TrafficAnalysis{Name: "health", Duration: "1m"}}}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, url := newFakeAPI(t)
			f.on("POST", "/api/v1/applications/shop/groups", echoGroup(http.StatusCreated))
			args := append([]string{"group", "create", "shop", "prod", "--tag", "fleet=blue", "--tag-group", "app=shop", "--deployment-type", "blue-green",
				"--replacement-tag", "fleet=green", "--router-address", "/run/haproxy/admin.sock", "--router-backend", "shop",
				"--router-server-name", "{name}-app", "--ready-wait", "30m", "--release-command", "terminate", "--release-wait", "1h",
				"--alarms-file", alarms}, tc.extra...)
			code, stdout, stderr := runAt(t, url, args...)
			if code != 0 {
				t.Fatalf("exit %d; stderr:\n%s", code, stderr)
			}
			want := api.DeploymentGroup{
				Application: "shop", Name: "prod", TagGroups: [][]api.TagFilter{blueTags[0], shopGroup}, DeploymentType: "BLUE_GREEN",
				TrafficRouter: &api.TrafficRouter{Type: "haproxy", Address: "/run/haproxy/admin.sock", Backend: "shop", ServerName: "{name}-app"},
				BlueGreen: &api.BlueGreen{
					ReplacementTags: greenGroup,
					Traffic:         tc.shape,
					ReadyWait:       api.Duration(30 * time.Minute), ReleaseCommand: "terminate", ReleaseWait: api.Duration(time.Hour),
				},
				AlarmConfiguration: &api.AlarmConfiguration{Interval: api.Duration(2 * time.Second),
					Alarms: []api.Alarm{{Name: "health", HTTP: &api.HTTPAlarm{URL: "http://shop.internal/healthz", Status: []int{200}}}}},
			}
			if got := lastBody[api.DeploymentGroup](t, f); !reflect.DeepEqual(got, want) {
				t.Errorf("body:\n  got  %+v\n  want %+v", got, want)
			}
			if stdout != "created deployment group shop/prod\n" {
				t.Errorf("stdout %q", stdout)
			}
		})
	}
}

func TestGroupFlags_Mistakes(t *testing.T) {
	typo := writeTemp(t, "typo.yaml", "linear: {percent: 10, intervall: 1m}\n")
	for _, tc := range []struct {
		name string
		args []string
		says string
	}{
		{"bad shape", []string{"--deployment-type", "blue-green", "--traffic", "linear:ten:1m"}, `--traffic "linear:ten:1m": want all-at-once`},
		{"blue/green settings in place", []string{"--traffic", "all-at-once"}, "are for --deployment-type blue-green"},
		{"unknown type", []string{"--deployment-type", "canary"}, `"canary": want in-place or blue-green`},
		{"shape twice", []string{"--deployment-type", "blue-green", "--traffic", "all-at-once", "--traffic-file", typo}, "not both"},
		{"misspelt key", []string{"--deployment-type", "blue-green", "--traffic-file", typo}, `unknown field "intervall"`},
		{"update-only flag", []string{"--no-router"}, "are for group update"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, url := newFakeAPI(t)
			code, _, stderr := runAt(t, url, append([]string{"group", "create", "shop", "prod", "--tag", "fleet=blue"}, tc.args...)...)
			if code != 2 || !strings.Contains(stderr, tc.says) {
				t.Errorf("exit %d, stderr %q; want 2 saying %q", code, stderr, tc.says)
			}
			wantCalls(t, f)
		})
	}
}

// In a blue/green group the --tag filters are the serving fleet's own: --tag-group alone would
// make a shared tag group the one that swaps.
func TestGroupUpdate_BlueGreenTagGroupNeedsTag(t *testing.T) {
	f, url := newFakeAPI(t)
	f.on("GET", "/api/v1/applications/shop/groups/prod", fakeAnswer{status: http.StatusOK, body: api.DeploymentGroup{
		Application: "shop", Name: "prod", TagGroups: blueTags, DeploymentType: "BLUE_GREEN",
		BlueGreen: &api.BlueGreen{ReplacementTags: greenGroup, Traffic: api.TrafficShape{AllAtOnce: true}}}})
	code, _, stderr := runAt(t, url, "group", "update", "shop", "prod", "--tag-group", "app=shop")
	if code != 2 || !strings.Contains(stderr, "--tag-group without --tag") {
		t.Errorf("exit %d, stderr %q; want 2 saying --tag-group needs --tag", code, stderr)
	}
	wantCalls(t, f, "GET /api/v1/applications/shop/groups/prod")
}

// group update changes what its flags name and keeps the rest of the group as the server has it.
func TestGroupUpdate(t *testing.T) {
	current := api.DeploymentGroup{
		Application: "shop", Name: "prod", TagGroups: blueTags, DeploymentConfig: "CodeDeployDefault.OneAtATime", OnBusy: "queue",
		DeploymentType: "BLUE_GREEN",
		TrafficRouter:  &api.TrafficRouter{Type: "haproxy", Address: "/run/haproxy/admin.sock", Backend: "shop"},
		BlueGreen: &api.BlueGreen{ReplacementTags: greenGroup, ReplacementFleet: [][]api.TagFilter{greenGroup},
			Traffic: api.TrafficShape{AllAtOnce: true}, ReadyWait: api.Duration(time.Minute)},
		AlarmConfiguration: &api.AlarmConfiguration{Alarms: []api.Alarm{{Name: "h", HTTP: &api.HTTPAlarm{URL: "http://h"}}}},
	}
	tests := []struct {
		name   string
		args   []string
		change func(*api.DeploymentGroup)
	}{
		{"traffic", []string{"--traffic", "linear:10:1m", "--ready-wait", "0s"}, func(g *api.DeploymentGroup) {
			g.BlueGreen.Traffic = api.TrafficShape{Linear: &api.TrafficIncrement{Percent: 10, Interval: "1m"}}
			g.BlueGreen.ReadyWait = 0
		}},
		{"router backend", []string{"--router-backend", "shop2"}, func(g *api.DeploymentGroup) { g.TrafficRouter.Backend = "shop2" }},
		{"back in place without router or alarms", []string{"--deployment-type", "in-place", "--no-router", "--no-alarms"}, func(g *api.DeploymentGroup) {
			g.DeploymentType, g.BlueGreen, g.TrafficRouter, g.AlarmConfiguration = "", nil, nil, nil
		}},
		{"switch off a bool", []string{"--reject-when-busy=false", "--auto-rollback"}, func(g *api.DeploymentGroup) { g.AutoRollback.OnFailure = true }},
		{"fleets", []string{"--tag", "fleet=blue", "--tag-group", "app=shop", "--replacement-tag", "fleet=green", "--replacement-tag", "fleet=teal"}, func(g *api.DeploymentGroup) {
			g.TagGroups = [][]api.TagFilter{blueTags[0], shopGroup}
			g.BlueGreen.ReplacementTags = []api.TagFilter{greenGroup[0], {Key: "fleet", Value: "teal", Type: "KEY_AND_VALUE"}}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, url := newFakeAPI(t)
			f.on("GET", "/api/v1/applications/shop/groups/prod", fakeAnswer{status: http.StatusOK, body: current})
			f.on("PUT", "/api/v1/applications/shop/groups/prod", echoGroup(http.StatusOK))
			code, stdout, stderr := runAt(t, url, append([]string{"group", "update", "shop", "prod"}, tc.args...)...)
			if code != 0 {
				t.Fatalf("exit %d; stderr:\n%s", code, stderr)
			}
			var want api.DeploymentGroup
			b, _ := json.Marshal(current)
			_ = json.Unmarshal(b, &want)
			if want.BlueGreen != nil {
				// Derived by the server: not sent back.
				want.BlueGreen.ReplacementFleet = nil
			}
			tc.change(&want)
			if got := lastBody[api.DeploymentGroup](t, f); !reflect.DeepEqual(got, want) {
				t.Errorf("body:\n  got  %+v\n  want %+v", got, want)
			}
			if stdout != "updated deployment group shop/prod\n" {
				t.Errorf("stdout %q", stdout)
			}
		})
	}
}

func TestDeploymentActions(t *testing.T) {
	until := time.Date(2026, 3, 1, 12, 5, 0, 0, time.UTC)
	d := api.Deployment{ID: "d-1", Status: "InProgress", DeploymentType: "BLUE_GREEN", Traffic: &api.DeploymentTraffic{
		Phase: "AllowTraffic", Shape: "Linear25PercentEvery1m0s", Percent: 50, Step: 3, Steps: 7, Waiting: "pause", WaitUntil: &until,
	}}
	for _, action := range []string{"promote", "pause", "continue", "abort"} {
		t.Run(action, func(t *testing.T) {
			f, url := newFakeAPI(t)
			f.on("POST", "/api/v1/deployments/d-1/"+action, fakeAnswer{status: http.StatusOK, body: d})
			code, stdout, stderr := runAt(t, url, "deployment", action, "d-1")
			if code != 0 {
				t.Fatalf("exit %d; stderr:\n%s", code, stderr)
			}
			wantCalls(t, f, "POST /api/v1/deployments/d-1/"+action)
			want := "deployment d-1 InProgress: phase AllowTraffic, 50% of traffic on the replacements (step 3 of 7 of Linear25PercentEvery1m0s), waiting (pause) until " + formatTime(until) + "\n"
			if stdout != want {
				t.Errorf("stdout\n got %q\nwant %q", stdout, want)
			}
		})
	}
	f, url := newFakeAPI(t)
	f.on("POST", "/api/v1/deployments/d-1/promote", fakeAnswer{status: http.StatusUnprocessableEntity, body: api.Error{Message: "promote: nothing waits to be promoted"}})
	if code, _, stderr := runAt(t, url, "deployment", "promote", "d-1"); code != 1 || !strings.Contains(stderr, "nothing waits to be promoted") {
		t.Errorf("refused promote: exit %d, stderr %q", code, stderr)
	}
}

func TestGroupGet(t *testing.T) {
	created := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	g := api.DeploymentGroup{
		Application: "shop", Name: "prod", DeploymentConfig: "CodeDeployDefault.OneAtATime", OnBusy: "queue",
		TagGroups: [][]api.TagFilter{
			{{Key: "role", Value: "web", Type: "KEY_AND_VALUE"}, {Key: "canary", Type: "KEY_ONLY"}},
			{{Key: "env", Value: "prod", Type: "KEY_AND_VALUE"}},
		},
		AutoRollback:     api.AutoRollback{OnFailure: true},
		CurrentRevision:  "0123456789abcdef",
		ActiveDeployment: "d-2", QueuedDeployments: []string{"d-3", "d-4"},
		CreateTime: created,
	}
	f, url := newFakeAPI(t)
	f.on("GET", "/api/v1/applications/shop/groups/prod", okAnswer(g))
	code, stdout, stderr := runAt(t, url, "group", "get", "shop", "prod")
	if code != 0 {
		t.Fatalf("exit %d; stderr:\n%s", code, stderr)
	}
	want := "" +
		"Group          shop/prod\n" +
		"Type           in place\n" +
		"Instances      (role=web or canary=) and env=prod\n" +
		"Config         CodeDeployDefault.OneAtATime\n" +
		"Auto rollback  on failure\n" +
		"While busy     queue new deployments\n" +
		"Revision       0123456789abcdef\n" +
		"Active         d-2\n" +
		"Queued         d-3, d-4\n" +
		"Created        2026-03-01T12:00:00Z\n"
	if stdout != want {
		t.Errorf("stdout:\n%s\nwant:\n%s", stdout, want)
	}

	code, stdout, _ = runAt(t, url, "group", "get", "shop", "prod", "--json")
	var got api.DeploymentGroup
	if err := json.Unmarshal([]byte(stdout), &got); code != 0 || err != nil {
		t.Fatalf("--json: exit %d, output %q: %v", code, stdout, err)
	}
	if !reflect.DeepEqual(got, g) {
		t.Errorf("--json:\n  got  %+v\n  want %+v", got, g)
	}

	g.Upload = api.UploadDirect
	f.on("GET", "/api/v1/applications/shop/groups/prod", okAnswer(g))
	_, stdout, _ = runAt(t, url, "group", "get", "shop", "prod")
	if want := "While busy     queue new deployments\nUpload         direct: "; !strings.Contains(stdout, want) {
		t.Errorf("a direct-upload group: stdout:\n%s\nwant it to contain %q", stdout, want)
	}
}

func TestGroupList(t *testing.T) {
	groups := []api.DeploymentGroup{
		{Application: "shop", Name: "prod", DeploymentConfig: "CodeDeployDefault.OneAtATime", TagGroups: blueTags,
			CurrentRevision: "0123456789abcdef", ActiveDeployment: "d-2"},
		{Application: "shop", Name: "staging", DeploymentConfig: "CodeDeployDefault.AllAtOnce", DeploymentType: "BLUE_GREEN", TagGroups: blueTags},
	}
	f, url := newFakeAPI(t)
	f.on("GET", "/api/v1/applications/shop/groups", okAnswer(groups))
	code, stdout, stderr := runAt(t, url, "group", "list", "shop")
	if code != 0 {
		t.Fatalf("exit %d; stderr:\n%s", code, stderr)
	}
	want := "" +
		"NAME     TYPE        CONFIG                        INSTANCES   REVISION      ACTIVE\n" +
		"prod     in place    CodeDeployDefault.OneAtATime  fleet=blue  0123456789ab  d-2\n" +
		"staging  blue/green  CodeDeployDefault.AllAtOnce   fleet=blue  -             -\n"
	if stdout != want {
		t.Errorf("stdout:\n%s\nwant:\n%s", stdout, want)
	}
	code, stdout, _ = runAt(t, url, "group", "list", "shop", "--json")
	var got []api.DeploymentGroup
	if err := json.Unmarshal([]byte(stdout), &got); code != 0 || err != nil || !reflect.DeepEqual(got, groups) {
		t.Errorf("--json: exit %d, %v, got %+v", code, err, got)
	}
}

// TestCLI_JSONOnEveryGetAndList: every get and list command takes --json and prints what the
// server sent.
func TestCLI_JSONOnEveryGetAndList(t *testing.T) {
	f, url := newFakeAPI(t)
	f.on("GET", "/api/v1/applications/shop/groups/prod", okAnswer(api.DeploymentGroup{Name: "prod"}))
	f.on("GET", "/api/v1/applications/shop/groups", okAnswer([]api.DeploymentGroup{}))
	f.on("GET", "/api/v1/deployment-configs", okAnswer([]api.DeploymentConfig{}))
	f.on("GET", "/api/v1/deployments/d-1", okAnswer(api.Deployment{ID: "d-1"}))
	f.on("GET", "/api/v1/deployments", okAnswer([]api.Deployment{}))
	f.on("GET", "/api/v1/instances", okAnswer([]api.Instance{}))
	for _, args := range [][]string{
		{"group", "get", "shop", "prod"}, {"group", "list", "shop"}, {"config", "list"},
		{"deployment", "get", "d-1"}, {"deployment", "list"}, {"instance", "list"},
	} {
		code, stdout, stderr := runAt(t, url, append(args, "--json")...)
		if code != 0 || !json.Valid([]byte(stdout)) {
			t.Errorf("%s --json: exit %d, stdout %q, stderr %q", strings.Join(args, " "), code, stdout, stderr)
		}
	}
}
