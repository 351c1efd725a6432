package agent

import (
	"testing"
	"time"
)

func TestBackoff_GrowsWithJitterUpToCap(t *testing.T) {
	b := &backoff{min: 200 * time.Millisecond, max: 30 * time.Second}
	windows := []time.Duration{
		200 * time.Millisecond, 400 * time.Millisecond, 800 * time.Millisecond, 1600 * time.Millisecond,
		3200 * time.Millisecond, 6400 * time.Millisecond, 12800 * time.Millisecond, 25600 * time.Millisecond,
		30 * time.Second, 30 * time.Second, 30 * time.Second,
	}
	for i, w := range windows {
		got := b.next()
		if got < w/2 || got > w {
			t.Errorf("wait %d = %v, want within [%v, %v]", i, got, w/2, w)
		}
	}
	b.reset()
	if got, want := b.next(), 200*time.Millisecond; got < want/2 || got > want {
		t.Errorf("after reset: wait = %v, want within [%v, %v]", got, want/2, want)
	}
}

func TestBackoff_Jitters(t *testing.T) {
	seen := map[time.Duration]bool{}
	for range 50 {
		b := &backoff{min: time.Second, max: time.Second}
		seen[b.next()] = true
	}
	if len(seen) < 2 {
		t.Errorf("50 first waits took %d distinct values, want jitter", len(seen))
	}
}
