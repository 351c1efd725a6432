package lifecycle

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/slipway-deploy/slipway/internal/appspec"
	"github.com/slipway-deploy/slipway/internal/bundle"
	"github.com/slipway-deploy/slipway/internal/script"
)

// The tests in this file encode DownloadBundle (DESIGN.md §4–5): archives, the leading-directory
// rule, the appspec check, custom events, and identifiers that become paths.

// buildArchive packs dir into an archive of the given format with internal/bundle.
func buildArchive(t *testing.T, dir string, format bundle.Format) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "bundle."+format.String())
	out, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bundle.Build(context.Background(), out, dir, format, bundle.BuildOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestHost_DownloadBundleRejectsInvalidAppSpec(t *testing.T) {
	tests := []struct {
		name, spec, want string
	}{
		{"misspelt hook", "version: 0.0\nos: linux\nhooks:\n  AfterInstal:\n    - location: a.sh\n", "appspec.yml:4:"},
		{"bad timeout", "version: 0.0\nos: linux\nhooks:\n  AfterInstall:\n    - location: a.sh\n      timeout: soon\n", "appspec.yml:6:"},
		{"bad version", "version: 1.0\nos: linux\n", "appspec.yml:1:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			dest := t.TempDir()
			bundle := newBundle(t, tt.spec, map[string]string{"a.sh": "#!/bin/sh\n"})
			r := f.run(deployment("d-1", bundle), appspec.EventDownloadBundle)
			if r.Status != StatusFailed {
				t.Fatalf("got %s, want Failed", r.Status)
			}
			if !strings.Contains(r.Message+r.Tail, tt.want) {
				t.Fatalf("message %q, tail %q: want %q", r.Message, r.Tail, tt.want)
			}
			if names := dirNames(t, dest); len(names) != 0 {
				t.Errorf("files installed by a refused revision: %v", names)
			}
		})
	}
}

func TestHost_DownloadBundleFromArchive(t *testing.T) {
	for _, format := range []bundle.Format{bundle.FormatTgz, bundle.FormatZip, bundle.FormatTar} {
		t.Run(format.String(), func(t *testing.T) {
			f := newFixture(t)
			dest := filepath.Join(t.TempDir(), "site")
			spec := filesSpec(dest, "hooks:\n  AfterInstall:\n    - location: scripts/after.sh\n")
			dir := newBundle(t, spec, map[string]string{
				"www/index.html":   "hello",
				"scripts/after.sh": "#!/bin/sh\ncat " + dest + "/index.html >> \"$OUT/trace\"\n",
			})
			if err := os.Symlink("index.html", filepath.Join(dir, "www", "home.html")); err != nil {
				t.Fatal(err)
			}
			rs := f.mustDeploy(deployment("d-1", buildArchive(t, dir, format)),
				appspec.EventDownloadBundle, appspec.EventInstall, appspec.EventAfterInstall)
			if notes := strings.Join(result(t, rs, appspec.EventDownloadBundle).Notes, "\n"); !strings.Contains(notes, "("+format.String()+")") {
				t.Errorf("DownloadBundle notes %q do not name the format %s", notes, format)
			}
			if got := f.trace(); !slices.Equal(got, []string{"hello"}) {
				t.Errorf("trace %q, want the installed file's content", got)
			}
			if link, err := os.Readlink(filepath.Join(dest, "home.html")); err != nil || link != "index.html" {
				t.Errorf("home.html: got link %q, %v; want the bundle's symlink to index.html", link, err)
			}
		})
	}
}

func TestHost_StripsLeadingDirectory(t *testing.T) {
	parent := t.TempDir()
	writeTree(t, parent, map[string]string{
		"myapp-1.2/appspec.yml":    hookSpec(appspec.EventBeforeInstall, 60, "scripts/run.sh"),
		"myapp-1.2/scripts/run.sh": "#!/bin/sh\necho stripped >> \"$OUT/trace\"\n",
	})
	for _, tt := range []struct {
		name, bundle string
	}{
		{"tgz", buildArchive(t, parent, bundle.FormatTgz)},
		{"directory", parent},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			rs := f.mustDeploy(deployment("d-1", tt.bundle), appspec.EventDownloadBundle, appspec.EventBeforeInstall)
			if notes := strings.Join(rs[0].Notes, "\n"); !strings.Contains(notes, "leading directory myapp-1.2/ removed") {
				t.Errorf("DownloadBundle notes %q do not mention the stripped directory", notes)
			}
			if !exists(filepath.Join(f.host.Root.ArchiveDir("g", "d-1"), "appspec.yml")) {
				t.Errorf("appspec.yml is not at the archive's root")
			}
			if got := f.trace(); !slices.Equal(got, []string{"stripped"}) {
				t.Errorf("trace %q, want the script to have run", got)
			}
		})
	}
}

