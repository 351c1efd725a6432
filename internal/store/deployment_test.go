package store_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/slipway-deploy/slipway/internal/deploy"
	"github.com/slipway-deploy/slipway/internal/store"
)

func TestSQLite_CreateDeployment(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	newFixture(t, s, 0)

	d, adm := create(t, s, newDeployment("d-1", "r1"))
	if adm != deploy.AdmitStart || d.Status != deploy.StatusCreated {
		t.Errorf("first deployment: got %v %v, want start Created", adm, d.Status)
	}
	got := get(t, s, "d-1")
	if got.Version != 1 || !reflect.DeepEqual(got.Deployment, d) {
		t.Errorf("GetDeployment: got version %d %+v, want version 1 %+v", got.Version, got.Deployment, d)
	}

	d2, adm := create(t, s, newDeployment("d-2", "r2"))
	if adm != deploy.AdmitQueued || d2.Status != deploy.StatusQueued {
		t.Errorf("second deployment: got %v %v, want queued Queued", adm, d2.Status)
	}
	if got := get(t, s, "d-2").Deployment.Status; got != deploy.StatusQueued {
		t.Errorf("stored second deployment: got %v, want Queued", got)
	}

	for _, tc := range []struct {
		name   string
		d      deploy.Deployment
		refuse bool
		want   error
	}{
		{"busy and refusing", newDeployment("d-3", "r3"), true, deploy.ErrGroupBusy},
		{"duplicate id", newDeployment("d-1", "r1"), false, store.ErrExists},
		{"no group", func() deploy.Deployment { d := newDeployment("d-4", "r"); d.Group = "nope"; return d }(), false, store.ErrNotFound},
		{"empty id", newDeployment("", "r"), false, store.ErrInvalid},
		{"not Created", func() deploy.Deployment { d := newDeployment("d-5", "r"); d.Status = deploy.StatusInProgress; return d }(), false, store.ErrInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := s.CreateDeployment(ctx, tc.d, tc.refuse)
			wantErr(t, "CreateDeployment", err, tc.want)
		})
	}
	g, err := s.GetGroup(ctx, "app", "web")
	if err != nil {
		t.Fatal(err)
	}
	if want := (deploy.Queue{Active: "d-1", Waiting: []string{"d-2"}}); !reflect.DeepEqual(g.Queue, want) {
		t.Errorf("queue after refused creates: got %+v, want %+v", g.Queue, want)
	}
	_, err = s.GetDeployment(ctx, "d-3")
	wantErr(t, "refused deployment", err, store.ErrNotFound)
}

func TestSQLite_ListDeployments(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	f := newFixture(t, s, 1)
	if _, err := s.CreateGroup(ctx, store.Group{Application: "app", Name: "api", ConfigName: deploy.ConfigAllAtOnce}); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		d := newDeployment(fmt.Sprintf("d-%d", i+1), "r")
		d.CreateTime = t0.Add(time.Duration(i) * time.Second)
		create(t, s, d)
	}
	api := newDeployment("d-api", "r")
	api.Group, api.CreateTime = "api", t0.Add(9*time.Second)
	create(t, s, api)
	start(t, s, "d-1", f.ids())
	runToEnd(t, s, "d-1", nil)

	for _, tc := range []struct {
		name string
		f    store.DeploymentFilter
		want []string
	}{
		{"all, newest first", store.DeploymentFilter{}, []string{"d-api", "d-3", "d-2", "d-1"}},
		{"group", store.DeploymentFilter{Application: "app", Group: "web"}, []string{"d-3", "d-2", "d-1"}},
		{"limit", store.DeploymentFilter{Application: "app", Group: "web", Limit: 2}, []string{"d-3", "d-2"}},
		{"succeeded", store.DeploymentFilter{Statuses: []deploy.Status{deploy.StatusSucceeded}}, []string{"d-1"}},
		{"waiting", store.DeploymentFilter{Statuses: []deploy.Status{deploy.StatusCreated, deploy.StatusQueued}}, []string{"d-api", "d-3", "d-2"}},
		{"other application", store.DeploymentFilter{Application: "nope"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			list, err := s.ListDeployments(ctx, tc.f)
			if err != nil {
				t.Fatalf("ListDeployments: %v", err)
			}
			var got []string
			for _, v := range list {
				got = append(got, v.Deployment.ID)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("ListDeployments(%+v): got %v, want %v", tc.f, got, tc.want)
			}
		})
	}

	active, err := s.ActiveDeployments(ctx)
	if err != nil {
		t.Fatalf("ActiveDeployments: %v", err)
	}
	var got []string
	for _, v := range active {
		got = append(got, v.Deployment.ID)
	}
	// d-1 finished and released the queue, so d-2 is active and the others wait.
	if want := []string{"d-2", "d-3", "d-api"}; !reflect.DeepEqual(got, want) {
		t.Errorf("ActiveDeployments: got %v, want %v", got, want)
	}
}

