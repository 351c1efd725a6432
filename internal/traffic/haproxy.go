package traffic

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"
)

const (
	// DefaultTimeout bounds one connection to the runtime API: connect, send, read the answer.
	DefaultTimeout = 2 * time.Second
	// DefaultInterval is how often Run reads the state back; it bounds how long a reloaded
	// HAProxy serves its configuration's weights instead of the desired ones.
	DefaultInterval = time.Second
	// MaxWeight is HAProxy's largest server weight.
	MaxWeight = 256
)

// Log keys.
const (
	keyCommands = "commands"
	keyPid      = "pid"
	keyPrevPid  = "previous_pid"
	keyError    = "error"
)

// HAProxyConfig says where HAProxy's runtime API listens and how often to check it.
type HAProxyConfig struct {
	// Address of a stats socket with "level admin": a unix socket path (optionally prefixed
	// "unix:"), or host:port (optionally prefixed "tcp:").
	Address string
	// Timeout bounds each connection to the runtime API; DefaultTimeout when zero.
	Timeout time.Duration
	// Interval is how often Run reads the state back and re-applies what differs from the
	// desired state; DefaultInterval when zero.
	Interval time.Duration
	Logger   *slog.Logger
}

// HAProxy drives HAProxy's runtime API. It remembers every weight and admin state it set (the
// desired state) and Run puts them back when they differ, which is what a reload or restart does:
// the new process starts from the configuration's weights.
type HAProxy struct {
	api      runtimeAPI
	interval time.Duration
	log      *slog.Logger

	// mu serialises changes and reconciliation, so a guard's read and the change it allows are
	// not interleaved with another change through this driver.
	mu      sync.Mutex
	desired map[string]*desired // by backend
	pid     int                 // the process that answered the last reconciliation
	lastErr string              // the last reconciliation error Run logged
}

var _ Router = (*HAProxy)(nil)

// NewHAProxy checks the configuration; it does not connect.
func NewHAProxy(cfg HAProxyConfig) (*HAProxy, error) {
	network, address, err := parseAddress(cfg.Address)
	if err != nil {
		return nil, err
	}
	if cfg.Timeout < 0 || cfg.Interval < 0 {
		return nil, fmt.Errorf("haproxy: timeout %v and interval %v must not be negative", cfg.Timeout, cfg.Interval)
	}
	h := &HAProxy{
		api:      runtimeAPI{network: network, address: address, timeout: cmp.Or(cfg.Timeout, DefaultTimeout)},
		interval: cmp.Or(cfg.Interval, DefaultInterval),
		log:      cfg.Logger,
		desired:  map[string]*desired{},
	}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	return h, nil
}

func parseAddress(a string) (network, address string, err error) {
	if path, ok := strings.CutPrefix(a, "unix:"); ok || strings.HasPrefix(a, "/") {
		if !ok {
			path = a
		}
		if path == "" {
			return "", "", fmt.Errorf("haproxy address %q: name the stats socket, such as unix:/run/haproxy/admin.sock", a)
		}
		return "unix", path, nil
	}
	hostport := strings.TrimPrefix(a, "tcp:")
	if _, _, err := net.SplitHostPort(hostport); err != nil || hostport == "" {
		return "", "", fmt.Errorf("haproxy address %q: use a stats socket path such as /run/haproxy/admin.sock, or host:port", a)
	}
	return "tcp", hostport, nil
}

// HAProxy names (proxies and servers) are made of these; checking them also keeps a name from
// smuggling a second command into a line.
var nameRE = regexp.MustCompile(`^[A-Za-z0-9_.:-]+$`)

func checkName(kind, name string) error {
	if !nameRE.MatchString(name) {
		return fmt.Errorf("%w: %s name %q: use letters, digits, '-', '_', '.' and ':' as HAProxy does", ErrInvalidChange, kind, name)
	}
	return nil
}

// SetWeights sets the weights of the named servers (0 to MaxWeight). It refuses, with
// ErrNoServing, a change that would leave the backend with no serving server.
func (h *HAProxy) SetWeights(ctx context.Context, backend string, weights map[string]int) error {
	change := make(map[string]target, len(weights))
	for name, w := range weights {
		if err := checkWeight(backend, name, w); err != nil {
			return err
		}
		change[name] = target{weight: &w}
	}
	return h.change(ctx, backend, func(Backend) map[string]target { return change }, false)
}

// Apply sets the weight and admin state of each named server in one batch. It refuses, with
// ErrNoServing, a change that would leave the backend with no serving server.
func (h *HAProxy) Apply(ctx context.Context, backend string, servers map[string]Target) error {
	change := make(map[string]target, len(servers))
	for name, t := range servers {
		if err := checkWeight(backend, name, t.Weight); err != nil {
			return err
		}
		if err := checkAdmin(backend, name, t.Admin); err != nil {
			return err
		}
		change[name] = target{weight: &t.Weight, admin: t.Admin}
	}
	return h.change(ctx, backend, func(Backend) map[string]target { return change }, false)
}

