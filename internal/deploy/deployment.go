package deploy

import (
	"time"

	"github.com/slipway-deploy/slipway/internal/appspec"
)

// DefaultLease is how long a host may stay silent (no report, no heartbeat) on a command before
// its event fails. The reference agent waits minutes; a self-hosted fleet on a LAN can say sooner.
const DefaultLease = 60 * time.Second

// Deployment is everything Decide needs to know about one deployment. The caller fills the
// identity, revision and options when it creates the deployment; Decide fills the rest.
type Deployment struct {
	ID          string
	Application string
	Group       string
	// Revision is the key of the revision being deployed (a digest, an S3 object, a commit).
	Revision string
	// GroupRevision is the revision of the group's last successful deployment when this one was
	// created: the reference for revision health and the revision a rollback redeploys. Empty
	// when the group never had a successful deployment.
	GroupRevision string
	Creator       Creator
	Config        Config
	// Description is the requester's note, shown with the deployment.
	Description string
	// FileExistsBehavior is the deployment's content option (DISALLOW, OVERWRITE, RETAIN or ""),
	// sent to agents with each command; a rollback reuses the rolled-back-to deployment's.
	FileExistsBehavior string
	// OnlyInstances, when set, limits the deployment to these instances of the group: an
	// auto-update catches up hosts that joined, without touching the rest of the fleet.
	OnlyInstances []string
	// RollbackOf is the deployment this one rolls back; RolledBackBy the rollback started for this
	// one. Both are set by whoever creates the rollback.
	RollbackOf   string
	RolledBackBy string
	// RequestKey names the request that created the deployment when that request may be handled
	// twice (a pull request comment, a check run button): handled again, it finds this deployment
	// instead of starting another. Empty for the rest.
	RequestKey string

	// IgnoreApplicationStopFailures lets a host continue past a failed ApplicationStop,
	// BeforeBlockTraffic or AfterBlockTraffic (those run the previous revision's scripts, and a
	// broken one would block every later deployment).
	IgnoreApplicationStopFailures bool
	// UpdateOutdatedInstancesOnly skips healthy hosts whose last successful deployment installed
	// Revision already.
	UpdateOutdatedInstancesOnly bool
	// Type is InPlace (the zero value) or BlueGreen.
	Type Type
	// Router is the group's traffic router, if it has one: an in-place deployment then runs the
	// six block/allow traffic events around each host's lifecycle, and a blue/green deployment
	// moves traffic through it.
	Router Router
	// BlueGreen holds a blue/green deployment's options; an in-place deployment ignores it.
	// A lambda or ecs deployment is blue/green and takes its traffic shape from here.
	BlueGreen BlueGreenOptions
	// Platform is server (the zero value), lambda or ecs. A lambda or ecs deployment has one
	// target, the alias or service, whose events are FunctionEvents: hooks the runtime invokes
	// (InvokeHook), steps it carries out on AWS (RunStep) and the traffic shape, whose changes
	// go out as SetTraffic with a Percent.
	Platform Platform
	// Function is a lambda or ecs deployment's target and waits.
	Function     FunctionOptions
	AutoRollback AutoRollback
	// Lease overrides DefaultLease when positive.
	Lease time.Duration

	Status Status
	// Error is set when Status is Failed or Stopped.
	Error ErrorInfo
	// Minimum is the absolute minimum of healthy hosts, computed once at Start.
	Minimum int
	// Batch is how many hosts may be in progress at once: targets less Minimum, fixed at Start.
	Batch int
	// Targets are in deployment order once started.
	Targets []Target
	Stop    StopInfo
	// RollbackRevision is the revision a StartRollback effect asked to redeploy, if any.
	RollbackRevision string
	// Shift is a blue/green deployment's progress: its phase and the traffic it asked for.
	Shift Shift

	CreateTime time.Time
	StartTime  time.Time
	EndTime    time.Time
}

// AutoRollback is the group's automatic rollback settings (CodeDeploy's DEPLOYMENT_FAILURE,
// DEPLOYMENT_STOP_ON_ALARM and DEPLOYMENT_STOP_ON_REQUEST events).
type AutoRollback struct {
	OnFailure       bool
	OnAlarm         bool
	OnStopRequested bool
}

// StopInfo records a stop request while in-progress hosts finish their current event.
type StopInfo struct {
	Requested bool
	Time      time.Time
	Error     ErrorInfo
	Rollback  bool
}

// ErrorInfo is why a deployment failed or stopped.
type ErrorInfo struct {
	Code    ErrorCode
	Message string
}

// Instance is a host as the group's records know it when a deployment starts.
type Instance struct {
	ID string
	// Name is the host's name, for messages; ID when empty.
	Name   string
	Health Health
	// Revision is the revision the last successful deployment to the host installed, "" if none.
	Revision string
}

// Target is one host of a deployment and its lifecycle record.
type Target struct {
	Instance string
	// Name is the host's name when the deployment started, for messages.
	Name string
	// Fleet is InPlaceFleet in an in-place deployment; a blue/green deployment's targets are the
	// replacement fleet (installed, then given traffic) and the original fleet (drained).
	Fleet Fleet
	// Server is the host's name in the traffic router, when the deployment has one.
	Server string
	// HealthAtStart and RevisionAtStart order the hosts and drive the health count.
	HealthAtStart   Health
	RevisionAtStart RevisionHealth
	// InstalledRevision is the host's revision when the deployment started ("" if none).
	InstalledRevision string
	Status            InstanceStatus
	Events            []Event
	// Attempt counts the commands sent to this host in this deployment; each command carries
	// its number, so a report for an older command is recognised as stale.
	Attempt int
	// UpToDate marks a host skipped by UpdateOutdatedInstancesOnly.
	UpToDate bool
	// Gone marks a host that left the group during the deployment.
	Gone bool
	// Message says why the host was skipped or left unknown.
	Message   string
	StartTime time.Time
	EndTime   time.Time
}

