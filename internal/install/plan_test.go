package install

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/slipway-deploy/slipway/internal/appspec"
)

// brief shows instructions as "kind destination[ <- source]" with paths relative to the fixture,
// so expectations read like the reference's test tables.
func (f *fixture) brief(ins []Instruction) []string {
	out := make([]string, len(ins))
	for i, in := range ins {
		s := in.Kind.String() + " " + strings.TrimPrefix(in.Destination, f.host)
		if in.Source != "" {
			rel := strings.TrimPrefix(strings.TrimPrefix(in.Source, f.archive), "/")
			if rel == "" {
				rel = "/"
			}
			s += " <- " + rel
		}
		if in.Target != "" {
			s += " -> " + in.Target
		}
		out[i] = s
	}
	return out
}

func (f *fixture) plan(s *appspec.Spec) ([]Instruction, error) {
	f.t.Helper()
	return Plan(s, f.archive)
}

func (f *fixture) mustPlan(s *appspec.Spec) []string {
	f.t.Helper()
	ins, err := f.plan(s)
	if err != nil {
		f.t.Fatalf("Plan: %v", err)
	}
	return f.brief(ins)
}

func wantPlan(t *testing.T, got, want []string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Errorf("plan:\n got  %q\n want %q", got, want)
	}
}

func TestPlan_FileLandsUnderDestinationWithBaseName(t *testing.T) {
	f := newFixture(t, tree{"src1": "x", "sub/src2": "y"})
	got := f.mustPlan(spec(
		appspec.File{Source: "src1", Destination: f.host, Line: 3},
		appspec.File{Source: "/sub/src2", Destination: f.host + "/", Line: 5},
	))
	wantPlan(t, got, []string{"copy /src1 <- src1", "copy /src2 <- sub/src2"})
}

func TestPlan_MissingAncestorsGetMkdirs(t *testing.T) {
	f := newFixture(t, tree{"src1": "x"})
	got := f.mustPlan(spec(appspec.File{Source: "src1", Destination: f.path("foo/bar"), Line: 3}))
	wantPlan(t, got, []string{"mkdir /foo", "mkdir /foo/bar", "copy /foo/bar/src1 <- src1"})
}

func TestPlan_DirectorySourceCopiesContents(t *testing.T) {
	f := newFixture(t, tree{"src1/a": "1", "src1/sub/b": "2", "src1/empty/": ""})
	if err := os.Mkdir(f.path("dst1"), 0o755); err != nil {
		t.Fatal(err)
	}
	got := f.mustPlan(spec(appspec.File{Source: "src1", Destination: f.path("dst1"), Line: 3}))
	// dst1 exists, so it gets no mkdir: it is not this deployment's to remove later.
	wantPlan(t, got, []string{
		"copy /dst1/a <- src1/a",
		"mkdir /dst1/empty <- src1/empty",
		"mkdir /dst1/sub <- src1/sub",
		"copy /dst1/sub/b <- src1/sub/b",
	})
}

func TestPlan_RootSourceCopiesWholeBundleWithAppSpec(t *testing.T) {
	for _, src := range []string{"/", "", ".", "./"} {
		t.Run("source="+src, func(t *testing.T) {
			f := newFixture(t, tree{"appspec.yml": "version: 0.0", "index.html": "hi", "scripts/start.sh": "#!/bin/sh"})
			got := f.mustPlan(spec(appspec.File{Source: src, Destination: f.path("app"), Line: 3}))
			wantPlan(t, got, []string{
				"mkdir /app <- /",
				"copy /app/appspec.yml <- appspec.yml",
				"copy /app/index.html <- index.html",
				"mkdir /app/scripts <- scripts",
				"copy /app/scripts/start.sh <- scripts/start.sh",
			})
		})
	}
}

func TestPlan_TrailingSlashSourceIsTheDirectory(t *testing.T) {
	f := newFixture(t, tree{"web/index.html": "hi"})
	got := f.mustPlan(spec(appspec.File{Source: "web/", Destination: f.host, Line: 3}))
	wantPlan(t, got, []string{"copy /index.html <- web/index.html"})
}