func TestSQLite_SaveDeployment_VersionConflict(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	f := newFixture(t, s, 2)
	create(t, s, newDeployment("d-1", "r1"))
	v := get(t, s, "d-1")
	d, effects, err := deploy.Decide(v.Deployment, deploy.Start{Instances: []deploy.Instance{{ID: f.ids()[0]}, {ID: f.ids()[1]}}}, t0)
	if err != nil {
		t.Fatal(err)
	}
	saved, err := s.SaveDeployment(ctx, d, v.Version, effects)
	if err != nil {
		t.Fatalf("SaveDeployment: %v", err)
	}
	if saved.Version != 2 {
		t.Errorf("SaveDeployment: got version %d, want 2", saved.Version)
	}
	// The same save again is a decision made from a state that is no longer current.
	_, err = s.SaveDeployment(ctx, d, v.Version, effects)
	wantErr(t, "second save from version 1", err, store.ErrVersionConflict)
	_, err = s.SaveDeployment(ctx, d, 7, nil)
	wantErr(t, "save from a future version", err, store.ErrVersionConflict)
	missing := d
	missing.ID = "d-nope"
	_, err = s.SaveDeployment(ctx, missing, 1, nil)
	wantErr(t, "save unknown", err, store.ErrNotFound)
	moved := d
	moved.Group = "other"
	_, err = s.SaveDeployment(ctx, moved, 2, nil)
	wantErr(t, "save into another group", err, store.ErrInvalid)

	got := get(t, s, "d-1")
	if got.Version != 2 || !reflect.DeepEqual(got.Deployment, d) {
		t.Errorf("after conflicts: got version %d, want 2 with the first save's state", got.Version)
	}
	effs, err := s.DeploymentEffects(ctx, "d-1")
	if err != nil {
		t.Fatal(err)
	}
	if len(effs) != len(effects) {
		t.Errorf("outbox: got %d effects, want %d (the conflicting saves add none)", len(effs), len(effects))
	}
}

