package deploy

import (
	"cmp"
	"fmt"
	"slices"
	"time"

	"github.com/slipway-deploy/slipway/internal/appspec"
)

// Input is something that happened to a deployment, fed to Decide.
type Input interface{ isInput() }

// Enqueue records that the group is busy and the deployment waits its turn (see Admit).
type Enqueue struct{}

// Start begins the deployment on the group's instances as they are now: the targets are taken
// when the deployment starts, not when it was created, so hosts that joined while it was queued
// are included.
type Start struct {
	// Instances get the revision: the group's hosts in place, or the replacement fleet of a
	// blue/green deployment.
	Instances []Instance
	// Originals are a blue/green deployment's original fleet: the hosts serving now.
	Originals []Instance
	// Backend is the router's backend as the runtime read it for the start; a deployment with a
	// traffic router needs it. A host whose server the backend lacks fails the start before
	// any host is touched.
	Backend *RouterBackend
}

// RouterBackend is what the runtime read of a router's backend.
type RouterBackend struct {
	// Servers names the backend's servers.
	Servers []string
	// Error says why the backend could not be read; Servers is then empty.
	Error string
}

// EventReported is a host's result for one lifecycle event.
type EventReported struct {
	Instance string
	Event    string
	Attempt  int
	// Status is EventSucceeded, EventFailed, or EventSkipped for an event the host had nothing
	// to do for (no scripts, no previous revision); Skipped counts as success.
	Status      EventStatus
	Diagnostics Diagnostics
}

// Heartbeat is a host saying it is still running an event; it renews the event's lease.
type Heartbeat struct {
	Instance string
	Event    string
	Attempt  int
}

// Tick tells the machine that time has passed (at NextDeadline), so leases may have run out.
type Tick struct{}

// StopRequested asks the deployment to stop: no new commands; events already running may
// report until their lease runs out; hosts not started are skipped.
type StopRequested struct {
	// Alarm says an alarm fired (ALARM_ACTIVE) rather than a person asked (MANUAL_STOP).
	Alarm   bool
	Message string
	// Rollback asks for a rollback once stopped, on top of the group's AutoRollback settings.
	Rollback bool
}

// InstanceGone says a target left the group (deregistered, tags changed, terminated).
type InstanceGone struct {
	Instance string
}

func (Enqueue) isInput()       {}
func (Start) isInput()         {}
func (EventReported) isInput() {}
func (Heartbeat) isInput()     {}
func (Tick) isInput()          {}
func (StopRequested) isInput() {}
func (InstanceGone) isInput()  {}

// Effect is something the runtime must do after it has stored the deployment Decide returned.
type Effect interface{ isEffect() }

// SendCommand asks a host to run one lifecycle event. The agent must report or heartbeat
// before LeaseDeadline.
type SendCommand struct {
	Deployment    string
	Instance      string
	Event         string
	Attempt       int
	LeaseDeadline time.Time
}

// SetInstanceHealth updates the group's record of a host the deployment attempted.
type SetInstanceHealth struct {
	Instance string
	Health   Health
	// Revision is the revision now installed, set only when the host's deployment succeeded;
	// empty means leave the recorded revision as it is.
	Revision string
}

// SetGroupRevision moves the group's current revision after a successful deployment.
type SetGroupRevision struct {
	Group    string
	Revision string
}

// Finished says the deployment reached a final status: release the group (see Release),
// update GitHub, wake waiters.
type Finished struct {
	Deployment string
	Status     Status
	Error      ErrorInfo
}

// StartRollback asks for a new deployment (creator rollback) of the group's last good revision,
// reusing that deployment's content options. Admit it before releasing the group, so that it
// runs ahead of anything already queued.
type StartRollback struct {
	// Deployment is the one being rolled back.
	Deployment string
	Group      string
	Revision   string
}

func (SendCommand) isEffect()       {}
func (SetInstanceHealth) isEffect() {}
func (SetGroupRevision) isEffect()  {}
func (Finished) isEffect()          {}
func (StartRollback) isEffect()     {}

