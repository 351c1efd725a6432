package store_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/slipway-deploy/slipway/internal/api"
	"github.com/slipway-deploy/slipway/internal/awsconfig"
	"github.com/slipway-deploy/slipway/internal/awsecs"
	"github.com/slipway-deploy/slipway/internal/deploy"
	"github.com/slipway-deploy/slipway/internal/hook"
	"github.com/slipway-deploy/slipway/internal/store"
	"github.com/slipway-deploy/slipway/internal/traffic"
)

// rawDB opens the file directly, to look at what the store wrote.
func rawDB(t testing.TB, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

func TestOpenSQLite_FromEmpty(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "new.db")
	s := openAt(t, path)
	if err := s.Ping(ctx); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	db := rawDB(t, path)
	var version int
	if err := db.QueryRow("SELECT MAX(version) FROM schema_migrations").Scan(&version); err != nil {
		t.Fatal(err)
	}
	if want := store.SchemaVersion(); version != want || want < 1 {
		t.Errorf("schema version: got %d, want %d", version, want)
	}
	for _, table := range []string{"applications", "deployment_configs", "deployment_groups", "revisions",
		"deployments", "effects", "instances", "instance_groups"} {
		var n int
		if err := db.QueryRow("SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = ?", table).Scan(&n); err != nil || n != 1 {
			t.Errorf("table %s: got %d (%v), want it created", table, n, err)
		}
	}
	var mode string
	if err := db.QueryRow("PRAGMA journal_mode").Scan(&mode); err != nil || mode != "wal" {
		t.Errorf("journal mode: got %q (%v), want wal", mode, err)
	}
	// foreign_keys is per connection; a violation through the store shows it is on.
	_, err := s.CreateGroup(ctx, store.Group{Application: "nope", Name: "web", ConfigName: deploy.ConfigAllAtOnce})
	wantErr(t, "group of a missing application", err, store.ErrNotFound)
}

func TestOpenSQLite_Reopen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "keep.db")
	s, err := store.OpenSQLite(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	newFixture(t, s, 2)
	create(t, s, newDeployment("d-1", "r1"))
	want := get(t, s, "d-1")
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	s = openAt(t, path) // migrations are not applied twice
	if got := get(t, s, "d-1"); !reflect.DeepEqual(got, want) {
		t.Errorf("after reopen: got %+v, want %+v", got, want)
	}
	list, err := s.ListInstances(ctx, false)
	if err != nil || len(list) != 2 {
		t.Errorf("instances after reopen: got %d (%v), want 2", len(list), err)
	}
}

func TestOpenSQLite_RefusesNewerSchema(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "future.db")
	s, err := store.OpenSQLite(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	db := rawDB(t, path)
	if _, err := db.Exec("INSERT INTO schema_migrations (version, name, applied_time) VALUES (?, 'from_the_future.sql', 0)", store.SchemaVersion()+1); err != nil {
		t.Fatal(err)
	}
	_, err = store.OpenSQLite(ctx, path)
	wantErr(t, "OpenSQLite(newer)", err, store.ErrSchemaTooNew)
}

func TestOpenSQLite_BadPath(t *testing.T) {
	for _, path := range []string{"", "x.db?mode=ro", filepath.Join(t.TempDir(), "missing", "dir", "x.db")} {
		t.Run(path, func(t *testing.T) {
			if s, err := store.OpenSQLite(context.Background(), path); err == nil {
				_ = s.Close()
				t.Errorf("OpenSQLite(%q): got no error, want one", path)
			}
		})
	}
}

func TestNewDeploymentID(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		id := store.NewDeploymentID()
		if len(id) != 22 || !strings.HasPrefix(id, "d-") || strings.Trim(id[2:], "abcdefghijklmnopqrstuvwxyz234567") != "" {
			t.Fatalf("NewDeploymentID: got %q, want d- and 20 base32 characters", id)
		}
		if seen[id] {
			t.Fatalf("NewDeploymentID: %q twice", id)
		}
		seen[id] = true
	}
}

