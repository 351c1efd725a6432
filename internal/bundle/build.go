package bundle

import (
	"archive/tar"
	"archive/zip"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"time"
)

// BuildOptions tune Build. The zero value includes everything.
type BuildOptions struct {
	// Exclude, when set, is asked about every path under the directory (slash-separated, relative
	// to it, e.g. ".git" or "web/node_modules"); true leaves the path out, and for a directory
	// everything below it. The builder itself excludes nothing: which files belong to a revision
	// is the caller's decision.
	Exclude func(rel string) bool
}

// buildTime is the one mtime every entry gets: the earliest a zip can express, so tar and zip
// bundles of one tree agree, and nothing about the build machine's clock leaks into the digest.
var buildTime = time.Date(1980, 1, 1, 0, 0, 0, 0, time.UTC)

// msdosDate1980 is buildTime as a zip MS-DOS date (day 1, month 1, year 1980+0); time is 0.
const msdosDate1980 = 1<<5 | 1

// modeBits are the parts of a mode that a bundle carries; the file type is carried separately.
const modeBits = fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky

// Build writes the tree at dir to w as a bundle of the given format and returns the sha256 (hex)
// of the bytes written.
//
// The output is deterministic: the walk is in lexical order, every entry has the 1980-01-01 mtime,
// uid and gid 0 and no user or group name, modes keep only permission, setuid, setgid and sticky
// bits, and the gzip header has no name or time. The same tree gives the same bytes with the same
// Go version (compress/flate's output may change between Go releases).
//
// Regular files, directories and symlinks are stored (hardlinked files become separate copies).
// A symlink must be relative and must not lead out of dir, directly or through other links:
// otherwise Build fails with ErrUnsafePath, naming it. Devices, fifos and sockets fail with
// ErrUnsupportedEntry.
func Build(ctx context.Context, w io.Writer, dir string, format Format, opts BuildOptions) (string, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return "", fmt.Errorf("build: %w", err)
	}
	defer func() { _ = root.Close() }()
	items, err := collect(dir, opts.Exclude)
	if err != nil {
		return "", fmt.Errorf("build %s: %w", dir, err)
	}
	h := sha256.New()
	mw := io.MultiWriter(w, h)
	switch format {
	case FormatZip:
		err = writeZip(ctx, mw, root, items)
	case FormatTar:
		err = writeTar(ctx, mw, root, items)
	case FormatTgz:
		err = writeTgz(ctx, mw, root, items)
	default:
		err = fmt.Errorf("format %v: %w", format, ErrUnsupportedFormat)
	}
	if err != nil {
		return "", fmt.Errorf("build %s: %w", dir, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// item is one path to store, found by the walk.
type item struct {
	rel    string // slash-separated, relative to the built directory
	kind   kind
	mode   fs.FileMode // modeBits only
	size   int64
	target string // symlinks
}

func collect(dir string, exclude func(string) bool) ([]item, error) {
	var items []item
	links := make(map[string]string)
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		if rel == "." {
			return nil
		}
		rel = filepath.ToSlash(rel)
		if exclude != nil && exclude(rel) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		it := item{rel: rel, mode: info.Mode() & modeBits}
		switch t := info.Mode().Type(); t {
		case 0:
			it.kind, it.size = kindFile, info.Size()
		case fs.ModeDir:
			it.kind = kindDir
		case fs.ModeSymlink:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			if err := checkLinkTarget(rel, filepath.ToSlash(target)); err != nil {
				return err
			}
			it.kind, it.target, it.mode = kindSymlink, filepath.ToSlash(target), 0o777
			links[rel] = it.target
		default:
			return fmt.Errorf("%s is a %v, which a bundle cannot hold: %w", rel, t, ErrUnsupportedEntry)
		}
		items = append(items, it)
		return nil
	})
	if err != nil {
		return nil, err
	}
	res := newResolver(links)
	for _, it := range items {
		if it.kind == kindSymlink {
			if err := res.check(it.rel); err != nil {
				return nil, err
			}
		}
	}
	return items, nil
}

