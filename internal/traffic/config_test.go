package traffic_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/slipway-deploy/slipway/internal/traffic"
)

func TestConfig_ShapeFromYAML(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want string
	}{
		{"preset", "preset: CodeDeployDefault.ECSCanary10Percent15Minutes", "0=10 15m=100"},
		{"all at once", "all_at_once: true", "0=100"},
		{"canary", "canary: {percent: 25, interval: 90s}", "0=25 1m30s=100"},
		{"linear", "linear: {percent: 34, interval: 10s}", "0=34 10s=68 20s=100"},
		{"steps", `
steps:
  - weight: 10
  - pause: 5m
  - analysis: {name: error-rate, duration: 2m}
  - weight: 50
  - pause: until_promoted
  - analysis: {name: smoke}
`, "0=10 7m=50 7m=100*"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c traffic.Config
			if err := yaml.Unmarshal([]byte(tt.yaml), &c); err != nil {
				t.Fatal(err)
			}
			s, err := c.Shape()
			if err != nil {
				t.Fatalf("Shape: %v", err)
			}
			if got := weights(s.Timeline()); got != tt.want {
				t.Errorf("timeline = %s; want %s", got, tt.want)
			}
		})
	}
}

func TestConfig_StepsKeepTheirKinds(t *testing.T) {
	var c traffic.Config
	in := `{"steps": [{"weight": 0}, {"pause": "until_promoted"}, {"analysis": {"name": "smoke"}}, {"pause": "1m"}]}`
	if err := json.Unmarshal([]byte(in), &c); err != nil {
		t.Fatal(err)
	}
	s, err := c.Shape()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, st := range s.Steps {
		got = append(got, st.Kind.String())
	}
	want := "weight await_promotion analysis pause weight"
	if strings.Join(got, " ") != want {
		t.Errorf("kinds = %v; want %s", got, want)
	}
	if s.Steps[2].Analysis != "smoke" || s.Steps[2].Duration != 0 {
		t.Errorf("analysis step = %+v; want smoke, a single check", s.Steps[2])
	}
}

func TestConfig_ErrorsSayWhatToChange(t *testing.T) {
	tests := []struct {
		name string
		json string
		want string
	}{
		{"empty", `{}`, "no traffic shape; set one of preset, all_at_once, canary, linear or steps"},
		{"two shapes", `{"all_at_once": true, "canary": {"percent": 10, "interval": "5m"}}`, "all_at_once and canary are all set; keep one of"},
		{"unknown preset", `{"preset": "CodeDeployDefault.ECSCanary10Percent6Minutes"}`, `preset "CodeDeployDefault.ECSCanary10Percent6Minutes" is not one we know; use one of CodeDeployDefault.ECSLinear10PercentEvery1Minutes`},
		{"canary interval missing", `{"canary": {"percent": 10}}`, "canary.interval is empty; set a duration such as 5m"},
		{"canary interval in minutes", `{"canary": {"percent": 10, "interval": "5"}}`, `canary.interval "5" is not a duration; write one such as 90s, 5m or 1h`},
		{"linear percent", `{"linear": {"percent": 0, "interval": "1m"}}`, "linear.percent is 0; use 1 to 99"},
		{"empty steps", `{"steps": []}`, "steps is empty; add a step"},
		{"step with two fields", `{"steps": [{"weight": 10, "pause": "1m"}]}`, "steps[0] sets weight and pause; set exactly one of weight, pause or analysis"},
		{"step with nothing", `{"steps": [{"weight": 10}, {}]}`, "steps[1] sets nothing; set exactly one"},
		{"bad pause", `{"steps": [{"pause": "forever"}]}`, `steps[0].pause "forever" is not a duration; write one such as 90s, 5m or 1h (or "until_promoted" to wait for a promotion)`},
		{"negative pause", `{"steps": [{"pause": "-1m"}]}`, "steps[0].pause is -1m0s; use a duration above 0"},
		{"weight out of range", `{"steps": [{"weight": 150}]}`, "steps[0].weight is 150; use a percentage from 0 to 100"},
		{"analysis without name", `{"steps": [{"analysis": {"duration": "1m"}}]}`, "steps[0].analysis.name is empty"},
		{"analysis bad duration", `{"steps": [{"analysis": {"name": "x", "duration": "1 min"}}]}`, `steps[0].analysis.duration "1 min" is not a duration`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c traffic.Config
			if err := json.Unmarshal([]byte(tt.json), &c); err != nil {
				t.Fatal(err)
			}
			err := c.Validate()
			if !errors.Is(err, traffic.ErrInvalidShape) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v\nwant ErrInvalidShape saying %q", err, tt.want)
			}
		})
	}
}