func checkWeight(backend, server string, w int) error {
	if w < 0 || w > MaxWeight {
		return fmt.Errorf("%w: weight %d for %s/%s; use 0 to %d", ErrInvalidChange, w, backend, server, MaxWeight)
	}
	return nil
}

func checkAdmin(backend, server string, s AdminState) error {
	if s < Ready || s > Maint {
		return fmt.Errorf("%w: state %v for %s/%s; use ready, drain or maint", ErrInvalidChange, s, backend, server)
	}
	return nil
}

// SetState sets a server's admin state. It refuses, with ErrNoServing, to drain or maintain the
// last serving server.
func (h *HAProxy) SetState(ctx context.Context, backend, server string, state AdminState) error {
	if err := checkAdmin(backend, server, state); err != nil {
		return err
	}
	change := map[string]target{server: {admin: state}}
	return h.change(ctx, backend, func(Backend) map[string]target { return change }, false)
}

// Drain stops new traffic to server; its open sessions finish (Server.Sessions counts them).
func (h *HAProxy) Drain(ctx context.Context, backend, server string) error {
	return h.SetState(ctx, backend, server, Drain)
}

// Ready puts server back into rotation at its weight.
func (h *HAProxy) Ready(ctx context.Context, backend, server string) error {
	return h.SetState(ctx, backend, server, Ready)
}

// TakeDown drains every server of backend: the one way to leave it with no serving server.
func (h *HAProxy) TakeDown(ctx context.Context, backend string) error {
	return h.change(ctx, backend, func(now Backend) map[string]target {
		change := make(map[string]target, len(now.Servers))
		for _, s := range now.Servers {
			change[s.Name] = target{admin: Drain}
		}
		return change
	}, true)
}

// State reads backend's servers: weights and admin states (`show servers state`), health, and
// open sessions (`show stat`).
func (h *HAProxy) State(ctx context.Context, backend string) (Backend, error) {
	if err := checkName("backend", backend); err != nil {
		return Backend{}, err
	}
	answers, err := h.api.run(ctx, "show servers state "+backend, "show stat "+backend+" 4 -1")
	if err != nil {
		return Backend{}, err
	}
	states, err := parseServersState(backend, answers[0])
	if err != nil {
		return Backend{}, err
	}
	sessions, err := parseStat(backend, answers[1])
	if err != nil {
		return Backend{}, err
	}
	b := backendOf(backend, states)
	for i := range b.Servers {
		b.Servers[i].Sessions = sessions[b.Servers[i].Name]
	}
	return b, nil
}

// Process reads which HAProxy process answers the runtime API.
func (h *HAProxy) Process(ctx context.Context) (Process, error) {
	answers, err := h.api.run(ctx, "show info")
	if err != nil {
		return Process{}, err
	}
	return parseInfo(answers[0])
}

func backendOf(name string, states []serverState) Backend {
	b := Backend{Name: name, Servers: make([]Server, len(states))}
	for i, s := range states {
		b.Servers[i] = s.Server
	}
	return b
}

