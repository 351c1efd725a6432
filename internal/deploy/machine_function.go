package deploy

import (
	"fmt"
	"time"

	"github.com/slipway-deploy/slipway/internal/appspec"
)

// A lambda or ecs deployment walks its one target through FunctionEvents, one event at a time.
// Hooks go out as InvokeHook, with the hook timeout as their lease; platform steps as RunStep;
// AllowTraffic runs the traffic shape as a blue/green deployment does, its changes going out as
// SetTraffic with a Percent. The phases of blue/green name where it stands: Install until the
// replacement takes production traffic (ECS), BeforeAllowTraffic, AllowTraffic,
// AfterAllowTraffic, Bake (ECS: the replacement is primary and the original waits to be
// deleted) and Release (the original is being deleted).
//
// A failure, a stop or an alarm before Release puts everything back in one change (SetTraffic
// with Revert), once the deployment has changed anything: a hook in progress is abandoned, a
// platform step in progress is let finish (the runtime carries out a deployment's AWS work in
// order, so the revert comes after it).

func (m *machine) function() bool { return m.d.Platform != PlatformServer }

// startFunction gives a lambda or ecs deployment its one target and starts its first event.
func (m *machine) startFunction(in Start) error {
	d := &m.d
	if len(in.Instances) > 0 || len(in.Originals) > 0 {
		return fmt.Errorf("start: %w: a %v deployment has no instances", ErrInvalidInput, d.Platform)
	}
	if !m.blueGreen() {
		return fmt.Errorf("start: %w: a %v deployment is %v", ErrInvalidInput, d.Platform, BlueGreen)
	}
	if err := d.Function.Validate(); err != nil {
		return fmt.Errorf("start: %w: %w", ErrInvalidInput, err)
	}
	if _, err := d.BlueGreen.Traffic.Shape(); err != nil {
		return fmt.Errorf("start: %w: traffic: %w", ErrInvalidInput, err)
	}
	d.Status = StatusInProgress
	d.StartTime = m.now
	t := m.newTarget(Instance{ID: d.Function.Target, Name: d.Function.Target}, ReplacementFleet, FunctionEvents(d.Platform))
	t.Status = InstanceInProgress
	t.StartTime = m.now
	d.Targets = []Target{t}
	d.Shift.Phase = PhaseInstall
	m.send(&d.Targets[0], 0)
	return nil
}

// sendFunction starts event i of a lambda or ecs deployment's target.
func (m *machine) sendFunction(t *Target, i int) {
	d := &m.d
	e := &t.Events[i]
	switch e.Name {
	case appspec.EventBeforeAllowTraffic:
		d.Shift.Phase = PhaseBeforeAllowTraffic
	case appspec.EventAllowTraffic:
		d.Shift.Phase = PhaseAllowTraffic
	case appspec.EventAfterAllowTraffic:
		d.Shift.Phase = PhaseAfterAllowTraffic
	case EventTerminationWait:
		d.Shift.Phase = PhaseBake
	case EventTerminateOriginal:
		d.Shift.Phase = PhaseRelease
	}
	switch {
	case routerEvent(e.Name):
		// The traffic shape runs from advanceFunction; it may take as long as it says.
	case HookEvent(e.Name):
		e.LeaseDeadline = m.now.Add(d.hookTimeout())
		m.emit(InvokeHook{Deployment: d.ID, Instance: t.Instance, Event: e.Name, Attempt: e.Attempt})
	default:
		// The runtime always reports a step (a restarted one carries it out again): no lease.
		m.emit(RunStep{Deployment: d.ID, Instance: t.Instance, Event: e.Name, Attempt: e.Attempt})
	}
}

// functionStepDone handles a successful TerminationWait: the replacement is primary, and the
// original waits (Baking) for the termination wait or a Continue. It reports whether it took
// the report.
func (m *machine) functionStepDone(t *Target, i int) bool {
	d := &m.d
	if t.Events[i].Name != EventTerminationWait || d.Status != StatusInProgress {
		return false
	}
	d.Status = StatusBaking
	d.Shift.Deadline = m.now.Add(d.Function.TerminationWait)
	if d.Function.TerminationWait == 0 {
		m.release()
	}
	return true
}

// terminate ends the termination wait: the original task set goes.
func (m *machine) terminate() {
	d := &m.d
	t := &d.Targets[0]
	d.Status = StatusInProgress
	d.Shift.Deadline = time.Time{}
	if i := t.current(); i >= 0 && t.Events[i].Name == EventTerminationWait {
		m.complete(t, i, true, Diagnostics{Message: fmt.Sprintf("the replacement task set is primary; the original was kept %s", seconds(m.now.Sub(t.Events[i].StartTime)))}, false)
	}
}

// functionFailed ends a lambda or ecs deployment whose event failed: everything it changed goes
// back.
func (m *machine) functionFailed(t *Target, event string) {
	code := ErrorInternal
	switch {
	case HookEvent(event):
		code = ErrorHookExecutionFailure
	case m.d.Platform == PlatformECS:
		code = ErrorECSUpdate
	case m.d.Platform == PlatformLambda:
		code = ErrorInvalidLambdaConfiguration
	}
	msg := event + " failed"
	if e, ok := failedEvent(*t); ok && e.Diagnostics.Message != "" {
		msg += ": " + e.Diagnostics.Message
	}
	m.fail(ErrorInfo{Code: code, Message: msg})
}

// touched reports whether the deployment changed anything on AWS that a revert must undo: a
// traffic change was asked, or an ECS replacement task set may exist.
func (m *machine) touched() bool {
	if m.d.Shift.Change > 0 {
		return true
	}
	if m.d.Platform != PlatformECS || len(m.d.Targets) != 1 {
		return false
	}
	t := m.d.Targets[0]
	i := t.eventIndex(appspec.EventInstall)
	return i >= 0 && t.Events[i].Attempt > 0
}

// advanceFunction moves a lambda or ecs deployment on after an input.
func (m *machine) advanceFunction() {
	d := &m.d
	if len(d.Targets) != 1 {
		return
	}
	t := &d.Targets[0]
	if m.ending() {
		// Hooks, the shift and the termination wait are abandoned; a step the runtime carries
		// out reports first.
		if i := t.current(); i >= 0 && (HookEvent(t.Events[i].Name) || routerEvent(t.Events[i].Name) || d.Status == StatusBaking) {
			m.endTarget(t, i, InstanceUnknown, "deployment "+m.endingVerb()+" during "+t.Events[i].Name)
		}
		if t.Status == InstanceInProgress || d.Shift.Applying {
			return
		}
		if d.Stop.Requested {
			m.finish(StatusStopped, d.Stop.Error)
		} else {
			m.finish(StatusFailed, d.Shift.Failure)
		}
		return
	}
	switch {
	case t.Status == InstanceSucceeded:
		m.finish(StatusSucceeded, ErrorInfo{})
	case d.Shift.Phase == PhaseAllowTraffic:
		m.shift()
	}
}

func (m *machine) endingVerb() string {
	if m.d.Stop.Requested {
		return "stopped"
	}
	return "failed"
}

// revertNote says where everything is after a lambda or ecs deployment did not succeed.
func (m *machine) revertNote() string {
	what := "all traffic"
	if m.d.Platform == PlatformECS {
		what = "all traffic and the primary task set"
	}
	return fmt.Sprintf("; %s back on %s", what, m.d.Function.Original)
}
