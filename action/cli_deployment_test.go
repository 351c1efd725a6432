package main

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/slipway-deploy/slipway/internal/api"
)

// failedDeployment is a deployment with one success, one failure with diagnostics, one host
// that never started and one lost with a message of its own.
func failedDeployment() api.Deployment {
	created := time.Date(2026, 3, 4, 5, 6, 0, 0, time.UTC)
	started, ended := created.Add(time.Second), created.Add(time.Minute)
	events := func(statuses ...string) []api.LifecycleEvent {
		names := []string{"ApplicationStop", "DownloadBundle", "BeforeInstall", "Install", "AfterInstall", "ApplicationStart", "ValidateService"}
		out := make([]api.LifecycleEvent, len(statuses))
		for i, s := range statuses {
			out[i] = api.LifecycleEvent{Name: names[i], Status: s}
		}
		return out
	}
	failing := events("Succeeded", "Succeeded", "Succeeded", "Succeeded", "Succeeded", "Succeeded", "Failed")
	failing[6].Diagnostics = &api.Diagnostics{ErrorCode: "ScriptTimedOut", ScriptName: "scripts/check.sh",
		Message: "script ran longer than 30 seconds", LogTail: "waiting for port 8080\nstill waiting\n"}
	return api.Deployment{
		ID: "d-7", Application: "web", Group: "prod", Revision: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
		DeploymentConfig: "CodeDeployDefault.OneAtATime", Creator: "user", Description: "release 7",
		Status: "Failed", ErrorCode: "HEALTH_CONSTRAINTS", ErrorMessage: "2 of 4 instances failed", RolledBackBy: "d-8",
		Overview:   api.Overview{Succeeded: 1, Failed: 2, Skipped: 1},
		CreateTime: created, StartTime: &started, EndTime: &ended,
		Instances: []api.DeploymentInstance{
			{Instance: "host-1", Status: "Succeeded", Events: events("Succeeded", "Succeeded", "Succeeded", "Succeeded", "Succeeded", "Succeeded", "Succeeded")},
			{Instance: "host-2", Status: "Failed", Events: failing},
			{Instance: "host-3", Status: "Skipped", Message: "deployment failed before this instance started", Events: events("Skipped", "Skipped", "Skipped", "Skipped", "Skipped", "Skipped", "Skipped")},
			{Instance: "host-4", Status: "Failed", Message: "no answer from the agent for 60s", Events: events("Succeeded", "InProgress", "Pending", "Pending", "Pending", "Pending", "Unknown")},
		},
	}
}

func TestDeploymentGet(t *testing.T) {
	f, url := newFakeAPI(t)
	f.on("GET", "/api/v1/deployments/d-7", okAnswer(failedDeployment()))
	code, stdout, stderr := runAt(t, url, "deployment", "get", "d-7")
	if code != 0 {
		t.Fatalf("exit %d, want 0; stderr:\n%s", code, stderr)
	}
	wantCalls(t, f, "GET /api/v1/deployments/d-7")
	want := "" +
		"Deployment      d-7\n" +
		"Application     web\n" +
		"Group           prod\n" +
		"Revision        9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08\n" +
		"Config          CodeDeployDefault.OneAtATime\n" +
		"Creator         user\n" +
		"Description     release 7\n" +
		"Status          Failed\n" +
		"Error           HEALTH_CONSTRAINTS: 2 of 4 instances failed\n" +
		"Rolled back by  d-8\n" +
		"Created         2026-03-04T05:06:00Z\n" +
		"Started         2026-03-04T05:06:01Z\n" +
		"Ended           2026-03-04T05:07:00Z\n" +
		"Instances       1 succeeded, 2 failed, 1 skipped\n" +
		"\n" +
		"INSTANCE  STATUS     Stop  Download  BInstall  Install  AInstall  Start  Validate\n" +
		"host-1    Succeeded  ok    ok        ok        ok       ok        ok     ok\n" +
		"host-2    Failed     ok    ok        ok        ok       ok        ok     FAIL\n" +
		"host-3    Skipped    skip  skip      skip      skip     skip      skip   skip\n" +
		"host-4    Failed     ok    run       -         -        -         -      ?\n" +
		"\n" +
		"Failures:\n" +
		"  host-2  ValidateService\n" +
		"    ScriptTimedOut: scripts/check.sh: script ran longer than 30 seconds\n" +
		"      waiting for port 8080\n" +
		"      still waiting\n" +
		"  host-4  Failed: no answer from the agent for 60s\n" +
		"\n" +
		"Not deployed:\n" +
		"  host-3  Skipped: deployment failed before this instance started\n"
	if stdout != want {
		t.Errorf("stdout:\n%s\nwant:\n%s", stdout, want)
	}
}