// Decide applies one input to a deployment at time now. It never changes d: it returns the new
// deployment and the effects to carry out, in order. On error the returned deployment is d and
// there are no effects; errors.Is(err, ErrStale) or ErrFinished means the input was a duplicate
// or came late and was ignored.
func Decide(d Deployment, in Input, now time.Time) (Deployment, []Effect, error) {
	nd, effects, errs := DecideAll(d, []Input{in}, now)
	return nd, effects, errs[0]
}

// DecideAll applies inputs in order at time now, exactly as successive calls of Decide would,
// and returns the deployment after the last, the effects of all of them in order, and one error
// per input (nil for each input applied). It never changes d, and an input that fails changes
// nothing.
//
// It copies d once, not once per input: the runtime decides together the inputs that arrive
// while it stores a deployment, and with a thousand targets a copy per input was most of the
// server's CPU time. This relies on every input checking what it needs before it changes
// anything, which TestDecideAll_MatchesDecide checks against Decide.
func DecideAll(d Deployment, ins []Input, now time.Time) (Deployment, []Effect, []error) {
	errs := make([]error, len(ins))
	var m *machine
	for i, in := range ins {
		cur := d
		if m != nil {
			cur = m.d
		}
		if cur.Status.Finished() {
			errs[i] = fmt.Errorf("deployment %s is %v: %w", d.ID, cur.Status, ErrFinished)
			continue
		}
		if m == nil {
			m = &machine{d: d.clone(), now: now}
		}
		emitted := len(m.effects)
		if err := m.apply(in); err != nil {
			m.effects = m.effects[:emitted]
			errs[i] = fmt.Errorf("deployment %s: %w", d.ID, err)
		}
	}
	if m == nil || !slices.Contains(errs, nil) {
		return d, nil, errs
	}
	return m.d, m.effects, errs
}

// apply feeds one input to the machine. An error leaves the machine as it was.
func (m *machine) apply(in Input) error {
	switch in := in.(type) {
	case Enqueue:
		return m.enqueue()
	case Start:
		return m.start(in)
	case EventReported:
		return m.report(in)
	case Heartbeat:
		return m.heartbeat(in)
	case Tick:
		m.tick()
		return nil
	case StopRequested:
		return m.stop(in)
	case InstanceGone:
		return m.gone(in)
	case TrafficApplied:
		return m.trafficApplied(in)
	case TrafficFailed:
		return m.trafficFailed(in)
	case Promote:
		return m.promote()
	case Pause:
		return m.pause()
	case Continue:
		return m.proceed()
	case AnalysisPassed:
		return m.analysisPassed(in)
	case OriginalsReleased:
		return m.released(in)
	}
	return fmt.Errorf("%w: input %T", ErrInvalidInput, in)
}

type machine struct {
	d       Deployment
	now     time.Time
	effects []Effect
}

func (m *machine) emit(e Effect) { m.effects = append(m.effects, e) }

func (m *machine) started() bool { return m.d.Status == StatusInProgress }

// live reports whether the deployment has started and not finished: in progress, or a
// blue/green deployment waiting to continue (Ready) or to release its originals (Baking).
func (m *machine) live() bool {
	switch m.d.Status {
	case StatusInProgress, StatusReady, StatusBaking:
		return true
	}
	return false
}

// blueGreen reports whether the deployment is a blue/green one.
func (m *machine) blueGreen() bool { return m.d.Type == BlueGreen }

// ending reports whether a stop or a failure is winding the deployment down: no new events
// start, and it finishes once the hosts' events in progress and any revert have ended.
func (m *machine) ending() bool { return m.d.Stop.Requested || m.d.Shift.Failure.Code != "" }

func (m *machine) enqueue() error {
	switch m.d.Status {
	case StatusCreated:
		m.d.Status = StatusQueued
		return nil
	case StatusQueued:
		return fmt.Errorf("enqueue: %w", ErrStale)
	}
	return fmt.Errorf("enqueue: %w (status %v)", ErrWrongStatus, m.d.Status)
}

