package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/slipway-deploy/slipway/internal/appspec"
	"github.com/slipway-deploy/slipway/internal/lifecycle"
)

// siteBundle is a revision named rev that installs files from www into dest and has one tracing
// script, writing "<rev> <event> <deployment>" to trace, on every scriptable event. failAt, when
// set, gets a second script that prints "boom" on stderr and exits 1.
func siteBundle(t *testing.T, rev, dest, trace, failAt string, www map[string]string) string {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "version: 0.0\nos: linux\nfiles:\n  - source: www\n    destination: %s\nhooks:\n", dest)
	for _, e := range appspec.ServerHookEvents {
		fmt.Fprintf(&b, "  %s:\n    - location: scripts/trace.sh\n", e)
		if e == failAt {
			b.WriteString("    - location: scripts/fail.sh\n")
		}
	}
	files := map[string]string{
		"appspec.yml":      b.String(),
		"scripts/trace.sh": "#!/bin/sh\necho \"" + rev + " $LIFECYCLE_EVENT $DEPLOYMENT_ID\" >> " + trace + "\n",
		"scripts/fail.sh":  "#!/bin/sh\necho boom >&2\nexit 1\n",
	}
	for k, v := range www {
		files["www/"+k] = v
	}
	return newBundle(t, files)
}

func TestLocal_UsageErrors(t *testing.T) {
	bundle := newBundle(t, map[string]string{"appspec.yml": "version: 0.0\nos: linux\n"})
	root := t.TempDir()
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no command", nil, "usage: slipway-agent <command>"},
		{"unknown command", []string{"deploy"}, `unknown command "deploy"`},
		{"no flags", []string{"local"}, "--bundle and --root are required"},
		{"no root", []string{"local", "--bundle", bundle}, "--bundle and --root are required"},
		{"no bundle", []string{"local", "--root", root}, "--bundle and --root are required"},
		{"unknown flag", []string{"local", "--bundle", bundle, "--root", root, "--colour"}, "flag provided but not defined: -colour"},
		{"argument", []string{"local", "--bundle", bundle, "--root", root, "extra"}, `unexpected argument "extra"`},
		{"bad file-exists-behavior", []string{"local", "--bundle", bundle, "--root", root, "--file-exists-behavior", "SOMETIMES"}, "--file-exists-behavior:"},
		{"bad event order", []string{"local", "--bundle", bundle, "--root", root, "--events", "BeforeInstall,DownloadBundle,Install"}, "--events: only ApplicationStop"},
		{"event twice", []string{"local", "--bundle", bundle, "--root", root, "--events", "DownloadBundle,DownloadBundle"}, "listed twice"},
		{"order broken by an added event", []string{"local", "--bundle", bundle, "--root", root, "--events", "ApplicationStart,BeforeInstall"}, "--events (DownloadBundle and Install always run and were added): only ApplicationStop, BeforeBlockTraffic, AfterBlockTraffic, DownloadBundle and BeforeInstall may come before Install"},
		{"reserved traffic event", []string{"local", "--bundle", bundle, "--root", root, "--events", "DownloadBundle,Install,AllowTraffic"}, "AllowTraffic needs a traffic router"},
		{"BlockTraffic", []string{"local", "--bundle", bundle, "--root", root, "--events", "BlockTraffic"}, "BlockTraffic needs a traffic router"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := runCLI(t, tt.args...)
			if code != 2 {
				t.Errorf("exit status %d, want 2", code)
			}
			if !strings.Contains(stderr, tt.want) {
				t.Errorf("stderr %q, want it to contain %q", stderr, tt.want)
			}
			if stdout != "" {
				t.Errorf("stdout %q, want nothing on a usage error", stdout)
			}
		})
	}
	if entries, _ := os.ReadDir(root); len(entries) != 0 {
		t.Errorf("usage errors wrote into the root: %v", entries)
	}
}