// TestSQLite_SaveDeployment_Lifecycle drives a deployment to success and checks the outbox and
// every bookkeeping effect it applied.
func TestSQLite_SaveDeployment_Lifecycle(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	f := newFixture(t, s, 3)
	create(t, s, newDeployment("d-1", "r1"))
	create(t, s, newDeployment("d-2", "r2"))
	start(t, s, "d-1", f.ids())
	saved := runToEnd(t, s, "d-1", nil)

	if saved.Next != "d-2" || saved.Rollback != "" {
		t.Errorf("final save: got %+v, want Next d-2 and no rollback", saved)
	}
	d := get(t, s, "d-1").Deployment
	if d.Status != deploy.StatusSucceeded {
		t.Fatalf("d-1: got %v, want Succeeded", d.Status)
	}
	g, err := s.GetGroup(ctx, "app", "web")
	if err != nil {
		t.Fatal(err)
	}
	if g.CurrentRevision != "r1" || g.LastSuccessfulDeployment != "d-1" {
		t.Errorf("group: got revision %q last %q, want r1 d-1", g.CurrentRevision, g.LastSuccessfulDeployment)
	}
	if want := (deploy.Queue{Active: "d-2"}); !reflect.DeepEqual(g.Queue, want) {
		t.Errorf("queue: got %+v, want %+v", g.Queue, want)
	}
	health, err := s.InstanceHealth(ctx, "app", "web")
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range f.ids() {
		if want := (deploy.Instance{ID: id, Health: deploy.Healthy, Revision: "r1"}); health[id] != want {
			t.Errorf("health of %s: got %+v, want %+v", id, health[id], want)
		}
	}

	effs, err := s.DeploymentEffects(ctx, "d-1")
	if err != nil {
		t.Fatal(err)
	}
	events := len(deploy.LifecycleEvents(false))
	wantKinds := map[string]int{"SendCommand": 3 * events, "SetInstanceHealth": 3, "SetGroupRevision": 1, "Finished": 1}
	gotKinds := map[string]int{}
	for i, e := range effs {
		if e.Seq != i+1 || (i > 0 && e.ID <= effs[i-1].ID) {
			t.Errorf("effect %d: got seq %d id %d, want seq %d and ids increasing", i, e.Seq, e.ID, i+1)
		}
		kind := fmt.Sprintf("%T", e.Effect)[len("deploy."):]
		gotKinds[kind]++
		if wantDone := kind != "Finished"; e.Done != wantDone {
			t.Errorf("effect %d %s: got done %v, want %v", i, kind, e.Done, wantDone)
		}
	}
	if !reflect.DeepEqual(gotKinds, wantKinds) {
		t.Errorf("effect kinds: got %v, want %v", gotKinds, wantKinds)
	}
	if last := effs[len(effs)-1].Effect; !reflect.DeepEqual(last, deploy.Finished{Deployment: "d-1", Status: deploy.StatusSucceeded}) {
		t.Errorf("last effect: got %+v, want Finished Succeeded", last)
	}

	// d-2 starts from the store's records: every host is now healthy and on r1.
	start(t, s, "d-2", f.ids())
	d2 := get(t, s, "d-2").Deployment
	if d2.GroupRevision != "r1" {
		t.Errorf("d-2 group revision: got %q, want r1, refreshed when it became active", d2.GroupRevision)
	}
	for _, target := range d2.Targets {
		if target.HealthAtStart != deploy.Healthy || target.InstalledRevision != "r1" {
			t.Errorf("d-2 target %s: got %v %q, want Healthy r1", target.Instance, target.HealthAtStart, target.InstalledRevision)
		}
	}
}

