package store

import (
	"context"
	"path/filepath"
	"testing"
	"time"
)

// TestTouchInstance_WrittenInBatches checks that touches wait in memory until seenFlushEvery
// has passed, then go to the database together.
func TestTouchInstance_WrittenInBatches(t *testing.T) {
	ctx := context.Background()
	s, err := OpenSQLite(ctx, filepath.Join(t.TempDir(), "slipway.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	clock := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	s.now = func() time.Time { return clock }
	s.agents.lastFlush = clock
	var ids []string
	for _, name := range []string{"a", "b"} {
		inst, err := s.RegisterInstance(ctx, name, nil, HashToken("t"+name), false)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, inst.ID)
	}
	stored := func(id string) time.Time {
		t.Helper()
		var ms int64
		if err := s.r.QueryRowContext(ctx, "SELECT last_seen FROM instances WHERE id = ?", id).Scan(&ms); err != nil {
			t.Fatal(err)
		}
		return fromMillis(ms)
	}

	seenA := clock.Add(time.Second)
	if err := s.TouchInstance(ctx, ids[0], seenA); err != nil {
		t.Fatal(err)
	}
	if got := stored(ids[0]); !got.Equal(clock) {
		t.Errorf("before the interval: stored last_seen %v, want the registration's %v", got, clock)
	}
	clock = clock.Add(seenFlushEvery)
	if err := s.TouchInstance(ctx, ids[1], clock); err != nil {
		t.Fatal(err)
	}
	if got := stored(ids[0]); !got.Equal(seenA) {
		t.Errorf("after the interval: a's stored last_seen %v, want %v", got, seenA)
	}
	if got := stored(ids[1]); !got.Equal(clock) {
		t.Errorf("after the interval: b's stored last_seen %v, want %v", got, clock)
	}
}
