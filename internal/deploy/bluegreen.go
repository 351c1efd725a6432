package deploy

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/slipway-deploy/slipway/internal/appspec"
	"github.com/slipway-deploy/slipway/internal/traffic"
)

// Type is how a deployment reaches its hosts, named as CodeDeploy names deployment types.
type Type int

const (
	// InPlace installs the revision on the group's hosts, a batch at a time.
	InPlace Type = iota
	// BlueGreen installs the revision on a replacement fleet, moves traffic to it from the
	// original fleet through the group's router, then drains the originals.
	BlueGreen
)

var typeNames = [...]string{"IN_PLACE", "BLUE_GREEN"}

func (t Type) String() string { return enumName(typeNames[:], int(t)) }

// ParseType reads IN_PLACE or BLUE_GREEN.
func ParseType(s string) (Type, error) {
	i, err := parseEnum(typeNames[:], "deployment type", s)
	return Type(i), err
}

// Fleet says which side of a blue/green deployment a target is on.
type Fleet int

const (
	// InPlaceFleet is every target of an in-place deployment.
	InPlaceFleet Fleet = iota
	// OriginalFleet hosts serve when the deployment starts; they run only the block-traffic
	// events and are drained once traffic has moved.
	OriginalFleet
	// ReplacementFleet hosts get the revision, then the traffic.
	ReplacementFleet
)

var fleetNames = [...]string{"in_place", "original", "replacement"}

func (f Fleet) String() string { return enumName(fleetNames[:], int(f)) }

// ParseFleet reads a name written by Fleet.String.
func ParseFleet(s string) (Fleet, error) {
	i, err := parseEnum(fleetNames[:], "fleet", s)
	return Fleet(i), err
}

// Phase is where a blue/green deployment stands. The phases named after lifecycle events are the
// deployment-wide steps around them: every host of the fleet passes the event before the next
// phase begins.
type Phase int

// The phases, in the order a blue/green deployment passes them.
const (
	// PhaseInstall is the replacement hosts running ApplicationStop through ValidateService, in
	// batches.
	PhaseInstall Phase = iota
	// PhaseReady means the replacements are installed and the deployment waits for a Continue.
	PhaseReady
	PhaseBeforeAllowTraffic
	// PhaseAllowTraffic is the traffic shape running, moving traffic to the replacements.
	PhaseAllowTraffic
	PhaseAfterAllowTraffic
	PhaseBeforeBlockTraffic
	// PhaseBlockTraffic is the router draining the originals.
	PhaseBlockTraffic
	PhaseAfterBlockTraffic
	// PhaseBake means traffic has moved and the originals are drained; the deployment waits
	// before it releases them.
	PhaseBake
	// PhaseRelease is the group's release command running on the originals.
	PhaseRelease
)

var phaseNames = [...]string{
	"Install", "Ready", appspec.EventBeforeAllowTraffic, appspec.EventAllowTraffic, appspec.EventAfterAllowTraffic,
	appspec.EventBeforeBlockTraffic, appspec.EventBlockTraffic, appspec.EventAfterBlockTraffic, "Bake", "Release",
}

func (p Phase) String() string { return enumName(phaseNames[:], int(p)) }

// ParsePhase reads a name written by Phase.String.
func ParsePhase(s string) (Phase, error) {
	i, err := parseEnum(phaseNames[:], "phase", s)
	return Phase(i), err
}

// MaxWait bounds the ready wait and the wait before the originals are released, as CodeDeploy
// bounds both to two days.
const MaxWait = 48 * time.Hour

// releaseCommandRE is what a release command's name may be: it names a command of the server's
// configuration, never a command line.
var releaseCommandRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// ValidReleaseCommand reports whether name can name a release command.
func ValidReleaseCommand(name string) bool { return releaseCommandRE.MatchString(name) }

// BlueGreenOptions is how a blue/green deployment moves traffic and what it does with the
// original fleet, copied from the group when the deployment is created.
type BlueGreenOptions struct {
	// Traffic is the shape traffic moves in (all at once, canary, linear, a preset, steps).
	Traffic traffic.Config
	// ReadyWait, when positive, makes the deployment wait in status Ready once the replacements
	// are installed, until someone continues it; when the wait runs out the deployment stops,
	// as CodeDeploy's STOP_DEPLOYMENT does. Zero moves on at once.
	ReadyWait time.Duration
	// ReleaseCommand names a command of the server's configuration that the server runs on the
	// original instances ReleaseWait after traffic has moved (to terminate them, say). Empty
	// keeps the originals.
	ReleaseCommand string
	ReleaseWait    time.Duration
}

