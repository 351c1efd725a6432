package orchestrator

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/slipway-deploy/slipway/internal/deploy"
	"github.com/slipway-deploy/slipway/internal/traffic"
)

// Router is what the orchestrator needs of a traffic router: traffic.Router's changes, and a
// Run that keeps putting back the state it was asked for when the router forgets it (an HAProxy
// reload). *traffic.HAProxy provides it.
type Router interface {
	traffic.Router
	Run(ctx context.Context) error
}

var _ Router = (*traffic.HAProxy)(nil)

// Defaults of the router work.
const (
	// DefaultDrainTimeout bounds how long a drain waits for the server's open requests to end
	// before the host's next event runs anyway.
	DefaultDrainTimeout = 30 * time.Second
	// routerAttempts is how often a change is tried when the router cannot be reached; a change
	// the router refuses is not tried again.
	routerAttempts  = 3
	routerRetryWait = 200 * time.Millisecond
	drainPoll       = 50 * time.Millisecond
	// upTimeout bounds the wait for servers just put back into rotation to pass the router's
	// health checks before they are given weight.
	upTimeout = 10 * time.Second
)

// NewHAProxyRouter is the router constructor slipway-server uses: an HAProxy runtime-API driver
// for the router's address.
func NewHAProxyRouter(log *slog.Logger) func(deploy.Router) (Router, error) {
	return func(r deploy.Router) (Router, error) {
		if r.Type != deploy.RouterHAProxy {
			return nil, fmt.Errorf("traffic router type %q: this server drives %s", r.Type, deploy.RouterHAProxy)
		}
		return traffic.NewHAProxy(traffic.HAProxyConfig{Address: r.Address, Logger: log.With("router", r.Address)})
	}
}

// trafficJob is one change for a router; report says whether its outcome goes back to the
// deployment (a change re-applied at start only restores what the router should hold).
type trafficJob struct {
	change deploy.SetTraffic
	report bool
}

// routers carries out router changes: one queue per router, worked in order by one goroutine,
// so a revert asked after a weight change is never overtaken by it.
type routers struct {
	mu     sync.Mutex
	queues map[string]*routerQueue
}

type routerQueue struct {
	jobs []trafficJob
	wake chan struct{}
}

func routerKey(r deploy.Router) string { return r.Type + " " + r.Address }

