package bundle

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// tarFile is one entry of a test tar; Size is taken from Body unless set.
type tarFile struct {
	tar.Header
	Body string
}

func makeTar(t testing.TB, files ...tarFile) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range files {
		h := f.Header
		if h.Typeflag == 0 {
			h.Typeflag = tar.TypeReg
		}
		if h.Typeflag == tar.TypeReg && h.Size == 0 {
			h.Size = int64(len(f.Body))
		}
		if h.Mode == 0 && h.Typeflag != tar.TypeXGlobalHeader {
			h.Mode = 0o644
		}
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatalf("write tar header %q: %v", h.Name, err)
		}
		if f.Body != "" {
			if _, err := tw.Write([]byte(f.Body)); err != nil {
				t.Fatalf("write tar body %q: %v", h.Name, err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func gzipBytes(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func makeTgz(t testing.TB, files ...tarFile) []byte {
	t.Helper()
	return gzipBytes(t, makeTar(t, files...))
}

// zipFile is one entry of a test zip. Mode 0 means a plain 0644 file made on Unix.
type zipFile struct {
	Name string
	Mode fs.FileMode
	Body string
}

func makeZip(t testing.TB, files ...zipFile) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, f := range files {
		h := &zip.FileHeader{Name: f.Name, Method: zip.Deflate}
		mode := f.Mode
		if mode == 0 {
			mode = 0o644
		}
		h.SetMode(mode)
		w, err := zw.CreateHeader(h)
		if err != nil {
			t.Fatalf("zip header %q: %v", f.Name, err)
		}
		if _, err := w.Write([]byte(f.Body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// sandbox is a directory laid out so that escapes from dest land somewhere we can see:
// base/x/y/dest is the destination, base/outside/canary a file that must stay untouched.
type sandbox struct {
	base, dest, outside string
}

const canaryText = "canary: must never change"

func newSandbox(t *testing.T) sandbox {
	t.Helper()
	base := t.TempDir()
	s := sandbox{base: base, dest: filepath.Join(base, "x", "y", "dest"), outside: filepath.Join(base, "outside")}
	if err := os.MkdirAll(filepath.Dir(s.dest), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(s.outside, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(s.outside, "canary"), []byte(canaryText), 0o644); err != nil {
		t.Fatal(err)
	}
	return s
}

func (s sandbox) extract(t *testing.T, data []byte, lim Limits) (Result, error) {
	t.Helper()
	return Extract(context.Background(), bytes.NewReader(data), int64(len(data)), s.dest, lim)
}

// checkContained fails the test if anything exists in the sandbox besides dest's tree and the
// canary, if the canary changed, or if a symlink under dest resolves outside dest.
func (s sandbox) checkContained(t *testing.T) {
	t.Helper()
	allowed := map[string]bool{"x": true, "x/y": true, "x/y/dest": true, "outside": true, "outside/canary": true}
	err := filepath.WalkDir(s.base, func(p string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(s.base, p)
		rel = filepath.ToSlash(rel)
		if rel == "." || allowed[rel] || strings.HasPrefix(rel, "x/y/dest/") {
			return nil
		}
		t.Errorf("found %s outside dest", rel)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(s.outside, "canary"))
	if err != nil || string(got) != canaryText {
		t.Errorf("canary = %q, %v; want %q untouched", got, err, canaryText)
	}
	checkLinksInside(t, s.dest)
}

// checkLinksInside resolves every symlink under dir with the kernel's view (EvalSymlinks), an
// oracle independent of the package's own resolver.
func checkLinksInside(t *testing.T, dir string) {
	t.Helper()
	realDir, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return // dest never created: nothing to check
	}
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.Type()&fs.ModeSymlink == 0 {
			return nil
		}
		within := realDir
		resolved, err := filepath.EvalSymlinks(p)
		if err != nil {
			// Dangling or looping: judge the lexical target instead.
			target, rerr := os.Readlink(p)
			if rerr != nil {
				return nil
			}
			resolved = filepath.Join(filepath.Dir(p), target)
			if filepath.IsAbs(target) {
				resolved = target
			}
			within = dir
		}
		if resolved != within && !strings.HasPrefix(resolved, within+string(filepath.Separator)) {
			t.Errorf("symlink %s resolves to %s, outside %s", p, resolved, dir)
		}
		return nil
	})
}

// snapshot describes a tree for comparison: kind, mode and content or target of every path.
func snapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	return snapshotFS(t, os.DirFS(dir))
}

// snapshotFS is snapshot for any file system that can read links (a directory, or a Manifest).
func snapshotFS(t *testing.T, fsys fs.FS) map[string]string {
	t.Helper()
	out := make(map[string]string)
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == "." {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		var desc string
		switch {
		case info.Mode()&fs.ModeSymlink != 0:
			target, err := fs.ReadLink(fsys, p)
			if err != nil {
				return err
			}
			desc = "link -> " + target
		case info.IsDir():
			desc = "dir " + (info.Mode() & modeBits).String()
		default:
			b, err := fs.ReadFile(fsys, p)
			if err != nil {
				return err
			}
			desc = "file " + (info.Mode() & modeBits).String() + " " + string(b)
		}
		out[p] = desc
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func writeTree(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, body := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
