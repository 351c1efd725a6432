package alarm

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"sync/atomic"
	"testing"
	"time"
)

// script is a poll function that returns one snapshot per call from a list of statuses, then the
// last one forever.
func script(statuses ...Status) (poll func(context.Context) Snapshot, calls *atomic.Int32) {
	calls = new(atomic.Int32)
	return func(context.Context) Snapshot {
		n := int(calls.Add(1)) - 1
		st := statuses[min(n, len(statuses)-1)]
		return Snapshot{Time: time.Now(), States: []State{{Name: "a", Status: st, Reason: st.String()}}}
	}, calls
}

// runWatcher starts w.Run and returns a function that cancels it and waits for it to return.
func runWatcher(t *testing.T, w *Watcher) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	return func() {
		t.Helper()
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run returned %v, want nil", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("Run did not return 10s after its context was cancelled")
		}
	}
}

func TestWatcher_FirstPollIsImmediate(t *testing.T) {
	poll, _ := script(OK)
	got := make(chan Snapshot, 1)
	// With an hour between polls, a first snapshot can only come from a poll at start.
	stop := runWatcher(t, NewWatcher(poll, time.Hour, func(s Snapshot) { got <- s }))
	defer stop()
	select {
	case s := <-got:
		if s.States[0].Status != OK {
			t.Errorf("first snapshot status = %v, want OK", s.States[0].Status)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no snapshot 10s after Run started, with an interval of an hour")
	}
}

func TestWatcher_DeliversOnlyChanges(t *testing.T) {
	poll, calls := script(OK, OK, Firing, Firing, Firing, PollFailed, PollFailed, OK)
	got := make(chan Status, 16)
	stop := runWatcher(t, NewWatcher(poll, time.Millisecond, func(s Snapshot) { got <- s.States[0].Status }))
	want := []Status{OK, Firing, PollFailed, OK}
	for i, w := range want {
		select {
		case s := <-got:
			if s != w {
				t.Fatalf("notification %d = %v, want %v", i, s, w)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("notification %d (%v) did not come", i, w)
		}
	}
	// Let it poll the steady OK state a few more times: nothing more may arrive.
	eventually(t, 10*time.Second, func() string {
		if calls.Load() < 12 {
			return "waiting for more polls"
		}
		return ""
	})
	stop()
	close(got)
	for s := range got {
		t.Errorf("extra notification %v with no change", s)
	}
}

func TestWatcher_CancelDuringPollLeaksNothing(t *testing.T) {
	before := runtime.NumGoroutine()
	arrived := make(chan struct{}, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case arrived <- struct{}{}:
		default:
		}
		hang(w, r)
	}))
	client := &http.Client{Transport: &http.Transport{}}
	p, err := NewPoller(Config{Alarms: []Spec{
		{Name: "health", HTTP: &HTTPCheck{URL: srv.URL}},
		{Name: "other", HTTP: &HTTPCheck{URL: srv.URL + "/other"}},
	}, Timeout: Duration(MaxTimeout)}, Options{Client: client})
	if err != nil {
		t.Fatal(err)
	}
	var notified atomic.Int32
	stop := runWatcher(t, NewWatcher(p.Poll, time.Millisecond, func(Snapshot) { notified.Add(1) }))
	select {
	case <-arrived:
	case <-time.After(10 * time.Second):
		t.Fatal("the first poll did not reach the server")
	}
	stop() // returns only once the in-flight poll has given up
	if n := notified.Load(); n != 0 {
		t.Errorf("notify called %d times; a poll cut short by cancellation must not be delivered", n)
	}
	client.CloseIdleConnections()
	srv.Close()
	eventually(t, 10*time.Second, func() string {
		if n := runtime.NumGoroutine(); n > before {
			return fmt.Sprintf("%d goroutines now, %d before", n, before)
		}
		return ""
	})
}

func TestSnapshot_Trip(t *testing.T) {
	snap := func(statuses ...Status) Snapshot {
		var s Snapshot
		for i, st := range statuses {
			name := string(rune('a' + i))
			s.States = append(s.States, State{Name: name, Status: st, Reason: name + " " + st.String()})
		}
		return s
	}
	tests := []struct {
		name   string
		snap   Snapshot
		ignore bool
		stop   bool
		reason string
	}{
		{"no alarms", snap(), false, false, ""},
		{"all ok", snap(OK, OK), false, false, ""},
		{"one firing", snap(OK, Firing), false, true, "b FIRING"},
		{"poll failure stops by default", snap(PollFailed, OK), false, true, "a POLL_FAILED"},
		{"poll failure ignored", snap(PollFailed, OK), true, false, ""},
		{"firing is never ignored", snap(PollFailed, Firing), true, true, "b FIRING"},
		{"firing listed first", snap(PollFailed, Firing, Firing), false, true, "b FIRING; c FIRING; a POLL_FAILED"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reason, stop := tt.snap.Trip(tt.ignore)
			if stop != tt.stop || reason != tt.reason {
				t.Errorf("Trip(%v) = %q, %v; want %q, %v", tt.ignore, reason, stop, tt.reason, tt.stop)
			}
		})
	}
}

func TestSnapshot_Changed(t *testing.T) {
	a := Snapshot{States: []State{{Name: "x", Status: OK, Reason: "0.1 is not > 1"}}}
	sameStatus := Snapshot{States: []State{{Name: "x", Status: OK, Reason: "0.2 is not > 1"}}}
	firing := Snapshot{States: []State{{Name: "x", Status: Firing}}}
	renamed := Snapshot{States: []State{{Name: "y", Status: OK}}}
	more := Snapshot{States: []State{{Name: "x", Status: OK}, {Name: "y", Status: OK}}}
	for _, tt := range []struct {
		name string
		b    Snapshot
		want bool
	}{
		{"reason only", sameStatus, false},
		{"status", firing, true},
		{"other alarm", renamed, true},
		{"more alarms", more, true},
	} {
		if got := tt.b.Changed(a); got != tt.want {
			t.Errorf("%s: Changed = %v, want %v", tt.name, got, tt.want)
		}
	}
}