// enqueue adds a change to its router's queue, starting the router's worker if it has none.
// It does not block: act calls it with the orchestrator's lock held.
func (o *Orchestrator) enqueue(job trafficJob) {
	key := routerKey(job.change.Router)
	o.routers.mu.Lock()
	defer o.routers.mu.Unlock()
	if o.routers.queues == nil {
		o.routers.queues = map[string]*routerQueue{}
	}
	q, ok := o.routers.queues[key]
	if !ok {
		q = &routerQueue{wake: make(chan struct{}, 1)}
		o.routers.queues[key] = q
		cfg := job.change.Router
		o.bg.Go(func(ctx context.Context) { o.workRouter(ctx, key, cfg, q) })
	}
	q.jobs = append(q.jobs, job)
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// next waits for the queue's next job; ok is false once ctx ends.
func (o *Orchestrator) next(ctx context.Context, q *routerQueue) (trafficJob, bool) {
	for {
		o.routers.mu.Lock()
		if len(q.jobs) > 0 {
			j := q.jobs[0]
			q.jobs = q.jobs[1:]
			o.routers.mu.Unlock()
			return j, true
		}
		o.routers.mu.Unlock()
		select {
		case <-ctx.Done():
			return trafficJob{}, false
		case <-q.wake:
		}
	}
}

// workRouter connects the router and carries out its queue until ctx ends; meanwhile the router
// keeps its desired state (Run).
func (o *Orchestrator) workRouter(ctx context.Context, key string, cfg deploy.Router, q *routerQueue) {
	r, err := o.NewRouter(cfg)
	if err != nil {
		// Every change waiting for this router fails; a later change tries to build it again.
		o.routers.mu.Lock()
		jobs := q.jobs
		delete(o.routers.queues, key)
		o.routers.mu.Unlock()
		for _, j := range jobs {
			o.reportTraffic(ctx, j, fmt.Errorf("traffic router %s: %w", cfg.Address, err), carriedOut{})
		}
		return
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() { _ = r.Run(ctx) })
	for {
		j, ok := o.next(ctx, q)
		if !ok {
			return
		}
		done, err := o.carryOut(ctx, r, j.change)
		if ctx.Err() != nil {
			// Stopping: the change is still pending in the deployment and is carried out again
			// when the server is back.
			return
		}
		if j.report {
			o.reportTraffic(ctx, j, err, done)
		} else if err != nil {
			o.log.Warn("re-apply traffic", "deployment_id", j.change.Deployment, "router", cfg.Address, "error", err)
		}
	}
}

// carriedOut is what was done of a change: note describes it; skipped names the servers of a
// revert the backend did not have.
type carriedOut struct {
	note    string
	skipped []string
}

// carryOut asks the router for one change, trying again while the router cannot be reached,
// and waits for drained servers to empty when the change says so.
func (o *Orchestrator) carryOut(ctx context.Context, r Router, c deploy.SetTraffic) (carriedOut, error) {
	backend := c.Router.Backend
	var skipped []string
	err := retried(ctx, func() (err error) {
		skipped, err = o.change(ctx, r, c)
		return err
	})
	if err != nil {
		if len(skipped) > 0 {
			err = fmt.Errorf("%w (backend %s no longer has %s, which were left out)", err, backend, strings.Join(skipped, ", "))
		}
		return carriedOut{}, err
	}
	var parts []string
	for _, s := range c.Servers {
		if !slices.Contains(skipped, s.Server) {
			parts = append(parts, s.String())
		}
	}
	done := carriedOut{note: fmt.Sprintf("%s backend %s: %s", c.Router.Type, backend, strings.Join(parts, ", ")), skipped: skipped}
	if len(skipped) > 0 {
		done.note += fmt.Sprintf("; skipped %s, which the backend no longer has", strings.Join(skipped, ", "))
	}
	if c.WaitDrained {
		if open := o.waitDrained(ctx, r, c); open > 0 {
			done.note += fmt.Sprintf("; %d requests were still open after %v", open, o.drainTimeout())
		}
	}
	return done, nil
}

// change carries out c once. A revert leaves out the servers the backend does not have (they
// are returned) rather than failing over them: every original it can put back serving matters
// more than a host removed from the router since the deployment started.
func (o *Orchestrator) change(ctx context.Context, r Router, c deploy.SetTraffic) (skipped []string, err error) {
	if c.Revert {
		if c, skipped, err = withoutUnknown(ctx, r, c); err != nil {
			return nil, err
		}
	}
	return skipped, o.apply(ctx, r, c)
}

// withoutUnknown is c without the servers the backend lacks, and their names.
func withoutUnknown(ctx context.Context, r Router, c deploy.SetTraffic) (deploy.SetTraffic, []string, error) {
	b, err := r.State(ctx, c.Router.Backend)
	if err != nil {
		return c, nil, err
	}
	var known []deploy.ServerTraffic
	var skipped []string
	for _, s := range c.Servers {
		if _, ok := b.Server(s.Server); ok {
			known = append(known, s)
		} else {
			skipped = append(skipped, s.Server)
		}
	}
	c.Servers = known
	return c, skipped, nil
}

func (o *Orchestrator) apply(ctx context.Context, r Router, c deploy.SetTraffic) error {
	backend := c.Router.Backend
	if err := bringUp(ctx, r, c); err != nil {
		return err
	}
	weighted := 0
	for _, s := range c.Servers {
		if s.SetWeight {
			weighted++
		}
	}
	if weighted == len(c.Servers) {
		targets := make(map[string]traffic.Target, len(c.Servers))
		for _, s := range c.Servers {
			targets[s.Server] = traffic.Target{Weight: s.Weight, Admin: s.Admin}
		}
		return r.Apply(ctx, backend, targets)
	}
	for _, s := range c.Servers {
		var err error
		switch {
		case s.SetWeight:
			err = r.Apply(ctx, backend, map[string]traffic.Target{s.Server: {Weight: s.Weight, Admin: s.Admin}})
		case s.Admin == traffic.Drain:
			err = r.Drain(ctx, backend, s.Server)
		case s.Admin == traffic.Ready:
			err = r.Ready(ctx, backend, s.Server)
		default:
			err = fmt.Errorf("%w: %v without a weight", traffic.ErrInvalidChange, s.Admin)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// bringUp puts the servers a change gives weight to back into rotation first, at weight 0, and
// waits (a bounded time) for the router to see them up: a server leaving maintenance is down to
// the router until its health checks pass, and a change that counted on it at once would be
// refused for leaving nothing serving, or send requests nowhere.
func bringUp(ctx context.Context, r Router, c deploy.SetTraffic) error {
	b, err := r.State(ctx, c.Router.Backend)
	if err != nil {
		return err
	}
	waking := map[string]traffic.Target{}
	for _, s := range c.Servers {
		if !s.SetWeight || s.Admin != traffic.Ready || s.Weight == 0 {
			continue
		}
		if now, ok := b.Server(s.Server); ok && now.Admin != traffic.Ready {
			waking[s.Server] = traffic.Target{Weight: 0, Admin: traffic.Ready}
		}
	}
	if len(waking) == 0 {
		return nil
	}
	if err := r.Apply(ctx, c.Router.Backend, waking); err != nil {
		return err
	}
	deadline := time.Now().Add(upTimeout)
	for {
		b, err := r.State(ctx, c.Router.Backend)
		if err != nil {
			return err
		}
		up := 0
		for name := range waking {
			if s, ok := b.Server(name); ok && (s.Health == traffic.Up || s.Health == traffic.Starting) {
				up++
			}
		}
		if up == len(waking) || time.Now().After(deadline) {
			// Servers still down get their weight anyway: the router sends them nothing, and
			// refuses the change if that would leave nothing serving.
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(drainPoll):
		}
	}
}

// retried calls fn until it succeeds, the router refuses (trying again would get the same
// answer), or routerAttempts calls could not reach it.
func retried(ctx context.Context, fn func() error) error {
	for attempt := 1; ; attempt++ {
		err := fn()
		if err == nil || refused(err) || attempt == routerAttempts || ctx.Err() != nil {
			return err
		}
		select {
		case <-ctx.Done():
		case <-time.After(routerRetryWait * time.Duration(attempt)):
		}
	}
}

// backendAtStart reads the servers of a deployment's router backend for its start, or why they
// could not be read: the start checks that every host has a server before it touches any.
func (o *Orchestrator) backendAtStart(ctx context.Context, cfg deploy.Router) *deploy.RouterBackend {
	r, err := o.NewRouter(cfg)
	if err != nil {
		return &deploy.RouterBackend{Error: err.Error()}
	}
	var b traffic.Backend
	err = retried(ctx, func() (err error) {
		b, err = r.State(ctx, cfg.Backend)
		return err
	})
	if err != nil {
		return &deploy.RouterBackend{Error: err.Error()}
	}
	out := &deploy.RouterBackend{Servers: make([]string, len(b.Servers))}
	for i, s := range b.Servers {
		out.Servers[i] = s.Name
	}
	return out
}

// refused reports whether the router answered and said no: trying again would get the same.
func refused(err error) bool {
	for _, e := range []error{traffic.ErrNoServing, traffic.ErrUnknownServer, traffic.ErrUnknownBackend, traffic.ErrInvalidChange, traffic.ErrRuntime} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// waitDrained waits until the servers the change drains have no open sessions, or the drain
// timeout passes; it returns how many sessions were still open.
func (o *Orchestrator) waitDrained(ctx context.Context, r Router, c deploy.SetTraffic) int {
	drained := map[string]bool{}
	for _, s := range c.Servers {
		if s.Admin == traffic.Drain {
			drained[s.Server] = true
		}
	}
	deadline := time.Now().Add(o.drainTimeout())
	for {
		open := 0
		b, err := r.State(ctx, c.Router.Backend)
		if err == nil {
			for _, s := range b.Servers {
				if drained[s.Name] {
					open += s.Sessions
				}
			}
			if open == 0 {
				return 0
			}
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return open
		}
		select {
		case <-ctx.Done():
		case <-time.After(drainPoll):
		}
	}
}

func (o *Orchestrator) drainTimeout() time.Duration {
	if o.DrainTimeout > 0 {
		return o.DrainTimeout
	}
	return DefaultDrainTimeout
}

// reportTraffic feeds a change's outcome back: as the host's event for an in-place router
// event, as TrafficApplied or TrafficFailed for a blue/green change.
func (o *Orchestrator) reportTraffic(ctx context.Context, j trafficJob, err error, done carriedOut) {
	c := j.change
	var in deploy.Input
	switch {
	case c.Instance != "":
		r := deploy.EventReported{Instance: c.Instance, Event: c.Event, Attempt: c.Attempt, Status: deploy.EventSucceeded,
			Diagnostics: deploy.Diagnostics{Message: done.note}}
		if err != nil {
			r.Status = deploy.EventFailed
			r.Diagnostics = deploy.Diagnostics{ErrorCode: deploy.DiagnosticRouterFailed, Message: err.Error()}
		}
		in = r
	case err != nil:
		in = deploy.TrafficFailed{Change: c.Change, Message: err.Error()}
	default:
		in = deploy.TrafficApplied{Change: c.Change, Skipped: done.skipped}
		if len(done.skipped) > 0 {
			o.log.Warn("traffic revert skipped servers the backend no longer has", "deployment_id", c.Deployment, "router", c.Router.Address, "servers", done.skipped)
		}
	}
	if err != nil {
		o.log.Warn("traffic change failed", "deployment_id", c.Deployment, "router", c.Router.Address, "error", err)
	}
	if _, err := o.Apply(ctx, c.Deployment, in); err != nil && !ignorable(err) {
		o.log.Error("report traffic change", "deployment_id", c.Deployment, "error", err)
	}
}
