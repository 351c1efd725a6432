package lifecycle

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestMarker_InterruptedEventIsListedUntilForgotten(t *testing.T) {
	root := Root(t.TempDir())
	older := Marker{DeploymentID: "d-1", GroupID: "g", Event: "BeforeInstall", Started: time.Unix(100, 0).UTC()}
	newer := Marker{DeploymentID: "d-2", GroupID: "h", Event: "ApplicationStart", Started: time.Unix(200, 0).UTC()}
	for _, m := range []Marker{newer, older} {
		if err := root.mark(m); err != nil {
			t.Fatal(err)
		}
	}
	got, err := root.Interrupted()
	if err != nil {
		t.Fatal(err)
	}
	if want := []Marker{older, newer}; !slices.Equal(got, want) {
		t.Fatalf("Interrupted() = %+v, want %+v", got, want)
	}
	if err := root.Forget(older); err != nil {
		t.Fatal(err)
	}
	got, err = root.Interrupted()
	if err != nil {
		t.Fatal(err)
	}
	if want := []Marker{newer}; !slices.Equal(got, want) {
		t.Fatalf("after Forget: Interrupted() = %+v, want %+v", got, want)
	}
}

func TestMarker_NoneOnFreshRoot(t *testing.T) {
	got, err := Root(t.TempDir()).Interrupted()
	if err != nil || len(got) != 0 {
		t.Fatalf("Interrupted() = %v, %v; want nothing", got, err)
	}
}

func TestRetention_KeepsNewestAndLastSuccessful(t *testing.T) {
	root := Root(t.TempDir())
	const group = "g"
	// d-0 is the oldest; d-1 was the last successful install.
	base := time.Now().Add(-time.Hour)
	for i := range 8 {
		dir := root.DeploymentDir(group, "d-"+string(rune('0'+i)))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		mt := base.Add(time.Duration(i) * time.Minute)
		if err := os.Chtimes(dir, mt, mt); err != nil {
			t.Fatal(err)
		}
	}
	if err := writeFileAtomic(root.lastSuccessfulFile(group), []byte(root.DeploymentDir(group, "d-1"))); err != nil {
		t.Fatal(err)
	}
	if _, err := root.prune(group, "d-new", 3); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(filepath.Join(string(root), group))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, e.Name())
	}
	// Three counting the new one (not yet created): d-1, the last success, takes the place of d-6,
	// as in the reference agent, where the last successful revision counts towards the limit.
	if want := []string{"d-1", "d-7"}; !slices.Equal(got, want) {
		t.Fatalf("kept %v, want %v", got, want)
	}
}

func TestCheckID(t *testing.T) {
	for _, bad := range []string{"", "..", ".hidden", "a/b", "a b", string(make([]byte, 129))} {
		if err := checkID("group id", bad); err == nil {
			t.Errorf("checkID(%q) = nil, want an error", bad)
		}
	}
	for _, good := range []string{"d-ABC123-local", "my_app.web-1"} {
		if err := checkID("group id", good); err != nil {
			t.Errorf("checkID(%q) = %v, want nil", good, err)
		}
	}
}

func TestMarker_UnreadableMarkerIsStillReported(t *testing.T) {
	// Markers are not fsynced: after a power cut one may be empty. Its deployment is still
	// reported, and start-up is not blocked.
	root := Root(t.TempDir())
	if err := os.MkdirAll(root.ongoingDir(), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(root.markerPath("d-torn"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := root.Interrupted()
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].DeploymentID != "d-torn" || got[0].Event != UnknownEvent {
		t.Fatalf("Interrupted() = %+v, want one marker of d-torn with the unknown event", got)
	}
	if err := root.Forget(got[0]); err != nil {
		t.Fatal(err)
	}
	if got, err := root.Interrupted(); err != nil || len(got) != 0 {
		t.Fatalf("after Forget: Interrupted() = %v, %v; want nothing", got, err)
	}
}

// With KeepMarkers, the marker outlives Run until the caller has recorded the result: a crash
// in between still finds the event interrupted.
func TestMarker_KeptUntilDoneWhenTheCallerRecordsResults(t *testing.T) {
	f := newFixture(t)
	f.host.KeepMarkers = true
	bundle := newBundle(t, hookSpec("BeforeInstall", 60, "ok.sh"), map[string]string{"ok.sh": "#!/bin/sh\nexit 0\n"})
	d := deployment("d-keep", bundle)
	d.Command = "cmd-1"
	f.mustDeploy(d, "DownloadBundle")
	got, err := f.host.Root.Interrupted()
	if err != nil || len(got) != 1 || got[0].Command != "cmd-1" || got[0].Event != "DownloadBundle" {
		t.Fatalf("after Run: Interrupted() = %+v, %v; want the DownloadBundle marker", got, err)
	}
	if err := f.host.Root.Done("d-keep"); err != nil {
		t.Fatal(err)
	}
	if got, err := f.host.Root.Interrupted(); err != nil || len(got) != 0 {
		t.Fatalf("after Done: Interrupted() = %+v, %v; want none", got, err)
	}
}

// TestLock_RefusesARootOthersMayWrite: the agent, usually root, unpacks and installs under the
// deployment root; whoever else may write there could swap what it is about to install or run
// for links to anywhere. A root another user owns, or one group or others may write, is refused
// before anything is written in it.
func TestLock_RefusesARootOthersMayWrite(t *testing.T) {
	for _, tc := range []struct {
		name  string
		mode  os.FileMode
		owner int // -1: the test's own user
		says  string
	}{
		{"world-writable", 0o777, -1, "chmod go-w"},
		{"group-writable", 0o775, -1, "chmod go-w"},
		{"another user's", 0o755, 65534, "chown"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.owner >= 0 && os.Geteuid() != 0 {
				t.Skip("giving a directory to another user needs root")
			}
			dir := filepath.Join(t.TempDir(), "root")
			if err := os.Mkdir(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(dir, tc.mode); err != nil {
				t.Fatal(err)
			}
			if tc.owner >= 0 {
				if err := os.Chown(dir, tc.owner, tc.owner); err != nil {
					t.Fatal(err)
				}
			}
			unlock, err := Root(dir).Lock()
			if err == nil {
				_ = unlock()
				t.Fatalf("Lock on a %s root succeeded", tc.name)
			}
			if !strings.Contains(err.Error(), dir) || !strings.Contains(err.Error(), tc.says) {
				t.Errorf("error %q does not name the root and say %q", err, tc.says)
			}
			if names, _ := os.ReadDir(dir); len(names) != 0 {
				t.Errorf("the refused root holds %v, want nothing written", names)
			}
		})
	}
	t.Run("own and closed, or new", func(t *testing.T) {
		for _, dir := range []string{t.TempDir(), filepath.Join(t.TempDir(), "new", "root")} {
			unlock, err := Root(dir).Lock()
			if err != nil {
				t.Fatalf("Lock(%s): %v", dir, err)
			}
			_ = unlock()
		}
	})
}
