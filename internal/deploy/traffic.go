package deploy

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/slipway-deploy/slipway/internal/appspec"
	"github.com/slipway-deploy/slipway/internal/traffic"
)

// RouterHAProxy is the one router type Slipway drives today: HAProxy's runtime API.
const RouterHAProxy = "haproxy"

// Server name template variables: the instance's name and its registration id.
const (
	serverVarName = "{name}"
	serverVarID   = "{id}"
)

// Router is a group's traffic router as a deployment sees it, copied from the group when the
// deployment is created so that a change to the group does not move a deployment half way.
type Router struct {
	// Type is RouterHAProxy; empty means the group has no router.
	Type string
	// Address is where the router's API listens: for HAProxy a stats socket path (optionally
	// "unix:"-prefixed) or tcp:host:port.
	Address string
	// Backend is the router's pool that the group's instances serve in.
	Backend string
	// ServerName maps an instance to the router's name for it: {name} and {id} are replaced by
	// the instance's name and id. Empty means "{name}".
	ServerName string
}

// Enabled reports whether the group has a router.
func (r Router) Enabled() bool { return r.Type != "" }

// Validate checks a router's settings; the zero Router (none) is valid.
func (r Router) Validate() error {
	if !r.Enabled() {
		if r != (Router{}) {
			return fmt.Errorf("%w: traffic router has settings but no type; set type %s or clear it", ErrInvalidConfig, RouterHAProxy)
		}
		return nil
	}
	if r.Type != RouterHAProxy {
		return fmt.Errorf("%w: traffic router type %q; use %s", ErrInvalidConfig, r.Type, RouterHAProxy)
	}
	if _, err := traffic.NewHAProxy(traffic.HAProxyConfig{Address: r.Address}); err != nil {
		return fmt.Errorf("%w: traffic router address: %w", ErrInvalidConfig, err)
	}
	if strings.TrimSpace(r.Backend) == "" {
		return fmt.Errorf("%w: traffic router backend is empty; name the HAProxy backend the group's instances serve in", ErrInvalidConfig)
	}
	if t := r.ServerName; t != "" {
		rest := strings.NewReplacer(serverVarName, "", serverVarID, "").Replace(t)
		if strings.ContainsAny(rest, "{}") {
			return fmt.Errorf("%w: traffic router server name %q: the only variables are %s and %s", ErrInvalidConfig, t, serverVarName, serverVarID)
		}
		if rest == t {
			return fmt.Errorf("%w: traffic router server name %q names one server for every instance; include %s or %s", ErrInvalidConfig, t, serverVarName, serverVarID)
		}
	}
	return nil
}

// Server is the router's name for an instance called name with id id (id when name is empty).
func (r Router) Server(name, id string) string {
	if name == "" {
		name = id
	}
	t := r.ServerName
	if t == "" {
		t = serverVarName
	}
	return strings.NewReplacer(serverVarName, name, serverVarID, id).Replace(t)
}

// listedServers bounds how many of a backend's servers a message lists.
const listedServers = 12

// checkServers refuses a start whose hosts the router's backend does not all have a server for,
// naming the servers it lacks and the template that made their names: a host without a server
// would fail at its first traffic change, after hosts were touched, and the revert of a
// blue/green deployment could not name it.
func checkServers(d Deployment, in Start) (ErrorInfo, bool) {
	r, b := d.Router, in.Backend
	if b.Error != "" {
		return ErrorInfo{Code: ErrorTrafficRouter, Message: fmt.Sprintf(
			"could not read backend %s of the traffic router at %s: %s; no instance was touched", r.Backend, r.Address, b.Error)}, false
	}
	have := make(map[string]bool, len(b.Servers))
	for _, s := range b.Servers {
		have[s] = true
	}
	var missing []string
	for _, list := range []struct {
		fleet     string
		instances []Instance
	}{{"", in.Instances}, {"original ", in.Originals}} {
		for _, inst := range list.instances {
			if s := r.Server(inst.Name, inst.ID); !have[s] {
				fleet := list.fleet
				if fleet == "" && d.Type == BlueGreen {
					fleet = "replacement "
				}
				missing = append(missing, fmt.Sprintf("%sinstance %s (server %q)", fleet, cmp.Or(inst.Name, inst.ID), s))
			}
		}
	}
	if len(missing) == 0 {
		return ErrorInfo{}, true
	}
	listed := slices.Sorted(slices.Values(b.Servers))
	servers := "no servers"
	if len(listed) > 0 {
		more := ""
		if len(listed) > listedServers {
			more = fmt.Sprintf(" and %d more", len(listed)-listedServers)
			listed = listed[:listedServers]
		}
		servers = strings.Join(listed, ", ") + more
	}
	return ErrorInfo{Code: ErrorTrafficRouter, Message: fmt.Sprintf(
		"backend %s of the traffic router has no server for %s; the group's server name template %q makes them ({name} is the instance's name, {id} its id) and the backend has %s: add those servers to the backend or change the template; no instance was touched",
		r.Backend, strings.Join(missing, ", "), cmp.Or(r.ServerName, serverVarName), servers)}, false
}

// ServerTraffic is what a traffic change asks of one router server.
type ServerTraffic struct {
	Server string
	Admin  traffic.AdminState
	// Weight is the server's new weight when SetWeight; otherwise it keeps the one it has.
	Weight    int
	SetWeight bool
}

