package store

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/slipway-deploy/slipway/internal/deploy"
)

// targetField is one field of a target, down to an event's and its diagnostics' fields, set
// to a value other than its zero (and one every decoder accepts: 1 is a valid name of each enum).
type targetField struct {
	name string
	set  func(*deploy.Target)
}

// targetFields lists every leaf field of deploy.Target, walking into its events (the first one)
// and their diagnostics. A field of a kind it does not know fails the test: teach it, and
// sameTarget and the codec, the new field.
func targetFields(t *testing.T) []targetField {
	t.Helper()
	var out []targetField
	var walk func(prefix string, typ reflect.Type, at func(*deploy.Target) reflect.Value)
	walk = func(prefix string, typ reflect.Type, at func(*deploy.Target) reflect.Value) {
		for i := range typ.NumField() {
			f := typ.Field(i)
			name := prefix + f.Name
			field := func(tg *deploy.Target) reflect.Value { return at(tg).Field(i) }
			var set func(reflect.Value)
			switch {
			case f.Type == reflect.TypeFor[time.Time]():
				set = func(v reflect.Value) { v.Set(reflect.ValueOf(time.Unix(1, 0).UTC())) }
			case f.Type == reflect.TypeFor[[]deploy.Event]():
				walk(name+"[0].", f.Type.Elem(), func(tg *deploy.Target) reflect.Value { return field(tg).Index(0) })
				continue
			case f.Type.Kind() == reflect.Struct:
				walk(name+".", f.Type, field)
				continue
			case f.Type.Kind() == reflect.String:
				set = func(v reflect.Value) { v.SetString("x") }
			case f.Type.Kind() == reflect.Int:
				set = func(v reflect.Value) { v.SetInt(1) }
			case f.Type.Kind() == reflect.Bool:
				set = func(v reflect.Value) { v.SetBool(true) }
			default:
				t.Fatalf("field %s: teach this test (and sameTarget) its kind %v", name, f.Type.Kind())
			}
			out = append(out, targetField{name: name, set: func(tg *deploy.Target) { set(field(tg)) }})
		}
	}
	walk("", reflect.TypeFor[deploy.Target](), func(tg *deploy.Target) reflect.Value { return reflect.ValueOf(tg).Elem() })
	out = append(out, targetField{name: "Events (one more)", set: func(tg *deploy.Target) {
		tg.Events = append(tg.Events, deploy.Event{Name: "Install"})
	}})
	return out
}

// baseTarget is a target at every zero value but one event, so that each field of targetFields
// changes it.
func baseTarget() deploy.Target {
	return deploy.Target{Events: []deploy.Event{{}}}
}

// TestSameTarget_EveryField changes each field of a target in turn, those of its events and
// diagnostics included: sameTarget must see every change, or a save would leave it unwritten.
func TestSameTarget_EveryField(t *testing.T) {
	base := baseTarget()
	if !sameTarget(base, base) {
		t.Fatal("a target differs from itself")
	}
	for _, f := range targetFields(t) {
		changed := baseTarget()
		f.set(&changed)
		if reflect.DeepEqual(base, changed) {
			t.Fatalf("field %s: the test's change changed nothing", f.name)
		}
		if sameTarget(base, changed) {
			t.Errorf("sameTarget misses a change to %s: compare it there", f.name)
		}
	}
}

