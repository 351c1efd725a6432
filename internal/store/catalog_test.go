package store_test

import (
	"context"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/slipway-deploy/slipway/internal/alarm"
	"github.com/slipway-deploy/slipway/internal/deploy"
	"github.com/slipway-deploy/slipway/internal/store"
	"github.com/slipway-deploy/slipway/internal/traffic"
)

func TestSQLite_Applications(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	for _, a := range []store.Application{
		{Name: "web", ComputePlatform: store.PlatformServer, CreateTime: t0},
		{Name: "api", ComputePlatform: store.PlatformLambda, CreateTime: t0},
	} {
		got, err := s.CreateApplication(ctx, a)
		if err != nil {
			t.Fatalf("CreateApplication(%s): %v", a.Name, err)
		}
		if !reflect.DeepEqual(got, a) {
			t.Errorf("CreateApplication: got %+v, want %+v", got, a)
		}
	}
	_, err := s.CreateApplication(ctx, store.Application{Name: "web", ComputePlatform: store.PlatformECS})
	wantErr(t, "create duplicate", err, store.ErrExists)

	for _, tc := range []struct {
		name string
		app  store.Application
	}{
		{"empty name", store.Application{ComputePlatform: store.PlatformServer}},
		{"unknown platform", store.Application{Name: "x", ComputePlatform: "mainframe"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.CreateApplication(ctx, tc.app)
			wantErr(t, "CreateApplication", err, store.ErrInvalid)
		})
	}

	got, err := s.GetApplication(ctx, "api")
	if err != nil {
		t.Fatalf("GetApplication: %v", err)
	}
	if want := (store.Application{Name: "api", ComputePlatform: store.PlatformLambda, CreateTime: t0}); got != want {
		t.Errorf("GetApplication: got %+v, want %+v", got, want)
	}
	_, err = s.GetApplication(ctx, "nope")
	wantErr(t, "GetApplication(nope)", err, store.ErrNotFound)

	list, err := s.ListApplications(ctx)
	if err != nil {
		t.Fatalf("ListApplications: %v", err)
	}
	var names []string
	for _, a := range list {
		names = append(names, a.Name)
	}
	if got, want := strings.Join(names, ","), "api,web"; got != want {
		t.Errorf("ListApplications: got %s, want %s", got, want)
	}

	created, err := s.CreateApplication(ctx, store.Application{Name: "stamped", ComputePlatform: store.PlatformECS})
	if err != nil {
		t.Fatalf("CreateApplication: %v", err)
	}
	if created.CreateTime.IsZero() {
		t.Errorf("CreateApplication without a time: CreateTime is zero, want the store's clock")
	}
}

