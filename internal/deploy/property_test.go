package deploy_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/slipway-deploy/slipway/internal/deploy"
	"github.com/slipway-deploy/slipway/internal/traffic"
)

// healthyNow counts serving hosts independently of the package's own count: the hosts the
// revision is deployed to (a blue/green replacement that installed it is Ready).
func healthyNow(d deploy.Deployment) int {
	n := 0
	for _, t := range d.Targets {
		if t.Gone || t.Fleet == deploy.OriginalFleet {
			continue
		}
		switch t.Status {
		case deploy.InstanceSucceeded, deploy.InstanceReady:
			n++
		case deploy.InstancePending, deploy.InstanceSkipped:
			if t.HealthAtStart == deploy.Healthy {
				n++
			}
		}
	}
	return n
}

func randomDeployment(rng *rand.Rand) (deploy.Deployment, deploy.Start) {
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
	if rng.IntN(2) == 0 {
		d.Router = testRouter
	}
	d.IgnoreApplicationStopFailures = rng.IntN(2) == 0
	d.UpdateOutdatedInstancesOnly = rng.IntN(4) == 0
	d.AutoRollback = deploy.AutoRollback{OnFailure: rng.IntN(2) == 0, OnAlarm: rng.IntN(2) == 0}
	revisions := []string{"", "r0", "r1", "r2"}
	fleet := func(n, base int) []deploy.Instance {
		out := make([]deploy.Instance, n)
		for i := range out {
			out[i] = deploy.Instance{ID: hostID(rng.IntN(1000)*100 + base + i), Revision: revisions[rng.IntN(len(revisions))]}
			if rng.IntN(10) < 7 {
				out[i].Health = deploy.Healthy
			}
		}
		return out
	}
	start := deploy.Start{Instances: fleet(n, 0)}
	if rng.IntN(3) == 0 {
		d.Type = deploy.BlueGreen
		d.Router = testRouter
		d.BlueGreen = randomBlueGreen(rng)
		start.Originals = fleet(rng.IntN(5), 50)
	}
	return d, routed(d.Router, start)
}

func randomBlueGreen(rng *rand.Rand) deploy.BlueGreenOptions {
	shapes := []traffic.Config{
		{AllAtOnce: true},
		{Preset: traffic.PresetECSLinear10PercentEvery1Minutes},
		{Canary: &traffic.IncrementConfig{Percent: 1 + rng.IntN(99), Interval: "30s"}},
		{Linear: &traffic.IncrementConfig{Percent: 1 + rng.IntN(99), Interval: "5s"}},
		{Steps: []traffic.StepConfig{
			{Weight: ptr(rng.IntN(101))}, {Pause: traffic.PauseUntilPromoted}, {Analysis: &traffic.AnalysisConfig{Name: "errors", Duration: "1m"}},
			{Weight: ptr(rng.IntN(101))}, {Pause: "10s"},
		}},
	}
	o := deploy.BlueGreenOptions{Traffic: shapes[rng.IntN(len(shapes))]}
	if rng.IntN(3) == 0 {
		o.ReadyWait = 30 * time.Minute
	}
	if rng.IntN(2) == 0 {
		o.ReleaseCommand = "terminate"
		o.ReleaseWait = time.Duration(rng.IntN(2)) * 10 * time.Minute
	}
	return o
}

func ptr[T any](v T) *T { return &v }