func (m *machine) start(in Start) error {
	d := &m.d
	if d.Status != StatusCreated && d.Status != StatusQueued {
		return fmt.Errorf("start: %w (status %v)", ErrWrongStatus, d.Status)
	}
	if m.function() {
		return m.startFunction(in)
	}
	if err := d.Config.MinimumHealthyHosts.Validate(); err != nil {
		return fmt.Errorf("start: config %s: %w", d.Config.Name, err)
	}
	if !m.blueGreen() && len(in.Originals) > 0 {
		return fmt.Errorf("start: %w: original instances are for blue/green deployments", ErrInvalidInput)
	}
	if m.blueGreen() {
		if err := d.BlueGreen.Validate(); err != nil {
			return fmt.Errorf("start: %w: %w", ErrInvalidInput, err)
		}
	}
	if d.Router.Enabled() && in.Backend == nil {
		return fmt.Errorf("start: %w: a deployment with a traffic router starts with its backend read", ErrInvalidInput)
	}
	for _, list := range [][]Instance{in.Instances, in.Originals} {
		seen := make(map[string]bool, len(list))
		for _, inst := range list {
			if inst.ID == "" {
				return fmt.Errorf("start: %w: instance with an empty id", ErrInvalidInput)
			}
			if seen[inst.ID] {
				return fmt.Errorf("start: %w: instance %s given twice", ErrInvalidInput, inst.ID)
			}
			seen[inst.ID] = true
		}
	}
	d.Status = StatusInProgress
	d.StartTime = m.now
	if len(in.Instances) == 0 {
		// CodeDeploy fails a deployment that finds no instances (NO_INSTANCES) rather than
		// calling an empty run a success.
		msg := "no instances match the deployment group's tags; tag the hosts or change the group's tag filters"
		if m.blueGreen() {
			msg = "no instances match the group's replacement tags; start the replacement fleet with those tags, or change them"
		}
		m.finish(StatusFailed, ErrorInfo{Code: ErrorNoInstances, Message: msg})
		return nil
	}
	if m.blueGreen() {
		if info, ok := checkFleets(*d, in); !ok {
			m.finish(StatusFailed, info)
			return nil
		}
	}
	if d.Router.Enabled() {
		if info, ok := checkServers(*d, in); !ok {
			m.finish(StatusFailed, info)
			return nil
		}
	}

	events, fleet := LifecycleEvents(d.Router.Enabled()), InPlaceFleet
	if m.blueGreen() {
		events, fleet = ReplacementEvents(), ReplacementFleet
	}
	d.Targets = make([]Target, 0, len(in.Instances)+len(in.Originals))
	upToDate := 0
	for _, inst := range in.Instances {
		t := m.newTarget(inst, fleet, events)
		// Only a healthy host is trusted to really run the revision its record names: an
		// unhealthy one may hold a half-installed later revision.
		if d.UpdateOutdatedInstancesOnly && inst.Health == Healthy && inst.Revision == d.Revision {
			t.UpToDate = true
			upToDate++
			if m.blueGreen() {
				// It runs the revision already and takes part in the shift without installing.
				m.installedAlready(&t)
			} else {
				m.endTarget(&t, 0, InstanceSkipped, "already runs revision "+d.Revision)
			}
		}
		d.Targets = append(d.Targets, t)
	}
	// CodeDeploy's user guide: instances are deployed in the order unhealthy, then unknown
	// revision, then old revision, then current revision. Instance id breaks ties so the order
	// does not depend on how the caller listed them.
	slices.SortFunc(d.Targets, func(a, b Target) int {
		return cmp.Or(cmp.Compare(orderClass(a), orderClass(b)), cmp.Compare(a.Instance, b.Instance))
	})
	n := len(d.Targets)
	originals := make([]Target, 0, len(in.Originals))
	for _, inst := range in.Originals {
		originals = append(originals, m.newTarget(inst, OriginalFleet, OriginalEvents()))
	}
	slices.SortFunc(originals, func(a, b Target) int { return cmp.Compare(a.Instance, b.Instance) })
	d.Targets = append(d.Targets, originals...)

	d.Minimum = d.Config.MinimumHealthyHosts.Minimum(n)
	d.Batch = max(n-d.Minimum, 0)
	if upToDate == n && !m.blueGreen() {
		m.finish(StatusSucceeded, ErrorInfo{})
		return nil
	}
	m.advance(true)
	return nil
}

