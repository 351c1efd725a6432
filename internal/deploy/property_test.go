package deploy_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"github.com/slipway-deploy/slipway/internal/deploy"
)

// healthyNow counts serving hosts independently of the package's own count.
func healthyNow(d deploy.Deployment) int {
	n := 0
	for _, t := range d.Targets {
		if t.Gone {
			continue
		}
		switch t.Status {
		case deploy.InstanceSucceeded:
			n++
		case deploy.InstancePending, deploy.InstanceSkipped:
			if t.HealthAtStart == deploy.Healthy {
				n++
			}
		}
	}
	return n
}

func randomDeployment(rng *rand.Rand) (deploy.Deployment, []deploy.Instance) {
	n := 1 + rng.IntN(12)
	var c deploy.Config
	switch rng.IntN(5) {
	case 0, 1, 2:
		c = deploy.Presets()[rng.IntN(3)]
	case 3:
		c = hostCount(rng.IntN(n + 1))
	default:
		c = fleetPercent(rng.IntN(100))
	}
	d := newDeployment(c)
	d.HasTrafficRouter = rng.IntN(2) == 0
	d.IgnoreApplicationStopFailures = rng.IntN(2) == 0
	d.UpdateOutdatedInstancesOnly = rng.IntN(4) == 0
	d.AutoRollback = deploy.AutoRollback{OnFailure: rng.IntN(2) == 0, OnAlarm: rng.IntN(2) == 0}
	revisions := []string{"", "r0", "r1", "r2"}
	instances := make([]deploy.Instance, n)
	for i := range instances {
		instances[i] = deploy.Instance{ID: hostID(rng.IntN(1000)*100 + i), Revision: revisions[rng.IntN(len(revisions))]}
		if rng.IntN(10) < 7 {
			instances[i].Health = deploy.Healthy
		}
	}
	return d, instances
}

// TestDecide_Properties drives random deployments with random outcomes, interleavings, lease
// expiries, stops, departures and stale reports, and checks after every step what must always
// hold.
func TestDecide_Properties(t *testing.T) {
	seeds := uint64(200)
	if testing.Short() {
		seeds = 50
	}
	for seed := range seeds {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			t.Parallel()
			rng := rand.New(rand.NewPCG(seed, 0x5eed))
			d, instances := randomDeployment(rng)
			failPct := rng.IntN(30)
			now := t0
			var sent []deploy.SendCommand
			finished := 0

			initial := deepCopy(d)
			var steps []step
			apply := func(in deploy.Input) error {
				t.Helper()
				before := deepCopy(d)
				got, eff, err := deploy.Decide(d, in, now)
				steps = append(steps, step{in: in, now: now, err: err, effects: eff})
				again, eff2, err2 := deploy.Decide(d, in, now)
				if !reflect.DeepEqual(got, again) || !reflect.DeepEqual(eff, eff2) || fmt.Sprint(err) != fmt.Sprint(err2) {
					t.Fatalf("Decide(%T) is not deterministic", in)
				}
				if !reflect.DeepEqual(d, before) {
					t.Fatalf("Decide(%T) changed its argument", in)
				}
				if err != nil {
					if !reflect.DeepEqual(got, before) || len(eff) != 0 {
						t.Fatalf("Decide(%T) failed with %v but changed state or emitted %v", in, err, eff)
					}
					return err
				}
				checkStep(t, before, got, eff)
				for _, e := range eff {
					switch e := e.(type) {
					case deploy.SendCommand:
						sent = append(sent, e)
					case deploy.Finished:
						finished++
					}
				}
				d = got
				return nil
			}

			if err := apply(deploy.Start{Instances: instances}); err != nil {
				t.Fatal(err)
			}
			stopped := false
			for steps := 0; !d.Status.Finished(); steps++ {
				if steps > 10000 {
					t.Fatal("deployment did not finish")
				}
				now = now.Add(time.Duration(rng.IntN(5)) * time.Second)
				var running []deploy.SendCommand
				for _, tg := range d.Targets {
					if c, ok := deploy.CommandFor(d, tg.Instance); ok {
						running = append(running, c)
					}
				}
				if len(running) == 0 {
					t.Fatalf("deployment %v with nothing running", d.Status)
				}
				switch r := rng.IntN(100); {
				case r < 3:
					dl, ok := deploy.NextDeadline(d)
					if !ok {
						t.Fatal("NextDeadline is none while hosts run")
					}
					now = dl
					mustApply(t, apply(deploy.Tick{}))
				case r < 4 && !stopped:
					stopped = true
					mustApply(t, apply(deploy.StopRequested{Alarm: rng.IntN(2) == 0, Rollback: rng.IntN(2) == 0}))
				case r < 5:
					tg := d.Targets[rng.IntN(len(d.Targets))]
					err := apply(deploy.InstanceGone{Instance: tg.Instance})
					if err != nil && (!tg.Gone || !errors.Is(err, deploy.ErrStale)) {
						t.Fatalf("InstanceGone(%s): %v", tg.Instance, err)
					}
				case r < 10 && len(sent) > 0:
					old := sent[rng.IntN(len(sent))]
					if cur, ok := deploy.CommandFor(d, old.Instance); ok && cur.Event == old.Event && cur.Attempt == old.Attempt {
						continue
					}
					err := apply(deploy.EventReported{Instance: old.Instance, Event: old.Event, Attempt: old.Attempt, Status: deploy.EventSucceeded})
					if !errors.Is(err, deploy.ErrStale) {
						t.Fatalf("stale report %+v: error %v, want ErrStale", old, err)
					}
				case r < 15:
					c := running[rng.IntN(len(running))]
					mustApply(t, apply(deploy.Heartbeat{Instance: c.Instance, Event: c.Event, Attempt: c.Attempt}))
				default:
					c := running[rng.IntN(len(running))]
					status := deploy.EventSucceeded
					if rng.IntN(100) < failPct {
						status = deploy.EventFailed
					}
					mustApply(t, apply(deploy.EventReported{Instance: c.Instance, Event: c.Event, Attempt: c.Attempt, Status: status}))
				}
			}
			checkEnd(t, d, finished)
			checkDecideAll(t, rng, initial, steps, d)
		})
	}
}

