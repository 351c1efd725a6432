package deploy_test

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/slipway-deploy/slipway/internal/deploy"
)

func TestDecide_BatchSizes(t *testing.T) {
	tests := []struct {
		config    deploy.Config
		n         int
		minimum   int
		batch     int
		invalid   bool
		nameExtra string
	}{
		{config: deploy.Config{Name: deploy.ConfigOneAtATime}, n: 1, minimum: 0, batch: 1},
		{config: deploy.Config{Name: deploy.ConfigOneAtATime}, n: 2, minimum: 1, batch: 1},
		{config: deploy.Config{Name: deploy.ConfigOneAtATime}, n: 3, minimum: 2, batch: 1},
		{config: deploy.Config{Name: deploy.ConfigOneAtATime}, n: 5, minimum: 4, batch: 1},
		{config: deploy.Config{Name: deploy.ConfigOneAtATime}, n: 10, minimum: 9, batch: 1},
		{config: deploy.Config{Name: deploy.ConfigHalfAtATime}, n: 1, minimum: 1, invalid: true},
		{config: deploy.Config{Name: deploy.ConfigHalfAtATime}, n: 2, minimum: 1, batch: 1},
		{config: deploy.Config{Name: deploy.ConfigHalfAtATime}, n: 3, minimum: 2, batch: 1},
		{config: deploy.Config{Name: deploy.ConfigHalfAtATime}, n: 5, minimum: 3, batch: 2},
		{config: deploy.Config{Name: deploy.ConfigHalfAtATime}, n: 10, minimum: 5, batch: 5},
		{config: deploy.Config{Name: deploy.ConfigAllAtOnce}, n: 1, minimum: 0, batch: 1},
		{config: deploy.Config{Name: deploy.ConfigAllAtOnce}, n: 2, minimum: 0, batch: 2},
		{config: deploy.Config{Name: deploy.ConfigAllAtOnce}, n: 3, minimum: 0, batch: 3},
		{config: deploy.Config{Name: deploy.ConfigAllAtOnce}, n: 5, minimum: 0, batch: 5},
		{config: deploy.Config{Name: deploy.ConfigAllAtOnce}, n: 10, minimum: 0, batch: 10},
		{config: hostCount(2), n: 1, minimum: 2, invalid: true},
		{config: hostCount(2), n: 2, minimum: 2, invalid: true},
		{config: hostCount(2), n: 3, minimum: 2, batch: 1},
		{config: hostCount(2), n: 5, minimum: 2, batch: 3},
		{config: hostCount(2), n: 10, minimum: 2, batch: 8},
		{config: hostCount(9), n: 10, minimum: 9, batch: 1, nameExtra: "guide example"},
		{config: hostCount(6), n: 9, minimum: 6, batch: 3, nameExtra: "API example"},
		{config: fleetPercent(40), n: 1, minimum: 1, invalid: true},
		{config: fleetPercent(40), n: 2, minimum: 1, batch: 1},
		{config: fleetPercent(40), n: 3, minimum: 2, batch: 1},
		{config: fleetPercent(40), n: 5, minimum: 2, batch: 3},
		{config: fleetPercent(40), n: 9, minimum: 4, batch: 5, nameExtra: "API example"},
		{config: fleetPercent(40), n: 10, minimum: 4, batch: 6},
		{config: fleetPercent(95), n: 10, minimum: 10, invalid: true, nameExtra: "guide example"},
		{config: fleetPercent(99), n: 10, minimum: 10, invalid: true},
		{config: fleetPercent(0), n: 3, minimum: 0, batch: 3},
	}
	for _, tt := range tests {
		c := tt.config
		if p, ok := deploy.Preset(c.Name); ok {
			c = p
		}
		name := c.Name + "/" + c.MinimumHealthyHosts.Type.String() + "/" + hostID(tt.n) + tt.nameExtra
		t.Run(name, func(t *testing.T) {
			r := simulate(t, newDeployment(c), healthyFleet(tt.n), nil)
			if r.d.Minimum != tt.minimum {
				t.Errorf("Minimum = %d, want %d", r.d.Minimum, tt.minimum)
			}
			if tt.invalid {
				if r.d.Status != deploy.StatusFailed || r.d.Error.Code != deploy.ErrorHealthConstraintsInvalid {
					t.Fatalf("status %v %v, want Failed HEALTH_CONSTRAINTS_INVALID", r.d.Status, r.d.Error.Code)
				}
				if len(r.started) != 0 {
					t.Errorf("started %v, want no host", r.started)
				}
				unit := "instances"
				if tt.minimum == 1 {
					unit = "instance"
				}
				if want := fmt.Sprintf("a minimum of %d healthy %s out of %d leaves no instance", tt.minimum, unit, tt.n); !strings.Contains(r.d.Error.Message, want) {
					t.Errorf("message %q, want it to say %q", r.d.Error.Message, want)
				}
				if got := deploy.Summarize(r.d).Skipped; got != tt.n {
					t.Errorf("skipped %d hosts, want %d", got, tt.n)
				}
				return
			}
			if r.d.Batch != tt.batch {
				t.Errorf("Batch = %d, want %d", r.d.Batch, tt.batch)
			}
			if r.maxInProgress != tt.batch {
				t.Errorf("at most %d hosts in progress, want %d", r.maxInProgress, tt.batch)
			}
			if r.d.Status != deploy.StatusSucceeded {
				t.Errorf("status %v (%s), want Succeeded", r.d.Status, r.d.Error.Message)
			}
		})
	}
}

