package agent

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"time"
)

// backoff is exponential backoff with jitter: each wait is drawn from the upper half of a window
// that doubles from min up to max, so a fleet of agents cut off together does not come back in
// lockstep, and no wait is ever much shorter than the window.
type backoff struct {
	min, max time.Duration
	window   time.Duration
}

func (b *backoff) next() time.Duration {
	switch {
	case b.window <= 0:
		b.window = b.min
	case b.window < b.max:
		b.window = min(2*b.window, b.max)
	}
	half := b.window / 2
	return half + rand.N(b.window-half+1) //nolint:gosec // jitter needs no cryptographic randomness
}

func (b *backoff) reset() { b.window = 0 }

// sleep waits d or until ctx is done, and reports whether it waited the whole time.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// link tracks whether the server answers, so that an outage is logged once when it starts and
// once when it ends rather than once per retry.
type link struct {
	log      *slog.Logger
	down     bool
	since    time.Time
	failures int
}

// fail notes a failed exchange; only the first of an outage is logged.
func (l *link) fail(op string, err error) {
	l.failures++
	if l.down {
		return
	}
	l.down, l.since = true, time.Now()
	l.log.Warn("server unreachable; retrying with backoff", keyOp, op, keyError, err.Error())
}

// ok notes a successful exchange, logging the end of an outage.
func (l *link) ok() {
	if !l.down {
		return
	}
	l.log.Info("server reachable again", keyOutage, time.Since(l.since).Round(time.Millisecond).String(), keyAttempts, l.failures)
	l.down, l.failures = false, 0
}