// Event is one lifecycle event of one host.
type Event struct {
	Name   string
	Status EventStatus
	// Attempt is the number of the command that carried the event (see Target.Attempt).
	Attempt       int
	LeaseDeadline time.Time
	Diagnostics   Diagnostics
	StartTime     time.Time
	EndTime       time.Time
}

// Diagnostics is what a host reported about an event, in CodeDeploy's shape.
type Diagnostics struct {
	// ErrorCode is the agent's code (ScriptFailed, ScriptTimedOut, ...) or one of the server's
	// Diagnostic* codes.
	ErrorCode  string
	ScriptName string
	Message    string
	LogTail    string
}

// LifecycleEvents lists the in-place lifecycle of one host in order. The six traffic events run
// only when the group has a traffic router. Every event is sent, scripts or not: the agent knows
// which revision's hooks apply (ApplicationStop runs the last installed revision's), the server
// does not, and a complete record is worth a round trip.
func LifecycleEvents(trafficRouter bool) []string {
	core := []string{
		appspec.EventApplicationStop, appspec.EventDownloadBundle, appspec.EventBeforeInstall,
		appspec.EventInstall, appspec.EventAfterInstall, appspec.EventApplicationStart,
		appspec.EventValidateService,
	}
	if !trafficRouter {
		return core
	}
	events := []string{appspec.EventBeforeBlockTraffic, appspec.EventBlockTraffic, appspec.EventAfterBlockTraffic}
	events = append(events, core...)
	return append(events, appspec.EventBeforeAllowTraffic, appspec.EventAllowTraffic, appspec.EventAfterAllowTraffic)
}

// stopFailureIgnorable reports whether IgnoreApplicationStopFailures covers event: the three
// events that run the previously installed revision's scripts.
func stopFailureIgnorable(event string) bool {
	switch event {
	case appspec.EventApplicationStop, appspec.EventBeforeBlockTraffic, appspec.EventAfterBlockTraffic:
		return true
	}
	return false
}

func (d Deployment) lease() time.Duration {
	if d.Lease > 0 {
		return d.Lease
	}
	return DefaultLease
}

// label names the host in messages: its name, or its id when it has none.
func (t Target) label() string {
	if t.Name != "" {
		return t.Name
	}
	return t.Instance
}

// current returns the index of the target's in-progress event, or -1.
func (t Target) current() int {
	if t.Status != InstanceInProgress {
		return -1
	}
	for i, e := range t.Events {
		if e.Status == EventInProgress {
			return i
		}
	}
	return -1
}

// NextDeadline is the earliest deadline of the deployment: a lease of an event in progress, or
// the end of a blue/green wait (the ready wait, a pause of the traffic shape, the bake). The
// runtime should feed Tick to Decide at that time. ok is false when nothing is timed.
func NextDeadline(d Deployment) (deadline time.Time, ok bool) {
	deadline, ok = d.timerDeadline()
	if d.Status != StatusInProgress {
		return deadline, ok
	}
	for _, t := range d.Targets {
		i := t.current()
		if i < 0 || t.Events[i].LeaseDeadline.IsZero() {
			continue
		}
		dl := t.Events[i].LeaseDeadline
		if !ok || dl.Before(deadline) {
			deadline, ok = dl, true
		}
	}
	return deadline, ok
}

// CommandFor is the command the instance should be running now, if any: what an agent's poll is
// answered with, and what a restarted server sends again (the agent treats a repeat of the same
// deployment, event and attempt as the same command). BlockTraffic and AllowTraffic are never
// commands: the server carries them out through the router (see PendingTraffic).
func CommandFor(d Deployment, instance string) (SendCommand, bool) {
	if d.Status != StatusInProgress || d.Platform != PlatformServer {
		return SendCommand{}, false
	}
	for _, t := range d.Targets {
		if t.Instance != instance {
			continue
		}
		if i := t.current(); i >= 0 && !routerEvent(t.Events[i].Name) {
			e := t.Events[i]
			return SendCommand{Deployment: d.ID, Instance: t.Instance, Event: e.Name, Attempt: e.Attempt, LeaseDeadline: e.LeaseDeadline}, true
		}
	}
	return SendCommand{}, false
}

// Overview counts targets by status, like CodeDeploy's deployment overview.
type Overview struct {
	Pending, InProgress, Succeeded, Failed, Skipped, Unknown, Ready int
}

// Summarize counts d's targets by status.
func Summarize(d Deployment) Overview {
	var o Overview
	for _, t := range d.Targets {
		switch t.Status {
		case InstancePending:
			o.Pending++
		case InstanceInProgress:
			o.InProgress++
		case InstanceSucceeded:
			o.Succeeded++
		case InstanceFailed:
			o.Failed++
		case InstanceSkipped:
			o.Skipped++
		case InstanceUnknown:
			o.Unknown++
		case InstanceReady:
			o.Ready++
		}
	}
	return o
}

// clone copies every slice Decide may change, so the caller's value is never mutated.
func (d Deployment) clone() Deployment {
	c := d
	if d.Targets == nil {
		return c
	}
	c.Targets = make([]Target, len(d.Targets))
	for i, t := range d.Targets {
		t.Events = append([]Event(nil), t.Events...)
		c.Targets[i] = t
	}
	return c
}