// TestDecide_Properties drives random deployments, in place and blue/green, with random
// outcomes, interleavings, lease expiries, stops, departures, stale reports, router results,
// pauses and promotions, and checks after every step what must always hold.
func TestDecide_Properties(t *testing.T) {
	seeds := uint64(300)
	if testing.Short() {
		seeds = 75
	}
	for seed := range seeds {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			t.Parallel()
			rng := rand.New(rand.NewPCG(seed, 0x5eed))
			d, start := randomDeployment(rng)
			failPct := rng.IntN(30)
			now := t0
			var sent []deploy.SendCommand
			var effects []deploy.Effect

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
					if c, ok := e.(deploy.SendCommand); ok {
						sent = append(sent, c)
					}
				}
				effects = append(effects, eff...)
				d = got
				return nil
			}
			// refusable applies an input that may not apply now.
			refusable := func(in deploy.Input) bool {
				err := apply(in)
				if err != nil && !errors.Is(err, deploy.ErrWrongStatus) && !errors.Is(err, deploy.ErrStale) {
					t.Fatalf("Decide(%T): %v", in, err)
				}
				return err == nil
			}

			if err := apply(start); err != nil {
				t.Fatal(err)
			}
			stopped := false
			for steps := 0; !d.Status.Finished(); steps++ {
				if steps > 20000 {
					t.Fatal("deployment did not finish")
				}
				now = now.Add(time.Duration(rng.IntN(5)) * time.Second)
				var running []deploy.SendCommand
				for _, tg := range d.Targets {
					if c, ok := deploy.CommandFor(d, tg.Instance); ok {
						running = append(running, c)
					}
				}
				pending := deploy.PendingTraffic(d)
				switch r := rng.IntN(100); {
				case r < 3:
					if dl, ok := deploy.NextDeadline(d); ok {
						now = later(now, dl)
						mustApply(t, apply(deploy.Tick{}))
					}
				case r < 4 && !stopped:
					if refusable(deploy.StopRequested{Alarm: rng.IntN(2) == 0, Rollback: rng.IntN(2) == 0}) {
						stopped = true
					}
				case r < 5:
					tg := d.Targets[rng.IntN(len(d.Targets))]
					err := apply(deploy.InstanceGone{Instance: tg.Instance})
					if err != nil && (!tg.Gone || !errors.Is(err, deploy.ErrStale)) && !errors.Is(err, deploy.ErrWrongStatus) {
						t.Fatalf("InstanceGone(%s): %v", tg.Instance, err)
					}
				case r < 10 && len(sent) > 0:
					old := sent[rng.IntN(len(sent))]
					if cur, ok := deploy.CommandFor(d, old.Instance); ok && cur.Event == old.Event && cur.Attempt == old.Attempt {
						continue
					}
					err := apply(deploy.EventReported{Instance: old.Instance, Event: old.Event, Attempt: old.Attempt, Status: deploy.EventSucceeded})
					if !errors.Is(err, deploy.ErrStale) && !errors.Is(err, deploy.ErrWrongStatus) {
						t.Fatalf("stale report %+v: error %v, want ErrStale", old, err)
					}
				case r < 12 && d.Type == deploy.BlueGreen:
					refusable(deploy.Pause{})
				case r < 15 && len(running) > 0:
					c := running[rng.IntN(len(running))]
					mustApply(t, apply(deploy.Heartbeat{Instance: c.Instance, Event: c.Event, Attempt: c.Attempt}))
				default:
					progress(t, rng, &now, d, running, pending, failPct, apply, refusable)
				}
			}
			checkEnd(t, d, effects)
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