func (m *machine) newTarget(inst Instance, fleet Fleet, events []string) Target {
	t := Target{
		Instance:          inst.ID,
		Name:              inst.Name,
		Fleet:             fleet,
		HealthAtStart:     inst.Health,
		RevisionAtStart:   ClassifyRevision(inst.Revision, m.d.GroupRevision),
		InstalledRevision: inst.Revision,
		Events:            make([]Event, len(events)),
	}
	if m.d.Router.Enabled() {
		t.Server = m.d.Router.Server(inst.Name, inst.ID)
	}
	for i, name := range events {
		t.Events[i] = Event{Name: name}
	}
	return t
}

// oneAtATime is CodeDeploy's OneAtATime rule: at most one host at a time (MOST_CONCURRENCY 1).
func (m *machine) oneAtATime() bool {
	mh := m.d.Config.MinimumHealthyHosts
	return mh.Type == MostConcurrency && mh.Value == 1
}

func orderClass(t Target) int {
	if t.HealthAtStart == Unhealthy {
		return 0
	}
	return 1 + int(t.RevisionAtStart)
}

func (m *machine) target(id string) (*Target, error) {
	for i := range m.d.Targets {
		if m.d.Targets[i].Instance == id {
			return &m.d.Targets[i], nil
		}
	}
	return nil, fmt.Errorf("instance %s: %w", id, ErrUnknownInstance)
}

// running finds the event a report or heartbeat is about; anything but the event in progress,
// with the attempt it was sent with, is stale. A blue/green deployment's traffic events belong
// to the deployment, not to a host, so nobody reports them.
func (m *machine) running(instance, event string, attempt int) (*Target, int, error) {
	if !m.started() {
		return nil, 0, fmt.Errorf("%w (status %v)", ErrWrongStatus, m.d.Status)
	}
	t, err := m.target(instance)
	if err != nil {
		return nil, 0, err
	}
	i := t.current()
	if i < 0 || t.Events[i].Name != event || t.Events[i].Attempt != attempt || m.blueGreen() && routerEvent(event) {
		return nil, 0, fmt.Errorf("%s %s attempt %d: %w", instance, event, attempt, ErrStale)
	}
	return t, i, nil
}

func (m *machine) report(in EventReported) error {
	if in.Status != EventSucceeded && in.Status != EventFailed && in.Status != EventSkipped {
		return fmt.Errorf("report: %w: status %v; want Succeeded, Failed or Skipped", ErrInvalidInput, in.Status)
	}
	t, i, err := m.running(in.Instance, in.Event, in.Attempt)
	if err != nil {
		return fmt.Errorf("report: %w", err)
	}
	if m.function() && in.Status != EventFailed && m.functionStepDone(t, i) {
		m.advance(false)
		return nil
	}
	m.complete(t, i, in.Status != EventFailed, in.Diagnostics, false)
	if in.Status == EventSkipped {
		t.Events[i].Status = EventSkipped
	}
	m.advance(false)
	return nil
}

func (m *machine) heartbeat(in Heartbeat) error {
	t, i, err := m.running(in.Instance, in.Event, in.Attempt)
	if err != nil {
		return fmt.Errorf("heartbeat: %w", err)
	}
	// A heartbeat that arrives after the deadline but before the Tick that would expire the
	// lease still counts: the first thing the server receives wins.
	t.Events[i].LeaseDeadline = m.now.Add(m.d.lease())
	return nil
}

