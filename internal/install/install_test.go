package install

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/slipway-deploy/slipway/internal/appspec"
)

func TestInstall_CopiesFilesAndRecordsWhatItCreated(t *testing.T) {
	f := newFixture(t, tree{"appspec.yml": "version: 0.0", "web/index.html": "hi", "web/css/site.css": "body{}", "bin/run": "#!/bin/sh"})
	if err := os.Chmod(filepath.Join(f.archive, "bin/run"), 0o750); err != nil {
		t.Fatal(err)
	}
	mtime := time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)
	if err := os.Chtimes(filepath.Join(f.archive, "bin/run"), mtime, mtime); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(f.path("srv"), 0o755); err != nil {
		t.Fatal(err)
	}
	f.mustInstall(spec(
		appspec.File{Source: "web", Destination: f.path("srv"), Line: 4},
		appspec.File{Source: "bin/run", Destination: f.path("opt/app/bin"), Line: 6},
	))

	if got := readFile(t, f.path("srv/css/site.css")); got != "body{}" {
		t.Errorf("site.css = %q", got)
	}
	info, err := os.Stat(f.path("opt/app/bin/run"))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := info.Mode().Perm(), fs.FileMode(0o750); got != want {
		t.Errorf("mode of run = %v, want the bundle's %v", got, want)
	}
	if got := info.ModTime(); !got.Equal(mtime) {
		t.Errorf("mtime of run = %v, want the bundle's %v", got, mtime)
	}
	// srv existed before, so it is not this deployment's to remove.
	want := []string{
		f.path("srv/css"), f.path("srv/css/site.css"), f.path("srv/index.html"),
		f.path("opt"), f.path("opt/app"), f.path("opt/app/bin"), f.path("opt/app/bin/run"),
	}
	if got := f.cleanupLines(); !slices.Equal(got, want) {
		t.Errorf("cleanup list:\n got  %q\n want %q", got, want)
	}

	var doc struct {
		Instructions []Instruction `json:"instructions"`
	}
	if err := json.Unmarshal([]byte(readFile(t, f.request(nil).InstallFile)), &doc); err != nil {
		t.Fatalf("install.json: %v", err)
	}
	if got, want := len(doc.Instructions), 7; got != want {
		t.Fatalf("install.json has %d instructions, want %d", got, want)
	}
	if got := doc.Instructions[1]; got.Kind != KindCopy || got.Destination != f.path("srv/css/site.css") || got.Source != filepath.Join(f.archive, "web/css/site.css") {
		t.Errorf("install.json instruction 1 = %+v", got)
	}
}

func TestInstall_DisallowFailsOnExistingFile(t *testing.T) {
	f := newFixture(t, tree{"app/a": "new a", "app/b": "new b", "app/c": "new c"})
	makeTree(t, f.host, tree{"b": "old b"})
	err := f.install(spec(appspec.File{Source: "app", Destination: f.host, Line: 4}))
	if !errors.Is(err, ErrFileExists) {
		t.Fatalf("err = %v, want ErrFileExists", err)
	}
	for _, want := range []string{f.path("b"), "OVERWRITE", "RETAIN", "file-exists-behavior option"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	// Checked before anything was written: a came before b and must not be there.
	if exists(t, f.path("a")) || exists(t, f.path("c")) {
		t.Error("files were installed before the DISALLOW check failed")
	}
	if got := readFile(t, f.path("b")); got != "old b" {
		t.Errorf("b = %q, want it untouched", got)
	}
}

func TestInstall_DisallowCountsEveryBlockedPath(t *testing.T) {
	f := newFixture(t, tree{"a": "1", "b": "2", "c": "3"})
	makeTree(t, f.host, tree{"a": "old", "b": "old", "c": "old"})
	err := f.install(spec(appspec.File{Source: "/", Destination: f.host, Line: 4}))
	if !errors.Is(err, ErrFileExists) || !strings.Contains(err.Error(), "and 2 more") {
		t.Fatalf("err = %v, want ErrFileExists naming a and 2 more", err)
	}
}

func TestInstall_OverwriteReplacesFile(t *testing.T) {
	f := newFixture(t, tree{"app/config": "new", "app/link": linkPrefix + "config"})
	if err := os.Chmod(filepath.Join(f.archive, "app/config"), 0o640); err != nil {
		t.Fatal(err)
	}
	makeTree(t, f.host, tree{
		"outside/precious": "do not write through links",
		"dest/config":      linkPrefix + "../outside/precious",
		"dest/link":        "a file where the bundle has a link",
	})
	s := spec(appspec.File{Source: "app", Destination: f.path("dest"), Line: 4})
	s.FileExistsBehavior = appspec.FileExistsOverwrite
	f.mustInstall(s)

	info, err := os.Lstat(f.path("dest/config"))
	if err != nil {
		t.Fatal(err)
	}
	if !info.Mode().IsRegular() || info.Mode().Perm() != 0o640 {
		t.Errorf("dest/config mode = %v, want a regular file with the bundle's -rw-r-----", info.Mode())
	}
	if got := readFile(t, f.path("dest/config")); got != "new" {
		t.Errorf("dest/config = %q, want new", got)
	}
	if got := readFile(t, f.path("outside/precious")); got != "do not write through links" {
		t.Errorf("the old symlink's target was written through: %q", got)
	}
	if got, err := os.Readlink(f.path("dest/link")); err != nil || got != "config" {
		t.Errorf("dest/link = %q, %v; want a symlink to config", got, err)
	}
	entries, err := os.ReadDir(f.path("dest"))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".slipway-new") {
			t.Errorf("temporary file %s left behind", e.Name())
		}
	}
	// Overwritten files are this deployment's now: the next one removes them.
	if got := f.cleanupLines(); !slices.Contains(got, f.path("dest/config")) {
		t.Errorf("cleanup list %q does not hold the overwritten file", got)
	}
}

