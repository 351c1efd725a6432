package bundle

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestExtract_StripLeadingDir(t *testing.T) {
	global := tarFile{Header: tar.Header{Name: "pax_global_header", Typeflag: tar.TypeXGlobalHeader,
		PAXRecords: map[string]string{"comment": "0123456789abcdef0123456789abcdef01234567"}}}
	dir := func(name string) tarFile {
		return tarFile{Header: tar.Header{Name: name, Typeflag: tar.TypeDir, Mode: 0o755}}
	}
	file := func(name string) tarFile { return tarFile{Header: tar.Header{Name: name}, Body: name} }
	link := func(name, target string) tarFile {
		return tarFile{Header: tar.Header{Name: name, Typeflag: tar.TypeSymlink, Linkname: target, Mode: 0o777}}
	}
	tests := []struct {
		name      string
		archive   func(t *testing.T) []byte
		wantStrip string
		wantPaths []string
		wantErr   error
	}{
		{
			name: "github tarball",
			archive: func(t *testing.T) []byte {
				return makeTgz(t, global, dir("repo-abc/"), file("repo-abc/appspec.yml"), dir("repo-abc/scripts/"),
					file("repo-abc/scripts/start.sh"), link("repo-abc/current", "scripts"))
			},
			wantStrip: "repo-abc",
			wantPaths: []string{"appspec.yml", "current", "scripts", "scripts/start.sh"},
		},
		{
			name: "child named like the stripped directory",
			archive: func(t *testing.T) []byte {
				return makeTar(t, file("app/appspec.yaml"), file("app/app/inner.txt"))
			},
			wantStrip: "app",
			wantPaths: []string{"app", "app/inner.txt", "appspec.yaml"},
		},
		{
			name: "child named like the directory the strip moves aside",
			archive: func(t *testing.T) []byte {
				return makeTar(t, file("app/appspec.yml"), file("app/.slipway-strip/x"), file("app/.slipway-strip-2"))
			},
			wantStrip: "app",
			wantPaths: []string{".slipway-strip", ".slipway-strip-2", ".slipway-strip/x", "appspec.yml"},
		},
		{
			name: "stripped directory named like the one moved aside",
			archive: func(t *testing.T) []byte {
				return makeTar(t, file(".slipway-strip/appspec.yml"), file(".slipway-strip/.slipway-strip-2/x"))
			},
			wantStrip: ".slipway-strip",
			wantPaths: []string{".slipway-strip-2", ".slipway-strip-2/x", "appspec.yml"},
		},
		{
			name: "zip without directory entries",
			archive: func(t *testing.T) []byte {
				return makeZip(t, zipFile{Name: "site/appspec.json", Body: "{}"}, zipFile{Name: "site/index.html", Body: "hi"})
			},
			wantStrip: "site",
			wantPaths: []string{"appspec.json", "index.html"},
		},
		{
			name:      "appspec at the root",
			archive:   func(t *testing.T) []byte { return makeTar(t, file("appspec.yml"), file("src/x")) },
			wantPaths: []string{"appspec.yml", "src", "src/x"},
		},
		{
			name:      "lone directory without an appspec",
			archive:   func(t *testing.T) []byte { return makeTar(t, file("src/x"), file("src/y")) },
			wantPaths: []string{"src", "src/x", "src/y"},
		},
		{
			name:      "appspec only deeper down",
			archive:   func(t *testing.T) []byte { return makeTar(t, file("a/b/appspec.yml")) },
			wantPaths: []string{"a", "a/b", "a/b/appspec.yml"},
		},
		{
			name:      "appspec.yml is a directory",
			archive:   func(t *testing.T) []byte { return makeTar(t, dir("a/appspec.yml/"), file("a/x")) },
			wantPaths: []string{"a", "a/appspec.yml", "a/x"},
		},
		{
			name:      "two top-level directories",
			archive:   func(t *testing.T) []byte { return makeTar(t, file("a/appspec.yml"), file("b/x")) },
			wantPaths: []string{"a", "a/appspec.yml", "b", "b/x"},
		},
		{
			name: "link that only leaves the tree once the directory is stripped",
			archive: func(t *testing.T) []byte {
				return makeTar(t, file("app/appspec.yml"), file("app/x"), link("app/l", "../app/x"))
			},
			wantErr: ErrUnsafePath,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSandbox(t)
			res, err := s.extract(t, tt.archive(t), Limits{})
			s.checkContained(t)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("Extract error = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Extract: %v", err)
			}
			if res.StrippedDir != tt.wantStrip {
				t.Errorf("StrippedDir = %q, want %q", res.StrippedDir, tt.wantStrip)
			}
			got := slices.Sorted(maps.Keys(snapshot(t, s.dest)))
			if !slices.Equal(got, tt.wantPaths) {
				t.Errorf("extracted %v, want %v", got, tt.wantPaths)
			}
		})
	}
}

