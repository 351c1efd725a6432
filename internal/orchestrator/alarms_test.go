package orchestrator_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/slipway-deploy/slipway/internal/deploy"
	"github.com/slipway-deploy/slipway/internal/orchestrator"
)

// countingAlarms never fire and count their polls.
type countingAlarms struct {
	mu    sync.Mutex
	polls int
}

func (a *countingAlarms) Poll(context.Context, string, string, time.Time) (orchestrator.AlarmPoll, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.polls++
	return orchestrator.AlarmPoll{Alarms: []orchestrator.AlarmState{{Name: "errors", Reason: "alarm errors: 0 errors"}}}, true
}

func (a *countingAlarms) count() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.polls
}

// A running deployment's alarms are read when the watch starts and then once per AlarmInterval,
// however soon a read returns: here the interval is an hour, so a whole deployment sees one.
func TestAlarms_ReadOncePerInterval(t *testing.T) {
	o, hosts := newFleet(t, 2)
	a := &countingAlarms{}
	o.Alarms, o.AlarmInterval = a, time.Hour
	d := startAllAtOnce(t, o)
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan error, 1)
	go func() { stopped <- o.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-stopped
	})
	for deadline := time.Now().Add(10 * time.Second); a.count() == 0; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the alarms of the running deployment were not read within 10s")
		}
	}

	for finished := false; !finished; {
		for _, h := range hosts {
			c := next(t, o, h)
			if err := o.Report(context.Background(), h, c.ID, deploy.EventSucceeded, deploy.Diagnostics{}); err != nil {
				t.Fatal(err)
			}
		}
		got, _, err := o.Get(context.Background(), d.ID)
		if err != nil {
			t.Fatal(err)
		}
		finished = got.Status.Finished()
	}
	if n := a.count(); n != 1 {
		t.Errorf("the alarms were read %d times during the deployment, want once (the interval is an hour)", n)
	}
}
