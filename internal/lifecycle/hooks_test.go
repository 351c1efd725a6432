package lifecycle

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/slipway-deploy/slipway/internal/appspec"
	"github.com/slipway-deploy/slipway/internal/script"
)

// The tests in this file encode DESIGN.md §4 on how hook scripts run: environment, stdin, runas,
// order, timeouts, left-open outputs, missing and non-executable scripts, confinement, logs.

// hookSpec is an appspec whose event has one script per location, each with timeout seconds.
func hookSpec(event string, timeout int, locations ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "version: 0.0\nos: linux\nhooks:\n  %s:\n", event)
	for _, l := range locations {
		fmt.Fprintf(&b, "    - location: %s\n      timeout: %d\n", l, timeout)
	}
	return b.String()
}

// runHook downloads bundle as deployment d-1 and runs event, returning its result.
func (f *fixture) runHook(bundle, event string) Result {
	f.t.Helper()
	d := deployment("d-1", bundle)
	if r := f.run(d, appspec.EventDownloadBundle); r.Status != StatusSucceeded {
		f.t.Fatalf("DownloadBundle: %s %s: %s\n%s", r.Status, r.Code, r.Message, r.Tail)
	}
	return f.run(d, event)
}

func wantFailure(t *testing.T, r Result, code script.Code, msgPart string) {
	t.Helper()
	if r.Status != StatusFailed || r.Code != code {
		t.Fatalf("%s: got %s %s (%s), want Failed %s", r.Event, r.Status, r.Code, r.Message, code)
	}
	if !strings.Contains(r.Message, msgPart) {
		t.Fatalf("%s: got message %q, want it to contain %q", r.Event, r.Message, msgPart)
	}
}

func wantSuccess(t *testing.T, r Result) {
	t.Helper()
	if r.Status != StatusSucceeded {
		t.Fatalf("%s: got %s %s: %s\n%s", r.Event, r.Status, r.Code, r.Message, r.Tail)
	}
}

func TestHost_HookEnvironment(t *testing.T) {
	f := newFixture(t)
	// The host's environment reaches hooks, but cannot override the lifecycle variables.
	f.host.Env = append(f.host.Env, "FROM_HOST=yes", "LIFECYCLE_EVENT=forged", "DEPLOYMENT_ID=forged")
	bundle := newBundle(t, hookSpec(appspec.EventAfterInstall, 60, "env.sh"), map[string]string{
		"env.sh": "#!/bin/sh\nenv > \"$OUT/env\"\n",
	})
	d := deployment("d-env", bundle)
	d.ApplicationName, d.GroupName, d.GroupID = "shop", "web servers", "dg-42"
	d.BundleEnv = map[string]string{"BUNDLE_COMMIT": "0123456789abcdef0123456789abcdef01234567"}
	f.mustDeploy(d, appspec.EventDownloadBundle, appspec.EventInstall, appspec.EventAfterInstall)

	env := strings.Split(readFile(t, filepath.Join(f.Out, "env")), "\n")
	for _, want := range []string{
		"LIFECYCLE_EVENT=AfterInstall",
		"DEPLOYMENT_ID=d-env",
		"APPLICATION_NAME=shop",
		"DEPLOYMENT_GROUP_NAME=web servers",
		"DEPLOYMENT_GROUP_ID=dg-42",
		"BUNDLE_COMMIT=0123456789abcdef0123456789abcdef01234567",
		"FROM_HOST=yes",
	} {
		if !slices.Contains(env, want) {
			t.Errorf("hook environment lacks %q; got %q", want, env)
		}
	}
	for _, kv := range env {
		if strings.HasSuffix(kv, "=forged") {
			t.Errorf("hook environment has %q: the host's environment overrode a lifecycle variable", kv)
		}
	}
}

func TestHost_StdinClosed(t *testing.T) {
	f := newFixture(t)
	// A script that reads stdin must see end of file at once, not wait for input that never comes.
	bundle := newBundle(t, hookSpec(appspec.EventBeforeInstall, 60, "read.sh"), map[string]string{
		"read.sh": "#!/bin/sh\nif read -r line; then echo \"read: $line\" > \"$OUT/stdin\"; else echo eof > \"$OUT/stdin\"; fi\n",
	})
	wantSuccess(t, f.runHook(bundle, appspec.EventBeforeInstall))
	if got, want := readFile(t, filepath.Join(f.Out, "stdin")), "eof\n"; got != want {
		t.Errorf("script read %q from stdin, want %q", got, want)
	}
}

