package deploy

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/slipway-deploy/slipway/internal/appspec"
	"github.com/slipway-deploy/slipway/internal/traffic"
)

// A blue/green deployment runs in phases. The replacement fleet installs in batches, like an
// in-place deployment (Install); then, once continued if the group waits (Ready), every
// replacement runs BeforeAllowTraffic, the traffic shape moves traffic to the replacements
// (AllowTraffic), and every replacement runs AfterAllowTraffic. The originals then run
// BeforeBlockTraffic, are drained (BlockTraffic) and run AfterBlockTraffic. Last, after a wait
// (Baking), the group's release command may run on the originals.
//
// A failure from BeforeAllowTraffic on, a stop, or an alarm sends all traffic back to the
// originals in one change; the hosts finish the event they are running and the deployment then
// fails or stops.

// checkFleets refuses a blue/green start the group's settings make impossible.
func checkFleets(d Deployment, in Start) (ErrorInfo, bool) {
	if !d.Router.Enabled() {
		return ErrorInfo{Code: ErrorMissingBlueGreenConfig, Message: "a blue/green deployment moves traffic through the group's traffic router, and the group has none; set its router (type haproxy, address, backend)"}, false
	}
	original := make(map[string]bool, len(in.Originals))
	for _, inst := range in.Originals {
		original[inst.ID] = true
	}
	for _, inst := range in.Instances {
		if original[inst.ID] {
			return ErrorInfo{Code: ErrorInvalidFleets, Message: fmt.Sprintf(
				"instance %s matches both the group's tags and its replacement tags; give the two fleets tags that tell them apart", cmp.Or(inst.Name, inst.ID))}, false
		}
	}
	servers := map[string]string{}
	for _, inst := range slices.Concat(in.Instances, in.Originals) {
		label, server := cmp.Or(inst.Name, inst.ID), d.Router.Server(inst.Name, inst.ID)
		if other, dup := servers[server]; dup {
			return ErrorInfo{Code: ErrorInvalidFleets, Message: fmt.Sprintf(
				"instances %s and %s are both server %q of the router; change the group's server name template so each instance has its own", other, label, server)}, false
		}
		servers[server] = label
	}
	return ErrorInfo{}, true
}

// installed reports whether a replacement host has the revision: its install events succeeded,
// or it ran the revision already.
func (t Target) installed() bool {
	if t.UpToDate {
		return true
	}
	i := t.eventIndex(appspec.EventValidateService)
	return i >= 0 && t.Events[i].Status == EventSucceeded
}

func (t Target) eventIndex(name string) int {
	return slices.IndexFunc(t.Events, func(e Event) bool { return e.Name == name })
}

// next is the index of the target's first event that has not run.
func (t Target) next() int {
	if i := slices.IndexFunc(t.Events, func(e Event) bool { return e.Status == EventPending }); i >= 0 {
		return i
	}
	return len(t.Events)
}

// installedAlready puts a replacement that runs the revision straight into Ready.
func (m *machine) installedAlready(t *Target) {
	for j := range t.eventIndex(appspec.EventBeforeAllowTraffic) {
		t.Events[j].Status = EventSkipped
	}
	t.Status = InstanceReady
	t.Message = "already runs revision " + m.d.Revision
}

// installed moves a blue/green deployment whose replacements passed the install phase on:
// to Ready when the group waits for a person, else to traffic.
func (m *machine) installed() {
	d := &m.d
	if d.BlueGreen.ReadyWait > 0 {
		d.Status = StatusReady
		d.Shift.Phase = PhaseReady
		d.Shift.Deadline = m.now.Add(d.BlueGreen.ReadyWait)
		return
	}
	m.allowTraffic()
}

// allowTraffic starts BeforeAllowTraffic on every installed replacement.
func (m *machine) allowTraffic() {
	d := &m.d
	d.Status = StatusInProgress
	d.Shift.Phase = PhaseBeforeAllowTraffic
	d.Shift.Deadline = time.Time{}
	for k := range d.Targets {
		t := &d.Targets[k]
		if t.Fleet == ReplacementFleet && t.Status == InstanceReady {
			t.Status = InstanceInProgress
			m.send(t, t.eventIndex(appspec.EventBeforeAllowTraffic))
		}
	}
}

