package deploy

import (
	"fmt"
	"strings"
)

// MinimumType says how MinimumHealthyHosts.Value is read.
type MinimumType int

const (
	// HostCount means Value is an absolute number of hosts.
	HostCount MinimumType = iota + 1
	// FleetPercent means Value is a percentage (0-99) of the deployment's targets, rounded up when the
	// deployment starts.
	FleetPercent
	// MostConcurrency means at most Value hosts are deployed at a time, so the minimum is the number of
	// targets less Value. CodeDeploy's GetDeploymentConfig reports OneAtATime this way
	// (MOST_CONCURRENCY, 1) and refuses it in user-defined configs; so do we.
	MostConcurrency
)

var minimumTypeNames = [...]string{"", "HOST_COUNT", "FLEET_PERCENT", "MOST_CONCURRENCY"}

func (t MinimumType) String() string { return enumName(minimumTypeNames[:], int(t)) }

// ParseMinimumType reads HOST_COUNT, FLEET_PERCENT or MOST_CONCURRENCY.
func ParseMinimumType(s string) (MinimumType, error) {
	i, err := parseEnum(minimumTypeNames[1:], "minimum healthy hosts type", s)
	return MinimumType(i + 1), err
}

// MinimumHealthyHosts is how many targets must stay healthy while a deployment runs.
type MinimumHealthyHosts struct {
	Type  MinimumType
	Value int
}

// Validate checks the value range of each type.
func (m MinimumHealthyHosts) Validate() error {
	switch m.Type {
	case HostCount:
		if m.Value < 0 {
			return fmt.Errorf("%w: HOST_COUNT %d is negative; use 0 or more", ErrInvalidConfig, m.Value)
		}
	case FleetPercent:
		// 100 would leave no host to deploy to; CodeDeploy accepts 0-99.
		if m.Value < 0 || m.Value > 99 {
			return fmt.Errorf("%w: FLEET_PERCENT %d is out of range; use 0 to 99", ErrInvalidConfig, m.Value)
		}
	case MostConcurrency:
		if m.Value < 1 {
			return fmt.Errorf("%w: MOST_CONCURRENCY %d must be at least 1", ErrInvalidConfig, m.Value)
		}
	default:
		return fmt.Errorf("%w: minimum healthy hosts type %v; use HOST_COUNT or FLEET_PERCENT", ErrInvalidConfig, m.Type)
	}
	return nil
}

// Minimum is the absolute number of hosts that must stay healthy in a deployment to n targets.
// A percentage is rounded up, as CodeDeploy does when the deployment starts.
func (m MinimumHealthyHosts) Minimum(n int) int {
	switch m.Type {
	case HostCount:
		return m.Value
	case FleetPercent:
		return (m.Value*n + 99) / 100
	case MostConcurrency:
		return max(n-m.Value, 0)
	}
	return n
}

// Names of the built-in configs, CodeDeploy's.
const (
	ConfigOneAtATime  = "CodeDeployDefault.OneAtATime"
	ConfigHalfAtATime = "CodeDeployDefault.HalfAtATime"
	ConfigAllAtOnce   = "CodeDeployDefault.AllAtOnce"
	// presetPrefix is reserved: user configs may not take a name under it.
	presetPrefix = "CodeDeployDefault."
)

// Config is a deployment config of the server platform.
type Config struct {
	Name                string
	MinimumHealthyHosts MinimumHealthyHosts
}

// Presets returns the built-in configs. CodeDeploy's user guide lists their minimum healthy hosts
// as 99%, 50% and 0; OneAtATime is really "all but one" (a literal 99% would round up to the whole
// fleet and never start), so it is MOST_CONCURRENCY 1.
func Presets() []Config {
	return []Config{
		{Name: ConfigOneAtATime, MinimumHealthyHosts: MinimumHealthyHosts{Type: MostConcurrency, Value: 1}},
		{Name: ConfigHalfAtATime, MinimumHealthyHosts: MinimumHealthyHosts{Type: FleetPercent, Value: 50}},
		{Name: ConfigAllAtOnce, MinimumHealthyHosts: MinimumHealthyHosts{Type: HostCount, Value: 0}},
	}
}

// Preset returns the built-in config called name.
func Preset(name string) (Config, bool) {
	for _, c := range Presets() {
		if c.Name == name {
			return c, true
		}
	}
	return Config{}, false
}

// Validate checks a config as stored: a preset must be exactly the preset, and a user config
// must use HOST_COUNT or FLEET_PERCENT under a name outside CodeDeployDefault.
func (c Config) Validate() error {
	if c.Name == "" {
		return fmt.Errorf("%w: name is empty", ErrInvalidConfig)
	}
	if p, ok := Preset(c.Name); ok {
		if c != p {
			return fmt.Errorf("%w: %s is built in and cannot be changed", ErrInvalidConfig, c.Name)
		}
		return nil
	}
	if strings.HasPrefix(c.Name, presetPrefix) {
		return fmt.Errorf("%w: name %q: the prefix %s is reserved for built-in configs", ErrInvalidConfig, c.Name, presetPrefix)
	}
	if c.MinimumHealthyHosts.Type == MostConcurrency {
		return fmt.Errorf("%w: %s: MOST_CONCURRENCY is only for built-in configs; use HOST_COUNT or FLEET_PERCENT", ErrInvalidConfig, c.Name)
	}
	if err := c.MinimumHealthyHosts.Validate(); err != nil {
		return fmt.Errorf("config %s: %w", c.Name, err)
	}
	return nil
}
