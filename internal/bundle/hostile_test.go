package bundle

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/flate"
	"context"
	"errors"
	"hash/crc32"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// errAny marks a case where any error will do: the archive is corrupt rather than hostile in a
// way that has its own sentinel.
var errAny = errors.New("any error")

// hostileCase is an archive Extract must refuse, and the error it must refuse it with.
type hostileCase struct {
	name    string
	archive func(t *testing.T, s sandbox) []byte
	limits  Limits
	want    error
}

func hostileArchives() []hostileCase {
	dir := func(name string) tarFile {
		return tarFile{Header: tar.Header{Name: name, Typeflag: tar.TypeDir, Mode: 0o755}}
	}
	file := func(name, body string) tarFile {
		return tarFile{Header: tar.Header{Name: name}, Body: body}
	}
	symlink := func(name, target string) tarFile {
		return tarFile{Header: tar.Header{Name: name, Typeflag: tar.TypeSymlink, Linkname: target, Mode: 0o777}}
	}
	hardlink := func(name, target string) tarFile {
		return tarFile{Header: tar.Header{Name: name, Typeflag: tar.TypeLink, Linkname: target}}
	}
	special := func(name string, typ byte) tarFile {
		return tarFile{Header: tar.Header{Name: name, Typeflag: typ, Devmajor: 1, Devminor: 3}}
	}
	manyFiles := func(n int) []tarFile {
		var fs []tarFile
		for i := range n {
			fs = append(fs, file("f"+strconv.Itoa(i), "x"))
		}
		return fs
	}
	manyZip := func(n int) []zipFile {
		var fs []zipFile
		for i := range n {
			fs = append(fs, zipFile{Name: "f" + strconv.Itoa(i), Body: "x"})
		}
		return fs
	}

	return []hostileCase{
		{"tar slip", func(t *testing.T, _ sandbox) []byte { return makeTar(t, file("../../../evil", "x")) }, Limits{}, ErrUnsafePath},
		{"tar slip after a directory", func(t *testing.T, _ sandbox) []byte {
			return makeTar(t, dir("a/"), file("a/../../../../evil", "x"))
		}, Limits{}, ErrUnsafePath},
		{"tgz slip", func(t *testing.T, _ sandbox) []byte { return makeTgz(t, file("ok", "x"), file("../../../evil", "x")) }, Limits{}, ErrUnsafePath},
		{"zip slip", func(t *testing.T, _ sandbox) []byte { return makeZip(t, zipFile{Name: "../../../evil", Body: "x"}) }, Limits{}, ErrUnsafePath},
		{"tar absolute path", func(t *testing.T, s sandbox) []byte {
			return makeTar(t, file(filepath.Join(s.base, "abs-evil"), "x"))
		}, Limits{}, ErrUnsafePath},
		{"zip absolute path", func(t *testing.T, s sandbox) []byte {
			return makeZip(t, zipFile{Name: filepath.Join(s.base, "abs-evil"), Body: "x"})
		}, Limits{}, ErrUnsafePath},
		{"zip backslash slip", func(t *testing.T, _ sandbox) []byte {
			return makeZip(t, zipFile{Name: `..\..\..\evil`, Body: "x"})
		}, Limits{}, ErrUnsafePath},
		{"zip backslash absolute", func(t *testing.T, _ sandbox) []byte {
			return makeZip(t, zipFile{Name: `\evil`, Body: "x"})
		}, Limits{}, ErrUnsafePath},
		{"zip drive letter", func(t *testing.T, _ sandbox) []byte {
			return makeZip(t, zipFile{Name: `C:\evil`, Body: "x"})
		}, Limits{}, ErrUnsafePath},
		{"zip NUL in name", func(t *testing.T, _ sandbox) []byte {
			return makeZip(t, zipFile{Name: "a\x00/../../../../evil", Body: "x"})
		}, Limits{}, ErrUnsafePath},
		{"symlink to /etc then a file through it", func(t *testing.T, _ sandbox) []byte {
			return makeTar(t, symlink("link", "/etc"), file("link/passwd", "root::0:0::/:/bin/sh"))
		}, Limits{}, ErrUnsafePath},
		{"symlink to the outside dir then a file through it", func(t *testing.T, _ sandbox) []byte {
			return makeTar(t, symlink("link", "../../../outside"), file("link/canary", "pwned"))
		}, Limits{}, ErrUnsafePath},
		{"zip symlink out", func(t *testing.T, _ sandbox) []byte {
			return makeZip(t, zipFile{Name: "link", Mode: fs.ModeSymlink | 0o777, Body: "../../../outside"},
				zipFile{Name: "link/canary", Body: "pwned"})
		}, Limits{}, ErrUnsafePath},
		{"file through an in-tree symlink", func(t *testing.T, _ sandbox) []byte {
			return makeTar(t, dir("d/"), symlink("link", "d"), file("link/x", "x"))
		}, Limits{}, ErrUnsafePath},
		{"file through a symlink to the root", func(t *testing.T, _ sandbox) []byte {
			return makeTar(t, symlink("link", "."), file("link/x", "x"))
		}, Limits{}, ErrUnsafePath},
		{"symlink chain out", func(t *testing.T, _ sandbox) []byte {
			return makeTar(t, dir("a/"), dir("a/b/"), symlink("a/b/l1", "../.."), symlink("l2", "a/b/l1/.."))
		}, Limits{}, ErrUnsafePath},
		{"symlink chain out, link named before its target exists", func(t *testing.T, _ sandbox) []byte {
			return makeTar(t, symlink("l2", "a/b/l1/../../../outside"), dir("a/"), dir("a/b/"), symlink("a/b/l1", "../.."))
		}, Limits{}, ErrUnsafePath},
		{"zip symlink chain out", func(t *testing.T, _ sandbox) []byte {
			return makeZip(t,
				zipFile{Name: "a/b/l1", Mode: fs.ModeSymlink | 0o777, Body: "../.."},
				zipFile{Name: "l2", Mode: fs.ModeSymlink | 0o777, Body: "a/b/l1/.."})
		}, Limits{}, ErrUnsafePath},
		{"symlink loop", func(t *testing.T, _ sandbox) []byte {
			return makeTar(t, symlink("l1", "l2"), symlink("l2", "l1"))
		}, Limits{}, ErrUnsafePath},
		{"hardlink to /etc/passwd", func(t *testing.T, _ sandbox) []byte {
			return makeTar(t, hardlink("passwd", "/etc/passwd"))
		}, Limits{}, ErrUnsafePath},
		{"hardlink to a file outside", func(t *testing.T, _ sandbox) []byte {
			return makeTar(t, hardlink("canary", "../../../outside/canary"))
		}, Limits{}, ErrUnsafePath},
		{"hardlink to a later entry", func(t *testing.T, _ sandbox) []byte {
			return makeTar(t, hardlink("h", "f"), file("f", "x"))
		}, Limits{}, ErrUnsafePath},
		{"hardlink to a symlink", func(t *testing.T, _ sandbox) []byte {
			return makeTar(t, file("f", "x"), symlink("l", "f"), hardlink("h", "l"))
		}, Limits{}, ErrUnsafePath},
		{"hardlink to a directory", func(t *testing.T, _ sandbox) []byte {
			return makeTar(t, dir("d/"), hardlink("h", "d"))
		}, Limits{}, ErrUnsafePath},
		{"character device", func(t *testing.T, _ sandbox) []byte { return makeTar(t, special("null", tar.TypeChar)) }, Limits{}, ErrUnsupportedEntry},
		{"block device", func(t *testing.T, _ sandbox) []byte { return makeTar(t, special("sda", tar.TypeBlock)) }, Limits{}, ErrUnsupportedEntry},
		{"fifo", func(t *testing.T, _ sandbox) []byte { return makeTar(t, special("fifo", tar.TypeFifo)) }, Limits{}, ErrUnsupportedEntry},
		{"zip fifo", func(t *testing.T, _ sandbox) []byte {
			return makeZip(t, zipFile{Name: "fifo", Mode: fs.ModeNamedPipe | 0o644})
		}, Limits{}, ErrUnsupportedEntry},
		{"name longer than NAME_MAX", func(t *testing.T, _ sandbox) []byte {
			return makeTar(t, file("d/"+strings.Repeat("n", 256), "x"))
		}, Limits{}, ErrUnsupportedEntry},
		{"zip socket", func(t *testing.T, _ sandbox) []byte {
			return makeZip(t, zipFile{Name: "sock", Mode: fs.ModeSocket | 0o644})
		}, Limits{}, ErrUnsupportedEntry},
		{"zip device", func(t *testing.T, _ sandbox) []byte {
			return makeZip(t, zipFile{Name: "dev", Mode: fs.ModeDevice | fs.ModeCharDevice | 0o644})
		}, Limits{}, ErrUnsupportedEntry},
		{"duplicate file", func(t *testing.T, _ sandbox) []byte { return makeTar(t, file("f", "one"), file("f", "two")) }, Limits{}, ErrConflict},
		{"file then directory", func(t *testing.T, _ sandbox) []byte { return makeTar(t, file("f", "x"), dir("f/")) }, Limits{}, ErrConflict},
		{"directory then file", func(t *testing.T, _ sandbox) []byte { return makeTar(t, dir("d/"), file("d", "x")) }, Limits{}, ErrConflict},
		{"file under a file", func(t *testing.T, _ sandbox) []byte { return makeTar(t, file("f", "x"), file("f/g", "x")) }, Limits{}, ErrConflict},
		{"file over a symlink", func(t *testing.T, _ sandbox) []byte {
			return makeTar(t, symlink("l", "../../../outside/canary"), file("l", "pwned"))
		}, Limits{}, ErrUnsafePath},
		{"file over an in-tree symlink", func(t *testing.T, _ sandbox) []byte {
			return makeTar(t, file("f", "x"), symlink("l", "f"), file("l", "pwned"))
		}, Limits{}, ErrConflict},
		{"zip duplicate", func(t *testing.T, _ sandbox) []byte {
			return makeZip(t, zipFile{Name: "f", Body: "1"}, zipFile{Name: "f", Body: "2"})
		}, Limits{}, ErrConflict},
		{"too many tar entries", func(t *testing.T, _ sandbox) []byte { return makeTar(t, manyFiles(11)...) }, Limits{MaxEntries: 10}, ErrTooManyEntries},
		{"too many zip entries", func(t *testing.T, _ sandbox) []byte { return makeZip(t, manyZip(11)...) }, Limits{MaxEntries: 10}, ErrTooManyEntries},
		{"tar header declares more than the limit", func(t *testing.T, _ sandbox) []byte {
			return makeTar(t, file("big", strings.Repeat("x", 2048)))
		}, Limits{MaxBytes: 1024}, ErrTooLarge},
		{"tar data shorter than the header says", func(t *testing.T, _ sandbox) []byte {
			b := makeTar(t, file("f", strings.Repeat("x", 4096)))
			return b[:512+100]
		}, Limits{}, errAny},
		{"tar data longer than the header says", func(t *testing.T, _ sandbox) []byte {
			b := makeTar(t, file("f", strings.Repeat("x", 4096)))
			setTarSize(t, b[:512], 10)
			return b
		}, Limits{}, errAny},
		{"zip data longer than the header says", func(t *testing.T, _ sandbox) []byte {
			return lyingZip(t, 10, bytes.Repeat([]byte{0}, 1<<20))
		}, Limits{MaxBytes: 1 << 20}, errAny},
		{"gzip bomb, one file", func(t *testing.T, _ sandbox) []byte {
			return makeTgz(t, file("bomb", strings.Repeat("\x00", 16<<20)))
		}, Limits{MaxBytes: 1 << 20}, ErrTooLarge},
		{"gzip bomb, many files", func(t *testing.T, _ sandbox) []byte {
			var fs []tarFile
			for i := range 100 {
				fs = append(fs, file("bomb"+strconv.Itoa(i), strings.Repeat("\x00", 64<<10)))
			}
			return makeTgz(t, fs...)
		}, Limits{MaxBytes: 1 << 20}, ErrTooLarge},
		{"zip bomb", func(t *testing.T, _ sandbox) []byte {
			return makeZip(t, zipFile{Name: "bomb", Body: strings.Repeat("\x00", 16<<20)})
		}, Limits{MaxBytes: 1 << 20}, ErrTooLarge},
		{"not an archive", func(_ *testing.T, _ sandbox) []byte { return []byte("hello, I am not a bundle") }, Limits{}, ErrUnsupportedFormat},
		{"gzip of garbage", func(t *testing.T, _ sandbox) []byte { return gzipBytes(t, bytes.Repeat([]byte("garbage!"), 200)) }, Limits{}, errAny},
	}
}