// hostFailed ends a blue/green deployment whose host failed after the install phase: traffic
// goes back to the originals. A failure while installing is weighed against the minimum of
// healthy hosts instead, as in place.
func (m *machine) hostFailed(t *Target, event string) {
	if m.function() {
		m.functionFailed(t, event)
		return
	}
	if !m.blueGreen() || t.Fleet == ReplacementFleet && m.d.Shift.Phase == PhaseInstall {
		return
	}
	msg := fmt.Sprintf("%s failed %s", t.label(), event)
	if e, ok := failedEvent(*t); ok {
		if e.Diagnostics.ErrorCode != "" {
			msg += ": " + e.Diagnostics.ErrorCode
		}
		if e.Diagnostics.Message != "" {
			msg += ": " + e.Diagnostics.Message
		}
	}
	code := ErrorHealthConstraints
	if e, ok := failedEvent(*t); ok && e.Diagnostics.ErrorCode == DiagnosticHostUnresponsive {
		code = ErrorAgentIssue
	}
	m.fail(ErrorInfo{Code: code, Message: msg})
}

// fail winds a blue/green deployment down with info (the first failure wins; a stop already
// asked for stays a stop) and sends traffic back to the originals.
func (m *machine) fail(info ErrorInfo) {
	if !m.ending() {
		m.d.Shift.Failure = info
	}
	m.revert()
}

// revert sends all traffic back to the originals in one change, once.
func (m *machine) revert() {
	s := &m.d.Shift
	if !m.blueGreen() || !m.touched() || s.Reverting {
		return
	}
	s.Reverting = true
	if !m.function() && !m.hasOriginals() {
		s.RevertError = "there is no original fleet to send traffic back to"
		return
	}
	m.change(0, shiftRevert)
}

func (m *machine) hasOriginals() bool {
	return slices.ContainsFunc(m.d.Targets, func(t Target) bool { return t.Fleet == OriginalFleet })
}

// What a change does to the two fleets.
type changeKind int

const (
	shiftWeight changeKind = iota // percent of the traffic to the live replacements
	shiftBlock                    // all of it to the replacements, originals drained
	shiftRevert                   // all of it back to the originals, replacements drained
)

// servers is what a change asks of every server of both fleets. Live replacements (those that
// reached AllowTraffic and did not fail) share percent of the traffic and the originals the
// rest; other replacements are drained at weight 0.
func (m *machine) servers(percent int, kind changeKind) ([]ServerTraffic, error) {
	var originals, live, idle []string
	for _, t := range m.d.Targets {
		switch {
		case t.Fleet == OriginalFleet:
			originals = append(originals, t.Server)
		case kind != shiftRevert && t.Status != InstanceFailed && t.Events[t.eventIndex(appspec.EventAllowTraffic)].Attempt > 0:
			live = append(live, t.Server)
		default:
			idle = append(idle, t.Server)
		}
	}
	if kind == shiftBlock {
		percent = 100
	}
	weights, err := traffic.Split(originals, live, percent, traffic.MaxWeight)
	if err != nil {
		// The phases rule it out: a shift has live replacements, a revert or a block originals,
		// and without originals the shape is all at once.
		return nil, fmt.Errorf("split %d%% of the traffic: %w", percent, err)
	}
	out := make([]ServerTraffic, 0, len(originals)+len(live)+len(idle))
	for _, name := range originals {
		admin := traffic.Ready
		if kind == shiftBlock {
			admin = traffic.Drain
		}
		out = append(out, ServerTraffic{Server: name, Admin: admin, Weight: weights[name], SetWeight: true})
	}
	for _, name := range live {
		out = append(out, ServerTraffic{Server: name, Admin: traffic.Ready, Weight: weights[name], SetWeight: true})
	}
	for _, name := range idle {
		out = append(out, ServerTraffic{Server: name, Admin: traffic.Drain, SetWeight: true})
	}
	slices.SortFunc(out, func(a, b ServerTraffic) int { return cmp.Compare(a.Server, b.Server) })
	return out, nil
}

// change asks the router to give the replacements percent of the traffic, or what kind says.
func (m *machine) change(percent int, kind changeKind) {
	s := &m.d.Shift
	if m.function() {
		s.Change++
		s.Applying = true
		m.emit(m.d.shiftTraffic())
		return
	}
	servers, err := m.servers(percent, kind)
	if err != nil {
		if kind == shiftRevert {
			s.RevertError = err.Error()
			return
		}
		m.fail(ErrorInfo{Code: ErrorInternal, Message: err.Error()})
		return
	}
	s.Change++
	s.Applying = true
	s.Servers = servers
	m.emit(m.d.shiftTraffic())
}

