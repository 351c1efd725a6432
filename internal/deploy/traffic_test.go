package deploy_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/slipway-deploy/slipway/internal/deploy"
	"github.com/slipway-deploy/slipway/internal/traffic"
)

func TestRouter_Validate(t *testing.T) {
	ok := testRouter
	tests := []struct {
		name   string
		change func(*deploy.Router)
		want   string // "" for valid
	}{
		{"valid", func(*deploy.Router) {}, ""},
		{"none", func(r *deploy.Router) { *r = deploy.Router{} }, ""},
		{"tcp address", func(r *deploy.Router) { r.Address = "tcp:127.0.0.1:9999" }, ""},
		{"template with id", func(r *deploy.Router) { r.ServerName = "web-{id}" }, ""},
		{"settings without a type", func(r *deploy.Router) { r.Type = "" }, "no type"},
		{"unknown type", func(r *deploy.Router) { r.Type = "nginx" }, `type "nginx"; use haproxy`},
		{"bad address", func(r *deploy.Router) { r.Address = "localhost" }, "address"},
		{"no backend", func(r *deploy.Router) { r.Backend = " " }, "backend is empty"},
		{"one server for all", func(r *deploy.Router) { r.ServerName = "web" }, "include {name} or {id}"},
		{"unknown variable", func(r *deploy.Router) { r.ServerName = "{name}-{zone}" }, "the only variables"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := ok
			tt.change(&r)
			err := r.Validate()
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("Validate: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want) || !errors.Is(err, deploy.ErrInvalidConfig)):
				t.Fatalf("Validate: %v, want ErrInvalidConfig saying %q", err, tt.want)
			}
		})
	}
}

func TestRouter_Server(t *testing.T) {
	for _, tt := range []struct{ template, name, id, want string }{
		{"", "web-1", "i-1", "web-1"},
		{"", "", "i-1", "i-1"},
		{"app_{name}", "web-1", "i-1", "app_web-1"},
		{"{name}.{id}", "web-1", "i-1", "web-1.i-1"},
	} {
		r := deploy.Router{ServerName: tt.template}
		if got := r.Server(tt.name, tt.id); got != tt.want {
			t.Errorf("Server(%q) of %q = %q, want %q", tt.name, tt.template, got, tt.want)
		}
	}
}

// An in-place group with a router gets the six traffic events around each host; BlockTraffic
// and AllowTraffic are changes of the router, never commands for the agent.
func TestDecide_InPlaceRouterEvents(t *testing.T) {
	d := newDeployment(preset(t, deploy.ConfigOneAtATime))
	d.Router = testRouter
	d.Router.ServerName = "{name}-app"
	fleet := healthyFleet(2)
	fleet[0].Name, fleet[1].Name = "web-1", "web-2"
	dr := newDriver(t, d)
	dr.step(deploy.Start{Instances: fleet})

	var events []string
	var changes []deploy.SetTraffic
	for len(dr.pending) > 0 {
		c := dr.pending[0]
		if c.Instance == "h01" {
			events = append(events, c.Event)
		}
		if _, isCommand := deploy.CommandFor(dr.r.d, c.Instance); isCommand == (c.Event == "BlockTraffic" || c.Event == "AllowTraffic") {
			t.Fatalf("%s %s: CommandFor says command = %v", c.Instance, c.Event, isCommand)
		}
		if p := deploy.PendingTraffic(dr.r.d); c.Event == "BlockTraffic" || c.Event == "AllowTraffic" {
			if len(p) != 1 || p[0].Instance != c.Instance || p[0].Event != c.Event || p[0].Attempt != c.Attempt {
				t.Fatalf("PendingTraffic = %+v while %s waits for %s", p, c.Instance, c.Event)
			}
			changes = append(changes, p[0])
		}
		dr.report(deploy.EventSucceeded, deploy.Diagnostics{})
	}
	want := []string{"BeforeBlockTraffic", "BlockTraffic", "AfterBlockTraffic", "ApplicationStop", "DownloadBundle", "BeforeInstall",
		"Install", "AfterInstall", "ApplicationStart", "ValidateService", "BeforeAllowTraffic", "AllowTraffic", "AfterAllowTraffic"}
	if !reflect.DeepEqual(events, want) {
		t.Errorf("events of h01:\n got %v\nwant %v", events, want)
	}
	wantChanges := []struct {
		server string
		admin  traffic.AdminState
		wait   bool
	}{{"web-1-app", traffic.Drain, true}, {"web-1-app", traffic.Ready, false}, {"web-2-app", traffic.Drain, true}, {"web-2-app", traffic.Ready, false}}
	if len(changes) != len(wantChanges) {
		t.Fatalf("router changes %+v, want %d", changes, len(wantChanges))
	}
	for i, w := range wantChanges {
		c := changes[i]
		if len(c.Servers) != 1 || c.Servers[0].Server != w.server || c.Servers[0].Admin != w.admin || c.Servers[0].SetWeight || c.WaitDrained != w.wait || c.Router != d.Router {
			t.Errorf("change %d = %+v, want %s %v (weight kept, wait drained %v)", i, c, w.server, w.admin, w.wait)
		}
	}
	if dr.r.d.Status != deploy.StatusSucceeded {
		t.Fatalf("status %v: %s", dr.r.d.Status, dr.r.d.Error.Message)
	}
	desired, ok := deploy.DesiredTraffic(dr.r.d)
	want2 := []deploy.ServerTraffic{{Server: "web-1-app", Admin: traffic.Ready}, {Server: "web-2-app", Admin: traffic.Ready}}
	if !ok || !reflect.DeepEqual(desired.Servers, want2) {
		t.Errorf("DesiredTraffic = %+v, %v; want both ready", desired.Servers, ok)
	}
}

