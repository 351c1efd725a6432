package apiserver

import (
	"maps"
	"net/http"
	"testing"
	"time"

	"github.com/slipway-deploy/slipway/internal/api"
)

// instanceNamed returns the registered instance called name, as the API lists it.
func (e *env) instanceNamed(name string) api.Instance {
	e.t.Helper()
	list, err := e.admin.ListInstances(e.t.Context())
	if err != nil {
		e.t.Fatal(err)
	}
	for _, in := range list {
		if in.Name == name {
			return in
		}
	}
	e.t.Fatalf("no instance %s in %+v", name, list)
	return api.Instance{}
}

// A host cannot move itself into another group by starting with other tags; the admin API
// moves it, and the group it joins catches it up to its current revision.
func TestInstanceTags_OnlyTheAdminChangesThem(t *testing.T) {
	e := newEnv(t)
	digest := e.fleet()
	web := e.register("web-1", map[string]string{"role": "web"})
	staged := map[string]string{"role": "staging", "team": "a"}
	host := e.register("stage-1", staged)
	d := e.deploy(digest)
	web.runUntilFinished(d.ID, "Succeeded")

	hello := func(tags map[string]string) reply {
		return e.call(http.MethodPost, api.PathAgent+"/hello", host.credential, api.Hello{Tags: tags})
	}
	wantError(t, hello(map[string]string{"role": "web", "team": "a"}), http.StatusConflict, "tags",
		"has tags role=staging,team=a", "started with role=web,team=a", "slipway instance tag stage-1 --tag role=web")
	wantError(t, hello(map[string]string{"role": "web"}), http.StatusConflict, "tags", "slipway instance tag stage-1 --tag role=web --remove team")
	for _, same := range []map[string]string{nil, {}, staged} {
		want(t, hello(same), http.StatusNoContent)
	}
	if got := e.instanceNamed("stage-1"); !maps.Equal(got.Tags, staged) || len(got.Groups) != 0 {
		t.Fatalf("after the refused hellos stage-1 has tags %v and groups %+v; want %v and none", got.Tags, got.Groups, staged)
	}
	if c := host.next(0); c != nil {
		t.Fatalf("stage-1 got command %s though no group selects it", c.ID)
	}

	tagsPath := pathInsts + "/stage-1/tags"
	wantError(t, e.call(http.MethodPut, tagsPath, adminToken, map[string]any{}), http.StatusBadRequest, "tags", "{} for none")
	wantError(t, e.call(http.MethodPut, pathInsts+"/nobody/tags", adminToken, api.InstanceTags{Tags: staged}), http.StatusNotFound, "", "no registered instance named nobody")
	moved := map[string]string{"role": "web"}
	in, err := e.admin.SetInstanceTags(t.Context(), "stage-1", moved)
	if err != nil {
		t.Fatal(err)
	}
	if !maps.Equal(in.Tags, moved) || len(in.Groups) != 1 || in.Groups[0].Group != "web" {
		t.Errorf("SetInstanceTags returned tags %v, groups %+v; want %v in app/web", in.Tags, in.Groups, moved)
	}
	c := host.next(5 * time.Second)
	if c == nil {
		t.Fatal("stage-1 got no command after joining group web, which has a current revision")
	}
	auto, err := e.admin.GetDeployment(t.Context(), c.DeploymentID)
	if err != nil {
		t.Fatal(err)
	}
	if auto.Creator != "autoUpdate" || auto.Revision != digest {
		t.Errorf("joining deployment: creator %s, revision %s; want autoUpdate of %s", auto.Creator, auto.Revision, digest)
	}
	want(t, hello(moved), http.StatusNoContent)
}

// With agent_tags: host, a hello replaces the tags, as before they were the administrator's.
func TestInstanceTags_HostsSetTags(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.HostsSetTags = true })
	host := e.register("web-1", map[string]string{"role": "staging"})
	moved := map[string]string{"role": "web"}
	want(t, e.call(http.MethodPost, api.PathAgent+"/hello", host.credential, api.Hello{Tags: moved}), http.StatusNoContent)
	if got := e.instanceNamed("web-1").Tags; !maps.Equal(got, moved) {
		t.Errorf("tags after hello %v, want %v", got, moved)
	}
}