func TestHost_RunAs(t *testing.T) {
	for _, name := range []string{"slipway-test", "slipway-nologin"} {
		t.Run(name, func(t *testing.T) {
			testUser(t, name)
			f := newFixture(t)
			if err := os.MkdirAll(string(f.host.Root), 0o755); err != nil {
				t.Fatal(err)
			}
			openToAll(t, string(f.host.Root))
			spec := "version: 0.0\nos: linux\nhooks:\n  AfterInstall:\n    - location: whoami.sh\n      runas: " + name + "\n"
			bundle := newBundle(t, spec, map[string]string{"whoami.sh": "#!/bin/sh\necho \"user=$(id -un) home=$HOME\"\n"})
			wantSuccess(t, f.runHook(bundle, appspec.EventAfterInstall))
			log := readFile(t, f.host.Root.ScriptLog("g", "d-1"))
			if want := "[AfterInstall] [stdout] user=" + name + " "; !strings.Contains(log, want) {
				t.Errorf("scripts.log lacks %q:\n%s", want, log)
			}
		})
	}
	t.Run("unknown user", func(t *testing.T) {
		f := newFixture(t)
		spec := "version: 0.0\nos: linux\nhooks:\n  AfterInstall:\n    - location: whoami.sh\n      runas: no-such-user-slipway\n"
		bundle := newBundle(t, spec, map[string]string{"whoami.sh": "#!/bin/sh\nid -un\n"})
		wantFailure(t, f.runHook(bundle, appspec.EventAfterInstall), script.Failed, "no-such-user-slipway does not exist")
	})
}

func TestHost_ScriptsRunInOrderAndStopAtFirstFailure(t *testing.T) {
	f := newFixture(t)
	step := func(n int, code int) string {
		return fmt.Sprintf("#!/bin/sh\necho %d >> \"$OUT/trace\"\nexit %d\n", n, code)
	}
	bundle := newBundle(t, hookSpec(appspec.EventAfterInstall, 60, "s/one.sh", "s/two.sh", "s/three.sh", "s/four.sh"), map[string]string{
		"s/one.sh": step(1, 0), "s/two.sh": step(2, 0), "s/three.sh": step(3, 7), "s/four.sh": step(4, 0),
	})
	r := f.runHook(bundle, appspec.EventAfterInstall)
	wantFailure(t, r, script.Failed, "s/three.sh failed with exit code 7")
	if r.Script != "s/three.sh" {
		t.Errorf("failed script = %q, want s/three.sh (it names the hook for annotations)", r.Script)
	}
	if got, want := f.trace(), []string{"1", "2", "3"}; !slices.Equal(got, want) {
		t.Errorf("scripts ran %v, want %v", got, want)
	}
}

func TestHost_ScriptTimeoutKillsProcessGroup(t *testing.T) {
	f := newFixture(t)
	// The script starts a child that ignores SIGTERM, then waits forever: both must end.
	bundle := newBundle(t, hookSpec(appspec.EventApplicationStart, 1, "hang.sh"), map[string]string{
		"hang.sh": "#!/bin/sh\n(trap '' TERM; exec sleep 300) &\necho $! > \"$OUT/child\"\necho $$ > \"$OUT/script\"\nwait\n",
	})
	r := f.runHook(bundle, appspec.EventApplicationStart)
	wantFailure(t, r, script.TimedOut, "failed to complete in 1 seconds")
	for _, name := range []string{"script", "child"} {
		waitGone(t, readPid(t, filepath.Join(f.Out, name)))
	}
}

