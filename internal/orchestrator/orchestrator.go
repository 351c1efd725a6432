package orchestrator

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/slipway-deploy/slipway/internal/deploy"
	"github.com/slipway-deploy/slipway/internal/store"
)

// ErrNotFound means no such deployment, or a command that is not this host's.
var ErrNotFound = errors.New("not found")

// Orchestrator owns the active deployments. Create it with New and run it with Run.
type Orchestrator struct {
	store Store
	log   *slog.Logger
	now   func() time.Time

	mu     sync.Mutex
	active map[string]*entry
	// polls holds, per instance, a channel closed when that instance may have a new command.
	polls map[string]chan struct{}
	// changes holds, per deployment, a channel closed at its next change (for watchers).
	changes map[string]chan struct{}
	// sent counts how often each host's command was handed out, to record a re-send after an
	// agent lost a command (it asked again for the same event). A command id names deployment,
	// event and attempt, not the host: every host of an AllAtOnce batch gets the same id.
	sent map[sentKey]int
	wake chan struct{}

	// Lease is given to the deployments the orchestrator creates itself (auto-updates).
	Lease time.Duration
	// Observe, when set, is called with a deployment's id after each change of it is stored,
	// outside the orchestrator's locks. It must not block: reporters note the id and return.
	Observe func(id string)
	// NewRouter connects a group's traffic router (NewHAProxyRouter unless set).
	NewRouter func(deploy.Router) (Router, error)
	// DrainTimeout bounds the wait for a drained server's open requests (DefaultDrainTimeout).
	DrainTimeout time.Duration
	// ReleaseCommands are the commands a blue/green group may name to release its original
	// instances, by name: the argv to run (ReleaseTimeout bounds it, DefaultReleaseTimeout
	// unless set).
	ReleaseCommands map[string][]string
	ReleaseTimeout  time.Duration
	// Alarms reads groups' alarms while their deployments run; nil reads none. AlarmInterval is
	// how often (DefaultAlarmInterval unless set).
	Alarms        Alarms
	AlarmInterval time.Duration
	// Functions carries out lambda and ecs deployments' AWS work; nil fails their steps.
	Functions Functions
	// catchUp serialises auto-update decisions, so two hosts joining at once start one deployment.
	catchUp sync.Mutex

	bg      background
	routers routers
	fns     fnQueues
}

type entry struct {
	d       deploy.Deployment
	version int
	// active is whether the deployment holds its group (it may start or is running).
	active bool
	queue  []*request
	busy   bool
}

// sentKey is one host's command.
type sentKey struct {
	deployment, instance, command string
}

type request struct {
	in   deploy.Input
	done chan error
	// after is the deployment as the batch that decided in left it, set before done is sent, so
	// that no caller looks it up again (from the store, with every target, once it finished).
	after deploy.Deployment
}

