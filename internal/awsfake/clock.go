package awsfake

import (
	"slices"
	"sync"
	"testing"
	"time"
)

// Epoch is where a Clock starts.
var Epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// Clock is a clock that moves only when a test says so. Timers fire in deadline order as the
// clock passes them; a stopped timer never fires. Code under test waits on its timers, and a
// test moves the clock to the next deadline with Next once the code has started waiting.
type Clock struct {
	mu     sync.Mutex
	now    time.Time
	timers []*timer
}

// NewClock returns a clock at Epoch.
func NewClock() *Clock { return &Clock{now: Epoch} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Since returns how far the clock is past Epoch.
func (c *Clock) Since() time.Duration { return c.Now().Sub(Epoch) }

type timer struct {
	at time.Time
	ch chan time.Time
}

// Timer returns a channel that receives the clock's time once the clock is d past now (at
// once when d ≤ 0), and a func that keeps it from firing and reports whether it was pending.
func (c *Clock) Timer(d time.Duration) (<-chan time.Time, func() bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &timer{at: c.now.Add(d), ch: make(chan time.Time, 1)}
	if d <= 0 {
		t.ch <- c.now
		return t.ch, func() bool { return false }
	}
	c.timers = append(c.timers, t)
	return t.ch, func() bool { return c.stop(t) }
}

func (c *Clock) stop(t *timer) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	i := slices.Index(c.timers, t)
	if i < 0 {
		return false
	}
	c.timers = slices.Delete(c.timers, i, i+1)
	return true
}

// Advance moves the clock forward by d, firing the timers it passes.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.advanceTo(c.now.Add(d))
}

func (c *Clock) advanceTo(to time.Time) {
	slices.SortStableFunc(c.timers, func(a, b *timer) int { return a.at.Compare(b.at) })
	for len(c.timers) > 0 && !c.timers[0].at.After(to) {
		t := c.timers[0]
		c.timers = c.timers[1:]
		c.now = t.at
		t.ch <- t.at
	}
	c.now = to
}

// Pending counts the timers that have not fired nor been stopped.
func (c *Clock) Pending() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.timers)
}

// Fire moves the clock to the earliest pending deadline and fires that timer; it reports
// whether there was one.
func (c *Clock) Fire() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.timers) == 0 {
		return false
	}
	earliest := c.timers[0].at
	for _, tm := range c.timers[1:] {
		if tm.at.Before(earliest) {
			earliest = tm.at
		}
	}
	c.advanceTo(earliest)
	return true
}

// Next waits (in real time, up to a deadline) until some timer is pending, then fires it as
// Fire does. It returns how far the clock moved.
func (c *Clock) Next(t testing.TB) time.Duration {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		before := c.Now()
		if c.Fire() {
			return c.Now().Sub(before)
		}
		if time.Now().After(deadline) {
			t.Fatalf("clock: no timer was started within 10s (the code under test is not waiting on the clock)")
		}
		time.Sleep(time.Millisecond)
	}
}
