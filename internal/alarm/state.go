package alarm

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
)

var (
	// ErrInvalidConfig marks a Config that fails validation.
	ErrInvalidConfig = errors.New("invalid alarm config")
	// ErrPoll marks a State whose alarm could not be read: the source did not answer, answered
	// with an error, or does not know the alarm.
	ErrPoll = errors.New("alarm state cannot be read")
)

// Status is an alarm's state after a poll.
type Status int

const (
	// OK means the alarm was read and is not firing.
	OK Status = iota + 1
	// Firing means the alarm was read and is firing.
	Firing
	// PollFailed means the alarm's state could not be read; see Config.IgnorePollAlarmFailure.
	PollFailed
)

var statusNames = [...]string{"", "OK", "FIRING", "POLL_FAILED"}

func (s Status) String() string {
	if s < OK || s > PollFailed {
		return fmt.Sprintf("Status(%d)", int(s))
	}
	return statusNames[s]
}

// State is one alarm's state after a poll.
type State struct {
	Name   string
	Status Status
	// Reason is a sentence about the state fit for a deployment's error message:
	// "alarm error-rate fired: 0.12 > 0.05", "alarm latency: 0.2 is not > 0.5", or for
	// PollFailed "alarm HighCPU: state cannot be read: ...".
	Reason string
	// Err is set when Status is PollFailed; it wraps ErrPoll.
	Err error
}

// Snapshot is the state of every alarm of a Config after one poll, in the Config's order.
type Snapshot struct {
	Time   time.Time
	States []State
}

// Firing returns the states of the alarms that fired.
func (s Snapshot) Firing() []State { return s.having(Firing) }

// Failed returns the states of the alarms that could not be read.
func (s Snapshot) Failed() []State { return s.having(PollFailed) }

func (s Snapshot) having(st Status) []State {
	var out []State
	for _, a := range s.States {
		if a.Status == st {
			out = append(out, a)
		}
	}
	return out
}

// Trip says whether a deployment must stop on this snapshot and why: any alarm firing stops it;
// an alarm that could not be read stops it unless ignorePollFailure (CodeDeploy's
// ignorePollAlarmFailure). The reason lists the firing alarms first, then the unreadable ones.
func (s Snapshot) Trip(ignorePollFailure bool) (reason string, stop bool) {
	trip := s.Firing()
	if !ignorePollFailure {
		trip = append(trip, s.Failed()...)
	}
	if len(trip) == 0 {
		return "", false
	}
	reasons := make([]string, len(trip))
	for i, a := range trip {
		reasons[i] = a.Reason
	}
	return strings.Join(reasons, "; "), true
}

// Changed says whether any alarm's Status differs from prev (a different set of alarms counts
// as a change). Reasons are not compared: a value that moves while staying under its threshold
// is no news.
func (s Snapshot) Changed(prev Snapshot) bool {
	return !slices.EqualFunc(s.States, prev.States, func(a, b State) bool {
		return a.Name == b.Name && a.Status == b.Status
	})
}

// Comparison is how a Prometheus query's value is compared with its threshold.
type Comparison string

// The comparisons PromQL itself has.
const (
	Greater      Comparison = ">"
	GreaterEqual Comparison = ">="
	Less         Comparison = "<"
	LessEqual    Comparison = "<="
	Equal        Comparison = "=="
	NotEqual     Comparison = "!="
)

var comparisons = []string{">", ">=", "<", "<=", "==", "!="}

func (c Comparison) String() string { return string(c) }

func (c Comparison) valid() bool { return slices.Contains(comparisons, string(c)) }

// holds reports whether v c threshold. A NaN never crosses, as in PromQL comparisons.
func (c Comparison) holds(v, threshold float64) bool {
	if math.IsNaN(v) {
		return false
	}
	switch c {
	case Greater:
		return v > threshold
	case GreaterEqual:
		return v >= threshold
	case Less:
		return v < threshold
	case LessEqual:
		return v <= threshold
	case Equal:
		return v == threshold
	case NotEqual:
		return v != threshold
	}
	return false
}

// NoData is the state a Prometheus query takes when it has no value to compare.
type NoData string

const (
	// NoDataOK (the default) treats no data as not firing: a query over a quiet service returns
	// nothing, and that should not stop a deployment.
	NoDataOK NoData = "ok"
	// NoDataFiring treats no data as firing: for queries that must always have a value, such as
	// a count of healthy targets.
	NoDataFiring NoData = "firing"
	// NoDataPollFailure treats no data as an unreadable alarm, so ignore_poll_alarm_failure
	// decides.
	NoDataPollFailure NoData = "poll_failure"
)

func (n NoData) String() string {
	if n == "" {
		return string(NoDataOK)
	}
	return string(n)
}

func (n NoData) valid() bool {
	switch n {
	case "", NoDataOK, NoDataFiring, NoDataPollFailure:
		return true
	}
	return false
}