func TestLocal_SuccessPrintsEveryEvent(t *testing.T) {
	dir := t.TempDir()
	trace, dest := filepath.Join(dir, "trace"), filepath.Join(dir, "site")
	bundle := siteBundle(t, "rev1", dest, trace, "", map[string]string{"index.html": "one"})
	code, stdout, stderr := runCLI(t, "local", "--bundle", bundle, "--root", filepath.Join(dir, "root"), "--deployment-id", "d-1")
	if code != 0 {
		t.Fatalf("exit status %d, want 0\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	for _, e := range lifecycle.DefaultLocalEvents {
		status := "Succeeded"
		if slices.Contains([]string{appspec.EventApplicationStop, appspec.EventBeforeBlockTraffic, appspec.EventAfterBlockTraffic}, e) {
			status = "Skipped" // a first deployment has nothing to stop
		}
		if !regexp.MustCompile(`(?m)^  ` + e + ` +` + status + ` `).MatchString(stdout) {
			t.Errorf("stdout lacks a line for %s %s:\n%s", e, status, stdout)
		}
	}
	if !strings.Contains(stdout, "\nSucceeded in ") {
		t.Errorf("stdout lacks the final verdict:\n%s", stdout)
	}
	if got := readFile(t, filepath.Join(dest, "index.html")); got != "one" {
		t.Errorf("installed index.html = %q, want %q", got, "one")
	}
}

func TestLocal_FailurePrintsDiagnosticsAndNotRun(t *testing.T) {
	dir := t.TempDir()
	trace, dest := filepath.Join(dir, "trace"), filepath.Join(dir, "site")
	bundle := siteBundle(t, "rev1", dest, trace, appspec.EventAfterInstall, map[string]string{"index.html": "one"})
	code, stdout, _ := runCLI(t, "local", "--bundle", bundle, "--root", filepath.Join(dir, "root"), "--deployment-id", "d-1")
	if code != 1 {
		t.Fatalf("exit status %d, want 1\n%s", code, stdout)
	}
	for _, want := range []string{
		"  AfterInstall         Failed     ScriptFailed: Script at specified location: scripts/fail.sh failed with exit code 1\n",
		"    output (last lines):\n      [stderr] boom\n",
		"\nFailed after ",
		"Script output: " + filepath.Join(dir, "root"),
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, stdout)
		}
	}
	for _, e := range []string{"ApplicationStart", "ValidateService", "BeforeAllowTraffic", "AfterAllowTraffic"} {
		if !regexp.MustCompile(`(?m)^  ` + e + ` +not run$`).MatchString(stdout) {
			t.Errorf("stdout does not show %s as not run:\n%s", e, stdout)
		}
	}
	if got := strings.Count(readFile(t, trace), "ApplicationStart"); got != 0 {
		t.Errorf("ApplicationStart ran %d times after a failed AfterInstall", got)
	}
}

// normalize makes an output comparable: durations, the temp dir and sizes that depend on it go.
func normalize(out, dir string) string {
	out = strings.ReplaceAll(out, dir, "$DIR")
	out = regexp.MustCompile(`\b\d+(\.\d+)?(ns|µs|ms|s)\b`).ReplaceAllString(out, "<t>")
	// The bundle's size depends on the length of the temp dir written into its scripts.
	out = regexp.MustCompile(`\b\d+ B\b`).ReplaceAllString(out, "<n> B")
	return out
}