func TestPlan_EmptyFilesNoInstructions(t *testing.T) {
	f := newFixture(t, tree{"a": "1"})
	if got := f.mustPlan(spec()); len(got) != 0 {
		t.Errorf("plan = %q, want nothing", got)
	}
}

func TestPlan_TwoSourcesOneTargetIsError(t *testing.T) {
	f := newFixture(t, tree{"a/config": "1", "b/config": "2"})
	_, err := f.plan(spec(
		appspec.File{Source: "a/config", Destination: f.host, Line: 4},
		appspec.File{Source: "b/config", Destination: f.host, Line: 6},
	))
	if !errors.Is(err, ErrCollision) {
		t.Fatalf("err = %v, want ErrCollision", err)
	}
	for _, want := range []string{"a/config", "b/config", "line 4", "line 6", f.path("config")} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}

func TestPlan_MkdirOnCopyTargetIsError(t *testing.T) {
	f := newFixture(t, tree{"x": "file", "d/x/inner": "1"})
	_, err := f.plan(spec(
		appspec.File{Source: "x", Destination: f.host, Line: 4},
		appspec.File{Source: "d", Destination: f.host, Line: 6},
	))
	if !errors.Is(err, ErrCollision) {
		t.Fatalf("err = %v, want ErrCollision", err)
	}
}

func TestPlan_CopyOnMkdirTargetIsError(t *testing.T) {
	f := newFixture(t, tree{"d/x/inner": "1", "x": "file"})
	_, err := f.plan(spec(
		appspec.File{Source: "d", Destination: f.host, Line: 4},
		appspec.File{Source: "x", Destination: f.host, Line: 6},
	))
	if !errors.Is(err, ErrCollision) {
		t.Fatalf("err = %v, want ErrCollision", err)
	}
}

func TestPlan_DuplicateMkdirsMerged(t *testing.T) {
	f := newFixture(t, tree{"a": "1", "b": "2"})
	got := f.mustPlan(spec(
		appspec.File{Source: "a", Destination: f.path("new/dir"), Line: 3},
		appspec.File{Source: "b", Destination: f.path("new/dir") + "/", Line: 5},
	))
	wantPlan(t, got, []string{"mkdir /new", "mkdir /new/dir", "copy /new/dir/a <- a", "copy /new/dir/b <- b"})
}

func TestPlan_SourceErrors(t *testing.T) {
	cases := []struct {
		name   string
		source string
		want   error
	}{
		{"missing", "nope.txt", ErrSourceMissing},
		{"missing below a file", "file/below", ErrSourceMissing},
		{"leaves the bundle", "../outside", ErrSourceMissing},
		{"through a symlink", "link/file", ErrUnsafeSymlink},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, tree{"file": "1", "real/file": "2", "link": linkPrefix + "real"})
			_, err := f.plan(spec(appspec.File{Source: tc.source, Destination: f.host, Line: 9}))
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if !strings.Contains(err.Error(), "line 9") || !strings.Contains(err.Error(), tc.source) {
				t.Errorf("error %q should name line 9 and %q", err, tc.source)
			}
		})
	}
}

func TestPlan_SymlinkSourceIsRecreatedNotFollowed(t *testing.T) {
	f := newFixture(t, tree{"real/a": "1", "link": linkPrefix + "real"})
	got := f.mustPlan(spec(appspec.File{Source: "link", Destination: f.host, Line: 3}))
	wantPlan(t, got, []string{"symlink /link <- link -> real"})
}

