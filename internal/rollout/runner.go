package rollout

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/slipway-deploy/slipway/internal/hook"
	"github.com/slipway-deploy/slipway/internal/traffic"
)

// Defaults of a Runner.
const (
	// DefaultPollInterval is how often alarms are read while the deployment waits, and how
	// often a waiting step (a task set stabilising) is polled.
	DefaultPollInterval = 15 * time.Second
	// DefaultHookTimeout is how long a hook has to report its verdict, as CodeDeploy gives
	// hooks one hour.
	DefaultHookTimeout = time.Hour
)

// Clock is the time a Runner reads and waits on.
type Clock interface {
	Now() time.Time
	// Timer returns a channel that receives once, d from now, and a func that stops it.
	Timer(d time.Duration) (<-chan time.Time, func() bool)
}

type realClock struct{}

// RealClock is the wall clock.
func RealClock() Clock { return realClock{} }

func (realClock) Now() time.Time { return time.Now() }

func (realClock) Timer(d time.Duration) (<-chan time.Time, func() bool) {
	t := time.NewTimer(d)
	return t.C, t.Stop
}

// Alarms says whether the group's alarms want the deployment stopped, and why.
type Alarms interface {
	Check(ctx context.Context) (reason string, stop bool)
}

// AlarmFunc adapts a function to Alarms, such as
//
//	rollout.AlarmFunc(func(ctx context.Context) (string, bool) { return poller.Poll(ctx).Trip(ignore) })
type AlarmFunc func(ctx context.Context) (string, bool)

// Check calls f.
func (f AlarmFunc) Check(ctx context.Context) (string, bool) { return f(ctx) }

// Status is how a run ended, named as CodeDeploy names deployment statuses.
type Status int

const (
	// Succeeded runs carried out every step.
	Succeeded Status = iota + 1
	// Failed runs had a step, a hook or an alarm fail them; what they changed was reverted.
	Failed
	// Stopped runs were stopped on request; what they changed was reverted.
	Stopped
	// Interrupted runs ended with their context (a server shutting down): nothing was
	// reverted, and a new Runner can resume the deployment.
	Interrupted
)

var statusNames = [...]string{"", "Succeeded", "Failed", "Stopped", "Interrupted"}

func (s Status) String() string { return enumName(statusNames[:], int(s)) }

func enumName(names []string, i int) string {
	if i <= 0 || i >= len(names) {
		return fmt.Sprintf("unknown(%d)", i)
	}
	return names[i]
}

// Result is how a run ended.
type Result struct {
	Status Status
	// Err says why a run did not succeed.
	Err error
	// Reverted says the run's changes were undone; RevertErr why undoing them failed.
	Reverted  bool
	RevertErr error
}

// Kind says what a Record tells.
type Kind int

const (
	// EventStarted says a lifecycle event began.
	EventStarted Kind = iota + 1
	// EventSucceeded says a lifecycle event ended well.
	EventSucceeded
	// EventFailed says a lifecycle event failed; Message says why.
	EventFailed
	// EventSkipped says a lifecycle event had nothing to do (a hook the AppSpec does not name).
	EventSkipped
	// WeightSet says Weight percent of the traffic now goes to the replacement.
	WeightSet
	// Waiting says the run waits for what Message tells (a pause, a promotion, a task set).
	Waiting
	// Reverted says the run's changes were undone.
	Reverted
	// RevertFailed says undoing the run's changes failed; Message says why.
	RevertFailed
)

var kindNames = [...]string{"", "EventStarted", "EventSucceeded", "EventFailed", "EventSkipped", "WeightSet", "Waiting", "Reverted", "RevertFailed"}

func (k Kind) String() string { return enumName(kindNames[:], int(k)) }

// Record is one thing that happened during a run.
type Record struct {
	At      time.Time
	Kind    Kind
	Event   string
	Weight  int
	Message string
}