// New returns an orchestrator over store. now is the clock (time.Now when nil).
func New(store Store, log *slog.Logger, now func() time.Time) *Orchestrator {
	if now == nil {
		now = time.Now
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Orchestrator{
		store:     store,
		log:       log,
		now:       now,
		active:    map[string]*entry{},
		polls:     map[string]chan struct{}{},
		changes:   map[string]chan struct{}{},
		sent:      map[sentKey]int{},
		wake:      make(chan struct{}, 1),
		NewRouter: NewHAProxyRouter(log),
	}
}

// Load reads the unfinished deployments from the store and starts those that hold their group but
// never started: the work a killed server left. Call it before serving agents.
func (o *Orchestrator) Load(ctx context.Context) error {
	list, err := o.store.ActiveDeployments(ctx)
	if err != nil {
		return fmt.Errorf("load active deployments: %w", err)
	}
	var toStart []string
	for _, v := range list {
		d := v.Deployment
		holds := false
		if !started(d) {
			g, err := o.store.GetGroup(ctx, d.Application, d.Group)
			if err != nil {
				return fmt.Errorf("load deployment %s: %w", d.ID, err)
			}
			holds = g.Queue.Active == d.ID
		}
		o.mu.Lock()
		o.active[d.ID] = &entry{d: d, version: v.Version, active: holds || started(d)}
		o.mu.Unlock()
		if holds {
			toStart = append(toStart, d.ID)
		}
	}
	o.log.Info("loaded active deployments", "count", len(list), "to_start", len(toStart))
	if err := o.resumeTraffic(ctx, list); err != nil {
		return err
	}
	for _, id := range toStart {
		if err := o.start(ctx, id); err != nil {
			o.log.Error("start deployment", "deployment_id", id, "error", err)
		}
	}
	o.kick()
	return nil
}

func started(d deploy.Deployment) bool {
	return d.Status != deploy.StatusCreated && d.Status != deploy.StatusQueued
}

// resumeTraffic gives the routers back what a killed server left them: each group's desired
// state, as its newest deployment that asked the router for anything wants it (a restarted
// server's router drivers start knowing nothing, and would not put it back after an HAProxy
// reload), then the changes and release commands the active deployments still wait on.
func (o *Orchestrator) resumeTraffic(ctx context.Context, active []store.Versioned) error {
	apps, err := o.store.ListApplications(ctx)
	if err != nil {
		return fmt.Errorf("resume traffic: %w", err)
	}
	for _, a := range apps {
		groups, err := o.store.ListGroups(ctx, a.Name)
		if err != nil {
			return fmt.Errorf("resume traffic: %w", err)
		}
		for _, g := range groups {
			if !g.Router.Enabled() {
				continue
			}
			recent, err := o.store.ListDeployments(ctx, store.DeploymentFilter{Application: g.Application, Group: g.Name, Limit: 20})
			if err != nil {
				return fmt.Errorf("resume traffic: %w", err)
			}
			for _, v := range recent {
				if st, ok := deploy.DesiredTraffic(v.Deployment); ok {
					o.enqueue(trafficJob{change: st})
					break
				}
			}
		}
	}
	for _, v := range active {
		if v.Deployment.Platform != deploy.PlatformServer {
			o.resumeFunction(v.Deployment)
			continue
		}
		for _, st := range deploy.PendingTraffic(v.Deployment) {
			o.enqueue(trafficJob{change: st, report: true})
		}
		if r, ok := deploy.PendingRelease(v.Deployment); ok {
			o.bg.Go(func(ctx context.Context) { o.release(ctx, r) })
		}
	}
	return nil
}

// Run expires leases and ends timed waits until ctx ends: at each deadline it feeds Tick to the
// deployment. It also runs the routers' queues, release commands and the alarm watch, and waits
// for them before it returns.
func (o *Orchestrator) Run(ctx context.Context) error {
	o.bg.start(ctx)
	defer o.bg.wait()
	o.bg.Go(o.watchAlarms)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		next, ids := o.due()
		for _, id := range ids {
			if _, err := o.Apply(ctx, id, deploy.Tick{}); err != nil && !ignorable(err) {
				o.log.Error("expire leases", "deployment_id", id, "error", err)
			}
		}
		wait := time.Hour
		if !next.IsZero() {
			wait = max(next.Sub(o.now()), 0)
		}
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			return nil
		case <-timer.C:
		case <-o.wake:
			if !timer.Stop() {
				select {
				case <-timer.C:
				default:
				}
			}
		}
	}
}

// due returns the deployments whose next lease deadline has passed, and the earliest future one.
func (o *Orchestrator) due() (next time.Time, ids []string) {
	now := o.now()
	o.mu.Lock()
	defer o.mu.Unlock()
	for id, e := range o.active {
		dl, ok := deploy.NextDeadline(e.d)
		if !ok {
			continue
		}
		if !dl.After(now) {
			ids = append(ids, id)
			continue
		}
		if next.IsZero() || dl.Before(next) {
			next = dl
		}
	}
	sort.Strings(ids)
	return next, ids
}

func (o *Orchestrator) kick() {
	select {
	case o.wake <- struct{}{}:
	default:
	}
}

