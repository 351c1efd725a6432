package orchestrator

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/slipway-deploy/slipway/internal/deploy"
)

// Alarms reads the alarms of a deployment group (internal/alarm can provide it).
type Alarms interface {
	// Poll returns the state of every alarm of the group as read at since or later (a reading
	// from before a deployment started says nothing about it). ok is false when the group has
	// no alarms.
	Poll(ctx context.Context, application, group string, since time.Time) (p AlarmPoll, ok bool)
}

// AlarmPoll is the state of a group's alarms after one poll.
type AlarmPoll struct {
	Alarms []AlarmState
	// IgnorePollFailure is the group's ignore_poll_alarm_failure: an alarm that cannot be read
	// does not stop its deployments.
	IgnorePollFailure bool
}

// AlarmState is one alarm after a poll.
type AlarmState struct {
	Name string
	// Firing says the alarm was read and fires; Failed that it could not be read.
	Firing, Failed bool
	// Reason says why, fit for a deployment's error message.
	Reason string
}

// DefaultAlarmInterval is how often the alarms of a running deployment's group are read.
const DefaultAlarmInterval = 5 * time.Second

// trip says whether the poll stops a deployment and why (DESIGN.md §6): any alarm firing; an
// alarm that could not be read, unless the group ignores that.
func (p AlarmPoll) trip() (string, bool) {
	var reasons []string
	for _, a := range p.Alarms {
		if a.Firing || a.Failed && !p.IgnorePollFailure {
			reasons = append(reasons, a.Reason)
		}
	}
	return strings.Join(reasons, "; "), len(reasons) > 0
}

// analysis judges the alarm an analysis step names: whether a poll saw it healthy, or why the
// step fails. An alarm that cannot be read is no evidence either way unless the group says to
// ignore that, in which case the step cannot pass on it.
func (p AlarmPoll) analysis(name string) (passed bool, fail string) {
	for _, a := range p.Alarms {
		if a.Name == name {
			return !a.Firing && !a.Failed, ""
		}
	}
	return false, fmt.Sprintf("analysis %s: the group has no alarm of that name", name)
}

// watched is a deployment the alarm loop reads the alarms of.
type watched struct {
	id, application, group string
	start                  time.Time
	// analysis is the deployment's current analysis step, when it has one.
	analysis     string
	step         int
	until, since time.Time
}

// watchAlarms reads the alarms of every deployment that is live until ctx ends: a firing alarm
// (or an unreadable one, unless ignored) stops the deployment, which for a blue/green deployment
// sends all traffic back to the originals; an analysis step passes once its duration is over and
// a poll since it began saw its alarm healthy.
func (o *Orchestrator) watchAlarms(ctx context.Context) {
	interval := o.AlarmInterval
	if interval <= 0 {
		interval = DefaultAlarmInterval
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	busy := map[string]bool{}
	done := make(chan string)
	check := func() {
		for _, w := range o.live() {
			if busy[w.id] {
				continue
			}
			busy[w.id] = true
			o.bg.Go(func(ctx context.Context) {
				o.checkAlarms(ctx, w)
				select {
				case done <- w.id:
				case <-ctx.Done():
				}
			})
		}
	}
	check()
	for {
		select {
		case <-ctx.Done():
			return
		case id := <-done:
			// Read again at the next tick, not now: going round at once read every live
			// deployment's group and alarms in a loop with no pause.
			delete(busy, id)
		case <-t.C:
			check()
		}
	}
}

// live lists the deployments whose alarms are watched: started and not finished, and not past
// the point where traffic can go back (a blue/green deployment releasing its originals).
func (o *Orchestrator) live() []watched {
	o.mu.Lock()
	defer o.mu.Unlock()
	var out []watched
	for id, e := range o.active {
		d := e.d
		switch d.Status {
		case deploy.StatusInProgress, deploy.StatusReady, deploy.StatusBaking:
		default:
			continue
		}
		if d.Stop.Requested || d.Type == deploy.BlueGreen && (d.Shift.Phase == deploy.PhaseRelease || d.Shift.Failure.Code != "") {
			continue
		}
		w := watched{id: id, application: d.Application, group: d.Group, start: d.StartTime}
		if name, step, until, ok := deploy.CurrentAnalysis(d); ok {
			w.analysis, w.step, w.until, w.since = name, step, until, d.Shift.StepStart
		}
		if o.Alarms == nil && w.analysis == "" {
			continue
		}
		out = append(out, w)
	}
	return out
}

func (o *Orchestrator) checkAlarms(ctx context.Context, w watched) {
	var p AlarmPoll
	ok := false
	since := w.start
	if w.analysis != "" {
		since = w.since
	}
	if o.Alarms != nil {
		p, ok = o.Alarms.Poll(ctx, w.application, w.group, since)
	}
	if ctx.Err() != nil {
		return
	}
	if reason, stop := p.trip(); ok && stop {
		o.stopForAlarm(ctx, w.id, reason)
		return
	}
	if w.analysis == "" {
		return
	}
	if !ok {
		o.stopForAlarm(ctx, w.id, fmt.Sprintf("analysis %s: the group has no alarms to analyse", w.analysis))
		return
	}
	passed, fail := p.analysis(w.analysis)
	switch {
	case fail != "":
		o.stopForAlarm(ctx, w.id, fail)
	case passed && !o.now().Before(w.until):
		if _, err := o.Apply(ctx, w.id, deploy.AnalysisPassed{Step: w.step}); err != nil && !ignorable(err) {
			o.log.Error("analysis passed", "deployment_id", w.id, "error", err)
		}
	}
}

func (o *Orchestrator) stopForAlarm(ctx context.Context, id, reason string) {
	o.log.Warn("alarm stops deployment", "deployment_id", id, "reason", reason)
	if _, err := o.Apply(ctx, id, deploy.StopRequested{Alarm: true, Message: reason}); err != nil && !ignorable(err) {
		o.log.Error("stop for alarm", "deployment_id", id, "error", err)
	}
}