func (m *machine) tick() {
	if !m.live() {
		return
	}
	changed := false
	for k := range m.d.Targets {
		t := &m.d.Targets[k]
		i := t.current()
		if i < 0 || t.Events[i].LeaseDeadline.IsZero() || m.now.Before(t.Events[i].LeaseDeadline) {
			continue
		}
		changed = true
		diag := Diagnostics{
			ErrorCode: DiagnosticHostUnresponsive,
			Message:   "host stopped answering: no report within " + seconds(m.d.lease()),
		}
		switch {
		case m.function():
			diag = Diagnostics{ErrorCode: DiagnosticHookTimedOut, Message: "the hook did not report its verdict within " + seconds(m.d.hookTimeout())}
		case routerEvent(t.Events[i].Name):
			diag = Diagnostics{ErrorCode: DiagnosticRouterFailed, Message: "the traffic router did not answer within " + seconds(m.d.lease())}
		}
		// Forced: a silent host cannot be asked to carry on, even past an ignorable event.
		m.complete(t, i, false, diag, true)
	}
	if m.blueGreen() && m.timerDue() {
		changed = true
		m.timer()
	}
	if changed {
		m.advance(false)
	}
}

func (m *machine) stop(in StopRequested) error {
	d := &m.d
	info := ErrorInfo{Code: ErrorManualStop, Message: in.Message}
	rollback := in.Rollback || d.AutoRollback.OnStopRequested
	if in.Alarm {
		info.Code = ErrorAlarmActive
		rollback = in.Rollback || d.AutoRollback.OnAlarm
	}
	if info.Message == "" {
		info.Message = "stopped on request"
		if in.Alarm {
			info.Message = "stopped because an alarm fired"
		}
	}
	switch d.Status {
	case StatusCreated, StatusQueued:
		d.Stop = StopInfo{Requested: true, Time: m.now, Error: info, Rollback: rollback}
		m.finish(StatusStopped, info)
		return nil
	}
	if d.Stop.Requested {
		return fmt.Errorf("stop: already stopping: %w", ErrStale)
	}
	if m.blueGreen() && d.Shift.Phase == PhaseRelease {
		return fmt.Errorf("stop: %w: the original instances are being released; traffic can no longer go back to them", ErrWrongStatus)
	}
	d.Stop = StopInfo{Requested: true, Time: m.now, Error: info, Rollback: rollback}
	m.skipPending("deployment stopped before this instance started")
	m.revert()
	m.advance(false)
	return nil
}

func (m *machine) gone(in InstanceGone) error {
	if !m.live() {
		return fmt.Errorf("instance gone: %w (status %v)", ErrWrongStatus, m.d.Status)
	}
	t, err := m.target(in.Instance)
	if err != nil {
		return fmt.Errorf("instance gone: %w", err)
	}
	if t.Gone {
		return fmt.Errorf("instance gone: %s: %w", in.Instance, ErrStale)
	}
	t.Gone = true
	const why = "instance left the deployment group"
	switch t.Status {
	case InstancePending:
		m.endTarget(t, 0, InstanceSkipped, why)
	case InstanceReady:
		m.endTarget(t, t.next(), InstanceSkipped, why)
	case InstanceInProgress:
		m.complete(t, t.current(), false, Diagnostics{ErrorCode: DiagnosticInstanceGone, Message: why}, true)
	}
	m.advance(false)
	return nil
}

// complete records the end of event i on t and moves the host on: the next event, or the end.
// force makes a failure end the host even where IgnoreApplicationStopFailures would continue.
func (m *machine) complete(t *Target, i int, ok bool, diag Diagnostics, force bool) {
	e := &t.Events[i]
	e.EndTime = m.now
	e.LeaseDeadline = time.Time{}
	e.Diagnostics = diag
	e.Status = EventSucceeded
	if !ok {
		e.Status = EventFailed
		ignorable := m.d.IgnoreApplicationStopFailures && stopFailureIgnorable(e.Name)
		if force || !ignorable {
			m.endTarget(t, i+1, InstanceFailed, "")
			m.hostFailed(t, e.Name)
			return
		}
	}
	switch {
	case i+1 == len(t.Events):
		m.endTarget(t, i+1, InstanceSucceeded, "")
	case m.ending():
		verb := "stopped"
		if !m.d.Stop.Requested {
			verb = "failed"
		}
		m.endTarget(t, i+1, InstanceUnknown, "deployment "+verb+" after "+e.Name)
	case t.Fleet == ReplacementFleet && e.Name == appspec.EventValidateService:
		// Installed: it waits, with the rest of the fleet, for traffic.
		t.Status = InstanceReady
	default:
		m.send(t, i+1)
	}
}

