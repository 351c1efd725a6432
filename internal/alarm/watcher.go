package alarm

import (
	"context"
	"time"
)

// Watcher polls alarms on an interval and reports changes.
type Watcher struct {
	poll     func(context.Context) Snapshot
	interval time.Duration
	notify   func(Snapshot)
}

// NewWatcher returns a Watcher that calls poll (usually a Poller's Poll) at once and then
// interval after each poll ends, and calls notify with the first snapshot and with each one whose
// statuses differ from the last it was given (Snapshot.Changed). The caller usually passes
// Config.PollInterval(); tests pass less. NewWatcher starts nothing.
func NewWatcher(poll func(context.Context) Snapshot, interval time.Duration, notify func(Snapshot)) *Watcher {
	return &Watcher{poll: poll, interval: interval, notify: notify}
}

// Run polls until ctx is done, then returns nil. notify is called on Run's goroutine, so a slow
// notify delays the next poll rather than piling up snapshots; a snapshot taken while ctx was
// being cancelled is dropped, since its failures would only say that the poll was cut short.
func (w *Watcher) Run(ctx context.Context) error {
	timer := time.NewTimer(0)
	defer timer.Stop()
	var last Snapshot
	first := true
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-timer.C:
		}
		snap := w.poll(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if first || snap.Changed(last) {
			w.notify(snap)
			last, first = snap, false
		}
		timer.Reset(w.interval)
	}
}