// fill sets every field reachable from v to a non-zero value that the store must keep: valid
// enum values (1 is valid for each of deploy's enums), distinct strings, times with
// nanoseconds.
func fill(v reflect.Value, path string) {
	switch {
	case v.Type() == reflect.TypeFor[time.Time]():
		v.Set(reflect.ValueOf(t0.Add(time.Duration(len(path))*time.Second + 123456789)))
		return
	case v.Type() == reflect.TypeFor[time.Duration]():
		v.SetInt(int64(90 * time.Second))
		return
	}
	switch v.Kind() {
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		fill(v.Elem(), path)
	case reflect.Struct:
		for i := range v.NumField() {
			fill(v.Field(i), path+"."+v.Type().Field(i).Name)
		}
	case reflect.Slice:
		s := reflect.MakeSlice(v.Type(), 2, 2)
		for i := range 2 {
			fill(s.Index(i), fmt.Sprintf("%s[%d]", path, i))
		}
		v.Set(s)
	case reflect.String:
		v.SetString(path)
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int64:
		if v.Type().PkgPath() != "" {
			v.SetInt(1) // an enum
		} else {
			v.SetInt(int64(len(path)))
		}
	default:
		panic(fmt.Sprintf("fill: %s: unhandled kind %v; teach fill and the store's codec", path, v.Kind()))
	}
}

// TestCodec_RoundTripEveryField stores a deployment with every field set and reads it back:
// it fails when deploy gains a field the store's JSON does not carry.
func TestCodec_RoundTripEveryField(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	newFixture(t, s, 0)
	create(t, s, newDeployment("d-1", "r1"))
	var d deploy.Deployment
	fill(reflect.ValueOf(&d).Elem(), "d")
	d.ID, d.Application, d.Group = "d-1", "app", "web"
	if _, err := s.SaveDeployment(ctx, d, 1, nil); err != nil {
		t.Fatalf("SaveDeployment: %v", err)
	}
	if got := get(t, s, "d-1").Deployment; !reflect.DeepEqual(got, d) {
		t.Errorf("round trip:\n got %+v\nwant %+v", got, d)
	}
}

func TestCodec_Effects(t *testing.T) {
	for _, e := range []deploy.Effect{
		deploy.SendCommand{Deployment: "d-1", Instance: "i-1", Event: "Install", Attempt: 2, LeaseDeadline: t0.Add(1)},
		deploy.SetInstanceHealth{Instance: "i-1", Health: deploy.Healthy, Revision: "r1"},
		deploy.SetInstanceHealth{Instance: "i-1", Health: deploy.Unhealthy},
		deploy.SetGroupRevision{Group: "web", Revision: "r1"},
		deploy.Finished{Deployment: "d-1", Status: deploy.StatusFailed, Error: deploy.ErrorInfo{Code: deploy.ErrorHealthConstraints, Message: "m"}},
		deploy.StartRollback{Deployment: "d-1", Group: "web", Revision: "r0"},
		deploy.SetTraffic{Deployment: "d-1", Router: deploy.Router{Type: "haproxy", Address: "/s", Backend: "app", ServerName: "{name}"},
			Servers:     []deploy.ServerTraffic{{Server: "a", Admin: traffic.Drain, Weight: 3, SetWeight: true}, {Server: "b", Admin: traffic.Ready}},
			WaitDrained: true, Change: 4},
		deploy.SetTraffic{Deployment: "d-1", Servers: []deploy.ServerTraffic{{Server: "a", Admin: traffic.Maint}}, Instance: "i-1", Event: "BlockTraffic", Attempt: 2},
		deploy.ReleaseOriginals{Deployment: "d-1", Command: "terminate", Instances: []string{"a", "b"}, InstanceIDs: []string{"i-1", "i-2"}},
		deploy.SwapFleets{Group: "web"},
		deploy.SetTraffic{Deployment: "d-1", Platform: deploy.PlatformECS, Percent: 40, Change: 3},
		deploy.SetTraffic{Deployment: "d-1", Platform: deploy.PlatformLambda, Revert: true, Change: 5},
		deploy.InvokeHook{Deployment: "d-1", Instance: "fn:live", Event: "BeforeAllowTraffic", Attempt: 2},
		deploy.RunStep{Deployment: "d-1", Instance: "prod/web", Event: "Install", Attempt: 3},
	} {
		t.Run(fmt.Sprintf("%T", e), func(t *testing.T) {
			kind, payload, err := store.EncodeEffect(e)
			if err != nil {
				t.Fatalf("EncodeEffect: %v", err)
			}
			if want := fmt.Sprintf("%T", e)[len("deploy."):]; kind != want {
				t.Errorf("kind: got %s, want %s", kind, want)
			}
			got, err := store.DecodeEffect(kind, payload)
			if err != nil {
				t.Fatalf("DecodeEffect(%s): %v", payload, err)
			}
			if !reflect.DeepEqual(got, e) {
				t.Errorf("round trip: got %+v, want %+v", got, e)
			}
		})
	}
	for _, tc := range []struct{ kind, payload string }{
		{"Launch", "{}"},
		{"Finished", `{"status":"Exploded"}`},
		{"SetInstanceHealth", `{"health":"Meh"}`},
		{"SendCommand", `{`},
	} {
		if _, err := store.DecodeEffect(tc.kind, []byte(tc.payload)); err == nil {
			t.Errorf("DecodeEffect(%s, %s): got no error, want one", tc.kind, tc.payload)
		}
	}
}