// Runner carries out plans. Make one with NewRunner (Promote and Stop need its channels), set
// its fields before Run; Promote and Stop may be called from any goroutine while it runs.
type Runner struct {
	Clock Clock
	// Hooks invokes the plan's hooks; nil fails a plan that has any.
	Hooks *hook.Caller
	// Alarms, when set, is checked before every weight change and every PollInterval while the
	// run waits.
	Alarms Alarms
	// Analyze runs a traffic shape's analysis step once; nil fails a shape that has any.
	Analyze func(ctx context.Context, name string) error
	// Observe receives every Record as it happens; it must not block.
	Observe      func(Record)
	PollInterval time.Duration
	HookTimeout  time.Duration

	promote chan struct{}
	stop    chan string
}

// NewRunner returns a Runner with the defaults, on clock.
func NewRunner(clock Clock, hooks *hook.Caller) *Runner {
	return &Runner{Clock: clock, Hooks: hooks, PollInterval: DefaultPollInterval, HookTimeout: DefaultHookTimeout,
		promote: make(chan struct{}, 1), stop: make(chan string, 1)}
}

// Promote opens the gate the run waits at: a pause until promoted, or the termination wait. A
// promotion sent before the run reaches a gate opens the next gate at once.
func (r *Runner) Promote() {
	select {
	case r.promote <- struct{}{}:
	default:
	}
}

// Stop stops the run and reverts what it changed. The first reason given is kept.
func (r *Runner) Stop(reason string) {
	select {
	case r.stop <- reason:
	default:
	}
}

// Step is one lifecycle event of a plan. A step with Hook invokes it and waits for its
// verdict; Do, then Poll until it reports done (at most Timeout), carry out the platform's
// work; Traffic walks the traffic shape; Wait waits, and a promotion ends the wait early. A step
// with none of these is recorded as skipped.
type Step struct {
	Event   string
	Hook    *hook.Target
	Do      func(ctx context.Context) error
	Poll    func(ctx context.Context) (done bool, detail string, err error)
	Timeout time.Duration
	Traffic func(ctx context.Context, percent int) error
	Wait    time.Duration
	// Changes says the step changes AWS resources, so a failure from it on reverts.
	Changes bool
}

// Plan is a deployment's steps and how to undo them.
type Plan struct {
	Deployment string
	Steps      []Step
	Revert     func(ctx context.Context) error
}

// errStopped and the alarm error are what a wait ends with instead of its condition.
var errStopped = errors.New("deployment stopped")

// alarmError is a firing alarm.
type alarmError struct{ reason string }

func (e *alarmError) Error() string { return "alarm: " + e.reason }

// ErrAlarm marks a run stopped by an alarm; errors.Is finds it in Result.Err.
var ErrAlarm = errors.New("alarm fired")

func (e *alarmError) Is(target error) bool { return target == ErrAlarm }

// Run carries out plan with shape for its traffic step. It returns once the plan is done, has
// failed and been reverted, or ctx ends.
func (r *Runner) Run(ctx context.Context, plan Plan, shape traffic.Shape) Result {
	if err := r.check(plan, shape); err != nil {
		return Result{Status: Failed, Err: err}
	}
	changed := false
	for _, st := range plan.Steps {
		err := r.interrupted(ctx)
		if err == nil {
			changed = changed || st.Changes
			err = r.step(ctx, plan, st, shape)
		}
		if err != nil {
			r.record(Record{Kind: EventFailed, Event: st.Event, Message: err.Error()})
			return r.fail(ctx, plan, err, changed)
		}
	}
	return Result{Status: Succeeded}
}

// check refuses, before anything changes, a plan the runner could not finish.
func (r *Runner) check(plan Plan, shape traffic.Shape) error {
	for _, st := range plan.Steps {
		if st.Hook != nil && r.Hooks == nil {
			return fmt.Errorf("hook %s of %s cannot run: the server has no hook caller", st.Hook, st.Event)
		}
		if st.Traffic != nil && len(shape.Steps) == 0 {
			return fmt.Errorf("%w: the deployment has no traffic shape", traffic.ErrInvalidShape)
		}
	}
	for i, s := range shape.Steps {
		if s.Kind == traffic.Analysis && r.Analyze == nil {
			return fmt.Errorf("%w: steps[%d] runs analysis %q, but this platform has no analyses; use a pause and the group's alarms", traffic.ErrInvalidShape, i, s.Analysis)
		}
	}
	return nil
}