// later is the later of two times.
func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// progress does one of the things the world does next for a deployment: a host reports, the
// router answers, a person continues or promotes, time passes to the next deadline.
func progress(t *testing.T, rng *rand.Rand, now *time.Time, d deploy.Deployment, running []deploy.SendCommand, pending []deploy.SetTraffic,
	failPct int, apply func(deploy.Input) error, refusable func(deploy.Input) bool) {
	t.Helper()
	var moves []func()
	for _, c := range running {
		moves = append(moves, func() {
			status := deploy.EventSucceeded
			if rng.IntN(100) < failPct {
				status = deploy.EventFailed
			}
			mustApply(t, apply(deploy.EventReported{Instance: c.Instance, Event: c.Event, Attempt: c.Attempt, Status: status}))
		})
	}
	for _, p := range pending {
		moves = append(moves, func() {
			failed := rng.IntN(100) < failPct/3
			switch {
			case p.Instance != "":
				status := deploy.EventSucceeded
				if failed {
					status = deploy.EventFailed
				}
				mustApply(t, apply(deploy.EventReported{Instance: p.Instance, Event: p.Event, Attempt: p.Attempt, Status: status}))
			case failed:
				mustApply(t, apply(deploy.TrafficFailed{Change: p.Change, Message: "refused"}))
			default:
				mustApply(t, apply(deploy.TrafficApplied{Change: p.Change}))
			}
		})
	}
	if r, ok := deploy.PendingRelease(d); ok {
		moves = append(moves, func() { mustApply(t, apply(deploy.OriginalsReleased{OK: rng.IntN(2) == 0, Message: r.Command})) })
	}
	if _, step, until, ok := deploy.CurrentAnalysis(d); ok {
		moves = append(moves, func() {
			*now = later(*now, until)
			mustApply(t, apply(deploy.AnalysisPassed{Step: step}))
		})
	}
	if d.Status == deploy.StatusReady || d.Status == deploy.StatusBaking && d.Shift.Phase == deploy.PhaseBake {
		moves = append(moves, func() { mustApply(t, apply(deploy.Continue{})) })
	}
	if len(moves) > 0 {
		moves[rng.IntN(len(moves))]()
		return
	}
	// Nothing to answer: a promotion or a deadline is what it waits for.
	if refusable(deploy.Promote{}) {
		return
	}
	dl, ok := deploy.NextDeadline(d)
	if !ok {
		t.Fatalf("deployment %v (phase %v) waits for nothing the world can do: %+v", d.Status, d.Shift.Phase, d.Shift)
	}
	*now = later(*now, dl)
	mustApply(t, apply(deploy.Tick{}))
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
	installing := after.Type == deploy.InPlace || after.Shift.Phase == deploy.PhaseInstall
	if after.Status == deploy.StatusInProgress && installing && o.InProgress > after.Batch {
		t.Fatalf("%d hosts in progress, batch is %d", o.InProgress, after.Batch)
	}
	startedHealthy := false
	for i, tg := range after.Targets {
		if i < len(before.Targets) && before.Targets[i].Status == deploy.InstancePending && tg.Fleet != deploy.OriginalFleet &&
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
		switch e := e.(type) {
		case deploy.SendCommand:
			if cur, ok := deploy.CommandFor(after, e.Instance); !ok || cur != e {
				t.Fatalf("sent %+v but the state's command is %+v", e, cur)
			}
			checkOrder(t, after, e)
		case deploy.SetTraffic:
			if !slices.ContainsFunc(deploy.PendingTraffic(after), func(p deploy.SetTraffic) bool { return reflect.DeepEqual(p, e) }) {
				t.Fatalf("asked the router for %+v but the state's pending changes are %+v", e, deploy.PendingTraffic(after))
			}
			if !slices.ContainsFunc(e.Servers, func(s deploy.ServerTraffic) bool {
				return s.Admin == traffic.Ready && (s.Weight > 0 || !s.SetWeight)
			}) && e.Instance == "" {
				t.Fatalf("change %d leaves no server taking traffic: %v", e.Change, e.Servers)
			}
		}
	}
	if after.Type == deploy.BlueGreen {
		checkBlueGreenStep(t, before, after)
	}
}

// checkOrder checks that a blue/green host command comes in its phase: originals after the
// replacements are done, AfterAllowTraffic once all the traffic has moved.
func checkOrder(t *testing.T, d deploy.Deployment, c deploy.SendCommand) {
	t.Helper()
	if d.Type != deploy.BlueGreen {
		return
	}
	tg := target(t, d, c.Instance)
	switch {
	case tg.Fleet == deploy.OriginalFleet:
		if d.Shift.Phase < deploy.PhaseBeforeBlockTraffic {
			t.Fatalf("original %s sent %s in phase %v", c.Instance, c.Event, d.Shift.Phase)
		}
		for _, r := range d.Targets {
			if r.Fleet == deploy.ReplacementFleet && r.Status == deploy.InstanceInProgress {
				t.Fatalf("original %s sent %s while replacement %s is in progress", c.Instance, c.Event, r.Instance)
			}
		}
	case c.Event == "AfterAllowTraffic":
		if d.Shift.Percent != 100 || d.Shift.Reverting {
			t.Fatalf("AfterAllowTraffic sent to %s with %d%% of the traffic moved", c.Instance, d.Shift.Percent)
		}
	}
}

