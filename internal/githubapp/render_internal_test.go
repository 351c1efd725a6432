package githubapp

import (
	"strings"
	"testing"

	"github.com/slipway-deploy/slipway/internal/api"
)

// What a host reports is shown as text in a check run: a backquote in a script name or error
// code cannot close its code span and make the rest a link.
func TestCheckText_HostReportsStayInTheirCodeSpans(t *testing.T) {
	evil := "x` [approve the release](https://evil.example) `"
	d := api.Deployment{Instances: []api.DeploymentInstance{{Instance: "web-1", Events: []api.LifecycleEvent{{
		Name: "ApplicationStart", Status: "Failed",
		Diagnostics: &api.Diagnostics{ErrorCode: evil, ScriptName: evil, Message: "failed", LogTail: "out"},
	}}}}}
	text := checkText(d)
	for _, line := range strings.Split(text, "\n") {
		if strings.Contains(line, "evil.example") && !strings.Contains(line, "`x' [approve the release](https://evil.example) '`") {
			t.Errorf("line %q: the report left its code span", line)
		}
	}
	if !strings.Contains(text, "evil.example") {
		t.Fatalf("the reports were not shown at all:\n%s", text)
	}
}
