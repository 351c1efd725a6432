package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/slipway-deploy/slipway/internal/api"
)

// fakeAPI stands in for the server's REST API: each "METHOD /path" gets its canned answers in
// order (the last one repeats), and every request is recorded.
type fakeAPI struct {
	mu      sync.Mutex
	answers map[string][]fakeAnswer
	reqs    []fakeRequest
}

// answer is a canned response; when reply is set, it computes the body from the request.
type fakeAnswer struct {
	status int
	body   any
	reply  func(fakeRequest) any
}

type fakeRequest struct {
	Method string
	URI    string // path and query
	Auth   string
	Digest string // X-Slipway-Digest
	Commit string // X-Slipway-Commit
	Dir    string // X-Slipway-Directory
	Body   []byte
}

func okAnswer(body any) fakeAnswer { return fakeAnswer{status: http.StatusOK, body: body} }

func errAnswer(status int, msg string) fakeAnswer {
	return fakeAnswer{status: status, body: api.Error{Message: msg}}
}

func newFakeAPI(t *testing.T) (*fakeAPI, string) {
	t.Helper()
	f := &fakeAPI{answers: make(map[string][]fakeAnswer)}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return f, srv.URL
}

func (f *fakeAPI) on(method, path string, answers ...fakeAnswer) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.answers[method+" "+path] = answers
}

func (f *fakeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	req := fakeRequest{
		Method: r.Method, URI: r.URL.RequestURI(), Auth: r.Header.Get("Authorization"),
		Digest: r.Header.Get("X-Slipway-Digest"), Commit: r.Header.Get("X-Slipway-Commit"),
		Dir: r.Header.Get("X-Slipway-Directory"), Body: body,
	}
	key := r.Method + " " + r.URL.Path
	f.mu.Lock()
	f.reqs = append(f.reqs, req)
	a := errAnswer(http.StatusNotFound, "fake: no answer for "+key)
	if as := f.answers[key]; len(as) > 0 {
		a = as[0]
		if len(as) > 1 {
			f.answers[key] = as[1:]
		}
	}
	f.mu.Unlock()
	if a.reply != nil {
		a.body = a.reply(req)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(a.status)
	_ = json.NewEncoder(w).Encode(a.body)
}

func (f *fakeAPI) requests() []fakeRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]fakeRequest(nil), f.reqs...)
}

// calls lists the requests as "METHOD URI".
func (f *fakeAPI) calls() []string {
	var out []string
	for _, r := range f.requests() {
		out = append(out, r.Method+" "+r.URI)
	}
	return out
}

func wantCalls(t *testing.T, f *fakeAPI, want ...string) {
	t.Helper()
	if got := f.calls(); !reflect.DeepEqual(got, want) {
		t.Errorf("requests:\n  got  %q\n  want %q", got, want)
	}
}

// lastBody decodes the body of the last request.
func lastBody[T any](t *testing.T, f *fakeAPI) T {
	t.Helper()
	reqs := f.requests()
	if len(reqs) == 0 {
		t.Fatal("no request sent")
	}
	var v T
	if err := json.Unmarshal(reqs[len(reqs)-1].Body, &v); err != nil {
		t.Fatalf("request body %q: %v", reqs[len(reqs)-1].Body, err)
	}
	return v
}

// runEnv runs the binary's run in-process with the given environment.
func runEnv(t *testing.T, env map[string]string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	getenv := func(k string) string { return env[k] }
	err := run(context.Background(), args, getenv, &out, &errOut)
	code = exitCode(err, &errOut)
	return code, out.String(), errOut.String()
}

// runAt runs a command against the server at url with token "secret-token".
func runAt(t *testing.T, url string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	return runEnv(t, map[string]string{envServer: url, envToken: testToken}, args...)
}

const testToken = "secret-token"