func TestExtract_Modes(t *testing.T) {
	data := makeTar(t,
		tarFile{Header: tar.Header{Name: "ro/", Typeflag: tar.TypeDir, Mode: 0o555}},
		tarFile{Header: tar.Header{Name: "ro/inside", Mode: 0o640}, Body: "x"},
		tarFile{Header: tar.Header{Name: "tmp/", Typeflag: tar.TypeDir, Mode: 0o1777}},
		tarFile{Header: tar.Header{Name: "suid", Mode: 0o4755}, Body: "x"},
		tarFile{Header: tar.Header{Name: "sgid", Mode: 0o2750}, Body: "x"},
		tarFile{Header: tar.Header{Name: "implicit/child", Mode: 0o777}, Body: "x"},
		tarFile{Header: tar.Header{Name: "twice/", Typeflag: tar.TypeDir, Mode: 0o700}},
		tarFile{Header: tar.Header{Name: "twice/", Typeflag: tar.TypeDir, Mode: 0o750}},
	)
	s := newSandbox(t)
	t.Cleanup(func() { _ = os.Chmod(filepath.Join(s.dest, "ro"), 0o755) })
	if _, err := s.extract(t, data, Limits{}); err != nil {
		t.Fatalf("Extract: %v", err)
	}
	tests := []struct {
		path string
		want fs.FileMode
	}{
		{"ro", fs.ModeDir | 0o555},
		{"ro/inside", 0o640},
		{"tmp", fs.ModeDir | fs.ModeSticky | 0o777},
		{"suid", 0o755},
		{"sgid", 0o750},
		{"implicit", fs.ModeDir | 0o755},
		{"implicit/child", 0o777},
		{"twice", fs.ModeDir | 0o750},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			fi, err := os.Lstat(filepath.Join(s.dest, tt.path))
			if err != nil {
				t.Fatal(err)
			}
			if got := fi.Mode() & (fs.ModeType | modeBits); got != tt.want {
				t.Errorf("mode = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestExtract_ZipDetails(t *testing.T) {
	// A zip as Windows tools make it: `\` separators and no Unix mode.
	data := makeZip(t, zipFile{Name: `dir\sub\file.txt`, Body: "hello"})
	s := newSandbox(t)
	if _, err := s.extract(t, data, Limits{}); err != nil {
		t.Fatalf("Extract: %v", err)
	}
	got, err := os.ReadFile(filepath.Join(s.dest, "dir", "sub", "file.txt"))
	if err != nil || string(got) != "hello" {
		t.Errorf("dir/sub/file.txt = %q, %v; want %q", got, err, "hello")
	}
}

func TestExtract_Hardlink(t *testing.T) {
	data := makeTar(t,
		tarFile{Header: tar.Header{Name: "a/f", Mode: 0o644}, Body: "shared"},
		tarFile{Header: tar.Header{Name: "b/g", Typeflag: tar.TypeLink, Linkname: "a/f"}},
	)
	s := newSandbox(t)
	res, err := s.extract(t, data, Limits{})
	if err != nil {
		t.Fatalf("Extract: %v", err)
	}
	f1, err1 := os.Stat(filepath.Join(s.dest, "a", "f"))
	f2, err2 := os.Stat(filepath.Join(s.dest, "b", "g"))
	if err1 != nil || err2 != nil || !os.SameFile(f1, f2) {
		t.Errorf("b/g is not a hardlink of a/f (%v, %v)", err1, err2)
	}
	if res.Bytes != int64(len("shared")) || res.Entries != 2 {
		t.Errorf("Result = %+v, want 6 bytes, 2 entries", res)
	}
}

func TestExtract_Destination(t *testing.T) {
	data := makeTar(t, tarFile{Header: tar.Header{Name: "f"}, Body: "x"})
	t.Run("created when absent", func(t *testing.T) {
		dest := filepath.Join(t.TempDir(), "a", "b")
		if _, err := Extract(context.Background(), bytes.NewReader(data), int64(len(data)), dest, Limits{}); err != nil {
			t.Fatalf("Extract: %v", err)
		}
		if _, err := os.Stat(filepath.Join(dest, "f")); err != nil {
			t.Error(err)
		}
	})
	t.Run("refused when not empty", func(t *testing.T) {
		dest := t.TempDir()
		writeTree(t, dest, map[string]string{"leftover": "old"})
		_, err := Extract(context.Background(), bytes.NewReader(data), int64(len(data)), dest, Limits{})
		if !errors.Is(err, ErrDestNotEmpty) {
			t.Errorf("Extract error = %v, want %v", err, ErrDestNotEmpty)
		}
	})
}

func TestExtract_Cancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	data := makeTgz(t, tarFile{Header: tar.Header{Name: "f"}, Body: "x"})
	s := newSandbox(t)
	_, err := Extract(ctx, bytes.NewReader(data), int64(len(data)), s.dest, Limits{})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Extract error = %v, want %v", err, context.Canceled)
	}
	if _, err := os.Stat(filepath.Join(s.dest, "f")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("f was extracted after cancellation (stat error %v)", err)
	}
}

func TestExtractReader(t *testing.T) {
	tests := []struct {
		name    string
		data    func(t *testing.T) []byte
		wantErr error
	}{
		{"tar", func(t *testing.T) []byte { return makeTar(t, tarFile{Header: tar.Header{Name: "f"}, Body: "x"}) }, nil},
		{"tgz", func(t *testing.T) []byte { return makeTgz(t, tarFile{Header: tar.Header{Name: "f"}, Body: "x"}) }, nil},
		{"zip", func(t *testing.T) []byte { return makeZip(t, zipFile{Name: "f", Body: "x"}) }, ErrUnsupportedFormat},
		{"empty", func(_ *testing.T) []byte { return nil }, ErrUnsupportedFormat},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSandbox(t)
			res, err := ExtractReader(context.Background(), bytes.NewReader(tt.data(t)), s.dest, Limits{})
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("ExtractReader error = %v, want %v", err, tt.wantErr)
			}
			if err == nil && res.Entries != 1 {
				t.Errorf("Entries = %d, want 1", res.Entries)
			}
			s.checkContained(t)
		})
	}
}

func TestExtractFile(t *testing.T) {
	src := t.TempDir()
	writeTree(t, src, map[string]string{"appspec.yml": "version: 0.0\n", "www/index.html": "<h1>hi</h1>"})
	data, sum := build(t, src, FormatZip, BuildOptions{})
	p := filepath.Join(t.TempDir(), "bundle.bin") // the name says nothing; the bytes do
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if got, err := DigestFile(p); err != nil || got != sum {
		t.Errorf("DigestFile = %s, %v; want %s", got, err, sum)
	}
	dest := filepath.Join(t.TempDir(), "dest")
	res, err := ExtractFile(context.Background(), p, dest, Limits{})
	if err != nil {
		t.Fatalf("ExtractFile: %v", err)
	}
	if res.Format != FormatZip || res.Bytes != int64(len("version: 0.0\n")+len("<h1>hi</h1>")) {
		t.Errorf("Result = %+v", res)
	}
	if _, err := ExtractFile(context.Background(), p+"-missing", dest, Limits{}); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("ExtractFile(missing) error = %v, want fs.ErrNotExist", err)
	}
}