// An in-place deployment whose hosts the router's backend lacks a server for fails at the
// start, before any host runs anything.
func TestDecide_InPlaceRouterServerMissing(t *testing.T) {
	d := newDeployment(preset(t, deploy.ConfigOneAtATime))
	d.Router = testRouter
	fleet := healthyFleet(2)
	fleet[0].Name = "web-1"
	got, eff, err := deploy.Decide(d, deploy.Start{Instances: fleet, Backend: &deploy.RouterBackend{Servers: []string{"web-1"}}}, t0)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != deploy.StatusFailed || got.Error.Code != deploy.ErrorTrafficRouter ||
		!strings.Contains(got.Error.Message, `no server for instance h02 (server "h02"); the group's server name template "{name}"`) {
		t.Errorf("%v %v %q, want Failed naming h02's server and the template", got.Status, got.Error.Code, got.Error.Message)
	}
	if len(effectsOf[deploy.SendCommand](eff)) > 0 || len(effectsOf[deploy.SetTraffic](eff)) > 0 {
		t.Errorf("effects %v, want no command and no traffic change", eff)
	}
}

// A router that refuses to drain a host, or never answers, fails that host's event with the
// router's diagnostic; the host keeps the state it was last put in.
func TestDecide_InPlaceRouterFailures(t *testing.T) {
	t.Run("refused", func(t *testing.T) {
		d := newDeployment(preset(t, deploy.ConfigOneAtATime))
		d.Router = testRouter
		dr := newDriver(t, d)
		dr.step(deploy.Start{Instances: healthyFleet(2)})
		dr.report(deploy.EventSucceeded, deploy.Diagnostics{}) // BeforeBlockTraffic
		c := dr.pop()
		if c.Event != "BlockTraffic" {
			t.Fatalf("next is %s, want BlockTraffic", c.Event)
		}
		diag := deploy.Diagnostics{ErrorCode: deploy.DiagnosticRouterFailed, Message: "change leaves no server serving"}
		dr.step(deploy.EventReported{Instance: c.Instance, Event: c.Event, Attempt: c.Attempt, Status: deploy.EventFailed, Diagnostics: diag})
		if got := dr.r.d; got.Status != deploy.StatusFailed || !strings.Contains(got.Error.Message, "TrafficRouterFailed: change leaves no server serving") {
			t.Errorf("deployment %v %q, want Failed naming the router's refusal", got.Status, got.Error.Message)
		}
		if _, ok := deploy.DesiredTraffic(dr.r.d); ok {
			t.Error("DesiredTraffic after a refused drain asks for something; the router was left as it was")
		}
	})
	t.Run("silent", func(t *testing.T) {
		d := newDeployment(preset(t, deploy.ConfigAllAtOnce))
		d.Router = testRouter
		d.Lease = 30 * time.Second
		dr := newDriver(t, d)
		dr.step(deploy.Start{Instances: healthyFleet(1)})
		dr.report(deploy.EventSucceeded, deploy.Diagnostics{})
		dl, ok := deploy.NextDeadline(dr.r.d)
		if !ok {
			t.Fatal("no deadline while the router drains the host")
		}
		dr.now = dl
		dr.step(deploy.Tick{})
		tg := target(t, dr.r.d, "h01")
		e := tg.Events[1]
		if e.Name != "BlockTraffic" || e.Status != deploy.EventFailed || e.Diagnostics.ErrorCode != deploy.DiagnosticRouterFailed ||
			!strings.Contains(e.Diagnostics.Message, "did not answer within 30s") {
			t.Errorf("BlockTraffic = %+v, want Failed: the router did not answer", e)
		}
	})
}
