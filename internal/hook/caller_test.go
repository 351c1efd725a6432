package hook_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"

	"github.com/slipway-deploy/slipway/internal/api"
	"github.com/slipway-deploy/slipway/internal/awsfake"
	"github.com/slipway-deploy/slipway/internal/hook"
)

// newCaller returns a caller whose hooks report to a status endpoint over its board, and which
// invokes Lambda functions on a stand-in.
func newCaller(t *testing.T) (*hook.Caller, *awsfake.Lambda) {
	t.Helper()
	awsfake.Credentials(t)
	fn := awsfake.NewLambda(t, nil)
	client := lambda.New(lambda.Options{Region: "eu-west-1", BaseEndpoint: aws.String(fn.URL),
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: awsfake.AccessKey, SecretAccessKey: awsfake.SecretKey}, nil
		})})
	board := hook.NewBoard()
	status := awsfake.StatusEndpoint(t, board)
	return hook.NewCaller(board, status.URL, client, nil), fn
}

// waitSettled waits (a bounded time) for the execution to have its verdict.
func waitSettled(t *testing.T, b *hook.Board, id string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		e, err := b.Get(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if e.Status != hook.Pending {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("execution %s has no verdict after 10s", id)
		}
		time.Sleep(time.Millisecond)
	}
}

func target(t *testing.T, s string) hook.Target {
	t.Helper()
	tg, err := hook.ParseTarget(s)
	if err != nil {
		t.Fatal(err)
	}
	return tg
}

func TestCaller_LambdaHookReportsThroughTheEndpoint(t *testing.T) {
	for _, verdict := range []string{api.HookSucceeded, api.HookFailed} {
		t.Run(verdict, func(t *testing.T) {
			c, fn := newCaller(t)
			fn.AddFunction("CheckBeforeTraffic", 1)
			answered := make(chan int, 1)
			fn.OnInvoke("CheckBeforeTraffic", awsfake.Reporter(verdict, answered))
			id, err := c.Start(context.Background(), "d-42", "BeforeAllowTraffic", 1, target(t, "CheckBeforeTraffic"))
			if err != nil {
				t.Fatal(err)
			}
			waitSettled(t, c.Board(), id)
			if code := <-answered; code != http.StatusNoContent {
				t.Errorf("status endpoint answered %d; want 204", code)
			}
			got, _ := c.Board().Get(context.Background(), id)
			if got.Status.String() != verdict {
				t.Errorf("execution %+v; want %s", got, verdict)
			}
			inv := fn.Invocations("CheckBeforeTraffic")
			if len(inv) != 1 || inv[0].Type != "Event" {
				t.Fatalf("invocations %+v; want one Event invocation, as CodeDeploy invokes hooks", inv)
			}
			var p api.HookPayload
			if err := json.Unmarshal(inv[0].Payload, &p); err != nil {
				t.Fatal(err)
			}
			if p.DeploymentID != "d-42" || p.ExecutionID != id || p.LifecycleEvent != "BeforeAllowTraffic" || p.StatusToken == "" ||
				!strings.HasSuffix(p.StatusURL, "/api/v1/lifecycle-hook-executions/"+id) {
				t.Errorf("payload %+v", p)
			}
			var raw map[string]any
			_ = json.Unmarshal(inv[0].Payload, &raw)
			if raw["DeploymentId"] != "d-42" || raw["LifecycleEventHookExecutionId"] != id {
				t.Errorf("payload %s lacks CodeDeploy's DeploymentId and LifecycleEventHookExecutionId", inv[0].Payload)
			}
		})
	}
}

func TestCaller_MissingFunctionFailsTheHook(t *testing.T) {
	c, _ := newCaller(t)
	id, err := c.Start(context.Background(), "d-1", "AfterAllowTraffic", 1, target(t, "NoSuchFunction"))
	if err != nil {
		t.Fatal(err)
	}
	waitSettled(t, c.Board(), id)
	got, _ := c.Board().Get(context.Background(), id)
	if got.Status != hook.Failed || !strings.Contains(got.Message, "lambda:InvokeFunction: ResourceNotFoundException") {
		t.Errorf("execution %+v; want Failed naming lambda:InvokeFunction and ResourceNotFoundException", got)
	}
}