// advanceBlueGreen moves a blue/green deployment past its install phase on.
func (m *machine) advanceBlueGreen() {
	d := &m.d
	s := &d.Shift
	if m.ending() {
		for k := range d.Targets {
			t := &d.Targets[k]
			if i := t.current(); i >= 0 && routerEvent(t.Events[i].Name) {
				m.endTarget(t, i, InstanceUnknown, "deployment ended while traffic moved")
			}
		}
		if m.inProgress() > 0 || s.Applying {
			return
		}
		if d.Stop.Requested {
			m.finish(StatusStopped, d.Stop.Error)
		} else {
			m.finish(StatusFailed, s.Failure)
		}
		return
	}
	switch s.Phase {
	case PhaseBeforeAllowTraffic:
		if m.atRouterEvent(ReplacementFleet) {
			s.Phase = PhaseAllowTraffic
			m.shift()
		}
	case PhaseAllowTraffic:
		m.shift()
	case PhaseAfterAllowTraffic:
		if !m.fleetBusy(ReplacementFleet) {
			m.blockOriginals()
		}
	case PhaseBeforeBlockTraffic:
		if m.atRouterEvent(OriginalFleet) {
			s.Phase = PhaseBlockTraffic
			m.change(100, shiftBlock)
		}
	case PhaseAfterBlockTraffic:
		if !m.fleetBusy(OriginalFleet) {
			m.bake()
		}
	}
}

// inProgress counts the targets of both fleets in progress.
func (m *machine) inProgress() int {
	n := 0
	for _, t := range m.d.Targets {
		if t.Status == InstanceInProgress {
			n++
		}
	}
	return n
}

func (m *machine) fleetBusy(f Fleet) bool {
	return slices.ContainsFunc(m.d.Targets, func(t Target) bool { return t.Fleet == f && t.Status == InstanceInProgress })
}

// atRouterEvent reports whether every host of the fleet in progress waits at the fleet's router
// event, so the deployment can carry it out.
func (m *machine) atRouterEvent(f Fleet) bool {
	n := 0
	for _, t := range m.d.Targets {
		if t.Fleet != f || t.Status != InstanceInProgress {
			continue
		}
		if i := t.current(); i < 0 || !routerEvent(t.Events[i].Name) {
			return false
		}
		n++
	}
	return n > 0
}

// shift runs the traffic shape from its current step until it must wait: for a change, a pause,
// a promotion or an analysis.
func (m *machine) shift() {
	s := &m.d.Shift
	for !s.Applying && !s.Paused && !m.ending() {
		st, ok := m.d.step()
		if !ok {
			m.shifted()
			return
		}
		begun := !s.StepStart.IsZero()
		if !begun {
			s.StepStart = m.now
		}
		switch st.Kind {
		case traffic.SetWeight:
			if s.Change > 0 && st.Weight == s.Percent {
				m.nextStep()
				continue
			}
			m.change(st.Weight, shiftWeight)
			return
		case traffic.Pause:
			if !begun {
				s.Deadline = m.now.Add(st.Duration)
			}
			if m.now.Before(s.Deadline) {
				return
			}
			m.nextStep()
		case traffic.Analysis:
			if !begun {
				s.Deadline = m.now.Add(st.Duration)
			}
			return
		case traffic.AwaitPromotion:
			return
		}
	}
}

func (m *machine) nextStep() {
	s := &m.d.Shift
	s.Step++
	s.StepStart = time.Time{}
	s.Deadline = time.Time{}
}

// shifted ends AllowTraffic on every live replacement: they go on to AfterAllowTraffic.
func (m *machine) shifted() {
	d := &m.d
	d.Shift.Phase = PhaseAfterAllowTraffic
	msg := fmt.Sprintf("traffic moved to the replacement fleet by the router (%s)", d.Shape().Name)
	if m.function() {
		msg = fmt.Sprintf("all traffic moved (%s)", d.Shape().Name)
	}
	for k := range d.Targets {
		t := &d.Targets[k]
		if i := t.current(); i >= 0 && t.Fleet == ReplacementFleet && routerEvent(t.Events[i].Name) {
			m.complete(t, i, true, Diagnostics{Message: msg}, false)
		}
	}
}

// blockOriginals starts the originals' BeforeBlockTraffic, or goes on when there are none.
func (m *machine) blockOriginals() {
	d := &m.d
	d.Shift.Phase = PhaseBeforeBlockTraffic
	started := false
	for k := range d.Targets {
		t := &d.Targets[k]
		if t.Fleet == OriginalFleet && t.Status == InstancePending && !t.Gone {
			t.Status = InstanceInProgress
			t.StartTime = m.now
			m.send(t, 0)
			started = true
		}
	}
	if !started {
		m.bake()
	}
}

