package deploy_test

import (
	"errors"
	"testing"

	"github.com/slipway-deploy/slipway/internal/deploy"
)

func TestMinimumHealthyHosts_Validate(t *testing.T) {
	tests := []struct {
		m     deploy.MinimumHealthyHosts
		valid bool
	}{
		{deploy.MinimumHealthyHosts{Type: deploy.HostCount, Value: 0}, true},
		{deploy.MinimumHealthyHosts{Type: deploy.HostCount, Value: 50}, true},
		{deploy.MinimumHealthyHosts{Type: deploy.HostCount, Value: -1}, false},
		{deploy.MinimumHealthyHosts{Type: deploy.FleetPercent, Value: 0}, true},
		{deploy.MinimumHealthyHosts{Type: deploy.FleetPercent, Value: 99}, true},
		{deploy.MinimumHealthyHosts{Type: deploy.FleetPercent, Value: 100}, false},
		{deploy.MinimumHealthyHosts{Type: deploy.FleetPercent, Value: -5}, false},
		{deploy.MinimumHealthyHosts{Type: deploy.MostConcurrency, Value: 1}, true},
		{deploy.MinimumHealthyHosts{Type: deploy.MostConcurrency, Value: 0}, false},
		{deploy.MinimumHealthyHosts{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.m.Type.String(), func(t *testing.T) {
			err := tt.m.Validate()
			if got := err == nil; got != tt.valid {
				t.Fatalf("Validate(%+v) = %v, want valid %v", tt.m, err, tt.valid)
			}
			if err != nil && !errors.Is(err, deploy.ErrInvalidConfig) {
				t.Errorf("error %v is not ErrInvalidConfig", err)
			}
		})
	}
}

func TestMinimumHealthyHosts_Minimum(t *testing.T) {
	tests := []struct {
		name string
		m    deploy.MinimumHealthyHosts
		n    int
		want int
	}{
		// The examples of CodeDeploy's user guide and API reference.
		{"host count 6 of 9", deploy.MinimumHealthyHosts{Type: deploy.HostCount, Value: 6}, 9, 6},
		{"40 percent of 9 rounds up", deploy.MinimumHealthyHosts{Type: deploy.FleetPercent, Value: 40}, 9, 4},
		{"95 percent of 10 rounds up to all", deploy.MinimumHealthyHosts{Type: deploy.FleetPercent, Value: 95}, 10, 10},
		{"50 percent of 3", deploy.MinimumHealthyHosts{Type: deploy.FleetPercent, Value: 50}, 3, 2},
		{"50 percent of 10", deploy.MinimumHealthyHosts{Type: deploy.FleetPercent, Value: 50}, 10, 5},
		{"0 percent", deploy.MinimumHealthyHosts{Type: deploy.FleetPercent, Value: 0}, 7, 0},
		{"one at a time of 1", deploy.MinimumHealthyHosts{Type: deploy.MostConcurrency, Value: 1}, 1, 0},
		{"one at a time of 10", deploy.MinimumHealthyHosts{Type: deploy.MostConcurrency, Value: 1}, 10, 9},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.m.Minimum(tt.n); got != tt.want {
				t.Errorf("Minimum(%d) = %d, want %d", tt.n, got, tt.want)
			}
		})
	}
}

func TestConfig_Validate(t *testing.T) {
	tests := []struct {
		name  string
		c     deploy.Config
		valid bool
	}{
		{"one at a time", preset(t, deploy.ConfigOneAtATime), true},
		{"half at a time", preset(t, deploy.ConfigHalfAtATime), true},
		{"all at once", preset(t, deploy.ConfigAllAtOnce), true},
		{"custom host count", hostCount(2), true},
		{"custom percent", fleetPercent(75), true},
		{"empty name", deploy.Config{MinimumHealthyHosts: deploy.MinimumHealthyHosts{Type: deploy.HostCount}}, false},
		{"changed preset", deploy.Config{Name: deploy.ConfigAllAtOnce, MinimumHealthyHosts: deploy.MinimumHealthyHosts{Type: deploy.HostCount, Value: 1}}, false},
		{"reserved prefix", deploy.Config{Name: "CodeDeployDefault.Mine", MinimumHealthyHosts: deploy.MinimumHealthyHosts{Type: deploy.HostCount}}, false},
		{"user most concurrency", deploy.Config{Name: "mine", MinimumHealthyHosts: deploy.MinimumHealthyHosts{Type: deploy.MostConcurrency, Value: 2}}, false},
		{"percent out of range", fleetPercent(100), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.c.Validate()
			if got := err == nil; got != tt.valid {
				t.Fatalf("Validate() = %v, want valid %v", err, tt.valid)
			}
			if err != nil && !errors.Is(err, deploy.ErrInvalidConfig) {
				t.Errorf("error %v is not ErrInvalidConfig", err)
			}
		})
	}
}