func TestHost_OutputsLeftOpen(t *testing.T) {
	tests := []struct {
		name     string
		daemon   string
		wantCode script.Code
	}{
		{"child holds stdout", "sleep 300 &", script.OutputsLeftOpen},
		{"child redirected", "sleep 300 > /dev/null 2>&1 &", script.Succeeded},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			bundle := newBundle(t, hookSpec(appspec.EventApplicationStart, 60, "start.sh"), map[string]string{
				"start.sh": "#!/bin/sh\n" + tt.daemon + "\necho $! > \"$OUT/daemon\"\necho started\n",
			})
			r := f.runHook(bundle, appspec.EventApplicationStart)
			// The daemon is what ApplicationStart is for: it is left running either way.
			pid := readPid(t, filepath.Join(f.Out, "daemon"))
			if tt.wantCode == script.Succeeded {
				wantSuccess(t, r)
			} else {
				wantFailure(t, r, tt.wantCode, "still holds its stdout and stderr open")
			}
			if !script.Running(pid) {
				t.Errorf("the script's background process %d was killed; a started daemon must keep running", pid)
			}
		})
	}
}

func TestHost_ScriptMissing(t *testing.T) {
	f := newFixture(t)
	bundle := newBundle(t, hookSpec(appspec.EventBeforeInstall, 60, "scripts/absent.sh"), nil)
	r := f.runHook(bundle, appspec.EventBeforeInstall)
	want := "Script does not exist at specified location: " + filepath.Join(f.host.Root.ArchiveDir("g", "d-1"), "scripts", "absent.sh")
	wantFailure(t, r, script.Missing, want)
}