func TestDeploymentGet_Queued(t *testing.T) {
	f, url := newFakeAPI(t)
	f.on("GET", "/api/v1/deployments/d-1", okAnswer(api.Deployment{ID: "d-1", Application: "web", Group: "prod",
		Status: "Queued", Creator: "github", CreateTime: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}))
	code, stdout, stderr := runAt(t, url, "deployment", "get", "d-1")
	if code != 0 {
		t.Fatalf("exit %d, want 0; stderr:\n%s", code, stderr)
	}
	want := "" +
		"Deployment   d-1\n" +
		"Application  web\n" +
		"Group        prod\n" +
		"Creator      github\n" +
		"Status       Queued\n" +
		"Created      2026-01-02T03:04:05Z\n" +
		"Instances    none\n"
	if stdout != want {
		t.Errorf("stdout:\n%s\nwant:\n%s", stdout, want)
	}
}

func TestDeploymentGet_JSON(t *testing.T) {
	d := failedDeployment()
	f, url := newFakeAPI(t)
	f.on("GET", "/api/v1/deployments/d-7", okAnswer(d))
	code, stdout, stderr := runAt(t, url, "deployment", "get", "--json", "d-7")
	if code != 0 {
		t.Fatalf("exit %d, want 0; stderr:\n%s", code, stderr)
	}
	var got api.Deployment
	if err := json.Unmarshal([]byte(stdout), &got); err != nil {
		t.Fatalf("stdout %q: %v", stdout, err)
	}
	if !reflect.DeepEqual(got, d) {
		t.Errorf("got %+v\nwant %+v", got, d)
	}
	want, _ := json.MarshalIndent(d, "", "  ")
	if stdout != string(want)+"\n" {
		t.Errorf("stdout is not the deployment as indented JSON:\n%s", stdout)
	}
}

func TestDeploymentList(t *testing.T) {
	created := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	list := []api.Deployment{
		{ID: "d-8", Application: "web", Group: "prod", Status: "InProgress", Creator: "rollback", Revision: "aaaabbbbccccdddd", CreateTime: created},
		{ID: "d-7", Application: "web", Group: "prod", Status: "Failed", Creator: "user", Revision: "9f86d081884c7d65", CreateTime: created.Add(-time.Hour)},
	}
	tests := []struct {
		name    string
		args    []string
		wantURI string
	}{
		{"no filter", nil, "/api/v1/deployments"},
		{"every filter", []string{"--app", "web", "--group", "prod", "--status", "Failed,Stopped", "--status", "InProgress"},
			"/api/v1/deployments?application=web&group=prod&status=Failed&status=Stopped&status=InProgress"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, url := newFakeAPI(t)
			f.on("GET", "/api/v1/deployments", okAnswer(list))
			code, stdout, stderr := runAt(t, url, append([]string{"deployment", "list"}, tc.args...)...)
			if code != 0 {
				t.Fatalf("exit %d, want 0; stderr:\n%s", code, stderr)
			}
			wantCalls(t, f, "GET "+tc.wantURI)
			want := "" +
				"ID   APPLICATION  GROUP  STATUS      REVISION      CREATOR   CREATED\n" +
				"d-8  web          prod   InProgress  aaaabbbbcccc  rollback  2026-03-04T05:06:07Z\n" +
				"d-7  web          prod   Failed      9f86d081884c  user      2026-03-04T04:06:07Z\n"
			if stdout != want {
				t.Errorf("stdout:\n%s\nwant:\n%s", stdout, want)
			}
		})
	}
}

func TestDeploymentList_JSON(t *testing.T) {
	f, url := newFakeAPI(t)
	f.on("GET", "/api/v1/deployments", okAnswer(nil))
	code, stdout, _ := runAt(t, url, "deployment", "list", "--json")
	if code != 0 {
		t.Fatalf("exit %d, want 0", code)
	}
	if want := "[]\n"; stdout != want {
		t.Errorf("stdout = %q, want %q", stdout, want)
	}
}