func TestDecide_NoInstances(t *testing.T) {
	d := newDeployment(preset(t, deploy.ConfigAllAtOnce))
	d.AutoRollback.OnFailure = true
	got, eff, err := deploy.Decide(d, deploy.Start{}, t0)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != deploy.StatusFailed || got.Error.Code != deploy.ErrorNoInstances {
		t.Errorf("status %v %v, want Failed NO_INSTANCES", got.Status, got.Error.Code)
	}
	want := []deploy.Effect{deploy.Finished{Deployment: d.ID, Status: deploy.StatusFailed, Error: got.Error}}
	if !reflect.DeepEqual(eff, want) {
		t.Errorf("effects = %+v, want %+v (no rollback: nothing was touched)", eff, want)
	}
}

func TestDecide_Failures(t *testing.T) {
	const failEvent = "ApplicationStart"
	tests := []struct {
		name       string
		config     string
		n          int
		fail       []int
		want       deploy.Status
		wantCode   deploy.ErrorCode
		wantTried  int
		wantFailed int
	}{
		{"one at a time: first host", deploy.ConfigOneAtATime, 5, []int{1}, deploy.StatusFailed, deploy.ErrorHealthConstraints, 1, 1},
		{"one at a time: middle host", deploy.ConfigOneAtATime, 5, []int{3}, deploy.StatusFailed, deploy.ErrorHealthConstraints, 3, 1},
		{"one at a time: last host", deploy.ConfigOneAtATime, 5, []int{5}, deploy.StatusSucceeded, "", 5, 1},
		{"one at a time: last of two", deploy.ConfigOneAtATime, 2, []int{2}, deploy.StatusSucceeded, "", 2, 1},
		{"one at a time: first of two", deploy.ConfigOneAtATime, 2, []int{1}, deploy.StatusFailed, deploy.ErrorHealthConstraints, 1, 1},
		{"one at a time: single host", deploy.ConfigOneAtATime, 1, []int{1}, deploy.StatusFailed, deploy.ErrorHealthConstraints, 1, 1},
		{"one at a time: last of ten", deploy.ConfigOneAtATime, 10, []int{10}, deploy.StatusSucceeded, "", 10, 1},
		{"half at a time 5: first host", deploy.ConfigHalfAtATime, 5, []int{1}, deploy.StatusSucceeded, "", 5, 1},
		{"half at a time 5: first two", deploy.ConfigHalfAtATime, 5, []int{1, 2}, deploy.StatusFailed, deploy.ErrorHealthConstraints, 2, 2},
		{"half at a time 5: middle two", deploy.ConfigHalfAtATime, 5, []int{3, 4}, deploy.StatusFailed, deploy.ErrorHealthConstraints, 4, 2},
		{"half at a time 5: last is the second to fail", deploy.ConfigHalfAtATime, 5, []int{4, 5}, deploy.StatusSucceeded, "", 5, 2},
		{"half at a time 5: last three", deploy.ConfigHalfAtATime, 5, []int{3, 4, 5}, deploy.StatusFailed, deploy.ErrorHealthConstraints, 4, 2},
		{"half at a time 10: first batch", deploy.ConfigHalfAtATime, 10, []int{1, 2, 3, 4, 5}, deploy.StatusFailed, deploy.ErrorHealthConstraints, 5, 5},
		{"half at a time 10: last batch", deploy.ConfigHalfAtATime, 10, []int{6, 7, 8, 9, 10}, deploy.StatusSucceeded, "", 10, 5},
		{"half at a time 10: one of first batch", deploy.ConfigHalfAtATime, 10, []int{3}, deploy.StatusSucceeded, "", 10, 1},
		{"half at a time 3: first", deploy.ConfigHalfAtATime, 3, []int{1}, deploy.StatusFailed, deploy.ErrorHealthConstraints, 1, 1},
		{"half at a time 3: last", deploy.ConfigHalfAtATime, 3, []int{3}, deploy.StatusSucceeded, "", 3, 1},
		{"all at once: all but one", deploy.ConfigAllAtOnce, 5, []int{1, 2, 3, 4}, deploy.StatusSucceeded, "", 5, 4},
		{"all at once: all", deploy.ConfigAllAtOnce, 5, []int{1, 2, 3, 4, 5}, deploy.StatusFailed, deploy.ErrorHealthConstraints, 5, 5},
		{"all at once: single", deploy.ConfigAllAtOnce, 1, []int{1}, deploy.StatusFailed, deploy.ErrorHealthConstraints, 1, 1},
		{"all at once: ten, all but one", deploy.ConfigAllAtOnce, 10, []int{1, 2, 3, 4, 5, 6, 7, 8, 9}, deploy.StatusSucceeded, "", 10, 9},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			failAt := map[string]string{}
			for _, i := range tt.fail {
				failAt[hostID(i)] = failEvent
			}
			r := simulate(t, newDeployment(preset(t, tt.config)), healthyFleet(tt.n), failAt)
			if r.d.Status != tt.want || r.d.Error.Code != tt.wantCode {
				t.Fatalf("status %v %q (%s), want %v %q", r.d.Status, r.d.Error.Code, r.d.Error.Message, tt.want, tt.wantCode)
			}
			if len(r.started) != tt.wantTried {
				t.Errorf("started %d hosts %v, want %d", len(r.started), r.started, tt.wantTried)
			}
			o := deploy.Summarize(r.d)
			if o.Failed != tt.wantFailed {
				t.Errorf("%d hosts failed, want %d", o.Failed, tt.wantFailed)
			}
			if o.Skipped != tt.n-tt.wantTried {
				t.Errorf("%d hosts skipped, want %d", o.Skipped, tt.n-tt.wantTried)
			}
			if tt.want == deploy.StatusFailed && !strings.Contains(r.d.Error.Message, "ScriptFailed") {
				t.Errorf("error message %q does not name the first failure", r.d.Error.Message)
			}
			for _, tg := range r.d.Targets {
				if tg.Status != deploy.InstanceFailed {
					continue
				}
				for _, e := range tg.Events {
					want := deploy.EventSucceeded
					switch e.Name {
					case failEvent:
						want = deploy.EventFailed
					case "ValidateService":
						want = deploy.EventSkipped
					}
					if e.Status != want {
						t.Errorf("%s %s is %v, want %v", tg.Instance, e.Name, e.Status, want)
					}
				}
			}
		})
	}
}

