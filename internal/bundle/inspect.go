package bundle

import (
	"archive/tar"
	"archive/zip"
	"bufio"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"slices"
	"strings"
	"time"
)

// Manifest is a bundle as Extract would lay it out, learnt without writing anything: the tree
// after the leading-directory rule, with every check of Extract passed. It is an fs.FS whose
// directories come from memory and whose files are read from the archive when opened, so a
// server can look at a bundle's AppSpec without unpacking an upload it does not trust.
//
// Open follows symlinks, as opening the extracted file would; ReadDir lists them as links. File
// modes are those Extract would give; modification times are zero.
type Manifest struct {
	Result
	r     io.ReaderAt
	size  int64
	nodes map[string]node
	links map[string]string
}

// Inspect reads the zip, tar or tgz archive held in r (size bytes) as Extract would, reaching the
// same verdict with the same error for a hostile or corrupt archive (limits are counted on the
// bytes really read), and returns the tree it describes. r must stay readable while the
// Manifest's files are read.
func Inspect(ctx context.Context, r io.ReaderAt, size int64, lim Limits) (*Manifest, error) {
	format, err := detectAt(r)
	if err != nil {
		return nil, err
	}
	x := newExtractor(ctx, nullTree{}, lim, format)
	res, err := x.run(func() error { return x.readAt(r, size) })
	if err != nil {
		return nil, err
	}
	m := &Manifest{Result: res, r: r, size: size, nodes: x.nodes, links: map[string]string{}}
	for name, n := range x.nodes {
		if n.kind == kindSymlink {
			m.links[name] = n.target
		}
	}
	return m, nil
}

// rootNode stands for the bundle root, which the extractor does not store.
var rootNode = node{kind: kindDir, mode: 0o755}

// lookup resolves name through the tree's links to the path and node it leads to.
func (m *Manifest) lookup(name string) (string, node, error) {
	p, err := newResolver(m.links).resolve(".", name)
	if err != nil {
		return "", node{}, err
	}
	if p == "." {
		return p, rootNode, nil
	}
	n, ok := m.nodes[p]
	if !ok {
		return "", node{}, fs.ErrNotExist // a dangling link, or no such entry
	}
	return p, n, nil
}

// Open opens the named file or directory of the extracted tree, following symlinks.
func (m *Manifest) Open(name string) (fs.File, error) {
	if !fs.ValidPath(name) {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrInvalid}
	}
	p, n, err := m.lookup(name)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	info := fileInfo{name: path.Base(name), n: n}
	if n.kind == kindDir {
		return &manifestDir{m: m, path: p, info: info}, nil
	}
	return &manifestFile{m: m, src: m.source(p, n), info: info}, nil
}

// Lstat describes the named entry without following it if it is a symlink (fs.ReadLinkFS).
func (m *Manifest) Lstat(name string) (fs.FileInfo, error) {
	_, n, err := m.lstat("lstat", name)
	if err != nil {
		return nil, err
	}
	return fileInfo{name: path.Base(name), n: n}, nil
}

// ReadLink returns the target of the named symlink (fs.ReadLinkFS).
func (m *Manifest) ReadLink(name string) (string, error) {
	_, n, err := m.lstat("readlink", name)
	if err != nil {
		return "", err
	}
	if n.kind != kindSymlink {
		return "", &fs.PathError{Op: "readlink", Path: name, Err: fs.ErrInvalid}
	}
	return n.target, nil
}

// lstat finds name's entry, following links in its parents only.
func (m *Manifest) lstat(op, name string) (string, node, error) {
	if !fs.ValidPath(name) {
		return "", node{}, &fs.PathError{Op: op, Path: name, Err: fs.ErrInvalid}
	}
	if name == "." {
		return name, rootNode, nil
	}
	dir, _, err := m.lookup(path.Dir(name))
	if err != nil {
		return "", node{}, &fs.PathError{Op: op, Path: name, Err: err}
	}
	p := path.Join(dir, path.Base(name))
	n, ok := m.nodes[p]
	if !ok {
		return "", node{}, &fs.PathError{Op: op, Path: name, Err: fs.ErrNotExist}
	}
	return p, n, nil
}

// source is the cleaned archive name holding the content of the file at p.
func (m *Manifest) source(p string, n node) string {
	switch {
	case n.src != "":
		return n.src
	case m.StrippedDir != "":
		return m.StrippedDir + "/" + p
	}
	return p
}

