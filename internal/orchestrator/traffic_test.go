package orchestrator_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slipway-deploy/slipway/internal/deploy"
	"github.com/slipway-deploy/slipway/internal/orchestrator"
	"github.com/slipway-deploy/slipway/internal/store"
	"github.com/slipway-deploy/slipway/internal/traffic"
	"github.com/slipway-deploy/slipway/internal/traffic/haproxytest"
)

// world is a real SQLite store with application "app", hosts registered with tags, a real
// HAProxy whose backend has one server per host (named after it), and an orchestrator running
// over them. Hosts answer commands through agents the test runs in goroutines.
type world struct {
	t     *testing.T
	dir   string
	store *store.SQLite
	ids   map[string]string // host name -> instance id
	proxy *haproxytest.HAProxy
	o     *orchestrator.Orchestrator
	stop  func()

	mu       sync.Mutex
	fail     map[string]string // host name -> event that fails
	observed []string          // "host event" as agents received them
	onEvent  func(host, event string)
}

// hosts maps a host name to its tags.
func newWorld(t *testing.T, hosts map[string]map[string]string, disabled ...string) *world {
	t.Helper()
	ctx := context.Background()
	w := &world{t: t, dir: t.TempDir(), ids: map[string]string{}, fail: map[string]string{}}
	st, err := store.OpenSQLite(ctx, filepath.Join(w.dir, "slipway.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	w.store = st
	if _, err := st.CreateApplication(ctx, store.Application{Name: "app", ComputePlatform: store.PlatformServer}); err != nil {
		t.Fatal(err)
	}
	var servers []haproxytest.Server
	for _, name := range sortedKeys(hosts) {
		inst, err := st.RegisterInstance(ctx, name, hosts[name], store.HashToken("token-"+name), false)
		if err != nil {
			t.Fatal(err)
		}
		w.ids[name] = inst.ID
		srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, _ *http.Request) { fmt.Fprint(rw, name) }))
		t.Cleanup(srv.Close)
		servers = append(servers, haproxytest.Server{Name: name, Addr: srv.Listener.Addr().String(), Weight: 10, Disabled: slices.Contains(disabled, name)})
	}
	w.proxy = haproxytest.New(t, haproxytest.Config{Backend: "app", Servers: servers})
	w.startOrchestrator()
	return w
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func (w *world) router() deploy.Router {
	return deploy.Router{Type: deploy.RouterHAProxy, Address: w.proxy.Socket, Backend: "app"}
}