// CodeDeploy's guide: with a minimum of 8 out of 10, two hosts go at a time; a second failure
// fails the deployment unless it is the last host.
func TestDecide_HostCountGuideExample(t *testing.T) {
	tests := []struct {
		fail []int
		want deploy.Status
	}{
		{[]int{2}, deploy.StatusSucceeded},
		{[]int{2, 5}, deploy.StatusFailed},
		{[]int{1, 2}, deploy.StatusFailed},
		{[]int{4, 10}, deploy.StatusSucceeded},
	}
	for _, tt := range tests {
		failAt := map[string]string{}
		for _, i := range tt.fail {
			failAt[hostID(i)] = "AfterInstall"
		}
		r := simulate(t, newDeployment(hostCount(8)), healthyFleet(10), failAt)
		if r.d.Status != tt.want {
			t.Errorf("failing %v: status %v (%s), want %v", tt.fail, r.d.Status, r.d.Error.Message, tt.want)
		}
		if r.maxInProgress != 2 {
			t.Errorf("failing %v: %d in progress at most, want 2", tt.fail, r.maxInProgress)
		}
	}
}

func TestDecide_Ordering(t *testing.T) {
	instances := []deploy.Instance{
		{ID: "e-current", Health: deploy.Healthy, Revision: "r1"},
		{ID: "a-current", Health: deploy.Healthy, Revision: "r1"},
		{ID: "c-old", Health: deploy.Healthy, Revision: "r0"},
		{ID: "f-unknown", Health: deploy.Healthy},
		{ID: "z-unhealthy", Health: deploy.Unhealthy, Revision: "r1"},
		{ID: "b-unhealthy", Health: deploy.Unhealthy},
		{ID: "d-old", Health: deploy.Healthy, Revision: "r-1"},
	}
	want := []string{"b-unhealthy", "z-unhealthy", "f-unknown", "c-old", "d-old", "a-current", "e-current"}
	r := simulate(t, newDeployment(preset(t, deploy.ConfigOneAtATime)), instances, nil)
	if !reflect.DeepEqual(r.started, want) {
		t.Errorf("deployment order = %v, want %v", r.started, want)
	}
	var order []string
	for _, tg := range r.d.Targets {
		order = append(order, tg.Instance)
	}
	if !reflect.DeepEqual(order, want) {
		t.Errorf("Targets order = %v, want %v", order, want)
	}
	if got := target(t, r.d, "c-old").RevisionAtStart; got != deploy.RevisionOld {
		t.Errorf("c-old revision health = %v, want Old", got)
	}
}

// A fleet never deployed to is all unhealthy; it must still deploy one at a time rather than
// fail because healthy (0) is at or below the minimum.
func TestDecide_UnhealthyFleet(t *testing.T) {
	tests := []struct {
		name      string
		config    deploy.Config
		instances []deploy.Instance
		failAt    map[string]string
		want      deploy.Status
		batch     int
	}{
		{"fresh fleet, one at a time", preset(t, deploy.ConfigOneAtATime),
			[]deploy.Instance{{ID: "h1"}, {ID: "h2"}, {ID: "h3"}}, nil, deploy.StatusSucceeded, 1},
		{"fresh fleet, half at a time", preset(t, deploy.ConfigHalfAtATime),
			[]deploy.Instance{{ID: "h1"}, {ID: "h2"}, {ID: "h3"}, {ID: "h4"}}, nil, deploy.StatusSucceeded, 2},
		{"unhealthy hosts failing leave too few healthy at the end", preset(t, deploy.ConfigOneAtATime),
			[]deploy.Instance{{ID: "h1"}, {ID: "h2"}, {ID: "h3"}},
			map[string]string{"h2": "Install", "h3": "Install"}, deploy.StatusFailed, 1},
		{"healthy below the minimum recovers through unhealthy hosts", preset(t, deploy.ConfigOneAtATime),
			[]deploy.Instance{{ID: "h1"}, {ID: "h2"}, {ID: "h3", Health: deploy.Healthy, Revision: "r1"}}, nil, deploy.StatusSucceeded, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := simulate(t, newDeployment(tt.config), tt.instances, tt.failAt)
			if r.d.Status != tt.want {
				t.Errorf("status %v %v (%s), want %v", r.d.Status, r.d.Error.Code, r.d.Error.Message, tt.want)
			}
			if r.maxInProgress != tt.batch {
				t.Errorf("%d in progress at most, want %d", r.maxInProgress, tt.batch)
			}
		})
	}
}

func TestDecide_UnhealthyFailureThenHealthy(t *testing.T) {
	// h1 is unhealthy and fails; the two healthy hosts still leave 2 = minimum healthy, so taking
	// one offline would go below it: the deployment stops with HEALTH_CONSTRAINTS.
	instances := []deploy.Instance{{ID: "h1"}, {ID: "h2", Health: deploy.Healthy, Revision: "r1"}, {ID: "h3", Health: deploy.Healthy, Revision: "r1"}}
	r := simulate(t, newDeployment(preset(t, deploy.ConfigOneAtATime)), instances, map[string]string{"h1": "Install"})
	if r.d.Error.Code != deploy.ErrorHealthConstraints {
		t.Errorf("error %v, want HEALTH_CONSTRAINTS", r.d.Error.Code)
	}
	if want := []string{"h1"}; !reflect.DeepEqual(r.started, want) {
		t.Errorf("started %v, want %v", r.started, want)
	}
}