// checkBlueGreenStep checks a blue/green transition.
func checkBlueGreenStep(t *testing.T, before, after deploy.Deployment) {
	t.Helper()
	s := after.Shift
	if p := deploy.PendingTraffic(after); len(p) > 1 {
		t.Fatalf("%d traffic changes pending at once", len(p))
	}
	if s.Percent > 0 && s.Phase < deploy.PhaseAllowTraffic {
		t.Fatalf("%d%% of the traffic moved in phase %v", s.Percent, s.Phase)
	}
	if !s.Reverting && s.Percent < before.Shift.Percent {
		t.Fatalf("traffic went from %d%% to %d%% without a revert", before.Shift.Percent, s.Percent)
	}
	if s.Phase < before.Shift.Phase {
		t.Fatalf("phase went back from %v to %v", before.Shift.Phase, s.Phase)
	}
	if after.Status == deploy.StatusReady && s.Phase != deploy.PhaseReady || after.Status == deploy.StatusBaking && s.Phase < deploy.PhaseBake {
		t.Fatalf("status %v in phase %v", after.Status, s.Phase)
	}
}

// checkEnd checks a finished deployment and every effect its run emitted.
func checkEnd(t *testing.T, d deploy.Deployment, effects []deploy.Effect) {
	t.Helper()
	if n := len(effectsOf[deploy.Finished](effects)); n != 1 {
		t.Errorf("%d Finished effects, want 1", n)
	}
	if p := deploy.PendingTraffic(d); len(p) > 0 {
		t.Errorf("finished with traffic changes pending: %+v", p)
	}
	if d.Type == deploy.BlueGreen {
		checkBlueGreenEnd(t, d, effects)
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

// checkBlueGreenEnd checks where a finished blue/green deployment left the traffic.
func checkBlueGreenEnd(t *testing.T, d deploy.Deployment, effects []deploy.Effect) {
	t.Helper()
	swaps := len(effectsOf[deploy.SwapFleets](effects))
	if want := map[bool]int{true: 1}[d.Status == deploy.StatusSucceeded]; swaps != want {
		t.Errorf("%v with %d SwapFleets effects, want %d", d.Status, swaps, want)
	}
	if len(effectsOf[deploy.StartRollback](effects)) > 0 {
		t.Error("a blue/green deployment started a rollback deployment; its rollback is the revert")
	}
	desired, touched := deploy.DesiredTraffic(d)
	if !touched {
		if d.Status == deploy.StatusSucceeded {
			t.Error("succeeded without ever asking the router for traffic")
		}
		return
	}
	fleet := map[string]deploy.Fleet{}
	for _, tg := range d.Targets {
		fleet[tg.Server] = tg.Fleet
	}
	for _, s := range desired.Servers {
		f := fleet[s.Server]
		switch {
		case d.Status == deploy.StatusSucceeded && f == deploy.OriginalFleet:
			if s.Admin != traffic.Drain {
				t.Errorf("succeeded leaving original %s %v", s.Server, s.Admin)
			}
		case d.Status == deploy.StatusSucceeded:
			if d.Shift.Percent != 100 {
				t.Errorf("succeeded at %d%%", d.Shift.Percent)
			}
		case d.Shift.RevertError != "":
		case f == deploy.OriginalFleet:
			if s.Admin != traffic.Ready || s.Weight == 0 {
				t.Errorf("%v leaving original %s %v weight %d; want all traffic back on the originals", d.Status, s.Server, s.Admin, s.Weight)
			}
		default:
			if s.Admin != traffic.Drain || s.Weight != 0 {
				t.Errorf("%v leaving replacement %s %v weight %d; want it drained", d.Status, s.Server, s.Admin, s.Weight)
			}
		}
	}
	if d.Status != deploy.StatusSucceeded && !strings.Contains(d.Error.Message, "original instances") {
		t.Errorf("%v after moving traffic with message %q, which does not say where the traffic is", d.Status, d.Error.Message)
	}
}
