package traffic

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// Router is what a traffic shift needs of a load balancer. Weights are the balancer's own
// (HAProxy: 0 to 256); Split turns a percentage into per-server weights.
type Router interface {
	// SetWeights sets the weight of each named server of backend; servers not named keep theirs.
	SetWeights(ctx context.Context, backend string, weights map[string]int) error
	// Apply sets the weight and admin state of each named server at once: a revert readies the
	// drained originals and empties the replacements in one step.
	Apply(ctx context.Context, backend string, servers map[string]Target) error
	// Drain stops new traffic to a server and lets its open connections finish.
	Drain(ctx context.Context, backend, server string) error
	// Ready puts a drained or maintained server back into rotation at its weight.
	Ready(ctx context.Context, backend, server string) error
	// State reads the backend's servers as the balancer sees them now.
	State(ctx context.Context, backend string) (Backend, error)
}

var (
	// ErrNoServing marks a change refused because it would leave a backend that has a serving
	// server with none.
	ErrNoServing = errors.New("change leaves no server serving")
	// ErrUnknownServer marks a change naming a server the backend does not have.
	ErrUnknownServer = errors.New("no such server")
	// ErrUnknownBackend marks a backend the balancer does not have.
	ErrUnknownBackend = errors.New("no such backend")
	// ErrInvalidChange marks a malformed request: a bad name, a weight out of range.
	ErrInvalidChange = errors.New("invalid traffic change")
)

// AdminState is what an operator (or Slipway) asked of a server, as opposed to its Health.
type AdminState int

const (
	// Ready servers take new traffic in proportion to their weight.
	Ready AdminState = iota + 1
	// Drain servers take no new traffic but finish what they have.
	Drain
	// Maint servers take no traffic and are not health-checked.
	Maint
)

var adminStateNames = [...]string{"", "ready", "drain", "maint"}

func (s AdminState) String() string { return enumName(adminStateNames[:], int(s)) }

// Health is a server's operational state as the balancer's health checks see it.
type Health int

const (
	// Down servers failed their checks (or were stopped) and take no traffic.
	Down Health = iota + 1
	// Starting servers are coming up (HAProxy's slowstart) and take part of their share.
	Starting
	// Up servers pass their checks, or have none.
	Up
	// Stopping servers are going away (a check asked to stop them) and take no new traffic.
	Stopping
)

var healthNames = [...]string{"", "down", "starting", "up", "stopping"}

func (h Health) String() string { return enumName(healthNames[:], int(h)) }

func enumName(names []string, i int) string {
	if i <= 0 || i >= len(names) {
		return fmt.Sprintf("unknown(%d)", i)
	}
	return names[i]
}

// Target is the weight and admin state Apply gives a server.
type Target struct {
	Weight int
	Admin  AdminState
}

// Backend is one backend's servers in the balancer's order.
type Backend struct {
	Name    string
	Servers []Server
}

// Server is one server of a backend.
type Server struct {
	Name    string
	Address string // host:port
	Weight  int
	Admin   AdminState
	Health  Health
	// Sessions is the number of sessions open to the server now; a drained server is empty when
	// it reaches 0.
	Sessions int
}

// Serving reports whether the server takes new requests: ready, healthy and weighted.
func (s Server) Serving() bool {
	return s.Admin == Ready && s.Weight > 0 && (s.Health == Up || s.Health == Starting)
}

// Server returns the server called name.
func (b Backend) Server(name string) (Server, bool) {
	for _, s := range b.Servers {
		if s.Name == name {
			return s, true
		}
	}
	return Server{}, false
}

// Serving counts the servers that take new requests.
func (b Backend) Serving() int {
	n := 0
	for _, s := range b.Servers {
		if s.Serving() {
			n++
		}
	}
	return n
}

// target is what a change asks of one server; a nil weight or a zero admin leaves it as it is.
type target struct {
	weight *int
	admin  AdminState
}

// merge lays t over u, so the later request wins field by field.
func (u target) merge(t target) target {
	if t.weight != nil {
		u.weight = t.weight
	}
	if t.admin != 0 {
		u.admin = t.admin
	}
	return u
}

// apply returns the backend as it would be after the change. Health is kept: a change cannot
// make a failing server pass its checks.
func (b Backend) apply(change map[string]target) Backend {
	out := Backend{Name: b.Name, Servers: make([]Server, len(b.Servers))}
	for i, s := range b.Servers {
		if t, ok := change[s.Name]; ok {
			if t.weight != nil {
				s.Weight = *t.weight
			}
			if t.admin != 0 {
				s.Admin = t.admin
			}
		}
		out.Servers[i] = s
	}
	return out
}

// checkChange validates a change against the backend as it is now: every server named exists,
// and the change does not take the backend from some serving servers to none unless allowEmpty.
// A backend with no serving server already (every server failing its checks) may still be
// changed: the change is not what emptied it.
func checkChange(now Backend, change map[string]target, allowEmpty bool) error {
	for name := range change {
		if _, ok := now.Server(name); !ok {
			return fmt.Errorf("%w: backend %s has no server %q (it has %s)", ErrUnknownServer, now.Name, name, serverNames(now))
		}
	}
	after := now.apply(change)
	if allowEmpty || now.Serving() == 0 || after.Serving() > 0 {
		return nil
	}
	return fmt.Errorf("%w: backend %s would be left with %s; keep at least one ready, healthy server with a weight above 0",
		ErrNoServing, now.Name, describe(after))
}

func serverNames(b Backend) string {
	names := make([]string, len(b.Servers))
	for i, s := range b.Servers {
		names[i] = s.Name
	}
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}

func describe(b Backend) string {
	parts := make([]string, len(b.Servers))
	for i, s := range b.Servers {
		parts[i] = fmt.Sprintf("%s %s/%s weight %d", s.Name, s.Admin, s.Health, s.Weight)
	}
	return strings.Join(parts, ", ")
}