func TestDecide_IgnoreApplicationStopFailures(t *testing.T) {
	tests := []struct {
		event      string
		ignore     bool
		wantHost   deploy.InstanceStatus
		wantStatus deploy.Status
	}{
		{"ApplicationStop", true, deploy.InstanceSucceeded, deploy.StatusSucceeded},
		{"BeforeBlockTraffic", true, deploy.InstanceSucceeded, deploy.StatusSucceeded},
		{"AfterBlockTraffic", true, deploy.InstanceSucceeded, deploy.StatusSucceeded},
		{"ApplicationStop", false, deploy.InstanceFailed, deploy.StatusFailed},
		{"AfterBlockTraffic", false, deploy.InstanceFailed, deploy.StatusFailed},
		{"BeforeInstall", true, deploy.InstanceFailed, deploy.StatusFailed},
		{"AllowTraffic", true, deploy.InstanceFailed, deploy.StatusFailed},
	}
	for _, tt := range tests {
		name := tt.event
		if tt.ignore {
			name += "/ignored"
		}
		t.Run(name, func(t *testing.T) {
			d := newDeployment(preset(t, deploy.ConfigAllAtOnce))
			d.Router = testRouter
			d.IgnoreApplicationStopFailures = tt.ignore
			r := simulate(t, d, healthyFleet(1), map[string]string{"h01": tt.event})
			if r.d.Status != tt.wantStatus {
				t.Errorf("deployment %v, want %v", r.d.Status, tt.wantStatus)
			}
			tg := target(t, r.d, "h01")
			if tg.Status != tt.wantHost {
				t.Errorf("host %v, want %v", tg.Status, tt.wantHost)
			}
			failedSeen := false
			for _, e := range tg.Events {
				switch {
				case e.Name == tt.event:
					failedSeen = true
					if e.Status != deploy.EventFailed {
						t.Errorf("%s is %v, want Failed (recorded even when ignored)", e.Name, e.Status)
					}
					if e.Diagnostics.ErrorCode != "ScriptFailed" {
						t.Errorf("%s diagnostics %+v, want the report's", e.Name, e.Diagnostics)
					}
				case failedSeen && tt.wantHost == deploy.InstanceFailed:
					if e.Status != deploy.EventSkipped {
						t.Errorf("%s after the failure is %v, want Skipped", e.Name, e.Status)
					}
				default:
					if e.Status != deploy.EventSucceeded {
						t.Errorf("%s is %v, want Succeeded", e.Name, e.Status)
					}
				}
			}
		})
	}
}

func TestDecide_UpdateOutdatedInstancesOnly(t *testing.T) {
	instances := []deploy.Instance{
		{ID: "h1", Health: deploy.Healthy, Revision: "r2"},
		{ID: "h2", Health: deploy.Healthy, Revision: "r1"},
		{ID: "h3", Health: deploy.Unhealthy, Revision: "r2"},
		{ID: "h4", Health: deploy.Healthy, Revision: "r2"},
	}
	d := newDeployment(preset(t, deploy.ConfigOneAtATime))
	d.UpdateOutdatedInstancesOnly = true
	r := simulate(t, d, instances, nil)
	if r.d.Status != deploy.StatusSucceeded {
		t.Fatalf("status %v (%s), want Succeeded", r.d.Status, r.d.Error.Message)
	}
	want := map[string]deploy.InstanceStatus{"h1": deploy.InstanceSkipped, "h2": deploy.InstanceSucceeded, "h3": deploy.InstanceSucceeded, "h4": deploy.InstanceSkipped}
	if got := statuses(r.d); !reflect.DeepEqual(got, want) {
		t.Errorf("instances %v, want %v", got, want)
	}
	if !target(t, r.d, "h1").UpToDate || target(t, r.d, "h3").UpToDate {
		t.Error("UpToDate should mark h1 (healthy, on r2) and not h3 (unhealthy)")
	}
	for _, e := range target(t, r.d, "h4").Events {
		if e.Status != deploy.EventSkipped {
			t.Errorf("h4 %s is %v, want Skipped", e.Name, e.Status)
		}
	}

	t.Run("all up to date", func(t *testing.T) {
		r := simulate(t, d, []deploy.Instance{instances[0], instances[3]}, nil)
		if r.d.Status != deploy.StatusSucceeded || len(r.started) != 0 {
			t.Errorf("status %v, started %v; want Succeeded with nothing started", r.d.Status, r.started)
		}
	})
	t.Run("off", func(t *testing.T) {
		d := d
		d.UpdateOutdatedInstancesOnly = false
		r := simulate(t, d, instances, nil)
		if len(r.started) != 4 {
			t.Errorf("started %v, want every host", r.started)
		}
	})
}

