package install

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/slipway-deploy/slipway/internal/appspec"
)

func mode(bits fs.FileMode) *appspec.Mode {
	return &appspec.Mode{Bits: bits, Text: fmt.Sprintf("%03o", uint32(bits.Perm()))}
}

func modeOf(t *testing.T, path string) fs.FileMode {
	t.Helper()
	info, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	return info.Mode() & (modeBits | fs.ModeDir)
}

func ownerOf(t *testing.T, path string) int {
	t.Helper()
	info, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	return int(info.Sys().(*syscall.Stat_t).Uid)
}

// wantModes checks the modes of paths relative to the fixture's host directory.
func (f *fixture) wantModes(want map[string]fs.FileMode) {
	f.t.Helper()
	for rel, m := range want {
		if got := modeOf(f.t, f.path(rel)); got != m {
			f.t.Errorf("mode of %s = %v, want %v", rel, got, m)
		}
	}
}

func withPerms(s *appspec.Spec, perms ...appspec.Permission) *appspec.Spec {
	s.Permissions = perms
	return s
}

func TestPermissions_PatternMatchesDirectChildrenOnly(t *testing.T) {
	f := newFixture(t, tree{"app/prefix/x": "1", "app/prefix_matches": "2", "app/other": "3", "app/sub/prefix_deep": "4"})
	f.mustInstall(withPerms(spec(appspec.File{Source: "app", Destination: f.path("www"), Line: 4}),
		appspec.Permission{Object: f.path("www"), Pattern: "prefix*", Mode: mode(0o700), Line: 8}))
	f.wantModes(map[string]fs.FileMode{
		"www":                 fs.ModeDir | 0o755, // the object itself is never included
		"www/prefix":          fs.ModeDir | 0o700,
		"www/prefix_matches":  0o700,
		"www/prefix/x":        0o644,
		"www/other":           0o644,
		"www/sub/prefix_deep": 0o644,
	})
}

func TestPermissions_ExceptMatchesDirectChildrenOnly(t *testing.T) {
	f := newFixture(t, tree{"app/a.tmp": "1", "app/a.txt": "2", "app/sub/b.tmp": "3"})
	f.mustInstall(withPerms(spec(appspec.File{Source: "app", Destination: f.path("www"), Line: 4}),
		appspec.Permission{Object: f.path("www"), Pattern: "**", Except: []string{"*.tmp"}, Types: []appspec.ObjectType{appspec.ObjectFile}, Mode: mode(0o600), Line: 8}))
	f.wantModes(map[string]fs.FileMode{
		"www/a.tmp":     0o644,
		"www/a.txt":     0o600,
		"www/sub/b.tmp": 0o600,
		"www/sub":       fs.ModeDir | 0o755,
	})
}

func TestPermissions_TypeFilter(t *testing.T) {
	for _, tc := range []struct {
		typ  appspec.ObjectType
		want map[string]fs.FileMode
	}{
		{appspec.ObjectDirectory, map[string]fs.FileMode{"www/sub": fs.ModeDir | 0o700, "www/a": 0o644, "www/sub/b": 0o644}},
		{appspec.ObjectFile, map[string]fs.FileMode{"www/sub": fs.ModeDir | 0o755, "www/a": 0o700, "www/sub/b": 0o700}},
	} {
		t.Run(tc.typ.String(), func(t *testing.T) {
			f := newFixture(t, tree{"app/a": "1", "app/sub/b": "2"})
			f.mustInstall(withPerms(spec(appspec.File{Source: "app", Destination: f.path("www"), Line: 4}),
				appspec.Permission{Object: f.path("www"), Pattern: "**", Types: []appspec.ObjectType{tc.typ}, Mode: mode(0o700), Line: 8}))
			f.wantModes(tc.want)
		})
	}
}

func TestPermissions_ObjectThatIsAnInstalledFile(t *testing.T) {
	cases := []struct {
		name    string
		perm    appspec.Permission
		want    fs.FileMode
		wantErr error
	}{
		{"applies to the file itself", appspec.Permission{Mode: mode(0o600)}, 0o600, nil},
		{"not when type excludes files", appspec.Permission{Types: []appspec.ObjectType{appspec.ObjectDirectory}, Mode: mode(0o600)}, 0o644, nil},
		{"a pattern is an error", appspec.Permission{Pattern: "a*", Types: []appspec.ObjectType{appspec.ObjectFile}, Mode: mode(0o600)}, 0, ErrPermissionConflict},
		{"an except list is an error", appspec.Permission{Except: []string{"x"}, Mode: mode(0o600)}, 0, ErrPermissionConflict},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, tree{"app/a": "1"})
			perm := tc.perm
			perm.Object, perm.Line = f.path("www/a"), 8
			err := f.install(withPerms(spec(appspec.File{Source: "app", Destination: f.path("www"), Line: 4}), perm))
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Install: %v", err)
			}
			f.wantModes(map[string]fs.FileMode{"www/a": tc.want})
		})
	}
}