func TestSQLite_Outbox(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	newFixture(t, s, 0)
	create(t, s, newDeployment("d-1", "r1"))
	create(t, s, newDeployment("d-2", "r2"))
	// Two deployments finish (both cancelled; d-2 while waiting): their Finished effects are
	// pending in save order.
	step(t, s, "d-2", deploy.StopRequested{Message: "not needed"})
	saved := step(t, s, "d-1", deploy.StopRequested{Message: "stop"})
	if saved.Next != "" {
		t.Errorf("stop d-1: got Next %q, want none (d-2 already left the queue)", saved.Next)
	}

	pending, err := s.PendingEffects(ctx, 0)
	if err != nil {
		t.Fatalf("PendingEffects: %v", err)
	}
	var got []string
	for _, p := range pending {
		fin, ok := p.Effect.(deploy.Finished)
		if !ok || p.Done {
			t.Fatalf("pending effect %+v: want an undone Finished", p)
		}
		got = append(got, fin.Deployment)
	}
	if want := []string{"d-2", "d-1"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("PendingEffects: got %v, want %v", got, want)
	}
	first, err := s.PendingEffects(ctx, 1)
	if err != nil || len(first) != 1 || first[0].ID != pending[0].ID {
		t.Errorf("PendingEffects(1): got %+v %v, want the first only", first, err)
	}

	if err := s.MarkEffectDone(ctx, pending[0].ID); err != nil {
		t.Fatalf("MarkEffectDone: %v", err)
	}
	if err := s.MarkEffectDone(ctx, pending[0].ID); err != nil {
		t.Errorf("MarkEffectDone twice: %v", err)
	}
	wantErr(t, "MarkEffectDone(unknown)", s.MarkEffectDone(ctx, 9999), store.ErrNotFound)
	rest, err := s.PendingEffects(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(rest) != 1 || rest[0].ID != pending[1].ID {
		t.Errorf("after MarkEffectDone: got %+v, want only %d", rest, pending[1].ID)
	}
	g, err := s.GetGroup(ctx, "app", "web")
	if err != nil {
		t.Fatal(err)
	}
	if g.Queue.Active != "" || len(g.Queue.Waiting) != 0 {
		t.Errorf("queue after both finished: got %+v, want empty", g.Queue)
	}
}

// TestSQLite_Admission follows a group's queue through creates and finishes: one active at a
// time, FIFO behind it, and an automatic rollback ahead of anything queued.
func TestSQLite_Admission(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	f := newFixture(t, s, 2)
	queue := func() deploy.Queue {
		t.Helper()
		g, err := s.GetGroup(ctx, "app", "web")
		if err != nil {
			t.Fatal(err)
		}
		return g.Queue
	}

	create(t, s, newDeployment("d-1", "r1"))
	start(t, s, "d-1", f.ids())
	create(t, s, newDeployment("d-2", "r2"))
	create(t, s, newDeployment("d-3", "r3"))
	if got, want := queue(), (deploy.Queue{Active: "d-1", Waiting: []string{"d-2", "d-3"}}); !reflect.DeepEqual(got, want) {
		t.Fatalf("queue: got %+v, want %+v", got, want)
	}

	if saved := runToEnd(t, s, "d-1", nil); saved.Next != "d-2" {
		t.Fatalf("d-1 finished: got Next %q, want d-2", saved.Next)
	}
	// d-2 was created while the group had no revision; it became active after d-1 succeeded,
	// so it judges hosts, and rolls back, against r1.
	d2 := get(t, s, "d-2")
	if d2.Deployment.GroupRevision != "r1" || d2.Version != 2 {
		t.Errorf("d-2 once active: got group revision %q version %d, want r1 2", d2.Deployment.GroupRevision, d2.Version)
	}
	start(t, s, "d-2", f.ids())
	// Both hosts fail: AllAtOnce lets a deployment succeed while one host does.
	saved := runToEnd(t, s, "d-2", map[string]bool{f.ids()[0]: true, f.ids()[1]: true})
	if saved.Rollback == "" || saved.Next != saved.Rollback {
		t.Fatalf("d-2 failed: got %+v, want a rollback that is Next", saved)
	}
	// The rollback goes ahead of d-3, which was queued first.
	if got, want := queue(), (deploy.Queue{Active: saved.Rollback, Waiting: []string{"d-3"}}); !reflect.DeepEqual(got, want) {
		t.Errorf("queue: got %+v, want %+v", got, want)
	}
	rb := get(t, s, saved.Rollback)
	if rb.Version != 1 || rb.Deployment.Creator != deploy.CreatorRollback || rb.Deployment.Revision != "r1" ||
		rb.Deployment.GroupRevision != "r1" || rb.Deployment.Status != deploy.StatusQueued || rb.Deployment.RollbackOf != "d-2" {
		t.Errorf("rollback: got %+v, want a queued rollback of r1, version 1", rb)
	}
	if got := get(t, s, "d-2").Deployment.RolledBackBy; got != saved.Rollback {
		t.Errorf("d-2 RolledBackBy: got %q, want %q", got, saved.Rollback)
	}
	effs, err := s.DeploymentEffects(ctx, "d-2")
	if err != nil {
		t.Fatal(err)
	}
	if last := effs[len(effs)-1]; !last.Done || !reflect.DeepEqual(last.Effect, deploy.StartRollback{Deployment: "d-2", Group: "web", Revision: "r1"}) {
		t.Errorf("last effect of d-2: got %+v, want StartRollback r1, done", last)
	}
	start(t, s, saved.Rollback, f.ids())
	if saved := runToEnd(t, s, saved.Rollback, nil); saved.Next != "d-3" || saved.Rollback != "" {
		t.Errorf("rollback finished: got %+v, want Next d-3 and no rollback of a rollback", saved)
	}
	if got, want := queue(), (deploy.Queue{Active: "d-3"}); !reflect.DeepEqual(got, want) {
		t.Errorf("queue: got %+v, want %+v", got, want)
	}
}

// TestSQLite_SaveDeployment_Atomic makes a save fail partway (after the state and some
// bookkeeping were written) and checks that none of it is visible.
func TestSQLite_SaveDeployment_Atomic(t *testing.T) {
	s := open(t)
	f := newFixture(t, s, 2)
	create(t, s, newDeployment("d-1", "r1"))
	create(t, s, newDeployment("d-2", "r2"))
	start(t, s, "d-1", f.ids())
	before := get(t, s, "d-1")
	finished := before.Deployment
	finished.Status = deploy.StatusSucceeded
	good := []deploy.Effect{
		deploy.SetInstanceHealth{Instance: f.ids()[0], Health: deploy.Healthy, Revision: "r1"},
		deploy.SetGroupRevision{Group: "web", Revision: "r1"},
		deploy.Finished{Deployment: "d-1", Status: deploy.StatusSucceeded},
	}
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()

	for _, tc := range []struct {
		name    string
		ctx     context.Context
		effects []deploy.Effect
	}{
		{"unknown instance (foreign key)", context.Background(), append(good[:2:2], deploy.SetInstanceHealth{Instance: "i-nope", Health: deploy.Healthy}, good[2])},
		{"effect for another group", context.Background(), append(good[:3:3], deploy.SetGroupRevision{Group: "api", Revision: "r1"})},
		{"finished names another deployment", context.Background(), append(good[:2:2], deploy.Finished{Deployment: "d-2"})},
		{"cancelled context", cancelled, good},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := s.SaveDeployment(tc.ctx, finished, before.Version, tc.effects); err == nil {
				t.Fatalf("SaveDeployment: got no error, want one")
			}
			after := get(t, s, "d-1")
			if after.Version != before.Version || !reflect.DeepEqual(after.Deployment, before.Deployment) {
				t.Errorf("deployment: got version %d status %v, want unchanged %d %v", after.Version, after.Deployment.Status, before.Version, before.Deployment.Status)
			}
			g, err := s.GetGroup(context.Background(), "app", "web")
			if err != nil {
				t.Fatal(err)
			}
			if g.CurrentRevision != "" || g.LastSuccessfulDeployment != "" || g.Queue.Active != "d-1" {
				t.Errorf("group: got revision %q last %q queue %+v, want unchanged", g.CurrentRevision, g.LastSuccessfulDeployment, g.Queue)
			}
			health, err := s.InstanceHealth(context.Background(), "app", "web")
			if err != nil {
				t.Fatal(err)
			}
			if len(health) != 0 {
				t.Errorf("instance health: got %+v, want none", health)
			}
			effs, err := s.DeploymentEffects(context.Background(), "d-1")
			if err != nil {
				t.Fatal(err)
			}
			if len(effs) != len(f.ids()) {
				t.Errorf("outbox: got %d effects, want the %d of Start", len(effs), len(f.ids()))
			}
		})
	}

	// The same save with good effects goes through whole.
	saved, err := s.SaveDeployment(context.Background(), finished, before.Version, good)
	if err != nil {
		t.Fatalf("SaveDeployment(good): %v", err)
	}
	if saved.Next != "d-2" {
		t.Errorf("SaveDeployment(good): got Next %q, want d-2", saved.Next)
	}
}