func TestInstall_RetainKeepsOldFileAndCopiesSiblings(t *testing.T) {
	f := newFixture(t, tree{"app/old": "new content", "app/fresh": "fresh"})
	makeTree(t, f.host, tree{"old": "old content"})
	s := spec(appspec.File{Source: "app", Destination: f.host, Line: 4})
	s.FileExistsBehavior = appspec.FileExistsRetain
	f.mustInstall(s)
	if got := readFile(t, f.path("old")); got != "old content" {
		t.Errorf("old = %q, want it kept", got)
	}
	if got := readFile(t, f.path("fresh")); got != "fresh" {
		t.Errorf("fresh = %q", got)
	}
	if got, want := f.cleanupLines(), []string{f.path("fresh")}; !slices.Equal(got, want) {
		t.Errorf("cleanup list = %q, want %q (a retained file is not ours)", got, want)
	}
}

func TestInstall_AppSpecOverridesDeploymentOption(t *testing.T) {
	cases := []struct {
		appspec, option appspec.FileExistsBehavior
		want            string // content of the existing file afterwards, or "error"
	}{
		{appspec.FileExistsOverwrite, appspec.FileExistsDisallow, "new"},
		{appspec.FileExistsRetain, appspec.FileExistsOverwrite, "old"},
		{appspec.FileExistsDisallow, appspec.FileExistsOverwrite, "error"},
		{appspec.FileExistsUnset, appspec.FileExistsOverwrite, "new"},
		{appspec.FileExistsUnset, appspec.FileExistsRetain, "old"},
		{appspec.FileExistsUnset, appspec.FileExistsUnset, "error"},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("appspec=%v,option=%v", tc.appspec, tc.option), func(t *testing.T) {
			f := newFixture(t, tree{"f": "new"})
			makeTree(t, f.host, tree{"f": "old"})
			s := spec(appspec.File{Source: "f", Destination: f.host, Line: 4})
			s.FileExistsBehavior = tc.appspec
			req := f.request(s)
			req.FileExists = tc.option
			err := f.in.Install(context.Background(), req)
			if tc.want == "error" {
				if !errors.Is(err, ErrFileExists) {
					t.Fatalf("err = %v, want ErrFileExists", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Install: %v", err)
			}
			if got := readFile(t, f.path("f")); got != tc.want {
				t.Errorf("f = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestInstall_DirectoryWhereFileGoesIsError(t *testing.T) {
	for _, b := range []appspec.FileExistsBehavior{appspec.FileExistsOverwrite, appspec.FileExistsRetain} {
		t.Run(b.String(), func(t *testing.T) {
			f := newFixture(t, tree{"index.html": "x"})
			makeTree(t, f.host, tree{"index.html/": ""})
			s := spec(appspec.File{Source: "index.html", Destination: f.host, Line: 4})
			s.FileExistsBehavior = b
			err := f.install(s)
			if !errors.Is(err, ErrTypeConflict) || !strings.Contains(err.Error(), f.path("index.html")) {
				t.Fatalf("err = %v, want ErrTypeConflict naming the path", err)
			}
		})
	}
}

func TestInstall_SymlinkRecreated(t *testing.T) {
	f := newFixture(t, tree{"releases/v1/app": "v1", "current": linkPrefix + "releases/v1", "dangling": linkPrefix + "logs/app.log"})
	f.mustInstall(spec(appspec.File{Source: "/", Destination: f.host, Line: 4}))
	for name, want := range map[string]string{"current": "releases/v1", "dangling": "logs/app.log"} {
		info, err := os.Lstat(f.path(name))
		if err != nil {
			t.Fatal(err)
		}
		if info.Mode()&fs.ModeSymlink == 0 {
			t.Errorf("%s is %v, want a symlink", name, info.Mode())
			continue
		}
		if got, _ := os.Readlink(f.path(name)); got != want {
			t.Errorf("%s -> %q, want %q", name, got, want)
		}
	}
	if got := readFile(t, f.path("current/app")); got != "v1" {
		t.Errorf("current/app = %q", got)
	}
}

func TestInstall_CleanupRunsBeforeExistenceChecks(t *testing.T) {
	f := newFixture(t, tree{"app/a": "1", "app/sub/b": "2"})
	s := spec(appspec.File{Source: "app", Destination: f.path("www"), Line: 4})
	f.mustInstall(s)
	makeTree(t, f.host, tree{"www/sub/user-upload": "keep me"})

	// Same bundle again under DISALLOW: it works because the previous install's files go first.
	if err := os.WriteFile(filepath.Join(f.archive, "app/a"), []byte("v2"), 0o644); err != nil {
		t.Fatal(err)
	}
	f.mustInstall(s)
	if got := readFile(t, f.path("www/a")); got != "v2" {
		t.Errorf("www/a = %q, want v2", got)
	}
	if got := readFile(t, f.path("www/sub/user-upload")); got != "keep me" {
		t.Errorf("user-upload = %q", got)
	}
	// www/sub survived the cleanup, so this time it existed: not ours to record.
	want := []string{f.path("www/a"), f.path("www/sub/b")}
	if got := f.cleanupLines(); !slices.Equal(got, want) {
		t.Errorf("cleanup list = %q, want %q", got, want)
	}
}

func TestInstall_InterruptedInstallIsCleanedUpNext(t *testing.T) {
	requireRoot(t)
	requireTool(t, "chattr")
	// More files than one batch, so the failure comes after a batch boundary.
	bundle := tree{"locked-src/late": "never installed"}
	for i := range batchSize + 300 {
		bundle[fmt.Sprintf("app/d%02d/f%04d", i%20, i)] = "x"
	}
	f := newFixture(t, bundle)
	locked := f.path("locked")
	if err := os.Mkdir(locked, 0o755); err != nil {
		t.Fatal(err)
	}
	// An immutable directory refuses new entries even to root: the copy into it fails after
	// everything before it was written, as a crash or a full disk would stop the install.
	if out, err := exec.Command("chattr", "+i", locked).CombinedOutput(); err != nil {
		missing(t, "chattr +i does not work here: %v: %s", err, out)
	}
	t.Cleanup(func() { exec.Command("chattr", "-i", locked).Run() })

	s := spec(
		appspec.File{Source: "app", Destination: f.path("www"), Line: 4},
		appspec.File{Source: "locked-src", Destination: locked, Line: 6},
	)
	err := f.install(s)
	if err == nil || !strings.Contains(err.Error(), filepath.Join(locked, "late")) {
		t.Fatalf("err = %v, want a failure installing %s", err, filepath.Join(locked, "late"))
	}
	if !exists(t, f.path("www/d07/f0007")) {
		t.Fatal("the files before the failure were not written; the test proves nothing")
	}

	if err := f.in.Cleanup(context.Background(), f.cleanupFile()); err != nil {
		t.Fatalf("Cleanup: %v", err)
	}
	if exists(t, f.path("www")) {
		t.Error("www is still there after cleaning up the interrupted install")
	}
	if !exists(t, locked) {
		t.Error("the pre-existing directory was removed")
	}
}

func TestInstall_WindowsAppSpecRefused(t *testing.T) {
	f := newFixture(t, tree{"a": "1"})
	s := spec(appspec.File{Source: "a", Destination: f.host, Line: 4})
	s.OS = appspec.OSWindows
	if err := f.install(s); !errors.Is(err, ErrWrongOS) {
		t.Fatalf("err = %v, want ErrWrongOS", err)
	}
}

func TestInstall_CanceledContextStops(t *testing.T) {
	f := newFixture(t, tree{"a": "1"})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := f.in.Install(ctx, f.request(spec(appspec.File{Source: "a", Destination: f.host, Line: 4})))
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if exists(t, f.path("a")) {
		t.Error("a was installed with a canceled context")
	}
}