func writeTgz(ctx context.Context, w io.Writer, root *os.Root, items []item) error {
	zw, err := gzip.NewWriterLevel(w, gzip.DefaultCompression)
	if err != nil {
		return err
	}
	if err := writeTar(ctx, zw, root, items); err != nil {
		return err
	}
	return zw.Close()
}

func writeTar(ctx context.Context, w io.Writer, root *os.Root, items []item) error {
	tw := tar.NewWriter(w)
	for _, it := range items {
		if err := ctx.Err(); err != nil {
			return err
		}
		h := &tar.Header{Name: it.rel, Mode: tarMode(it.mode), ModTime: buildTime}
		switch it.kind {
		case kindDir:
			h.Typeflag, h.Name = tar.TypeDir, it.rel+"/"
		case kindSymlink:
			h.Typeflag, h.Linkname = tar.TypeSymlink, it.target
		case kindFile:
			h.Typeflag, h.Size = tar.TypeReg, it.size
		}
		if err := tw.WriteHeader(h); err != nil {
			return fmt.Errorf("%s: %w", it.rel, err)
		}
		if it.kind == kindFile {
			if err := copyItem(tw, root, it); err != nil {
				return err
			}
		}
	}
	return tw.Close()
}

// tarMode spells mode bits the way tar headers do (the Unix octal values).
func tarMode(m fs.FileMode) int64 {
	v := int64(m.Perm())
	if m&fs.ModeSetuid != 0 {
		v |= 0o4000
	}
	if m&fs.ModeSetgid != 0 {
		v |= 0o2000
	}
	if m&fs.ModeSticky != 0 {
		v |= 0o1000
	}
	return v
}

func writeZip(ctx context.Context, w io.Writer, root *os.Root, items []item) error {
	zw := zip.NewWriter(w)
	for _, it := range items {
		if err := ctx.Err(); err != nil {
			return err
		}
		// ModifiedDate/Time set directly and Modified left zero: no extended-timestamp field. Modified
		// would add one to every entry, changing every zip bundle's bytes and so its digest.
		h := &zip.FileHeader{Name: it.rel, Method: zip.Store, ModifiedDate: msdosDate1980} //nolint:staticcheck // see above
		switch it.kind {
		case kindDir:
			h.Name += "/"
			h.SetMode(fs.ModeDir | it.mode)
		case kindSymlink:
			h.SetMode(fs.ModeSymlink | it.mode)
		case kindFile:
			h.Method = zip.Deflate
			h.SetMode(it.mode)
		}
		fw, err := zw.CreateHeader(h)
		if err != nil {
			return fmt.Errorf("%s: %w", it.rel, err)
		}
		switch it.kind {
		case kindSymlink:
			if _, err := io.WriteString(fw, it.target); err != nil {
				return fmt.Errorf("%s: %w", it.rel, err)
			}
		case kindFile:
			if err := copyItem(fw, root, it); err != nil {
				return err
			}
		}
	}
	return zw.Close()
}

// copyItem writes exactly the size the walk saw, so a header written before the copy stays true;
// a file that changed size meanwhile fails the build rather than produce a corrupt bundle.
func copyItem(w io.Writer, root *os.Root, it item) error {
	f, err := root.Open(path.Clean(it.rel))
	if err != nil {
		return err
	}
	defer func() { _ = f.Close() }()
	n, err := io.CopyN(w, f, it.size)
	if errors.Is(err, io.EOF) {
		return fmt.Errorf("%s: shrank from %d to %d bytes during the build", it.rel, it.size, n)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", it.rel, err)
	}
	if fi, err := f.Stat(); err == nil && fi.Size() != it.size {
		return fmt.Errorf("%s: changed size during the build", it.rel)
	}
	return nil
}
