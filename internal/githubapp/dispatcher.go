package githubapp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
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

// deliveryWorkers is how many deliveries are processed at once, each of another repository: a
// slow one (a tarball fetch may take minutes) holds only its own repository.
const deliveryWorkers = 4

// Dispatcher processes recorded deliveries in the background, with one small handler per event,
// up to deliveryWorkers at a time. It resumes the deliveries a stopped server left unprocessed,
// so an accepted delivery is processed even across a crash; handlers are idempotent (keyed by
// GitHub's ids), so a delivery cut short by a crash and processed again does nothing twice.
//
// The deliveries of one repository are processed one at a time, in the order they were received,
// because their effects depend on it: a /stop written after a /deploy must find the deployment
// running, and of two GitHub Deployments of one environment the later must be queued last, or
// the older commit would end up deployed. Deliveries of different repositories share nothing
// that order protects, so they run side by side. As before, a delivery deferred after a failure
// (GitHub down, rate limited) does not hold back the later ones of its repository: an outage
// would otherwise stall the repository's commands and buttons for the ten minutes of retries.
type Dispatcher struct {
	store    Store
	handlers map[string]handler
	log      *slog.Logger
	now      func() time.Time
	wake     chan struct{}
	workers  int

	mu sync.Mutex
	// busy holds the repositories (by id; 0 for deliveries naming none) with a delivery being
	// processed.
	busy map[int64]bool
	// pauseUntil holds back new work after the store failed to record an outcome.
	pauseUntil time.Time
}

func newDispatcher(st Store, handlers map[string]handler, log *slog.Logger, now func() time.Time) *Dispatcher {
	return &Dispatcher{
		store: st, handlers: handlers, log: log, now: now, wake: make(chan struct{}, 1),
		workers: deliveryWorkers, busy: map[int64]bool{},
	}
}

// Notify says a delivery was recorded, or a worker is free. It never blocks.
func (d *Dispatcher) Notify() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// Run processes deliveries until ctx ends, and returns once every delivery it started has
// stopped: one cut short stays pending and is processed after the restart.
func (d *Dispatcher) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	timer := time.NewTimer(0)
	defer timer.Stop()
	var lastPrune time.Time
	for {
		if d.now().Sub(lastPrune) > pruneEvery {
			lastPrune = d.now()
			d.prune(ctx)
		}
		next, err := d.dispatch(ctx, &wg)
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

// prune forgets the deliveries, and the records of what they did (commands' outcomes, refused
// Deployments), that are too old to be delivered again.
func (d *Dispatcher) prune(ctx context.Context) {
	before := d.now().Add(-deliveryRetention)
	if n, err := d.store.PruneDeliveries(ctx, before); err != nil {
		d.log.Warn("prune webhook deliveries", "error", err)
	} else if n > 0 {
		d.log.Info("pruned old webhook deliveries", "count", n)
	}
	if n, err := d.store.PruneGitHubRecords(ctx, before); err != nil {
		d.log.Warn("prune commands and refusals", "error", err)
	} else if n > 0 {
		d.log.Info("pruned old commands and refusals", "count", n)
	}
}

// dispatch starts a worker for each due delivery it can, oldest first: the oldest of each
// repository with nothing being processed, while workers are free. It returns when the next
// deferred delivery is due; a worker that finishes calls Notify for another round.
func (d *Dispatcher) dispatch(ctx context.Context, wg *sync.WaitGroup) (time.Time, error) {
	if until := d.paused(); !until.IsZero() {
		return until, nil
	}
	var after store.DeliveryCursor
	var next time.Time
	for page := 0; ; page++ {
		if d.full() {
			return next, nil
		}
		list, n, err := d.store.PendingDeliveries(ctx, d.now(), after, deliveryBatch)
		if err != nil {
			return time.Time{}, err
		}
		if page == 0 {
			next = n
		}
		for _, dl := range list {
			after = dl.Cursor()
			d.start(ctx, wg, dl)
		}
		if len(list) < deliveryBatch {
			return next, nil
		}
	}
}

// start processes dl in a worker of its own unless its repository has a delivery in progress or
// every worker is busy.
func (d *Dispatcher) start(ctx context.Context, wg *sync.WaitGroup, dl store.Delivery) {
	repo := deliveryRepository(dl.Payload)
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.busy[repo] || len(d.busy) >= d.workers {
		return
	}
	d.busy[repo] = true
	wg.Go(func() {
		if err := d.process(ctx, dl); err != nil && ctx.Err() == nil {
			d.log.Error("webhook deliveries", "error", err)
			d.mu.Lock()
			d.pauseUntil = d.now().Add(firstRetryPause)
			d.mu.Unlock()
		}
		d.mu.Lock()
		delete(d.busy, repo)
		d.mu.Unlock()
		d.Notify()
	})
}

func (d *Dispatcher) full() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.busy) >= d.workers
}

// paused is when new work may start after a store failure; zero when it may now.
func (d *Dispatcher) paused() time.Time {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.now().Before(d.pauseUntil) {
		return d.pauseUntil
	}
	return time.Time{}
}

// deliveryRepository is the id of the repository a payload is about, 0 when it names none.
func deliveryRepository(payload []byte) int64 {
	var p struct {
		Repository struct {
			ID int64 `json:"id"`
		} `json:"repository"`
	}
	_ = json.Unmarshal(payload, &p)
	return p.Repository.ID
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