// Validate checks the options of a blue/green group. Errors name the setting to change.
func (o BlueGreenOptions) Validate() error {
	if _, err := o.Traffic.Shape(); err != nil {
		return fmt.Errorf("%w: traffic: %w", ErrInvalidConfig, err)
	}
	if o.ReadyWait < 0 || o.ReadyWait > MaxWait {
		return fmt.Errorf("%w: ready wait %v; use 0 (continue at once) up to %v", ErrInvalidConfig, o.ReadyWait, MaxWait)
	}
	if o.ReleaseWait < 0 || o.ReleaseWait > MaxWait {
		return fmt.Errorf("%w: release wait %v; use 0 up to %v", ErrInvalidConfig, o.ReleaseWait, MaxWait)
	}
	if o.ReleaseCommand == "" {
		if o.ReleaseWait != 0 {
			return fmt.Errorf("%w: release wait %v without a release command; name the command to run on the originals, or drop the wait to keep them", ErrInvalidConfig, o.ReleaseWait)
		}
		return nil
	}
	if !releaseCommandRE.MatchString(o.ReleaseCommand) {
		return fmt.Errorf("%w: release command %q: name one of the server's release_commands (letters, digits, '.', '_', '-')", ErrInvalidConfig, o.ReleaseCommand)
	}
	return nil
}

// Shift is a blue/green deployment's progress. Everything the router was asked is here, so a
// restarted server can put it back (DesiredTraffic) and finish what was in flight
// (PendingTraffic).
type Shift struct {
	Phase Phase
	// Step is the index of the traffic shape's step in progress during PhaseAllowTraffic;
	// StepStart is when it began (zero: not begun).
	Step      int
	StepStart time.Time
	// Deadline ends the wait in progress: the ready wait, a pause, an analysis, the bake.
	Deadline time.Time
	// Paused holds the shift at its current weight until a Promote.
	Paused bool
	// Percent is the share of traffic on the replacement fleet, as last applied.
	Percent int
	// Change numbers the router changes asked; Applying says the last one is unanswered.
	Change   int
	Applying bool
	// Servers is what the last change asked of every server of the two fleets.
	Servers []ServerTraffic
	// Reverting says traffic was sent back to the originals; RevertError why that failed.
	Reverting   bool
	RevertError string
	// RevertSkipped names the servers the revert left alone because the router's backend no
	// longer had them.
	RevertSkipped []string
	// Failure is set when a failure ends the deployment: hosts finish their event, the revert
	// completes, then the deployment fails with it.
	Failure ErrorInfo
	// Timeline lists the replacement share each time a change was applied.
	Timeline []TrafficPoint
	Release  ReleaseRecord
}

// TrafficPoint is the replacement fleet's share of traffic from Time on.
type TrafficPoint struct {
	Time    time.Time
	Percent int
}

// ReleaseRecord records the release command run on the original instances.
type ReleaseRecord struct {
	StartTime time.Time
	EndTime   time.Time
	OK        bool
	// Message is the command's outcome: its exit status and the tail of what it printed.
	Message string
}

// Inputs of blue/green deployments.
type (
	// Promote ends the wait of the traffic shape's current step (a pause, a wait for promotion,
	// an analysis) and lifts a Pause.
	Promote struct{}
	// Pause holds the traffic shift at its current weight until a Promote.
	Pause struct{}
	// Continue moves a Ready deployment on to traffic, or a Baking one on to releasing its
	// original instances, like CodeDeploy's ContinueDeployment.
	Continue struct{}
	// AnalysisPassed says the runtime checked the analysis of step Step until its duration ran
	// out, and it never failed.
	AnalysisPassed struct{ Step int }
	// OriginalsReleased is the outcome of the release command.
	OriginalsReleased struct {
		OK      bool
		Message string
	}
)

func (Promote) isInput()           {}
func (Pause) isInput()             {}
func (Continue) isInput()          {}
func (AnalysisPassed) isInput()    {}
func (OriginalsReleased) isInput() {}