func TestLocal_TwoRevisionsShowPreviousRevisionAndCleanup(t *testing.T) {
	dir := t.TempDir()
	trace, dest, root := filepath.Join(dir, "trace"), filepath.Join(dir, "site"), filepath.Join(dir, "root")
	rev1 := siteBundle(t, "rev1", dest, trace, "", map[string]string{"index.html": "one", "old.css": "one"})
	rev2 := siteBundle(t, "rev2", dest, trace, "", map[string]string{"index.html": "two", "new.css": "two"})
	if code, stdout, _ := runCLI(t, "local", "--bundle", rev1, "--root", root, "--deployment-id", "d-1"); code != 0 {
		t.Fatalf("first run: exit status %d\n%s", code, stdout)
	}
	code, stdout, _ := runCLI(t, "local", "--bundle", rev2, "--root", root, "--deployment-id", "d-2")
	if code != 0 {
		t.Fatalf("second run: exit status %d\n%s", code, stdout)
	}

	want := `deployment d-2 of local/LocalFleet (bundle $DIR/rev2)
  BeforeBlockTraffic   Succeeded  <t>
                                  scripts of deployment d-1, the last successful install
  AfterBlockTraffic    Succeeded  <t>
                                  scripts of deployment d-1, the last successful install
  ApplicationStop      Succeeded  <t>
                                  scripts of deployment d-1, the last successful install
  DownloadBundle       Succeeded  <t>
                                  7 entries, <n> B
  BeforeInstall        Succeeded  <t>
  Install              Succeeded  <t>
                                  removed what deployment d-1 installed (3 entries in its cleanup list)
                                  installed 3 entries, listed in $DIR/root/deployment-instructions/local_LocalFleet-cleanup
  AfterInstall         Succeeded  <t>
  ApplicationStart     Succeeded  <t>
  ValidateService      Succeeded  <t>
  BeforeAllowTraffic   Succeeded  <t>
  AfterAllowTraffic    Succeeded  <t>
Succeeded in <t>. Script output: $DIR/root/local_LocalFleet/d-2/logs/scripts.log
`
	got := normalize(strings.ReplaceAll(stdout, rev2, filepath.Join(dir, "rev2")), dir)
	if got != want {
		t.Errorf("second run printed:\n%s\nwant:\n%s", got, want)
	}

	// On disk: revision 1's file is gone, revision 2's are there.
	if exists(filepath.Join(dest, "old.css")) {
		t.Errorf("old.css of revision 1 survived revision 2's install")
	}
	for name, want := range map[string]string{"index.html": "two", "new.css": "two"} {
		if got := readFile(t, filepath.Join(dest, name)); got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
	var stops []string
	for _, line := range strings.Split(readFile(t, trace), "\n") {
		if strings.Contains(line, "ApplicationStop") {
			stops = append(stops, line)
		}
	}
	if want := []string{"rev1 ApplicationStop d-2"}; !slices.Equal(stops, want) {
		t.Errorf("ApplicationStop runs %q, want %q", stops, want)
	}
}

func TestLocal_EventsAlwaysDownloadAndInstall(t *testing.T) {
	// codedeploy-local's custom-event scenario: --events names ApplicationStart and a custom
	// event only; the revision is still downloaded and installed first, then both run.
	dir := t.TempDir()
	trace := filepath.Join(dir, "trace")
	bundle := newBundle(t, map[string]string{
		"appspec.yml": "version: 0.0\nos: linux\nfiles:\n  - source: www\n    destination: " + filepath.Join(dir, "site") + "\n" +
			"hooks:\n  ApplicationStart:\n    - location: trace.sh\n  CustomEvent:\n    - location: trace.sh\n",
		"trace.sh":       "#!/bin/sh\necho \"$LIFECYCLE_EVENT\" >> " + trace + "\n",
		"www/index.html": "hello",
	})
	code, stdout, stderr := runCLI(t, "local", "--bundle", bundle, "--root", filepath.Join(dir, "root"), "--deployment-id", "d-1",
		"--events", "ApplicationStart,CustomEvent")
	if code != 0 {
		t.Fatalf("exit status %d, want 0\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	var ran []string
	for _, line := range strings.Split(stdout, "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[1] == "Succeeded" {
			ran = append(ran, f[0])
		}
	}
	if want := []string{"DownloadBundle", "Install", "ApplicationStart", "CustomEvent"}; !slices.Equal(ran, want) {
		t.Errorf("events run: %v, want %v\n%s", ran, want, stdout)
	}
	if got := readFile(t, trace); got != "ApplicationStart\nCustomEvent\n" {
		t.Errorf("scripts ran for %q, want ApplicationStart then CustomEvent", got)
	}
	if got := readFile(t, filepath.Join(dir, "site", "index.html")); got != "hello" {
		t.Errorf("installed index.html = %q, want hello", got)
	}
}

// TestLocal_CustomEventNotNamedSaysHowToRunIt: an appspec with a custom event fails
// DownloadBundle when --events does not name it, says so once, and suggests an --events value
// that works.
func TestLocal_CustomEventNotNamedSaysHowToRunIt(t *testing.T) {
	dir := t.TempDir()
	bundle := newBundle(t, map[string]string{
		"appspec.yml": "version: 0.0\nos: linux\nhooks:\n  CustomEvent:\n    - location: c.sh\n",
		"c.sh":        "#!/bin/sh\necho custom\n",
	})
	root := filepath.Join(dir, "root")
	code, stdout, _ := runCLI(t, "local", "--bundle", bundle, "--root", root, "--deployment-id", "d-1")
	if code != 1 {
		t.Fatalf("exit status %d, want 1\n%s", code, stdout)
	}
	if n := strings.Count(stdout, "unknown lifecycle event 'CustomEvent'"); n != 1 {
		t.Errorf("the error is printed %d times, want once:\n%s", n, stdout)
	}
	want := strings.Join(append(slices.Clone(lifecycle.DefaultLocalEvents), "CustomEvent"), ",")
	if !strings.Contains(stdout, "hint: CustomEvent is not a lifecycle event; to run it as a custom event, name it in --events") ||
		!strings.Contains(stdout, "--events "+want+"\n") {
		t.Fatalf("output lacks the hint with --events %s:\n%s", want, stdout)
	}
	code, stdout, stderr := runCLI(t, "local", "--bundle", bundle, "--root", root, "--deployment-id", "d-2", "--events", want)
	if code != 0 || !strings.Contains(stdout, "CustomEvent") {
		t.Fatalf("the suggested --events: exit status %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}

	t.Run("another custom event named", func(t *testing.T) {
		code, stdout, _ := runCLI(t, "local", "--bundle", bundle, "--root", filepath.Join(dir, "root2"), "--deployment-id", "d-3",
			"--events", "ApplicationStart,Other")
		if code != 1 || !strings.Contains(stdout, "--events DownloadBundle,Install,ApplicationStart,Other,CustomEvent\n") {
			t.Errorf("exit status %d, want 1 and a hint that adds CustomEvent:\n%s", code, stdout)
		}
	})
}

// TestLocal_MisspeltEventGetsNoCustomEventHint: a near miss of a lifecycle event is a typo: the
// output says which event it meant and does not suggest running the typo as a custom event.
func TestLocal_MisspeltEventGetsNoCustomEventHint(t *testing.T) {
	bundle := newBundle(t, map[string]string{
		"appspec.yml": "version: 0.0\nos: linux\nhooks:\n  AfterInstal:\n    - location: c.sh\n",
		"c.sh":        "#!/bin/sh\necho hi\n",
	})
	code, stdout, _ := runCLI(t, "local", "--bundle", bundle, "--root", filepath.Join(t.TempDir(), "root"), "--deployment-id", "d-1")
	if code != 1 || !strings.Contains(stdout, "did you mean 'AfterInstall'?") {
		t.Fatalf("exit status %d, want 1 and a did-you-mean:\n%s", code, stdout)
	}
	if strings.Contains(stdout, "hint:") {
		t.Errorf("a misspelt event got the custom-event hint:\n%s", stdout)
	}
}

func TestLocal_HookEnvironmentHasNoSlipwaySettings(t *testing.T) {
	t.Setenv("SLIPWAY_TOKEN", "secret-token")
	t.Setenv("SLIPWAY_TEST_VISIBLE", "no")
	t.Setenv("OTHER_SETTING", "kept")
	dir := t.TempDir()
	envFile := filepath.Join(dir, "env")
	bundle := newBundle(t, map[string]string{
		"appspec.yml": "version: 0.0\nos: linux\nhooks:\n  BeforeInstall:\n    - location: env.sh\n",
		"env.sh":      "#!/bin/sh\nenv > " + envFile + "\n",
	})
	code, stdout, _ := runCLI(t, "local", "--bundle", bundle, "--root", filepath.Join(dir, "root"),
		"--application", "shop", "--group", "web", "--deployment-id", "d-env")
	if code != 0 {
		t.Fatalf("exit status %d\n%s", code, stdout)
	}
	env := strings.Split(readFile(t, envFile), "\n")
	for _, kv := range env {
		if strings.HasPrefix(kv, "SLIPWAY_") {
			t.Errorf("hook sees the agent's setting %q", kv)
		}
	}
	for _, want := range []string{"OTHER_SETTING=kept", "LIFECYCLE_EVENT=BeforeInstall", "DEPLOYMENT_ID=d-env",
		"APPLICATION_NAME=shop", "DEPLOYMENT_GROUP_NAME=web", "DEPLOYMENT_GROUP_ID=shop_web"} {
		if !slices.Contains(env, want) {
			t.Errorf("hook environment lacks %q", want)
		}
	}
}

func TestLocal_SampleApp(t *testing.T) {
	// The README's quickstart runs examples/sample-app as shipped. It installs into the fixed path
	// /tmp/slipway-sample, so the test roots that path under a temporary --install-prefix: the
	// same appspec and scripts, without touching (or skipping for) a real /tmp/slipway-sample.
	prefix := t.TempDir()
	installed := filepath.Join(prefix, "tmp", "slipway-sample")
	root := t.TempDir()
	bundle := filepath.Join("..", "examples", "sample-app")
	for i, id := range []string{"d-sample-1", "d-sample-2"} {
		code, stdout, stderr := runCLI(t, "local", "--bundle", bundle, "--root", root, "--deployment-id", id, "--install-prefix", prefix)
		if code != 0 {
			t.Fatalf("run %d: exit status %d\nstdout:\n%s\nstderr:\n%s", i+1, code, stdout, stderr)
		}
		if got := strings.TrimSpace(readFile(t, filepath.Join(installed, "version"))); got != id {
			t.Errorf("run %d: version file says %q, want %q", i+1, got, id)
		}
		log := readFile(t, filepath.Join(root, "local_LocalFleet", id, "logs", "scripts.log"))
		if want := "[BeforeInstall] [stdout] installing local (LocalFleet), deployment " + id + ", into " + installed + "\n"; !strings.Contains(log, want) {
			t.Errorf("run %d: scripts.log lacks %q:\n%s", i+1, want, log)
		}
		if i == 1 && !strings.Contains(stdout, "scripts of deployment d-sample-1, the last successful install") {
			t.Errorf("second run does not show the first revision's ApplicationStop:\n%s", stdout)
		}
	}
}
