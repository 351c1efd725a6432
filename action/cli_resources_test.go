package main

import (
	"encoding/json"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/slipway-deploy/slipway/internal/api"
)

func TestAppCreate(t *testing.T) {
	tests := []struct {
		name         string
		args         []string
		wantPlatform string
	}{
		{"default platform", []string{"app", "create", "web"}, "server"},
		{"platform after name", []string{"app", "create", "web", "--platform", "lambda"}, "lambda"},
		{"platform before name", []string{"app", "create", "--platform=ecs", "web"}, "ecs"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, url := newFakeAPI(t)
			f.on("POST", "/api/v1/applications", fakeAnswer{status: http.StatusCreated, reply: func(r fakeRequest) any {
				var a api.Application
				_ = json.Unmarshal(r.Body, &a)
				return a
			}})
			code, stdout, stderr := runAt(t, url, tc.args...)
			if code != 0 {
				t.Fatalf("exit %d, want 0; stderr:\n%s", code, stderr)
			}
			wantCalls(t, f, "POST /api/v1/applications")
			if got, want := lastBody[api.Application](t, f), (api.Application{Name: "web", ComputePlatform: tc.wantPlatform}); got != want {
				t.Errorf("body = %+v, want %+v", got, want)
			}
			if got, want := f.requests()[0].Auth, "Bearer "+testToken; got != want {
				t.Errorf("Authorization = %q, want %q", got, want)
			}
			if want := "created application web (" + tc.wantPlatform + ")\n"; stdout != want {
				t.Errorf("stdout = %q, want %q", stdout, want)
			}
		})
	}
}

func TestAppCreate_UnknownPlatform(t *testing.T) {
	f, url := newFakeAPI(t)
	code, _, stderr := runAt(t, url, "app", "create", "web", "--platform", "ec2")
	if code != 2 {
		t.Errorf("exit %d, want 2", code)
	}
	if want := `unknown platform "ec2" (want server, lambda or ecs)`; !strings.Contains(stderr, want) {
		t.Errorf("stderr = %q, want it to contain %q", stderr, want)
	}
	wantCalls(t, f)
}

func TestGroupCreate(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want api.DeploymentGroup
	}{
		{
			name: "one tag group, flags after the positionals",
			args: []string{"web", "prod", "--tag", "env=prod", "--tag", "role="},
			want: api.DeploymentGroup{
				Application: "web", Name: "prod",
				TagGroups: [][]api.TagFilter{{
					{Key: "env", Value: "prod", Type: "KEY_AND_VALUE"},
					{Key: "role", Type: "KEY_ONLY"},
				}},
			},
		},
		{
			name: "every option",
			args: []string{"--config", "half", "web", "--tag=env=prod", "prod", "--tag-group", "=blue,zone=a",
				"--tag-group", "team=x", "--auto-rollback", "--ignore-stop-failures", "--reject-when-busy",
				"--environment", "production", "--github-repo", "octo/shop", "--github-repo-id", "42",
				"--allowed-ref", "refs/heads/main", "--allowed-ref", "refs/tags/v*"},
			want: api.DeploymentGroup{
				Application: "web", Name: "prod",
				TagGroups: [][]api.TagFilter{
					{{Key: "env", Value: "prod", Type: "KEY_AND_VALUE"}},
					{{Value: "blue", Type: "VALUE_ONLY"}, {Key: "zone", Value: "a", Type: "KEY_AND_VALUE"}},
					{{Key: "team", Value: "x", Type: "KEY_AND_VALUE"}},
				},
				DeploymentConfig:              "half",
				AutoRollback:                  api.AutoRollback{OnFailure: true},
				IgnoreApplicationStopFailures: true,
				OnBusy:                        "reject",
				Environment:                   "production",
				GitHub:                        &api.GitHubLink{Repository: "octo/shop", RepositoryID: 42, AllowedRefs: []string{"refs/heads/main", "refs/tags/v*"}},
			},
		},
		{
			name: "tag groups only",
			args: []string{"web", "prod", "--tag-group", "a=1"},
			want: api.DeploymentGroup{
				Application: "web", Name: "prod",
				TagGroups: [][]api.TagFilter{{{Key: "a", Value: "1", Type: "KEY_AND_VALUE"}}},
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, url := newFakeAPI(t)
			f.on("POST", "/api/v1/applications/web/groups", fakeAnswer{status: http.StatusCreated, reply: func(r fakeRequest) any {
				var g api.DeploymentGroup
				_ = json.Unmarshal(r.Body, &g)
				return g
			}})
			code, stdout, stderr := runAt(t, url, append([]string{"group", "create"}, tc.args...)...)
			if code != 0 {
				t.Fatalf("exit %d, want 0; stderr:\n%s", code, stderr)
			}
			wantCalls(t, f, "POST /api/v1/applications/web/groups")
			if got := lastBody[api.DeploymentGroup](t, f); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("body:\n  got  %+v\n  want %+v", got, tc.want)
			}
			if want := "created deployment group web/prod\n"; stdout != want {
				t.Errorf("stdout = %q, want %q", stdout, want)
			}
		})
	}
}