// step is one input of a property run and what Decide made of it.
type step struct {
	in      deploy.Input
	now     time.Time
	err     error
	effects []deploy.Effect
}

// checkDecideAll replays a property run through DecideAll in random batches of inputs that share
// a time, as the runtime batches them, and checks that it ends where Decide did, with the same
// effects and errors, without changing its argument.
func checkDecideAll(t *testing.T, rng *rand.Rand, d deploy.Deployment, steps []step, want deploy.Deployment) {
	t.Helper()
	for len(steps) > 0 {
		n := 1
		for n < len(steps) && steps[n].now.Equal(steps[0].now) && rng.IntN(4) != 0 {
			n++
		}
		batch := steps[:n]
		steps = steps[n:]
		ins := make([]deploy.Input, n)
		var wantEff []deploy.Effect
		for i, s := range batch {
			ins[i] = s.in
			wantEff = append(wantEff, s.effects...)
		}
		before := deepCopy(d)
		got, eff, errs := deploy.DecideAll(d, ins, batch[0].now)
		if !reflect.DeepEqual(d, before) {
			t.Fatalf("DecideAll changed its argument")
		}
		for i, s := range batch {
			if fmt.Sprint(errs[i]) != fmt.Sprint(s.err) {
				t.Fatalf("DecideAll input %d (%T): error %v, Decide said %v", i, s.in, errs[i], s.err)
			}
		}
		if !reflect.DeepEqual(eff, wantEff) {
			t.Fatalf("DecideAll of %d inputs: effects %v, Decide emitted %v", n, eff, wantEff)
		}
		d = got
	}
	if !reflect.DeepEqual(d, want) {
		t.Fatalf("DecideAll ended in %+v, Decide in %+v", d, want)
	}
}

func mustApply(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// checkStep checks one transition.
func checkStep(t *testing.T, before, after deploy.Deployment, eff []deploy.Effect) {
	t.Helper()
	o := deploy.Summarize(after)
	if after.Status == deploy.StatusInProgress && o.InProgress > after.Batch {
		t.Fatalf("%d hosts in progress, batch is %d", o.InProgress, after.Batch)
	}
	startedHealthy := false
	for i, tg := range after.Targets {
		if i < len(before.Targets) && before.Targets[i].Status == deploy.InstancePending &&
			tg.Status != deploy.InstancePending && tg.Attempt > 0 && tg.HealthAtStart == deploy.Healthy {
			startedHealthy = true
		}
		running := 0
		for _, e := range tg.Events {
			if e.Status == deploy.EventInProgress {
				running++
			}
		}
		if want := map[bool]int{true: 1, false: 0}[tg.Status == deploy.InstanceInProgress]; running != want {
			t.Fatalf("host %s is %v with %d events in progress", tg.Instance, tg.Status, running)
		}
	}
	// Taking a healthy host offline must never be what brings the count below the minimum:
	// hosts start only after the step's own failures are counted.
	if startedHealthy && healthyNow(after) < after.Minimum {
		t.Fatalf("started a healthy host leaving %d healthy, minimum %d", healthyNow(after), after.Minimum)
	}
	for _, e := range eff {
		c, ok := e.(deploy.SendCommand)
		if !ok {
			continue
		}
		if cur, ok := deploy.CommandFor(after, c.Instance); !ok || cur != c {
			t.Fatalf("sent %+v but the state's command is %+v", c, cur)
		}
	}
}

// checkEnd checks a finished deployment.
func checkEnd(t *testing.T, d deploy.Deployment, finished int) {
	t.Helper()
	if finished != 1 {
		t.Errorf("%d Finished effects, want 1", finished)
	}
	for _, tg := range d.Targets {
		if !tg.Status.Finished() {
			t.Errorf("host %s ended %v", tg.Instance, tg.Status)
		}
		for _, e := range tg.Events {
			if e.Status == deploy.EventPending || e.Status == deploy.EventInProgress {
				t.Errorf("host %s event %s ended %v", tg.Instance, e.Name, e.Status)
			}
		}
	}
	if d.Status == deploy.StatusSucceeded {
		onRevision := 0
		for _, tg := range d.Targets {
			if !tg.Gone && (tg.Status == deploy.InstanceSucceeded || tg.UpToDate) {
				onRevision++
			}
		}
		if h := healthyNow(d); h < d.Minimum || onRevision == 0 {
			t.Errorf("succeeded with %d healthy (minimum %d) and %d on the revision", h, d.Minimum, onRevision)
		}
	}
	if d.Status == deploy.StatusFailed && d.Error.Code == "" {
		t.Error("failed without an error code")
	}
}