func TestGroup_AWSSettingsRoundTrip(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	if _, err := s.CreateApplication(ctx, store.Application{Name: "svc", ComputePlatform: store.PlatformECS}); err != nil {
		t.Fatal(err)
	}
	g := store.Group{Application: "svc", Name: "prod", ConfigName: deploy.ConfigAllAtOnce, AWS: store.AWSGroup{
		Config: awsconfig.Config{Region: "eu-west-1", Endpoints: map[string]string{"ecs": "http://127.0.0.1:4566"}},
		ECS: awsecs.Group{Cluster: "prod", Service: "shop", TargetGroups: [2]string{"arn:aws:elasticloadbalancing:eu-west-1:1:targetgroup/a/1", "arn:aws:elasticloadbalancing:eu-west-1:1:targetgroup/b/2"},
			ProductionListener: "arn:aws:elasticloadbalancing:eu-west-1:1:listener/app/x/1/2", TerminationWait: "5s"},
		Traffic:     traffic.Config{Linear: &traffic.IncrementConfig{Percent: 50, Interval: "2s"}},
		HookTimeout: 90 * time.Second,
	}}
	if _, err := s.CreateGroup(ctx, g); err != nil {
		t.Fatalf("CreateGroup without tags: %v", err)
	}
	got, err := s.GetGroup(ctx, "svc", "prod")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got.AWS, g.AWS) {
		t.Errorf("aws settings:\n got %+v\nwant %+v", got.AWS, g.AWS)
	}
	g.AWS.ECS.TerminationWait = "forever"
	if _, err := s.UpdateGroup(ctx, g); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("UpdateGroup with a bad termination wait: %v; want ErrInvalid", err)
	}
}

func TestHookExecutions_OutliveTheProcess(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "slipway.db")
	s := openAt(t, path)
	e, token, err := hook.NewStoredBoard(s).Open(ctx, "d-1", "AfterAllowTraffic", 4)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.MarkHookInvoked(ctx, e.ID); err != nil {
		t.Fatal(err)
	}
	s.Close()
	again := hook.NewStoredBoard(openAt(t, path)) // a restarted server
	found, err := again.Find(ctx, "d-1", "AfterAllowTraffic", 4)
	if err != nil || found.ID != e.ID || !found.Invoked || found.Status != hook.Pending {
		t.Fatalf("Find after a restart = %+v, %v", found, err)
	}
	if _, err := again.Report(ctx, e.ID, "wrong", api.HookStatus{Status: api.HookSucceeded}); !errors.Is(err, hook.ErrBadToken) {
		t.Errorf("a wrong token: %v; want ErrBadToken", err)
	}
	got, err := again.Report(ctx, e.ID, token, api.HookStatus{Status: api.HookFailed, Message: "checks failed"})
	if err != nil || got.Status != hook.Failed || got.Message != "checks failed" {
		t.Fatalf("Report = %+v, %v", got, err)
	}
	if _, err := again.Report(ctx, e.ID, token, api.HookStatus{Status: api.HookSucceeded}); !errors.Is(err, hook.ErrAlreadyReported) {
		t.Errorf("another verdict: %v; want ErrAlreadyReported", err)
	}
	if _, err := again.Get(ctx, "nope"); !errors.Is(err, hook.ErrUnknownExecution) {
		t.Errorf("Get of an unknown id: %v", err)
	}
}