func TestHost_CustomEvents(t *testing.T) {
	spec := "version: 0.0\nos: linux\nhooks:\n  CustomEvent:\n    - location: custom.sh\n  AfterInstall:\n    - location: custom.sh\n"
	files := map[string]string{"custom.sh": "#!/bin/sh\necho \"custom $LIFECYCLE_EVENT\" >> \"$OUT/trace\"\n"}

	t.Run("named", func(t *testing.T) {
		f := newFixture(t)
		d := deployment("d-1", newBundle(t, spec, files))
		d.CustomEvents = []string{"CustomEvent"}
		f.mustDeploy(d, appspec.EventDownloadBundle, "CustomEvent")
		if got, want := f.trace(), []string{"custom CustomEvent"}; !slices.Equal(got, want) {
			t.Errorf("trace %q, want %q", got, want)
		}
	})
	t.Run("not named", func(t *testing.T) {
		f := newFixture(t)
		r := f.run(deployment("d-1", newBundle(t, spec, files)), appspec.EventDownloadBundle)
		if r.Status != StatusFailed {
			t.Fatalf("got %s, want Failed: an appspec hook outside the event list is an error", r.Status)
		}
		if !strings.Contains(r.Message, "unknown lifecycle event 'CustomEvent'") {
			t.Errorf("message %q: want it to name CustomEvent", r.Message)
		}
		if r.Tail != "" {
			t.Errorf("tail %q repeats the message's only error", r.Tail)
		}
		if want := []string{"CustomEvent"}; !slices.Equal(r.UndeclaredEvents, want) {
			t.Errorf("UndeclaredEvents = %v, want %v", r.UndeclaredEvents, want)
		}
	})
	t.Run("appspec hook not in the list", func(t *testing.T) {
		f := newFixture(t)
		withUnknown := spec + "  UnknownHook:\n    - location: custom.sh\n"
		d := deployment("d-1", newBundle(t, withUnknown, files))
		d.CustomEvents = []string{"CustomEvent"}
		r := f.run(d, appspec.EventDownloadBundle)
		wantFailure(t, r, script.UnknownError, "appspec.yml file contains unknown lifecycle events: UnknownHook")
		if want := []string{"UnknownHook"}; !slices.Equal(r.UndeclaredEvents, want) {
			t.Errorf("UndeclaredEvents = %v, want %v", r.UndeclaredEvents, want)
		}
	})
	t.Run("other errors too", func(t *testing.T) {
		f := newFixture(t)
		broken := spec + "  ValidateService:\n    - location: custom.sh\n      timeout: soon\n"
		r := f.run(deployment("d-1", newBundle(t, broken, files)), appspec.EventDownloadBundle)
		if r.Status != StatusFailed || len(r.UndeclaredEvents) != 0 {
			t.Errorf("got %s with UndeclaredEvents %v, want Failed with none: naming CustomEvent would not fix it", r.Status, r.UndeclaredEvents)
		}
		if !strings.Contains(r.Message, "(and ") || !strings.Contains(r.Tail, "CustomEvent") {
			t.Errorf("message %q, tail %q: want the first error and every error in the tail", r.Message, r.Tail)
		}
	})
	t.Run("requested but not in appspec", func(t *testing.T) {
		f := newFixture(t)
		d := deployment("d-1", newBundle(t, spec, files))
		d.CustomEvents = []string{"CustomEvent", "CustomHookNotInAppspec"}
		f.mustDeploy(d, appspec.EventDownloadBundle)
		r := f.run(d, "CustomHookNotInAppspec")
		wantFailure(t, r, script.UnknownError,
			"You specified a lifecycle event which is not a default one and doesn't exist in your appspec.yml file: CustomHookNotInAppspec")
	})
}

func TestHost_DeploymentIDsCannotEscapeRoot(t *testing.T) {
	bundle := traceBundle(t, "rev1", "")
	for _, tt := range []struct{ id, group string }{
		{"../../escaped", "g"},
		{"d-1", "../escaped"},
		{"/tmp/escaped", "g"},
		{"d-1", "a/../../escaped"},
		{"..", "g"},
		{"d-1", ""},
	} {
		t.Run(tt.group+" "+tt.id, func(t *testing.T) {
			f := newFixture(t)
			parent := filepath.Dir(string(f.host.Root))
			d := deployment(tt.id, bundle)
			d.GroupID = tt.group
			for _, e := range []string{appspec.EventDownloadBundle, appspec.EventInstall, appspec.EventBeforeInstall} {
				if r := f.run(d, e); r.Status != StatusFailed {
					t.Errorf("%s: got %s, want Failed", e, r.Status)
				}
			}
			// Nothing at all is created, inside the root or next to it.
			if got := dirNames(t, parent); len(got) != 0 {
				t.Errorf("created %v next to the root", got)
			}
		})
	}
}
