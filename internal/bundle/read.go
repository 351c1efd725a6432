package bundle

import (
	"archive/tar"
	"archive/zip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"
)

// tar extracts entries from a tar stream.
func (x *extractor) tar(r io.Reader) error {
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		// ErrInsecurePath (GODEBUG tarinsecurepath=0) still returns the header: our own checks
		// decide, with a message that names the entry.
		if err != nil && !errors.Is(err, tar.ErrInsecurePath) {
			return fmt.Errorf("read tar: %w", err)
		}
		if h.Typeflag == tar.TypeXGlobalHeader {
			continue // archive-wide metadata, e.g. the commit id in GitHub's tarballs
		}
		e, err := tarEntry(h)
		if err != nil {
			return err
		}
		if err := x.add(e, tr); err != nil {
			return err
		}
	}
}

func tarEntry(h *tar.Header) (entry, error) {
	e := entry{name: h.Name, linkname: h.Linkname, size: h.Size, mode: fs.FileMode(h.Mode & 0o777)}
	switch h.Typeflag {
	case tar.TypeReg, tar.TypeCont, tar.TypeGNUSparse:
		// Contiguous files are plain files everywhere but one long-gone system; the tar reader
		// expands sparse files, and their real bytes count against the limit like any other.
		e.kind = kindFile
	case tar.TypeDir:
		e.kind = kindDir
		if h.Mode&0o1000 != 0 {
			e.mode |= fs.ModeSticky
		}
	case tar.TypeSymlink:
		e.kind = kindSymlink
	case tar.TypeLink:
		e.kind, e.hardlink, e.size = kindFile, true, 0
	case tar.TypeChar:
		return entry{}, fmt.Errorf("entry %q is a character device: %w", h.Name, ErrUnsupportedEntry)
	case tar.TypeBlock:
		return entry{}, fmt.Errorf("entry %q is a block device: %w", h.Name, ErrUnsupportedEntry)
	case tar.TypeFifo:
		return entry{}, fmt.Errorf("entry %q is a fifo: %w", h.Name, ErrUnsupportedEntry)
	default:
		return entry{}, fmt.Errorf("entry %q has tar type %q: %w", h.Name, h.Typeflag, ErrUnsupportedEntry)
	}
	return e, nil
}

// zip extracts a zip read through its central directory, straight from r.
func (x *extractor) zip(r io.ReaderAt, size int64) error {
	zr, err := zip.NewReader(r, size)
	if err != nil && !errors.Is(err, zip.ErrInsecurePath) {
		return fmt.Errorf("read zip: %w", err)
	}
	// The central directory says how many entries there are: no need to write any to refuse.
	if len(zr.File) > x.lim.MaxEntries {
		return fmt.Errorf("%d entries, more than %d: %w", len(zr.File), x.lim.MaxEntries, ErrTooManyEntries)
	}
	for _, f := range zr.File {
		e, err := zipEntry(f)
		if err != nil {
			return err
		}
		if err := x.zipAdd(f, e); err != nil {
			return err
		}
	}
	return nil
}

func (x *extractor) zipAdd(f *zip.File, e entry) error {
	if e.kind == kindDir {
		return x.add(e, nil)
	}
	rc, err := f.Open()
	if err != nil {
		return fmt.Errorf("entry %q: %w", f.Name, err)
	}
	defer func() { _ = rc.Close() }()
	if e.kind == kindSymlink {
		// A zip symlink's content is its target.
		b, err := io.ReadAll(io.LimitReader(rc, maxLinkTarget+1))
		if err != nil {
			return fmt.Errorf("entry %q: %w", f.Name, err)
		}
		e.linkname = string(b)
	}
	return x.add(e, rc)
}

// Creator systems in a zip's "version made by" whose external attributes hold a Unix mode.
const (
	zipCreatorUnix  = 3
	zipCreatorMacOS = 19
)

func zipEntry(f *zip.File) (entry, error) {
	name, err := zipName(f.Name)
	if err != nil {
		return entry{}, err
	}
	mode := f.Mode()
	e := entry{name: name, size: int64(min(f.UncompressedSize64, 1<<62))}
	switch {
	case mode&fs.ModeSymlink != 0:
		e.kind = kindSymlink
	case mode.IsDir() || strings.HasSuffix(name, "/"):
		e.kind = kindDir
	case mode&fs.ModeNamedPipe != 0:
		return entry{}, fmt.Errorf("entry %q is a fifo: %w", f.Name, ErrUnsupportedEntry)
	case mode&fs.ModeSocket != 0:
		return entry{}, fmt.Errorf("entry %q is a socket: %w", f.Name, ErrUnsupportedEntry)
	case mode&fs.ModeDevice != 0:
		return entry{}, fmt.Errorf("entry %q is a device: %w", f.Name, ErrUnsupportedEntry)
	case !mode.IsRegular():
		return entry{}, fmt.Errorf("entry %q has mode %v: %w", f.Name, mode, ErrUnsupportedEntry)
	default:
		e.kind = kindFile
	}
	creator := f.CreatorVersion >> 8
	// DOS-made zips carry only a read-only flag, which archive/zip turns into 0666 or 0777:
	// world-writable is never what a Windows user meant.
	if (creator == zipCreatorUnix || creator == zipCreatorMacOS) && mode.Perm() != 0 {
		e.mode = mode.Perm()
		if e.kind == kindDir {
			e.mode |= mode & fs.ModeSticky
		}
	} else if e.kind == kindDir {
		e.mode = 0o755
	} else {
		e.mode = 0o644
	}
	return e, nil
}