// ReleaseOriginals asks the runtime to run the group's release command on the original
// instances and report OriginalsReleased. It is carried out again after a restart (see
// PendingRelease), so the command must be safe to repeat.
type ReleaseOriginals struct {
	Deployment string
	Command    string
	// Instances and InstanceIDs name the original hosts, in the same order.
	Instances   []string
	InstanceIDs []string
}

// SwapFleets exchanges the two fleets' own tag groups after a successful blue/green deployment
// (the group's first tag group and its replacement tags; the other tag groups select both
// fleets and stay): the fleet that now serves is the group's, and the next deployment goes to
// the other one.
type SwapFleets struct {
	Group string
}

func (ReleaseOriginals) isEffect() {}
func (SwapFleets) isEffect()       {}

// ReplacementEvents lists the lifecycle of a blue/green replacement host in order.
func ReplacementEvents() []string {
	return append(LifecycleEvents(false), appspec.EventBeforeAllowTraffic, appspec.EventAllowTraffic, appspec.EventAfterAllowTraffic)
}

// OriginalEvents lists the lifecycle of a blue/green original host in order.
func OriginalEvents() []string {
	return []string{appspec.EventBeforeBlockTraffic, appspec.EventBlockTraffic, appspec.EventAfterBlockTraffic}
}

// PendingRelease is the release command a Baking deployment is waiting on, if any.
func PendingRelease(d Deployment) (ReleaseOriginals, bool) {
	if d.Type != BlueGreen || d.Status != StatusBaking || d.Shift.Phase != PhaseRelease {
		return ReleaseOriginals{}, false
	}
	return d.releaseOriginals(), true
}

// CurrentAnalysis is the analysis step a shifting deployment is in: its name, index and when its
// duration ends. The runtime checks the analysis until then and reports AnalysisPassed, or stops
// the deployment when it fails.
func CurrentAnalysis(d Deployment) (name string, step int, until time.Time, ok bool) {
	s := d.Shift
	if d.Type != BlueGreen || d.Status != StatusInProgress || s.Phase != PhaseAllowTraffic || s.StepStart.IsZero() || s.Paused {
		return "", 0, time.Time{}, false
	}
	st, ok := d.step()
	if !ok || st.Kind != traffic.Analysis {
		return "", 0, time.Time{}, false
	}
	return st.Analysis, s.Step, s.Deadline, true
}

// Shape is the traffic shape the deployment runs: its group's, or AllAtOnce when there is no
// original fleet to move traffic from.
func (d Deployment) Shape() traffic.Shape {
	for _, t := range d.Targets {
		if t.Fleet == OriginalFleet || d.Platform != PlatformServer {
			s, err := d.BlueGreen.Traffic.Shape()
			if err != nil {
				// Start refuses a deployment whose shape does not build.
				return traffic.AllAtOnce()
			}
			return s
		}
	}
	return traffic.AllAtOnce()
}

func (d Deployment) step() (traffic.Step, bool) {
	steps := d.Shape().Steps
	if d.Shift.Step < 0 || d.Shift.Step >= len(steps) {
		return traffic.Step{}, false
	}
	return steps[d.Shift.Step], true
}

// releaseOriginals names the originals in name order, as people read them.
func (d Deployment) releaseOriginals() ReleaseOriginals {
	r := ReleaseOriginals{Deployment: d.ID, Command: d.BlueGreen.ReleaseCommand}
	var originals []Target
	for _, t := range d.Targets {
		if t.Fleet == OriginalFleet {
			originals = append(originals, t)
		}
	}
	slices.SortFunc(originals, func(a, b Target) int { return strings.Compare(a.label(), b.label()) })
	for _, t := range originals {
		r.Instances = append(r.Instances, t.label())
		r.InstanceIDs = append(r.InstanceIDs, t.Instance)
	}
	return r
}

// shiftTraffic is the change a blue/green deployment last asked for.
func (d Deployment) shiftTraffic() SetTraffic {
	s := d.Shift
	if d.Platform != PlatformServer {
		c := SetTraffic{Deployment: d.ID, Platform: d.Platform, Revert: s.Reverting, Change: s.Change}
		if st, ok := d.step(); ok && !s.Reverting {
			c.Percent = st.Weight
		}
		return c
	}
	return SetTraffic{
		Deployment: d.ID, Router: d.Router, Servers: append([]ServerTraffic(nil), s.Servers...),
		WaitDrained: s.Phase == PhaseBlockTraffic && !s.Reverting,
		Change:      s.Change, Revert: s.Reverting,
	}
}