// bake ends a blue/green deployment whose traffic has moved: at once when the originals are
// kept, else after the release wait and the release command.
func (m *machine) bake() {
	d := &m.d
	if d.BlueGreen.ReleaseCommand == "" || !m.hasOriginals() {
		m.finish(StatusSucceeded, ErrorInfo{})
		return
	}
	d.Status = StatusBaking
	d.Shift.Phase = PhaseBake
	d.Shift.Deadline = m.now.Add(d.BlueGreen.ReleaseWait)
	if d.BlueGreen.ReleaseWait == 0 {
		m.release()
	}
}

func (m *machine) release() {
	if m.function() {
		m.terminate()
		return
	}
	s := &m.d.Shift
	s.Phase = PhaseRelease
	s.Deadline = time.Time{}
	s.Release.StartTime = m.now
	m.emit(m.d.releaseOriginals())
}

// timerDeadline is when the blue/green wait in progress ends, if one is running: the ready wait,
// a timed pause of the shape (not while paused), the bake. Analyses end by AnalysisPassed.
func (d Deployment) timerDeadline() (time.Time, bool) {
	s := d.Shift
	if d.Type != BlueGreen || s.Deadline.IsZero() || d.Stop.Requested || s.Failure.Code != "" {
		return time.Time{}, false
	}
	switch {
	case s.Phase == PhaseReady && d.Status == StatusReady, s.Phase == PhaseBake && d.Status == StatusBaking:
		return s.Deadline, true
	case s.Phase == PhaseAllowTraffic && d.Status == StatusInProgress && !s.Paused && !s.StepStart.IsZero():
		if st, ok := d.step(); ok && st.Kind == traffic.Pause {
			return s.Deadline, true
		}
	}
	return time.Time{}, false
}

func (m *machine) timerDue() bool {
	dl, ok := m.d.timerDeadline()
	return ok && !m.now.Before(dl)
}

// timer ends the wait whose deadline has passed.
func (m *machine) timer() {
	d := &m.d
	switch d.Shift.Phase {
	case PhaseReady:
		// CodeDeploy's STOP_DEPLOYMENT: nobody continued in time, so traffic never moves.
		info := ErrorInfo{Code: ErrorTimeout, Message: fmt.Sprintf(
			"nobody continued the deployment within %s of its replacement instances being ready; stopped with all traffic on the original instances",
			seconds(d.BlueGreen.ReadyWait))}
		d.Stop = StopInfo{Requested: true, Time: m.now, Error: info}
	case PhaseAllowTraffic:
		m.nextStep()
	case PhaseBake:
		m.release()
	}
}

func (m *machine) trafficApplied(in TrafficApplied) error {
	s := &m.d.Shift
	if !m.blueGreen() || !s.Applying || in.Change != s.Change {
		return fmt.Errorf("traffic change %d applied: %w", in.Change, ErrStale)
	}
	s.Applying = false
	switch {
	case s.Reverting:
		s.Percent = 0
		s.RevertSkipped = slices.Sorted(slices.Values(in.Skipped))
		s.Timeline = append(s.Timeline, TrafficPoint{Time: m.now, Percent: 0})
	case s.Phase == PhaseAllowTraffic:
		st, _ := m.d.step()
		s.Percent = st.Weight
		s.Timeline = append(s.Timeline, TrafficPoint{Time: m.now, Percent: st.Weight})
		m.nextStep()
	case s.Phase == PhaseBlockTraffic:
		s.Phase = PhaseAfterBlockTraffic
		for k := range m.d.Targets {
			t := &m.d.Targets[k]
			if i := t.current(); i >= 0 && t.Fleet == OriginalFleet && routerEvent(t.Events[i].Name) {
				m.complete(t, i, true, Diagnostics{Message: "drained by the traffic router"}, false)
			}
		}
	}
	m.advance(false)
	return nil
}

func (m *machine) trafficFailed(in TrafficFailed) error {
	s := &m.d.Shift
	if !m.blueGreen() || !s.Applying || in.Change != s.Change {
		return fmt.Errorf("traffic change %d failed: %w", in.Change, ErrStale)
	}
	s.Applying = false
	if s.Reverting {
		s.RevertError = in.Message
	} else {
		m.fail(ErrorInfo{Code: ErrorTrafficRouter, Message: fmt.Sprintf("the traffic router could not carry out the change in %s: %s", s.Phase, in.Message)})
	}
	m.advance(false)
	return nil
}

// shifting reports whether pause and promote apply: a blue/green deployment on its way to
// moving traffic, not winding down.
func (m *machine) shifting() error {
	s := m.d.Shift
	if !m.blueGreen() || m.d.Status != StatusInProgress || m.ending() || (s.Phase != PhaseBeforeAllowTraffic && s.Phase != PhaseAllowTraffic) {
		return fmt.Errorf("%w: pause and promote apply while a blue/green deployment moves traffic; this one is %v%s",
			ErrWrongStatus, m.d.Status, m.phaseNote())
	}
	return nil
}