func TestDecide_Lease(t *testing.T) {
	d := newDeployment(preset(t, deploy.ConfigOneAtATime))
	d.AutoRollback.OnFailure = true
	d, eff, err := deploy.Decide(d, deploy.Start{Instances: healthyFleet(1)}, t0)
	if err != nil {
		t.Fatal(err)
	}
	cmd := effectsOf[deploy.SendCommand](eff)[0]
	if want := t0.Add(deploy.DefaultLease); !cmd.LeaseDeadline.Equal(want) {
		t.Fatalf("lease deadline %v, want %v", cmd.LeaseDeadline, want)
	}
	if dl, ok := deploy.NextDeadline(d); !ok || !dl.Equal(cmd.LeaseDeadline) {
		t.Fatalf("NextDeadline = %v, %v; want %v", dl, ok, cmd.LeaseDeadline)
	}
	if got, ok := deploy.CommandFor(d, "h01"); !ok || got != cmd {
		t.Errorf("CommandFor = %+v, %v; want %+v", got, ok, cmd)
	}

	// Before the deadline a tick changes nothing.
	early, eff, err := deploy.Decide(d, deploy.Tick{}, cmd.LeaseDeadline.Add(-time.Nanosecond))
	if err != nil || len(eff) != 0 || !reflect.DeepEqual(early, d) {
		t.Fatalf("early tick: %v, %v effects", err, eff)
	}

	// A heartbeat renews the lease from its own time.
	hb := t0.Add(50 * time.Second)
	renewed, _, err := deploy.Decide(d, deploy.Heartbeat{Instance: "h01", Event: cmd.Event, Attempt: cmd.Attempt}, hb)
	if err != nil {
		t.Fatal(err)
	}
	if dl, _ := deploy.NextDeadline(renewed); !dl.Equal(hb.Add(deploy.DefaultLease)) {
		t.Errorf("after heartbeat NextDeadline = %v, want %v", dl, hb.Add(deploy.DefaultLease))
	}

	// At the deadline the event fails and the host with it.
	got, eff, err := deploy.Decide(d, deploy.Tick{}, cmd.LeaseDeadline)
	if err != nil {
		t.Fatal(err)
	}
	tg := target(t, got, "h01")
	e := tg.Events[0]
	if e.Status != deploy.EventFailed || e.Diagnostics.ErrorCode != deploy.DiagnosticHostUnresponsive {
		t.Errorf("event %v %+v, want Failed HostUnresponsive", e.Status, e.Diagnostics)
	}
	if want := "host stopped answering: no report within 60s"; e.Diagnostics.Message != want {
		t.Errorf("message %q, want %q", e.Diagnostics.Message, want)
	}
	if tg.Status != deploy.InstanceFailed {
		t.Errorf("host %v, want Failed", tg.Status)
	}
	if got.Status != deploy.StatusFailed || got.Error.Code != deploy.ErrorAgentIssue {
		t.Errorf("deployment %v %v, want Failed AGENT_ISSUE", got.Status, got.Error.Code)
	}
	if _, ok := deploy.NextDeadline(got); ok {
		t.Error("NextDeadline of a finished deployment should be none")
	}
	if rb := effectsOf[deploy.StartRollback](eff); len(rb) != 1 || rb[0].Revision != "r1" {
		t.Errorf("rollback effects %+v, want one of r1", rb)
	}
	// The late report is ignored: the first result received (the lease) stands.
	late := deploy.EventReported{Instance: "h01", Event: cmd.Event, Attempt: cmd.Attempt, Status: deploy.EventSucceeded}
	expectIgnored(t, got, late, cmd.LeaseDeadline.Add(time.Second), deploy.ErrFinished)

	t.Run("custom lease", func(t *testing.T) {
		d := newDeployment(preset(t, deploy.ConfigAllAtOnce))
		d.Lease = 15 * time.Second
		d, eff, _ := deploy.Decide(d, deploy.Start{Instances: healthyFleet(2)}, t0)
		for _, c := range effectsOf[deploy.SendCommand](eff) {
			if !c.LeaseDeadline.Equal(t0.Add(15 * time.Second)) {
				t.Errorf("deadline %v, want 15s after start", c.LeaseDeadline)
			}
		}
		got, _, _ := deploy.Decide(d, deploy.Tick{}, t0.Add(15*time.Second))
		if msg := target(t, got, "h01").Events[0].Diagnostics.Message; !strings.HasSuffix(msg, "within 15s") {
			t.Errorf("message %q", msg)
		}
	})
}

