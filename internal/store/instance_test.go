package store_test

import (
	"context"
	"errors"
	"maps"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/slipway-deploy/slipway/internal/deploy"
	"github.com/slipway-deploy/slipway/internal/store"
)

func TestHashToken(t *testing.T) {
	for _, tc := range []struct{ token, want string }{
		{"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
		{"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
	} {
		if got := store.HashToken(tc.token); got != tc.want {
			t.Errorf("HashToken(%q): got %s, want %s", tc.token, got, tc.want)
		}
	}
}

func TestSQLite_Instances(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	tags := map[string]string{"role": "web", "zone": "a"}
	web1, err := s.RegisterInstance(ctx, "web-1", tags, store.HashToken("t1"), false)
	if err != nil {
		t.Fatalf("RegisterInstance: %v", err)
	}
	if !strings.HasPrefix(web1.ID, "i-") || web1.Name != "web-1" || !reflect.DeepEqual(web1.Tags, tags) ||
		web1.RegisterTime.IsZero() || web1.Deregistered {
		t.Errorf("RegisterInstance: got %+v", web1)
	}

	for _, tc := range []struct {
		name, instance, hash string
		replace              bool
		want                 error
	}{
		{"taken name", "web-1", store.HashToken("t2"), false, store.ErrExists},
		{"empty name", " ", store.HashToken("t2"), false, store.ErrInvalid},
		{"token instead of hash", "web-9", "t2", false, store.ErrInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.RegisterInstance(ctx, tc.instance, nil, tc.hash, tc.replace)
			wantErr(t, "RegisterInstance", err, tc.want)
		})
	}

	got, err := s.InstanceByCredential(ctx, store.HashToken("t1"))
	if err != nil {
		t.Fatalf("InstanceByCredential: %v", err)
	}
	if got.ID != web1.ID {
		t.Errorf("InstanceByCredential: got %s, want %s", got.ID, web1.ID)
	}
	_, err = s.InstanceByCredential(ctx, store.HashToken("wrong"))
	wantErr(t, "InstanceByCredential(wrong)", err, store.ErrNotFound)

	seen := web1.RegisterTime.Add(42 * time.Second) // last_seen never moves back
	if err := s.TouchInstance(ctx, web1.ID, seen); err != nil {
		t.Fatalf("TouchInstance: %v", err)
	}
	got, err = s.GetInstance(ctx, web1.ID)
	if err != nil {
		t.Fatalf("GetInstance: %v", err)
	}
	if !got.LastSeen.Equal(seen) {
		t.Errorf("LastSeen: got %v, want %v", got.LastSeen, seen)
	}
	wantErr(t, "TouchInstance(unknown)", s.TouchInstance(ctx, "i-nope", seen), store.ErrNotFound)
	_, err = s.GetInstance(ctx, "i-nope")
	wantErr(t, "GetInstance(unknown)", err, store.ErrNotFound)

	// Re-enrolling the name with replace revokes the old credential and gives a new id.
	web1b, err := s.RegisterInstance(ctx, "web-1", tags, store.HashToken("t3"), true)
	if err != nil {
		t.Fatalf("RegisterInstance(replace): %v", err)
	}
	if web1b.ID == web1.ID {
		t.Errorf("replacement: got the old id %s, want a new one", web1b.ID)
	}
	_, err = s.InstanceByCredential(ctx, store.HashToken("t1"))
	wantErr(t, "old credential after replace", err, store.ErrNotFound)
	if got, err := s.InstanceByCredential(ctx, store.HashToken("t3")); err != nil || got.ID != web1b.ID {
		t.Errorf("new credential: got %+v %v, want %s", got, err, web1b.ID)
	}
	old, err := s.GetInstance(ctx, web1.ID)
	if err != nil || !old.Deregistered {
		t.Errorf("replaced instance: got %+v %v, want deregistered", old, err)
	}
	wantErr(t, "TouchInstance(replaced)", s.TouchInstance(ctx, web1.ID, seen), store.ErrNotFound)

	web2, err := s.RegisterInstance(ctx, "web-2", nil, store.HashToken("t4"), false)
	if err != nil {
		t.Fatalf("RegisterInstance: %v", err)
	}
	if err := s.DeregisterInstance(ctx, web2.ID); err != nil {
		t.Fatalf("DeregisterInstance: %v", err)
	}
	wantErr(t, "DeregisterInstance twice", s.DeregisterInstance(ctx, web2.ID), store.ErrNotFound)
	_, err = s.InstanceByCredential(ctx, store.HashToken("t4"))
	wantErr(t, "credential after deregister", err, store.ErrNotFound)
	// The name is free again once its holder is deregistered.
	if _, err := s.RegisterInstance(ctx, "web-2", nil, store.HashToken("t5"), false); err != nil {
		t.Errorf("RegisterInstance after deregister: %v", err)
	}

	for _, tc := range []struct {
		name string
		all  bool
		want []string
	}{
		{"registered", false, []string{"web-1", "web-2"}},
		{"all", true, []string{"web-1", "web-1", "web-2", "web-2"}},
	} {
		t.Run("list "+tc.name, func(t *testing.T) {
			list, err := s.ListInstances(ctx, tc.all)
			if err != nil {
				t.Fatalf("ListInstances: %v", err)
			}
			var names []string
			for _, inst := range list {
				names = append(names, inst.Name)
			}
			if !reflect.DeepEqual(names, tc.want) {
				t.Errorf("ListInstances(%v): got %v, want %v", tc.all, names, tc.want)
			}
		})
	}
}

// TestSQLite_CredentialRefusedOnceRevoked checks that the in-memory answers of
// InstanceByCredential never outlive a write to the instance.
func TestSQLite_CredentialRefusedOnceRevoked(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	lookup := func(token string) (store.Instance, error) {
		t.Helper()
		return s.InstanceByCredential(ctx, store.HashToken(token))
	}
	a, err := s.RegisterInstance(ctx, "a", map[string]string{"role": "web"}, store.HashToken("ta"), false)
	if err != nil {
		t.Fatal(err)
	}
	for range 2 { // the second answer comes from memory
		if got, err := lookup("ta"); err != nil || got.ID != a.ID || got.Tags["role"] != "web" {
			t.Fatalf("lookup: got %+v, %v; want %s with role=web", got, err, a.ID)
		}
	}
	got, _ := lookup("ta")
	got.Tags["role"] = "changed by a caller"
	if again, _ := lookup("ta"); again.Tags["role"] != "web" {
		t.Errorf("a caller's change to the returned tags reached the next caller: %v", again.Tags)
	}

	if err := s.SetInstanceTags(ctx, a.ID, map[string]string{"role": "db"}); err != nil {
		t.Fatal(err)
	}
	if got, err := lookup("ta"); err != nil || got.Tags["role"] != "db" {
		t.Errorf("after SetInstanceTags: got %+v, %v; want role=db", got, err)
	}

	if err := s.DeregisterInstance(ctx, a.ID); err != nil {
		t.Fatal(err)
	}
	_, err = lookup("ta")
	wantErr(t, "credential of a deregistered instance", err, store.ErrNotFound)
	wantErr(t, "TouchInstance(deregistered)", s.TouchInstance(ctx, a.ID, t0), store.ErrNotFound)

	b, err := s.RegisterInstance(ctx, "b", nil, store.HashToken("tb"), false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lookup("tb"); err != nil {
		t.Fatal(err)
	}
	b2, err := s.RegisterInstance(ctx, "b", nil, store.HashToken("tb2"), true)
	if err != nil {
		t.Fatal(err)
	}
	_, err = lookup("tb")
	wantErr(t, "credential of a replaced instance", err, store.ErrNotFound)
	if got, err := lookup("tb2"); err != nil || got.ID != b2.ID || got.ID == b.ID {
		t.Errorf("new credential: got %+v, %v; want %s", got, err, b2.ID)
	}
}

// TestSQLite_LastSeenWrittenAtClose checks that the last_seen times kept in memory reach the
// database when the store closes.
func TestSQLite_LastSeenWrittenAtClose(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "slipway.db")
	s, err := store.OpenSQLite(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	a, err := s.RegisterInstance(ctx, "a", nil, store.HashToken("ta"), false)
	if err != nil {
		t.Fatal(err)
	}
	seen := a.LastSeen.Add(5 * time.Second)
	if err := s.TouchInstance(ctx, a.ID, seen); err != nil {
		t.Fatal(err)
	}
	// An older touch does not move it back.
	if err := s.TouchInstance(ctx, a.ID, seen.Add(-time.Second)); err != nil {
		t.Fatal(err)
	}
	if got, err := s.InstanceByCredential(ctx, store.HashToken("ta")); err != nil || !got.LastSeen.Equal(seen) {
		t.Errorf("before close: LastSeen %v, %v; want %v", got.LastSeen, err, seen)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	got, err := openAt(t, path).GetInstance(ctx, a.ID)
	if err != nil || !got.LastSeen.Equal(seen) {
		t.Errorf("after reopening: LastSeen %v, %v; want %v", got.LastSeen, err, seen)
	}
}

// TestSQLite_InstanceHealth checks the per-group records a finished deployment leaves, as
// ListInstances, GetInstance and InstanceHealth report them.
func TestSQLite_InstanceHealth(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	f := newFixture(t, s, 3)
	ok, bad, gone := f.ids()[0], f.ids()[1], f.ids()[2]
	create(t, s, newDeployment("d-1", "r1"))
	start(t, s, "d-1", []string{ok, bad})
	runToEnd(t, s, "d-1", map[string]bool{bad: true})
	// A host that fails keeps its recorded revision; one that succeeds moves.
	create(t, s, newDeployment("d-2", "r2"))
	start(t, s, "d-2", []string{ok, bad, gone})
	runToEnd(t, s, "d-2", map[string]bool{ok: true})
	if err := s.DeregisterInstance(ctx, gone); err != nil {
		t.Fatal(err)
	}

	health, err := s.InstanceHealth(ctx, "app", "web")
	if err != nil {
		t.Fatalf("InstanceHealth: %v", err)
	}
	want := map[string]deploy.Instance{
		ok:  {ID: ok, Health: deploy.Unhealthy, Revision: "r1"},
		bad: {ID: bad, Health: deploy.Healthy, Revision: "r2"},
	}
	if !reflect.DeepEqual(health, want) {
		t.Errorf("InstanceHealth: got %+v, want %+v (deregistered hosts left out)", health, want)
	}
	if h, err := s.InstanceHealth(ctx, "app", "nope"); err != nil || len(h) != 0 {
		t.Errorf("InstanceHealth(unknown group): got %+v %v, want empty", h, err)
	}

	inst, err := s.GetInstance(ctx, ok)
	if err != nil {
		t.Fatal(err)
	}
	if len(inst.Groups) != 1 || inst.Groups[0].Application != "app" || inst.Groups[0].Group != "web" ||
		inst.Groups[0].Health != deploy.Unhealthy || inst.Groups[0].Revision != "r1" {
		t.Errorf("GetInstance groups: got %+v, want app/web Unhealthy r1", inst.Groups)
	}
	list, err := s.ListInstances(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 {
		t.Fatalf("ListInstances: got %d, want 2", len(list))
	}
	for _, inst := range list {
		w := want[inst.ID]
		if len(inst.Groups) != 1 || inst.Groups[0].Health != w.Health || inst.Groups[0].Revision != w.Revision {
			t.Errorf("ListInstances %s groups: got %+v, want %v %s", inst.Name, inst.Groups, w.Health, w.Revision)
		}
	}
}

func TestSQLite_SetInstanceTags(t *testing.T) {
	s := open(t)
	ctx := context.Background()
	in, err := s.RegisterInstance(ctx, "web-1", map[string]string{"role": "web"}, store.HashToken("swi_a"), false)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"role": "api", "zone": "b"}
	if err := s.SetInstanceTags(ctx, in.ID, want); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetInstance(ctx, in.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !maps.Equal(got.Tags, want) {
		t.Errorf("tags %v, want %v", got.Tags, want)
	}
	if err := s.SetInstanceTags(ctx, "i-missing", want); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("unknown instance: %v, want ErrNotFound", err)
	}
}
