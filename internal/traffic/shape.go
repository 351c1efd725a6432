package traffic

import (
	"errors"
	"fmt"
	"slices"
	"time"
)

// ErrInvalidShape marks a traffic shape or shape config that fails validation.
var ErrInvalidShape = errors.New("invalid traffic shape")

// StepKind says what a Step does.
type StepKind int

const (
	// SetWeight sends Weight percent of the traffic to the replacement fleet.
	SetWeight StepKind = iota + 1
	// Pause waits Duration.
	Pause
	// AwaitPromotion waits until someone promotes the deployment.
	AwaitPromotion
	// Analysis runs the named analysis (for Duration, or once when it is zero) and stops the
	// shift if it fails.
	Analysis
)

var stepKindNames = [...]string{"", "weight", "pause", "await_promotion", "analysis"}

func (k StepKind) String() string { return enumName(stepKindNames[:], int(k)) }

// Step is one instruction of a shape.
type Step struct {
	Kind     StepKind
	Weight   int           // SetWeight: percent of traffic on the replacement fleet, 0 to 100
	Duration time.Duration // Pause; Analysis (zero: a single check)
	Analysis string        // Analysis: the name of the analysis to run
}

// Shape is how traffic moves from the original to the replacement fleet: its steps run in order
// and the last weight step is always 100.
type Shape struct {
	Name  string
	Steps []Step
}

// Limits on what a shape may ask.
const (
	// MaxSteps bounds a user's step list; generated shapes (Linear 1%) may have more.
	MaxSteps = 100
	// MaxWait bounds one pause or interval, as CodeDeploy bounds a deployment's wait to 2 days.
	MaxWait = 48 * time.Hour
)

// AllAtOnce moves all traffic in one step.
func AllAtOnce() Shape {
	return Shape{Name: "AllAtOnce", Steps: []Step{{Kind: SetWeight, Weight: 100}}}
}

// Canary sends percent of the traffic to the replacement, waits interval, then sends the rest.
func Canary(percent int, interval time.Duration) (Shape, error) {
	if err := checkIncrement("canary", percent, interval); err != nil {
		return Shape{}, err
	}
	return canaryShape(percent, interval), nil
}

func canaryShape(percent int, interval time.Duration) Shape {
	return Shape{
		Name: fmt.Sprintf("Canary%dPercent%v", percent, interval),
		Steps: []Step{
			{Kind: SetWeight, Weight: percent},
			{Kind: Pause, Duration: interval},
			{Kind: SetWeight, Weight: 100},
		},
	}
}

// Linear adds percent of the traffic every interval, starting at once, until all of it is on the
// replacement: Linear(10, time.Minute) reaches 100% after 9 minutes, as CodeDeploy's does.
func Linear(percent int, interval time.Duration) (Shape, error) {
	if err := checkIncrement("linear", percent, interval); err != nil {
		return Shape{}, err
	}
	return linearShape(percent, interval), nil
}

func linearShape(percent int, interval time.Duration) Shape {
	s := Shape{Name: fmt.Sprintf("Linear%dPercentEvery%v", percent, interval)}
	for w := percent; ; w += percent {
		s.Steps = append(s.Steps, Step{Kind: SetWeight, Weight: min(w, 100)})
		if w >= 100 {
			return s
		}
		s.Steps = append(s.Steps, Step{Kind: Pause, Duration: interval})
	}
}

func checkIncrement(field string, percent int, interval time.Duration) error {
	if percent < 1 || percent > 99 {
		return fmt.Errorf("%w: %s.percent is %d; use 1 to 99 (100 is all_at_once)", ErrInvalidShape, field, percent)
	}
	if err := checkWait(field+".interval", interval); err != nil {
		return err
	}
	return nil
}

func checkWait(field string, d time.Duration) error {
	if d <= 0 || d > MaxWait {
		return fmt.Errorf("%w: %s is %v; use a duration above 0 and at most %v, such as 5m", ErrInvalidShape, field, d, MaxWait)
	}
	return nil
}

// Steps builds a shape from a list of our own. A list whose last weight step is not 100 gets a
// final step to 100: a shift always ends with all traffic on the replacement.
func Steps(name string, steps []Step) (Shape, error) {
	if len(steps) == 0 {
		return Shape{}, fmt.Errorf("%w: steps is empty; add a step such as {weight: 10}, or use all_at_once", ErrInvalidShape)
	}
	if len(steps) > MaxSteps {
		return Shape{}, fmt.Errorf("%w: steps has %d entries; use at most %d", ErrInvalidShape, len(steps), MaxSteps)
	}
	last := -1
	for i, s := range steps {
		if err := s.check(fmt.Sprintf("steps[%d]", i)); err != nil {
			return Shape{}, err
		}
		if s.Kind == SetWeight {
			last = s.Weight
		}
	}
	out := Shape{Name: name, Steps: slices.Clone(steps)}
	if last != 100 {
		out.Steps = append(out.Steps, Step{Kind: SetWeight, Weight: 100})
	}
	return out, nil
}