func TestDeploymentStop(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		answer   api.Deployment
		wantBody api.StopDeployment
		want     string
	}{
		{"stop", nil, api.Deployment{ID: "d-7", Status: "Stopped"}, api.StopDeployment{Rollback: false},
			"deployment d-7 Stopped\n"},
		{"stop and roll back", []string{"--rollback"}, api.Deployment{ID: "d-7", Status: "Stopped", RolledBackBy: "d-8"},
			api.StopDeployment{Rollback: true}, "deployment d-7 Stopped\nrollback started: deployment d-8\n"},
		{"stopping while a host runs an event", nil,
			api.Deployment{ID: "d-7", Status: "InProgress", Overview: api.Overview{InProgress: 1, Skipped: 2, Succeeded: 1},
				Instances: []api.DeploymentInstance{testHost("web-1", "Succeeded"), testHost("web-2", "InProgress"), testHost("web-3", "Skipped")}},
			api.StopDeployment{},
			"deployment d-7 is stopping: waiting for the lifecycle events running on web-2 to finish (no new ones start); follow it with 'slipway deployment wait d-7'\n"},
		{"stopping, rollback after", []string{"--rollback"},
			api.Deployment{ID: "d-7", Status: "InProgress", Overview: api.Overview{InProgress: 2}},
			api.StopDeployment{Rollback: true},
			"deployment d-7 is stopping: waiting for the lifecycle events running on 2 host(s) to finish (no new ones start); follow it with 'slipway deployment wait d-7'\n" +
				"the rollback starts once it has stopped\n"},
		{"already ended", nil, api.Deployment{ID: "d-7", Status: "Succeeded"}, api.StopDeployment{},
			"deployment d-7 had already ended Succeeded: nothing to stop\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, url := newFakeAPI(t)
			f.on("POST", "/api/v1/deployments/d-7/stop", okAnswer(tc.answer))
			code, stdout, stderr := runAt(t, url, append([]string{"deployment", "stop", "d-7"}, tc.args...)...)
			if code != 0 {
				t.Fatalf("exit %d, want 0; stderr:\n%s", code, stderr)
			}
			wantCalls(t, f, "POST /api/v1/deployments/d-7/stop")
			if got := lastBody[api.StopDeployment](t, f); got != tc.wantBody {
				t.Errorf("body = %+v, want %+v", got, tc.wantBody)
			}
			if stdout != tc.want {
				t.Errorf("stdout = %q, want %q", stdout, tc.want)
			}
		})
	}
}

func TestDeploymentGet_StoppedListsNoFailures(t *testing.T) {
	d := api.Deployment{ID: "d-9", Status: "Stopped", ErrorCode: "MANUAL_STOP", Instances: []api.DeploymentInstance{
		{Instance: "host-1", Status: "Unknown", Message: "deployment stopped after AfterInstall",
			Events: []api.LifecycleEvent{testEvent("AfterInstall", "Succeeded"), testEvent("ApplicationStart", "Skipped")}},
		{Instance: "host-2", Status: "Skipped", Message: "deployment stopped before this instance started",
			Events: []api.LifecycleEvent{testEvent("AfterInstall", "Skipped"), testEvent("ApplicationStart", "Skipped")}},
	}}
	f, url := newFakeAPI(t)
	f.on("GET", "/api/v1/deployments/d-9", okAnswer(d))
	code, stdout, stderr := runAt(t, url, "deployment", "get", "d-9")
	if code != 0 {
		t.Fatalf("exit %d, want 0; stderr:\n%s", code, stderr)
	}
	if strings.Contains(stdout, "Failures") {
		t.Errorf("a stop with nothing failed lists failures:\n%s", stdout)
	}
	want := "\nNot deployed:\n" +
		"  host-1  Unknown: deployment stopped after AfterInstall\n" +
		"  host-2  Skipped: deployment stopped before this instance started\n"
	if !strings.HasSuffix(stdout, want) {
		t.Errorf("stdout:\n%s\nwant it to end with:\n%s", stdout, want)
	}
}
