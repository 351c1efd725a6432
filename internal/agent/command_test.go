package agent

import (
	"strings"
	"testing"
	"time"

	"github.com/slipway-deploy/slipway/internal/api"
	"github.com/slipway-deploy/slipway/internal/appspec"
	"github.com/slipway-deploy/slipway/internal/lifecycle"
	"github.com/slipway-deploy/slipway/internal/script"
)

func TestToAPI(t *testing.T) {
	start := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	end := start.Add(time.Second)
	tests := []struct {
		name string
		in   lifecycle.Result
		want api.Result
	}{
		{
			name: "succeeded quietly",
			in:   lifecycle.Result{Status: lifecycle.StatusSucceeded, Started: start, Finished: end},
			want: api.Result{Status: "Succeeded", StartTime: start, EndTime: end},
		},
		{
			name: "succeeded with notes",
			in:   lifecycle.Result{Status: lifecycle.StatusSucceeded, Notes: []string{"3 entries, 1 KiB (tgz)"}, Started: start, Finished: end},
			want: api.Result{Status: "Succeeded", Diagnostics: &api.Diagnostics{Message: "3 entries, 1 KiB (tgz)"}, StartTime: start, EndTime: end},
		},
		{
			name: "skipped",
			in:   lifecycle.Result{Status: lifecycle.StatusSkipped, Message: "no scripts", Started: start, Finished: end},
			want: api.Result{Status: "Skipped", Diagnostics: &api.Diagnostics{Message: "no scripts"}, StartTime: start, EndTime: end},
		},
		{
			name: "script failed",
			in: lifecycle.Result{Status: lifecycle.StatusFailed, Code: script.Failed, Message: "exit 3",
				Script: "hooks/start.sh", Tail: "[stderr] boom\n", Started: start, Finished: end},
			want: api.Result{Status: "Failed", Diagnostics: &api.Diagnostics{ErrorCode: "ScriptFailed", ScriptName: "hooks/start.sh", Message: "exit 3", LogTail: "[stderr] boom\n"},
				StartTime: start, EndTime: end},
		},
		{
			name: "no status is a failure",
			in:   lifecycle.Result{Started: start, Finished: end},
			want: api.Result{Status: "Failed", Diagnostics: &api.Diagnostics{ErrorCode: "UnknownError"}, StartTime: start, EndTime: end},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := toAPI(tt.in)
			if got.Status != tt.want.Status || !got.StartTime.Equal(tt.want.StartTime) || !got.EndTime.Equal(tt.want.EndTime) {
				t.Errorf("toAPI = %+v, want %+v", got, tt.want)
			}
			switch {
			case (got.Diagnostics == nil) != (tt.want.Diagnostics == nil):
				t.Errorf("diagnostics = %+v, want %+v", got.Diagnostics, tt.want.Diagnostics)
			case got.Diagnostics != nil && *got.Diagnostics != *tt.want.Diagnostics:
				t.Errorf("diagnostics = %+v, want %+v", *got.Diagnostics, *tt.want.Diagnostics)
			}
		})
	}
}

func TestDeployment_MapsCommand(t *testing.T) {
	cmd := api.Command{
		ID: "cmd-1", DeploymentID: "d-1", Event: appspec.EventInstall, ApplicationName: "shop", GroupName: "web",
		GroupID: "g-1", FileExistsBehavior: "OVERWRITE", Bundle: api.Bundle{Env: map[string]string{"BUNDLE_COMMIT": "abc"}},
	}
	d, err := deployment(cmd)
	if err != nil {
		t.Fatal(err)
	}
	if d.ID != "d-1" || d.ApplicationName != "shop" || d.GroupName != "web" || d.GroupID != "g-1" ||
		d.Command != "cmd-1" || d.FileExists != appspec.FileExistsOverwrite || d.BundleEnv["BUNDLE_COMMIT"] != "abc" {
		t.Errorf("deployment(%+v) = %+v", cmd, d)
	}
}

func TestDeployment_RefusesUnusableCommands(t *testing.T) {
	tests := []struct {
		name    string
		change  func(c *api.Command)
		wantMsg string
	}{
		{"group id with a slash", func(c *api.Command) { c.GroupID = "a/b" }, "deployment group id"},
		{"deployment id dot-dot", func(c *api.Command) { c.DeploymentID = ".." }, "deployment id"},
		{"empty deployment id", func(c *api.Command) { c.DeploymentID = "" }, "deployment id"},
		{"group id of the agent's own files", func(c *api.Command) { c.GroupID = "agent" }, "reserved"},
		{"group id of the crash markers", func(c *api.Command) { c.GroupID = "ongoing-deployment" }, "reserved"},
		{"file exists behavior", func(c *api.Command) { c.FileExistsBehavior = "overwrite" }, "file exists behavior"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := api.Command{ID: "cmd-1", DeploymentID: "d-1", GroupID: "g-1", Event: appspec.EventInstall}
			tt.change(&cmd)
			_, err := deployment(cmd)
			if err == nil || !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("deployment: got %v, want an error about %q", err, tt.wantMsg)
			}
		})
	}
}
