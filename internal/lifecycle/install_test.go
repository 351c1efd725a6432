package lifecycle

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/slipway-deploy/slipway/internal/appspec"
)

// The tests in this file encode DESIGN.md §5: cleanup of the previous install,
// file_exists_behavior and its precedence, and permissions.

var installEvents = []string{appspec.EventDownloadBundle, appspec.EventInstall}

// filesSpec is an appspec installing the bundle's www directory into dest, with extra appended.
func filesSpec(dest, extra string) string {
	return "version: 0.0\nos: linux\nfiles:\n  - source: www\n    destination: " + dest + "\n" + extra
}

func TestHost_CleanupRemovesPreviousInstall(t *testing.T) {
	f := newFixture(t)
	dest := filepath.Join(t.TempDir(), "site")
	rev1 := newBundle(t, filesSpec(dest, ""), map[string]string{
		"www/index.html": "rev1", "www/old.css": "rev1", "www/img/logo.png": "rev1",
	})
	rev2 := newBundle(t, filesSpec(dest, ""), map[string]string{
		"www/index.html": "rev2", "www/new.css": "rev2",
	})
	f.mustDeploy(deployment("d-1", rev1), installEvents...)
	// Someone else's file inside an installed directory: cleanup must leave it (and so the directory).
	writeTree(t, dest, map[string]string{"img/uploaded.png": "user"})

	// Without file_exists_behavior, index.html would be refused if cleanup had not removed it first.
	f.mustDeploy(deployment("d-2", rev2), installEvents...)
	for _, gone := range []string{"old.css", "img/logo.png"} {
		if exists(filepath.Join(dest, gone)) {
			t.Errorf("%s of revision 1 is still there after revision 2's Install", gone)
		}
	}
	for name, want := range map[string]string{"index.html": "rev2", "new.css": "rev2", "img/uploaded.png": "user"} {
		if got := readFile(t, filepath.Join(dest, name)); got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}

	// A third revision without img: the directory revision 1 created is empty now... except for
	// the user's file, so it stays.
	rev3 := newBundle(t, filesSpec(dest, ""), map[string]string{"www/index.html": "rev3"})
	f.mustDeploy(deployment("d-3", rev3), installEvents...)
	if exists(filepath.Join(dest, "new.css")) {
		t.Errorf("new.css of revision 2 is still there after revision 3's Install")
	}
	if !exists(filepath.Join(dest, "img", "uploaded.png")) {
		t.Errorf("cleanup removed a file no deployment installed")
	}
}

func TestHost_FileExistsDisallowOverwriteRetain(t *testing.T) {
	tests := []struct {
		name    string
		inSpec  string // file_exists_behavior in the appspec, or ""
		option  appspec.FileExistsBehavior
		want    string // "refused", "replaced" or "kept"
		comment string
	}{
		{"default", "", appspec.FileExistsUnset, "refused", "no value anywhere means DISALLOW"},
		{"option DISALLOW", "", appspec.FileExistsDisallow, "refused", ""},
		{"option OVERWRITE", "", appspec.FileExistsOverwrite, "replaced", ""},
		{"option RETAIN", "", appspec.FileExistsRetain, "kept", ""},
		{"appspec OVERWRITE", "OVERWRITE", appspec.FileExistsUnset, "replaced", ""},
		{"appspec RETAIN", "RETAIN", appspec.FileExistsUnset, "kept", ""},
		{"appspec OVERWRITE beats option RETAIN", "OVERWRITE", appspec.FileExistsRetain, "replaced", "appspec > option"},
		{"appspec RETAIN beats option OVERWRITE", "RETAIN", appspec.FileExistsOverwrite, "kept", "appspec > option"},
		{"appspec DISALLOW beats option OVERWRITE", "DISALLOW", appspec.FileExistsOverwrite, "refused", "appspec > option"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			dest := t.TempDir()
			writeTree(t, dest, map[string]string{"config.ini": "host's own"})
			extra := ""
			if tt.inSpec != "" {
				extra = "file_exists_behavior: " + tt.inSpec + "\n"
			}
			bundle := newBundle(t, filesSpec(dest, extra), map[string]string{
				"www/config.ini": "from bundle", "www/other.txt": "from bundle",
			})
			d := deployment("d-1", bundle)
			d.FileExists = tt.option
			rs := f.deploy(d, installEvents...)
			install := result(t, rs, appspec.EventInstall)
			target := filepath.Join(dest, "config.ini")
			got := readFile(t, target)

			switch tt.want {
			case "refused":
				if install.Status != StatusFailed || !strings.Contains(install.Message, target) {
					t.Fatalf("Install: got %s %q, want a failure naming %s", install.Status, install.Message, target)
				}
				if got != "host's own" {
					t.Errorf("config.ini = %q after a refused install, want it untouched", got)
				}
				if exists(filepath.Join(dest, "other.txt")) {
					t.Errorf("other.txt was installed although the install was refused")
				}
				return
			case "replaced":
				wantSuccess(t, install)
				if got != "from bundle" {
					t.Errorf("config.ini = %q, want the bundle's (%s)", got, tt.comment)
				}
			case "kept":
				wantSuccess(t, install)
				if got != "host's own" {
					t.Errorf("config.ini = %q, want the host's own kept (%s)", got, tt.comment)
				}
			}
			if got := readFile(t, filepath.Join(dest, "other.txt")); got != "from bundle" {
				t.Errorf("other.txt = %q, want the bundle's", got)
			}

			// The next install's cleanup removes what this one installed, except a retained file,
			// which was never this deployment's to remove.
			empty := newBundle(t, filesSpec(dest, ""), map[string]string{"www/.keep": ""})
			f.mustDeploy(deployment("d-2", empty), installEvents...)
			if exists(filepath.Join(dest, "other.txt")) {
				t.Errorf("other.txt survived the next install's cleanup")
			}
			if keptAfter := exists(target); keptAfter != (tt.want == "kept") {
				t.Errorf("config.ini exists after the next cleanup: %v, want %v", keptAfter, tt.want == "kept")
			}
		})
	}
}