// TestSaveDeployment_EveryTargetFieldWritten saves, over a version whose targets the store
// knows, a change to each persisted field of a target in turn, and reads it back through a
// second handle: the change must be in the database, not only in the store's memory.
func TestSaveDeployment_EveryTargetFieldWritten(t *testing.T) {
	ctx := context.Background()
	s, v, path := openTargets(t, 2)
	reader, err := OpenSQLite(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer reader.Close()
	d, version := v.Deployment, v.Version
	save := func(target deploy.Target) {
		t.Helper()
		d.Targets = slices.Clone(d.Targets)
		d.Targets[0] = target
		saved, err := s.SaveDeployment(ctx, d, version, nil)
		if err != nil {
			t.Fatal(err)
		}
		version = saved.Version
	}
	save(baseTarget())
	for _, f := range targetFields(t) {
		if _, known := s.targets.at(d.ID, version); !known {
			t.Fatalf("before %s: the store does not know the targets it saved", f.name)
		}
		changed := baseTarget()
		f.set(&changed)
		save(changed)
		got, err := reader.GetDeployment(ctx, d.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got.Deployment.Targets[0], changed) {
			t.Errorf("a change to %s was not written: read back\n%+v\nwant\n%+v", f.name, got.Deployment.Targets[0], changed)
		}
		save(baseTarget())
	}
}

// openTargets opens a store at the path it returns, with an application, a group and a
// deployment d-1 started on n hosts.
func openTargets(t *testing.T, n int) (*SQLite, Versioned, string) {
	t.Helper()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "slipway.db")
	s, err := OpenSQLite(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	if _, err := s.CreateApplication(ctx, Application{Name: "app", ComputePlatform: PlatformServer}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateGroup(ctx, Group{Application: "app", Name: "web", ConfigName: deploy.ConfigAllAtOnce}); err != nil {
		t.Fatal(err)
	}
	c, _ := deploy.Preset(deploy.ConfigAllAtOnce)
	d, _, err := s.CreateDeployment(ctx, deploy.Deployment{ID: "d-1", Application: "app", Group: "web", Revision: "r1",
		Config: c, Status: deploy.StatusCreated, CreateTime: time.Unix(1, 0).UTC()}, false)
	if err != nil {
		t.Fatal(err)
	}
	start := deploy.Start{}
	for i := range n {
		start.Instances = append(start.Instances, deploy.Instance{ID: fmt.Sprintf("i-%02d", i), Health: deploy.Unhealthy})
	}
	d, effects, err := deploy.Decide(d, start, time.Unix(2, 0).UTC())
	if err != nil {
		t.Fatal(err)
	}
	saved, err := s.SaveDeployment(ctx, d, 1, effects)
	if err != nil {
		t.Fatal(err)
	}
	return s, Versioned{Deployment: d, Version: saved.Version}, path
}

// rowsChanged counts the rows fn inserts, updates or deletes through the writer connection.
func rowsChanged(t *testing.T, s *SQLite, fn func()) int {
	t.Helper()
	total := func() int {
		var n int
		if err := s.w.QueryRow("SELECT total_changes()").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	before := total()
	fn()
	return total() - before
}

// TestSaveDeployment_WritesOnlyChangedTargets checks that a report from one host rewrites that
// host's row, not every target's.
func TestSaveDeployment_WritesOnlyChangedTargets(t *testing.T) {
	ctx := context.Background()
	s, v, path := openTargets(t, 20)
	cmd, ok := deploy.CommandFor(v.Deployment, "i-07")
	if !ok {
		t.Fatal("no command for i-07")
	}
	d, effects, err := deploy.Decide(v.Deployment, deploy.EventReported{Instance: "i-07", Event: cmd.Event, Attempt: cmd.Attempt, Status: deploy.EventSucceeded}, time.Unix(3, 0).UTC())
	if err != nil {
		t.Fatal(err)
	}
	var changedTargets int
	for i := range d.Targets {
		if !sameTarget(d.Targets[i], v.Deployment.Targets[i]) {
			changedTargets++
		}
	}
	n := rowsChanged(t, s, func() {
		if _, err := s.SaveDeployment(ctx, d, v.Version, effects); err != nil {
			t.Fatal(err)
		}
	})
	// The deployments row, the changed targets' rows, one row per effect.
	if want := 1 + changedTargets + len(effects); changedTargets != 1 || n != want {
		t.Errorf("%d targets changed, %d rows written; want 1 target and %d rows", changedTargets, n, want)
	}

	// A store that does not know what is stored (here: a fresh handle) writes every target.
	s2, err := OpenSQLite(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	cur, err := s2.GetDeployment(ctx, "d-1")
	if err != nil {
		t.Fatal(err)
	}
	n = rowsChanged(t, s2, func() {
		if _, err := s2.SaveDeployment(ctx, cur.Deployment, cur.Version, nil); err != nil {
			t.Fatal(err)
		}
	})
	if want := 1 + 20; n != want {
		t.Errorf("save by a store that had not saved it: %d rows written, want %d", n, want)
	}
}

// TestGetDeployment_TargetsInState reads a deployment saved before targets had rows of their
// own, with its targets in its state, and checks that its next save moves them to their rows.
func TestGetDeployment_TargetsInState(t *testing.T) {
	ctx := context.Background()
	s, v, _ := openTargets(t, 3)
	// The state as it was written then: the deployment's JSON with its targets in it.
	var j map[string]any
	state, err := encodeDeployment(v.Deployment)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(state, &j); err != nil {
		t.Fatal(err)
	}
	var targets []json.RawMessage
	for _, target := range v.Deployment.Targets {
		b, err := encodeTarget(target)
		if err != nil {
			t.Fatal(err)
		}
		targets = append(targets, b)
	}
	j["targets"] = targets
	old, err := json.Marshal(j)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.w.Exec("UPDATE deployments SET state = ? WHERE id = 'd-1'", string(old)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.w.Exec("DELETE FROM deployment_targets"); err != nil {
		t.Fatal(err)
	}
	s.targets = savedTargets{} // as after a restart

	got, err := s.GetDeployment(ctx, "d-1")
	if err != nil || !reflect.DeepEqual(got.Deployment, v.Deployment) {
		t.Fatalf("deployment with its targets in its state: got %+v, %v\nwant %+v", got.Deployment, err, v.Deployment)
	}
	if _, err := s.SaveDeployment(ctx, got.Deployment, got.Version, nil); err != nil {
		t.Fatal(err)
	}
	var rows int
	var stored string
	if err := s.r.QueryRow("SELECT COUNT(*) FROM deployment_targets WHERE deployment = 'd-1'").Scan(&rows); err != nil {
		t.Fatal(err)
	}
	if err := s.r.QueryRow("SELECT state FROM deployments WHERE id = 'd-1'").Scan(&stored); err != nil {
		t.Fatal(err)
	}
	if rows != 3 || strings.Contains(stored, `"targets"`) {
		t.Errorf("after the next save: %d target rows and state %s; want 3 rows and no targets in the state", rows, stored)
	}
	if again, err := s.GetDeployment(ctx, "d-1"); err != nil || !reflect.DeepEqual(again.Deployment, v.Deployment) {
		t.Errorf("read back after the save: got %+v, %v", again.Deployment, err)
	}
}