func TestPermissions_OnlyPathsThisDeploymentInstalled(t *testing.T) {
	f := newFixture(t, tree{"app/new": "1", "app/kept": "2"})
	makeTree(t, f.host, tree{"www/existing": "theirs", "www/kept": "retained"})
	s := withPerms(spec(appspec.File{Source: "app", Destination: f.path("www"), Line: 4}),
		appspec.Permission{Object: f.path("www"), Pattern: "**", Mode: mode(0o600), Line: 8})
	s.FileExistsBehavior = appspec.FileExistsRetain
	f.mustInstall(s)
	f.wantModes(map[string]fs.FileMode{
		"www":          fs.ModeDir | 0o755,
		"www/new":      0o600,
		"www/existing": 0o644,
		"www/kept":     0o644,
	})
}

func TestPermissions_PathSelectedTwiceIsError(t *testing.T) {
	f := newFixture(t, tree{"app/sub/b": "1"})
	err := f.install(withPerms(spec(appspec.File{Source: "app", Destination: f.path("www"), Line: 4}),
		appspec.Permission{Object: f.path("www"), Pattern: "**", Mode: mode(0o600), Line: 8},
		appspec.Permission{Object: f.path("www/sub"), Pattern: "**", Mode: mode(0o640), Line: 12}))
	if !errors.Is(err, ErrPermissionConflict) {
		t.Fatalf("err = %v, want ErrPermissionConflict", err)
	}
	for _, want := range []string{f.path("www/sub/b"), "line 8", "line 12"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	if exists(t, f.path("www")) {
		t.Error("files were installed although the permissions were refused")
	}
}

func TestPermissions_DisjointPatternsOnOneObjectAllowed(t *testing.T) {
	f := newFixture(t, tree{"app/run.sh": "1", "app/app.conf": "2"})
	f.mustInstall(withPerms(spec(appspec.File{Source: "app", Destination: f.path("www"), Line: 4}),
		appspec.Permission{Object: f.path("www"), Pattern: "*.sh", Mode: mode(0o755), Line: 8},
		appspec.Permission{Object: f.path("www"), Pattern: "*.conf", Mode: mode(0o600), Line: 12}))
	f.wantModes(map[string]fs.FileMode{"www/run.sh": 0o755, "www/app.conf": 0o600})
}

func TestPermissions_OrderChmodAclSELinuxChown(t *testing.T) {
	requireRoot(t)
	u := requireUser(t, testUser)
	uid, _ := strconv.Atoi(u.Uid)
	f := newFixture(t, tree{"app/index.html": "hi"})
	file := f.path("www/index.html")
	realPath, err := filepath.EvalSymlinks(f.host)
	if err != nil {
		t.Fatal(err)
	}
	realPath = filepath.Join(realPath, "www/index.html")

	// Each command looks at the file when it runs: chmod must have happened, chown not yet.
	var seen []string
	cmds := &commands{onCall: func(name string, _ []string) error {
		seen = append(seen, fmt.Sprintf("%s: mode %v, uid %d", name, modeOf(t, file), ownerOf(t, file)))
		return nil
	}}
	f.in.Run, f.in.LookPath = cmds.run, lookPathAll
	f.mustInstall(withPerms(spec(appspec.File{Source: "app", Destination: f.path("www"), Line: 4}),
		appspec.Permission{
			Object: f.path("www"), Pattern: "**", Owner: testUser, Mode: mode(0o640), Line: 8,
			ACLs:    []appspec.ACE{{Kind: "user", Name: testUser, Perms: "rwx"}, {Kind: "group", Perms: "r--"}},
			Context: &appspec.SELinuxContext{User: "system_u", Type: "httpd_sys_content_t", Range: &appspec.SELinuxRange{Low: 0, High: 0, Text: "s0"}},
		}))

	wantCalls := []string{
		"setfacl --modify user:" + testUser + ":rwx,group::r-- " + file,
		"semanage fcontext -a -s system_u -t httpd_sys_content_t -r s0 " + realPath,
		"restorecon -v " + realPath,
	}
	if got := cmds.got(); !slices.Equal(got, wantCalls) {
		t.Errorf("commands:\n got  %q\n want %q", got, wantCalls)
	}
	wantSeen := []string{"setfacl: mode -rw-r-----, uid 0", "semanage: mode -rw-r-----, uid 0", "restorecon: mode -rw-r-----, uid 0"}
	if !slices.Equal(seen, wantSeen) {
		t.Errorf("state at each command:\n got  %q\n want %q", seen, wantSeen)
	}
	if got := ownerOf(t, file); got != uid {
		t.Errorf("owner = %d, want %d (%s)", got, uid, testUser)
	}

	// The SELinux rule is recorded, so the next install's cleanup deletes it.
	if got := f.cleanupLines(); !slices.Contains(got, selinuxMark+realPath) {
		t.Errorf("cleanup list %q does not record the file context of %s", got, realPath)
	}
	cleanupCmds := &commands{}
	f.in.Run = cleanupCmds.run
	if err := f.in.Cleanup(context.Background(), f.cleanupFile()); err != nil {
		t.Fatal(err)
	}
	if got, want := cleanupCmds.got(), []string{"semanage fcontext -d " + realPath}; !slices.Equal(got, want) {
		t.Errorf("cleanup commands = %q, want %q", got, want)
	}
}

func TestPermissions_RealACL(t *testing.T) {
	requireTool(t, "setfacl")
	requireTool(t, "getfacl")
	requireUser(t, testUser)
	f := newFixture(t, tree{"app/files/data": "1", "app/dirs/shared/": ""})
	f.mustInstall(withPerms(spec(appspec.File{Source: "app", Destination: f.path("www"), Line: 4}),
		appspec.Permission{
			Object: f.path("www/files"), Pattern: "**", Types: []appspec.ObjectType{appspec.ObjectFile}, Mode: mode(0o640), Line: 8,
			ACLs: []appspec.ACE{{Kind: "user", Name: testUser, Perms: "rwx"}},
		},
		appspec.Permission{
			Object: f.path("www/dirs"), Pattern: "**", Types: []appspec.ObjectType{appspec.ObjectDirectory}, Line: 14,
			ACLs: []appspec.ACE{{Default: true, Kind: "user", Name: testUser, Perms: "rw-"}},
		}))

	// chmod ran first: had it run after setfacl, its group bits (r--) would have become the mask.
	wantACL(t, f.path("www/files/data"), "user:"+testUser+":rwx", "mask::rwx", "group::r--")
	wantACL(t, f.path("www/dirs/shared"), "default:user:"+testUser+":rw-")
}

func wantACL(t *testing.T, path string, entries ...string) {
	t.Helper()
	out, err := exec.Command("getfacl", "--omit-header", "--absolute-names", path).CombinedOutput()
	if err != nil {
		t.Fatalf("getfacl %s: %v: %s", path, err, out)
	}
	got := strings.Fields(string(out))
	for _, e := range entries {
		if !slices.Contains(got, e) {
			t.Errorf("ACL of %s = %q, want it to hold %q", path, got, e)
		}
	}
}

func TestPermissions_DefaultACLOnFileIsError(t *testing.T) {
	f := newFixture(t, tree{"app/a": "1"})
	f.in.Run, f.in.LookPath = (&commands{}).run, lookPathAll
	err := f.install(withPerms(spec(appspec.File{Source: "app", Destination: f.path("www"), Line: 4}),
		appspec.Permission{Object: f.path("www"), Pattern: "**", Line: 8,
			ACLs: []appspec.ACE{{Default: true, Kind: "group", Name: "manager", Perms: "rw-"}}}))
	if !errors.Is(err, ErrDefaultACLOnFile) {
		t.Fatalf("err = %v, want ErrDefaultACLOnFile", err)
	}
	if !strings.Contains(err.Error(), "default ACLs are supported for directories only") || !strings.Contains(err.Error(), f.path("www/a")) {
		t.Errorf("error %q should say default ACLs are for directories and name the file", err)
	}
	if exists(t, f.path("www")) {
		t.Error("files were installed although the permissions were refused")
	}
}

func TestPermissions_ChownDoesNotFollowSymlinks(t *testing.T) {
	requireRoot(t)
	u := requireUser(t, testUser)
	uid, _ := strconv.Atoi(u.Uid)
	f := newFixture(t, tree{"app/f": "1", "app/sub/": "", "app/link": linkPrefix + "../shared/t", "shared/t": "x"})
	makeTree(t, f.host, tree{"shared/t": "not installed by this deployment"})
	f.mustInstall(withPerms(spec(appspec.File{Source: "app", Destination: f.path("www"), Line: 4}),
		appspec.Permission{Object: f.path("www"), Pattern: "**", Owner: testUser, Group: testUser, Mode: mode(0o600), Line: 8}))
	for _, rel := range []string{"www/f", "www/sub", "www/link"} {
		if got := ownerOf(t, f.path(rel)); got != uid {
			t.Errorf("owner of %s = %d, want %d", rel, got, uid)
		}
	}
	if got := ownerOf(t, f.path("shared/t")); got != 0 {
		t.Errorf("owner of the link's target = %d, want 0: chown followed the link", got)
	}
	f.wantModes(map[string]fs.FileMode{"shared/t": 0o644})
}

func TestPermissions_SetuidSurvivesChown(t *testing.T) {
	requireRoot(t)
	requireUser(t, testUser)
	f := newFixture(t, tree{"app/tool": "#!/bin/sh"})
	want := fs.ModeSetuid | fs.ModeSetgid | 0o755
	f.mustInstall(withPerms(spec(appspec.File{Source: "app", Destination: f.path("bin"), Line: 4}),
		appspec.Permission{Object: f.path("bin"), Pattern: "**", Owner: testUser, Mode: mode(want), Line: 8}))
	f.wantModes(map[string]fs.FileMode{"bin/tool": want})
}

func TestPermissions_UnknownOwnerIsError(t *testing.T) {
	for _, tc := range []struct{ owner, group string }{{"no-such-user-slipway", ""}, {"", "no-such-group-slipway"}} {
		t.Run(tc.owner+tc.group, func(t *testing.T) {
			f := newFixture(t, tree{"app/a": "1"})
			err := f.install(withPerms(spec(appspec.File{Source: "app", Destination: f.path("www"), Line: 4}),
				appspec.Permission{Object: f.path("www"), Pattern: "**", Owner: tc.owner, Group: tc.group, Line: 8}))
			if !errors.Is(err, ErrUnknownOwner) || !strings.Contains(err.Error(), tc.owner+tc.group) || !strings.Contains(err.Error(), "line 8") {
				t.Fatalf("err = %v, want ErrUnknownOwner naming %q and line 8", err, tc.owner+tc.group)
			}
			if exists(t, f.path("www")) {
				t.Error("files were installed although the owner is unknown")
			}
		})
	}
}

func TestPermissions_SetfaclMissingIsError(t *testing.T) {
	f := newFixture(t, tree{"app/a": "1"})
	f.in.LookPath = func(file string) (string, error) {
		return "", &exec.Error{Name: file, Err: exec.ErrNotFound}
	}
	err := f.install(withPerms(spec(appspec.File{Source: "app", Destination: f.path("www"), Line: 4}),
		appspec.Permission{Object: f.path("www"), Pattern: "**", Line: 7, ACLs: []appspec.ACE{{Kind: "user", Name: "bob", Perms: "r--"}}}))
	if !errors.Is(err, ErrToolMissing) {
		t.Fatalf("err = %v, want ErrToolMissing", err)
	}
	if want := "permissions at line 7 use acls but setfacl is not installed (apt-get install acl)"; !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not say %q", err, want)
	}
	if exists(t, f.path("www")) {
		t.Error("files were installed although setfacl is missing")
	}
}

