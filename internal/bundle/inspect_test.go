package bundle

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io/fs"
	"maps"
	"slices"
	"testing"
	"testing/fstest"
)

// inspect runs Inspect on data.
func inspect(t *testing.T, data []byte, lim Limits) (*Manifest, error) {
	t.Helper()
	return Inspect(context.Background(), bytes.NewReader(data), int64(len(data)), lim)
}

// TestInspect_DescribesWhatExtractWrites extracts each archive to disk and inspects it, and wants
// the same tree: paths, kinds, modes, contents and link targets.
func TestInspect_DescribesWhatExtractWrites(t *testing.T) {
	global := tarFile{Header: tar.Header{Name: "pax_global_header", Typeflag: tar.TypeXGlobalHeader,
		PAXRecords: map[string]string{"comment": "0123456789abcdef0123456789abcdef01234567"}}}
	dir := func(name string, mode int64) tarFile {
		return tarFile{Header: tar.Header{Name: name, Typeflag: tar.TypeDir, Mode: mode}}
	}
	file := func(name, body string, mode int64) tarFile {
		return tarFile{Header: tar.Header{Name: name, Mode: mode}, Body: body}
	}
	link := func(name, target string) tarFile {
		return tarFile{Header: tar.Header{Name: name, Typeflag: tar.TypeSymlink, Linkname: target, Mode: 0o777}}
	}
	hardlink := func(name, target string) tarFile {
		return tarFile{Header: tar.Header{Name: name, Typeflag: tar.TypeLink, Linkname: target}}
	}
	github := []tarFile{global, dir("repo-abc/", 0o755), file("repo-abc/appspec.yml", "version: 0.0\nos: linux\n", 0o644),
		dir("repo-abc/scripts/", 0o750), file("repo-abc/scripts/start.sh", "#!/bin/sh\n", 0o755),
		link("repo-abc/current", "scripts"), hardlink("repo-abc/start-copy.sh", "repo-abc/scripts/start.sh"),
		link("repo-abc/scripts/up", "../appspec.yml")}
	tests := []struct {
		name string
		data func(t *testing.T) []byte
	}{
		{"github tarball, stripped", func(t *testing.T) []byte { return makeTgz(t, github...) }},
		{"tar at the root, with modes", func(t *testing.T) []byte {
			return makeTar(t, file("appspec.yml", "a", 0o600), dir("ro/", 0o555), file("ro/in", "b", 0o640),
				dir("tmp/", 0o1777), file("suid", "c", 0o4755), file("implicit/child", "d", 0o777))
		}},
		{"zip stripped, Windows separators, symlink", func(t *testing.T) []byte {
			return makeZip(t, zipFile{Name: `site\appspec.yml`, Body: "version: 0.0\n"},
				zipFile{Name: `site\www\index.html`, Body: "hi"},
				zipFile{Name: "site/latest", Mode: fs.ModeSymlink | 0o777, Body: "www"})
		}},
		{"dangling link inside", func(t *testing.T) []byte {
			return makeTar(t, file("appspec.yml", "a", 0o644), link("gone", "not/there"))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := tt.data(t)
			s := newSandbox(t)
			want, err := s.extract(t, data, Limits{})
			if err != nil {
				t.Fatalf("Extract: %v", err)
			}
			m, err := inspect(t, data, Limits{})
			if err != nil {
				t.Fatalf("Inspect: %v", err)
			}
			if m.Result != want {
				t.Errorf("Inspect result = %+v, Extract's = %+v", m.Result, want)
			}
			onDisk, inspected := snapshot(t, s.dest), snapshotFS(t, m)
			if !maps.Equal(onDisk, inspected) {
				t.Errorf("Inspect describes\n%v\nExtract wrote\n%v", inspected, onDisk)
			}
			var files []string
			for p, desc := range onDisk {
				if desc[:4] == "file" {
					files = append(files, p)
				}
			}
			slices.Sort(files)
			if tt.name != "dangling link inside" { // fstest opens every link, dangling or not
				if err := fstest.TestFS(m, files...); err != nil {
					t.Error(err)
				}
			}
		})
	}
}

func TestInspect_Open(t *testing.T) {
	data := makeTgz(t,
		tarFile{Header: tar.Header{Name: "app/appspec.yml"}, Body: "version: 0.0\n"},
		tarFile{Header: tar.Header{Name: "app/conf/real.yml"}, Body: "real"},
		tarFile{Header: tar.Header{Name: "app/conf/alias.yml", Typeflag: tar.TypeSymlink, Linkname: "real.yml"}},
		tarFile{Header: tar.Header{Name: "app/cfg", Typeflag: tar.TypeSymlink, Linkname: "conf"}},
		tarFile{Header: tar.Header{Name: "app/dangling", Typeflag: tar.TypeSymlink, Linkname: "nowhere"}},
	)
	m, err := inspect(t, data, Limits{})
	if err != nil {
		t.Fatalf("Inspect: %v", err)
	}
	if m.StrippedDir != "app" {
		t.Errorf("StrippedDir = %q, want app", m.StrippedDir)
	}
	for _, name := range []string{"conf/real.yml", "conf/alias.yml", "cfg/alias.yml", "cfg/real.yml"} {
		if b, err := fs.ReadFile(m, name); err != nil || string(b) != "real" {
			t.Errorf("ReadFile(%s) = %q, %v; want %q", name, b, err, "real")
		}
	}
	for _, tc := range []struct {
		name string
		want error
	}{
		{"dangling", fs.ErrNotExist},
		{"app/appspec.yml", fs.ErrNotExist}, // the stripped directory is gone
		{"appspec.yml/x", fs.ErrNotExist},
		{"../outside", fs.ErrInvalid},
		{"/etc/passwd", fs.ErrInvalid},
	} {
		if _, err := m.Open(tc.name); !errors.Is(err, tc.want) {
			t.Errorf("Open(%s) error = %v, want %v", tc.name, err, tc.want)
		}
	}
	if fi, err := fs.Stat(m, "cfg"); err != nil || !fi.IsDir() {
		t.Errorf("Stat(cfg) = %v, %v; want the directory the link leads to", fi, err)
	}
	if fi, err := fs.Lstat(m, "cfg"); err != nil || fi.Mode()&fs.ModeSymlink == 0 {
		t.Errorf("Lstat(cfg) = %v, %v; want a symlink", fi, err)
	}
	if _, err := fs.ReadLink(m, "appspec.yml"); !errors.Is(err, fs.ErrInvalid) {
		t.Errorf("ReadLink of a file: error %v, want %v", err, fs.ErrInvalid)
	}
}
