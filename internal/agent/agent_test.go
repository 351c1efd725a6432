package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/slipway-deploy/slipway/internal/api"
	"github.com/slipway-deploy/slipway/internal/appspec"
	"github.com/slipway-deploy/slipway/internal/bundle"
	"github.com/slipway-deploy/slipway/internal/lifecycle"
	"github.com/slipway-deploy/slipway/internal/script"
)

// Hook scripts. Each appends to $TRACE, which the tests read.
const (
	traceHook = `#!/bin/sh
echo "$LIFECYCLE_EVENT:$DEPLOYMENT_ID:$BUNDLE_COMMIT" >> "$TRACE"
`
	// gateHook waits for the test to create $GATE.
	gateHook = `#!/bin/sh
while [ ! -e "$GATE" ]; do sleep 0.01; done
echo "$LIFECYCLE_EVENT:$DEPLOYMENT_ID:$BUNDLE_COMMIT" >> "$TRACE"
`
	// foreverHook runs until it is stopped, and says so.
	foreverHook = `#!/bin/sh
trap 'echo stopped >> "$TRACE"; exit 1' TERM
echo started >> "$TRACE"
while :; do sleep 0.01; done
`
)

// buildBundle makes a tgz revision whose BeforeInstall runs before and whose other hooks trace.
func (e *testEnv) buildBundle(t *testing.T, before string) []byte {
	t.Helper()
	dir := t.TempDir()
	spec := fmt.Sprintf(`version: 0.0
os: linux
files:
  - source: public
    destination: %s
hooks:
  ApplicationStop:
    - location: scripts/trace.sh
  BeforeInstall:
    - location: scripts/before.sh
  AfterInstall:
    - location: scripts/trace.sh
  ApplicationStart:
    - location: scripts/trace.sh
  ValidateService:
    - location: scripts/trace.sh
`, e.dest)
	files := map[string]string{
		"appspec.yml":       spec,
		"public/index.html": "hello\n",
		"scripts/trace.sh":  traceHook,
		"scripts/before.sh": before,
	}
	for name, body := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	var buf bytes.Buffer
	if _, err := bundle.Build(context.Background(), &buf, dir, bundle.FormatTgz, bundle.BuildOptions{}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// command is a host command of deployment d-1 in group g-1, heartbeated rarely unless changed.
func command(id, event string, b api.Bundle) api.Command {
	return api.Command{
		ID: id, DeploymentID: "d-1", Event: event, Attempt: 1,
		ApplicationName: "shop", GroupName: "web", GroupID: "g-1",
		Heartbeat: api.Duration(time.Hour), Bundle: b,
	}
}

// download runs DownloadBundle of a bundle whose BeforeInstall is before, so later events can run.
func (e *testEnv) download(t *testing.T, before string) api.Bundle {
	t.Helper()
	b := e.fake.serveBundle(e.buildBundle(t, before))
	e.fake.enqueue(command("cmd-download", appspec.EventDownloadBundle, b))
	if r := e.fake.result(t, "cmd-download"); r.Status != "Succeeded" {
		t.Fatalf("DownloadBundle: got %s (%+v), want Succeeded", r.Status, r.Diagnostics)
	}
	return b
}

func (e *testEnv) outboxEntries(t *testing.T) []report {
	t.Helper()
	l, err := newOutbox(e.root).list()
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func TestAgent_EnrollsOnceAndReusesCredential(t *testing.T) {
	e := newTestEnv(t)
	first := e.start(t)
	e.fake.eventually(t, "first hello", func(f *fakeServer) bool { return len(f.hellos) == 1 })
	if err := first.stop(t); err != nil {
		t.Fatalf("Run: %v", err)
	}

	path := CredentialPath(e.root)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := fi.Mode().Perm(), os.FileMode(0o600); got != want {
		t.Errorf("credential file mode = %04o, want %04o", got, want)
	}
	di, err := os.Stat(filepath.Dir(path))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := di.Mode().Perm(), os.FileMode(0o700); got != want {
		t.Errorf("credential directory mode = %04o, want %04o", got, want)
	}

	second := e.start(t)
	e.fake.eventually(t, "second hello", func(f *fakeServer) bool { return len(f.hellos) == 2 })
	if err := second.stop(t); err != nil {
		t.Fatalf("Run: %v", err)
	}
	e.fake.set(func(f *fakeServer) {
		if got, want := f.registers, 1; got != want {
			t.Errorf("registrations = %d, want %d", got, want)
		}
		if got, want := f.hellos[1].Tags["role"], "web"; got != want {
			t.Errorf("hello tag role = %q, want %q", got, want)
		}
		for cred := range f.creds {
			if strings.Contains(e.logs.String(), cred) {
				t.Errorf("the logs show the credential")
			}
		}
	})
	if strings.Contains(e.logs.String(), e.fake.enrollToken) {
		t.Errorf("the logs show the enrollment token")
	}
}

func TestAgent_EnrollmentErrors(t *testing.T) {
	tests := []struct {
		name    string
		token   string
		wantErr error
		wantMsg string
	}{
		{name: "no token and no credential", token: "", wantMsg: "--enroll-token"},
		{name: "token refused", token: "wrong-token", wantErr: ErrEnrollRefused, wantMsg: "enrollment token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newTestEnv(t)
			cfg := e.config()
			cfg.EnrollToken = tt.token
			err := startAgent(t, cfg).wait(t)
			if err == nil {
				t.Fatal("Run: got nil, want an error")
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("Run: got %v, want %v", err, tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("Run: got %q, want it to mention %q", err, tt.wantMsg)
			}
			if strings.Contains(err.Error(), tt.token) && tt.token != "" {
				t.Errorf("the error shows the token: %q", err)
			}
		})
	}
}

func TestAgent_RevokedCredentialGivesClearError(t *testing.T) {
	tests := []struct {
		name string
		// whileRunning revokes the credential while the agent polls, instead of before it starts.
		whileRunning bool
	}{
		{name: "at start"},
		{name: "while polling", whileRunning: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newTestEnv(t)
			revoke := func(f *fakeServer) { clear(f.creds) }
			first := e.start(t)
			e.fake.eventually(t, "hello", func(f *fakeServer) bool { return len(f.hellos) == 1 })
			var err error
			if tt.whileRunning {
				e.fake.set(revoke)
				e.fake.enqueue(command("cmd-1", appspec.EventApplicationStop, api.Bundle{}))
				err = first.wait(t)
			} else {
				if err := first.stop(t); err != nil {
					t.Fatal(err)
				}
				e.fake.set(revoke)
				err = e.start(t).wait(t)
			}
			if !errors.Is(err, ErrRevoked) {
				t.Fatalf("Run: got %v, want ErrRevoked", err)
			}
			for _, want := range []string{"deregistered", "revoked", "delete " + CredentialPath(e.root), "enrollment token"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("Run: got %q, want it to say %q", err, want)
				}
			}
			e.fake.set(func(f *fakeServer) {
				if got, want := f.registers, 1; got != want {
					t.Errorf("registrations = %d, want %d (a revoked agent must not re-enroll by itself)", got, want)
				}
			})
		})
	}
}

func TestAgent_HelloReportsInterruptedCommands(t *testing.T) {
	e := newTestEnv(t)
	first := e.start(t)
	e.fake.eventually(t, "hello", func(f *fakeServer) bool { return len(f.hellos) == 1 })
	if err := first.stop(t); err != nil {
		t.Fatal(err)
	}
	// What lifecycle.Host leaves behind when the agent dies inside an event.
	started := time.Now().Add(-time.Minute).UTC().Truncate(time.Second)
	marker := lifecycle.Marker{DeploymentID: "d-9", GroupID: "g-1", Event: appspec.EventBeforeInstall, Started: started, Command: "cmd-9"}
	writeMarker(t, e.root, marker)
	e.fake.set(func(f *fakeServer) { f.known["cmd-9"] = true })

	e.start(t)
	e.fake.eventually(t, "second hello", func(f *fakeServer) bool { return len(f.hellos) == 2 })
	e.fake.set(func(f *fakeServer) {
		if got, want := f.hellos[1].Interrupted, []string{"cmd-9"}; !slices.Equal(got, want) {
			t.Errorf("hello interrupted = %v, want %v", got, want)
		}
	})
	// The result also travels the normal path; the fake already has it from the hello and says so.
	e.fake.eventually(t, "result post of cmd-9", func(f *fakeServer) bool { return f.posts["cmd-9"] == 1 })
	r := e.fake.result(t, "cmd-9")
	if r.Status != "Failed" || r.Diagnostics == nil || r.Diagnostics.ErrorCode != script.FailedAfterRestart.String() {
		t.Errorf("result = %+v, want Failed with FailedAfterRestart", r)
	}
	eventually(t, "outbox drained", func() bool { return len(e.outboxEntries(t)) == 0 })
	markers, err := e.root.Interrupted()
	if err != nil || len(markers) != 0 {
		t.Errorf("crash markers after hello = %v, %v; want none", markers, err)
	}
}

// An agent killed after saving an event's result but before removing its crash marker did not
// interrupt the event: the saved result is delivered, and the event is not reported as failed.
func TestAgent_SavedResultWinsOverItsCrashMarker(t *testing.T) {
	e := newTestEnv(t)
	first := e.start(t)
	e.fake.eventually(t, "hello", func(f *fakeServer) bool { return len(f.hellos) == 1 })
	if err := first.stop(t); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC().Truncate(time.Second)
	writeMarker(t, e.root, lifecycle.Marker{DeploymentID: "d-9", GroupID: "g-1", Event: appspec.EventBeforeInstall, Started: now, Command: "cmd-9"})
	saved := report{Command: "cmd-9", Result: api.Result{Status: "Succeeded", StartTime: now, EndTime: now}, Queued: now}
	if err := newOutbox(e.root).put(saved); err != nil {
		t.Fatal(err)
	}
	e.fake.set(func(f *fakeServer) { f.known["cmd-9"] = true })

	e.start(t)
	if r := e.fake.result(t, "cmd-9"); r.Status != "Succeeded" {
		t.Errorf("result = %+v, want the saved Succeeded", r)
	}
	e.fake.set(func(f *fakeServer) {
		if len(f.hellos) != 2 || len(f.hellos[1].Interrupted) != 0 {
			t.Errorf("hellos = %+v; want a second hello reporting nothing interrupted", f.hellos)
		}
	})
	if markers, err := e.root.Interrupted(); err != nil || len(markers) != 0 {
		t.Errorf("crash markers = %v, %v; want none", markers, err)
	}
}

func writeMarker(t *testing.T, root lifecycle.Root, m lifecycle.Marker) {
	t.Helper()
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(string(root), "ongoing-deployment")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, m.DeploymentID+".json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestAgent_RunsInPlaceLifecycle(t *testing.T) {
	e := newTestEnv(t)
	b := e.fake.serveBundle(e.buildBundle(t, traceHook))
	e.start(t)
	events := []struct{ event, want string }{
		{appspec.EventApplicationStop, "Skipped"}, // first deployment: nothing installed to stop
		{appspec.EventDownloadBundle, "Succeeded"},
		{appspec.EventBeforeInstall, "Succeeded"},
		{appspec.EventInstall, "Succeeded"},
		{appspec.EventAfterInstall, "Succeeded"},
		{appspec.EventApplicationStart, "Succeeded"},
		{appspec.EventValidateService, "Succeeded"},
	}
	var ids []string
	for i, ev := range events {
		id := fmt.Sprintf("cmd-%d", i)
		ids = append(ids, id)
		e.fake.enqueue(command(id, ev.event, b))
		r := e.fake.result(t, id)
		if r.Status != ev.want {
			t.Fatalf("%s: got %s (%+v), want %s", ev.event, r.Status, r.Diagnostics, ev.want)
		}
		if r.StartTime.IsZero() || r.EndTime.Before(r.StartTime) {
			t.Errorf("%s: times %v..%v are not a run", ev.event, r.StartTime, r.EndTime)
		}
	}
	e.fake.set(func(f *fakeServer) {
		if !slices.Equal(f.order, ids) {
			t.Errorf("results in order %v, want %v", f.order, ids)
		}
		for _, id := range ids {
			if f.posts[id] != 1 {
				t.Errorf("%s: %d result posts, want 1", id, f.posts[id])
			}
		}
	})
	wantTrace := []string{"BeforeInstall:d-1:abc123", "AfterInstall:d-1:abc123", "ApplicationStart:d-1:abc123", "ValidateService:d-1:abc123"}
	if got := e.traceLines(t); !slices.Equal(got, wantTrace) {
		t.Errorf("hooks ran %v, want %v", got, wantTrace)
	}
	if got, err := os.ReadFile(filepath.Join(e.dest, "index.html")); err != nil || string(got) != "hello\n" {
		t.Errorf("installed index.html = %q, %v; want %q", got, err, "hello\n")
	}
	if _, err := os.Stat(filepath.Join(e.root.DeploymentDir("g-1", "d-1"), "bundle.tgz")); err != nil {
		t.Errorf("downloaded bundle: %v", err)
	}
	eventually(t, "outbox drained", func() bool { return len(e.outboxEntries(t)) == 0 })
}

func TestAgent_RefusesBadBundle(t *testing.T) {
	tests := []struct {
		name    string
		tamper  func(b *api.Bundle)
		wantMsg func(b api.Bundle) string
	}{
		{
			name:   "digest mismatch",
			tamper: func(b *api.Bundle) { b.Digest = strings.Repeat("0", 64) },
			wantMsg: func(b api.Bundle) string {
				return "bundle digest mismatch: got " + b.Digest + ", want " + strings.Repeat("0", 64)
			},
		},
		{
			name:   "shorter than announced",
			tamper: func(b *api.Bundle) { b.Size++ },
			wantMsg: func(b api.Bundle) string {
				return fmt.Sprintf("bundle size mismatch: got %d bytes, want %d", b.Size, b.Size+1)
			},
		},
		{
			name:    "longer than announced",
			tamper:  func(b *api.Bundle) { b.Size-- },
			wantMsg: func(api.Bundle) string { return "bundle size mismatch: got more than" },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newTestEnv(t)
			good := e.fake.serveBundle(e.buildBundle(t, traceHook))
			bad := good
			tt.tamper(&bad)
			e.start(t)
			e.fake.enqueue(command("cmd-download", appspec.EventDownloadBundle, bad))
			r := e.fake.result(t, "cmd-download")
			if r.Status != "Failed" || r.Diagnostics == nil {
				t.Fatalf("result = %+v, want Failed with diagnostics", r)
			}
			if got, want := r.Diagnostics.ErrorCode, script.UnknownError.String(); got != want {
				t.Errorf("error code = %q, want %q", got, want)
			}
			if want := tt.wantMsg(good); !strings.HasPrefix(r.Diagnostics.Message, want) {
				t.Errorf("message = %q, want it to start %q", r.Diagnostics.Message, want)
			}
			entries, err := os.ReadDir(e.root.DeploymentDir("g-1", "d-1"))
			if err != nil {
				t.Fatal(err)
			}
			for _, en := range entries {
				t.Errorf("refused bundle left %s behind", en.Name())
			}
		})
	}
}

