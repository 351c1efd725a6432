package bundle

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

var allFormats = []Format{FormatZip, FormatTar, FormatTgz}

// sampleTree builds a tree with the shapes a bundle carries: modes, nested and empty
// directories, symlinks to files and directories (one dangling), a long name, a hardlink.
// Files are created in the order given by order so two calls can differ in creation order.
func sampleTree(t *testing.T, dir string, reverse bool) {
	t.Helper()
	long := strings.Repeat("long-name-", 12) + ".txt" // past tar's 100-byte name field
	files := []struct {
		name string
		mode fs.FileMode
		body string
	}{
		{"appspec.yml", 0o644, "version: 0.0\nos: linux\n"},
		{"scripts/start.sh", 0o755, "#!/bin/sh\necho start\n"},
		{"scripts/secret.env", 0o600, "TOKEN=x\n"},
		{"lib/readonly.txt", 0o444, "read only\n"},
		{"lib/deep/er/still/" + long, 0o644, "long\n"},
		{"bin/setuid-tool", 0o755 | fs.ModeSetuid, "#!/bin/sh\n"},
		{"empty.txt", 0o644, ""},
		{"üñí.txt", 0o644, "utf-8 name\n"},
	}
	if reverse {
		slices.Reverse(files)
	}
	for _, f := range files {
		p := filepath.Join(dir, filepath.FromSlash(f.name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(f.body), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, f.mode); err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range []struct {
		name string
		mode fs.FileMode
	}{{"empty-dir", 0o755}, {"private", 0o700}, {"shared", 0o777 | fs.ModeSticky}} {
		p := filepath.Join(dir, d.name)
		if err := os.Mkdir(p, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, d.mode); err != nil {
			t.Fatal(err)
		}
	}
	for _, l := range [][2]string{
		{"bin/start", "../scripts/start.sh"},
		{"current", "lib/deep"},
		{"dangling", "not-yet-deployed"},
	} {
		if err := os.Symlink(l[1], filepath.Join(dir, l[0])); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Link(filepath.Join(dir, "appspec.yml"), filepath.Join(dir, "hardlinked.yml")); err != nil {
		t.Fatal(err)
	}
}

func build(t *testing.T, dir string, format Format, opts BuildOptions) ([]byte, string) {
	t.Helper()
	var buf bytes.Buffer
	sum, err := Build(context.Background(), &buf, dir, format, opts)
	if err != nil {
		t.Fatalf("Build(%v): %v", format, err)
	}
	return buf.Bytes(), sum
}

func TestBuild_Deterministic(t *testing.T) {
	a := t.TempDir()
	sampleTree(t, a, false)
	b := t.TempDir()
	sampleTree(t, b, true)
	// Different clocks on the second tree: mtimes must not reach the bundle.
	later := time.Date(2031, 5, 6, 7, 8, 9, 0, time.UTC)
	_ = filepath.WalkDir(b, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type()&fs.ModeSymlink == 0 {
			_ = os.Chtimes(p, later, later)
		}
		return nil
	})
	for _, f := range allFormats {
		t.Run(f.String(), func(t *testing.T) {
			first, sum1 := build(t, a, f, BuildOptions{})
			again, sum2 := build(t, a, f, BuildOptions{})
			other, sum3 := build(t, b, f, BuildOptions{})
			if !bytes.Equal(first, again) || sum1 != sum2 {
				t.Errorf("two builds of one tree differ: %s vs %s", sum1, sum2)
			}
			if !bytes.Equal(first, other) || sum1 != sum3 {
				t.Errorf("builds of equal trees made in another order at another time differ: %s vs %s", sum1, sum3)
			}
			digest, err := Digest(bytes.NewReader(first))
			if err != nil || digest != sum1 {
				t.Errorf("Digest = %s, %v; want Build's %s", digest, err, sum1)
			}
			if got := Detect(first); got != f {
				t.Errorf("Detect(built %v) = %v", f, got)
			}
		})
	}
}

func TestBuild_RoundTrip(t *testing.T) {
	src := t.TempDir()
	sampleTree(t, src, false)
	want := snapshot(t, src)
	// Extraction drops setuid and setgid, by design; everything else must come back.
	want["bin/setuid-tool"] = strings.Replace(want["bin/setuid-tool"], "u", "-", 1)
	for _, f := range allFormats {
		t.Run(f.String(), func(t *testing.T) {
			data, _ := build(t, src, f, BuildOptions{})
			s := newSandbox(t)
			res, err := s.extract(t, data, Limits{})
			if err != nil {
				t.Fatalf("Extract: %v", err)
			}
			got := snapshot(t, s.dest)
			for _, k := range slices.Sorted(maps.Keys(want)) {
				if got[k] != want[k] {
					t.Errorf("%s: got %q, want %q", k, got[k], want[k])
				}
			}
			for k := range got {
				if _, ok := want[k]; !ok {
					t.Errorf("%s: extracted but not in the source", k)
				}
			}
			if res.Format != f || res.Entries != len(want) || res.StrippedDir != "" {
				t.Errorf("Result = %+v, want format %v, %d entries, nothing stripped", res, f, len(want))
			}
			s.checkContained(t)
		})
	}
}

func TestBuild_Exclude(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{
		"appspec.yml": "version: 0.0\n", ".git/HEAD": "ref", ".git/objects/x": "x", "web/node_modules/m.js": "m", "web/app.js": "a",
	})
	var asked []string
	data, _ := build(t, dir, FormatTar, BuildOptions{Exclude: func(rel string) bool {
		asked = append(asked, rel)
		return rel == ".git" || strings.HasSuffix(rel, "/node_modules")
	}})
	s := newSandbox(t)
	if _, err := s.extract(t, data, Limits{}); err != nil {
		t.Fatal(err)
	}
	got := slices.Sorted(maps.Keys(snapshot(t, s.dest)))
	want := []string{"appspec.yml", "web", "web/app.js"}
	if !slices.Equal(got, want) {
		t.Errorf("extracted %v, want %v", got, want)
	}
	if slices.Contains(asked, ".git/HEAD") {
		t.Errorf("Exclude was asked about %q inside an excluded directory", ".git/HEAD")
	}
}

func TestBuild_RefusesUnsafeLinks(t *testing.T) {
	tests := []struct {
		name  string
		links [][2]string
		want  error
	}{
		{"absolute", [][2]string{{"etc", "/etc"}}, ErrUnsafePath},
		{"relative out", [][2]string{{"up", "../.."}}, ErrUnsafePath},
		{"out through another link", [][2]string{{"a/b/l1", "../.."}, {"l2", "a/b/l1/.."}}, ErrUnsafePath},
		{"loop", [][2]string{{"l1", "l2"}, {"l2", "l1"}}, ErrUnsafePath},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.MkdirAll(filepath.Join(dir, "a", "b"), 0o755); err != nil {
				t.Fatal(err)
			}
			for _, l := range tt.links {
				if err := os.Symlink(l[1], filepath.Join(dir, filepath.FromSlash(l[0]))); err != nil {
					t.Fatal(err)
				}
			}
			_, err := Build(context.Background(), &bytes.Buffer{}, dir, FormatTar, BuildOptions{})
			if !errors.Is(err, tt.want) {
				t.Fatalf("Build error = %v, want %v", err, tt.want)
			}
			if !strings.Contains(err.Error(), tt.links[0][0]) && !strings.Contains(err.Error(), tt.links[len(tt.links)-1][0]) {
				t.Errorf("error %q does not name the link", err)
			}
		})
	}
}

