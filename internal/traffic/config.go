package traffic

import (
	"fmt"
	"strings"
	"time"
)

// Config is a traffic shape as a user writes it in YAML or JSON. Set exactly one field:
//
//	preset: CodeDeployDefault.ECSCanary10Percent5Minutes
//	all_at_once: true
//	canary: {percent: 10, interval: 5m}
//	linear: {percent: 10, interval: 1m}
//	steps:
//	  - weight: 10
//	  - pause: 5m
//	  - analysis: {name: error-rate, duration: 2m}
//	  - weight: 50
//	  - pause: until_promoted
//
// Durations are Go durations ("90s", "5m", "1h30m"). Shape turns a Config into a Shape.
type Config struct {
	Preset    string           `yaml:"preset,omitempty" json:"preset,omitempty"`
	AllAtOnce bool             `yaml:"all_at_once,omitempty" json:"all_at_once,omitempty"`
	Canary    *IncrementConfig `yaml:"canary,omitempty" json:"canary,omitempty"`
	Linear    *IncrementConfig `yaml:"linear,omitempty" json:"linear,omitempty"`
	Steps     []StepConfig     `yaml:"steps,omitempty" json:"steps,omitempty"`
}

// IncrementConfig is a canary's or a linear shift's percentage and interval.
type IncrementConfig struct {
	Percent  int    `yaml:"percent" json:"percent"`
	Interval string `yaml:"interval" json:"interval"`
}

// StepConfig is one step of a list; set exactly one field.
type StepConfig struct {
	// Weight is the percentage of traffic to send to the replacement fleet.
	Weight *int `yaml:"weight,omitempty" json:"weight,omitempty"`
	// Pause is a duration, or PauseUntilPromoted.
	Pause    string          `yaml:"pause,omitempty" json:"pause,omitempty"`
	Analysis *AnalysisConfig `yaml:"analysis,omitempty" json:"analysis,omitempty"`
}

// PauseUntilPromoted is the pause that waits for a manual promotion.
const PauseUntilPromoted = "until_promoted"

// AnalysisConfig names an analysis and how long it runs (empty: a single check).
type AnalysisConfig struct {
	Name     string `yaml:"name" json:"name"`
	Duration string `yaml:"duration,omitempty" json:"duration,omitempty"`
}

// Validate reports what Shape would refuse.
func (c Config) Validate() error {
	_, err := c.Shape()
	return err
}

// Shape checks the config and builds its shape. Errors name the field to change.
func (c Config) Shape() (Shape, error) {
	var set []string
	if c.Preset != "" {
		set = append(set, "preset")
	}
	if c.AllAtOnce {
		set = append(set, "all_at_once")
	}
	if c.Canary != nil {
		set = append(set, "canary")
	}
	if c.Linear != nil {
		set = append(set, "linear")
	}
	if c.Steps != nil {
		set = append(set, "steps")
	}
	const fields = "preset, all_at_once, canary, linear or steps"
	switch len(set) {
	case 0:
		return Shape{}, fmt.Errorf("%w: no traffic shape; set one of %s", ErrInvalidShape, fields)
	case 1:
	default:
		return Shape{}, fmt.Errorf("%w: %s are all set; keep one of %s", ErrInvalidShape, strings.Join(set, " and "), fields)
	}
	switch {
	case c.Preset != "":
		s, ok := Preset(c.Preset)
		if !ok {
			return Shape{}, fmt.Errorf("%w: preset %q is not one we know; use one of %s", ErrInvalidShape, c.Preset, strings.Join(PresetNames(), ", "))
		}
		return s, nil
	case c.AllAtOnce:
		return AllAtOnce(), nil
	case c.Canary != nil:
		interval, err := parseWait("canary.interval", c.Canary.Interval)
		if err != nil {
			return Shape{}, err
		}
		return Canary(c.Canary.Percent, interval)
	case c.Linear != nil:
		interval, err := parseWait("linear.interval", c.Linear.Interval)
		if err != nil {
			return Shape{}, err
		}
		return Linear(c.Linear.Percent, interval)
	}
	steps := make([]Step, len(c.Steps))
	for i, sc := range c.Steps {
		st, err := sc.step(fmt.Sprintf("steps[%d]", i))
		if err != nil {
			return Shape{}, err
		}
		steps[i] = st
	}
	return Steps("Steps", steps)
}

func (sc StepConfig) step(at string) (Step, error) {
	var set []string
	if sc.Weight != nil {
		set = append(set, "weight")
	}
	if sc.Pause != "" {
		set = append(set, "pause")
	}
	if sc.Analysis != nil {
		set = append(set, "analysis")
	}
	if len(set) != 1 {
		return Step{}, fmt.Errorf("%w: %s sets %s; set exactly one of weight, pause or analysis", ErrInvalidShape, at, nothing(set))
	}
	switch {
	case sc.Weight != nil:
		return Step{Kind: SetWeight, Weight: *sc.Weight}, nil
	case sc.Pause == PauseUntilPromoted:
		return Step{Kind: AwaitPromotion}, nil
	case sc.Pause != "":
		d, err := parseWait(at+".pause", sc.Pause)
		if err != nil {
			return Step{}, fmt.Errorf("%w (or %q to wait for a promotion)", err, PauseUntilPromoted)
		}
		return Step{Kind: Pause, Duration: d}, nil
	}
	var d time.Duration
	if sc.Analysis.Duration != "" {
		var err error
		if d, err = parseWait(at+".analysis.duration", sc.Analysis.Duration); err != nil {
			return Step{}, err
		}
	}
	return Step{Kind: Analysis, Analysis: sc.Analysis.Name, Duration: d}, nil
}

func nothing(set []string) string {
	if len(set) == 0 {
		return "nothing"
	}
	return strings.Join(set, " and ")
}

func parseWait(field, s string) (time.Duration, error) {
	if s == "" {
		return 0, fmt.Errorf("%w: %s is empty; set a duration such as 5m", ErrInvalidShape, field)
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%w: %s %q is not a duration; write one such as 90s, 5m or 1h", ErrInvalidShape, field, s)
	}
	return d, checkWait(field, d)
}