// fail ends a run: it reverts unless the run was interrupted or changed nothing.
func (r *Runner) fail(ctx context.Context, plan Plan, err error, changed bool) Result {
	res := Result{Status: Failed, Err: err}
	switch {
	case ctx.Err() != nil:
		return Result{Status: Interrupted, Err: ctx.Err()}
	case errors.Is(err, errStopped):
		res.Status = Stopped
	}
	if !changed || plan.Revert == nil {
		return res
	}
	if rerr := plan.Revert(ctx); rerr != nil {
		res.RevertErr = rerr
		r.record(Record{Kind: RevertFailed, Message: rerr.Error()})
		return res
	}
	res.Reverted = true
	r.record(Record{Kind: Reverted, Message: err.Error()})
	return res
}

func (r *Runner) record(rec Record) {
	if r.Observe == nil {
		return
	}
	rec.At = r.Clock.Now()
	r.Observe(rec)
}

func (r *Runner) step(ctx context.Context, plan Plan, st Step, shape traffic.Shape) error {
	if st.Hook == nil && st.Do == nil && st.Poll == nil && st.Traffic == nil && st.Wait == 0 {
		r.record(Record{Kind: EventSkipped, Event: st.Event})
		return nil
	}
	r.record(Record{Kind: EventStarted, Event: st.Event})
	var err error
	switch {
	case st.Hook != nil:
		err = r.runHook(ctx, plan.Deployment, st)
	case st.Traffic != nil:
		err = r.shift(ctx, st, shape)
	default:
		err = r.work(ctx, st)
	}
	if err != nil {
		return err
	}
	r.record(Record{Kind: EventSucceeded, Event: st.Event})
	return nil
}

// work runs Do, then polls until done, then waits.
func (r *Runner) work(ctx context.Context, st Step) error {
	if st.Do != nil {
		if err := st.Do(ctx); err != nil {
			return err
		}
	}
	if err := r.poll(ctx, st); err != nil {
		return err
	}
	if st.Wait <= 0 {
		return nil
	}
	r.record(Record{Kind: Waiting, Event: st.Event, Message: fmt.Sprintf("%v, or until promoted", st.Wait)})
	if err := r.wait(ctx, st.Wait, nil, true); err != nil && !errors.Is(err, errTimeout) {
		return err
	}
	return nil
}

// poll calls Poll until it reports done, at most Timeout.
func (r *Runner) poll(ctx context.Context, st Step) error {
	if st.Poll == nil {
		return nil
	}
	start := r.Clock.Now()
	last := ""
	for {
		done, detail, err := st.Poll(ctx)
		if err != nil || done {
			return err
		}
		if detail != last {
			r.record(Record{Kind: Waiting, Event: st.Event, Message: detail})
			last = detail
		}
		left := st.Timeout - r.Clock.Now().Sub(start)
		if st.Timeout > 0 && left <= 0 {
			return fmt.Errorf("%s did not finish within %v: %s", st.Event, st.Timeout, detail)
		}
		next := r.interval()
		if st.Timeout > 0 {
			next = min(next, left)
		}
		if err := r.wait(ctx, next, nil, false); err != nil && !errors.Is(err, errTimeout) {
			return err
		}
	}
}

func (r *Runner) interval() time.Duration {
	if r.PollInterval > 0 {
		return r.PollInterval
	}
	return DefaultPollInterval
}

// runHook invokes the step's hook and waits for its verdict.
func (r *Runner) runHook(ctx context.Context, deployment string, st Step) error {
	id, err := r.Hooks.Start(ctx, deployment, st.Event, *st.Hook)
	if err != nil {
		return fmt.Errorf("hook %s: %w", st.Hook, err)
	}
	board := r.Hooks.Board()
	defer board.Close(id)
	timeout := r.HookTimeout
	if timeout <= 0 {
		timeout = DefaultHookTimeout
	}
	if err := r.wait(ctx, timeout, board.Done(id), false); err != nil {
		if errors.Is(err, errTimeout) {
			return fmt.Errorf("hook %s did not report a status within %v", st.Hook, timeout)
		}
		return err
	}
	exec, _ := board.Get(id)
	if exec.Status != hook.Succeeded {
		msg := fmt.Sprintf("hook %s reported %s", st.Hook, exec.Status)
		if exec.Message != "" {
			msg += ": " + exec.Message
		}
		return errors.New(msg)
	}
	return nil
}