func TestBuild_RefusesSpecialFiles(t *testing.T) {
	dir := t.TempDir()
	if err := mkfifo(filepath.Join(dir, "pipe")); err != nil {
		t.Skipf("cannot make a fifo here: %v", err)
	}
	_, err := Build(context.Background(), &bytes.Buffer{}, dir, FormatZip, BuildOptions{})
	if !errors.Is(err, ErrUnsupportedEntry) || !strings.Contains(err.Error(), "pipe") {
		t.Errorf("Build error = %v, want %v naming %q", err, ErrUnsupportedEntry, "pipe")
	}
}

func TestBuild_UnknownFormat(t *testing.T) {
	_, err := Build(context.Background(), &bytes.Buffer{}, t.TempDir(), FormatUnknown, BuildOptions{})
	if !errors.Is(err, ErrUnsupportedFormat) {
		t.Errorf("Build error = %v, want %v", err, ErrUnsupportedFormat)
	}
}

func TestDigestFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "b")
	if err := os.WriteFile(p, []byte("abc"), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := DigestFile(p)
	want := "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" // sha256("abc"), FIPS 180-2
	if err != nil || got != want {
		t.Errorf("DigestFile = %s, %v; want %s", got, err, want)
	}
	if _, err := DigestFile(p + "-missing"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("DigestFile(missing) error = %v, want fs.ErrNotExist", err)
	}
}