func TestSQLite_Configs(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	custom := deploy.Config{Name: "two-up", MinimumHealthyHosts: deploy.MinimumHealthyHosts{Type: deploy.HostCount, Value: 2}}
	if err := s.CreateConfig(ctx, custom); err != nil {
		t.Fatalf("CreateConfig: %v", err)
	}
	wantErr(t, "create duplicate", s.CreateConfig(ctx, custom), store.ErrExists)

	for _, tc := range []struct {
		name string
		c    deploy.Config
		want error
	}{
		{"preset name", deploy.Config{Name: deploy.ConfigAllAtOnce, MinimumHealthyHosts: deploy.MinimumHealthyHosts{Type: deploy.HostCount}}, store.ErrExists},
		{"reserved prefix", deploy.Config{Name: "CodeDeployDefault.Mine", MinimumHealthyHosts: deploy.MinimumHealthyHosts{Type: deploy.HostCount, Value: 1}}, store.ErrInvalid},
		{"percent out of range", deploy.Config{Name: "p", MinimumHealthyHosts: deploy.MinimumHealthyHosts{Type: deploy.FleetPercent, Value: 100}}, deploy.ErrInvalidConfig},
		{"most concurrency", deploy.Config{Name: "m", MinimumHealthyHosts: deploy.MinimumHealthyHosts{Type: deploy.MostConcurrency, Value: 1}}, store.ErrInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantErr(t, "CreateConfig", s.CreateConfig(ctx, tc.c), tc.want)
		})
	}

	for _, tc := range []struct {
		name string
		want deploy.Config
	}{
		{"two-up", custom},
		{deploy.ConfigOneAtATime, deploy.Presets()[0]},
		{deploy.ConfigHalfAtATime, deploy.Presets()[1]},
	} {
		t.Run("get "+tc.name, func(t *testing.T) {
			got, err := s.GetConfig(ctx, tc.name)
			if err != nil {
				t.Fatalf("GetConfig: %v", err)
			}
			if got != tc.want {
				t.Errorf("GetConfig: got %+v, want %+v", got, tc.want)
			}
		})
	}
	_, err := s.GetConfig(ctx, "nope")
	wantErr(t, "GetConfig(nope)", err, store.ErrNotFound)

	list, err := s.ListConfigs(ctx)
	if err != nil {
		t.Fatalf("ListConfigs: %v", err)
	}
	if want := append(deploy.Presets(), custom); !reflect.DeepEqual(list, want) {
		t.Errorf("ListConfigs: got %+v, want %+v", list, want)
	}

	// A config a group uses cannot go; once the group moves off it, it can.
	if _, err := s.CreateApplication(ctx, store.Application{Name: "app", ComputePlatform: store.PlatformServer}); err != nil {
		t.Fatal(err)
	}
	g := store.Group{Application: "app", Name: "web", ConfigName: "two-up"}
	if _, err := s.CreateGroup(ctx, g); err != nil {
		t.Fatalf("CreateGroup: %v", err)
	}
	wantErr(t, "delete used config", s.DeleteConfig(ctx, "two-up"), store.ErrInUse)
	g.ConfigName = deploy.ConfigOneAtATime
	if _, err := s.UpdateGroup(ctx, g); err != nil {
		t.Fatalf("UpdateGroup: %v", err)
	}
	if err := s.DeleteConfig(ctx, "two-up"); err != nil {
		t.Fatalf("DeleteConfig: %v", err)
	}
	wantErr(t, "delete again", s.DeleteConfig(ctx, "two-up"), store.ErrNotFound)
	wantErr(t, "delete preset", s.DeleteConfig(ctx, deploy.ConfigAllAtOnce), store.ErrInvalid)
}