// send starts event i on t: a command for the host's agent, or a change of the router.
func (m *machine) send(t *Target, i int) {
	t.Attempt++
	e := &t.Events[i]
	e.Status = EventInProgress
	e.Attempt = t.Attempt
	e.StartTime = m.now
	if m.function() {
		m.sendFunction(t, i)
		return
	}
	if routerEvent(e.Name) && m.blueGreen() {
		// The deployment carries it out for the whole fleet once every host is there; it may
		// take as long as the traffic shape says, so it has no lease.
		return
	}
	e.LeaseDeadline = m.now.Add(m.d.lease())
	if routerEvent(e.Name) {
		m.emit(m.d.hostTraffic(*t, i))
		return
	}
	m.emit(SendCommand{Deployment: m.d.ID, Instance: t.Instance, Event: e.Name, Attempt: e.Attempt, LeaseDeadline: e.LeaseDeadline})
}

// endTarget gives t its final status; events from i on will not run.
func (m *machine) endTarget(t *Target, i int, s InstanceStatus, msg string) {
	for j := i; j < len(t.Events); j++ {
		t.Events[j].Status = EventSkipped
	}
	t.Status = s
	t.Message = msg
	t.EndTime = m.now
}

func (m *machine) skipPending(msg string) {
	for k := range m.d.Targets {
		if t := &m.d.Targets[k]; t.Status == InstancePending {
			m.endTarget(t, 0, InstanceSkipped, msg)
		}
	}
}

// healthy counts the targets serving now: untouched hosts that were healthy, and hosts that
// succeeded. A host in progress is out of service; a failed one is unhealthy (CodeDeploy's
// user guide: a failed deployment makes an instance unhealthy, and a stopped instance weighs
// like a failed one). A blue/green deployment counts its replacement fleet: a replacement that
// installed the revision (Ready) counts as serving.
func (m *machine) healthy() int {
	n := 0
	for _, t := range m.d.Targets {
		if t.Gone || t.Fleet == OriginalFleet {
			continue
		}
		switch t.Status {
		case InstancePending, InstanceSkipped:
			if t.HealthAtStart == Healthy {
				n++
			}
		case InstanceSucceeded, InstanceReady:
			n++
		}
	}
	return n
}

// count counts the targets the revision is deployed to (not a blue/green original) with status s.
func (m *machine) count(s InstanceStatus) int {
	n := 0
	for _, t := range m.d.Targets {
		if t.Status == s && t.Fleet != OriginalFleet {
			n++
		}
	}
	return n
}

// canStart applies the two limits on taking a host: no more than Batch in progress, and taking
// a healthy host must leave at least Minimum healthy. An unhealthy host serves nothing, so
// deploying it costs no health: CodeDeploy deploys unhealthy instances first and, when a group
// starts with fewer healthy instances than the minimum, only refuses to lower the count further.
func (m *machine) canStart(t Target) bool {
	if m.count(InstanceInProgress) >= m.d.Batch {
		return false
	}
	return t.HealthAtStart == Unhealthy || m.healthy()-1 >= m.d.Minimum
}