func TestCaller_HTTPHook(t *testing.T) {
	for _, tc := range []struct {
		name    string
		answer  func(w http.ResponseWriter)
		want    hook.Status
		message string
	}{
		{"verdict at once", func(w http.ResponseWriter) { _, _ = io.WriteString(w, `{"status":"Succeeded"}`) }, hook.Succeeded, ""},
		{"failed at once", func(w http.ResponseWriter) { _, _ = io.WriteString(w, `{"status":"Failed","message":"p99 too high"}`) }, hook.Failed, "p99 too high"},
		{"later", func(w http.ResponseWriter) { w.WriteHeader(http.StatusAccepted) }, hook.Pending, ""},
		{"server error", func(w http.ResponseWriter) { http.Error(w, "boom", http.StatusInternalServerError) }, hook.Failed, "answered 500 Internal Server Error"},
		{"redirect", func(w http.ResponseWriter) {
			w.Header().Set("Location", "https://elsewhere.example/")
			w.WriteHeader(http.StatusFound)
		}, hook.Failed, "answered 302 Found"},
		{"bad verdict", func(w http.ResponseWriter) { _, _ = io.WriteString(w, `{"status":"OK"}`) }, hook.Failed, "invalid hook status"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, _ := newCaller(t)
			var got api.HookPayload
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" {
					t.Errorf("hook got %s with %s; want a JSON POST", r.Method, r.Header.Get("Content-Type"))
				}
				_ = json.NewDecoder(r.Body).Decode(&got)
				tc.answer(w)
			}))
			defer srv.Close()
			id, err := c.Start(context.Background(), "d-7", "AfterAllowTestTraffic", 1, target(t, srv.URL+"/validate"))
			if err != nil {
				t.Fatal(err)
			}
			if got.ExecutionID != id || got.DeploymentID != "d-7" {
				t.Errorf("hook payload %+v", got)
			}
			exec, _ := c.Board().Get(context.Background(), id)
			if exec.Status != tc.want || !strings.Contains(exec.Message, tc.message) {
				t.Fatalf("execution %+v; want %v with %q", exec, tc.want, tc.message)
			}
			if tc.want != hook.Pending {
				return
			}
			body, _ := json.Marshal(got)
			if code := awsfake.ReportFrom(body, api.HookStatus{Status: api.HookSucceeded}); code != http.StatusNoContent {
				t.Fatalf("late report answered %d", code)
			}
			waitSettled(t, c.Board(), id)
			if exec, _ := c.Board().Get(context.Background(), id); exec.Status != hook.Succeeded {
				t.Errorf("after the late report: %+v", exec)
			}
		})
	}
}

func TestCaller_LambdaHookWithoutAWSFails(t *testing.T) {
	board := hook.NewBoard()
	c := hook.NewCaller(board, "https://slipway.example", nil, nil)
	id, err := c.Start(context.Background(), "d", "BeforeAllowTraffic", 1, target(t, "Fn"))
	if err != nil {
		t.Fatal(err)
	}
	if exec, _ := board.Get(context.Background(), id); exec.Status != hook.Failed || !strings.Contains(exec.Message, "no AWS access") {
		t.Errorf("execution %+v", exec)
	}
}

func TestParseTarget(t *testing.T) {
	for _, ok := range []string{
		"MyHook", "my-hook_2", "MyHook:live", "123456789012:function:MyHook",
		"arn:aws:lambda:eu-west-1:123456789012:function:MyHook", "arn:aws-us-gov:lambda:us-gov-west-1:123456789012:function:MyHook:3",
		"https://checks.example.com/hook", "http://127.0.0.1:8080/hook",
	} {
		if _, err := hook.ParseTarget(ok); err != nil {
			t.Errorf("ParseTarget(%q): %v", ok, err)
		}
	}
	for _, bad := range []string{"", "my hook", "ftp://x/y", "https://user:pw@checks.example.com/", "arn:aws:s3:::bucket", strings.Repeat("a", 65)} {
		if _, err := hook.ParseTarget(bad); !errors.Is(err, hook.ErrInvalidTarget) {
			t.Errorf("ParseTarget(%q) = %v; want ErrInvalidTarget", bad, err)
		}
	}
}

// An HTTP hook is called only under a prefix the server's configuration allows: same scheme,
// same host and port, and a path at or below the prefix's, segment by segment.
func TestTarget_AllowedBy(t *testing.T) {
	var prefixes []*url.URL
	for _, p := range []string{"https://checks.example.com/slipway/", "http://127.0.0.1:8080", "http://localhost"} {
		u, err := hook.ParseURLPrefix(p)
		if err != nil {
			t.Fatalf("ParseURLPrefix(%q): %v", p, err)
		}
		prefixes = append(prefixes, u)
	}
	for target, want := range map[string]bool{
		"MyHook": true, // a Lambda function
		"https://checks.example.com/slipway/smoke":   true,
		"https://checks.example.com/slipway":         true,
		"https://CHECKS.example.com/slipway/a/b":     true,
		"http://127.0.0.1:8080/anything":             true,
		"https://checks.example.com/slipwayx":        false, // not the same segment
		"https://checks.example.com/admin":           false,
		"https://checks.example.com/slipway/../adm":  false,
		"https://checks.example.com/slipway/%2e%2e/": false,
		"http://checks.example.com/slipway/smoke":    false, // another scheme
		"https://checks.example.com.evil/slipway/":   false,
		"http://127.0.0.1:9090/":                     false, // another port
		"http://169.254.169.254/latest/meta-data/":   false,
		"http://localhost:4000/check":                true, // no port in the prefix: any port
	} {
		target, err := hook.ParseTarget(target)
		if err != nil {
			t.Fatal(err)
		}
		if got := target.AllowedBy(prefixes); got != want {
			t.Errorf("%s allowed %v, want %v", target, got, want)
		}
	}
	if target, _ := hook.ParseTarget("https://checks.example.com/x"); target.AllowedBy(nil) {
		t.Error("an HTTP hook is allowed with no prefix configured")
	}
	for _, bad := range []string{"checks.example.com", "ftp://x/", "https://u:p@x/", "https://x/?q=1"} {
		if _, err := hook.ParseURLPrefix(bad); err == nil {
			t.Errorf("ParseURLPrefix(%q) accepted", bad)
		}
	}
}
