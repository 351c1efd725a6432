package deploy

import "fmt"

// Status is the status of a deployment, named as CodeDeploy names it.
type Status int

// The deployment statuses.
const (
	StatusCreated Status = iota
	StatusQueued
	StatusInProgress
	// StatusBaking and StatusReady belong to blue/green and traffic-shifting deployments; the
	// in-place machine never enters them.
	StatusBaking
	StatusReady
	StatusSucceeded
	StatusFailed
	StatusStopped
)

var statusNames = [...]string{"Created", "Queued", "InProgress", "Baking", "Ready", "Succeeded", "Failed", "Stopped"}

func (s Status) String() string { return enumName(statusNames[:], int(s)) }

// Finished reports whether s is final: no input changes a finished deployment.
func (s Status) Finished() bool {
	return s == StatusSucceeded || s == StatusFailed || s == StatusStopped
}

// ParseStatus reads a name written by Status.String.
func ParseStatus(s string) (Status, error) {
	i, err := parseEnum(statusNames[:], "deployment status", s)
	return Status(i), err
}

// InstanceStatus is the status of one target of a deployment.
type InstanceStatus int

// The instance statuses.
const (
	InstancePending InstanceStatus = iota
	InstanceInProgress
	InstanceSucceeded
	InstanceFailed
	InstanceSkipped
	// InstanceUnknown is a host that was partway through its lifecycle when the deployment was
	// stopped: some events ran, the rest never will, so what it serves is not known.
	InstanceUnknown
	// InstanceReady belongs to blue/green replacement hosts waiting for traffic.
	InstanceReady
)

var instanceStatusNames = [...]string{"Pending", "InProgress", "Succeeded", "Failed", "Skipped", "Unknown", "Ready"}

func (s InstanceStatus) String() string { return enumName(instanceStatusNames[:], int(s)) }

// Finished reports whether the instance will receive no more commands in this deployment.
func (s InstanceStatus) Finished() bool {
	switch s {
	case InstanceSucceeded, InstanceFailed, InstanceSkipped, InstanceUnknown:
		return true
	}
	return false
}

// ParseInstanceStatus reads a name written by InstanceStatus.String.
func ParseInstanceStatus(s string) (InstanceStatus, error) {
	i, err := parseEnum(instanceStatusNames[:], "instance status", s)
	return InstanceStatus(i), err
}

// EventStatus is the status of one lifecycle event on one host.
type EventStatus int

// The lifecycle event statuses.
const (
	EventPending EventStatus = iota
	EventInProgress
	EventSucceeded
	EventFailed
	EventSkipped
	EventUnknown
)

var eventStatusNames = [...]string{"Pending", "InProgress", "Succeeded", "Failed", "Skipped", "Unknown"}

func (s EventStatus) String() string { return enumName(eventStatusNames[:], int(s)) }

// ParseEventStatus reads a name written by EventStatus.String.
func ParseEventStatus(s string) (EventStatus, error) {
	i, err := parseEnum(eventStatusNames[:], "event status", s)
	return EventStatus(i), err
}

// Creator says what created a deployment.
type Creator int

// The creators.
const (
	CreatorUser Creator = iota
	// CreatorGitHub is a deployment created from a GitHub webhook or a pull-request comment.
	CreatorGitHub
	// CreatorRollback is the new deployment that redeploys the last good revision.
	CreatorRollback
	// CreatorAutoUpdate is the follow-up deployment that catches a newly joined host up.
	CreatorAutoUpdate
)

var creatorNames = [...]string{"user", "github", "rollback", "autoUpdate"}

func (c Creator) String() string { return enumName(creatorNames[:], int(c)) }

// ParseCreator reads a name written by Creator.String.
func ParseCreator(s string) (Creator, error) {
	i, err := parseEnum(creatorNames[:], "creator", s)
	return Creator(i), err
}

// Health is CodeDeploy's instance health: Healthy when the last deployment to the instance
// succeeded; Unhealthy when it failed or when nothing was ever deployed there. The zero value is
// Unhealthy so that a host never deployed to is not counted on.
type Health int

// The two instance healths.
const (
	Unhealthy Health = iota
	Healthy
)

var healthNames = [...]string{"Unhealthy", "Healthy"}

func (h Health) String() string { return enumName(healthNames[:], int(h)) }

// ParseHealth reads a name written by Health.String.
func ParseHealth(s string) (Health, error) {
	i, err := parseEnum(healthNames[:], "instance health", s)
	return Health(i), err
}

// RevisionHealth is CodeDeploy's revision health of an instance, relative to the revision of the
// group's last successful deployment.
type RevisionHealth int

const (
	// RevisionUnknown means no revision was ever installed successfully on the instance.
	RevisionUnknown RevisionHealth = iota
	// RevisionOld means the instance runs some other revision of the application.
	RevisionOld
	// RevisionCurrent means the instance runs the group's current revision.
	RevisionCurrent
)