// advance starts what may start, in order, and finishes the deployment when nothing is left
// to wait for.
func (m *machine) advance(atStart bool) {
	d := &m.d
	if m.function() {
		m.advanceFunction()
		return
	}
	if m.blueGreen() && d.Shift.Phase != PhaseInstall {
		m.advanceBlueGreen()
		return
	}
	if d.Stop.Requested {
		if m.count(InstanceInProgress) == 0 {
			m.finish(StatusStopped, d.Stop.Error)
		}
		return
	}
	if m.oneAtATime() && m.count(InstanceFailed) > 0 && m.count(InstancePending) > 0 {
		// CodeDeploy's OneAtATime fails as soon as any host but the last one fails, whatever
		// the health count says: on a fleet that was never deployed every host counts as
		// unhealthy, and the count alone would carry on past a broken revision.
		info := ErrorInfo{Code: m.failureCode(), Message: "one at a time: an instance failed before the last one" + m.firstFailure()}
		m.skipPending("deployment failed before this instance started")
		m.finish(StatusFailed, info)
		return
	}
	var blocked *Target
	for k := range d.Targets {
		t := &d.Targets[k]
		if t.Status != InstancePending || t.Fleet == OriginalFleet {
			continue
		}
		// Strictly in order: a later host never jumps a blocked one.
		if !m.canStart(*t) {
			blocked = t
			break
		}
		t.Status = InstanceInProgress
		t.StartTime = m.now
		m.send(t, 0)
	}
	if m.count(InstanceInProgress) > 0 {
		return
	}
	if blocked == nil {
		m.verdict()
		return
	}
	var info ErrorInfo
	// At the start only the minimum itself can block the first host (Minimum >= targets): the
	// static case CodeDeploy calls HEALTH_CONSTRAINTS_INVALID. A start with fewer healthy hosts
	// than the minimum is not refused, because hosts never deployed to count as unhealthy and a
	// fleet's first deployment would never run; those hosts go first and cost no health.
	if atStart {
		info = ErrorInfo{Code: ErrorHealthConstraintsInvalid, Message: fmt.Sprintf(
			"a minimum of %s out of %d leaves no instance to deploy to; lower the deployment config's minimum healthy hosts or add instances",
			healthyInstances(d.Minimum), m.targetCount())}
	} else {
		info = ErrorInfo{Code: m.failureCode(), Message: fmt.Sprintf(
			"%d instances failed and %d are healthy: deploying %s would leave fewer than the minimum of %d healthy%s",
			m.count(InstanceFailed), m.healthy(), blocked.label(), d.Minimum, m.firstFailure())}
	}
	m.skipPending("deployment failed before this instance started")
	m.finish(StatusFailed, info)
}

// healthyInstances says "1 healthy instance", "2 healthy instances".
func healthyInstances(n int) string {
	if n == 1 {
		return "1 healthy instance"
	}
	return fmt.Sprintf("%d healthy instances", n)
}

// targetCount is the number of targets the revision is deployed to.
func (m *machine) targetCount() int {
	n := 0
	for _, t := range m.d.Targets {
		if t.Fleet != OriginalFleet {
			n++
		}
	}
	return n
}

// verdict decides a deployment with every target done. The minimum is checked at the end rather
// than during the run so that a failure on the very last host still succeeds when the rest meet
// it, and at least one host must be on the revision even with a minimum of 0 (both from
// CodeDeploy's user guide on instance health). A blue/green deployment that passes goes on to
// traffic.
func (m *machine) verdict() {
	d := &m.d
	onRevision := 0
	for _, t := range d.Targets {
		if !t.Gone && t.Fleet != OriginalFleet && (t.Status == InstanceSucceeded || t.Status == InstanceReady || t.UpToDate) {
			onRevision++
		}
	}
	h := m.healthy()
	switch {
	case onRevision >= 1 && h >= d.Minimum:
		if m.blueGreen() {
			m.installed()
			return
		}
		m.finish(StatusSucceeded, ErrorInfo{})
	case onRevision == 0:
		m.skipPending("deployment failed before this instance started")
		m.finish(StatusFailed, ErrorInfo{Code: m.failureCode(), Message: fmt.Sprintf(
			"no instance succeeded (%d failed); at least one must, whatever the minimum%s",
			m.count(InstanceFailed), m.firstFailure())})
	default:
		m.skipPending("deployment failed before this instance started")
		m.finish(StatusFailed, ErrorInfo{Code: m.failureCode(), Message: fmt.Sprintf(
			"%d instances failed: %d healthy at the end, below the minimum of %d%s",
			m.count(InstanceFailed), h, d.Minimum, m.firstFailure())})
	}
}

// failureCode is AGENT_ISSUE when every failed host failed by silence, so the user looks at the
// agents rather than at scripts; otherwise HEALTH_CONSTRAINTS.
func (m *machine) failureCode() ErrorCode {
	silent, failed := 0, 0
	for _, t := range m.d.Targets {
		if t.Status != InstanceFailed {
			continue
		}
		failed++
		if e, ok := failedEvent(t); ok && e.Diagnostics.ErrorCode == DiagnosticHostUnresponsive {
			silent++
		}
	}
	if failed > 0 && silent == failed {
		return ErrorAgentIssue
	}
	return ErrorHealthConstraints
}

