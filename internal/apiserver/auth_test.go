package apiserver

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/gorilla/mux"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/slipway-deploy/slipway/internal/api"
	"github.com/slipway-deploy/slipway/internal/store"
)

// route is one method and path template the router serves.
type route struct{ method, path string }

// routes lists what the router serves, by walking it.
func routes(t *testing.T, s *Server) []route {
	t.Helper()
	var out []route
	err := s.router(prometheus.NewRegistry()).Walk(func(r *mux.Route, _ *mux.Router, _ []*mux.Route) error {
		methods, err := r.GetMethods()
		if err != nil {
			return nil // a subrouter's prefix: its routes are walked too
		}
		tpl, err := r.GetPathTemplate()
		if err != nil {
			return err
		}
		for _, m := range methods {
			out = append(out, route{m, tpl})
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// concrete fills a path template's variables with values of the right shape.
func concrete(tpl string) string {
	return strings.NewReplacer("{app}", "app", "{group}", "web", "{id}", "d-1:Install:1", "{name}", "host",
		"{digest}", strings.Repeat("0", 64)).Replace(tpl)
}

func wantUnauthorized(t *testing.T, r reply, what string) {
	t.Helper()
	if r.status != http.StatusUnauthorized {
		t.Errorf("%s: status %d, want 401; body %s", what, r.status, r.body)
		return
	}
	if got := r.header.Get("WWW-Authenticate"); !strings.HasPrefix(got, "Bearer ") {
		t.Errorf("%s: WWW-Authenticate = %q, want a Bearer challenge", what, got)
	}
	r.apiError(t)
}

// TestAuth_EveryRouteChecksItsCredential sends every route the router serves each credential that
// must not open it: the admin API takes only the admin token, the agent protocol only an
// instance's credential (registration only the enroll token).
func TestAuth_EveryRouteChecksItsCredential(t *testing.T) {
	e := newEnv(t)
	host := e.register("host", map[string]string{"role": "web"})
	admin := []string{"", "wrong-token-of-the-right-length", enrollToken, host.credential, strings.ToLower(adminToken[:len(adminToken)-1])}
	agent := []string{"", adminToken, enrollToken, "swi_forged-credential", strings.TrimPrefix(host.credential, "swi_")}
	register := []string{"", adminToken, host.credential, enrollToken + "x"}
	checked := 0
	for _, rt := range routes(t, e.srv) {
		var bad []string
		switch {
		case rt.path == openAPIPath, !strings.HasPrefix(rt.path, api.PathAPI) && !strings.HasPrefix(rt.path, api.PathAgent):
			continue // public
		case rt.path == api.HookStatusPath("{id}"):
			continue // the execution's own token: TestHookStatus
		case rt.path == api.PathAgent+"/register":
			bad = register
		case strings.HasPrefix(rt.path, api.PathAgent):
			bad = agent
		default:
			bad = admin
		}
		for i, tok := range bad {
			r := e.call(rt.method, concrete(rt.path), tok, "{}")
			wantUnauthorized(t, r, fmt.Sprintf("%s %s with bad credential #%d", rt.method, rt.path, i))
		}
		checked++
	}
	if checked < 20 {
		t.Errorf("checked %d routes; the router serves more", checked)
	}
	// Scheme names are case-insensitive (RFC 9110); the right token works however it is spelt.
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, e.url+api.PathAPI+"/applications", nil)
	req.Header.Set("Authorization", "bEaReR "+adminToken)
	want(t, e.send(req), http.StatusOK)
}

// TestAuth_InstanceActsOnlyAsItself: a host's credential cannot report or heartbeat another
// host's commands, nor download a bundle no active deployment gives it.
func TestAuth_InstanceActsOnlyAsItself(t *testing.T) {
	e := newEnv(t)
	digest := e.fleet()
	web := e.register("web-1", map[string]string{"role": "web"})
	other := e.register("db-1", map[string]string{"role": "db"})
	d := e.deploy(digest)
	cmd := web.next(5 * time.Second)
	if cmd == nil {
		t.Fatal("web-1 got no command")
	}
	if cmd.DeploymentID != d.ID || cmd.Bundle.Digest != digest {
		t.Fatalf("command %+v, want one of deployment %s for revision %s", cmd, d.ID, digest)
	}

	bundlePath := api.PathAgent + "/bundles/" + digest
	wantError(t, other.report(cmd.ID, "Failed"), http.StatusNotFound, "", "does not target")
	wantError(t, e.call(http.MethodPost, api.PathAgent+"/commands/"+cmd.ID+"/heartbeat", other.credential, "{}"),
		http.StatusNotFound, "", "does not target")
	wantError(t, e.call(http.MethodGet, bundlePath, other.credential, nil), http.StatusNotFound, "", "no active deployment")
	// Saying at start-up that it was running web-1's command does not fail it either.
	want(t, e.call(http.MethodPost, api.PathAgent+"/hello", other.credential, api.Hello{Interrupted: []string{cmd.ID}}), http.StatusNoContent)
	got, err := e.admin.GetDeployment(t.Context(), d.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status == "Failed" || len(got.Instances) != 1 || got.Instances[0].Status == "Failed" {
		t.Fatalf("another host's reports changed the deployment: %+v", got)
	}

	// The targeted host downloads the bundle, byte for byte, with its digest.
	r := e.call(http.MethodGet, bundlePath, web.credential, nil)
	want(t, r, http.StatusOK)
	if r.header.Get(digestHeader) != "sha256="+digest || int64(len(r.body)) != cmd.Bundle.Size {
		t.Errorf("download: %s %q, %d bytes; want sha256=%s, %d bytes", digestHeader, r.header.Get(digestHeader), len(r.body), digest, cmd.Bundle.Size)
	}
	want(t, e.call(http.MethodPost, api.PathAgent+"/commands/"+cmd.ID+"/heartbeat", web.credential, "{}"), http.StatusNoContent)
	want(t, web.report(cmd.ID, "Succeeded"), http.StatusNoContent)
	if fin := web.runUntilFinished(d.ID, "Succeeded"); fin.Status != "Succeeded" {
		t.Fatalf("deployment %s, want Succeeded", fin.Status)
	}
	// Once no active deployment needs it, not even the host that installed it may fetch it.
	wantError(t, e.call(http.MethodGet, bundlePath, web.credential, nil), http.StatusNotFound, "", "no active deployment")
	// A command of a finished deployment is no longer wanted.
	want(t, e.call(http.MethodPost, api.PathAgent+"/commands/"+cmd.ID+"/heartbeat", web.credential, "{}"), http.StatusGone)
}

// TestAuth_DeregisteredCredential: deregistering revokes the credential at once (the first
// call put it in the store's memory), and the agent is told to enroll again; the name can then
// enroll afresh.
func TestAuth_DeregisteredCredential(t *testing.T) {
	e := newEnv(t)
	host := e.register("web-1", map[string]string{"role": "web"})
	want(t, e.call(http.MethodPost, api.PathAgent+"/hello", host.credential, api.Hello{}), http.StatusNoContent)
	wantError(t, e.call(http.MethodPost, api.PathAgent+"/register", enrollToken, api.Register{Name: "web-1"}),
		http.StatusConflict, "", "already registered", "deregister")

	if err := e.admin.DeregisterInstance(t.Context(), "web-1"); err != nil {
		t.Fatal(err)
	}
	for _, r := range []reply{
		e.call(http.MethodPost, api.PathAgent+"/hello", host.credential, api.Hello{}),
		e.call(http.MethodGet, api.PathAgent+"/commands/next?wait=0s", host.credential, nil),
	} {
		wantUnauthorized(t, r, "revoked credential")
		if msg := r.apiError(t).Message; !strings.Contains(msg, "deregistered") || !strings.Contains(msg, "enroll again") {
			t.Errorf("message %q does not say the instance was deregistered and must enroll again", msg)
		}
	}
	again := e.register("web-1", map[string]string{"role": "web"})
	if again.id == host.id || again.credential == host.credential {
		t.Errorf("re-enrolment reused id %s or the old credential", again.id)
	}
	want(t, e.call(http.MethodPost, api.PathAgent+"/hello", again.credential, api.Hello{}), http.StatusNoContent)
}

// TestAuth_CredentialsStoredHashed: the database holds the credential's hash, never the
// credential itself.
func TestAuth_CredentialsStoredHashed(t *testing.T) {
	e := newEnv(t)
	host := e.register("web-1", nil)
	if !strings.HasPrefix(host.credential, credentialPrefix) || len(host.credential) < len(credentialPrefix)+43 {
		t.Fatalf("credential %q: want %s and 256 random bits", host.credential, credentialPrefix)
	}
	inst, err := e.store.InstanceByCredential(t.Context(), store.HashToken(host.credential))
	if err != nil || inst.ID != host.id {
		t.Fatalf("InstanceByCredential(hash) = %+v, %v; want instance %s", inst, err, host.id)
	}
	// Every byte SQLite wrote (database, WAL, shared memory).
	var db []byte
	files, _ := filepath.Glob(filepath.Join(e.dir, "slipway.db*"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		db = append(db, b...)
	}
	if bytes.Contains(db, []byte(host.credential)) || bytes.Contains(db, []byte(strings.TrimPrefix(host.credential, credentialPrefix))) {
		t.Error("the database files hold the credential in clear")
	}
	if !bytes.Contains(db, []byte(store.HashToken(host.credential))) {
		t.Error("the database files do not hold the credential's hash: is this test reading the right files?")
	}
}

// TestAuth_NoSecretInLogs captures the server's log through enrolment, start-up, polling,
// reporting, failed logins and deregistration: no token or credential appears in it.
func TestAuth_NoSecretInLogs(t *testing.T) {
	e := newEnv(t)
	digest := e.fleet()
	host := e.register("web-1", map[string]string{"role": "web"})
	want(t, e.call(http.MethodPost, api.PathAgent+"/hello", host.credential, api.Hello{Tags: map[string]string{"role": "web"}}), http.StatusNoContent)
	d := e.deploy(digest)
	host.runUntilFinished(d.ID, "Succeeded")
	e.call(http.MethodGet, api.PathAgent+"/commands/next?wait=0s", host.credential+"x", nil)
	e.call(http.MethodPost, api.PathAgent+"/register", adminToken, api.Register{Name: "web-2"})
	e.call(http.MethodGet, api.PathAPI+"/instances", enrollToken, nil)
	if err := e.admin.DeregisterInstance(t.Context(), "web-1"); err != nil {
		t.Fatal(err)
	}
	e.call(http.MethodGet, api.PathAgent+"/commands/next?wait=0s", host.credential, nil)

	logs := e.logs()
	if !strings.Contains(logs, "instance registered") || !strings.Contains(logs, d.ID) {
		t.Fatalf("the log did not record the registration and the deployment, so it proves nothing:\n%s", logs)
	}
	for name, secret := range map[string]string{
		"admin token": adminToken, "enroll token": enrollToken, "credential": host.credential,
		"credential body": strings.TrimPrefix(host.credential, credentialPrefix),
	} {
		if strings.Contains(logs, secret) {
			t.Errorf("the log holds the %s", name)
		}
	}
}

// TestAgent_DiagnosticsAreBounded: a host reporting megabytes of diagnostics gets them cut, the
// end of the output kept, so one host cannot bloat the deployment every reader and every save
// carries; and a hello cannot name thousands of commands to look up.
func TestAgent_DiagnosticsAreBounded(t *testing.T) {
	e := newEnv(t)
	digest := e.fleet()
	web := e.register("web-1", map[string]string{"role": "web"})
	d := e.deploy(digest)
	cmd := web.next(5 * time.Second)
	if cmd == nil {
		t.Fatal("web-1 got no command")
	}
	huge := strings.Repeat("é", 100<<10) // two bytes each (cuts must not split one); 800 KB in all
	now := time.Now().UTC()
	want(t, e.call(http.MethodPost, api.PathAgent+"/commands/"+cmd.ID+"/result", web.credential, api.Result{
		Status: "Failed", StartTime: now, EndTime: now,
		Diagnostics: &api.Diagnostics{ErrorCode: huge, ScriptName: huge, Message: huge, LogTail: huge + "the last line"},
	}), http.StatusNoContent)
	got, err := e.admin.GetDeployment(t.Context(), d.ID)
	if err != nil {
		t.Fatal(err)
	}
	var diag *api.Diagnostics
	for _, ev := range got.Instances[0].Events {
		if ev.Diagnostics != nil && ev.Diagnostics.LogTail != "" {
			diag = ev.Diagnostics
		}
	}
	if diag == nil {
		t.Fatalf("no diagnostics kept: %+v", got.Instances[0])
	}
	for _, f := range []struct {
		name string
		v    string
		max  int
	}{
		{"error code", diag.ErrorCode, maxDiagCodeBytes}, {"script", diag.ScriptName, maxDiagScriptBytes},
		{"message", diag.Message, maxDiagMessageBytes}, {"tail", diag.LogTail, maxDiagTailBytes},
	} {
		if len(f.v) > f.max || !utf8.ValidString(f.v) || !strings.Contains(f.v, "…") {
			t.Errorf("%s: %d bytes (valid UTF-8 %v), want at most %d, cut and marked", f.name, len(f.v), utf8.ValidString(f.v), f.max)
		}
	}
	if !strings.HasSuffix(diag.LogTail, "the last line") {
		t.Errorf("the tail lost the output's end: ...%q", diag.LogTail[len(diag.LogTail)-20:])
	}

	many := make([]string, maxInterrupted+1)
	for i := range many {
		many[i] = fmt.Sprintf("%s:ApplicationStop:%d", d.ID, i+1)
	}
	wantError(t, e.call(http.MethodPost, api.PathAgent+"/hello", web.credential, api.Hello{Interrupted: many}),
		http.StatusBadRequest, "interrupted", "report at most 100")
}