func TestPlan_UnsafeSymlinksRefused(t *testing.T) {
	cases := []struct {
		name string
		tree tree
	}{
		{"absolute", tree{"l": linkPrefix + "/etc/passwd"}},
		{"climbs out", tree{"sub/l": linkPrefix + "../../x"}},
		{"chain climbs out", tree{"a/b/s": linkPrefix + "../../q", "a/b/l": linkPrefix + "s/../.."}},
		{"through an absolute link", tree{"s": linkPrefix + "/etc", "l": linkPrefix + "s/passwd"}},
		{"loop", tree{"x": linkPrefix + "y/z", "y": linkPrefix + "x"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, tc.tree)
			_, err := f.plan(spec(appspec.File{Source: "/", Destination: f.host, Line: 3}))
			if !errors.Is(err, ErrUnsafeSymlink) {
				t.Fatalf("err = %v, want ErrUnsafeSymlink", err)
			}
		})
	}
}

func TestPlan_SafeSymlinksKept(t *testing.T) {
	f := newFixture(t, tree{
		"shared/conf":    "1",
		"app/conf":       linkPrefix + "../shared/conf",
		"app/current":    linkPrefix + ".",
		"app/later":      linkPrefix + "not-yet-created",
		"app/via-link":   linkPrefix + "current/conf",
		"app/deep/up":    linkPrefix + "../../shared",
		"app/deep/plain": "2",
	})
	ins, err := f.plan(spec(appspec.File{Source: "/", Destination: f.host, Line: 3}))
	if err != nil {
		t.Fatalf("Plan: %v", err)
	}
	links := 0
	for _, in := range ins {
		if in.Kind == KindSymlink {
			links++
		}
	}
	if links != 5 {
		t.Errorf("symlink instructions = %d, want 5: %q", links, f.brief(ins))
	}
}

func TestPlan_FileWhereDirectoryNeededIsError(t *testing.T) {
	f := newFixture(t, tree{"a": "1"})
	if err := os.WriteFile(f.path("blocker"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, dest := range []string{f.path("blocker"), f.path("blocker/below")} {
		_, err := f.plan(spec(appspec.File{Source: "a", Destination: dest, Line: 3}))
		if !errors.Is(err, ErrTypeConflict) {
			t.Fatalf("dest %s: err = %v, want ErrTypeConflict", dest, err)
		}
		if !strings.Contains(err.Error(), f.path("blocker")) {
			t.Errorf("error %q should name %s", err, f.path("blocker"))
		}
	}
}

func TestPlan_SpecialFileRefused(t *testing.T) {
	f := newFixture(t, tree{"a": "1"})
	if err := syscall.Mkfifo(filepath.Join(f.archive, "pipe"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := f.plan(spec(appspec.File{Source: "/", Destination: f.host, Line: 3}))
	if !errors.Is(err, ErrUnsupportedFile) || !strings.Contains(err.Error(), "named pipe") {
		t.Fatalf("err = %v, want ErrUnsupportedFile about a named pipe", err)
	}
}

func TestPlan_NewlineInNameRefused(t *testing.T) {
	f := newFixture(t, tree{"bad\nname": "1"})
	_, err := f.plan(spec(appspec.File{Source: "/", Destination: f.host, Line: 3}))
	if !errors.Is(err, ErrUnsupportedFile) {
		t.Fatalf("err = %v, want ErrUnsupportedFile", err)
	}
}

func TestPlan_RelativeDestinationRefused(t *testing.T) {
	f := newFixture(t, tree{"a": "1"})
	_, err := f.plan(spec(appspec.File{Source: "a", Destination: "opt/app", Line: 3}))
	if !errors.Is(err, ErrBadDestination) {
		t.Fatalf("err = %v, want ErrBadDestination", err)
	}
}

func TestKind_TextRoundTrip(t *testing.T) {
	for _, k := range []Kind{KindMkdir, KindCopy, KindSymlink} {
		b, err := k.MarshalText()
		if err != nil {
			t.Fatal(err)
		}
		var got Kind
		if err := got.UnmarshalText(b); err != nil || got != k {
			t.Errorf("round trip of %v = %v, %v", k, got, err)
		}
	}
	if _, err := Kind(0).MarshalText(); err == nil {
		t.Error("MarshalText of the zero Kind succeeded")
	}
}