func TestSQLite_Groups(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	if _, err := s.CreateApplication(ctx, store.Application{Name: "app", ComputePlatform: store.PlatformServer}); err != nil {
		t.Fatal(err)
	}
	g := store.Group{
		Application: "app", Name: "web", ConfigName: deploy.ConfigHalfAtATime,
		Tags: deploy.TagSet{
			{{Key: "role", Value: "web", Type: deploy.KeyAndValue}, {Key: "canary", Type: deploy.KeyOnly}},
			{{Value: "eu", Type: deploy.ValueOnly}},
		},
		AutoRollback:                  deploy.AutoRollback{OnFailure: true, OnAlarm: true},
		IgnoreApplicationStopFailures: true,
		RefuseWhenBusy:                true,
		Environment:                   "production",
		GitHub:                        store.GitHubLink{Repository: "octo/shop", RepositoryID: 42, AllowedRefs: []string{"refs/heads/main"}},
		CreateTime:                    t0,
		// Bookkeeping a caller cannot set.
		CurrentRevision: "forged", Queue: deploy.Queue{Active: "forged"},
	}
	created, err := s.CreateGroup(ctx, g)
	if err != nil {
		t.Fatalf("CreateGroup: %v", err)
	}
	want := g
	want.CurrentRevision, want.Queue = "", deploy.Queue{}
	if !reflect.DeepEqual(created, want) {
		t.Errorf("CreateGroup: got %+v, want %+v", created, want)
	}
	got, err := s.GetGroup(ctx, "app", "web")
	if err != nil {
		t.Fatalf("GetGroup: %v", err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("GetGroup: got %+v, want %+v", got, want)
	}

	for _, tc := range []struct {
		name string
		g    store.Group
		want error
	}{
		{"duplicate", g, store.ErrExists},
		{"no application", store.Group{Application: "nope", Name: "x", ConfigName: deploy.ConfigAllAtOnce}, store.ErrNotFound},
		{"no config", store.Group{Application: "app", Name: "x", ConfigName: "nope"}, store.ErrNotFound},
		{"empty config", store.Group{Application: "app", Name: "x"}, store.ErrInvalid},
		{"bad tags", store.Group{Application: "app", Name: "x", ConfigName: deploy.ConfigAllAtOnce, Tags: deploy.TagSet{{}}}, store.ErrInvalid},
		{"repository without id", store.Group{Application: "app", Name: "x", ConfigName: deploy.ConfigAllAtOnce,
			GitHub: store.GitHubLink{Repository: "octo/shop"}}, store.ErrInvalid},
		{"repository not owner/name", store.Group{Application: "app", Name: "x", ConfigName: deploy.ConfigAllAtOnce,
			GitHub: store.GitHubLink{Repository: "shop", RepositoryID: 1}}, store.ErrInvalid},
		{"bad ref pattern", store.Group{Application: "app", Name: "x", ConfigName: deploy.ConfigAllAtOnce,
			GitHub: store.GitHubLink{Repository: "octo/shop", RepositoryID: 1, AllowedRefs: []string{"refs/["}}}, store.ErrInvalid},
	} {
		t.Run("create "+tc.name, func(t *testing.T) {
			_, err := s.CreateGroup(ctx, tc.g)
			wantErr(t, "CreateGroup", err, tc.want)
		})
	}

	upd := g
	upd.Tags = deploy.TagSet{{{Key: "role", Value: "api", Type: deploy.KeyAndValue}}}
	upd.ConfigName = deploy.ConfigAllAtOnce
	upd.AutoRollback = deploy.AutoRollback{}
	upd.IgnoreApplicationStopFailures, upd.RefuseWhenBusy, upd.Environment = false, false, "staging"
	upd.GitHub = store.GitHubLink{}
	updated, err := s.UpdateGroup(ctx, upd)
	if err != nil {
		t.Fatalf("UpdateGroup: %v", err)
	}
	want = upd
	want.CurrentRevision, want.Queue = "", deploy.Queue{}
	if !reflect.DeepEqual(updated, want) {
		t.Errorf("UpdateGroup: got %+v, want %+v", updated, want)
	}
	_, err = s.UpdateGroup(ctx, store.Group{Application: "app", Name: "nope", ConfigName: deploy.ConfigAllAtOnce})
	wantErr(t, "UpdateGroup(nope)", err, store.ErrNotFound)
	_, err = s.GetGroup(ctx, "app", "nope")
	wantErr(t, "GetGroup(nope)", err, store.ErrNotFound)

	if _, err := s.CreateGroup(ctx, store.Group{Application: "app", Name: "api", ConfigName: deploy.ConfigAllAtOnce}); err != nil {
		t.Fatal(err)
	}
	list, err := s.ListGroups(ctx, "app")
	if err != nil {
		t.Fatalf("ListGroups: %v", err)
	}
	if len(list) != 2 || list[0].Name != "api" || list[1].Name != "web" {
		t.Errorf("ListGroups: got %+v, want api then web", list)
	}
	if list, _ := s.ListGroups(ctx, "nope"); len(list) != 0 {
		t.Errorf("ListGroups(nope): got %d groups, want 0", len(list))
	}
}

func TestSQLite_Revisions(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	for _, name := range []string{"app", "other"} {
		if _, err := s.CreateApplication(ctx, store.Application{Name: name, ComputePlatform: store.PlatformServer}); err != nil {
			t.Fatal(err)
		}
	}
	digest := strings.Repeat("ab", 32)
	r := store.Revision{Digest: digest, Application: "app", Size: 1234, Format: "tgz", Source: store.SourceUpload, CreateTime: t0}
	got, err := s.PutRevision(ctx, r)
	if err != nil {
		t.Fatalf("PutRevision: %v", err)
	}
	want := r
	want.Location = json.RawMessage("{}")
	if !reflect.DeepEqual(got, want) {
		t.Errorf("PutRevision: got %+v, want %+v", got, want)
	}

	// The same digest again is the stored revision, unchanged.
	again := r
	again.Size, again.CreateTime = 1, t0.Add(1e9)
	got, err = s.PutRevision(ctx, again)
	if err != nil {
		t.Fatalf("PutRevision again: %v", err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("PutRevision again: got %+v, want the first %+v", got, want)
	}

	// Another application registers the same bundle as its own revision.
	s3 := store.Revision{Digest: digest, Application: "other", Size: 1234, Format: "zip", Source: store.SourceS3,
		Location: json.RawMessage(`{"bucket":"b","key":"k"}`), CreateTime: t0}
	if _, err := s.PutRevision(ctx, s3); err != nil {
		t.Fatalf("PutRevision(other): %v", err)
	}
	got, err = s.GetRevision(ctx, "other", digest)
	if err != nil {
		t.Fatalf("GetRevision: %v", err)
	}
	if !reflect.DeepEqual(got, s3) {
		t.Errorf("GetRevision: got %+v, want %+v", got, s3)
	}
	// The second answer comes from memory, unchanged by what a caller did to the first.
	got.Location[0] = 'X'
	if again, err := s.GetRevision(ctx, "other", digest); err != nil || !reflect.DeepEqual(again, s3) {
		t.Errorf("GetRevision again: got %+v, %v; want %+v", again, err, s3)
	}
	// A commit filled in later shows in the next read, though the revision was read (and kept
	// in memory) without it.
	if _, err := s.GetRevision(ctx, "app", digest); err != nil {
		t.Fatal(err)
	}
	withCommit := r
	withCommit.Commit = strings.Repeat("c0", 20)
	if _, err := s.PutRevision(ctx, withCommit); err != nil {
		t.Fatalf("PutRevision with a commit: %v", err)
	}
	if got, err := s.GetRevision(ctx, "app", digest); err != nil || got.Commit != withCommit.Commit {
		t.Errorf("GetRevision after the commit was filled in: got %+v, %v; want commit %s", got, err, withCommit.Commit)
	}
	_, err = s.GetRevision(ctx, "app", strings.Repeat("cd", 32))
	wantErr(t, "GetRevision(unknown)", err, store.ErrNotFound)

	for _, tc := range []struct {
		name string
		r    store.Revision
		want error
	}{
		{"short digest", store.Revision{Digest: "abc", Application: "app", Source: store.SourceUpload}, store.ErrInvalid},
		{"upper-case digest", store.Revision{Digest: strings.Repeat("AB", 32), Application: "app", Source: store.SourceUpload}, store.ErrInvalid},
		{"path in digest", store.Revision{Digest: "../" + strings.Repeat("a", 61), Application: "app", Source: store.SourceUpload}, store.ErrInvalid},
		{"unknown source", store.Revision{Digest: digest, Application: "app", Source: "ftp"}, store.ErrInvalid},
		{"bad location", store.Revision{Digest: digest, Application: "app", Source: store.SourceS3, Location: json.RawMessage("{")}, store.ErrInvalid},
		{"no application", store.Revision{Digest: digest, Application: "nope", Source: store.SourceUpload}, store.ErrNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.PutRevision(ctx, tc.r)
			wantErr(t, "PutRevision", err, tc.want)
		})
	}
}

// The two fleets of the blue/green tests, their own tag groups, and a tag group both share.
var (
	blueF  = []deploy.TagFilter{{Key: "fleet", Value: "blue", Type: deploy.KeyAndValue}}
	greenF = []deploy.TagFilter{{Key: "fleet", Value: "green", Type: deploy.KeyAndValue}}
	shopF  = []deploy.TagFilter{{Key: "app", Value: "shop", Type: deploy.KeyAndValue}}
	blue   = deploy.TagSet{blueF, shopF}
	green  = deploy.TagSet{greenF, shopF}
)

func TestSQLite_BlueGreenGroups(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	newFixture(t, s, 0)
	router := deploy.Router{Type: deploy.RouterHAProxy, Address: "unix:/run/haproxy/admin.sock", Backend: "shop", ServerName: "{name}"}
	g := store.Group{
		Application: "app", Name: "bg", ConfigName: deploy.ConfigAllAtOnce, Tags: blue,
		Type: deploy.BlueGreen, Router: router, ReplacementTags: greenF,
		BlueGreen: deploy.BlueGreenOptions{
			Traffic:   traffic.Config{Steps: []traffic.StepConfig{{Weight: ptr(10)}, {Pause: traffic.PauseUntilPromoted}}},
			ReadyWait: 30 * time.Minute, ReleaseCommand: "terminate", ReleaseWait: time.Hour,
		},
		Alarms: alarm.Config{IgnorePollAlarmFailure: true, Interval: alarm.Duration(2 * time.Second),
			Alarms: []alarm.Spec{{Name: "health", HTTP: &alarm.HTTPCheck{URL: "http://127.0.0.1:9/healthz", Status: []int{200}}}}},
		CreateTime: t0,
	}
	if _, err := s.CreateGroup(ctx, g); err != nil {
		t.Fatalf("CreateGroup: %v", err)
	}
	got, err := s.GetGroup(ctx, "app", "bg")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, g) {
		t.Errorf("GetGroup:\n got %+v\nwant %+v", got, g)
	}
	if fleet := got.ReplacementFleet(); !reflect.DeepEqual(fleet, green) {
		t.Errorf("ReplacementFleet %v, want %v: the group's other tag groups select both fleets", fleet, green)
	}

	for _, tc := range []struct {
		name   string
		change func(*store.Group)
		want   string
	}{
		{"no router", func(g *store.Group) { g.Router = deploy.Router{} }, "traffic router"},
		{"bad router", func(g *store.Group) { g.Router.Address = "nowhere" }, "address"},
		{"no replacement tags", func(g *store.Group) { g.ReplacementTags = nil }, "replacement tags"},
		{"same tags", func(g *store.Group) { g.ReplacementTags = blueF }, "tell them apart"},
		{"bad replacement tag", func(g *store.Group) { g.ReplacementTags = []deploy.TagFilter{{Value: "x", Type: deploy.KeyOnly}} }, "replacement tags"},
		{"no tags", func(g *store.Group) { g.Tags = nil }, "selects the fleet that serves now"},
		{"no shape", func(g *store.Group) { g.BlueGreen.Traffic = traffic.Config{} }, "traffic"},
		{"wait without command", func(g *store.Group) { g.BlueGreen.ReleaseCommand = "" }, "without a release command"},
		{"in place with blue/green settings", func(g *store.Group) { g.Type = deploy.InPlace }, "are for BLUE_GREEN groups"},
		{"bad alarm", func(g *store.Group) { g.Alarms.Alarms = []alarm.Spec{{Name: "health"}} }, "alarms[0] (health)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bad := g
			bad.Name = "bad"
			tc.change(&bad)
			_, err := s.CreateGroup(ctx, bad)
			wantErr(t, "CreateGroup", err, store.ErrInvalid)
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not say %q", err, tc.want)
			}
		})
	}

	// An in-place group may have a router of its own.
	inPlace := store.Group{Application: "app", Name: "ip", ConfigName: deploy.ConfigOneAtATime, Tags: blue, Router: router}
	if _, err := s.CreateGroup(ctx, inPlace); err != nil {
		t.Fatalf("CreateGroup(in place with router): %v", err)
	}
	upd := g
	upd.Type, upd.ReplacementTags, upd.BlueGreen = deploy.InPlace, nil, deploy.BlueGreenOptions{}
	if got, err := s.UpdateGroup(ctx, upd); err != nil || got.Type != deploy.InPlace || got.ReplacementTags != nil {
		t.Errorf("UpdateGroup to in place: %+v, %v", got, err)
	}
}