func TestAgent_HeartbeatsWhileHookRuns(t *testing.T) {
	e := newTestEnv(t)
	e.start(t)
	b := e.download(t, gateHook)
	cmd := command("cmd-before", appspec.EventBeforeInstall, b)
	cmd.Heartbeat = api.Duration(5 * time.Millisecond)
	e.fake.enqueue(cmd)
	e.fake.eventually(t, "two heartbeats", func(f *fakeServer) bool { return f.heartbeats["cmd-before"] >= 2 })

	// While the hook runs, the crash marker names the command, so a restart can report it.
	markers, err := e.root.Interrupted()
	if err != nil {
		t.Fatal(err)
	}
	if len(markers) != 1 || markers[0].Command != "cmd-before" {
		t.Errorf("crash markers while running = %+v, want one for cmd-before", markers)
	}
	if err := os.WriteFile(e.gate, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if r := e.fake.result(t, "cmd-before"); r.Status != "Succeeded" {
		t.Fatalf("got %s (%+v), want Succeeded", r.Status, r.Diagnostics)
	}
	if got, want := e.traceLines(t), []string{"BeforeInstall:d-1:abc123"}; !slices.Equal(got, want) {
		t.Errorf("trace = %v, want %v", got, want)
	}
}

func TestAgent_WithdrawnCommandStopsHook(t *testing.T) {
	e := newTestEnv(t)
	e.start(t)
	b := e.download(t, foreverHook)
	cmd := command("cmd-before", appspec.EventBeforeInstall, b)
	cmd.Heartbeat = api.Duration(5 * time.Millisecond)
	e.fake.enqueue(cmd)
	eventually(t, "the hook started", func() bool { return slices.Contains(e.traceLines(t), "started") })
	e.fake.set(func(f *fakeServer) { f.heartbeatStatus = 410 })

	eventually(t, "the hook stopped", func() bool { return slices.Contains(e.traceLines(t), "stopped") })
	// The agent polls again once the command is over; a result would have been sent before that.
	e.fake.eventually(t, "next poll", func(f *fakeServer) bool {
		return slices.Contains(f.logSinceLocked("command cmd-before"), "poll")
	})
	e.fake.set(func(f *fakeServer) {
		if n := f.posts["cmd-before"]; n != 0 {
			t.Errorf("withdrawn command reported %d times, want 0", n)
		}
	})
	if l := e.outboxEntries(t); len(l) != 0 {
		t.Errorf("outbox = %+v, want empty", l)
	}
	if markers, err := e.root.Interrupted(); err != nil || len(markers) != 0 {
		t.Errorf("crash markers = %v, %v; want none", markers, err)
	}
}

func TestAgent_ResultSurvivesServerOutage(t *testing.T) {
	e := newTestEnv(t)
	e.fake.set(func(f *fakeServer) { f.resultStatus = 503 })
	e.start(t)
	e.fake.enqueue(command("cmd-stop", appspec.EventApplicationStop, api.Bundle{}))
	e.fake.eventually(t, "refused deliveries", func(f *fakeServer) bool { return f.refused >= 3 })
	if l := e.outboxEntries(t); len(l) != 1 || l[0].Command != "cmd-stop" {
		t.Fatalf("outbox during the outage = %+v, want the result of cmd-stop", l)
	}
	e.fake.set(func(f *fakeServer) { f.resultStatus = 0 })
	if r := e.fake.result(t, "cmd-stop"); r.Status != "Skipped" {
		t.Errorf("got %s, want Skipped", r.Status)
	}
	e.fake.eventually(t, "next poll", func(f *fakeServer) bool {
		return slices.Contains(f.logSinceLocked("result cmd-stop"), "poll")
	})
	e.fake.set(func(f *fakeServer) {
		if n := f.posts["cmd-stop"]; n != 1 {
			t.Errorf("result accepted %d times, want exactly 1", n)
		}
	})
	if l := e.outboxEntries(t); len(l) != 0 {
		t.Errorf("outbox = %+v, want empty", l)
	}
	// One line for the outage and one for its end, not one per retry.
	if got := strings.Count(e.logs.String(), "server unreachable"); got != 1 {
		t.Errorf("outage logged %d times, want once", got)
	}
}

func TestAgent_OutboxSurvivesRestart(t *testing.T) {
	e := newTestEnv(t)
	e.fake.set(func(f *fakeServer) { f.resultStatus = 503 })
	first := e.start(t)
	e.fake.enqueue(command("cmd-stop", appspec.EventApplicationStop, api.Bundle{}))
	e.fake.eventually(t, "a refused delivery", func(f *fakeServer) bool { return f.refused >= 1 })
	if err := first.stop(t); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if l := e.outboxEntries(t); len(l) != 1 || l[0].Command != "cmd-stop" {
		t.Fatalf("outbox after stop = %+v, want the result of cmd-stop", l)
	}

	e.fake.set(func(f *fakeServer) { f.resultStatus = 0 })
	e.start(t)
	if r := e.fake.result(t, "cmd-stop"); r.Status != "Skipped" {
		t.Errorf("got %s, want Skipped", r.Status)
	}
	eventually(t, "outbox drained", func() bool { return len(e.outboxEntries(t)) == 0 })
	e.fake.set(func(f *fakeServer) {
		// The first agent's last, abandoned attempt may still reach the fake after the outage
		// ends; that second post is the harmless duplicate the protocol allows, so only the
		// recorded result and the single enrollment are checked here.
		if f.registers != 1 {
			t.Errorf("registrations = %d, want 1", f.registers)
		}
	})
}

func TestAgent_PollWakesWhenCommandQueued(t *testing.T) {
	e := newTestEnv(t)
	cfg := e.config()
	// A poll that is never answered by expiry: the command must come through the held poll.
	cfg.PollWait = time.Hour
	startAgent(t, cfg)
	var held int
	e.fake.eventually(t, "a held poll", func(f *fakeServer) bool {
		held = f.polls
		return f.waiting == 1
	})
	e.fake.enqueue(command("cmd-stop", appspec.EventApplicationStop, api.Bundle{}))
	e.fake.result(t, "cmd-stop")
	e.fake.set(func(f *fakeServer) {
		if got := f.servedBy["cmd-stop"]; got != held {
			t.Errorf("command served by poll %d, want the held poll %d", got, held)
		}
	})
}

func TestAgent_StopDuringHookReportsResult(t *testing.T) {
	e := newTestEnv(t)
	running := e.start(t)
	b := e.download(t, foreverHook)
	e.fake.enqueue(command("cmd-before", appspec.EventBeforeInstall, b))
	eventually(t, "the hook started", func() bool { return slices.Contains(e.traceLines(t), "started") })

	if err := running.stop(t); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if got := e.traceLines(t); !slices.Contains(got, "stopped") {
		t.Errorf("trace = %v, want the hook stopped", got)
	}
	if r := e.fake.result(t, "cmd-before"); r.Status != "Failed" {
		t.Errorf("got %s, want Failed", r.Status)
	}
	if l := e.outboxEntries(t); len(l) != 0 {
		t.Errorf("outbox = %+v, want empty: the server was reachable", l)
	}
}

// A bundle download that the server cuts short (a restart drops the connection, or it answers
// 503 meanwhile) is tried again; a refusal is not, and retrying stops when the lease would.
func TestAgent_DownloadRetriesWhatTheServerCutShort(t *testing.T) {
	tests := []struct {
		name      string
		faults    []string
		heartbeat time.Duration
		tamper    func(b *api.Bundle)
		want      string
		wantGets  func(gets int) bool
		wantMsg   string
	}{
		{name: "cut, then unavailable, then served", faults: []string{"cut", "503", "cut"},
			want: "Succeeded", wantGets: func(n int) bool { return n == 4 }},
		{name: "refused", tamper: func(b *api.Bundle) { b.URL = api.PathAgent + "/bundles/" + strings.Repeat("0", 64) },
			want: "Failed", wantGets: func(n int) bool { return n == 1 }, wantMsg: "no such bundle"},
		{name: "unavailable past the lease", faults: slices.Repeat([]string{"503"}, 10000), heartbeat: 20 * time.Millisecond,
			want: "Failed", wantGets: func(n int) bool { return n > 1 && n < 10000 }, wantMsg: "bundle store unavailable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newTestEnv(t)
			b := e.fake.serveBundle(e.buildBundle(t, traceHook))
			if tt.tamper != nil {
				tt.tamper(&b)
			}
			e.fake.set(func(f *fakeServer) { f.bundleFaults = tt.faults })
			e.start(t)
			cmd := command("cmd-download", appspec.EventDownloadBundle, b)
			if tt.heartbeat > 0 {
				cmd.Heartbeat = api.Duration(tt.heartbeat)
			}
			e.fake.enqueue(cmd)
			r := e.fake.result(t, "cmd-download")
			if r.Status != tt.want {
				t.Fatalf("DownloadBundle: %s (%+v), want %s", r.Status, r.Diagnostics, tt.want)
			}
			if tt.wantMsg != "" && (r.Diagnostics == nil || !strings.Contains(r.Diagnostics.Message, tt.wantMsg)) {
				t.Errorf("diagnostics %+v, want a message with %q", r.Diagnostics, tt.wantMsg)
			}
			e.fake.set(func(f *fakeServer) {
				if !tt.wantGets(f.bundleGets) {
					t.Errorf("%d bundle requests", f.bundleGets)
				}
			})
			if tt.want == "Succeeded" {
				if _, err := os.Stat(filepath.Join(e.root.DeploymentDir("g-1", "d-1"), "bundle.tgz")); err != nil {
					t.Errorf("downloaded bundle: %v", err)
				}
			}
		})
	}
}

// An agent started with other tags than the instance's logs the server's refusal, which names
// the admin command, and serves on with the instance's tags instead of stopping.
func TestAgent_RefusedTagsServesOn(t *testing.T) {
	e := newTestEnv(t)
	e.fake.set(func(f *fakeServer) { f.keptTags = map[string]string{"role": "db"} })
	a := e.start(t)
	e.fake.eventually(t, "a poll after the refused hello", func(f *fakeServer) bool { return f.polls > 0 })
	if err := a.stop(t); err != nil {
		t.Fatalf("Run: %v", err)
	}
	e.fake.set(func(f *fakeServer) {
		if len(f.hellos) != 2 || f.hellos[0].Tags["role"] != "web" || f.hellos[1].Tags != nil {
			t.Errorf("hellos = %+v; want one asking for role=web, then one claiming no tags", f.hellos)
		}
	})
	if logs := e.logs.String(); !strings.Contains(logs, `"level":"ERROR"`) || !strings.Contains(logs, "slipway instance tag web-1 --tag role=web") {
		t.Errorf("the agent did not log the refusal with the admin command:\n%s", logs)
	}
}
