package traffic_test

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/slipway-deploy/slipway/internal/traffic"
)

// weights renders a timeline as "offset=weight" pairs ("5m=100"), with a * on points behind a
// promotion.
func weights(points []traffic.Point) string {
	parts := make([]string, len(points))
	for i, p := range points {
		at := "0"
		if p.At > 0 {
			at = p.At.String()
			if strings.HasSuffix(at, "m0s") {
				at = strings.TrimSuffix(at, "0s")
			}
		}
		parts[i] = fmt.Sprintf("%s=%d", at, p.Weight)
		if p.Gated {
			parts[i] += "*"
		}
	}
	return strings.Join(parts, " ")
}

func TestShape_Timeline(t *testing.T) {
	mustCanary := func(p int, d time.Duration) traffic.Shape {
		s, err := traffic.Canary(p, d)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	mustLinear := func(p int, d time.Duration) traffic.Shape {
		s, err := traffic.Linear(p, d)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	mustSteps := func(steps ...traffic.Step) traffic.Shape {
		s, err := traffic.Steps("custom", steps)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	tests := []struct {
		name  string
		shape traffic.Shape
		want  string
	}{
		{"all at once", traffic.AllAtOnce(), "0=100"},
		{"canary 10% 5m", mustCanary(10, 5*time.Minute), "0=10 5m=100"},
		{"linear 10% 1m", mustLinear(10, time.Minute), "0=10 1m=20 2m=30 3m=40 4m=50 5m=60 6m=70 7m=80 8m=90 9m=100"},
		{"linear 30% uneven", mustLinear(30, 2*time.Second), "0=30 2s=60 4s=90 6s=100"},
		{"linear 50%", mustLinear(50, time.Minute), "0=50 1m=100"},
		{"steps end at 100 on their own", mustSteps(
			traffic.Step{Kind: traffic.SetWeight, Weight: 5},
			traffic.Step{Kind: traffic.Pause, Duration: 30 * time.Second},
			traffic.Step{Kind: traffic.Analysis, Analysis: "errors", Duration: time.Minute},
			traffic.Step{Kind: traffic.SetWeight, Weight: 50},
			traffic.Step{Kind: traffic.AwaitPromotion},
			traffic.Step{Kind: traffic.SetWeight, Weight: 100},
			traffic.Step{Kind: traffic.Pause, Duration: time.Hour},
		), "0=5 1m30s=50 1m30s=100*"},
		{"steps short of 100 get a last step", mustSteps(
			traffic.Step{Kind: traffic.SetWeight, Weight: 20},
			traffic.Step{Kind: traffic.Pause, Duration: time.Minute},
		), "0=20 1m=100"},
		{"steps may step back", mustSteps(
			traffic.Step{Kind: traffic.SetWeight, Weight: 50},
			traffic.Step{Kind: traffic.SetWeight, Weight: 0},
			traffic.Step{Kind: traffic.AwaitPromotion},
		), "0=50 0=0 0=100*"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := weights(tt.shape.Timeline()); got != tt.want {
				t.Errorf("timeline = %s; want %s", got, tt.want)
			}
			if last := tt.shape.Timeline()[len(tt.shape.Timeline())-1]; last.Weight != 100 {
				t.Errorf("last weight = %d; want 100", last.Weight)
			}
		})
	}
}

func TestShape_StepIndexes(t *testing.T) {
	s, err := traffic.Linear(40, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	var idx []int
	for _, p := range s.Timeline() {
		idx = append(idx, p.Step)
		if s.Steps[p.Step].Kind != traffic.SetWeight || s.Steps[p.Step].Weight != p.Weight {
			t.Errorf("point %+v does not name its SetWeight step (%+v)", p, s.Steps[p.Step])
		}
	}
	if want := []int{0, 2, 4}; !slices.Equal(idx, want) {
		t.Errorf("step indexes = %v; want %v", idx, want)
	}
}

func TestPreset_AllOfCodeDeploys(t *testing.T) {
	tests := []struct {
		name string
		want string
	}{
		{"CodeDeployDefault.ECSLinear10PercentEvery1Minutes", "0=10 1m=20 2m=30 3m=40 4m=50 5m=60 6m=70 7m=80 8m=90 9m=100"},
		{"CodeDeployDefault.ECSLinear10PercentEvery3Minutes", "0=10 3m=20 6m=30 9m=40 12m=50 15m=60 18m=70 21m=80 24m=90 27m=100"},
		{"CodeDeployDefault.ECSCanary10Percent5Minutes", "0=10 5m=100"},
		{"CodeDeployDefault.ECSCanary10Percent15Minutes", "0=10 15m=100"},
		{"CodeDeployDefault.ECSAllAtOnce", "0=100"},
		{"CodeDeployDefault.LambdaCanary10Percent5Minutes", "0=10 5m=100"},
		{"CodeDeployDefault.LambdaCanary10Percent10Minutes", "0=10 10m=100"},
		{"CodeDeployDefault.LambdaCanary10Percent15Minutes", "0=10 15m=100"},
		{"CodeDeployDefault.LambdaCanary10Percent30Minutes", "0=10 30m=100"},
		{"CodeDeployDefault.LambdaLinear10PercentEvery1Minute", "0=10 1m=20 2m=30 3m=40 4m=50 5m=60 6m=70 7m=80 8m=90 9m=100"},
		{"CodeDeployDefault.LambdaLinear10PercentEvery2Minutes", "0=10 2m=20 4m=30 6m=40 8m=50 10m=60 12m=70 14m=80 16m=90 18m=100"},
		{"CodeDeployDefault.LambdaLinear10PercentEvery3Minutes", "0=10 3m=20 6m=30 9m=40 12m=50 15m=60 18m=70 21m=80 24m=90 27m=100"},
		{"CodeDeployDefault.LambdaLinear10PercentEvery10Minutes", "0=10 10m=20 20m=30 30m=40 40m=50 50m=60 1h0m=70 1h10m=80 1h20m=90 1h30m=100"},
		{"CodeDeployDefault.LambdaAllAtOnce", "0=100"},
	}
	if got := traffic.PresetNames(); len(got) != len(tests) {
		t.Errorf("PresetNames has %d names; the table has %d", len(got), len(tests))
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, ok := traffic.Preset(tt.name)
			if !ok {
				t.Fatalf("Preset(%q) not found", tt.name)
			}
			if s.Name != tt.name {
				t.Errorf("Name = %q; want %q", s.Name, tt.name)
			}
			if got := weights(s.Timeline()); got != tt.want {
				t.Errorf("timeline = %s; want %s", got, tt.want)
			}
		})
	}
	if _, ok := traffic.Preset("CodeDeployDefault.OneAtATime"); ok {
		t.Error("OneAtATime is an in-place config, not a traffic shape")
	}
}

func TestShape_Refusals(t *testing.T) {
	tests := []struct {
		name string
		make func() error
		want string
	}{
		{"canary 0%", func() error { _, err := traffic.Canary(0, time.Minute); return err }, "canary.percent is 0; use 1 to 99"},
		{"canary 100%", func() error { _, err := traffic.Canary(100, time.Minute); return err }, "100 is all_at_once"},
		{"linear no interval", func() error { _, err := traffic.Linear(10, 0); return err }, "linear.interval is 0s; use a duration above 0"},
		{"linear 3 days", func() error { _, err := traffic.Linear(10, 72*time.Hour); return err }, "at most 48h0m0s"},
		{"no steps", func() error { _, err := traffic.Steps("x", nil); return err }, "steps is empty"},
		{"weight 101", func() error {
			_, err := traffic.Steps("x", []traffic.Step{{Kind: traffic.SetWeight, Weight: 101}})
			return err
		}, "steps[0].weight is 101; use a percentage from 0 to 100"},
		{"pause 0", func() error {
			_, err := traffic.Steps("x", []traffic.Step{{Kind: traffic.SetWeight, Weight: 1}, {Kind: traffic.Pause}})
			return err
		}, "steps[1].pause is 0s"},
		{"unnamed analysis", func() error {
			_, err := traffic.Steps("x", []traffic.Step{{Kind: traffic.Analysis}})
			return err
		}, "steps[0].analysis.name is empty"},
		{"unknown kind", func() error {
			_, err := traffic.Steps("x", []traffic.Step{{}})
			return err
		}, "steps[0] has kind unknown(0)"},
		{"too many steps", func() error {
			_, err := traffic.Steps("x", make([]traffic.Step, traffic.MaxSteps+1))
			return err
		}, "steps has 101 entries; use at most 100"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.make()
			if !errors.Is(err, traffic.ErrInvalidShape) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v; want ErrInvalidShape saying %q", err, tt.want)
			}
		})
	}
}
