package orchestrator_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/slipway-deploy/slipway/internal/deploy"
	"github.com/slipway-deploy/slipway/internal/orchestrator"
	"github.com/slipway-deploy/slipway/internal/store"
)

// newFleet opens a real SQLite store with application "app", group "web" (AllAtOnce) and hosts
// registered instances tagged role=web, and returns an orchestrator over it.
func newFleet(t *testing.T, hosts int) (*orchestrator.Orchestrator, []string) {
	t.Helper()
	ctx := context.Background()
	st, err := store.OpenSQLite(ctx, filepath.Join(t.TempDir(), "slipway.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	if _, err := st.CreateApplication(ctx, store.Application{Name: "app", ComputePlatform: store.PlatformServer}); err != nil {
		t.Fatal(err)
	}
	g := store.Group{Application: "app", Name: "web", ConfigName: deploy.ConfigAllAtOnce,
		Tags: deploy.TagSet{{{Key: "role", Value: "web", Type: deploy.KeyAndValue}}}}
	if _, err := st.CreateGroup(ctx, g); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for i := range hosts {
		name := fmt.Sprintf("h%d", i+1)
		inst, err := st.RegisterInstance(ctx, name, map[string]string{"role": "web"}, store.HashToken("token-"+name), false)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, inst.ID)
	}
	return orchestrator.New(st, nil, nil), ids
}

func startAllAtOnce(t *testing.T, o *orchestrator.Orchestrator) deploy.Deployment {
	t.Helper()
	cfg, _ := deploy.Preset(deploy.ConfigAllAtOnce)
	d, err := o.Create(context.Background(), deploy.Deployment{
		ID: store.NewDeploymentID(), Application: "app", Group: "web", Revision: strings.Repeat("a", 64),
		Config: cfg, CreateTime: time.Now().UTC(),
	}, false)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func next(t *testing.T, o *orchestrator.Orchestrator, instance string) *orchestrator.Command {
	t.Helper()
	c, err := o.NextCommand(context.Background(), instance, time.Second)
	if err != nil || c == nil {
		t.Fatalf("NextCommand(%s) = %v, %v; want a command", instance, c, err)
	}
	return c
}

// Every host of a batch gets a command with the same id (deployment, event, attempt): handing
// it to each of them once is no re-send, and only a host that asks again for its own command is
// counted (and logged) as having lost it.
func TestNextCommand_ResendIsCountedPerHost(t *testing.T) {
	o, hosts := newFleet(t, 3)
	startAllAtOnce(t, o)

	var id string
	for _, h := range hosts {
		c := next(t, o, h)
		if id != "" && c.ID != id {
			t.Fatalf("hosts of one batch got commands %s and %s; the test expects one id", id, c.ID)
		}
		id = c.ID
		if c.Resent != 0 {
			t.Errorf("first hand-out of %s to %s counted as re-sent %d times", c.ID, h, c.Resent)
		}
	}

	// hosts[1] lost its command and asks again.
	if c := next(t, o, hosts[1]); c.Resent != 1 {
		t.Errorf("second hand-out to %s: Resent %d, want 1", hosts[1], c.Resent)
	}
	if err := o.Report(context.Background(), hosts[0], id, deploy.EventSucceeded, deploy.Diagnostics{}); err != nil {
		t.Fatal(err)
	}
	// Another host's report does not wipe hosts[1]'s count.
	if c := next(t, o, hosts[1]); c.Resent != 2 {
		t.Errorf("third hand-out to %s after another host reported: Resent %d, want 2", hosts[1], c.Resent)
	}
	if c := next(t, o, hosts[0]); c.ID == id || c.Resent != 0 {
		t.Errorf("after its report %s got %s re-sent %d times, want the next event, fresh", hosts[0], c.ID, c.Resent)
	}
}