func TestHost_ScriptNotExecutableIsMadeExecutable(t *testing.T) {
	f := newFixture(t)
	bundle := newBundle(t, hookSpec(appspec.EventBeforeInstall, 60, "plain.txt"), map[string]string{
		"plain.txt": "#!/bin/sh\necho ran >> \"$OUT/trace\"\n",
	})
	wantSuccess(t, f.runHook(bundle, appspec.EventBeforeInstall))
	if got := f.trace(); !slices.Equal(got, []string{"ran"}) {
		t.Errorf("trace %q, want the script to have run", got)
	}
	fi, err := os.Stat(filepath.Join(f.host.Root.ArchiveDir("g", "d-1"), "plain.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode().Perm(); got&0o111 == 0 {
		t.Errorf("script mode %04o after the run, want it executable", got)
	}
}

func TestHost_ScriptLocationCannotLeaveRevision(t *testing.T) {
	// outside is a script that must never run: it leaves evidence when it does.
	outsideDir := t.TempDir()
	outside := filepath.Join(outsideDir, "evil.sh")
	writeTree(t, outsideDir, map[string]string{"evil.sh": "#!/bin/sh\necho escaped >> \"$OUT/trace\"\n"})

	t.Run("dot-dot location", func(t *testing.T) {
		f := newFixture(t)
		// Enough ../ to reach / from any archive, then the outside script's absolute path.
		loc := strings.Repeat("../", 40) + strings.TrimPrefix(outside, "/")
		bundle := newBundle(t, hookSpec(appspec.EventBeforeInstall, 60, loc), nil)
		// The appspec check refuses it at download, naming the line, before anything is installed.
		r := f.run(deployment("d-1", bundle), appspec.EventDownloadBundle)
		wantFailure(t, r, script.UnknownError, "appspec.yml:5: error: hooks.BeforeInstall[0].location")
		if !strings.Contains(r.Message, "leaves the bundle") {
			t.Errorf("message %q does not say the location leaves the bundle", r.Message)
		}
		if got := f.trace(); len(got) != 0 {
			t.Errorf("trace %q: the script outside the revision ran", got)
		}
	})
	t.Run("symlink in bundle", func(t *testing.T) {
		f := newFixture(t)
		bundle := newBundle(t, hookSpec(appspec.EventBeforeInstall, 60, "hook.sh"), nil)
		if err := os.Symlink(outside, filepath.Join(bundle, "hook.sh")); err != nil {
			t.Fatal(err)
		}
		// Extraction refuses the link before any script could follow it.
		r := f.run(deployment("d-1", bundle), appspec.EventDownloadBundle)
		if r.Status != StatusFailed {
			t.Fatalf("DownloadBundle of a bundle with a link out: got %s, want Failed", r.Status)
		}
	})
	for _, link := range []string{"hook.sh", "scripts"} {
		t.Run("symlink planted in archive: "+link, func(t *testing.T) {
			f := newFixture(t)
			loc := "hook.sh"
			if link == "scripts" {
				loc = "scripts/evil.sh"
			}
			bundle := newBundle(t, hookSpec(appspec.EventBeforeInstall, 60, loc), map[string]string{"keep": ""})
			d := deployment("d-1", bundle)
			wantSuccess(t, f.run(d, appspec.EventDownloadBundle))
			// Something changed the revision on disk after download: the hook still may not leave it.
			target, name := outside, filepath.Join(f.host.Root.ArchiveDir("g", "d-1"), link)
			if link == "scripts" {
				target = outsideDir
			}
			if err := os.Symlink(target, name); err != nil {
				t.Fatal(err)
			}
			r := f.run(d, appspec.EventBeforeInstall)
			if r.Status != StatusFailed || !strings.Contains(r.Message, "leads out of the revision") {
				t.Errorf("got %s %s %q, want a failure saying the location leads out of the revision", r.Status, r.Code, r.Message)
			}
			if got := f.trace(); len(got) != 0 {
				t.Errorf("trace %q: the script outside the revision ran", got)
			}
		})
	}
}

func TestHost_ScriptsLogHasEveryLine(t *testing.T) {
	f := newFixture(t)
	const n = 500
	bundle := newBundle(t, hookSpec(appspec.EventValidateService, 60, "chatty.sh"), map[string]string{
		"chatty.sh": fmt.Sprintf("#!/bin/sh\ni=0\nwhile [ $i -lt %d ]; do echo \"out $i\"; echo \"err $i\" >&2; i=$((i+1)); done\n", n),
	})
	wantSuccess(t, f.runHook(bundle, appspec.EventValidateService))
	log := readFile(t, f.host.Root.ScriptLog("g", "d-1"))
	line := regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z \[ValidateService\] \[(stdout|stderr|script)\] (.*)$`)
	got := map[string]bool{}
	for _, l := range strings.Split(strings.TrimSuffix(log, "\n"), "\n") {
		m := line.FindStringSubmatch(l)
		if m == nil {
			t.Fatalf("scripts.log line %q is not <timestamp> [event] [stream] text", l)
		}
		got[m[1]+" "+m[2]] = true
	}
	for i := range n {
		for _, want := range []string{fmt.Sprintf("stdout out %d", i), fmt.Sprintf("stderr err %d", i)} {
			if !got[want] {
				t.Fatalf("scripts.log lacks %q", want)
			}
		}
	}
}

func TestHost_DiagnosticsTailKeepsLongLastLine(t *testing.T) {
	tests := []struct {
		name     string
		lastLen  int
		wantFull bool
	}{
		// Longer than the reference's 2 KiB tail, which would drop it whole.
		{"3 KiB", 3 << 10, true},
		// Longer than our tail: its end is kept, marked truncated.
		{"100 KiB", 100 << 10, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			last := strings.Repeat("x", tt.lastLen-len("THE-END")) + "THE-END"
			writeTree(t, f.Out, map[string]string{"last": last})
			bundle := newBundle(t, hookSpec(appspec.EventValidateService, 60, "fail.sh"), map[string]string{
				// Many earlier lines, then the long one without a newline. One stream: the order
				// of lines across stdout and stderr is not defined.
				"fail.sh": "#!/bin/sh\nseq 1 2000\ncat \"$OUT/last\"\nexit 1\n",
			})
			r := f.runHook(bundle, appspec.EventValidateService)
			wantFailure(t, r, script.Failed, "exit code 1")
			lines := strings.Split(strings.TrimSuffix(r.Tail, "\n"), "\n")
			gotLast := lines[len(lines)-1]
			if tt.wantFull {
				if want := "[stdout] " + last; gotLast != want {
					t.Fatalf("tail's last line has %d bytes, want the whole %d-byte line", len(gotLast), len(want))
				}
				if !slices.Contains(lines, "[stdout] 2000") {
					t.Errorf("tail lacks the line before the long one; got %d lines", len(lines))
				}
				return
			}
			if !strings.HasPrefix(gotLast, "[stdout] [truncated] ") || !strings.HasSuffix(gotLast, "xTHE-END") {
				t.Fatalf("tail's last line %.60q…, want the end of the long line marked truncated", gotLast)
			}
			if len(r.Tail) > 2*script.DefaultTailBytes {
				t.Errorf("tail has %d bytes, want it bounded near %d", len(r.Tail), script.DefaultTailBytes)
			}
		})
	}
}

// TestHost_CrashMarkerNamesTheRunningScript: while a hook runs, its crash marker names the
// script's process group, and EndInterrupted (what a restarted agent calls) ends that group. A
// marker that could not name it (the agent was killed between starting the script and writing
// the marker) ends the script found by its DEPLOYMENT_ID and LIFECYCLE_EVENT, and no other.
func TestHost_CrashMarkerNamesTheRunningScript(t *testing.T) {
	for _, recorded := range []bool{true, false} {
		t.Run(fmt.Sprintf("group recorded %v", recorded), func(t *testing.T) {
			f := newFixture(t)
			bundle := newBundle(t, hookSpec(appspec.EventBeforeInstall, 600, "wait.sh"), map[string]string{
				"wait.sh": "#!/bin/sh\nsleep 600 &\necho $! > \"$OUT/child.tmp\"\nmv \"$OUT/child.tmp\" \"$OUT/child\"\nwait\n",
			})
			d := deployment("d-1", bundle)
			if r := f.run(d, appspec.EventDownloadBundle); r.Status != StatusSucceeded {
				t.Fatalf("DownloadBundle: %s %s: %s", r.Status, r.Code, r.Message)
			}
			done := make(chan Result, 1)
			go func() { done <- f.host.Run(context.Background(), d, appspec.EventBeforeInstall) }()
			childFile := filepath.Join(f.Out, "child")
			deadline := time.Now().Add(30 * time.Second)
			for _, err := os.Stat(childFile); err != nil; _, err = os.Stat(childFile) {
				if time.Now().After(deadline) {
					t.Fatal("the hook did not start")
				}
				time.Sleep(10 * time.Millisecond)
			}
			child := readPid(t, childFile)

			// The marker names the group a moment after the script starts (the script may have
			// written its file by then): wait for it.
			var m Marker
			for {
				markers, err := f.host.Root.Interrupted()
				if err != nil || len(markers) != 1 {
					t.Fatalf("Interrupted() = %+v, %v; want the running event's marker", markers, err)
				}
				if m = markers[0]; m.Group != nil || time.Now().After(deadline) {
					break
				}
				time.Sleep(10 * time.Millisecond)
			}
			if m.Event != appspec.EventBeforeInstall || m.Group == nil || m.Group.ID <= 0 {
				t.Fatalf("marker %+v, want BeforeInstall with the script's process group", m)
			}
			pgid := m.Group.ID
			t.Cleanup(func() { _ = syscall.Kill(-pgid, syscall.SIGKILL) })
			if want := strconv.Itoa(pgid); m.ProcessGroup() != want {
				t.Errorf("ProcessGroup() = %q, want %q", m.ProcessGroup(), want)
			}
			if !recorded {
				m.Group = nil
				if got := m.ProcessGroup(); got != "not recorded" {
					t.Errorf("ProcessGroup() of a marker without one = %q, want \"not recorded\"", got)
				}
				other := m
				other.DeploymentID = "d-other"
				if end, err := f.host.EndInterrupted(context.Background(), other); err != nil || end != script.NotRunning {
					t.Fatalf("EndInterrupted of another deployment's marker = %v, %v; want %v", end, err, script.NotRunning)
				}
			}
			end, err := f.host.EndInterrupted(context.Background(), m)
			if err != nil || end != script.Terminated {
				t.Fatalf("EndInterrupted = %v, %v; want %v", end, err, script.Terminated)
			}
			waitGone(t, child)
			wantFailure(t, <-done, script.Failed, "killed by SIGTERM")

			// The script has ended: the same record now ends nothing.
			if end, err := f.host.EndInterrupted(context.Background(), m); err != nil || end != script.NotRunning {
				t.Errorf("EndInterrupted of an ended script = %v, %v; want %v", end, err, script.NotRunning)
			}
		})
	}
}
