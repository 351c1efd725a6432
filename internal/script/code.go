package script

import "strconv"

// Code is the outcome of a script, with the reference agent's numbering so it can travel on the
// wire as the same number CodeDeploy users see in their diagnostics.
type Code int

// The codes, numbered as in the reference agent. Succeeded is the zero value, so only trust a
// Code that Run produced.
const (
	Succeeded       Code = 0
	Missing         Code = 1
	NotExecutable   Code = 2
	TimedOut        Code = 3
	Failed          Code = 4
	UnknownError    Code = 5
	OutputsLeftOpen Code = 6
	// FailedAfterRestart is never returned by Run: it is the lifecycle's crash rule, kept here so
	// the whole set of codes lives in one place.
	FailedAfterRestart Code = 7
)

// String gives the reference agent's name of the code.
func (c Code) String() string {
	switch c {
	case Succeeded:
		return "Succeeded"
	case Missing:
		return "ScriptMissing"
	case NotExecutable:
		return "ScriptNotExecutable"
	case TimedOut:
		return "ScriptTimedOut"
	case Failed:
		return "ScriptFailed"
	case UnknownError:
		return "UnknownError"
	case OutputsLeftOpen:
		return "OutputsLeftOpen"
	case FailedAfterRestart:
		return "FailedAfterRestart"
	}
	return "Code(" + strconv.Itoa(int(c)) + ")"
}