// children lists the entries directly under the directory at p.
func (m *Manifest) children(p string) []fs.DirEntry {
	var out []fs.DirEntry
	for name, n := range m.nodes {
		if path.Dir(name) == p {
			out = append(out, fs.FileInfoToDirEntry(fileInfo{name: path.Base(name), n: n}))
		}
	}
	slices.SortFunc(out, func(a, b fs.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
	return out
}

// entry opens the content of the regular file called name (cleaned) in the archive.
func (m *Manifest) entry(name string) (io.ReadCloser, error) {
	if m.Format == FormatZip {
		zr, err := zip.NewReader(m.r, m.size)
		if err != nil && !errors.Is(err, zip.ErrInsecurePath) {
			return nil, fmt.Errorf("read zip: %w", err)
		}
		for _, f := range zr.File {
			if clean, err := zipEntryName(f.Name); err == nil && clean == name && !f.Mode().IsDir() {
				return f.Open()
			}
		}
		return nil, fs.ErrNotExist
	}
	var r io.Reader = bufio.NewReaderSize(io.NewSectionReader(m.r, 0, m.size), readAhead(m.size))
	var closer io.Closer = io.NopCloser(nil)
	if m.Format == FormatTgz {
		zr, err := gzip.NewReader(r)
		if err != nil {
			return nil, fmt.Errorf("read gzip: %w", err)
		}
		r, closer = zr, zr
	}
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err != nil && !errors.Is(err, tar.ErrInsecurePath) {
			_ = closer.Close()
			if errors.Is(err, io.EOF) {
				err = fs.ErrNotExist
			}
			return nil, err
		}
		if h.Typeflag != tar.TypeReg && h.Typeflag != tar.TypeCont && h.Typeflag != tar.TypeGNUSparse {
			continue
		}
		if clean, err := cleanName(h.Name); err == nil && clean == name {
			return struct {
				io.Reader
				io.Closer
			}{tr, closer}, nil
		}
	}
}

// zipEntryName is the cleaned name the extractor gives a zip entry.
func zipEntryName(raw string) (string, error) {
	n, err := zipName(raw)
	if err != nil {
		return "", err
	}
	return cleanName(n)
}

type fileInfo struct {
	name string
	n    node
}

func (fi fileInfo) Name() string       { return fi.name }
func (fi fileInfo) Size() int64        { return fi.n.size }
func (fi fileInfo) ModTime() time.Time { return time.Time{} }
func (fi fileInfo) IsDir() bool        { return fi.n.kind == kindDir }
func (fi fileInfo) Sys() any           { return nil }

func (fi fileInfo) Mode() fs.FileMode {
	switch fi.n.kind {
	case kindDir:
		return fs.ModeDir | fi.n.mode
	case kindSymlink:
		return fs.ModeSymlink | 0o777
	}
	return fi.n.mode
}

// manifestFile reads its content from the archive on first Read.
type manifestFile struct {
	m    *Manifest
	src  string
	info fileInfo
	rc   io.ReadCloser
}

func (f *manifestFile) Stat() (fs.FileInfo, error) { return f.info, nil }

func (f *manifestFile) Read(p []byte) (int, error) {
	if f.rc == nil {
		rc, err := f.m.entry(f.src)
		if err != nil {
			return 0, &fs.PathError{Op: "read", Path: f.info.name, Err: err}
		}
		f.rc = rc
	}
	return f.rc.Read(p)
}

func (f *manifestFile) Close() error {
	if f.rc == nil {
		return nil
	}
	err := f.rc.Close()
	f.rc = nil
	return err
}

type manifestDir struct {
	m       *Manifest
	path    string
	info    fileInfo
	entries []fs.DirEntry
	read    bool
}

func (d *manifestDir) Stat() (fs.FileInfo, error) { return d.info, nil }
func (d *manifestDir) Close() error               { return nil }

func (d *manifestDir) Read([]byte) (int, error) {
	return 0, &fs.PathError{Op: "read", Path: d.info.name, Err: errors.New("is a directory")}
}

// ReadDir implements fs.ReadDirFile.
func (d *manifestDir) ReadDir(n int) ([]fs.DirEntry, error) {
	if !d.read {
		d.entries, d.read = d.m.children(d.path), true
	}
	if n <= 0 {
		out := d.entries
		d.entries = nil
		return out, nil
	}
	if len(d.entries) == 0 {
		return nil, io.EOF
	}
	n = min(n, len(d.entries))
	out := d.entries[:n:n]
	d.entries = d.entries[n:]
	return out, nil
}