// TestSQLite_SaveDeployment_Concurrent has many goroutines save the same deployment: from one
// version exactly one wins, and read-modify-write with retries loses no update.
func TestSQLite_SaveDeployment_Concurrent(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	newFixture(t, s, 0)
	create(t, s, newDeployment("d-1", "r1"))
	const workers, rounds = 16, 10

	base := get(t, s, "d-1")
	gate := make(chan struct{})
	var racing, retrying sync.WaitGroup
	results := make(chan error, workers)
	for w := range workers {
		racing.Go(func() {
			d := base.Deployment
			d.Batch = w + 1
			<-gate
			_, err := s.SaveDeployment(ctx, d, base.Version, nil)
			results <- err
		})
	}
	close(gate)
	racing.Wait()
	close(results)
	won := 0
	for err := range results {
		switch {
		case err == nil:
			won++
		case !errors.Is(err, store.ErrVersionConflict):
			t.Errorf("racing save: got %v, want nil or ErrVersionConflict", err)
		}
	}
	if won != 1 {
		t.Fatalf("racing saves from one version: %d won, want exactly 1", won)
	}

	for range workers {
		retrying.Go(func() {
			for done := 0; done < rounds; {
				v, err := s.GetDeployment(ctx, "d-1")
				if err != nil {
					t.Errorf("GetDeployment: %v", err)
					return
				}
				d := v.Deployment
				d.Minimum++
				_, err = s.SaveDeployment(ctx, d, v.Version, []deploy.Effect{deploy.SendCommand{Deployment: "d-1", Attempt: d.Minimum}})
				switch {
				case err == nil:
					done++
				case !errors.Is(err, store.ErrVersionConflict):
					t.Errorf("SaveDeployment: %v", err)
					return
				}
			}
		})
	}
	retrying.Wait()
	got := get(t, s, "d-1")
	if want := workers * rounds; got.Deployment.Minimum != want || got.Version != want+2 {
		t.Errorf("after %d increments: got Minimum %d version %d, want %d and %d", want, got.Deployment.Minimum, got.Version, want, want+2)
	}
	effs, err := s.DeploymentEffects(ctx, "d-1")
	if err != nil {
		t.Fatal(err)
	}
	for i, e := range effs {
		if cmd := e.Effect.(deploy.SendCommand); cmd.Attempt != i+1 || e.Seq != i+1 {
			t.Fatalf("effect %d: got seq %d attempt %d, want both %d (one per committed version, in order)", i, e.Seq, cmd.Attempt, i+1)
		}
	}
}