// A silent host on an ignorable event does not carry on: there is no one to carry on.
func TestDecide_LeaseOnIgnorableEventFailsHost(t *testing.T) {
	d := newDeployment(preset(t, deploy.ConfigAllAtOnce))
	d.IgnoreApplicationStopFailures = true
	d, _, _ = deploy.Decide(d, deploy.Start{Instances: healthyFleet(1)}, t0)
	got, eff, err := deploy.Decide(d, deploy.Tick{}, t0.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if len(effectsOf[deploy.SendCommand](eff)) != 0 || target(t, got, "h01").Status != deploy.InstanceFailed {
		t.Errorf("host %v with effects %+v, want Failed and no command", target(t, got, "h01").Status, eff)
	}
}

func TestDecide_Stop(t *testing.T) {
	tests := []struct {
		name         string
		stop         deploy.StopRequested
		auto         deploy.AutoRollback
		wantCode     deploy.ErrorCode
		wantRollback bool
	}{
		{"manual", deploy.StopRequested{}, deploy.AutoRollback{}, deploy.ErrorManualStop, false},
		{"manual with rollback", deploy.StopRequested{Rollback: true}, deploy.AutoRollback{}, deploy.ErrorManualStop, true},
		{"manual, group rolls back on request", deploy.StopRequested{}, deploy.AutoRollback{OnStopRequested: true}, deploy.ErrorManualStop, true},
		{"manual, group rolls back on alarm only", deploy.StopRequested{}, deploy.AutoRollback{OnAlarm: true}, deploy.ErrorManualStop, false},
		{"alarm", deploy.StopRequested{Alarm: true, Message: "alarm p99-latency fired"}, deploy.AutoRollback{}, deploy.ErrorAlarmActive, false},
		{"alarm, group rolls back on alarm", deploy.StopRequested{Alarm: true}, deploy.AutoRollback{OnAlarm: true}, deploy.ErrorAlarmActive, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := newDeployment(preset(t, deploy.ConfigHalfAtATime))
			d.AutoRollback = tt.auto
			dr := newDriver(t, d)
			dr.step(deploy.Start{Instances: healthyFleet(4)}) // h01 and h02 start
			for range 7 {
				dr.reportFor("h01", deploy.EventSucceeded) // h01 succeeds, h03 starts
			}
			for range 6 {
				dr.reportFor("h02", deploy.EventSucceeded) // h02 reaches its last event
			}
			// Now: h01 Succeeded; h02 in progress on its last event; h03 on its first; h04 pending.
			eff := dr.step(tt.stop)
			if len(eff) != 0 {
				t.Fatalf("stop emitted %+v while hosts are in progress, want nothing yet", eff)
			}
			if got := statuses(dr.r.d); got["h04"] != deploy.InstanceSkipped {
				t.Errorf("pending host is %v, want Skipped", got["h04"])
			}
			expectIgnored(t, dr.r.d, tt.stop, dr.now, deploy.ErrStale)

			eff = dr.reportFor("h02", deploy.EventSucceeded) // ValidateService
			if len(eff) != 0 {
				t.Fatalf("effects %+v after h02's last event, want none", eff)
			}
			eff = dr.reportFor("h03", deploy.EventSucceeded) // ApplicationStop
			if cmds := effectsOf[deploy.SendCommand](eff); len(cmds) != 0 {
				t.Errorf("commands %+v after stop, want none", cmds)
			}
			if len(dr.pending) != 0 {
				t.Fatalf("%d commands outstanding", len(dr.pending))
			}
			want := map[string]deploy.InstanceStatus{"h01": deploy.InstanceSucceeded, "h02": deploy.InstanceSucceeded, "h03": deploy.InstanceUnknown, "h04": deploy.InstanceSkipped}
			if got := statuses(dr.r.d); !reflect.DeepEqual(got, want) {
				t.Errorf("instances %v, want %v", got, want)
			}
			if dr.r.d.Status != deploy.StatusStopped || dr.r.d.Error.Code != tt.wantCode {
				t.Errorf("deployment %v %v, want Stopped %v", dr.r.d.Status, dr.r.d.Error.Code, tt.wantCode)
			}
			if tt.stop.Message != "" && dr.r.d.Error.Message != tt.stop.Message {
				t.Errorf("message %q, want %q", dr.r.d.Error.Message, tt.stop.Message)
			}
			wantEffects := []deploy.Effect{
				deploy.SetInstanceHealth{Instance: "h01", Health: deploy.Healthy, Revision: "r2"},
				deploy.SetInstanceHealth{Instance: "h02", Health: deploy.Healthy, Revision: "r2"},
				deploy.SetInstanceHealth{Instance: "h03", Health: deploy.Unhealthy},
				deploy.Finished{Deployment: "d-2", Status: deploy.StatusStopped, Error: dr.r.d.Error},
			}
			if tt.wantRollback {
				wantEffects = append(wantEffects, deploy.StartRollback{Deployment: "d-2", Group: "web", Revision: "r1"})
			}
			if !reflect.DeepEqual(eff, wantEffects) {
				t.Errorf("final effects\n got %+v\nwant %+v", eff, wantEffects)
			}
		})
	}
}

func TestDecide_StopBeforeStart(t *testing.T) {
	for _, status := range []deploy.Status{deploy.StatusCreated, deploy.StatusQueued} {
		d := newDeployment(preset(t, deploy.ConfigOneAtATime))
		d.Status = status
		got, eff, err := deploy.Decide(d, deploy.StopRequested{Rollback: true}, t0)
		if err != nil {
			t.Fatal(err)
		}
		want := []deploy.Effect{deploy.Finished{Deployment: "d-2", Status: deploy.StatusStopped, Error: got.Error}}
		if got.Status != deploy.StatusStopped || !reflect.DeepEqual(eff, want) {
			t.Errorf("from %v: %v with %+v, want Stopped with only Finished", status, got.Status, eff)
		}
	}
}

func TestDecide_AutoRollback(t *testing.T) {
	fail := map[string]string{"h01": "Install"}
	tests := []struct {
		name   string
		change func(*deploy.Deployment)
		want   bool
	}{
		{"on failure", func(d *deploy.Deployment) { d.AutoRollback.OnFailure = true }, true},
		{"disabled", func(*deploy.Deployment) {}, false},
		{"a rollback is not rolled back", func(d *deploy.Deployment) { d.AutoRollback.OnFailure = true; d.Creator = deploy.CreatorRollback }, false},
		{"no last good revision", func(d *deploy.Deployment) { d.AutoRollback.OnFailure = true; d.GroupRevision = "" }, false},
		{"same revision", func(d *deploy.Deployment) { d.AutoRollback.OnFailure = true; d.GroupRevision = d.Revision }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := newDeployment(preset(t, deploy.ConfigOneAtATime))
			tt.change(&d)
			r := simulate(t, d, healthyFleet(3), fail)
			if r.d.Status != deploy.StatusFailed {
				t.Fatalf("status %v, want Failed", r.d.Status)
			}
			rb := effectsOf[deploy.StartRollback](r.effects)
			if got := len(rb) == 1; got != tt.want {
				t.Fatalf("rollbacks %+v, want one: %v", rb, tt.want)
			}
			if tt.want {
				if want := (deploy.StartRollback{Deployment: "d-2", Group: "web", Revision: "r1"}); rb[0] != want {
					t.Errorf("rollback %+v, want %+v", rb[0], want)
				}
				if r.d.RollbackRevision != "r1" {
					t.Errorf("RollbackRevision %q, want r1", r.d.RollbackRevision)
				}
				if _, ok := r.effects[len(r.effects)-2].(deploy.Finished); !ok {
					t.Errorf("rollback should follow Finished: %+v", r.effects)
				}
			}
		})
	}
}