func TestPermissions_SemanageMissingIsError(t *testing.T) {
	if _, err := exec.LookPath("semanage"); err == nil {
		t.Skip("semanage is installed; this test needs a host without it")
	}
	f := newFixture(t, tree{"app/a": "1"})
	err := f.install(withPerms(spec(appspec.File{Source: "app", Destination: f.path("www"), Line: 4}),
		appspec.Permission{Object: f.path("www"), Pattern: "**", Line: 7, Context: &appspec.SELinuxContext{Type: "httpd_sys_content_t"}}))
	if !errors.Is(err, ErrToolMissing) {
		t.Fatalf("err = %v, want ErrToolMissing", err)
	}
	if want := "permissions at line 7 use an SELinux context but semanage is not installed"; !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not say %q", err, want)
	}
	if exists(t, f.path("www")) {
		t.Error("files were installed although semanage is missing")
	}
}

func TestMatchGlob(t *testing.T) {
	cases := []struct {
		pattern, name string
		want          bool
	}{
		{"prefix*", "prefix", true},
		{"prefix*", "prefix_matches", true},
		{"prefix*", "xprefix", false},
		{"*ReadMe", "TheReadMe", true},
		{"*ReadMe", "ReadMe.txt", false},
		{"*.tmp", ".tmp", true},
		{"a*b*c", "aXbYbZc", true},
		{"a*b*c", "aXbYbZ", false},
		{"**", "anything", true},
		{"*", "", true},
		{"", "", true},
		{"", "a", false},
		{"a?c", "abc", false}, // only '*' is special, as in the reference agent
		{"a?c", "a?c", true},
		{"[ab]", "a", false},
		{"[ab]", "[ab]", true},
	}
	for _, tc := range cases {
		if got := matchGlob(tc.pattern, tc.name); got != tc.want {
			t.Errorf("matchGlob(%q, %q) = %v, want %v", tc.pattern, tc.name, got, tc.want)
		}
	}
}