func TestHost_PermissionsApplied(t *testing.T) {
	u := testUser(t, "slipway-test")
	f := newFixture(t)
	dest := filepath.Join(t.TempDir(), "site")
	extra := `permissions:
  - object: ` + dest + `
    pattern: "**"
    type: [file]
    owner: slipway-test
    group: slipway-test
    mode: 640
  - object: ` + dest + `/conf
    type: [directory]
    mode: 0750
`
	bundle := newBundle(t, filesSpec(dest, extra), map[string]string{
		"www/index.html": "x", "www/conf/app.ini": "y", "www/conf/sub/deep.ini": "z",
	})
	f.mustDeploy(deployment("d-1", bundle), installEvents...)

	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	tests := []struct {
		path     string
		mode     os.FileMode
		uid, gid int
	}{
		{"index.html", 0o640, uid, gid},
		{"conf/app.ini", 0o640, uid, gid},
		{"conf/sub/deep.ini", 0o640, uid, gid},
		// Directories strictly under the second object; the object itself is not touched.
		{"conf/sub", 0o750, 0, 0},
		{"conf", 0o755, 0, 0},
	}
	for _, tt := range tests {
		var st syscall.Stat_t
		if err := syscall.Lstat(filepath.Join(dest, tt.path), &st); err != nil {
			t.Fatal(err)
		}
		if got := os.FileMode(st.Mode) & os.ModePerm; got != tt.mode {
			t.Errorf("%s: mode %04o, want %04o", tt.path, got, tt.mode)
		}
		if int(st.Uid) != tt.uid || int(st.Gid) != tt.gid {
			t.Errorf("%s: owner %d:%d, want %d:%d", tt.path, st.Uid, st.Gid, tt.uid, tt.gid)
		}
	}
}

// With an install prefix, destinations and permission objects land under it and hooks are told.
func TestHost_InstallPrefixRootsDestinations(t *testing.T) {
	prefix := t.TempDir()
	bundleDir := t.TempDir()
	writeTree(t, bundleDir, map[string]string{
		"appspec.yml": "version: 0.0\nos: linux\nfiles:\n  - source: web\n    destination: /srv/app\n" +
			"permissions:\n  - object: /srv/app\n    type: [file]\n    mode: 600\n" +
			"hooks:\n  AfterInstall:\n    - location: hook.sh\n",
		"web/index.html": "hello\n",
		"hook.sh":        "#!/bin/sh\necho \"prefix=$SLIPWAY_INSTALL_PREFIX\" > \"$SLIPWAY_INSTALL_PREFIX/seen\"\n",
	})
	h := &Host{Root: Root(t.TempDir()), InstallPrefix: prefix}
	d := Deployment{ID: "d-1", ApplicationName: "a", GroupName: "g", GroupID: "a_g", Bundle: bundleDir}
	for _, ev := range []string{"DownloadBundle", "Install", "AfterInstall"} {
		if r := h.Run(context.Background(), d, ev); r.Status == StatusFailed {
			t.Fatalf("%s: %s: %s\n%s", ev, r.Code, r.Message, r.Tail)
		}
	}
	fi, err := os.Stat(filepath.Join(prefix, "srv/app/index.html"))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := fi.Mode().Perm(), os.FileMode(0o600); got != want {
		t.Errorf("mode %v, want %v", got, want)
	}
	got, err := os.ReadFile(filepath.Join(prefix, "seen"))
	if err != nil {
		t.Fatal(err)
	}
	if want := "prefix=" + prefix + "\n"; string(got) != want {
		t.Errorf("hook wrote %q, want %q", got, want)
	}
}