// TestExtract_Hostile runs each hostile archive through Extract and Inspect: both refuse it, with
// the same message, and Extract writes nothing outside dest and no more than the limit.
func TestExtract_Hostile(t *testing.T) {
	for _, tt := range hostileArchives() {
		t.Run(tt.name, func(t *testing.T) {
			s := newSandbox(t)
			data := tt.archive(t, s)
			res, err := s.extract(t, data, tt.limits)
			switch {
			case err == nil:
				t.Errorf("Extract succeeded (%+v), want error %v", res, tt.want)
			case !errors.Is(tt.want, errAny) && !errors.Is(err, tt.want):
				t.Errorf("Extract error = %v, want %v", err, tt.want)
			}
			limit := tt.limits.withDefaults().MaxBytes
			if res.Bytes > limit {
				t.Errorf("Result.Bytes = %d, want at most the limit %d", res.Bytes, limit)
			}
			if got := diskBytes(t, s.dest); got > limit {
				t.Errorf("%d bytes on disk, want at most the limit %d", got, limit)
			}
			s.checkContained(t)

			m, ierr := Inspect(context.Background(), bytes.NewReader(data), int64(len(data)), tt.limits)
			switch {
			case ierr == nil:
				t.Errorf("Inspect accepted it (%+v), want Extract's error %v", m.Result, err)
			case err != nil && ierr.Error() != err.Error():
				t.Errorf("Inspect error = %q, Extract's = %q", ierr, err)
			}
		})
	}
}