// change reads the backend, builds the change from it, checks it, records it as desired and
// sends the commands that differ from what HAProxy has.
func (h *HAProxy) change(ctx context.Context, backend string, build func(Backend) map[string]target, allowEmpty bool) error {
	if err := checkName("backend", backend); err != nil {
		return err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	answers, err := h.api.run(ctx, "show servers state "+backend)
	if err != nil {
		return err
	}
	states, err := parseServersState(backend, answers[0])
	if err != nil {
		return err
	}
	change := build(backendOf(backend, states))
	if err := checkChange(backendOf(backend, states), change, allowEmpty); err != nil {
		return err
	}
	// Recorded before sending: if the connection fails half way, Run finishes the change.
	d := h.desired[backend]
	if d == nil {
		d = &desired{servers: map[string]target{}}
		h.desired[backend] = d
	}
	prev := maps.Clone(d.servers)
	d.remember(change, allowEmpty)
	refused, err := h.send(ctx, commands(backend, states, change))
	for _, c := range refused {
		d.forget(c, prev)
	}
	return err
}

// desired is what the driver was asked of one backend.
type desired struct {
	servers map[string]target
	// down says the last change took the backend down on purpose, so putting it back may leave
	// no serving server.
	down bool
}

func (d *desired) remember(change map[string]target, down bool) {
	for name, t := range change {
		d.servers[name] = d.servers[name].merge(t)
	}
	d.down = down
}

// forget puts back the desired field a refused command would have changed, so Run does not
// repeat a command HAProxy will never accept.
func (d *desired) forget(c command, prev map[string]target) {
	t := d.servers[c.server]
	if c.admin {
		t.admin = prev[c.server].admin
	} else {
		t.weight = prev[c.server].weight
	}
	d.servers[c.server] = t
}

// plan lists the commands that bring states back to d. Servers gone from the backend are
// reported and skipped; and as for a change, it refuses to leave no serving server unless the
// backend was taken down on purpose: a server desired at 100% may since have failed its checks.
// Refused, it still lists the commands that only add capacity (ready, a higher weight): they
// cannot empty the backend, and a server a reload put back into maintenance must be readied
// before it can pass its checks and let the rest of the plan through at a later round.
func (d *desired) plan(backend string, states []serverState) ([]command, error) {
	now := backendOf(backend, states)
	known := make(map[string]target, len(d.servers))
	var errs []error
	for _, name := range slices.Sorted(maps.Keys(d.servers)) {
		if _, ok := now.Server(name); !ok {
			errs = append(errs, fmt.Errorf("%w: backend %s no longer has server %q", ErrUnknownServer, backend, name))
			continue
		}
		known[name] = d.servers[name]
	}
	cmds := commands(backend, states, known)
	if err := checkChange(now, known, d.down); err != nil {
		var up []command
		for _, c := range cmds {
			if c.up {
				up = append(up, c)
			}
		}
		return up, errors.Join(append(errs, fmt.Errorf("desired state not re-applied yet: %w", err))...)
	}
	return cmds, errors.Join(errs...)
}

// command is one `set server` line and what it does to the backend's capacity.
type command struct {
	server string
	text   string
	admin  bool // sets the admin state; otherwise the weight
	up     bool // adds capacity (ready, a higher weight)
}

// commands lists what must be sent for the servers to match change.
func commands(backend string, now []serverState, change map[string]target) []command {
	var out []command
	for _, s := range now {
		t, ok := change[s.Name]
		if !ok {
			continue
		}
		if t.admin != 0 && t.admin != s.forced {
			out = append(out, command{
				server: s.Name, admin: true, up: t.admin == Ready,
				text: fmt.Sprintf("set server %s/%s state %s", backend, s.Name, t.admin),
			})
		}
		if t.weight != nil && *t.weight != s.Weight {
			out = append(out, command{
				server: s.Name, up: *t.weight > s.Weight,
				text: fmt.Sprintf("set server %s/%s weight %d", backend, s.Name, *t.weight),
			})
		}
	}
	return out
}

// send runs cmds and returns those HAProxy refused. Capacity-adding commands go first, so a
// backend never passes through a moment with fewer serving servers than both the start and the
// end of the change. A transport error returns no refusals: what was asked stays desired and Run
// retries it.
func (h *HAProxy) send(ctx context.Context, cmds []command) ([]command, error) {
	if len(cmds) == 0 {
		return nil, nil
	}
	capacityFirst(cmds)
	texts := make([]string, len(cmds))
	for i, c := range cmds {
		texts[i] = c.text
	}
	answers, err := h.api.run(ctx, texts...)
	if err != nil {
		return nil, err
	}
	var refused []command
	var errs []error
	for i, a := range answers {
		if err := quiet(cmds[i].text, a); err != nil {
			refused = append(refused, cmds[i])
			errs = append(errs, err)
		}
	}
	return refused, errors.Join(errs...)
}

func capacityFirst(cmds []command) {
	slices.SortStableFunc(cmds, func(a, b command) int {
		switch {
		case a.up == b.up:
			return 0
		case a.up:
			return -1
		}
		return 1
	})
}

// Reconcile reads back every backend the driver has changed and re-sends what differs from the
// desired state, capacity first; it will not empty a backend doing so (see plan). It returns how
// many commands it sent.
func (h *HAProxy) Reconcile(ctx context.Context) (int, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.desired) == 0 {
		return 0, nil
	}
	backends := slices.Sorted(maps.Keys(h.desired))
	reads := []string{"show info"}
	for _, b := range backends {
		reads = append(reads, "show servers state "+b)
	}
	answers, err := h.api.run(ctx, reads...)
	if err != nil {
		return 0, err
	}
	if p, err := parseInfo(answers[0]); err == nil {
		if h.pid != 0 && p.Pid != h.pid {
			h.log.Info("haproxy process changed; checking desired state", keyPrevPid, h.pid, keyPid, p.Pid)
		}
		h.pid = p.Pid
	}
	var fix []command
	var errs []error
	for i, b := range backends {
		states, err := parseServersState(b, answers[i+1])
		if err != nil {
			errs = append(errs, err)
			continue
		}
		cmds, err := h.desired[b].plan(b, states)
		if err != nil {
			errs = append(errs, err)
		}
		fix = append(fix, cmds...)
	}
	if _, err := h.send(ctx, fix); err != nil {
		errs = append(errs, err)
	}
	if len(fix) > 0 {
		h.log.Info("re-applied desired haproxy state", keyCommands, len(fix), keyPid, h.pid)
	}
	return len(fix), errors.Join(errs...)
}

// Run reconciles every Interval until ctx ends. Errors are logged when they change (an
// unreachable HAProxy is logged once, not every Interval), and again when HAProxy answers.
func (h *HAProxy) Run(ctx context.Context) error {
	t := time.NewTicker(h.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		_, err := h.Reconcile(ctx)
		if ctx.Err() != nil {
			return nil
		}
		h.logOutcome(err)
	}
}

func (h *HAProxy) logOutcome(err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	switch {
	case err != nil && err.Error() != h.lastErr:
		h.log.Warn("reconcile haproxy state", keyError, err)
		h.lastErr = err.Error()
	case err == nil && h.lastErr != "":
		h.log.Info("haproxy state reconciled again")
		h.lastErr = ""
	}
}