// Create stores a new deployment and starts it if its group is free; otherwise it waits in the
// group's queue (or is refused with deploy.ErrGroupBusy when the group says so).
func (o *Orchestrator) Create(ctx context.Context, d deploy.Deployment, refuseWhenBusy bool) (deploy.Deployment, error) {
	d, adm, err := o.store.CreateDeployment(ctx, d, refuseWhenBusy)
	if err != nil {
		return d, err
	}
	return o.Admitted(ctx, d, adm)
}

// Admitted takes charge of a deployment the store has just created and admitted (as Create
// does after storing it, for callers that create through another store call): it starts the
// deployment when adm says it holds its group, and records it as queued otherwise.
func (o *Orchestrator) Admitted(ctx context.Context, d deploy.Deployment, adm deploy.Admission) (deploy.Deployment, error) {
	o.mu.Lock()
	o.active[d.ID] = &entry{d: d, version: 1, active: adm == deploy.AdmitStart}
	o.mu.Unlock()
	// A queued deployment may not change again for a long time; observers hear of it now.
	o.observe(d.ID)
	if adm == deploy.AdmitStart {
		if err := o.start(ctx, d.ID); err != nil {
			return d, err
		}
	} else if _, err := o.Apply(ctx, d.ID, deploy.Enqueue{}); err != nil && !ignorable(err) {
		return d, err
	}
	got, _, err := o.Get(ctx, d.ID)
	return got, err
}

// start gives a deployment that holds its group its targets: the group's instances as they are now.
func (o *Orchestrator) start(ctx context.Context, id string) error {
	o.mu.Lock()
	e := o.active[id]
	var d deploy.Deployment
	if e != nil {
		d = e.d
		e.active = true
	}
	o.mu.Unlock()
	if e == nil {
		return fmt.Errorf("start %s: %w", id, ErrNotFound)
	}
	in, err := startInput(ctx, o.store, d)
	if err != nil {
		return fmt.Errorf("start %s: list targets: %w", id, err)
	}
	if d.Router.Enabled() {
		in.Backend = o.backendAtStart(ctx, d.Router)
	}
	_, err = o.Apply(ctx, id, in)
	if err != nil && !ignorable(err) {
		return fmt.Errorf("start %s: %w", id, err)
	}
	return nil
}

// ignorable is a Decide error that only means the input was late or a duplicate.
func ignorable(err error) bool {
	return errors.Is(err, deploy.ErrStale) || errors.Is(err, deploy.ErrFinished)
}

// Get returns a deployment: from memory while active, from the store once finished.
func (o *Orchestrator) Get(ctx context.Context, id string) (deploy.Deployment, <-chan struct{}, error) {
	o.mu.Lock()
	if e, ok := o.active[id]; ok {
		d, ch := e.d, o.changeChan(id)
		o.mu.Unlock()
		return d, ch, nil
	}
	o.mu.Unlock()
	v, err := o.store.GetDeployment(ctx, id)
	return v.Deployment, nil, err
}

func (o *Orchestrator) changeChan(id string) chan struct{} {
	ch, ok := o.changes[id]
	if !ok {
		ch = make(chan struct{})
		o.changes[id] = ch
	}
	return ch
}

