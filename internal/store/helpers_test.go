package store_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/slipway-deploy/slipway/internal/deploy"
	"github.com/slipway-deploy/slipway/internal/store"
)

// t0 is a fixed time with whole milliseconds, the precision of the store's time columns.
var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func openAt(t testing.TB, path string) *store.SQLite {
	t.Helper()
	s, err := store.OpenSQLite(context.Background(), path)
	if err != nil {
		t.Fatalf("OpenSQLite(%s): %v", path, err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func open(t testing.TB) *store.SQLite {
	t.Helper()
	return openAt(t, filepath.Join(t.TempDir(), "slipway.db"))
}

// fixture is an application "app" with a group "web" (AllAtOnce) and registered instances.
type fixture struct {
	s         *store.SQLite
	instances []store.Instance
}

func newFixture(t testing.TB, s *store.SQLite, hosts int) fixture {
	t.Helper()
	ctx := context.Background()
	if _, err := s.CreateApplication(ctx, store.Application{Name: "app", ComputePlatform: store.PlatformServer}); err != nil {
		t.Fatalf("CreateApplication: %v", err)
	}
	g := store.Group{
		Application: "app", Name: "web", ConfigName: deploy.ConfigAllAtOnce,
		Tags:         deploy.TagSet{{{Key: "role", Value: "web", Type: deploy.KeyAndValue}}},
		AutoRollback: deploy.AutoRollback{OnFailure: true},
	}
	if _, err := s.CreateGroup(ctx, g); err != nil {
		t.Fatalf("CreateGroup: %v", err)
	}
	f := fixture{s: s}
	for i := range hosts {
		name := fmt.Sprintf("h%02d", i+1)
		inst, err := s.RegisterInstance(ctx, name, map[string]string{"role": "web"}, store.HashToken("token-"+name), false)
		if err != nil {
			t.Fatalf("RegisterInstance(%s): %v", name, err)
		}
		f.instances = append(f.instances, inst)
	}
	return f
}

func (f fixture) ids() []string {
	out := make([]string, len(f.instances))
	for i, inst := range f.instances {
		out[i] = inst.ID
	}
	return out
}

func newDeployment(id, revision string) deploy.Deployment {
	c, _ := deploy.Preset(deploy.ConfigAllAtOnce)
	return deploy.Deployment{
		ID: id, Application: "app", Group: "web", Revision: revision,
		Config: c, Status: deploy.StatusCreated, CreateTime: t0,
		AutoRollback: deploy.AutoRollback{OnFailure: true},
	}
}

func create(t testing.TB, s *store.SQLite, d deploy.Deployment) (deploy.Deployment, deploy.Admission) {
	t.Helper()
	d, adm, err := s.CreateDeployment(context.Background(), d, false)
	if err != nil {
		t.Fatalf("CreateDeployment(%s): %v", d.ID, err)
	}
	return d, adm
}

func get(t testing.TB, s *store.SQLite, id string) store.Versioned {
	t.Helper()
	v, err := s.GetDeployment(context.Background(), id)
	if err != nil {
		t.Fatalf("GetDeployment(%s): %v", id, err)
	}
	return v
}

// step feeds one input to Decide on the stored deployment and saves the result, as the
// server's runtime will.
func step(t testing.TB, s *store.SQLite, id string, in deploy.Input) store.Saved {
	t.Helper()
	v := get(t, s, id)
	d, effects, err := deploy.Decide(v.Deployment, in, t0)
	if err != nil {
		t.Fatalf("Decide(%s, %T): %v", id, in, err)
	}
	saved, err := s.SaveDeployment(context.Background(), d, v.Version, effects)
	if err != nil {
		t.Fatalf("SaveDeployment(%s): %v", id, err)
	}
	return saved
}

// start feeds Start with the group's instances as the store knows them.
func start(t testing.TB, s *store.SQLite, id string, instances []string) store.Saved {
	t.Helper()
	health, err := s.InstanceHealth(context.Background(), "app", "web")
	if err != nil {
		t.Fatalf("InstanceHealth: %v", err)
	}
	in := deploy.Start{}
	for _, id := range instances {
		h := health[id]
		h.ID = id
		in.Instances = append(in.Instances, h)
	}
	return step(t, s, id, in)
}

// runToEnd answers every command of a started deployment until it finishes: hosts in fail
// fail their first event, the others succeed at every event.
func runToEnd(t testing.TB, s *store.SQLite, id string, fail map[string]bool) store.Saved {
	t.Helper()
	var last store.Saved
	for range 10_000 {
		d := get(t, s, id).Deployment
		if d.Status.Finished() {
			return last
		}
		progressed := false
		for _, target := range d.Targets {
			cmd, ok := deploy.CommandFor(d, target.Instance)
			if !ok {
				continue
			}
			status := deploy.EventSucceeded
			if fail[target.Instance] {
				status = deploy.EventFailed
			}
			last = step(t, s, id, deploy.EventReported{Instance: cmd.Instance, Event: cmd.Event, Attempt: cmd.Attempt, Status: status})
			progressed = true
			break
		}
		if !progressed {
			t.Fatalf("deployment %s is %v with no command to answer", id, d.Status)
		}
	}
	t.Fatalf("deployment %s did not finish", id)
	return last
}

func wantErr(t testing.TB, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("%s: got error %v, want %v", what, err, want)
	}
}
