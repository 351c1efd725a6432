package deploy_test

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/slipway-deploy/slipway/internal/deploy"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func preset(t *testing.T, name string) deploy.Config {
	t.Helper()
	c, ok := deploy.Preset(name)
	if !ok {
		t.Fatalf("no preset %s", name)
	}
	return c
}

func hostCount(n int) deploy.Config {
	return deploy.Config{Name: "custom", MinimumHealthyHosts: deploy.MinimumHealthyHosts{Type: deploy.HostCount, Value: n}}
}

func fleetPercent(p int) deploy.Config {
	return deploy.Config{Name: "custom", MinimumHealthyHosts: deploy.MinimumHealthyHosts{Type: deploy.FleetPercent, Value: p}}
}

func hostID(i int) string { return fmt.Sprintf("h%02d", i) }

// testRouter is a router the machine can name servers for; nothing connects to it.
var testRouter = deploy.Router{Type: deploy.RouterHAProxy, Address: "/run/haproxy/admin.sock", Backend: "app"}

// healthyFleet is n healthy hosts running the group's current revision r1.
func healthyFleet(n int) []deploy.Instance {
	out := make([]deploy.Instance, n)
	for i := range out {
		out[i] = deploy.Instance{ID: hostID(i + 1), Health: deploy.Healthy, Revision: "r1"}
	}
	return out
}

func newDeployment(c deploy.Config) deploy.Deployment {
	return deploy.Deployment{
		ID: "d-2", Application: "app", Group: "web",
		Revision: "r2", GroupRevision: "r1",
		Config: c, Status: deploy.StatusCreated, CreateTime: t0,
	}
}

// run is the record of a deployment driven to its end.
type run struct {
	d             deploy.Deployment
	effects       []deploy.Effect
	maxInProgress int
	// started lists hosts in the order they received their first command.
	started []string
}

// driver feeds inputs to Decide and tracks outstanding commands.
type driver struct {
	t       *testing.T
	now     time.Time
	r       run
	pending []deploy.SendCommand
}

func newDriver(t *testing.T, d deploy.Deployment) *driver {
	return &driver{t: t, now: t0, r: run{d: d}}
}

// routed is s as the runtime gives it to a deployment with router r: with a backend that has
// a server for every instance (unless s says otherwise).
func routed(r deploy.Router, s deploy.Start) deploy.Start {
	if !r.Enabled() || s.Backend != nil {
		return s
	}
	b := &deploy.RouterBackend{}
	for _, in := range append(slices.Clone(s.Instances), s.Originals...) {
		b.Servers = append(b.Servers, r.Server(in.Name, in.ID))
	}
	s.Backend = b
	return s
}

func (dr *driver) step(in deploy.Input) []deploy.Effect {
	dr.t.Helper()
	if s, ok := in.(deploy.Start); ok {
		in = routed(dr.r.d.Router, s)
	}
	d, eff, err := deploy.Decide(dr.r.d, in, dr.now)
	if err != nil {
		dr.t.Fatalf("Decide(%T %+v): %v", in, in, err)
	}
	dr.r.d = d
	dr.r.effects = append(dr.r.effects, eff...)
	for _, e := range eff {
		c, ok := e.(deploy.SendCommand)
		if st, host := e.(deploy.SetTraffic); host && st.Instance != "" {
			// The router carries out a host's traffic event; its outcome is reported as an
			// agent's would be.
			c, ok = deploy.SendCommand{Deployment: st.Deployment, Instance: st.Instance, Event: st.Event, Attempt: st.Attempt}, true
		}
		if ok {
			dr.pending = append(dr.pending, c)
			if c.Attempt == 1 {
				dr.r.started = append(dr.r.started, c.Instance)
			}
		}
	}
	dr.r.maxInProgress = max(dr.r.maxInProgress, deploy.Summarize(d).InProgress)
	return eff
}

// report answers the oldest outstanding command.
func (dr *driver) report(status deploy.EventStatus, diag deploy.Diagnostics) []deploy.Effect {
	dr.t.Helper()
	c := dr.pop()
	return dr.step(deploy.EventReported{Instance: c.Instance, Event: c.Event, Attempt: c.Attempt, Status: status, Diagnostics: diag})
}

