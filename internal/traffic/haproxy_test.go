package traffic_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slipway-deploy/slipway/internal/traffic"
)

// near reports whether got is within tol of want.
func near(got, want, tol int) bool { return got >= want-tol && got <= want+tol }

func TestHAProxy_WeightsShiftTheShareOfRequests(t *testing.T) {
	l := newLab(t, server{"blue", 100}, server{"green", 0})
	h := l.driver(traffic.HAProxyConfig{})
	ctx := context.Background()

	if got := l.count(40); got["blue"] != 40 {
		t.Fatalf("before the shift: %v; want all 40 on blue", got)
	}
	for _, percent := range []int{10, 25, 50, 100, 0} {
		w, err := traffic.Split([]string{"blue"}, []string{"green"}, percent, traffic.MaxWeight)
		if err != nil {
			t.Fatal(err)
		}
		if err := h.SetWeights(ctx, "app", w); err != nil {
			t.Fatalf("%d%%: %v", percent, err)
		}
		b := state(t, h, "app")
		if s, _ := b.Server("green"); s.Weight != w["green"] {
			t.Errorf("%d%%: green weight read back %d; want %d", percent, s.Weight, w["green"])
		}
		if percent == 0 {
			// The revert: green leaves the rotation at once, no request after it goes there.
			if got := l.count(50); got["blue"] != 50 {
				t.Errorf("right after the revert: %v; want all 50 on blue", got)
			}
			continue
		}
		l.settle()
		const n = 200
		got := l.count(n)
		// Round robin follows the weights closely; the tolerance covers the rotation's phase.
		if want := n * percent / 100; !near(got["green"], want, 2) || got["blue"]+got["green"] != n {
			t.Errorf("%d%% (weights %v): %v; want about %d of %d on green and none failed", percent, w, got, want, n)
		}
	}
}