func TestCLI_ServerAndToken(t *testing.T) {
	envFake, envURL := newFakeAPI(t)
	flagFake, flagURL := newFakeAPI(t)
	for _, f := range []*fakeAPI{envFake, flagFake} {
		f.on("DELETE", "/api/v1/instances/host-1", fakeAnswer{status: http.StatusNoContent})
	}
	tests := []struct {
		name     string
		env      map[string]string
		args     []string
		wantFake *fakeAPI
		wantAuth string
	}{
		{"env", map[string]string{envServer: envURL, envToken: "env-tok"}, nil, envFake, "Bearer env-tok"},
		{"flags", nil, []string{"--server", flagURL, "--token", "flag-tok"}, flagFake, "Bearer flag-tok"},
		{"flags win over env", map[string]string{envServer: envURL, envToken: "env-tok"},
			[]string{"--server=" + flagURL, "--token=flag-tok"}, flagFake, "Bearer flag-tok"},
		{"flag server, env token", map[string]string{envToken: "env-tok"}, []string{"--server", flagURL}, flagFake, "Bearer env-tok"},
		{"no token", map[string]string{envServer: envURL}, nil, envFake, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := len(tc.wantFake.requests())
			args := append([]string{"instance", "deregister", "host-1"}, tc.args...)
			code, stdout, stderr := runEnv(t, tc.env, args...)
			if code != 0 {
				t.Fatalf("exit %d, want 0; stderr:\n%s", code, stderr)
			}
			reqs := tc.wantFake.requests()
			if got, want := len(reqs), before+1; got != want {
				t.Fatalf("server got %d requests, want %d", got, want)
			}
			if got := reqs[len(reqs)-1].Auth; got != tc.wantAuth {
				t.Errorf("Authorization = %q, want %q", got, tc.wantAuth)
			}
			for _, tok := range []string{"env-tok", "flag-tok"} {
				if strings.Contains(stdout+stderr, tok) {
					t.Errorf("output shows the token %q:\n%s%s", tok, stdout, stderr)
				}
			}
		})
	}
}

func TestCLI_MissingOrBadServer(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"missing", nil, []string{"config", "list"}, "slipway: config list: no server: pass --server URL or set SLIPWAY_SERVER\n"},
		{"not a URL", map[string]string{envServer: "localhost:8080"}, []string{"app", "create", "web"},
			"slipway: app create: server \"localhost:8080\" is not an http:// or https:// URL\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := runEnv(t, tc.env, tc.args...)
			if code != 2 {
				t.Errorf("exit %d, want 2", code)
			}
			if stdout != "" {
				t.Errorf("stdout = %q, want nothing", stdout)
			}
			if stderr != tc.want {
				t.Errorf("stderr = %q, want %q", stderr, tc.want)
			}
		})
	}
}

func TestCLI_ServerErrorPrinted(t *testing.T) {
	tests := []struct {
		name string
		ans  fakeAnswer
		want string
	}{
		{"conflict", errAnswer(http.StatusConflict, `application "web" already exists`), "slipway: application \"web\" already exists\n"},
		{"field", fakeAnswer{status: http.StatusBadRequest, body: api.Error{Message: "must be server, lambda or ecs", Field: "compute_platform"}},
			"slipway: compute_platform: must be server, lambda or ecs\n"},
		{"unauthorized", errAnswer(http.StatusUnauthorized, "bad token"), "slipway: bad token (check --token or SLIPWAY_TOKEN)\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, url := newFakeAPI(t)
			f.on("POST", "/api/v1/applications", tc.ans)
			code, stdout, stderr := runAt(t, url, "app", "create", "web")
			if code != 1 {
				t.Errorf("exit %d, want 1", code)
			}
			if stdout != "" {
				t.Errorf("stdout = %q, want nothing", stdout)
			}
			if stderr != tc.want {
				t.Errorf("stderr = %q, want %q", stderr, tc.want)
			}
		})
	}
}

func TestCLI_Usage(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		wantCode int
		want     string // in stderr
	}{
		{"noun alone", []string{"deployment"}, 2, "deployment: missing subcommand (get, list, stop, wait, promote, pause, continue, abort)"},
		{"unknown subcommand", []string{"instance", "delete", "x"}, 2, `instance: unknown subcommand "delete" (want list, tag, deregister)`},
		{"help", []string{"deploy", "-h"}, 0, "usage: slipway deploy --app A"},
		{"help lists common flags", []string{"group", "create", "--help"}, 0, "-server URL"},
		{"unknown flag", []string{"config", "list", "--bogus"}, 2, "flag provided but not defined: -bogus"},
		{"too few arguments", []string{"group", "create", "web"}, 2, "group create: want APP GROUP, got 1 argument(s)"},
		{"too many arguments", []string{"deployment", "get", "d-1", "d-2"}, 2, "deployment get: want ID, got 2 argument(s)"},
		{"unexpected argument", []string{"rollback", "web", "--app", "web", "--group", "prod"}, 2, "rollback: want no arguments, got 1"},
		{"missing required flag", []string{"rollback", "--app", "web"}, 2, "rollback: --group is required"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, _, stderr := runEnv(t, map[string]string{envServer: "http://127.0.0.1:1", envToken: testToken}, tc.args...)
			if code != tc.wantCode {
				t.Errorf("exit %d, want %d", code, tc.wantCode)
			}
			if !strings.Contains(stderr, tc.want) {
				t.Errorf("stderr = %q, want it to contain %q", stderr, tc.want)
			}
			if strings.Contains(stderr, testToken) {
				t.Errorf("stderr shows the token: %q", stderr)
			}
		})
	}
}