func TestDecide_FinishEffects(t *testing.T) {
	t.Run("success moves the group revision", func(t *testing.T) {
		dr := newDriver(t, newDeployment(preset(t, deploy.ConfigOneAtATime)))
		dr.step(deploy.Start{Instances: healthyFleet(3)})
		var last []deploy.Effect
		for len(dr.pending) > 0 {
			c := dr.pending[0]
			if c.Instance == "h03" && c.Event == "ApplicationStart" {
				last = dr.report(deploy.EventFailed, deploy.Diagnostics{ErrorCode: "ScriptFailed"})
				continue
			}
			last = dr.report(deploy.EventSucceeded, deploy.Diagnostics{})
		}
		want := []deploy.Effect{
			deploy.SetInstanceHealth{Instance: "h01", Health: deploy.Healthy, Revision: "r2"},
			deploy.SetInstanceHealth{Instance: "h02", Health: deploy.Healthy, Revision: "r2"},
			deploy.SetInstanceHealth{Instance: "h03", Health: deploy.Unhealthy},
			deploy.SetGroupRevision{Group: "web", Revision: "r2"},
			deploy.Finished{Deployment: "d-2", Status: deploy.StatusSucceeded},
		}
		if !reflect.DeepEqual(last, want) {
			t.Errorf("effects\n got %+v\nwant %+v", last, want)
		}
	})
	t.Run("failure keeps the group revision and leaves untouched hosts alone", func(t *testing.T) {
		r := simulate(t, newDeployment(preset(t, deploy.ConfigOneAtATime)), healthyFleet(3), map[string]string{"h02": "ValidateService"})
		if n := len(effectsOf[deploy.SetGroupRevision](r.effects)); n != 0 {
			t.Errorf("%d SetGroupRevision effects, want none", n)
		}
		want := []deploy.SetInstanceHealth{
			{Instance: "h01", Health: deploy.Healthy, Revision: "r2"},
			{Instance: "h02", Health: deploy.Unhealthy},
		}
		if got := effectsOf[deploy.SetInstanceHealth](r.effects); !reflect.DeepEqual(got, want) {
			t.Errorf("health effects %+v, want %+v", got, want)
		}
	})
}

func TestDecide_StaleInputs(t *testing.T) {
	d := newDeployment(preset(t, deploy.ConfigAllAtOnce))
	report := deploy.EventReported{Instance: "h01", Event: "ApplicationStop", Attempt: 1, Status: deploy.EventSucceeded}
	expectIgnored(t, d, report, t0, deploy.ErrWrongStatus)
	expectIgnored(t, d, deploy.InstanceGone{Instance: "h01"}, t0, deploy.ErrWrongStatus)

	d, _, err := deploy.Decide(d, deploy.Start{Instances: healthyFleet(2)}, t0)
	if err != nil {
		t.Fatal(err)
	}
	expectIgnored(t, d, deploy.Start{Instances: healthyFleet(2)}, t0, deploy.ErrWrongStatus)
	expectIgnored(t, d, deploy.Enqueue{}, t0, deploy.ErrWrongStatus)

	after, _, err := deploy.Decide(d, report, t0.Add(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		in   deploy.Input
		want error
	}{
		{"duplicate", report, deploy.ErrStale},
		{"duplicate with another result", deploy.EventReported{Instance: "h01", Event: "ApplicationStop", Attempt: 1, Status: deploy.EventFailed}, deploy.ErrStale},
		{"wrong attempt", deploy.EventReported{Instance: "h01", Event: "DownloadBundle", Attempt: 1, Status: deploy.EventSucceeded}, deploy.ErrStale},
		{"event not yet sent", deploy.EventReported{Instance: "h01", Event: "Install", Attempt: 2, Status: deploy.EventSucceeded}, deploy.ErrStale},
		{"heartbeat for a finished event", deploy.Heartbeat{Instance: "h01", Event: "ApplicationStop", Attempt: 1}, deploy.ErrStale},
		{"unknown instance", deploy.EventReported{Instance: "nope", Event: "ApplicationStop", Attempt: 1, Status: deploy.EventSucceeded}, deploy.ErrUnknownInstance},
		{"bad status", deploy.EventReported{Instance: "h02", Event: "ApplicationStop", Attempt: 1, Status: deploy.EventInProgress}, deploy.ErrInvalidInput},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			expectIgnored(t, after, tt.in, t0.Add(2*time.Second), tt.want)
		})
	}

	t.Run("finished", func(t *testing.T) {
		r := simulate(t, newDeployment(preset(t, deploy.ConfigAllAtOnce)), healthyFleet(1), nil)
		expectIgnored(t, r.d, report, t0, deploy.ErrFinished)
		expectIgnored(t, r.d, deploy.StopRequested{}, t0, deploy.ErrFinished)
	})
	t.Run("bad start", func(t *testing.T) {
		d := newDeployment(preset(t, deploy.ConfigAllAtOnce))
		dup := []deploy.Instance{{ID: "a"}, {ID: "a"}}
		expectIgnored(t, d, deploy.Start{Instances: dup}, t0, deploy.ErrInvalidInput)
		d.Config = hostCount(-1)
		expectIgnored(t, d, deploy.Start{Instances: healthyFleet(2)}, t0, deploy.ErrInvalidConfig)
	})
}

func TestDecide_Enqueue(t *testing.T) {
	d := newDeployment(preset(t, deploy.ConfigAllAtOnce))
	q, eff, err := deploy.Decide(d, deploy.Enqueue{}, t0)
	if err != nil || q.Status != deploy.StatusQueued || len(eff) != 0 {
		t.Fatalf("Enqueue: %v %v %+v", q.Status, err, eff)
	}
	expectIgnored(t, q, deploy.Enqueue{}, t0, deploy.ErrStale)
	r := simulate(t, q, healthyFleet(2), nil)
	if r.d.Status != deploy.StatusSucceeded {
		t.Errorf("queued deployment ended %v, want Succeeded", r.d.Status)
	}
}

