package lifecycle

import (
	"strings"
	"testing"
)

func TestCheckEventOrder(t *testing.T) {
	tests := []struct {
		events  string
		wantErr string
	}{
		{strings.Join(DefaultLocalEvents, ","), ""},
		{"ApplicationStop,DownloadBundle,Install", ""},
		{"DownloadBundle,BeforeInstall,Install,CustomEvent", ""},
		{"BeforeInstall,DownloadBundle", "before DownloadBundle, got BeforeInstall"},
		{"Install,DownloadBundle", "before DownloadBundle, got Install"},
		{"DownloadBundle,AfterInstall,Install", "before Install, got AfterInstall"},
		{"DownloadBundle,CustomEvent,Install", "before Install, got CustomEvent"},
		// Without DownloadBundle and Install in the list, the order rules have nothing to check.
		{"ValidateService", ""},
		{"Install,Install", "listed twice"},
		{"", "no events"},
	}
	for _, tt := range tests {
		t.Run(tt.events, func(t *testing.T) {
			var events []string
			if tt.events != "" {
				events = strings.Split(tt.events, ",")
			}
			err := CheckEventOrder(events)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("got error %v, want none", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("got error %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestWithRequiredEvents_DownloadBundleAndInstallAlwaysRun(t *testing.T) {
	tests := []struct{ events, want string }{
		{strings.Join(DefaultLocalEvents, ","), strings.Join(DefaultLocalEvents, ",")},
		// codedeploy-local's own example: a custom event after ApplicationStart.
		{"ApplicationStart,CustomEvent", "DownloadBundle,Install,ApplicationStart,CustomEvent"},
		{"ApplicationStop,BeforeInstall,ApplicationStart", "ApplicationStop,DownloadBundle,BeforeInstall,Install,ApplicationStart"},
		{"BeforeBlockTraffic,ApplicationStop", "BeforeBlockTraffic,ApplicationStop,DownloadBundle,Install"},
		{"DownloadBundle,ValidateService", "DownloadBundle,Install,ValidateService"},
		{"Install,AfterInstall", "DownloadBundle,Install,AfterInstall"},
		// An order the user got wrong stays wrong, for CheckEventOrder to refuse.
		{"BeforeInstall,DownloadBundle", "BeforeInstall,DownloadBundle,Install"},
	}
	for _, tt := range tests {
		t.Run(tt.events, func(t *testing.T) {
			got := WithRequiredEvents(strings.Split(tt.events, ","))
			if strings.Join(got, ",") != tt.want {
				t.Errorf("got %s, want %s", strings.Join(got, ","), tt.want)
			}
		})
	}
}