// A successful blue/green deployment's SwapFleets makes the replacement fleet the group's; only
// the fleets' own tag groups change places, the shared ones stay with both.
func TestSQLite_SwapFleets(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	newFixture(t, s, 0)
	g := store.Group{
		Application: "app", Name: "web", ConfigName: deploy.ConfigAllAtOnce, Tags: blue, Type: deploy.BlueGreen,
		Router:          deploy.Router{Type: deploy.RouterHAProxy, Address: "/run/haproxy.sock", Backend: "shop"},
		ReplacementTags: greenF, BlueGreen: deploy.BlueGreenOptions{Traffic: traffic.Config{AllAtOnce: true}},
	}
	if _, err := s.UpdateGroup(ctx, g); err != nil {
		t.Fatal(err)
	}
	d, _ := create(t, s, newDeployment("d-1", "r1"))
	if _, err := s.SaveDeployment(ctx, d, 1, []deploy.Effect{deploy.SwapFleets{Group: "web"}}); err != nil {
		t.Fatalf("SaveDeployment: %v", err)
	}
	got, err := s.GetGroup(ctx, "app", "web")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got.Tags, green) || !reflect.DeepEqual(got.ReplacementTags, blueF) || !reflect.DeepEqual(got.ReplacementFleet(), blue) {
		t.Errorf("after the swap tags %v, replacement tags %v; want %v then %v", got.Tags, got.ReplacementTags, green, blueF)
	}
	effects, err := s.DeploymentEffects(ctx, "d-1")
	if err != nil || len(effects) != 1 || !effects[0].Done {
		t.Errorf("outbox %+v, %v; want the swap recorded as done", effects, err)
	}
	_, err = s.SaveDeployment(ctx, d, 2, []deploy.Effect{deploy.SwapFleets{Group: "other"}})
	wantErr(t, "SwapFleets of another group", err, store.ErrInvalid)
}

func ptr[T any](v T) *T { return &v }