// firstFailure describes the first failed host in deployment order, for the error message.
func (m *machine) firstFailure() string {
	for _, t := range m.d.Targets {
		if t.Status != InstanceFailed {
			continue
		}
		e, ok := failedEvent(t)
		if !ok {
			return "; first failure: " + t.label()
		}
		s := fmt.Sprintf("; first failure: %s %s", t.label(), e.Name)
		if e.Diagnostics.ErrorCode != "" {
			s += ": " + e.Diagnostics.ErrorCode
		}
		if e.Diagnostics.Message != "" {
			s += ": " + e.Diagnostics.Message
		}
		return s
	}
	return ""
}

// failedEvent is the event that ended a failed host: its last failed event.
func failedEvent(t Target) (Event, bool) {
	for i := len(t.Events) - 1; i >= 0; i-- {
		if t.Events[i].Status == EventFailed {
			return t.Events[i], true
		}
	}
	return Event{}, false
}

// finish gives the deployment its final status and emits, in order: the health of each attempted
// host, the group's new revision on success, Finished, and a rollback if one is due. CodeDeploy's
// user guide: on success the group's revision moves and succeeded hosts become healthy and
// current; on failure or stop, attempted hosts become healthy or unhealthy by their result,
// untouched hosts keep theirs, and the group's revision stays.
//
// A blue/green deployment records its replacement hosts (an installed one is healthy and
// current, whether or not traffic reached it) and leaves the originals' records as they are;
// on success the fleets swap. It never starts a rollback deployment: its rollback is traffic
// going back to the originals, which still run the last good revision.
func (m *machine) finish(s Status, info ErrorInfo) {
	d := &m.d
	if m.blueGreen() {
		info = m.endBlueGreen(s, info)
	}
	d.Status = s
	d.Error = info
	d.EndTime = m.now
	attempted := false
	for _, t := range d.Targets {
		if t.Attempt == 0 {
			continue
		}
		attempted = true
		if t.Gone || t.Fleet == OriginalFleet || m.function() {
			// A lambda or ecs deployment's target is no instance of the group.
			continue
		}
		switch {
		case t.Status == InstanceFailed:
			m.emit(SetInstanceHealth{Instance: t.Instance, Health: Unhealthy})
		case t.Status == InstanceSucceeded || t.Fleet == ReplacementFleet && t.installed():
			m.emit(SetInstanceHealth{Instance: t.Instance, Health: Healthy, Revision: d.Revision})
		case t.Status == InstanceUnknown:
			m.emit(SetInstanceHealth{Instance: t.Instance, Health: Unhealthy})
		}
	}
	if s == StatusSucceeded {
		m.emit(SetGroupRevision{Group: d.Group, Revision: d.Revision})
		if m.blueGreen() && !m.function() {
			m.emit(SwapFleets{Group: d.Group})
		}
	}
	m.emit(Finished{Deployment: d.ID, Status: s, Error: info})
	if m.rollbackDue(s, attempted) {
		d.RollbackRevision = d.GroupRevision
		m.emit(StartRollback{Deployment: d.ID, Group: d.Group, Revision: d.GroupRevision})
	}
}

// rollbackDue: only when a host was touched (otherwise nothing changed), when there is a last
// good revision that differs from this one, and never for a rollback itself, so a broken last
// good revision cannot start an endless chain.
func (m *machine) rollbackDue(s Status, attempted bool) bool {
	d := m.d
	if !attempted || m.blueGreen() || d.Creator == CreatorRollback || d.GroupRevision == "" || d.GroupRevision == d.Revision {
		return false
	}
	switch s {
	case StatusFailed:
		return d.AutoRollback.OnFailure
	case StatusStopped:
		return d.Stop.Rollback
	}
	return false
}

func seconds(d time.Duration) string {
	if d%time.Second == 0 {
		return fmt.Sprintf("%ds", int64(d/time.Second))
	}
	return d.String()
}