func TestCLI_TopLevelUsageListsCommands(t *testing.T) {
	code, stdout, _ := runEnv(t, nil, "help")
	if code != 0 {
		t.Fatalf("exit %d, want 0", code)
	}
	for _, cmd := range []string{"app", "group", "config", "deploy", "deployment", "rollback", "instance"} {
		if !strings.Contains(stdout, "\n  "+cmd+" ") {
			t.Errorf("usage does not list %q:\n%s", cmd, stdout)
		}
	}
	if !strings.Contains(stdout, "SLIPWAY_SERVER") {
		t.Errorf("usage does not mention SLIPWAY_SERVER:\n%s", stdout)
	}
}

func TestCommand_ParseFlagsAnywhere(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantPos []string
		wantTag []string
		wantB   bool
	}{
		{"flags first", []string{"--tag", "a=1", "--b", "x", "y"}, []string{"x", "y"}, []string{"a=1"}, true},
		{"flags last", []string{"x", "y", "--tag", "a=1", "--tag=b=2", "-b"}, []string{"x", "y"}, []string{"a=1", "b=2"}, true},
		{"flags between", []string{"x", "--tag", "a=1", "y"}, []string{"x", "y"}, []string{"a=1"}, false},
		{"double dash", []string{"x", "--", "--tag", "y"}, []string{"x", "--tag", "y"}, nil, false},
		{"none", nil, nil, nil, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := &cli{getenv: func(string) string { return "" }, stdout: io.Discard, stderr: io.Discard}
			cmd := c.command("test", "usage")
			var tags listFlag
			cmd.fs.Var(&tags, "tag", "")
			b := cmd.fs.Bool("b", false, "")
			pos, err := cmd.parse(tc.args)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(pos, tc.wantPos) {
				t.Errorf("positionals = %q, want %q", pos, tc.wantPos)
			}
			if got := []string(tags); !reflect.DeepEqual(got, tc.wantTag) {
				t.Errorf("tags = %q, want %q", got, tc.wantTag)
			}
			if *b != tc.wantB {
				t.Errorf("-b = %v, want %v", *b, tc.wantB)
			}
		})
	}
}

func TestCLI_NounHelpListsSubcommands(t *testing.T) {
	tests := []struct {
		args []string
		subs []string
	}{
		{[]string{"group", "-h"}, []string{"create", "update", "get", "list"}},
		{[]string{"deployment", "--help"}, []string{"get", "list", "stop", "wait", "promote", "pause", "continue", "abort"}},
		{[]string{"instance", "help"}, []string{"list", "deregister"}},
		{[]string{"config", "-help"}, []string{"create", "list"}},
		{[]string{"app", "-h"}, []string{"create"}},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			code, stdout, stderr := runEnv(t, nil, tc.args...)
			if code != 0 || stderr != "" {
				t.Fatalf("exit %d, stderr %q; want 0 and nothing", code, stderr)
			}
			if want := "usage: slipway " + tc.args[0] + " <subcommand>"; !strings.HasPrefix(stdout, want) {
				t.Errorf("stdout does not start with %q:\n%s", want, stdout)
			}
			for _, s := range tc.subs {
				if !strings.Contains(stdout, "\n  "+s+" ") {
					t.Errorf("usage does not list %q:\n%s", s, stdout)
				}
			}
		})
	}
}

func TestCLI_VersionFlags(t *testing.T) {
	for _, arg := range []string{"version", "--version", "-version", "-v"} {
		code, stdout, stderr := runEnv(t, nil, arg)
		if code != 0 || stdout != "slipway "+version+"\n" || stderr != "" {
			t.Errorf("%s: exit %d, stdout %q, stderr %q", arg, code, stdout, stderr)
		}
	}
}