func TestGroupCreate_BadTag(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no equals", []string{"--tag", "env"}, `--tag "env": want KEY=VALUE, KEY= (any value) or =VALUE (any key)`},
		{"only equals", []string{"--tag", "="}, `--tag "=": want KEY=VALUE`},
		{"empty filter in a group", []string{"--tag-group", "a=1,"}, `--tag-group "": want KEY=VALUE`},
		{"repository without id", []string{"--tag", "a=1", "--github-repo", "octo/shop"}, "give --github-repo OWNER/NAME and --github-repo-id ID together"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, url := newFakeAPI(t)
			code, _, stderr := runAt(t, url, append([]string{"group", "create", "web", "prod"}, tc.args...)...)
			if code != 2 {
				t.Errorf("exit %d, want 2", code)
			}
			if !strings.Contains(stderr, tc.want) {
				t.Errorf("stderr = %q, want it to contain %q", stderr, tc.want)
			}
			wantCalls(t, f)
		})
	}
}

func TestParseTagFilter(t *testing.T) {
	tests := []struct {
		in      string
		want    api.TagFilter
		wantErr bool
	}{
		{"env=prod", api.TagFilter{Key: "env", Value: "prod", Type: tagKeyAndValue}, false},
		{"env=a=b", api.TagFilter{Key: "env", Value: "a=b", Type: tagKeyAndValue}, false},
		{"env=", api.TagFilter{Key: "env", Type: tagKeyOnly}, false},
		{"=prod", api.TagFilter{Value: "prod", Type: tagValueOnly}, false},
		{"env", api.TagFilter{}, true},
		{"=", api.TagFilter{}, true},
		{"", api.TagFilter{}, true},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := parseTagFilter(tc.in)
			if (err != nil) != tc.wantErr {
				t.Fatalf("error = %v, want error: %v", err, tc.wantErr)
			}
			if got != tc.want {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestConfigCreate(t *testing.T) {
	f, url := newFakeAPI(t)
	f.on("POST", "/api/v1/deployment-configs", fakeAnswer{status: http.StatusCreated, reply: func(r fakeRequest) any {
		var c api.DeploymentConfig
		_ = json.Unmarshal(r.Body, &c)
		return c
	}})
	code, stdout, stderr := runAt(t, url, "config", "create", "two-left", "--min-healthy", "host_count:2")
	if code != 0 {
		t.Fatalf("exit %d, want 0; stderr:\n%s", code, stderr)
	}
	wantCalls(t, f, "POST /api/v1/deployment-configs")
	want := api.DeploymentConfig{Name: "two-left", MinimumHealthyHosts: api.MinimumHealthyHosts{Type: "HOST_COUNT", Value: 2}}
	if got := lastBody[api.DeploymentConfig](t, f); got != want {
		t.Errorf("body = %+v, want %+v", got, want)
	}
	if want := "created deployment config two-left (HOST_COUNT:2)\n"; stdout != want {
		t.Errorf("stdout = %q, want %q", stdout, want)
	}
}

func TestConfigCreate_Usage(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"missing", []string{"c"}, "config create: --min-healthy is required"},
		{"bad type", []string{"c", "--min-healthy", "HOSTS:2"}, `"HOSTS:2": want HOST_COUNT:N or FLEET_PERCENT:P`},
		{"no value", []string{"c", "--min-healthy", "HOST_COUNT"}, `"HOST_COUNT": want HOST_COUNT:N or FLEET_PERCENT:P`},
		{"negative", []string{"c", "--min-healthy", "HOST_COUNT:-1"}, `"-1" is not a whole number of 0 or more`},
		{"percent too high", []string{"c", "--min-healthy", "FLEET_PERCENT:100"}, "a fleet percentage is 0 to 99"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, url := newFakeAPI(t)
			code, _, stderr := runAt(t, url, append([]string{"config", "create"}, tc.args...)...)
			if code != 2 {
				t.Errorf("exit %d, want 2", code)
			}
			if !strings.Contains(stderr, tc.want) {
				t.Errorf("stderr = %q, want it to contain %q", stderr, tc.want)
			}
			wantCalls(t, f)
		})
	}
}

