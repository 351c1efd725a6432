package deploy_test

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/slipway-deploy/slipway/internal/deploy"
	"github.com/slipway-deploy/slipway/internal/traffic"
)

// fnDeployment is a deployment of platform p with the given traffic shape.
func fnDeployment(p deploy.Platform, shape traffic.Config) deploy.Deployment {
	d := newDeployment(deploy.Config{Name: "CodeDeployDefault.AllAtOnce"})
	d.Type = deploy.BlueGreen
	d.Platform = p
	d.BlueGreen = deploy.BlueGreenOptions{Traffic: shape}
	d.Function = deploy.FunctionOptions{Target: "fn:live", Original: "version 1", TerminationWait: 5 * time.Minute}
	if p == deploy.PlatformECS {
		d.Function = deploy.FunctionOptions{Target: "prod/web", Original: "the original task set", TerminationWait: 5 * time.Minute}
	}
	return d
}

// fnDriver answers a lambda or ecs deployment's work: its hooks and steps, and its traffic.
type fnDriver struct {
	*driver
	// log is what the runtime was asked, in order: "Start", "hook BeforeAllowTraffic",
	// "traffic 10", "revert".
	log []string
}

func newFnDriver(t *testing.T, d deploy.Deployment) *fnDriver {
	dr := &fnDriver{driver: newDriver(t, d)}
	dr.record(dr.step(deploy.Start{}))
	return dr
}

func (dr *fnDriver) record(effs []deploy.Effect) {
	for _, e := range effs {
		switch e := e.(type) {
		case deploy.InvokeHook:
			dr.log = append(dr.log, "hook "+e.Event)
		case deploy.RunStep:
			dr.log = append(dr.log, e.Event)
		case deploy.SetTraffic:
			if e.Revert {
				dr.log = append(dr.log, "revert")
			} else {
				dr.log = append(dr.log, "traffic "+strconv.Itoa(e.Percent))
			}
		}
	}
}

// answer reports the event in progress with status, when it is a hook or a step.
func (dr *fnDriver) answer(status deploy.EventStatus, msg string) {
	dr.t.Helper()
	h, s, ok := deploy.PendingFunctionWork(dr.r.d)
	if !ok {
		dr.t.Fatalf("no hook or step in progress (status %v, phase %v)", dr.r.d.Status, dr.r.d.Shift.Phase)
	}
	in := deploy.EventReported{Instance: s.Instance, Event: s.Event, Attempt: s.Attempt, Status: status, Diagnostics: deploy.Diagnostics{Message: msg}}
	if h.Event != "" {
		in = deploy.EventReported{Instance: h.Instance, Event: h.Event, Attempt: h.Attempt, Status: status, Diagnostics: deploy.Diagnostics{Message: msg}}
	}
	dr.now = dr.now.Add(time.Second)
	dr.record(dr.step(in))
}

// applied answers the pending traffic change as carried out.
func (dr *fnDriver) applied() {
	dr.t.Helper()
	n := len(dr.r.effects)
	dr.traffic()
	dr.record(dr.r.effects[n:])
}

// tick moves the clock to the next deadline and feeds Tick.
func (dr *fnDriver) tick() {
	dr.t.Helper()
	n := len(dr.r.effects)
	dr.driver.tick()
	dr.record(dr.r.effects[n:])
}

func TestFunction_LambdaCanary(t *testing.T) {
	dr := newFnDriver(t, fnDeployment(deploy.PlatformLambda, traffic.Config{Canary: &traffic.IncrementConfig{Percent: 10, Interval: "5m"}}))
	dr.answer(deploy.EventSucceeded, "alias live on version 1")
	dr.answer(deploy.EventSucceeded, "")
	if got := dr.r.d.Shift.Phase; got != deploy.PhaseAllowTraffic {
		t.Fatalf("phase %v after BeforeAllowTraffic, want AllowTraffic", got)
	}
	dr.applied()
	start := dr.now
	dr.tick()
	if waited := dr.now.Sub(start); waited != 5*time.Minute {
		t.Errorf("canary waited %v, want 5m", waited)
	}
	dr.applied()
	dr.answer(deploy.EventSucceeded, "")
	d := dr.r.d
	if d.Status != deploy.StatusSucceeded {
		t.Fatalf("status %v (%+v), want Succeeded", d.Status, d.Error)
	}
	want := "Start,hook BeforeAllowTraffic,traffic 10,traffic 100,hook AfterAllowTraffic"
	if got := strings.Join(dr.log, ","); got != want {
		t.Errorf("runtime was asked\n %s\nwant\n %s", got, want)
	}
	if g := effectsOf[deploy.SetGroupRevision](dr.r.effects); len(g) != 1 || g[0].Revision != "r2" {
		t.Errorf("group revision effects %+v, want r2", g)
	}
	if h := effectsOf[deploy.SetInstanceHealth](dr.r.effects); len(h) != 0 {
		t.Errorf("instance health effects %+v: the alias is no instance", h)
	}
	if len(d.Shift.Timeline) != 2 || d.Shift.Timeline[0].Percent != 10 || d.Shift.Timeline[1].Percent != 100 {
		t.Errorf("timeline %+v, want 10 then 100", d.Shift.Timeline)
	}
}