// Apply feeds one input to a deployment and returns the deployment after it.
//
// Inputs that arrive while another caller is storing the same deployment are decided and stored
// together by that caller in one transaction (group commit): a thousand agents reporting at once
// cost a handful of transactions, not a thousand.
func (o *Orchestrator) Apply(ctx context.Context, id string, in deploy.Input) (deploy.Deployment, error) {
	o.mu.Lock()
	e, ok := o.active[id]
	if !ok {
		o.mu.Unlock()
		v, err := o.store.GetDeployment(ctx, id)
		if err != nil {
			return deploy.Deployment{}, err
		}
		// Not active means finished: let Decide say so in its words.
		_, _, err = deploy.Decide(v.Deployment, in, o.now())
		return v.Deployment, err
	}
	req := &request{in: in, done: make(chan error, 1)}
	e.queue = append(e.queue, req)
	if e.busy {
		o.mu.Unlock()
		select {
		case err := <-req.done:
			return req.after, err
		case <-ctx.Done():
			return deploy.Deployment{}, ctx.Err()
		}
	}
	e.busy = true
	var follow []func()
	changed := false
	for len(e.queue) > 0 {
		batch := e.queue
		e.queue = nil
		d, version := e.d, e.version
		o.mu.Unlock()
		nd, nversion, effects, saved, errs := o.decideAndSave(context.WithoutCancel(ctx), d, version, batch)
		o.mu.Lock()
		if nversion != version {
			e.d, e.version = nd, nversion
			changed = true
			follow = append(follow, o.act(e, effects, saved)...)
		}
		for i, r := range batch {
			r.after = e.d
			r.done <- errs[i]
		}
	}
	e.busy = false
	if e.d.Status.Finished() {
		delete(o.active, id)
	}
	o.mu.Unlock()
	if changed {
		o.observe(id)
	}
	for _, f := range follow {
		f()
	}
	err := <-req.done
	return req.after, err
}

// decideAndSave decides a batch of inputs and stores the result, retrying on a version conflict
// with the stored state. errs has one entry per request.
func (o *Orchestrator) decideAndSave(ctx context.Context, d deploy.Deployment, version int, batch []*request) (deploy.Deployment, int, []deploy.Effect, store.Saved, []error) {
	ins := make([]deploy.Input, len(batch))
	for i, r := range batch {
		ins[i] = r.in
	}
	for attempt := 0; ; attempt++ {
		cur, effects, errs := deploy.DecideAll(d, ins, o.now())
		if !slices.Contains(errs, nil) {
			return d, version, nil, store.Saved{}, errs
		}
		saved, err := o.store.SaveDeployment(ctx, cur, version, effects)
		if err == nil {
			return cur, saved.Version, effects, saved, errs
		}
		if errors.Is(err, store.ErrVersionConflict) && attempt < 3 {
			fresh, gerr := o.store.GetDeployment(ctx, d.ID)
			if gerr == nil {
				d, version = fresh.Deployment, fresh.Version
				continue
			}
			err = gerr
		}
		for i := range errs {
			if errs[i] == nil {
				errs[i] = fmt.Errorf("store deployment %s: %w", d.ID, err)
			}
		}
		return d, version, nil, store.Saved{}, errs
	}
}

// act carries out effects once they are stored. It runs under o.mu and returns the work that must
// run without it (starting other deployments).
func (o *Orchestrator) act(e *entry, effects []deploy.Effect, saved store.Saved) []func() {
	if ch, ok := o.changes[e.d.ID]; ok {
		close(ch)
		delete(o.changes, e.d.ID)
	}
	// A change may move a deadline (a lease, a pause of the traffic shape): Run recomputes.
	o.kick()
	var follow []func()
	for _, eff := range effects {
		if j, ok := functionWork(eff); ok {
			o.enqueueFunction(j)
			continue
		}
		switch eff := eff.(type) {
		case deploy.SendCommand:
			o.notify(eff.Instance)
		case deploy.SetTraffic:
			o.enqueue(trafficJob{change: eff, report: true})
		case deploy.ReleaseOriginals:
			o.bg.Go(func(ctx context.Context) { o.release(ctx, eff) })
		case deploy.Finished:
			o.log.Info("deployment finished", "deployment_id", eff.Deployment, "status", eff.Status.String(), "error_code", string(eff.Error.Code))
			// Commands that were never reported (lease expiry, a stop) are counted no more.
			for k := range o.sent {
				if k.deployment == eff.Deployment {
					delete(o.sent, k)
				}
			}
			app, group := e.d.Application, e.d.Group
			if e.d.Creator == deploy.CreatorAutoUpdate && eff.Status != deploy.StatusSucceeded {
				// Its hosts are retried when they next join or the group next deploys, not in a
				// loop against whatever made this one fail or stop.
				break
			}
			follow = append(follow, func() {
				// Hosts that joined the group while it ran have not been deployed to.
				if err := o.CatchUp(context.Background(), app, group); err != nil {
					o.log.Error("auto-update", "application", app, "group", group, "error", err)
				}
			})
		}
	}
	if saved.Rollback != "" {
		id := saved.Rollback
		v, err := o.store.GetDeployment(context.Background(), id)
		if err == nil {
			o.active[id] = &entry{d: v.Deployment, version: v.Version, active: id == saved.Next}
			follow = append(follow, func() { o.observe(id) })
			if id != saved.Next {
				follow = append(follow, func() {
					if _, err := o.Apply(context.Background(), id, deploy.Enqueue{}); err != nil && !ignorable(err) {
						o.log.Error("queue rollback", "deployment_id", id, "error", err)
					}
				})
			}
		} else {
			o.log.Error("load rollback deployment", "deployment_id", id, "error", err)
		}
	}
	if next := saved.Next; next != "" {
		follow = append(follow, func() {
			if err := o.ensureLoaded(next); err != nil {
				o.log.Error("load next deployment", "deployment_id", next, "error", err)
				return
			}
			if err := o.start(context.Background(), next); err != nil {
				o.log.Error("start next deployment", "deployment_id", next, "error", err)
			}
		})
	}
	return follow
}

