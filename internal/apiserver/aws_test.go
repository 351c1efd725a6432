package apiserver

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/slipway-deploy/slipway/internal/api"
	"github.com/slipway-deploy/slipway/internal/hook"
)

func TestHookStatus(t *testing.T) {
	board := hook.NewBoard()
	e := newEnvWith(t, envSetup{opts: []Option{WithHooks(board)}})
	exec, token, err := board.Open(context.Background(), "d-1", "AfterAllowTraffic", 2)
	if err != nil {
		t.Fatal(err)
	}
	path := api.HookStatusPath(exec.ID)
	ok := api.HookStatus{Status: api.HookSucceeded}
	for _, tc := range []struct {
		name, path, token string
		body              any
		status            int
	}{
		{"unknown execution", api.HookStatusPath("0123"), token, ok, http.StatusNotFound},
		{"no token", path, "", ok, http.StatusForbidden},
		{"another execution's token", path, token[:len(token)-1] + "x", ok, http.StatusForbidden},
		{"admin token", path, adminToken, ok, http.StatusForbidden},
		{"bad verdict", path, token, api.HookStatus{Status: "OK"}, http.StatusBadRequest},
		{"not JSON", path, token, "{", http.StatusBadRequest},
		{"too large", path, token, map[string]string{"status": "Failed", "message": strings.Repeat("x", 8<<10)}, http.StatusRequestEntityTooLarge},
		{"verdict", path, token, ok, http.StatusNoContent},
		{"same verdict again", path, token, ok, http.StatusNoContent},
		{"another verdict", path, token, api.HookStatus{Status: api.HookFailed}, http.StatusConflict},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want(t, e.call(http.MethodPut, tc.path, tc.token, tc.body), tc.status)
		})
	}
	if got, _ := board.Get(context.Background(), exec.ID); got.Status != hook.Succeeded {
		t.Errorf("execution %+v; want Succeeded", got)
	}
}

func TestGroups_LambdaAndECSSettings(t *testing.T) {
	e := newEnv(t)
	for _, app := range []api.Application{{Name: "fn", ComputePlatform: "lambda"}, {Name: "svc", ComputePlatform: "ecs"}, {Name: "web", ComputePlatform: "server"}} {
		want(t, e.call(http.MethodPost, "/api/v1/applications", adminToken, app), http.StatusCreated)
	}
	lambda := api.DeploymentGroup{Name: "live", AWS: &api.AWSSettings{Region: "eu-west-1", Endpoint: "http://127.0.0.1:4566"},
		Traffic: &api.TrafficShape{Canary: &api.TrafficIncrement{Percent: 10, Interval: "5m"}}, HookTimeout: api.Duration(600e9)}
	r := e.call(http.MethodPost, "/api/v1/applications/fn/groups", adminToken, lambda)
	want(t, r, http.StatusCreated)
	var got api.DeploymentGroup
	r.decode(t, &got)
	if got.AWS == nil || got.AWS.Region != "eu-west-1" || got.Traffic == nil || got.Traffic.Canary == nil || got.HookTimeout != lambda.HookTimeout {
		t.Errorf("lambda group %+v", got)
	}
	ecs := api.DeploymentGroup{Name: "prod", ECS: &api.ECSService{Cluster: "prod", Service: "shop",
		TargetGroups:       []string{"arn:aws:elasticloadbalancing:eu-west-1:1:targetgroup/a/1", "arn:aws:elasticloadbalancing:eu-west-1:1:targetgroup/b/2"},
		ProductionListener: "arn:aws:elasticloadbalancing:eu-west-1:1:listener/app/shop/1/2", TerminationWait: api.Duration(5e9)}}
	want(t, e.call(http.MethodPost, "/api/v1/applications/svc/groups", adminToken, ecs), http.StatusCreated)
	for _, tc := range []struct {
		app   string
		group api.DeploymentGroup
		field string
	}{
		{"svc", api.DeploymentGroup{Name: "x"}, "ecs"},
		{"fn", api.DeploymentGroup{Name: "x", ECS: ecs.ECS}, "ecs"},
		{"fn", api.DeploymentGroup{Name: "x", TagGroups: [][]api.TagFilter{{{Key: "a", Value: "b", Type: "KEY_AND_VALUE"}}}}, "tag_groups"},
		{"fn", api.DeploymentGroup{Name: "x", AWS: &api.AWSSettings{Region: "Ireland"}}, "aws"},
		{"fn", api.DeploymentGroup{Name: "x", Traffic: &api.TrafficShape{Preset: "CodeDeployDefault.Nope"}}, "traffic"},
		{"web", api.DeploymentGroup{Name: "x", TagGroups: [][]api.TagFilter{{{Key: "a", Value: "b", Type: "KEY_AND_VALUE"}}}, AWS: &api.AWSSettings{Region: "eu-west-1"}}, "aws"},
	} {
		r := e.call(http.MethodPost, "/api/v1/applications/"+tc.app+"/groups", adminToken, tc.group)
		want(t, r, http.StatusBadRequest)
		if f := r.apiError(t).Field; f != tc.field {
			t.Errorf("%s %+v: field %q, want %q", tc.app, tc.group, f, tc.field)
		}
	}
}

// TestHookStatus_SlowBodyIsCutOff: the status endpoint reads its body before it can check the
// token, so anyone who reaches the server can send it; a body trickled in (or never finished)
// must not hold a connection and its goroutine for ever.
func TestHookStatus_SlowBodyIsCutOff(t *testing.T) {
	e := newEnvWith(t, envSetup{opts: []Option{WithHooks(hook.NewBoard())}}, func(c *Config) { c.BodyTimeout = 200 * time.Millisecond })
	path := api.HookStatusPath(strings.Repeat("0", 32))
	// Cut off in the JSON, or after a whole JSON value with the rest of the announced length
	// still to come: net/http reads that rest after the handler, and must not wait for ever.
	for _, sent := range []string{`{"status":`, `{"status":"Succeeded"}`} {
		if status := slowBody(t, e.url, http.MethodPut, path, sent); status != http.StatusRequestTimeout {
			t.Errorf("%s then nothing: status %d, want 408", sent, status)
		}
	}
}

// slowBody sends a request announcing a 1 KiB body, sends only sent of it, and returns the
// status the server answers with, failing the test if it has not answered within a minute.
func slowBody(t *testing.T, base, method, path, sent string) int {
	t.Helper()
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.Dial("tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "%s %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: 1024\r\n\r\n%s", method, path, u.Host, sent)
	if err := conn.SetReadDeadline(time.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("the server did not answer a body that never came: %v", err)
	}
	defer resp.Body.Close()
	return resp.StatusCode
}