func TestFunction_FailedHookReverts(t *testing.T) {
	dr := newFnDriver(t, fnDeployment(deploy.PlatformLambda, traffic.Config{AllAtOnce: true}))
	dr.answer(deploy.EventSucceeded, "")
	dr.answer(deploy.EventSucceeded, "")
	dr.applied()
	dr.answer(deploy.EventFailed, "error rate 12%")
	if dr.r.d.Status.Finished() {
		t.Fatalf("finished before the revert was applied")
	}
	dr.applied()
	d := dr.r.d
	if d.Status != deploy.StatusFailed || d.Error.Code != deploy.ErrorHookExecutionFailure {
		t.Fatalf("status %v %+v, want Failed HOOK_EXECUTION_FAILURE", d.Status, d.Error)
	}
	want := "AfterAllowTraffic failed: error rate 12%; all traffic back on version 1"
	if d.Error.Message != want {
		t.Errorf("message %q, want %q", d.Error.Message, want)
	}
	if got := strings.Join(dr.log, ","); !strings.HasSuffix(got, "hook AfterAllowTraffic,revert") {
		t.Errorf("runtime was asked %s, want it to end with the revert", got)
	}
	if len(effectsOf[deploy.StartRollback](dr.r.effects)) != 0 {
		t.Error("a lambda deployment started a rollback deployment; its revert is the rollback")
	}
}

func TestFunction_NothingToRevertBeforeTraffic(t *testing.T) {
	dr := newFnDriver(t, fnDeployment(deploy.PlatformLambda, traffic.Config{AllAtOnce: true}))
	dr.answer(deploy.EventFailed, "alias live of fn on version 3, not version 1")
	d := dr.r.d
	if d.Status != deploy.StatusFailed || d.Error.Code != deploy.ErrorInvalidLambdaConfiguration {
		t.Fatalf("status %v %+v, want Failed INVALID_LAMBDA_CONFIGURATION", d.Status, d.Error)
	}
	if strings.Contains(strings.Join(dr.log, ","), "revert") {
		t.Errorf("reverted a deployment that changed nothing: %v", dr.log)
	}
}

func TestFunction_HookTimeout(t *testing.T) {
	d := fnDeployment(deploy.PlatformLambda, traffic.Config{AllAtOnce: true})
	d.Function.HookTimeout = 10 * time.Minute
	dr := newFnDriver(t, d)
	dr.answer(deploy.EventSucceeded, "")
	start := dr.now
	dr.tick()
	if got := dr.now.Sub(start); got != 10*time.Minute {
		t.Errorf("hook timed out after %v, want 10m", got)
	}
	if dr.r.d.Status != deploy.StatusFailed || !strings.Contains(dr.r.d.Error.Message, "did not report its verdict within 600s") {
		t.Errorf("status %v %+v", dr.r.d.Status, dr.r.d.Error)
	}
}

func TestFunction_StopDuringShiftReverts(t *testing.T) {
	dr := newFnDriver(t, fnDeployment(deploy.PlatformLambda, traffic.Config{Linear: &traffic.IncrementConfig{Percent: 25, Interval: "1m"}}))
	dr.answer(deploy.EventSucceeded, "")
	dr.answer(deploy.EventSucceeded, "")
	dr.applied()
	dr.tick()
	dr.applied()
	dr.record(dr.step(deploy.StopRequested{Alarm: true, Message: "errors: 5xx rate 9%"}))
	dr.applied()
	d := dr.r.d
	if d.Status != deploy.StatusStopped || d.Error.Code != deploy.ErrorAlarmActive {
		t.Fatalf("status %v %+v, want Stopped ALARM_ACTIVE", d.Status, d.Error)
	}
	if got := strings.Join(dr.log, ","); got != "Start,hook BeforeAllowTraffic,traffic 25,traffic 50,revert" {
		t.Errorf("runtime was asked %s", got)
	}
	if tl := d.Shift.Timeline; tl[len(tl)-1].Percent != 0 {
		t.Errorf("timeline %+v, want it to end at 0", tl)
	}
}