// TestSQLite_SaveDeployment_TargetsAsSaved runs a deployment through the store the way the
// runtime does, deciding from the state in memory rather than from the store, and after every
// save reads it back through a second handle on the file: the targets a save left unwritten,
// because the store believed them unchanged, must be the ones decided.
func TestSQLite_SaveDeployment_TargetsAsSaved(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "slipway.db")
	s := openAt(t, path)
	f := newFixture(t, s, 5)
	create(t, s, newDeployment("d-1", "r1"))
	reader := openAt(t, path)

	v := get(t, s, "d-1")
	d, version := v.Deployment, v.Version
	save := func(in deploy.Input) {
		t.Helper()
		next, effects, err := deploy.Decide(d, in, t0.Add(time.Duration(version)*time.Second))
		if err != nil {
			t.Fatalf("Decide(%T): %v", in, err)
		}
		saved, err := s.SaveDeployment(ctx, next, version, effects)
		if err != nil {
			t.Fatalf("SaveDeployment: %v", err)
		}
		d, version = next, saved.Version
		got := get(t, reader, "d-1")
		if got.Version != version || len(got.Deployment.Targets) != len(d.Targets) {
			t.Fatalf("after saving version %d: read back version %d with %d targets, want %d", version, got.Version, len(got.Deployment.Targets), len(d.Targets))
		}
		for i := range d.Targets {
			if !reflect.DeepEqual(got.Deployment.Targets[i], d.Targets[i]) {
				t.Fatalf("after saving version %d, target %d read back:\n got %+v\nwant %+v", version, i, got.Deployment.Targets[i], d.Targets[i])
			}
		}
		if !reflect.DeepEqual(got.Deployment, d) {
			t.Fatalf("after saving version %d, read back:\n got %+v\nwant %+v", version, got.Deployment, d)
		}
	}
	in := deploy.Start{}
	for _, id := range f.ids() {
		in.Instances = append(in.Instances, deploy.Instance{ID: id, Health: deploy.Unhealthy})
	}
	save(in)
	for i := 0; !d.Status.Finished(); i++ {
		if i > 1000 {
			t.Fatal("the deployment did not finish")
		}
		for _, target := range d.Targets {
			if cmd, ok := deploy.CommandFor(d, target.Instance); ok {
				status := deploy.EventSucceeded
				if target.Instance == f.ids()[4] && cmd.Event == "AfterInstall" {
					status = deploy.EventFailed
				}
				save(deploy.EventReported{Instance: cmd.Instance, Event: cmd.Event, Attempt: cmd.Attempt, Status: status,
					Diagnostics: deploy.Diagnostics{Message: fmt.Sprintf("report %d", i)}})
				break
			}
		}
	}
	for _, target := range d.Targets {
		if target.Instance == f.ids()[4] && target.Status != deploy.InstanceFailed {
			t.Errorf("the host that failed AfterInstall is %v, want Failed", target.Status)
		}
	}
}
