package orchestrator_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slipway-deploy/slipway/internal/deploy"
	"github.com/slipway-deploy/slipway/internal/hook"
	"github.com/slipway-deploy/slipway/internal/orchestrator"
	"github.com/slipway-deploy/slipway/internal/rollout"
	"github.com/slipway-deploy/slipway/internal/store"
	"github.com/slipway-deploy/slipway/internal/traffic"
)

// fakeFunctions records the AWS work asked of it. Hooks wait for the test's verdict unless
// verdicts has one for their event.
type fakeFunctions struct {
	mu       sync.Mutex
	log      []string
	verdicts map[string]deploy.EventStatus
}

func (f *fakeFunctions) add(s string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.log = append(f.log, s)
}

func (f *fakeFunctions) asked() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return strings.Join(f.log, ",")
}

func (f *fakeFunctions) Step(_ context.Context, _ deploy.Deployment, event string, _ func() bool) rollout.Outcome {
	f.add(event)
	return rollout.Outcome{Status: deploy.EventSucceeded}
}

func (f *fakeFunctions) Traffic(_ context.Context, _ deploy.Deployment, c deploy.SetTraffic) (string, error) {
	if c.Revert {
		f.add("revert")
	} else {
		f.add(fmt.Sprintf("traffic %d", c.Percent))
	}
	return "", nil
}

func (f *fakeFunctions) Hook(_ context.Context, _ deploy.Deployment, event string, _ int) (rollout.Outcome, bool) {
	f.add("hook " + event)
	f.mu.Lock()
	defer f.mu.Unlock()
	st, ok := f.verdicts[event]
	return rollout.Outcome{Status: st}, ok
}

type fnWorld struct {
	t     *testing.T
	path  string
	store *store.SQLite
	o     *orchestrator.Orchestrator
	fns   *fakeFunctions
	stop  func()
}

func newFnWorld(t *testing.T, fns *fakeFunctions) *fnWorld {
	t.Helper()
	ctx := context.Background()
	w := &fnWorld{t: t, path: filepath.Join(t.TempDir(), "slipway.db"), fns: fns}
	st, err := store.OpenSQLite(ctx, w.path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	w.store = st
	if _, err := st.CreateApplication(ctx, store.Application{Name: "fn", ComputePlatform: store.PlatformLambda}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.CreateGroup(ctx, store.Group{Application: "fn", Name: "live", ConfigName: deploy.ConfigAllAtOnce,
		AWS: store.AWSGroup{Traffic: traffic.Config{AllAtOnce: true}}}); err != nil {
		t.Fatal(err)
	}
	w.start()
	return w
}

func (w *fnWorld) start() {
	w.o = orchestrator.New(w.store, nil, nil)
	w.o.Functions = w.fns
	if err := w.o.Load(context.Background()); err != nil {
		w.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = w.o.Run(ctx); close(done) }()
	w.stop = func() { cancel(); <-done }
	w.t.Cleanup(w.stop)
}

// restart stops the orchestrator and starts another over the same store, as a server restart.
func (w *fnWorld) restart() {
	w.stop()
	w.start()
}

func (w *fnWorld) waitFor(what string, ok func() bool) {
	w.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			w.t.Fatalf("timed out waiting for %s; asked %s", what, w.fns.asked())
		}
		time.Sleep(time.Millisecond)
	}
}

// create starts an all-at-once deployment of fn:live from version 1 to r2.
func (w *fnWorld) create(id string) {
	w.t.Helper()
	d := deploy.Deployment{ID: id, Application: "fn", Group: "live", Revision: "r2", Type: deploy.BlueGreen,
		Platform: deploy.PlatformLambda, Config: deploy.Config{Name: deploy.ConfigAllAtOnce},
		BlueGreen: deploy.BlueGreenOptions{Traffic: traffic.Config{AllAtOnce: true}},
		Function:  deploy.FunctionOptions{Target: "fn:live", Original: "version 1"}, Status: deploy.StatusCreated, CreateTime: time.Now()}
	if _, err := w.o.Create(context.Background(), d, false); err != nil {
		w.t.Fatal(err)
	}
}

func (w *fnWorld) deployment(id string) deploy.Deployment {
	d, _, err := w.o.Get(context.Background(), id)
	if err != nil {
		w.t.Fatal(err)
	}
	return d
}

func TestFunctions_LambdaDeploymentResumesItsHookAfterARestart(t *testing.T) {
	fns := &fakeFunctions{verdicts: map[string]deploy.EventStatus{"AfterAllowTraffic": deploy.EventSucceeded}}
	w := newFnWorld(t, fns)
	w.create("d-fn1")
	w.waitFor("BeforeAllowTraffic", func() bool { return strings.Contains(fns.asked(), "hook BeforeAllowTraffic") })

	w.restart() // the hook's verdict has not come yet
	w.waitFor("the hook asked again", func() bool { return strings.Count(fns.asked(), "hook BeforeAllowTraffic") == 2 })
	if got := strings.Count(fns.asked(), "Start"); got != 1 {
		t.Errorf("Start ran %d times; a restart must not repeat finished steps (%s)", got, fns.asked())
	}
	cur := w.deployment("d-fn1")
	w.o.HookSettled(hook.Execution{Deployment: "d-fn1", Event: "BeforeAllowTraffic", Attempt: cur.Targets[0].Events[1].Attempt, Status: hook.Succeeded})
	w.waitFor("success", func() bool { return w.deployment("d-fn1").Status == deploy.StatusSucceeded })
	if got, want := fns.asked(), "Start,hook BeforeAllowTraffic,hook BeforeAllowTraffic,traffic 100,hook AfterAllowTraffic"; got != want {
		t.Errorf("asked\n %s\nwant\n %s", got, want)
	}
	g, err := w.store.GetGroup(context.Background(), "fn", "live")
	if err != nil || g.CurrentRevision != "r2" {
		t.Errorf("group revision %q, %v; want r2", g.CurrentRevision, err)
	}
}

func TestFunctions_FailedHookReverts(t *testing.T) {
	fns := &fakeFunctions{verdicts: map[string]deploy.EventStatus{"BeforeAllowTraffic": deploy.EventSucceeded, "AfterAllowTraffic": deploy.EventFailed}}
	w := newFnWorld(t, fns)
	w.create("d-fn2")
	w.waitFor("failure", func() bool { return w.deployment("d-fn2").Status == deploy.StatusFailed })
	if got, want := fns.asked(), "Start,hook BeforeAllowTraffic,traffic 100,hook AfterAllowTraffic,revert"; got != want {
		t.Errorf("asked\n %s\nwant\n %s", got, want)
	}
}