func TestHAProxy_DrainStopsNewTrafficAndLetsOpenRequestsFinish(t *testing.T) {
	l := newLab(t, server{"blue", 50}, server{"green", 50})
	h := l.driver(traffic.HAProxyConfig{})
	ctx := context.Background()

	// An open request on blue, started before the drain; with green at weight 0 it lands on blue.
	if err := h.SetWeights(ctx, "app", map[string]int{"green": 0}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var heldBody string
	var heldErr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		resp, err := l.client.Get(l.front + "/hold")
		if err != nil {
			heldErr = err
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		heldBody, heldErr = string(b), err
	}()
	select {
	case <-l.holding["blue"]:
	case <-time.After(15 * time.Second):
		t.Fatal("the held request did not reach blue")
	}
	if err := h.SetWeights(ctx, "app", map[string]int{"green": 50}); err != nil {
		t.Fatal(err)
	}

	if err := h.Drain(ctx, "app", "blue"); err != nil {
		t.Fatal(err)
	}
	if got := summary(state(t, h, "app")); got != "blue:drain/up/50 green:ready/up/50" {
		t.Errorf("state = %s; want blue drained, weights kept", got)
	}
	if got := l.count(60); got["green"] != 60 {
		t.Errorf("after drain: %v; want all 60 on green", got)
	}
	l.waitFor("blue to report its open session", func() bool {
		s, _ := state(t, h, "app").Server("blue")
		return s.Sessions == 1
	})
	closeOnce(l.hold)
	wg.Wait()
	if heldErr != nil || heldBody != "blue" {
		t.Errorf("request open on blue during the drain: %q, %v; want it answered by blue", heldBody, heldErr)
	}
	l.waitFor("blue to be empty", func() bool {
		s, _ := state(t, h, "app").Server("blue")
		return s.Sessions == 0
	})

	if err := h.Ready(ctx, "app", "blue"); err != nil {
		t.Fatal(err)
	}
	l.settle()
	if got := l.count(100); !near(got["blue"], 50, 2) {
		t.Errorf("after ready: %v; want about 50 each", got)
	}
}

func TestHAProxy_ApplyRevertsDrainedOriginalsInOneStep(t *testing.T) {
	l := newLab(t, server{"blue", 100}, server{"green", 0})
	h := l.driver(traffic.HAProxyConfig{})
	ctx := context.Background()
	// The shift is done and the originals are blocked: green takes everything, blue is drained.
	if err := h.Apply(ctx, "app", map[string]traffic.Target{
		"blue":  {Weight: 0, Admin: traffic.Drain},
		"green": {Weight: 100, Admin: traffic.Ready},
	}); err != nil {
		t.Fatal(err)
	}
	if got := l.count(20); got["green"] != 20 {
		t.Fatalf("after the shift: %v; want all on green", got)
	}
	// An alarm: everything back to blue in one call.
	if err := h.Apply(ctx, "app", map[string]traffic.Target{
		"blue":  {Weight: 100, Admin: traffic.Ready},
		"green": {Weight: 0, Admin: traffic.Ready},
	}); err != nil {
		t.Fatal(err)
	}
	if got := l.count(20); got["blue"] != 20 {
		t.Errorf("right after the revert: %v; want all on blue", got)
	}
	if err := h.Apply(ctx, "app", map[string]traffic.Target{"blue": {Weight: 1}}); !errors.Is(err, traffic.ErrInvalidChange) {
		t.Errorf("Apply without an admin state: err = %v; want ErrInvalidChange", err)
	}
}

func TestHAProxy_RefusesToLeaveNoServingServer(t *testing.T) {
	l := newLab(t, server{"blue", 100}, server{"green", 0})
	h := l.driver(traffic.HAProxyConfig{})
	ctx := context.Background()
	before := summary(state(t, h, "app"))

	refusals := []struct {
		name string
		do   func() error
	}{
		{"weight 0 on the only weighted server", func() error { return h.SetWeights(ctx, "app", map[string]int{"blue": 0}) }},
		{"drain it", func() error { return h.Drain(ctx, "app", "blue") }},
		{"maint it", func() error { return h.SetState(ctx, "app", "blue", traffic.Maint) }},
		{"all weights 0", func() error { return h.SetWeights(ctx, "app", map[string]int{"blue": 0, "green": 0}) }},
	}
	for _, r := range refusals {
		if err := r.do(); !errors.Is(err, traffic.ErrNoServing) {
			t.Errorf("%s: err = %v; want ErrNoServing", r.name, err)
		}
	}
	if got := summary(state(t, h, "app")); got != before {
		t.Errorf("state after refusals = %s; want it unchanged (%s)", got, before)
	}
	if got := l.count(20); got["blue"] != 20 {
		t.Errorf("traffic after refusals: %v; want all on blue", got)
	}

	// A server failing its health checks does not count as serving.
	l.waitFor("chk/dead to fail its checks", func() bool {
		s, _ := state(t, h, "chk").Server("dead")
		return s.Health == traffic.Down
	})
	err := h.SetWeights(ctx, "chk", map[string]int{"live": 0, "dead": 100})
	if !errors.Is(err, traffic.ErrNoServing) || !strings.Contains(err.Error(), "dead ready/down weight 100") {
		t.Errorf("shift to a failing server: err = %v; want ErrNoServing naming it", err)
	}

	// Taking the backend down on purpose is allowed, and readying a server brings it back.
	if err := h.TakeDown(ctx, "app"); err != nil {
		t.Fatal(err)
	}
	if got := l.count(5); got["503"] != 5 {
		t.Errorf("after TakeDown: %v; want 5 × 503", got)
	}
	if err := h.Ready(ctx, "app", "blue"); err != nil {
		t.Fatal(err)
	}
	if got := l.count(5); got["blue"] != 5 {
		t.Errorf("after Ready: %v; want all on blue", got)
	}
}

func TestHAProxy_BadRequests(t *testing.T) {
	l := newLab(t, server{"blue", 100}, server{"green", 0})
	h := l.driver(traffic.HAProxyConfig{})
	ctx := context.Background()
	tests := []struct {
		name string
		err  error
		want error
	}{
		{"unknown server", h.SetWeights(ctx, "app", map[string]int{"purple": 1}), traffic.ErrUnknownServer},
		{"unknown backend", h.Drain(ctx, "nope", "blue"), traffic.ErrUnknownBackend},
		{"unknown backend state", func() error { _, err := h.State(ctx, "nope"); return err }(), traffic.ErrUnknownBackend},
		{"weight above 256", h.SetWeights(ctx, "app", map[string]int{"green": 300}), traffic.ErrInvalidChange},
		{"a second command in the name", h.Ready(ctx, "app; shutdown frontend fe", "blue"), traffic.ErrInvalidChange},
		{"state out of range", h.SetState(ctx, "app", "blue", traffic.AdminState(9)), traffic.ErrInvalidChange},
	}
	for _, tt := range tests {
		if !errors.Is(tt.err, tt.want) {
			t.Errorf("%s: err = %v; want %v", tt.name, tt.err, tt.want)
		}
	}
	if got := l.count(5); got["blue"] != 5 {
		t.Errorf("frontend after bad requests: %v; want it serving from blue", got)
	}
}

func TestHAProxy_RefusedCommandIsNotRepeated(t *testing.T) {
	l := newLab(t, server{"blue", 100}, server{"green", 0})
	h := l.driver(traffic.HAProxyConfig{})
	ctx := context.Background()
	err := h.SetWeights(ctx, "hash", map[string]int{"h1": 5, "h2": 0})
	if !errors.Is(err, traffic.ErrRuntime) || !strings.Contains(err.Error(), "static LB algorithm") {
		t.Fatalf("err = %v; want ErrRuntime with HAProxy's reason", err)
	}
	if got := summary(state(t, h, "hash")); got != "h1:ready/up/10 h2:ready/up/0" {
		t.Errorf("state = %s; want h2's weight applied and h1's refused", got)
	}
	// Only what HAProxy accepted stays desired: re-applying finds nothing to do.
	if n, err := h.Reconcile(ctx); n != 0 || err != nil {
		t.Errorf("Reconcile = %d, %v; want 0, nil", n, err)
	}
}

func TestHAProxy_RuntimeAPIOverTCP(t *testing.T) {
	l := newLab(t, server{"blue", 100}, server{"green", 0})
	h := l.driver(traffic.HAProxyConfig{Address: "tcp:" + l.tcpStats})
	if err := h.SetWeights(context.Background(), "app", map[string]int{"green": 7}); err != nil {
		t.Fatal(err)
	}
	if got := summary(state(t, h, "app")); got != "blue:ready/up/100 green:ready/up/7" {
		t.Errorf("state over TCP = %s", got)
	}
}

func TestHAProxy_ReappliesDesiredStateAfterReload(t *testing.T) {
	l := newLab(t, server{"blue", 100}, server{"green", 0})
	h := l.driver(traffic.HAProxyConfig{})
	ctx := context.Background()
	desired := "blue:drain/up/0 green:ready/up/100"
	if err := h.SetWeights(ctx, "app", map[string]int{"blue": 0, "green": 100}); err != nil {
		t.Fatal(err)
	}
	if err := h.Drain(ctx, "app", "blue"); err != nil {
		t.Fatal(err)
	}
	if n, err := h.Reconcile(ctx); n != 0 || err != nil {
		t.Fatalf("Reconcile with nothing changed = %d, %v; want 0, nil", n, err)
	}
	before, err := h.Process(ctx)
	if err != nil {
		t.Fatal(err)
	}

	l.reload()
	// The new worker starts from the configuration: blue 100, green 0, both ready. Seeing that
	// state also proves the answer comes from the new worker.
	l.waitFor("the new worker to answer with the configuration's weights", func() bool {
		p, err := h.Process(ctx)
		if err != nil || p.Pid == before.Pid {
			return false
		}
		b, err := h.State(ctx, "app")
		return err == nil && summary(b) == "blue:ready/up/100 green:ready/up/0"
	})
	n, err := h.Reconcile(ctx)
	if err != nil || n != 3 {
		t.Fatalf("Reconcile after reload = %d, %v; want 3 commands (green weight, blue weight, blue drain)", n, err)
	}
	if got := summary(state(t, h, "app")); got != desired {
		t.Errorf("state after Reconcile = %s; want %s", got, desired)
	}
	if got := l.count(30); got["green"] != 30 {
		t.Errorf("traffic after Reconcile: %v; want all on green", got)
	}
}

func TestHAProxy_RunReappliesAfterRestart(t *testing.T) {
	l := newLab(t, server{"blue", 100}, server{"green", 0})
	logs := &buffer{}
	h := l.driver(traffic.HAProxyConfig{Interval: 20 * time.Millisecond, Logger: logs.logger()})
	ctx, cancel := context.WithCancel(context.Background())
	runErr := make(chan error, 1)
	go func() { runErr <- h.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-runErr; err != nil {
			t.Errorf("Run = %v", err)
		}
	}()

	w, err := traffic.Split([]string{"blue"}, []string{"green"}, 30, traffic.MaxWeight)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.SetWeights(context.Background(), "app", w); err != nil {
		t.Fatal(err)
	}
	before, err := h.Process(context.Background())
	if err != nil {
		t.Fatal(err)
	}

	l.stop()
	l.waitFor("Run to report HAProxy unreachable", func() bool {
		return strings.Contains(logs.String(), "reconcile haproxy state")
	})
	l.start()
	desired := "blue:ready/up/7 green:ready/up/3"
	l.waitFor("Run to re-apply the weights on the restarted HAProxy", func() bool {
		p, err := h.Process(context.Background())
		return err == nil && p.Pid != before.Pid && summary(state(t, h, "app")) == desired
	})
	l.settle()
	if got := l.count(100); !near(got["green"], 30, 2) {
		t.Errorf("traffic after restart: %v; want about 30 of 100 on green", got)
	}
	for _, want := range []string{"reconcile haproxy state", "haproxy state reconciled again", "re-applied desired haproxy state"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("logs lack %q:\n%s", want, logs)
		}
	}
}

func TestHAProxy_ReadsBackendWithoutChangingIt(t *testing.T) {
	l := newLab(t, server{"blue", 100}, server{"green", 0})
	h := l.driver(traffic.HAProxyConfig{})
	b := state(t, h, "app")
	if b.Serving() != 1 || len(b.Servers) != 2 {
		t.Errorf("state = %+v; want two servers, one serving", b)
	}
	for _, s := range b.Servers {
		if !strings.HasPrefix(s.Address, "127.0.0.1:") {
			t.Errorf("%s address = %q; want a loopback address", s.Name, s.Address)
		}
	}
	if n, err := h.Reconcile(context.Background()); n != 0 || err != nil {
		t.Errorf("Reconcile before any change = %d, %v; want 0, nil (nothing desired)", n, err)
	}
	resp, err := l.client.Get(l.front + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("status = %d", resp.StatusCode)
	}
}