// setTarSize rewrites the size field of a tar header block and its checksum, to make a header lie.
func setTarSize(t *testing.T, block []byte, size int64) {
	t.Helper()
	copy(block[124:136], []byte(padOctal(size, 12)))
	for i := 148; i < 156; i++ {
		block[i] = ' '
	}
	var sum int64
	for _, c := range block {
		sum += int64(c)
	}
	copy(block[148:156], []byte(padOctal(sum, 7)+"\x00"))
}

func padOctal(v int64, width int) string {
	s := strconv.FormatInt(v, 8)
	return strings.Repeat("0", width-1-len(s)) + s + "\x00"
}

// lyingZip stores body deflated under a header claiming it expands to only declared bytes.
func lyingZip(t *testing.T, declared uint64, body []byte) []byte {
	t.Helper()
	var comp bytes.Buffer
	fw, err := flate.NewWriter(&comp, flate.BestCompression)
	if err != nil {
		t.Fatal(err)
	}
	fw.Write(body)
	fw.Close()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	h := &zip.FileHeader{Name: "liar", Method: zip.Deflate, CRC32: crc32.ChecksumIEEE(body),
		CompressedSize64: uint64(comp.Len()), UncompressedSize64: declared}
	h.SetMode(0o644)
	w, err := zw.CreateRaw(h)
	if err != nil {
		t.Fatal(err)
	}
	w.Write(comp.Bytes())
	zw.Close()
	return buf.Bytes()
}

// diskBytes sums the sizes of the regular files under dir.
func diskBytes(t *testing.T, dir string) int64 {
	t.Helper()
	var total int64
	_ = filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if info, err := d.Info(); err == nil {
				total += info.Size()
			}
		}
		return nil
	})
	return total
}

func TestExtract_CountsRealBytesNotHeaders(t *testing.T) {
	// A reader whose declared size is unknown or understated (the case of a lying zip header
	// that archive/zip might not catch) must still be stopped by the bytes written.
	s := newSandbox(t)
	if err := os.MkdirAll(s.dest, 0o755); err != nil {
		t.Fatal(err)
	}
	out, err := openDisk(s.dest)
	if err != nil {
		t.Fatal(err)
	}
	x := newExtractor(t.Context(), out, Limits{MaxBytes: 1000}, FormatTar)
	defer out.close()
	err = x.add(entry{name: "f", kind: kindFile, mode: 0o644, size: 1}, bytes.NewReader(make([]byte, 5000)))
	if !errors.Is(err, ErrTooLarge) {
		t.Errorf("add error = %v, want %v", err, ErrTooLarge)
	}
	if got := diskBytes(t, s.dest); got > 1000 {
		t.Errorf("%d bytes on disk, want at most 1000", got)
	}
}