// SetTraffic asks the runtime to change servers of the deployment's router. It is one of two
// kinds, and its outcome is reported accordingly:
//
//   - a host's BlockTraffic or AllowTraffic event in an in-place deployment (Instance, Event and
//     Attempt set): report EventReported for that event, as an agent would;
//   - a blue/green deployment's change (Change set): report TrafficApplied or TrafficFailed.
//
// Servers name every server the change is about, in name order. A change can be carried out
// again with the same result, so a restarted runtime repeats what PendingTraffic lists.
type SetTraffic struct {
	Deployment string
	Router     Router
	Servers    []ServerTraffic
	// WaitDrained asks the runtime to report only once the servers it drains have finished
	// their open requests (or a bound passes), so the host's next event does not cut them off.
	WaitDrained bool

	Instance string
	Event    string
	Attempt  int

	Change int
	// Platform is lambda or ecs for a change of a Lambda alias or an ECS service's listeners:
	// Percent is then the replacement's share of the traffic, and Revert asks for everything
	// the deployment changed to be put back (for ECS: both listeners back to the original task
	// set, which is primary again, and the replacement deleted). Servers is empty.
	Platform Platform
	Percent  int
	// Revert marks the change that sends all traffic back to the originals. Through a router
	// it is carried out for the servers the backend has; those it lacks (a host removed from
	// the router since the start) are skipped and reported in TrafficApplied.Skipped, since
	// restoring the others matters more than failing over them.
	Revert bool
}

// TrafficApplied says the router carried out change Change of a blue/green deployment.
type TrafficApplied struct {
	Change int
	// Skipped names the servers of a revert the router's backend did not have.
	Skipped []string
}

// TrafficFailed says the router refused change Change, or could not be reached.
type TrafficFailed struct {
	Change  int
	Message string
}

func (SetTraffic) isEffect()    {}
func (TrafficApplied) isInput() {}
func (TrafficFailed) isInput()  {}
func (t ServerTraffic) String() string {
	if t.SetWeight {
		return fmt.Sprintf("%s %v weight %d", t.Server, t.Admin, t.Weight)
	}
	return fmt.Sprintf("%s %v", t.Server, t.Admin)
}

// routerEvent reports whether the server carries out event through the router, rather than a
// host through its agent.
func routerEvent(event string) bool {
	return event == appspec.EventBlockTraffic || event == appspec.EventAllowTraffic
}

// hostTraffic is the change that carries out router event i of an in-place target.
func (d Deployment) hostTraffic(t Target, i int) SetTraffic {
	e := t.Events[i]
	st := ServerTraffic{Server: t.Server, Admin: traffic.Ready}
	if e.Name == appspec.EventBlockTraffic {
		st.Admin = traffic.Drain
	}
	return SetTraffic{
		Deployment: d.ID, Router: d.Router, Servers: []ServerTraffic{st},
		WaitDrained: st.Admin == traffic.Drain,
		Instance:    t.Instance, Event: e.Name, Attempt: e.Attempt,
	}
}

// PendingTraffic lists the traffic changes the deployment is waiting on: what a restarted
// runtime must carry out (again), in the order they were asked.
func PendingTraffic(d Deployment) []SetTraffic {
	if d.Status.Finished() || !d.Router.Enabled() && d.Platform == PlatformServer {
		return nil
	}
	var out []SetTraffic
	if d.Type == InPlace {
		for _, t := range d.Targets {
			if i := t.current(); i >= 0 && routerEvent(t.Events[i].Name) {
				out = append(out, d.hostTraffic(t, i))
			}
		}
		return out
	}
	if d.Shift.Applying {
		out = append(out, d.shiftTraffic())
	}
	return out
}

// DesiredTraffic is the state the deployment wants its router's servers in, as far as it has
// asked: what a restarted runtime puts back so that the router keeps it across reloads. ok is
// false when the deployment never asked the router for anything.
func DesiredTraffic(d Deployment) (_ SetTraffic, ok bool) {
	// AWS keeps what it was asked; only HAProxy forgets it on a reload.
	if !d.Router.Enabled() || d.Platform != PlatformServer {
		return SetTraffic{}, false
	}
	if d.Type == BlueGreen {
		if d.Shift.Change == 0 {
			return SetTraffic{}, false
		}
		return SetTraffic{Deployment: d.ID, Router: d.Router, Servers: slices.Clone(d.Shift.Servers), Revert: d.Shift.Reverting}, true
	}
	var servers []ServerTraffic
	for _, t := range d.Targets {
		// The last router event the host started and that did not fail decides: drained after
		// BlockTraffic, ready once AllowTraffic began. A refused change asked for nothing.
		for i := len(t.Events) - 1; i >= 0; i-- {
			e := t.Events[i]
			if routerEvent(e.Name) && e.Attempt > 0 && (e.Status == EventInProgress || e.Status == EventSucceeded) {
				servers = append(servers, d.hostTraffic(t, i).Servers...)
				break
			}
		}
	}
	if len(servers) == 0 {
		return SetTraffic{}, false
	}
	slices.SortFunc(servers, func(a, b ServerTraffic) int { return strings.Compare(a.Server, b.Server) })
	return SetTraffic{Deployment: d.ID, Router: d.Router, Servers: servers}, true
}
