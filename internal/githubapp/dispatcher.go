package githubapp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/slipway-deploy/slipway/internal/store"
)

// The events Slipway handles.
const (
	eventPing         = "ping"
	eventDeployment   = "deployment"
	eventIssueComment = "issue_comment"
	eventCheckRun     = "check_run"
)

// Delivery processing limits. A delivery whose handler fails for a reason that may pass (GitHub
// unreachable, rate limited) is tried again with growing pauses, then given up with an error in
// the log; one whose request is wrong (permanent) is finished at once.
const (
	maxDeliveryAttempts = 8
	firstRetryPause     = 5 * time.Second
	maxRetryPause       = 10 * time.Minute
	// deliveryRetention is how long processed deliveries are remembered for dedupe: GitHub lets
	// a delivery be redelivered for three days.
	deliveryRetention = 7 * 24 * time.Hour
	pruneEvery        = 6 * time.Hour
	deliveryBatch     = 20
)

// handler processes one delivery's payload and says what it did, for the delivery's record.
type handler func(ctx context.Context, d store.Delivery) (outcome string, err error)

// permanentError marks a failure that retrying cannot fix.
type permanentError struct{ err error }

func (e permanentError) Error() string { return e.err.Error() }
func (e permanentError) Unwrap() error { return e.err }

func permanent(err error) error {
	if err == nil {
		return nil
	}
	return permanentError{err}
}

func permanentf(format string, args ...any) error { return permanentError{fmt.Errorf(format, args...)} }

// Dispatcher processes recorded deliveries one at a time, oldest first, with one small handler
// per event. It resumes the deliveries a stopped server left unprocessed, so an accepted delivery
// is processed even across a crash; handlers are idempotent (keyed by GitHub's ids), so a
// delivery cut short by a crash and processed again does nothing twice.
type Dispatcher struct {
	store    Store
	handlers map[string]handler
	log      *slog.Logger
	now      func() time.Time
	wake     chan struct{}
}

func newDispatcher(st Store, handlers map[string]handler, log *slog.Logger, now func() time.Time) *Dispatcher {
	return &Dispatcher{store: st, handlers: handlers, log: log, now: now, wake: make(chan struct{}, 1)}
}

// Notify says a delivery was recorded. It never blocks.
func (d *Dispatcher) Notify() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// Run processes deliveries until ctx ends.
func (d *Dispatcher) Run(ctx context.Context) error {
	timer := time.NewTimer(0)
	defer timer.Stop()
	var lastPrune time.Time
	for {
		if d.now().Sub(lastPrune) > pruneEvery {
			lastPrune = d.now()
			d.prune(ctx)
		}
		next, err := d.drain(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			d.log.Error("webhook deliveries", "error", err)
			next = d.now().Add(firstRetryPause)
		}
		wait := pruneEvery
		if !next.IsZero() {
			wait = max(next.Sub(d.now()), 0)
		}
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			return nil
		case <-d.wake:
		case <-timer.C:
		}
	}
}

// prune forgets the deliveries, and the outcomes of the commands they carried, that are too old
// to be delivered again.
func (d *Dispatcher) prune(ctx context.Context) {
	before := d.now().Add(-deliveryRetention)
	if n, err := d.store.PruneDeliveries(ctx, before); err != nil {
		d.log.Warn("prune webhook deliveries", "error", err)
	} else if n > 0 {
		d.log.Info("pruned old webhook deliveries", "count", n)
	}
	if n, err := d.store.PruneGitHubCommands(ctx, before); err != nil {
		d.log.Warn("prune pull request commands", "error", err)
	} else if n > 0 {
		d.log.Info("pruned old pull request commands", "count", n)
	}
}

// drain processes every due delivery and returns when the next deferred one is due.
func (d *Dispatcher) drain(ctx context.Context) (time.Time, error) {
	for {
		list, next, err := d.store.PendingDeliveries(ctx, d.now(), deliveryBatch)
		if err != nil || len(list) == 0 {
			return next, err
		}
		for _, dl := range list {
			if ctx.Err() != nil {
				return time.Time{}, ctx.Err()
			}
			if err := d.process(ctx, dl); err != nil {
				return time.Time{}, err
			}
		}
	}
}

// process runs a delivery's handler and records the outcome; the error is the store's.
func (d *Dispatcher) process(ctx context.Context, dl store.Delivery) error {
	log := d.log.With("delivery_id", dl.ID, "event", dl.Event)
	h, ok := d.handlers[dl.Event]
	var outcome string
	var err error
	if ok {
		outcome, err = h(ctx, dl)
	} else {
		outcome = "no handler for this event"
	}
	if ctx.Err() != nil {
		// Stopping: the delivery stays pending and is processed after the restart.
		return ctx.Err()
	}
	var perm permanentError
	switch {
	case err == nil:
		log.Info("webhook delivery processed", "outcome", outcome)
		err = d.store.FinishDelivery(ctx, dl.ID, outcome)
	case errors.As(err, &perm):
		log.Warn("webhook delivery refused", "error", err)
		err = d.store.FinishDelivery(ctx, dl.ID, "refused: "+err.Error())
	case dl.Attempts+1 >= maxDeliveryAttempts:
		log.Error("webhook delivery failed; giving up", "attempts", dl.Attempts+1, "error", err)
		err = d.store.FinishDelivery(ctx, dl.ID, fmt.Sprintf("failed after %d attempts: %v", dl.Attempts+1, err))
	default:
		pause := min(firstRetryPause<<dl.Attempts, maxRetryPause)
		log.Warn("webhook delivery failed; will retry", "attempt", dl.Attempts+1, "retry_in", pause.String(), "error", err)
		err = d.store.DeferDelivery(ctx, dl.ID, err.Error(), d.now().Add(pause))
	}
	if err != nil {
		return fmt.Errorf("record outcome of delivery %s: %w", dl.ID, err)
	}
	return nil
}