func TestEnums_RoundTrip(t *testing.T) {
	for s := deploy.StatusCreated; s <= deploy.StatusStopped; s++ {
		got, err := deploy.ParseStatus(s.String())
		if err != nil || got != s {
			t.Errorf("ParseStatus(%q) = %v, %v; want %v", s.String(), got, err, s)
		}
	}
	for s := deploy.InstancePending; s <= deploy.InstanceReady; s++ {
		got, err := deploy.ParseInstanceStatus(s.String())
		if err != nil || got != s {
			t.Errorf("ParseInstanceStatus(%q) = %v, %v; want %v", s.String(), got, err, s)
		}
	}
	for s := deploy.EventPending; s <= deploy.EventUnknown; s++ {
		got, err := deploy.ParseEventStatus(s.String())
		if err != nil || got != s {
			t.Errorf("ParseEventStatus(%q) = %v, %v; want %v", s.String(), got, err, s)
		}
	}
	for c := deploy.CreatorUser; c <= deploy.CreatorAutoUpdate; c++ {
		got, err := deploy.ParseCreator(c.String())
		if err != nil || got != c {
			t.Errorf("ParseCreator(%q) = %v, %v; want %v", c.String(), got, err, c)
		}
	}
	for _, s := range []string{"HOST_COUNT", "FLEET_PERCENT", "MOST_CONCURRENCY"} {
		got, err := deploy.ParseMinimumType(s)
		if err != nil || got.String() != s {
			t.Errorf("ParseMinimumType(%q) = %v, %v", s, got, err)
		}
	}
	for _, h := range []deploy.Health{deploy.Unhealthy, deploy.Healthy} {
		if got, err := deploy.ParseHealth(h.String()); err != nil || got != h {
			t.Errorf("ParseHealth(%q) = %v, %v; want %v", h.String(), got, err, h)
		}
	}
	for _, ft := range []deploy.TagFilterType{deploy.KeyOnly, deploy.ValueOnly, deploy.KeyAndValue} {
		if got, err := deploy.ParseTagFilterType(ft.String()); err != nil || got != ft {
			t.Errorf("ParseTagFilterType(%q) = %v, %v; want %v", ft.String(), got, err, ft)
		}
	}
	if _, err := deploy.ParseStatus("Done"); err == nil {
		t.Error(`ParseStatus("Done") succeeded, want an error`)
	}
	names := map[string]string{
		deploy.StatusInProgress.String():              "InProgress",
		deploy.InstanceSkipped.String():               "Skipped",
		deploy.CreatorAutoUpdate.String():             "autoUpdate",
		deploy.Healthy.String():                       "Healthy",
		deploy.RevisionCurrent.String():               "Current",
		deploy.KeyAndValue.String():                   "KEY_AND_VALUE",
		deploy.ErrorHealthConstraintsInvalid.String(): "HEALTH_CONSTRAINTS_INVALID",
	}
	for got, want := range names {
		if got != want {
			t.Errorf("String() = %q, want %q", got, want)
		}
	}
}

func TestLifecycleEvents(t *testing.T) {
	plain := []string{"ApplicationStop", "DownloadBundle", "BeforeInstall", "Install", "AfterInstall", "ApplicationStart", "ValidateService"}
	routed := append(append([]string{"BeforeBlockTraffic", "BlockTraffic", "AfterBlockTraffic"}, plain...),
		"BeforeAllowTraffic", "AllowTraffic", "AfterAllowTraffic")
	tests := []struct {
		router bool
		want   []string
	}{{false, plain}, {true, routed}}
	for _, tt := range tests {
		got := deploy.LifecycleEvents(tt.router)
		if len(got) != len(tt.want) {
			t.Fatalf("LifecycleEvents(%v) = %v, want %v", tt.router, got, tt.want)
		}
		for i := range got {
			if got[i] != tt.want[i] {
				t.Errorf("LifecycleEvents(%v)[%d] = %s, want %s", tt.router, i, got[i], tt.want[i])
			}
		}
	}
}