var revisionHealthNames = [...]string{"Unknown", "Old", "Current"}

func (r RevisionHealth) String() string { return enumName(revisionHealthNames[:], int(r)) }

// ClassifyRevision gives the revision health of an instance whose last successful deployment
// installed installed ("" if none) in a group whose current revision is current.
func ClassifyRevision(installed, current string) RevisionHealth {
	switch installed {
	case "":
		return RevisionUnknown
	case current:
		return RevisionCurrent
	}
	return RevisionOld
}

// ErrorCode is a deployment's error code. The values are CodeDeploy's ErrorCode names; a failure
// of lifecycle scripts is HEALTH_CONSTRAINTS at the deployment level, as in CodeDeploy, with the
// script's own code in the host's Diagnostics.
type ErrorCode string

// The error codes Slipway uses, a subset of CodeDeploy's.
const (
	// ErrorNone is the code of a deployment that has not failed.
	ErrorNone ErrorCode = ""
	// ErrorAgentIssue means every host that failed did so by not answering (lease expiry), so the
	// agents, not the scripts, are the likely cause.
	ErrorAgentIssue               ErrorCode = "AGENT_ISSUE"
	ErrorAlarmActive              ErrorCode = "ALARM_ACTIVE"
	ErrorApplicationMissing       ErrorCode = "APPLICATION_MISSING"
	ErrorDeploymentGroupMissing   ErrorCode = "DEPLOYMENT_GROUP_MISSING"
	ErrorHealthConstraints        ErrorCode = "HEALTH_CONSTRAINTS"
	ErrorHealthConstraintsInvalid ErrorCode = "HEALTH_CONSTRAINTS_INVALID"
	ErrorInternal                 ErrorCode = "INTERNAL_ERROR"
	ErrorInvalidRevision          ErrorCode = "INVALID_REVISION"
	ErrorManualStop               ErrorCode = "MANUAL_STOP"
	ErrorNoInstances              ErrorCode = "NO_INSTANCES"
	ErrorRevisionMissing          ErrorCode = "REVISION_MISSING"
	ErrorTimeout                  ErrorCode = "TIMEOUT"
	// ErrorMissingBlueGreenConfig: a blue/green deployment's group lacks what it needs (CodeDeploy's
	// MISSING_BLUE_GREEN_DEPLOYMENT_CONFIGURATION), such as a traffic router.
	ErrorMissingBlueGreenConfig ErrorCode = "MISSING_BLUE_GREEN_DEPLOYMENT_CONFIGURATION"
	// ErrorInvalidFleets (Slipway's own): the original and replacement fleets cannot be told
	// apart, by tags or by router server names.
	ErrorInvalidFleets ErrorCode = "INVALID_FLEETS"
	// ErrorTrafficRouter (Slipway's own): the traffic router refused a change or could not be
	// reached, or its backend lacks a server for a host at the start.
	ErrorTrafficRouter ErrorCode = "TRAFFIC_ROUTER_ERROR"
	// ErrorHookExecutionFailure: a lambda or ecs hook reported Failed, could not be invoked, or
	// did not report in time.
	ErrorHookExecutionFailure ErrorCode = "HOOK_EXECUTION_FAILURE"
	// ErrorECSUpdate: an ECS call of a deployment step failed, or the service was not in a
	// state the deployment can start from.
	ErrorECSUpdate ErrorCode = "ECS_UPDATE_ERROR"
	// ErrorInvalidLambdaConfiguration: the alias was not where the deployment expects it, or a
	// Lambda call of a deployment step failed.
	ErrorInvalidLambdaConfiguration ErrorCode = "INVALID_LAMBDA_CONFIGURATION"
)

func (c ErrorCode) String() string { return string(c) }

// Diagnostic codes the server itself puts in a host's Diagnostics; the agent's own codes
// (ScriptMissing, ScriptFailed, ...) pass through unchanged.
const (
	// DiagnosticHostUnresponsive: the host sent no report or heartbeat before the lease ran out.
	DiagnosticHostUnresponsive = "HostUnresponsive"
	// DiagnosticInstanceGone: the instance left the deployment group during the deployment.
	DiagnosticInstanceGone = "InstanceGone"
	// DiagnosticRouterFailed: the traffic router refused to drain or ready the host's server, or
	// did not answer.
	DiagnosticRouterFailed = "TrafficRouterFailed"
	// DiagnosticHookTimedOut: a lambda or ecs hook did not report its verdict within the hook
	// timeout.
	DiagnosticHookTimedOut = "HookTimedOut"
)

func enumName(names []string, i int) string {
	if i < 0 || i >= len(names) {
		return fmt.Sprintf("invalid(%d)", i)
	}
	return names[i]
}

func parseEnum(names []string, what, s string) (int, error) {
	for i, n := range names {
		if n == s {
			return i, nil
		}
	}
	return 0, fmt.Errorf("unknown %s %q", what, s)
}