func (o *Orchestrator) observe(id string) {
	if o.Observe != nil {
		o.Observe(id)
	}
}

func (o *Orchestrator) ensureLoaded(id string) error {
	o.mu.Lock()
	_, ok := o.active[id]
	o.mu.Unlock()
	if ok {
		return nil
	}
	v, err := o.store.GetDeployment(context.Background(), id)
	if err != nil {
		return err
	}
	o.mu.Lock()
	if _, ok := o.active[id]; !ok && !v.Deployment.Status.Finished() {
		o.active[id] = &entry{d: v.Deployment, version: v.Version}
	}
	o.mu.Unlock()
	return nil
}

// notify wakes the long polls of an instance. Called with o.mu held.
func (o *Orchestrator) notify(instance string) {
	if ch, ok := o.polls[instance]; ok {
		close(ch)
		delete(o.polls, instance)
	}
}

// Stop asks a deployment to stop, rolling back if asked or if the group says so.
func (o *Orchestrator) Stop(ctx context.Context, id string, rollback bool, message string) (deploy.Deployment, error) {
	if message == "" {
		message = "stopped by a user"
	}
	return o.Apply(ctx, id, deploy.StopRequested{Rollback: rollback, Message: message})
}

// Promote ends the wait of a blue/green deployment's traffic step (a pause, a wait for
// promotion, an analysis) or lifts a Pause.
func (o *Orchestrator) Promote(ctx context.Context, id string) (deploy.Deployment, error) {
	return o.Apply(ctx, id, deploy.Promote{})
}

// Pause holds a blue/green deployment's traffic at its current weight until a Promote.
func (o *Orchestrator) Pause(ctx context.Context, id string) (deploy.Deployment, error) {
	return o.Apply(ctx, id, deploy.Pause{})
}

// Continue moves a Ready blue/green deployment on to traffic, or a Baking one on to releasing
// its original instances.
func (o *Orchestrator) Continue(ctx context.Context, id string) (deploy.Deployment, error) {
	return o.Apply(ctx, id, deploy.Continue{})
}

// InstanceGone tells every active deployment that an instance left (deregistered).
func (o *Orchestrator) InstanceGone(ctx context.Context, instance string) {
	o.mu.Lock()
	var ids []string
	for id, e := range o.active {
		for _, t := range e.d.Targets {
			if t.Instance == instance {
				ids = append(ids, id)
				break
			}
		}
	}
	o.mu.Unlock()
	for _, id := range ids {
		if _, err := o.Apply(ctx, id, deploy.InstanceGone{Instance: instance}); err != nil && !ignorable(err) {
			o.log.Error("instance gone", "deployment_id", id, "instance", instance, "error", err)
		}
	}
}
