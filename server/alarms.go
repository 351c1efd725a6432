package main

import (
	"context"
	"log/slog"
	"reflect"
	"sync"
	"time"

	"github.com/slipway-deploy/slipway/internal/alarm"
	"github.com/slipway-deploy/slipway/internal/orchestrator"
	"github.com/slipway-deploy/slipway/internal/store"
)

// groupAlarms reads deployment groups' alarms for the orchestrator with internal/alarm: one
// Poller per group while its configuration stays the same, read no more often than the group's
// interval however often the orchestrator asks, and never answered from a reading older than
// the caller's since (a firing alarm that stopped one deployment must not stop the next).
type groupAlarms struct {
	groups interface {
		GetGroup(ctx context.Context, application, name string) (store.Group, error)
	}
	log *slog.Logger
	now func() time.Time

	mu      sync.Mutex
	pollers map[string]*groupPoller
}

type groupPoller struct {
	cfg    alarm.Config
	poller *alarm.Poller
	last   alarm.Snapshot
}

var _ orchestrator.Alarms = (*groupAlarms)(nil)

func newGroupAlarms(groups interface {
	GetGroup(ctx context.Context, application, name string) (store.Group, error)
}, log *slog.Logger) *groupAlarms {
	return &groupAlarms{groups: groups, log: log, now: time.Now, pollers: map[string]*groupPoller{}}
}

// Poll implements orchestrator.Alarms.
func (a *groupAlarms) Poll(ctx context.Context, application, group string, since time.Time) (orchestrator.AlarmPoll, bool) {
	g, err := a.groups.GetGroup(ctx, application, group)
	if err != nil {
		a.log.Warn("read group alarms", "application", application, "group", group, "error", err)
		return orchestrator.AlarmPoll{}, false
	}
	cfg := g.Alarms
	if len(cfg.Alarms) == 0 {
		return orchestrator.AlarmPoll{}, false
	}
	key := application + "/" + group
	a.mu.Lock()
	p := a.pollers[key]
	if p == nil || !reflect.DeepEqual(p.cfg, cfg) {
		poller, err := alarm.NewPoller(cfg, alarm.Options{})
		if err != nil {
			// The store validated it; a configuration this binary refuses is the group's to fix.
			a.mu.Unlock()
			a.log.Error("group alarms", "application", application, "group", group, "error", err)
			return orchestrator.AlarmPoll{}, false
		}
		p = &groupPoller{cfg: cfg, poller: poller}
		a.pollers[key] = p
	}
	snap := p.last
	fresh := !snap.Time.Before(since) && a.now().Sub(snap.Time) < cfg.PollInterval()
	a.mu.Unlock()
	if !fresh {
		snap = p.poller.Poll(ctx)
		a.mu.Lock()
		p.last = snap
		a.mu.Unlock()
	}
	out := orchestrator.AlarmPoll{IgnorePollFailure: cfg.IgnorePollAlarmFailure}
	for _, s := range snap.States {
		out.Alarms = append(out.Alarms, orchestrator.AlarmState{
			Name: s.Name, Firing: s.Status == alarm.Firing, Failed: s.Status == alarm.PollFailed, Reason: s.Reason,
		})
	}
	return out, true
}
