package deploy

import "errors"

var (
	// ErrStale marks an input that no longer applies: a duplicate or late report, a report for an
	// attempt that is not the current one, a second stop. Decide ignores it and returns the
	// deployment unchanged; the server keeps the first result it receives.
	ErrStale = errors.New("stale input")
	// ErrFinished marks an input for a deployment that has already finished.
	ErrFinished = errors.New("deployment already finished")
	// ErrWrongStatus marks an input that does not apply in the deployment's status (a report
	// before Start, a second Start).
	ErrWrongStatus = errors.New("input does not apply in this status")
	// ErrUnknownInstance marks an input naming an instance that is not a target of the deployment.
	ErrUnknownInstance = errors.New("instance is not a target of this deployment")
	// ErrInvalidInput marks an input that is malformed (a report with a status other than
	// Succeeded or Failed, a duplicate instance in Start, an input type Decide does not know).
	ErrInvalidInput = errors.New("invalid input")
	// ErrInvalidConfig marks a deployment config or tag filter set that fails validation.
	ErrInvalidConfig = errors.New("invalid deployment config")
	// ErrGroupBusy is returned by Admit when the group already has an active deployment and
	// refuses to queue another.
	ErrGroupBusy = errors.New("deployment group has an active deployment")
)
