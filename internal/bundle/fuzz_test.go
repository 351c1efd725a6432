package bundle

import (
	"archive/tar"
	"bytes"
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

// FuzzExtract feeds arbitrary bytes to Extract and ExtractReader. Whatever the input: no panic,
// nothing outside dest (checked by walking the sandbox and resolving every extracted link with
// the kernel), never more bytes than the limit, and Inspect reaches Extract's verdict.
func FuzzExtract(f *testing.F) {
	tars := [][]byte{
		makeTar(f, tarFile{Header: tar.Header{Name: "appspec.yml"}, Body: "version: 0.0\n"},
			tarFile{Header: tar.Header{Name: "d/", Typeflag: tar.TypeDir, Mode: 0o755}},
			tarFile{Header: tar.Header{Name: "d/l", Typeflag: tar.TypeSymlink, Linkname: "../appspec.yml"}},
			tarFile{Header: tar.Header{Name: "d/h", Typeflag: tar.TypeLink, Linkname: "appspec.yml"}}),
		makeTar(f, tarFile{Header: tar.Header{Name: "../../../outside/evil"}, Body: "x"}),
		makeTar(f, tarFile{Header: tar.Header{Name: "l", Typeflag: tar.TypeSymlink, Linkname: "../../../outside"}},
			tarFile{Header: tar.Header{Name: "l/canary"}, Body: "pwned"}),
		makeTar(f, tarFile{Header: tar.Header{Name: "a/b/l1", Typeflag: tar.TypeSymlink, Linkname: "../.."}},
			tarFile{Header: tar.Header{Name: "l2", Typeflag: tar.TypeSymlink, Linkname: "a/b/l1/.."}}),
		makeTar(f, tarFile{Header: tar.Header{Name: "repo/appspec.yml"}, Body: "x"},
			tarFile{Header: tar.Header{Name: "repo/repo/x"}, Body: "y"}),
	}
	for _, b := range tars {
		f.Add(b)
	}
	f.Add(gzipBytes(f, tars[0]))
	f.Add(gzipBytes(f, tars[2]))
	f.Add(makeZip(f, zipFile{Name: "appspec.yml", Body: "version: 0.0\n"}, zipFile{Name: `..\..\..\outside\evil`, Body: "x"}))
	f.Add(makeZip(f, zipFile{Name: "l", Mode: fs.ModeSymlink | 0o777, Body: "../../../outside"},
		zipFile{Name: "l/canary", Body: "pwned"}))

	const limit = 1 << 20
	lim := Limits{MaxBytes: limit, MaxEntries: 1000}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, stream := range []bool{false, true} {
			s := newSandbox(t)
			var res Result
			if stream {
				res, _ = ExtractReader(context.Background(), bytes.NewReader(data), s.dest, lim)
			} else {
				var err error
				res, err = s.extract(t, data, lim)
				_, ierr := Inspect(context.Background(), bytes.NewReader(data), int64(len(data)), lim)
				if (err == nil) != (ierr == nil) {
					t.Errorf("Extract error %v, Inspect error %v: want the same verdict", err, ierr)
				}
			}
			if res.Bytes > limit {
				t.Errorf("Result.Bytes = %d past the limit", res.Bytes)
			}
			if got := diskBytes(t, s.dest); got > limit {
				t.Errorf("%d bytes on disk past the limit", got)
			}
			s.checkContained(t)
			makeRemovable(s.dest)
		}
	})
}

// makeRemovable gives every directory under dir its write bit back, so that t.TempDir's cleanup
// can remove what a fuzzed archive marked read-only (this only matters when not running as root).
func makeRemovable(dir string) {
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			_ = os.Chmod(p, 0o755)
		}
		return nil
	})
}