// Migration 0011 turns the replacement tags a blue/green group stored as a whole tag set into
// the replacement fleet's own tag group, and gives back the shared tag groups a swap had moved to
// the replacement side.
func TestMigration_FleetTags(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "slipway.db")
	s := openAt(t, path)
	newFixture(t, s, 0)
	router := deploy.Router{Type: deploy.RouterHAProxy, Address: "/run/haproxy.sock", Backend: "shop"}
	for _, name := range []string{"fresh", "swapped", "shared"} {
		g := store.Group{Application: "app", Name: name, ConfigName: deploy.ConfigAllAtOnce, Tags: blue, Type: deploy.BlueGreen,
			Router: router, ReplacementTags: greenF, BlueGreen: deploy.BlueGreenOptions{Traffic: traffic.Config{AllAtOnce: true}}}
		if _, err := s.CreateGroup(ctx, g); err != nil {
			t.Fatal(err)
		}
	}
	db := rawDB(t, path)
	const (
		blueJSON  = `[{"key":"fleet","value":"blue","type":"KEY_AND_VALUE"}]`
		greenJSON = `[{"key":"fleet","value":"green","type":"KEY_AND_VALUE"}]`
		shopJSON  = `[{"key":"app","value":"shop","type":"KEY_AND_VALUE"}]`
		options   = `"options":{"traffic":{"all_at_once":true}}`
	)
	// As the old code stored them: created with --tag fleet=blue --tag-group app=shop
	// --replacement-tag fleet=green; the same group after a swap; a group whose replacement tags
	// repeated the shared tag group.
	for name, row := range map[string][2]string{
		"fresh":   {"[" + blueJSON + "," + shopJSON + "]", `{"replacement_tags":[` + greenJSON + `],` + options + `}`},
		"swapped": {"[" + greenJSON + "]", `{"replacement_tags":[` + blueJSON + "," + shopJSON + `],` + options + `}`},
		"shared":  {"[" + blueJSON + "," + shopJSON + "]", `{"replacement_tags":[` + greenJSON + "," + shopJSON + `],` + options + `}`},
	} {
		if _, err := db.Exec("UPDATE deployment_groups SET tags = ?, blue_green = ? WHERE name = ?", row[0], row[1], name); err != nil {
			t.Fatal(err)
		}
	}
	sql, err := os.ReadFile(filepath.Join("migrations", "0011_fleet_tags.sql"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(string(sql)); err != nil {
		t.Fatalf("migration: %v", err)
	}
	for name, want := range map[string][2]deploy.TagSet{
		"fresh":   {blue, green},
		"swapped": {green, blue},
		"shared":  {blue, green},
	} {
		g, err := s.GetGroup(ctx, "app", name)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(g.Tags, want[0]) || !reflect.DeepEqual(g.ReplacementFleet(), want[1]) {
			t.Errorf("%s: serving %v, replacement %v; want %v and %v", name, g.Tags, g.ReplacementFleet(), want[0], want[1])
		}
		var raw string
		if err := db.QueryRow("SELECT blue_green FROM deployment_groups WHERE name = ?", name).Scan(&raw); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(raw, `"replacement_tags"`) {
			t.Errorf("%s: blue_green %s still has the old key", name, raw)
		}
	}
	// The in-place group is untouched.
	if g, err := s.GetGroup(ctx, "app", "web"); err != nil || len(g.Tags) != 1 || g.ReplacementTags != nil {
		t.Errorf("in-place group after the migration: %+v, %v", g, err)
	}
}