func TestDecide_InstanceGone(t *testing.T) {
	dr := newDriver(t, newDeployment(preset(t, deploy.ConfigOneAtATime)))
	dr.step(deploy.Start{Instances: healthyFleet(3)})
	dr.report(deploy.EventSucceeded, deploy.Diagnostics{}) // h01 ApplicationStop
	dr.step(deploy.InstanceGone{Instance: "h03"})
	if got := target(t, dr.r.d, "h03"); got.Status != deploy.InstanceSkipped || !got.Gone {
		t.Errorf("pending gone host %v gone=%v, want Skipped and gone", got.Status, got.Gone)
	}
	expectIgnored(t, dr.r.d, deploy.InstanceGone{Instance: "h03"}, dr.now, deploy.ErrStale)

	// h01 leaves mid-lifecycle: its event fails; with h03 gone there are too few healthy hosts
	// left to take h02 offline.
	dr.pending = nil
	eff := dr.step(deploy.InstanceGone{Instance: "h01"})
	tg := target(t, dr.r.d, "h01")
	if tg.Status != deploy.InstanceFailed || tg.Events[1].Diagnostics.ErrorCode != deploy.DiagnosticInstanceGone {
		t.Errorf("gone host %v %+v, want Failed with InstanceGone", tg.Status, tg.Events[1].Diagnostics)
	}
	if dr.r.d.Status != deploy.StatusFailed || dr.r.d.Error.Code != deploy.ErrorHealthConstraints {
		t.Errorf("deployment %v %v, want Failed HEALTH_CONSTRAINTS", dr.r.d.Status, dr.r.d.Error.Code)
	}
	if n := len(effectsOf[deploy.SetInstanceHealth](eff)); n != 0 {
		t.Errorf("%d health effects for hosts that left, want none", n)
	}
}

// An agent reports Skipped for an event it had nothing to do for (no scripts, no previous
// revision): the record shows Skipped, and the host carries on as after a success.
func TestDecide_SkippedReportCountsAsSuccess(t *testing.T) {
	dr := newDriver(t, newDeployment(preset(t, deploy.ConfigAllAtOnce)))
	dr.step(deploy.Start{Instances: healthyFleet(1)})
	dr.report(deploy.EventSkipped, deploy.Diagnostics{}) // ApplicationStop on a first deployment
	dr.drain(nil)
	if got, want := dr.r.d.Status, deploy.StatusSucceeded; got != want {
		t.Fatalf("deployment %v, want %v", got, want)
	}
	events := target(t, dr.r.d, hostID(1)).Events
	if got, want := events[0].Status, deploy.EventSkipped; got != want {
		t.Errorf("%s recorded %v, want %v", events[0].Name, got, want)
	}
	if got, want := events[1].Status, deploy.EventSucceeded; got != want {
		t.Errorf("%s recorded %v, want %v", events[1].Name, got, want)
	}
}

// CodeDeploy's OneAtATime: "the overall deployment fails as soon as the application revision
// fails to be deployed to any but the last instance" — on a fleet never deployed to as well,
// where every host counts as unhealthy and the health count alone would carry on.
func TestDecide_OneAtATimeFailsBeforeTheLastHost(t *testing.T) {
	fresh := []deploy.Instance{{ID: "h1"}, {ID: "h2"}, {ID: "h3"}, {ID: "h4"}}
	tests := []struct {
		name        string
		instances   []deploy.Instance
		failAt      string
		want        deploy.Status
		wantStarted []string
	}{
		{"fresh fleet, first host", fresh, "h1", deploy.StatusFailed, []string{"h1"}},
		{"fresh fleet, middle host", fresh, "h2", deploy.StatusFailed, []string{"h1", "h2"}},
		{"fresh fleet, last host", fresh, "h4", deploy.StatusSucceeded, []string{"h1", "h2", "h3", "h4"}},
		{"healthy fleet, first host", healthyFleet(4), "h01", deploy.StatusFailed, []string{"h01"}},
		{"healthy fleet, last host", healthyFleet(4), "h04", deploy.StatusSucceeded, []string{"h01", "h02", "h03", "h04"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := simulate(t, newDeployment(preset(t, deploy.ConfigOneAtATime)), tt.instances, map[string]string{tt.failAt: "Install"})
			if r.d.Status != tt.want {
				t.Errorf("status %v (%s), want %v", r.d.Status, r.d.Error.Message, tt.want)
			}
			if !reflect.DeepEqual(r.started, tt.wantStarted) {
				t.Errorf("started %v, want %v", r.started, tt.wantStarted)
			}
			if tt.want == deploy.StatusFailed && r.d.Error.Code != deploy.ErrorHealthConstraints {
				t.Errorf("error code %v, want HEALTH_CONSTRAINTS", r.d.Error.Code)
			}
		})
	}
}

// Messages name hosts as people know them, not by their registration ids.
func TestDecide_MessagesNameHosts(t *testing.T) {
	instances := []deploy.Instance{
		{ID: "i-1", Name: "web-1", Health: deploy.Healthy, Revision: "r1"},
		{ID: "i-2", Name: "web-2", Health: deploy.Healthy, Revision: "r1"},
	}
	r := simulate(t, newDeployment(preset(t, deploy.ConfigOneAtATime)), instances, map[string]string{"i-1": "Install"})
	if !strings.Contains(r.d.Error.Message, "first failure: web-1 Install") || strings.Contains(r.d.Error.Message, "i-1") {
		t.Errorf("error message %q, want it to name web-1 and not its id", r.d.Error.Message)
	}
}