func TestFunction_ECSBlueGreen(t *testing.T) {
	dr := newFnDriver(t, fnDeployment(deploy.PlatformECS, traffic.Config{Linear: &traffic.IncrementConfig{Percent: 50, Interval: "1m"}}))
	for range 6 { // Start, BeforeInstall, Install, AfterInstall, AllowTestTraffic, AfterAllowTestTraffic
		if dr.r.d.Shift.Phase != deploy.PhaseInstall {
			t.Fatalf("phase %v before traffic, want Install", dr.r.d.Shift.Phase)
		}
		dr.answer(deploy.EventSucceeded, "")
	}
	dr.answer(deploy.EventSucceeded, "") // BeforeAllowTraffic
	dr.applied()
	dr.tick()
	dr.applied()
	dr.answer(deploy.EventSucceeded, "") // AfterAllowTraffic
	dr.answer(deploy.EventSucceeded, "") // TerminationWait: the replacement is primary
	if dr.r.d.Status != deploy.StatusBaking {
		t.Fatalf("status %v after the replacement became primary, want Baking", dr.r.d.Status)
	}
	start := dr.now
	dr.tick()
	if got := dr.now.Sub(start); got != 5*time.Minute {
		t.Errorf("termination wait %v, want 5m", got)
	}
	dr.answer(deploy.EventSucceeded, "") // TerminateOriginalTaskSet
	if dr.r.d.Status != deploy.StatusSucceeded {
		t.Fatalf("status %v %+v, want Succeeded", dr.r.d.Status, dr.r.d.Error)
	}
	want := "Start,hook BeforeInstall,Install,hook AfterInstall,AllowTestTraffic,hook AfterAllowTestTraffic," +
		"hook BeforeAllowTraffic,traffic 50,traffic 100,hook AfterAllowTraffic,TerminationWait,TerminateOriginalTaskSet"
	if got := strings.Join(dr.log, ","); got != want {
		t.Errorf("runtime was asked\n %s\nwant\n %s", got, want)
	}
}

func TestFunction_ECSRevertsAReplacementBeforeTraffic(t *testing.T) {
	dr := newFnDriver(t, fnDeployment(deploy.PlatformECS, traffic.Config{AllAtOnce: true}))
	dr.answer(deploy.EventSucceeded, "") // Start
	dr.answer(deploy.EventSucceeded, "") // BeforeInstall
	dr.answer(deploy.EventFailed, "the replacement task set never became steady")
	dr.applied()
	d := dr.r.d
	if d.Status != deploy.StatusFailed || d.Error.Code != deploy.ErrorECSUpdate {
		t.Fatalf("status %v %+v, want Failed ECS_UPDATE_ERROR", d.Status, d.Error)
	}
	if !strings.HasSuffix(d.Error.Message, "; all traffic and the primary task set back on the original task set") {
		t.Errorf("message %q", d.Error.Message)
	}
	if got := strings.Join(dr.log, ","); got != "Start,hook BeforeInstall,Install,revert" {
		t.Errorf("runtime was asked %s", got)
	}
}

func TestFunction_ECSStopDuringTerminationWait(t *testing.T) {
	dr := newFnDriver(t, fnDeployment(deploy.PlatformECS, traffic.Config{AllAtOnce: true}))
	for range 7 {
		dr.answer(deploy.EventSucceeded, "")
	}
	dr.applied()
	dr.answer(deploy.EventSucceeded, "") // AfterAllowTraffic
	dr.answer(deploy.EventSucceeded, "") // TerminationWait
	dr.record(dr.step(deploy.StopRequested{Message: "stopped by a user"}))
	dr.applied()
	d := dr.r.d
	if d.Status != deploy.StatusStopped {
		t.Fatalf("status %v, want Stopped", d.Status)
	}
	if !strings.HasSuffix(strings.Join(dr.log, ","), "TerminationWait,revert") {
		t.Errorf("runtime was asked %v", dr.log)
	}
}

func TestFunction_ContinueEndsTheTerminationWait(t *testing.T) {
	dr := newFnDriver(t, fnDeployment(deploy.PlatformECS, traffic.Config{AllAtOnce: true}))
	for range 7 {
		dr.answer(deploy.EventSucceeded, "")
	}
	dr.applied()
	dr.answer(deploy.EventSucceeded, "")
	dr.answer(deploy.EventSucceeded, "")
	dr.record(dr.step(deploy.Continue{}))
	if got := dr.log[len(dr.log)-1]; got != deploy.EventTerminateOriginal {
		t.Fatalf("after continue the runtime was asked %s, want %s", got, deploy.EventTerminateOriginal)
	}
	expectIgnored(t, dr.r.d, deploy.StopRequested{}, dr.now, deploy.ErrWrongStatus)
	dr.answer(deploy.EventSucceeded, "")
	if dr.r.d.Status != deploy.StatusSucceeded {
		t.Fatalf("status %v", dr.r.d.Status)
	}
}

func TestFunction_PendingWorkAfterARestart(t *testing.T) {
	dr := newFnDriver(t, fnDeployment(deploy.PlatformLambda, traffic.Config{AllAtOnce: true}))
	_, s, ok := deploy.PendingFunctionWork(dr.r.d)
	if !ok || s.Event != deploy.EventStart {
		t.Fatalf("pending work %+v %v, want the Start step", s, ok)
	}
	dr.answer(deploy.EventSucceeded, "")
	h, _, ok := deploy.PendingFunctionWork(dr.r.d)
	if !ok || h.Event != "BeforeAllowTraffic" || h.Instance != "fn:live" || h.Attempt != 2 {
		t.Fatalf("pending hook %+v %v", h, ok)
	}
	if _, ok := deploy.CommandFor(dr.r.d, "fn:live"); ok {
		t.Error("an agent could poll a command of a lambda deployment")
	}
}