func (m *machine) phaseNote() string {
	if !m.blueGreen() {
		return " (in place)"
	}
	return " in phase " + m.d.Shift.Phase.String()
}

func (m *machine) pause() error {
	if err := m.shifting(); err != nil {
		return fmt.Errorf("pause: %w", err)
	}
	if m.d.Shift.Paused {
		return fmt.Errorf("pause: already paused: %w", ErrStale)
	}
	m.d.Shift.Paused = true
	return nil
}

// waiting reports whether the shape's current step is a wait a promotion ends.
func (m *machine) waiting() bool {
	s := m.d.Shift
	if s.Phase != PhaseAllowTraffic || s.StepStart.IsZero() || s.Applying {
		return false
	}
	st, ok := m.d.step()
	return ok && (st.Kind == traffic.Pause || st.Kind == traffic.AwaitPromotion || st.Kind == traffic.Analysis)
}

func (m *machine) promote() error {
	if err := m.shifting(); err != nil {
		return fmt.Errorf("promote: %w", err)
	}
	waiting := m.waiting()
	if !m.d.Shift.Paused && !waiting {
		return fmt.Errorf("promote: %w: nothing waits to be promoted: the shift is applying a change, or the replacements are still in BeforeAllowTraffic", ErrWrongStatus)
	}
	m.d.Shift.Paused = false
	if waiting {
		m.nextStep()
	}
	m.advance(false)
	return nil
}

// proceed is Continue.
func (m *machine) proceed() error {
	d := &m.d
	switch {
	case m.blueGreen() && d.Status == StatusReady && d.Shift.Phase == PhaseReady:
		m.allowTraffic()
	case m.blueGreen() && d.Status == StatusBaking && d.Shift.Phase == PhaseBake:
		m.release()
	default:
		return fmt.Errorf("continue: %w: continue applies to a blue/green deployment that is Ready (to move traffic) or Baking (to release its original instances); this one is %v%s",
			ErrWrongStatus, d.Status, m.phaseNote())
	}
	return nil
}

func (m *machine) analysisPassed(in AnalysisPassed) error {
	_, step, until, ok := CurrentAnalysis(m.d)
	if !ok || step != in.Step || m.ending() {
		return fmt.Errorf("analysis of step %d passed: %w", in.Step, ErrStale)
	}
	if m.now.Before(until) {
		return fmt.Errorf("analysis of step %d passed: %w: it runs until %s", in.Step, ErrWrongStatus, until.Format(time.RFC3339))
	}
	m.nextStep()
	m.advance(false)
	return nil
}

func (m *machine) released(in OriginalsReleased) error {
	d := &m.d
	if !m.blueGreen() || d.Status != StatusBaking || d.Shift.Phase != PhaseRelease {
		return fmt.Errorf("originals released: %w", ErrStale)
	}
	d.Shift.Release.EndTime = m.now
	d.Shift.Release.OK = in.OK
	d.Shift.Release.Message = in.Message
	m.finish(StatusSucceeded, ErrorInfo{})
	return nil
}

// endBlueGreen settles the targets a blue/green deployment leaves waiting and says where the
// traffic is when it did not succeed.
func (m *machine) endBlueGreen(st Status, info ErrorInfo) ErrorInfo {
	for k := range m.d.Targets {
		t := &m.d.Targets[k]
		switch t.Status {
		case InstanceReady:
			m.endTarget(t, t.next(), InstanceSkipped, "deployment ended before traffic moved to this instance")
		case InstancePending:
			m.endTarget(t, 0, InstanceSkipped, "deployment ended before this instance started")
		}
	}
	s := m.d.Shift
	if st == StatusSucceeded || !m.touched() {
		return info
	}
	switch {
	case m.function() && s.RevertError != "":
		info.Message += "; putting back what the deployment changed failed: " + s.RevertError
	case m.function() && s.Reverting:
		info.Message += m.revertNote()
	case s.RevertError != "":
		info.Message += "; traffic could not be moved back to the original instances: " + s.RevertError
	case s.Reverting && len(s.RevertSkipped) > 0:
		info.Message += fmt.Sprintf("; all traffic is back on the original instances the router has: backend %s no longer has these servers, which the revert skipped: %s",
			m.d.Router.Backend, strings.Join(s.RevertSkipped, ", "))
	case s.Reverting:
		info.Message += "; all traffic is back on the original instances"
	}
	return info
}