// shift walks the shape, checking the alarms before each change of weight.
func (r *Runner) shift(ctx context.Context, st Step, shape traffic.Shape) error {
	for i, s := range shape.Steps {
		var err error
		switch s.Kind {
		case traffic.SetWeight:
			if err = r.interrupted(ctx); err != nil {
				return err
			}
			if err = st.Traffic(ctx, s.Weight); err == nil {
				r.record(Record{Kind: WeightSet, Event: st.Event, Weight: s.Weight})
			}
		case traffic.Pause:
			r.record(Record{Kind: Waiting, Event: st.Event, Message: s.Duration.String()})
			err = r.wait(ctx, s.Duration, nil, false)
		case traffic.AwaitPromotion:
			r.record(Record{Kind: Waiting, Event: st.Event, Message: "until promoted"})
			err = r.wait(ctx, -1, nil, true)
		case traffic.Analysis:
			err = r.analyze(ctx, s)
		}
		if err != nil && !errors.Is(err, errTimeout) {
			return fmt.Errorf("traffic step %d (%s): %w", i, s.Kind, err)
		}
	}
	return nil
}

// analyze runs an analysis once, or every PollInterval for its duration.
func (r *Runner) analyze(ctx context.Context, s traffic.Step) error {
	end := r.Clock.Now().Add(s.Duration)
	for {
		if err := r.Analyze(ctx, s.Analysis); err != nil {
			return fmt.Errorf("analysis %s: %w", s.Analysis, err)
		}
		left := end.Sub(r.Clock.Now())
		if left <= 0 {
			return nil
		}
		if err := r.wait(ctx, min(left, r.interval()), nil, false); err != nil && !errors.Is(err, errTimeout) {
			return err
		}
	}
}

// interrupted reports a stop asked, an alarm firing, or ctx ending, before the run changes
// anything more.
func (r *Runner) interrupted(ctx context.Context) error {
	select {
	case reason := <-r.stop:
		return fmt.Errorf("%w: %s", errStopped, reason)
	default:
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	return r.alarms(ctx)
}

// alarms reads the alarms once.
func (r *Runner) alarms(ctx context.Context) error {
	if r.Alarms == nil {
		return nil
	}
	if reason, stop := r.Alarms.Check(ctx); stop {
		return &alarmError{reason: reason}
	}
	return nil
}

// errTimeout is what wait returns when d passes: the end of a pause, the timeout of a hook.
var errTimeout = errors.New("wait timed out")

// wait blocks until done is closed (nil means never), d passes (d < 0: never), a promotion
// arrives when promotable, a stop is asked, an alarm fires, or ctx ends. It returns nil when
// done closes or a promotion arrives, errTimeout when d passes.
func (r *Runner) wait(ctx context.Context, d time.Duration, done <-chan struct{}, promotable bool) error {
	start := r.Clock.Now()
	var promote chan struct{}
	if promotable {
		promote = r.promote
	}
	for {
		// What has already happened wins over a timer that fires at the same moment.
		select {
		case <-done:
			return nil
		case <-promote:
			return nil
		case reason := <-r.stop:
			return fmt.Errorf("%w: %s", errStopped, reason)
		default:
		}
		wake := time.Duration(-1)
		if d >= 0 {
			wake = max(d-r.Clock.Now().Sub(start), 0)
		}
		if r.Alarms != nil && (wake < 0 || r.interval() < wake) {
			wake = r.interval()
		}
		var timer <-chan time.Time
		stop := func() bool { return false }
		if wake >= 0 {
			timer, stop = r.Clock.Timer(wake)
		}
		select {
		case <-done:
			stop()
			return nil
		case <-promote:
			stop()
			return nil
		case reason := <-r.stop:
			stop()
			return fmt.Errorf("%w: %s", errStopped, reason)
		case <-ctx.Done():
			stop()
			return ctx.Err()
		case <-timer:
		}
		if err := r.alarms(ctx); err != nil {
			return err
		}
		if d >= 0 && r.Clock.Now().Sub(start) >= d {
			return errTimeout
		}
	}
}