func TestParseMinHealthy(t *testing.T) {
	tests := []struct {
		in   string
		want api.MinimumHealthyHosts
	}{
		{"HOST_COUNT:0", api.MinimumHealthyHosts{Type: "HOST_COUNT", Value: 0}},
		{"HOST_COUNT:3", api.MinimumHealthyHosts{Type: "HOST_COUNT", Value: 3}},
		{"fleet_percent:75", api.MinimumHealthyHosts{Type: "FLEET_PERCENT", Value: 75}},
		{"FLEET_PERCENT:99", api.MinimumHealthyHosts{Type: "FLEET_PERCENT", Value: 99}},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := parseMinHealthy(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestConfigList(t *testing.T) {
	configs := []api.DeploymentConfig{
		// The presets as the server lists them.
		{Name: "CodeDeployDefault.OneAtATime", MinimumHealthyHosts: api.MinimumHealthyHosts{Type: "MOST_CONCURRENCY", Value: 1}, Preset: true},
		{Name: "CodeDeployDefault.HalfAtATime", MinimumHealthyHosts: api.MinimumHealthyHosts{Type: "FLEET_PERCENT", Value: 50}, Preset: true},
		{Name: "CodeDeployDefault.AllAtOnce", MinimumHealthyHosts: api.MinimumHealthyHosts{Type: "HOST_COUNT", Value: 0}, Preset: true},
		{Name: "two-left", MinimumHealthyHosts: api.MinimumHealthyHosts{Type: "HOST_COUNT", Value: 2}},
	}
	f, url := newFakeAPI(t)
	f.on("GET", "/api/v1/deployment-configs", okAnswer(configs))
	code, stdout, stderr := runAt(t, url, "config", "list")
	if code != 0 {
		t.Fatalf("exit %d, want 0; stderr:\n%s", code, stderr)
	}
	wantCalls(t, f, "GET /api/v1/deployment-configs")
	want := "" +
		"NAME                           MINIMUM HEALTHY HOSTS          PRESET\n" +
		"CodeDeployDefault.OneAtATime   all hosts but 1 (1 at a time)  yes\n" +
		"CodeDeployDefault.HalfAtATime  FLEET_PERCENT:50               yes\n" +
		"CodeDeployDefault.AllAtOnce    HOST_COUNT:0                   yes\n" +
		"two-left                       HOST_COUNT:2                   no\n"
	if stdout != want {
		t.Errorf("stdout:\n%s\nwant:\n%s", stdout, want)
	}

	code, stdout, _ = runAt(t, url, "config", "list", "--json")
	if code != 0 {
		t.Fatalf("--json: exit %d, want 0", code)
	}
	var got []api.DeploymentConfig
	if err := json.Unmarshal([]byte(stdout), &got); err != nil {
		t.Fatalf("--json output %q: %v", stdout, err)
	}
	if !reflect.DeepEqual(got, configs) {
		t.Errorf("--json: got %+v, want %+v", got, configs)
	}
}

func TestInstanceList(t *testing.T) {
	seen := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	instances := []api.Instance{
		{
			Name: "host-1", Tags: map[string]string{"role": "web", "env": "prod"}, LastSeen: &seen,
			RegisterTime: seen.Add(-time.Hour),
			Groups: []api.InstanceGroup{
				{Application: "web", Group: "prod", Health: "Healthy", Revision: "0123456789abcdef0123"},
				{Application: "api", Group: "prod", Health: "Unhealthy"},
			},
		},
		{Name: "host-2", RegisterTime: seen, Deregistered: true},
		{Name: "host-3", Tags: map[string]string{"role": "web"}, RegisterTime: seen, LastSeen: &seen,
			Groups: []api.InstanceGroup{{Application: "web", Group: "prod", Health: "Unknown"}}},
	}
	f, url := newFakeAPI(t)
	f.on("GET", "/api/v1/instances", okAnswer(instances))
	code, stdout, stderr := runAt(t, url, "instance", "list")
	if code != 0 {
		t.Fatalf("exit %d, want 0; stderr:\n%s", code, stderr)
	}
	wantCalls(t, f, "GET /api/v1/instances")
	want := "" +
		"NAME    TAGS               GROUP     HEALTH     REVISION        LAST SEEN\n" +
		"host-1  env=prod,role=web  web/prod  Healthy    0123456789ab    2026-03-04T05:06:07Z\n" +
		"host-1  env=prod,role=web  api/prod  Unhealthy  -               2026-03-04T05:06:07Z\n" +
		"host-2  -                  -         -          -               deregistered\n" +
		"host-3  role=web           web/prod  Unknown    never deployed  2026-03-04T05:06:07Z\n"
	if stdout != want {
		t.Errorf("stdout:\n%s\nwant:\n%s", stdout, want)
	}

	code, stdout, _ = runAt(t, url, "instance", "list", "--json")
	if code != 0 {
		t.Fatalf("--json: exit %d, want 0", code)
	}
	var got []api.Instance
	if err := json.Unmarshal([]byte(stdout), &got); err != nil {
		t.Fatalf("--json output %q: %v", stdout, err)
	}
	if !reflect.DeepEqual(got, instances) {
		t.Errorf("--json:\n  got  %+v\n  want %+v", got, instances)
	}
}

func TestInstanceList_EmptyJSONIsAnArray(t *testing.T) {
	f, url := newFakeAPI(t)
	f.on("GET", "/api/v1/instances", okAnswer(nil))
	code, stdout, _ := runAt(t, url, "instance", "list", "--json")
	if code != 0 {
		t.Fatalf("exit %d, want 0", code)
	}
	if want := "[]\n"; stdout != want {
		t.Errorf("stdout = %q, want %q", stdout, want)
	}
}

func TestInstanceDeregister(t *testing.T) {
	f, url := newFakeAPI(t)
	f.on("DELETE", "/api/v1/instances/host 1", fakeAnswer{status: http.StatusNoContent})
	code, stdout, stderr := runAt(t, url, "instance", "deregister", "host 1")
	if code != 0 {
		t.Fatalf("exit %d, want 0; stderr:\n%s", code, stderr)
	}
	wantCalls(t, f, "DELETE /api/v1/instances/host%201")
	if want := "deregistered instance host 1\n"; stdout != want {
		t.Errorf("stdout = %q, want %q", stdout, want)
	}
}

func TestInstanceTag_SetsAndRemovesKeepingTheRest(t *testing.T) {
	f, url := newFakeAPI(t)
	f.on("GET", "/api/v1/instances", okAnswer([]api.Instance{
		{Name: "web-1", Tags: map[string]string{"role": "web", "env": "staging", "canary": "yes"}},
	}))
	f.on("PUT", "/api/v1/instances/web-1/tags", fakeAnswer{status: http.StatusOK, reply: func(r fakeRequest) any {
		var in api.InstanceTags
		_ = json.Unmarshal(r.Body, &in)
		return api.Instance{Name: "web-1", Tags: in.Tags}
	}})
	code, stdout, stderr := runAt(t, url, "instance", "tag", "web-1", "--tag", "env=prod", "--tag", "zone=a", "--remove", "canary")
	if code != 0 {
		t.Fatalf("exit %d, want 0; stderr:\n%s", code, stderr)
	}
	wantCalls(t, f, "GET /api/v1/instances", "PUT /api/v1/instances/web-1/tags")
	if got, want := lastBody[api.InstanceTags](t, f).Tags, map[string]string{"role": "web", "env": "prod", "zone": "a"}; !reflect.DeepEqual(got, want) {
		t.Errorf("tags sent %v, want %v", got, want)
	}
	if !strings.Contains(stdout, "instance web-1 now has tags") || !strings.Contains(stdout, "env=prod") {
		t.Errorf("stdout = %q", stdout)
	}
}

func TestInstanceTag_UsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{"web-1"},
		{"web-1", "--tag", "novalue"},
		{"web-1", "--tag", "k=v", "--remove", "k"},
	} {
		f, url := newFakeAPI(t)
		if code, _, stderr := runAt(t, url, append([]string{"instance", "tag"}, args...)...); code != 2 || stderr == "" {
			t.Errorf("instance tag %v: exit %d, stderr %q; want 2 with a message", args, code, stderr)
		}
		wantCalls(t, f)
	}
}