func (s Step) check(at string) error {
	switch s.Kind {
	case SetWeight:
		if s.Weight < 0 || s.Weight > 100 {
			return fmt.Errorf("%w: %s.weight is %d; use a percentage from 0 to 100", ErrInvalidShape, at, s.Weight)
		}
	case Pause:
		return checkWait(at+".pause", s.Duration)
	case AwaitPromotion:
	case Analysis:
		if s.Analysis == "" {
			return fmt.Errorf("%w: %s.analysis.name is empty; name the analysis to run", ErrInvalidShape, at)
		}
		if s.Duration < 0 || s.Duration > MaxWait {
			return fmt.Errorf("%w: %s.analysis.duration is %v; use 0 (one check) up to %v", ErrInvalidShape, at, s.Duration, MaxWait)
		}
	default:
		return fmt.Errorf("%w: %s has kind %v", ErrInvalidShape, at, s.Kind)
	}
	return nil
}

// Point is where the weight stands from a moment of the shift on.
type Point struct {
	// At is the earliest time after the shift starts that the weight is set: pauses and
	// analyses take their durations, promotions none.
	At time.Duration
	// Weight is the percentage of traffic on the replacement fleet from At on.
	Weight int
	// Step is the index of the SetWeight step.
	Step int
	// Gated says a promotion is awaited before this point, so At is only a lower bound.
	Gated bool
}

// Timeline lists the weights the shape sets, in order, with when each is set.
func (s Shape) Timeline() []Point {
	var out []Point
	var at time.Duration
	gated := false
	for i, st := range s.Steps {
		switch st.Kind {
		case SetWeight:
			out = append(out, Point{At: at, Weight: st.Weight, Step: i, Gated: gated})
		case Pause, Analysis:
			at += st.Duration
		case AwaitPromotion:
			gated = true
		}
	}
	return out
}

// Presets' names: CodeDeploy's traffic-shifting deployment configs for ECS and Lambda.
const (
	PresetECSLinear10PercentEvery1Minutes     = "CodeDeployDefault.ECSLinear10PercentEvery1Minutes"
	PresetECSLinear10PercentEvery3Minutes     = "CodeDeployDefault.ECSLinear10PercentEvery3Minutes"
	PresetECSCanary10Percent5Minutes          = "CodeDeployDefault.ECSCanary10Percent5Minutes"
	PresetECSCanary10Percent15Minutes         = "CodeDeployDefault.ECSCanary10Percent15Minutes"
	PresetECSAllAtOnce                        = "CodeDeployDefault.ECSAllAtOnce"
	PresetLambdaCanary10Percent5Minutes       = "CodeDeployDefault.LambdaCanary10Percent5Minutes"
	PresetLambdaCanary10Percent10Minutes      = "CodeDeployDefault.LambdaCanary10Percent10Minutes"
	PresetLambdaCanary10Percent15Minutes      = "CodeDeployDefault.LambdaCanary10Percent15Minutes"
	PresetLambdaCanary10Percent30Minutes      = "CodeDeployDefault.LambdaCanary10Percent30Minutes"
	PresetLambdaLinear10PercentEvery1Minute   = "CodeDeployDefault.LambdaLinear10PercentEvery1Minute"
	PresetLambdaLinear10PercentEvery2Minutes  = "CodeDeployDefault.LambdaLinear10PercentEvery2Minutes"
	PresetLambdaLinear10PercentEvery3Minutes  = "CodeDeployDefault.LambdaLinear10PercentEvery3Minutes"
	PresetLambdaLinear10PercentEvery10Minutes = "CodeDeployDefault.LambdaLinear10PercentEvery10Minutes"
	PresetLambdaAllAtOnce                     = "CodeDeployDefault.LambdaAllAtOnce"
)

// family is how a preset moves traffic.
type family int

const (
	allAtOnce family = iota
	canary
	linear
)

type preset struct {
	name    string
	family  family
	percent int
	minutes int
}

var presets = [...]preset{
	{PresetECSLinear10PercentEvery1Minutes, linear, 10, 1},
	{PresetECSLinear10PercentEvery3Minutes, linear, 10, 3},
	{PresetECSCanary10Percent5Minutes, canary, 10, 5},
	{PresetECSCanary10Percent15Minutes, canary, 10, 15},
	{PresetECSAllAtOnce, allAtOnce, 0, 0},
	{PresetLambdaCanary10Percent5Minutes, canary, 10, 5},
	{PresetLambdaCanary10Percent10Minutes, canary, 10, 10},
	{PresetLambdaCanary10Percent15Minutes, canary, 10, 15},
	{PresetLambdaCanary10Percent30Minutes, canary, 10, 30},
	{PresetLambdaLinear10PercentEvery1Minute, linear, 10, 1},
	{PresetLambdaLinear10PercentEvery2Minutes, linear, 10, 2},
	{PresetLambdaLinear10PercentEvery3Minutes, linear, 10, 3},
	{PresetLambdaLinear10PercentEvery10Minutes, linear, 10, 10},
	{PresetLambdaAllAtOnce, allAtOnce, 0, 0},
}

// PresetNames lists the preset names Preset knows, in CodeDeploy's documentation order.
func PresetNames() []string {
	names := make([]string, len(presets))
	for i, p := range presets {
		names[i] = p.name
	}
	return names
}

// Preset returns the shape of a CodeDeploy traffic-shifting config, named as CodeDeploy names it.
func Preset(name string) (Shape, bool) {
	for _, p := range presets {
		if p.name != name {
			continue
		}
		interval := time.Duration(p.minutes) * time.Minute
		s := AllAtOnce()
		switch p.family {
		case canary:
			s = canaryShape(p.percent, interval)
		case linear:
			s = linearShape(p.percent, interval)
		}
		s.Name = name
		return s, true
	}
	return Shape{}, false
}