// startOrchestrator loads and runs an orchestrator over the store, as a (re)started server does,
// with an agent loop per host.
func (w *world) startOrchestrator(configure ...func(*orchestrator.Orchestrator)) {
	w.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	o := orchestrator.New(w.store, nil, nil)
	o.Lease = 30 * time.Second
	o.AlarmInterval = 20 * time.Millisecond
	for _, c := range configure {
		c(o)
	}
	if err := o.Load(ctx); err != nil {
		w.t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Go(func() { _ = o.Run(ctx) })
	for name, id := range w.ids {
		wg.Go(func() { w.agent(ctx, o, name, id) })
	}
	w.o = o
	w.stop = func() { cancel(); wg.Wait() }
	w.t.Cleanup(w.stop)
}

// restart stops the orchestrator and starts another over the same store and HAProxy.
func (w *world) restart(configure ...func(*orchestrator.Orchestrator)) {
	w.t.Helper()
	w.stop()
	w.startOrchestrator(configure...)
}

// agent answers the host's commands: success, or failure at the event w.fail names.
func (w *world) agent(ctx context.Context, o *orchestrator.Orchestrator, name, id string) {
	for ctx.Err() == nil {
		c, err := o.NextCommand(ctx, id, 200*time.Millisecond)
		if err != nil || c == nil {
			continue
		}
		w.mu.Lock()
		w.observed = append(w.observed, name+" "+c.Event)
		failAt, onEvent := w.fail[name], w.onEvent
		w.mu.Unlock()
		if onEvent != nil {
			onEvent(name, c.Event)
		}
		status, diag := deploy.EventSucceeded, deploy.Diagnostics{}
		if failAt == c.Event {
			status, diag = deploy.EventFailed, deploy.Diagnostics{ErrorCode: "ScriptFailed", Message: "exit status 1"}
		}
		_ = o.Report(ctx, id, c.ID, status, diag)
	}
}

func (w *world) createGroup(g store.Group) {
	w.t.Helper()
	g.Application = "app"
	if g.ConfigName == "" {
		g.ConfigName = deploy.ConfigAllAtOnce
	}
	if _, err := w.store.CreateGroup(context.Background(), g); err != nil {
		w.t.Fatal(err)
	}
}

func (w *world) deploy(group string) deploy.Deployment {
	w.t.Helper()
	ctx := context.Background()
	g, err := w.store.GetGroup(ctx, "app", group)
	if err != nil {
		w.t.Fatal(err)
	}
	cfg, err := w.store.GetConfig(ctx, g.ConfigName)
	if err != nil {
		w.t.Fatal(err)
	}
	d, err := w.o.Create(ctx, deploy.Deployment{
		ID: store.NewDeploymentID(), Application: "app", Group: group, Revision: strings.Repeat("b", 64), Config: cfg,
		Type: g.Type, Router: g.Router, BlueGreen: g.BlueGreen, CreateTime: time.Now().UTC(),
	}, false)
	if err != nil {
		w.t.Fatal(err)
	}
	return d
}

// wait polls the deployment until cond holds.
func (w *world) wait(id, what string, cond func(deploy.Deployment) bool) deploy.Deployment {
	w.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		d, _, err := w.o.Get(context.Background(), id)
		if err == nil && cond(d) {
			return d
		}
		if time.Now().After(deadline) {
			w.t.Fatalf("timed out waiting for %s: deployment %v phase %v error %q", what, d.Status, d.Shift.Phase, d.Error.Message)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (w *world) finished(id string) deploy.Deployment {
	w.t.Helper()
	return w.wait(id, "the deployment to finish", func(d deploy.Deployment) bool { return d.Status.Finished() })
}

// backend reads HAProxy's view of the servers through the traffic driver.
func (w *world) backend() traffic.Backend {
	w.t.Helper()
	h, err := traffic.NewHAProxy(traffic.HAProxyConfig{Address: w.proxy.Socket})
	if err != nil {
		w.t.Fatal(err)
	}
	b, err := h.State(context.Background(), "app")
	if err != nil {
		w.t.Fatal(err)
	}
	return b
}

// serving lists the servers that take new requests, as "name:weight".
func (w *world) serving() string {
	var out []string
	for _, s := range w.backend().Servers {
		if s.Serving() {
			out = append(out, fmt.Sprintf("%s:%d", s.Name, s.Weight))
		}
	}
	return strings.Join(out, " ")
}

// waitServing polls HAProxy until the serving servers are want.
func (w *world) waitServing(want string) {
	w.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for got := w.serving(); got != want; got = w.serving() {
		if time.Now().After(deadline) {
			w.t.Fatalf("haproxy serving %q, want %q", got, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

var (
	webTags   = map[string]string{"role": "web"}
	blueTags  = map[string]string{"fleet": "blue"}
	greenTags = map[string]string{"fleet": "green"}
	blueSet   = deploy.TagSet{{{Key: "fleet", Value: "blue", Type: deploy.KeyAndValue}}}
	greenSet  = deploy.TagSet{{{Key: "fleet", Value: "green", Type: deploy.KeyAndValue}}}
)

// first is a tag set's first tag group: a blue/green group's replacement tags.
func first(s deploy.TagSet) []deploy.TagFilter { return s[0] }

// In place with a router: each host is drained before ApplicationStop and back in rotation
// after ValidateService; the router's two events never reach the agent.
func TestInPlace_RouterDrainsEachHost(t *testing.T) {
	w := newWorld(t, map[string]map[string]string{"web-1": webTags, "web-2": webTags})
	var seen sync.Map // "host event" -> servers serving then
	w.onEvent = func(host, event string) {
		if event == "ApplicationStop" || event == "AfterAllowTraffic" {
			seen.Store(host+" "+event, w.serving())
		}
	}
	w.createGroup(store.Group{Name: "web", ConfigName: deploy.ConfigOneAtATime, Router: w.router(),
		Tags: deploy.TagSet{{{Key: "role", Value: "web", Type: deploy.KeyAndValue}}}})
	d := w.finished(w.deploy("web").ID)
	if d.Status != deploy.StatusSucceeded {
		t.Fatalf("deployment %v: %s", d.Status, d.Error.Message)
	}
	for _, tc := range []struct{ key, want string }{
		{"web-1 ApplicationStop", "web-2:10"}, {"web-1 AfterAllowTraffic", "web-1:10 web-2:10"},
		{"web-2 ApplicationStop", "web-1:10"}, {"web-2 AfterAllowTraffic", "web-1:10 web-2:10"},
	} {
		got, _ := seen.Load(tc.key)
		if got != tc.want {
			t.Errorf("at %s haproxy served %v, want %s", tc.key, got, tc.want)
		}
	}
	w.mu.Lock()
	for _, o := range w.observed {
		if strings.HasSuffix(o, " BlockTraffic") || strings.HasSuffix(o, " AllowTraffic") {
			t.Errorf("an agent received %s", o)
		}
	}
	w.mu.Unlock()
	for _, tg := range d.Targets {
		e := tg.Events[1]
		if e.Name != "BlockTraffic" || e.Status != deploy.EventSucceeded || !strings.Contains(e.Diagnostics.Message, "haproxy backend app: "+tg.Name+" drain") {
			t.Errorf("%s %s %v %q, want Succeeded, carried out by the router", tg.Name, e.Name, e.Status, e.Diagnostics.Message)
		}
	}
}

// A deployment whose hosts the router's backend has no server for fails at its start, naming
// the servers and the template, before any host runs anything; so does one whose router cannot
// be read.
func TestInPlace_RouterServerMissing(t *testing.T) {
	w := newWorld(t, map[string]map[string]string{"web-1": webTags})
	r := w.router()
	r.ServerName = "srv-{name}"
	w.createGroup(store.Group{Name: "web", Router: r, Tags: deploy.TagSet{{{Key: "role", Value: "web", Type: deploy.KeyAndValue}}}})
	d := w.finished(w.deploy("web").ID)
	if d.Status != deploy.StatusFailed || d.Error.Code != deploy.ErrorTrafficRouter ||
		!strings.Contains(d.Error.Message, `no server for instance web-1 (server "srv-web-1"); the group's server name template "srv-{name}"`) ||
		!strings.Contains(d.Error.Message, "the backend has web-1:") {
		t.Fatalf("deployment %v %v %q; want it failed at the start naming srv-web-1 and the template", d.Status, d.Error.Code, d.Error.Message)
	}
	w.mu.Lock()
	if len(w.observed) > 0 {
		t.Errorf("hosts received %v; none should have", w.observed)
	}
	w.mu.Unlock()
	if got := w.serving(); got != "web-1:10" {
		t.Errorf("haproxy serving %q after the refusal, want web-1 untouched", got)
	}

	r.Address = filepath.Join(w.dir, "nothing.sock")
	r.ServerName = ""
	w.createGroup(store.Group{Name: "web2", Router: r, Tags: deploy.TagSet{{{Key: "role", Value: "web", Type: deploy.KeyAndValue}}}})
	d = w.finished(w.deploy("web2").ID)
	if d.Status != deploy.StatusFailed || d.Error.Code != deploy.ErrorTrafficRouter || !strings.Contains(d.Error.Message, "could not read backend app of the traffic router at "+r.Address) {
		t.Fatalf("deployment %v %v %q; want it failed: the router cannot be read", d.Status, d.Error.Code, d.Error.Message)
	}
}

func blueGreenGroup(w *world, shape traffic.Config) store.Group {
	return store.Group{
		Name: "shop", Type: deploy.BlueGreen, Router: w.router(), Tags: blueSet, ReplacementTags: first(greenSet),
		BlueGreen: deploy.BlueGreenOptions{Traffic: shape},
	}
}

func blueGreenWorld(t *testing.T) *world {
	return newWorld(t, map[string]map[string]string{
		"blue-1": blueTags, "blue-2": blueTags, "green-1": greenTags, "green-2": greenTags,
	}, "green-1", "green-2")
}

// A blue/green deployment moves traffic through HAProxy step by step, drains the originals and
// swaps the group's fleets.
func TestBlueGreen_ShiftsThroughHAProxy(t *testing.T) {
	w := blueGreenWorld(t)
	w.createGroup(blueGreenGroup(w, traffic.Config{Linear: &traffic.IncrementConfig{Percent: 50, Interval: "300ms"}}))
	if got := w.serving(); got != "blue-1:10 blue-2:10" {
		t.Fatalf("before: serving %q", got)
	}
	id := w.deploy("shop").ID
	w.waitServing("blue-1:1 blue-2:1 green-1:1 green-2:1")
	d := w.finished(id)
	if d.Status != deploy.StatusSucceeded {
		t.Fatalf("deployment %v: %s", d.Status, d.Error.Message)
	}
	if got := w.serving(); got != "green-1:1 green-2:1" {
		t.Errorf("after: serving %q, want the replacements only", got)
	}
	for _, s := range w.backend().Servers {
		if strings.HasPrefix(s.Name, "blue") && s.Admin != traffic.Drain {
			t.Errorf("original %s is %v, want drained", s.Name, s.Admin)
		}
	}
	tl := d.Shift.Timeline
	if len(tl) != 2 || tl[0].Percent != 50 || tl[1].Percent != 100 || tl[1].Time.Sub(tl[0].Time) < 300*time.Millisecond {
		t.Errorf("timeline %+v, want 50%% then 100%% at least 300ms later", tl)
	}
	g, err := w.store.GetGroup(context.Background(), "app", "shop")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.EqualFunc(g.Tags, greenSet, slices.Equal) || !slices.Equal(g.ReplacementTags, first(blueSet)) {
		t.Errorf("after success the group's tags are %v and replacement tags %v; want the fleets swapped", g.Tags, g.ReplacementTags)
	}
}

// The group's tag groups other than the first select both fleets: a host with the replacement
// fleet's tag but another application's is no replacement, and the swap keeps the shared tag
// group on both sides.
func TestBlueGreen_SharedTagGroups(t *testing.T) {
	w := newWorld(t, map[string]map[string]string{
		"blue-1":   {"fleet": "blue", "app": "shop"},
		"green-1":  {"fleet": "green", "app": "shop"},
		"intruder": {"fleet": "green", "app": "other"},
	}, "green-1", "intruder")
	shop := []deploy.TagFilter{{Key: "app", Value: "shop", Type: deploy.KeyAndValue}}
	g := blueGreenGroup(w, traffic.Config{AllAtOnce: true})
	g.Tags = deploy.TagSet{first(blueSet), shop}
	w.createGroup(g)
	d := w.finished(w.deploy("shop").ID)
	if d.Status != deploy.StatusSucceeded {
		t.Fatalf("deployment %v: %s", d.Status, d.Error.Message)
	}
	var names []string
	for _, tg := range d.Targets {
		names = append(names, tg.Name+" "+tg.Fleet.String())
	}
	if want := []string{"green-1 replacement", "blue-1 original"}; !slices.Equal(names, want) {
		t.Errorf("targets %v, want %v", names, want)
	}
	w.mu.Lock()
	for _, o := range w.observed {
		if strings.HasPrefix(o, "intruder ") {
			t.Errorf("the other application's host received %s", o)
		}
	}
	w.mu.Unlock()
	got, err := w.store.GetGroup(context.Background(), "app", "shop")
	if err != nil {
		t.Fatal(err)
	}
	wantTags, wantNext := deploy.TagSet{first(greenSet), shop}, deploy.TagSet{first(blueSet), shop}
	if !reflect.DeepEqual(got.Tags, wantTags) || !reflect.DeepEqual(got.ReplacementFleet(), wantNext) {
		t.Errorf("after the swap the group serves %v and replaces %v; want %v and %v", got.Tags, got.ReplacementFleet(), wantTags, wantNext)
	}
}

// alarms is a group alarm the test switches on.
type alarms struct {
	mu     sync.Mutex
	firing bool
	polls  int
}

func (a *alarms) set(firing bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.firing = firing
}

func (a *alarms) Poll(context.Context, string, string, time.Time) (orchestrator.AlarmPoll, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.polls++
	s := orchestrator.AlarmState{Name: "errors", Firing: a.firing, Reason: "alarm errors: 0 errors"}
	if a.firing {
		s.Reason = "alarm errors fired: 12 errors > 1"
	}
	return orchestrator.AlarmPoll{Alarms: []orchestrator.AlarmState{s}}, true
}

// halfShifted is a blue/green deployment holding at 50% until promoted, with an alarm the
// test can fire.
func halfShifted(t *testing.T) (*world, *alarms, string) {
	t.Helper()
	w := blueGreenWorld(t)
	a := &alarms{}
	w.restart(func(o *orchestrator.Orchestrator) { o.Alarms = a })
	w.createGroup(blueGreenGroup(w, traffic.Config{Steps: []traffic.StepConfig{{Weight: ptr(50)}, {Pause: traffic.PauseUntilPromoted}}}))
	id := w.deploy("shop").ID
	w.waitServing("blue-1:1 blue-2:1 green-1:1 green-2:1")
	return w, a, id
}

// A firing alarm during the shift sends all traffic back to the originals and stops the
// deployment with the alarm's reason.
func TestBlueGreen_AlarmRevertsAtOnce(t *testing.T) {
	w, a, id := halfShifted(t)
	a.set(true)
	d := w.finished(id)
	if d.Status != deploy.StatusStopped || d.Error.Code != deploy.ErrorAlarmActive || !strings.Contains(d.Error.Message, "alarm errors fired: 12 errors > 1") {
		t.Fatalf("deployment %v %v %q, want Stopped by the alarm", d.Status, d.Error.Code, d.Error.Message)
	}
	if got := w.serving(); got != "blue-1:1 blue-2:1" {
		t.Errorf("after the alarm haproxy serves %q, want the originals only", got)
	}
}

// A revert carries on without the servers removed from the backend since the start: the
// originals it still has take all the traffic, and the deployment names what was skipped.
func TestBlueGreen_RevertSkipsServersGone(t *testing.T) {
	w, a, id := halfShifted(t)
	// An operator takes green-2 and blue-2 out of HAProxy (no request has been sent: they have
	// no connection that would keep them).
	w.runtime("set server app/green-2 state maint; del server app/green-2; set server app/blue-2 state maint; del server app/blue-2")
	a.set(true)
	d := w.finished(id)
	want := "all traffic is back on the original instances the router has: backend app no longer has these servers, which the revert skipped: blue-2, green-2"
	if d.Status != deploy.StatusStopped || d.Shift.RevertError != "" || !strings.Contains(d.Error.Message, want) {
		t.Fatalf("deployment %v, revert error %q, message %q; want Stopped saying %q", d.Status, d.Shift.RevertError, d.Error.Message, want)
	}
	if got := w.serving(); got != "blue-1:1" {
		t.Errorf("after the revert haproxy serves %q, want blue-1 alone", got)
	}
	stored, err := w.store.GetDeployment(context.Background(), id)
	if err != nil || !slices.Equal(stored.Deployment.Shift.RevertSkipped, []string{"blue-2", "green-2"}) {
		t.Errorf("stored revert skipped %v (%v), want blue-2 and green-2", stored.Deployment.Shift.RevertSkipped, err)
	}
}

// runtime sends one line of commands to HAProxy's runtime API and fails the test unless every
// command was accepted (a refusal's answer is not empty).
func (w *world) runtime(line string) {
	w.t.Helper()
	conn, err := net.Dial("unix", w.proxy.Socket)
	if err != nil {
		w.t.Fatal(err)
	}
	defer conn.Close()
	if _, err := fmt.Fprintln(conn, line); err != nil {
		w.t.Fatal(err)
	}
	answer, err := io.ReadAll(conn)
	if err != nil {
		w.t.Fatal(err)
	}
	for _, l := range strings.Split(strings.TrimSpace(string(answer)), "\n") {
		if l = strings.TrimSpace(l); l != "" && l != "Server deleted." {
			w.t.Fatalf("haproxy answered %q to %q", answer, line)
		}
	}
}

// An analysis step passes once its duration is over and a poll since it began saw its alarm
// healthy.
func TestBlueGreen_AnalysisStep(t *testing.T) {
	w := blueGreenWorld(t)
	a := &alarms{}
	w.restart(func(o *orchestrator.Orchestrator) { o.Alarms = a })
	w.createGroup(blueGreenGroup(w, traffic.Config{Steps: []traffic.StepConfig{
		{Weight: ptr(50)}, {Analysis: &traffic.AnalysisConfig{Name: "errors", Duration: "200ms"}},
	}}))
	d := w.finished(w.deploy("shop").ID)
	if d.Status != deploy.StatusSucceeded {
		t.Fatalf("deployment %v: %s", d.Status, d.Error.Message)
	}
	if tl := d.Shift.Timeline; len(tl) != 2 || tl[1].Time.Sub(tl[0].Time) < 200*time.Millisecond {
		t.Errorf("timeline %+v, want the analysis' 200ms between 50%% and 100%%", tl)
	}

	// Without alarms to read, an analysis cannot pass: the deployment stops and says why.
	w.restart()
	w.createGroup(func() store.Group {
		g := blueGreenGroup(w, traffic.Config{Steps: []traffic.StepConfig{{Analysis: &traffic.AnalysisConfig{Name: "errors"}}}})
		g.Name, g.Tags, g.ReplacementTags = "shop2", greenSet, first(blueSet)
		return g
	}())
	d = w.finished(w.deploy("shop2").ID)
	if d.Status != deploy.StatusStopped || !strings.Contains(d.Error.Message, "analysis errors: the group has no alarms") {
		t.Errorf("deployment %v %q, want Stopped: nothing to analyse", d.Status, d.Error.Message)
	}
}

// A server restart in the middle of a shift resumes it: the new orchestrator puts the weights
// back into its router driver, so an HAProxy reload (which starts from the configuration's
// weights) is undone, and a promotion then finishes the deployment.
func TestBlueGreen_ResumesAfterRestartAndReload(t *testing.T) {
	w := blueGreenWorld(t)
	w.createGroup(blueGreenGroup(w, traffic.Config{Steps: []traffic.StepConfig{{Weight: ptr(50)}, {Pause: traffic.PauseUntilPromoted}}}))
	id := w.deploy("shop").ID
	w.waitServing("blue-1:1 blue-2:1 green-1:1 green-2:1")
	w.restart()
	if err := w.proxy.Reload(); err != nil {
		t.Fatal(err)
	}
	// The reloaded worker serves the configuration (blue at 10, green disabled) until the
	// driver puts the desired state back.
	w.waitServing("blue-1:1 blue-2:1 green-1:1 green-2:1")
	if _, err := w.o.Promote(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	if d := w.finished(id); d.Status != deploy.StatusSucceeded {
		t.Fatalf("deployment %v: %s", d.Status, d.Error.Message)
	}
	if got := w.serving(); got != "green-1:1 green-2:1" {
		t.Errorf("serving %q", got)
	}
	// And after the deployment, across another restart and reload, the final state holds.
	w.restart()
	if err := w.proxy.Reload(); err != nil {
		t.Fatal(err)
	}
	w.waitServing("green-1:1 green-2:1")
}

// The release command runs on the originals after the bake, with their names and without the
// server's own SLIPWAY_ settings in its environment.
func TestBlueGreen_ReleaseCommand(t *testing.T) {
	t.Setenv("SLIPWAY_ADMIN_TOKEN", "must-not-leak")
	w := blueGreenWorld(t)
	out := filepath.Join(w.dir, "released")
	script := filepath.Join(w.dir, "release.sh")
	if err := os.WriteFile(script, []byte("#!/bin/sh\n{ echo \"$SLIPWAY_ORIGINAL_INSTANCES\"; echo \"token=$SLIPWAY_ADMIN_TOKEN\"; } > \"$1\"\necho terminated\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	w.restart(func(o *orchestrator.Orchestrator) {
		o.ReleaseCommands = map[string][]string{"terminate": {script, out}}
	})
	g := blueGreenGroup(w, traffic.Config{AllAtOnce: true})
	g.BlueGreen.ReleaseCommand, g.BlueGreen.ReleaseWait = "terminate", 100*time.Millisecond
	w.createGroup(g)
	id := w.deploy("shop").ID
	w.wait(id, "the bake", func(d deploy.Deployment) bool { return d.Status == deploy.StatusBaking || d.Status.Finished() })
	d := w.finished(id)
	if d.Status != deploy.StatusSucceeded || !d.Shift.Release.OK || d.Shift.Release.Message != "exit status 0: terminated" {
		t.Fatalf("deployment %v %q release %+v", d.Status, d.Error.Message, d.Shift.Release)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if got := string(b); got != "blue-1 blue-2\ntoken=\n" {
		t.Errorf("the command saw %q, want the originals' names and no token", got)
	}
}

func ptr[T any](v T) *T { return &v }