func (dr *driver) pop() deploy.SendCommand {
	dr.t.Helper()
	if len(dr.pending) == 0 {
		dr.t.Fatal("no outstanding command")
	}
	c := dr.pending[0]
	dr.pending = dr.pending[1:]
	dr.now = dr.now.Add(time.Second)
	return c
}

// reportFor answers the outstanding command of one host.
func (dr *driver) reportFor(instance string, status deploy.EventStatus) []deploy.Effect {
	dr.t.Helper()
	for i, c := range dr.pending {
		if c.Instance != instance {
			continue
		}
		dr.pending = append(dr.pending[:i:i], dr.pending[i+1:]...)
		dr.now = dr.now.Add(time.Second)
		return dr.step(deploy.EventReported{Instance: c.Instance, Event: c.Event, Attempt: c.Attempt, Status: status})
	}
	dr.t.Fatalf("no outstanding command for %s", instance)
	return nil
}

// drain answers every command until none is outstanding; a host fails at the event failAt names.
func (dr *driver) drain(failAt map[string]string) {
	dr.t.Helper()
	for len(dr.pending) > 0 {
		c := dr.pending[0]
		if failAt[c.Instance] == c.Event {
			dr.report(deploy.EventFailed, deploy.Diagnostics{ErrorCode: "ScriptFailed", ScriptName: "scripts/x.sh", Message: "exit status 1"})
		} else {
			dr.report(deploy.EventSucceeded, deploy.Diagnostics{})
		}
	}
}

// simulate starts d on instances and answers every command in the order sent, failing each host
// named in failAt at the event given, until the deployment finishes.
func simulate(t *testing.T, d deploy.Deployment, instances []deploy.Instance, failAt map[string]string) run {
	t.Helper()
	dr := newDriver(t, d)
	dr.step(deploy.Start{Instances: instances})
	dr.drain(failAt)
	if !dr.r.d.Status.Finished() {
		t.Fatalf("deployment is %v with no outstanding command", dr.r.d.Status)
	}
	return dr.r
}

func target(t *testing.T, d deploy.Deployment, id string) deploy.Target {
	t.Helper()
	for _, tg := range d.Targets {
		if tg.Instance == id {
			return tg
		}
	}
	t.Fatalf("no target %s", id)
	return deploy.Target{}
}

func statuses(d deploy.Deployment) map[string]deploy.InstanceStatus {
	m := map[string]deploy.InstanceStatus{}
	for _, tg := range d.Targets {
		m[tg.Instance] = tg.Status
	}
	return m
}

func effectsOf[E deploy.Effect](effs []deploy.Effect) []E {
	var out []E
	for _, e := range effs {
		if x, ok := e.(E); ok {
			out = append(out, x)
		}
	}
	return out
}

// deepCopy copies a deployment without using the package's own cloning, so a test can tell
// whether Decide changed its argument.
func deepCopy(d deploy.Deployment) deploy.Deployment {
	c := d
	if d.Targets != nil {
		c.Targets = make([]deploy.Target, len(d.Targets))
		for i, tg := range d.Targets {
			if tg.Events != nil {
				tg.Events = append([]deploy.Event(nil), tg.Events...)
			}
			c.Targets[i] = tg
		}
	}
	return c
}

// expectIgnored checks that an input is refused with want and changes nothing.
func expectIgnored(t *testing.T, d deploy.Deployment, in deploy.Input, now time.Time, want error) {
	t.Helper()
	before := deepCopy(d)
	got, eff, err := deploy.Decide(d, in, now)
	if !errors.Is(err, want) {
		t.Fatalf("Decide(%T) error = %v, want %v", in, err, want)
	}
	if len(eff) != 0 {
		t.Errorf("Decide(%T) effects = %v, want none", in, eff)
	}
	if !reflect.DeepEqual(got, before) || !reflect.DeepEqual(d, before) {
		t.Errorf("Decide(%T) changed the deployment", in)
	}
}
