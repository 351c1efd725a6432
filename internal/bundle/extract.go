package bundle

import (
	"bufio"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path"
	"slices"
	"strconv"
	"strings"
)

// Defaults for Limits. 2 GiB covers any application bundle we expect while keeping a bomb from
// filling a host's disk; 100,000 entries is five times a large node_modules-heavy web app and
// keeps the bookkeeping Extract does per entry (a few hundred bytes) in the tens of megabytes.
const (
	DefaultMaxBytes   int64 = 2 << 30
	DefaultMaxEntries       = 100_000
)

// Limits bound what one extraction may create. A zero field takes its default; there is no
// "unlimited", since an agent must never be at the mercy of an archive's headers.
//
// There is no per-file compression-ratio limit: it would refuse honest bundles (zero-filled
// images, logs, sparse files) while MaxBytes, counted on bytes really written, already bounds
// what a bomb can do.
type Limits struct {
	// MaxBytes is the most file content (bytes written to disk) the archive may expand to.
	MaxBytes int64
	// MaxEntries is the most entries (files, directories, links) the archive may hold.
	MaxEntries int
}

func (l Limits) withDefaults() Limits {
	if l.MaxBytes <= 0 {
		l.MaxBytes = DefaultMaxBytes
	}
	if l.MaxEntries <= 0 {
		l.MaxEntries = DefaultMaxEntries
	}
	return l
}

// Result describes a finished extraction.
type Result struct {
	Format Format
	// Entries counts the archive's entries, directories and links included (tar global headers
	// excluded: they describe the archive, not a file).
	Entries int
	// Bytes is the file content written.
	Bytes int64
	// StrippedDir is the leading directory removed because it held the AppSpec (see Extract),
	// or "".
	StrippedDir string
}

// appspecNames are the files whose presence in a lone top-level directory makes that directory
// the bundle root. The order does not matter here; the appspec package decides which one wins.
var appspecNames = [...]string{"appspec.yml", "appspec.yaml", "appspec.json"}

// copyBufSize trades memory for fewer read/write syscalls; beyond 256 KiB the gain is noise.
const copyBufSize = 256 << 10

// ExtractFile extracts the bundle at path into dest; see Extract.
func ExtractFile(ctx context.Context, path, dest string, lim Limits) (Result, error) {
	f, err := os.Open(path)
	if err != nil {
		return Result{}, fmt.Errorf("extract: %w", err)
	}
	defer func() { _ = f.Close() }()
	fi, err := f.Stat()
	if err != nil {
		return Result{}, fmt.Errorf("extract %s: %w", path, err)
	}
	res, err := Extract(ctx, f, fi.Size(), dest, lim)
	if err != nil {
		return res, fmt.Errorf("extract %s: %w", path, err)
	}
	return res, nil
}

// Extract unpacks the zip, tar or tgz archive held in r (size bytes; format detected from the
// content) into dest, which must be absent or an empty directory.
//
// What it guarantees:
//   - Nothing is created, changed or followed outside dest, even on error. Every file operation
//     goes through an os.Root opened on dest, on top of the checks below.
//   - Entries are refused (the whole extraction fails, naming the entry) when their name is
//     absolute, holds a NUL, or leaves dest after cleaning `..`; when a parent in dest is a symlink
//     or a file; when a symlink's target is absolute or leads out of the tree, directly or through
//     other links (checked once the tree is complete, since a later entry can change what an
//     earlier target means); when a hardlink names anything but an earlier regular file of the
//     same archive; for devices, fifos and sockets; and for names longer than 255 bytes. In zip
//     names `\` is a separator.
//   - A name may appear twice only as a directory (the later mode wins); any other repeat, or a
//     file where a directory was (or the reverse), is ErrConflict.
//   - MaxBytes is enforced on bytes actually written while streaming, and a header that declares
//     more than what is left fails at once; MaxEntries on entries seen.
//   - ctx cancellation stops extraction between reads.
//
// What it does with metadata: permission bits are kept; the sticky bit is kept on directories;
// setuid and setgid are dropped, because the extracting agent usually runs as root and a setuid
// root file materialising from an upload is a privilege escalation waiting to happen (an AppSpec
// `permissions` entry can set them on purpose at install). Directories the archive does not list
// get 0755; directory modes are applied last, so a read-only directory can still be filled.
// Ownership and mtimes are not restored: files belong to the extracting user and carry the time
// of extraction (our own bundles hold a fixed 1980 time that would only mislead).
//
// Leading directory: when the archive's only top-level entry is a directory holding appspec.yml,
// appspec.yaml or appspec.json (GitHub's `repo-sha/` tarballs), its children are moved up into
// dest with renames after extraction (a stream cannot be known to qualify up front) and the
// directory is removed. Result.StrippedDir names it.
//
// On error, the files and directories already written inside dest stay there (the caller removes
// dest), but every symlink extracted is removed first, so that even a forgotten dest holds
// nothing that leads out.
// Nothing is fsynced; an extraction interrupted by a crash is redone, never trusted.
func Extract(ctx context.Context, r io.ReaderAt, size int64, dest string, lim Limits) (Result, error) {
	format, err := detectAt(r)
	if err != nil {
		return Result{}, err
	}
	out, err := openDisk(dest)
	if err != nil {
		return Result{}, err
	}
	x := newExtractor(ctx, out, lim, format)
	// A small archive gets a small buffer: its files may be larger than it (compressed), but
	// then the copy only takes a few more reads.
	x.bufSize = int(min(max(size, 4<<10), copyBufSize))
	return x.run(func() error { return x.readAt(r, size) })
}

// detectAt names the format of the archive in r, or says it is none of the three.
func detectAt(r io.ReaderAt) (Format, error) {
	head := make([]byte, detectLen)
	n, err := r.ReadAt(head, 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return FormatUnknown, fmt.Errorf("read bundle header: %w", err)
	}
	format := Detect(head[:n])
	if format == FormatUnknown {
		return format, fmt.Errorf("not a zip, tar or tgz archive: %w", ErrUnsupportedFormat)
	}
	return format, nil
}

// readAt reads the whole archive from r: a zip through its central directory, a tar or tgz as a
// stream.
func (x *extractor) readAt(r io.ReaderAt, size int64) error {
	if x.res.Format == FormatZip {
		return x.zip(r, size)
	}
	return x.stream(bufio.NewReaderSize(io.NewSectionReader(r, 0, size), readAhead(size)), x.res.Format)
}

// ExtractReader unpacks a tar or tgz stream into dest with the guarantees of Extract. A zip
// cannot be extracted from a stream (its directory is at the end): that is ErrUnsupportedFormat.
func ExtractReader(ctx context.Context, r io.Reader, dest string, lim Limits) (Result, error) {
	br := bufio.NewReaderSize(r, streamBufSize)
	head, err := br.Peek(detectLen)
	if err != nil && !errors.Is(err, io.EOF) {
		return Result{}, fmt.Errorf("read bundle header: %w", err)
	}
	format := Detect(head)
	switch format {
	case FormatUnknown:
		return Result{}, fmt.Errorf("not a tar or tgz archive: %w", ErrUnsupportedFormat)
	case FormatZip:
		return Result{}, fmt.Errorf("zip needs random access, use Extract or ExtractFile: %w", ErrUnsupportedFormat)
	}
	out, err := openDisk(dest)
	if err != nil {
		return Result{}, err
	}
	x := newExtractor(ctx, out, lim, format)
	return x.run(func() error { return x.stream(br, format) })
}

// streamBufSize is the read-ahead on the compressed input; gzip reads it a byte at a time.
const streamBufSize = 1 << 20

// readAhead is the read-ahead for an archive of size bytes: no more than it holds, so that a
// small bundle does not cost a mebibyte of memory to read.
func readAhead(size int64) int { return int(max(min(size, streamBufSize), 16)) }

type kind uint8

const (
	kindDir kind = iota + 1
	kindFile
	kindSymlink
)

func (k kind) String() string {
	switch k {
	case kindDir:
		return "directory"
	case kindFile:
		return "file"
	case kindSymlink:
		return "symlink"
	}
	return "unknown"
}

// node is what Extract remembers of each path it created: enough to refuse writes through links
// and files, to check link chains at the end, to apply directory modes last, and for Inspect to
// describe the tree and find a file's bytes in the archive again.
type node struct {
	kind kind
	// mode is a directory's mode to apply at the end, or a file's permission bits.
	mode   fs.FileMode
	target string // symlinks only
	size   int64  // files only: the content bytes
	// src is, for a hardlink, the cleaned archive name of the file whose content it shares.
	src string
}

// entry is an archive entry with the format's details translated away.
type entry struct {
	name     string // as in the archive, separators already normalised
	kind     kind
	hardlink bool // kindFile whose content is the earlier file `linkname`
	linkname string
	mode     fs.FileMode
	size     int64 // declared content size, -1 if unknown
}

type extractor struct {
	ctx   context.Context
	out   tree
	lim   Limits
	nodes map[string]node // cleaned slash path → node; the root itself is not stored
	res   Result
	// buf is the copy buffer, made at the first file: bufSize bytes.
	buf     []byte
	bufSize int
}

func newExtractor(ctx context.Context, out tree, lim Limits, format Format) *extractor {
	return &extractor{
		ctx:     ctx,
		out:     out,
		lim:     lim.withDefaults(),
		nodes:   make(map[string]node),
		res:     Result{Format: format},
		bufSize: copyBufSize,
	}
}

// openDisk prepares dest and opens it as the tree Extract writes to.
func openDisk(dest string) (*diskTree, error) {
	if err := prepareDest(dest); err != nil {
		return nil, err
	}
	root, err := os.OpenRoot(dest)
	if err != nil {
		return nil, fmt.Errorf("open destination: %w", err)
	}
	return &diskTree{root: root}, nil
}

// prepareDest insists on an empty destination: the checks against writing through links and the
// leading-directory rule both rely on dest holding only what this archive put there.
func prepareDest(dest string) error {
	d, err := os.Open(dest)
	if errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(dest, 0o755); err != nil { //nolint:gosec // a revision's archive: hooks running as their runas user read it
			return fmt.Errorf("create destination: %w", err)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("open destination: %w", err)
	}
	defer func() { _ = d.Close() }()
	names, err := d.Readdirnames(1)
	if err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("read destination %s: %w", dest, err)
	}
	if len(names) > 0 {
		return fmt.Errorf("%s holds %q: %w", dest, names[0], ErrDestNotEmpty)
	}
	return nil
}

// run extracts with read, then finishes the tree. On any error it removes every symlink it
// created: the caller is told to delete dest, but until it does, nothing in dest may lead out, and
// chains are only checked on a complete tree (an archive cut short never gets that far).
func (x *extractor) run(read func() error) (Result, error) {
	defer x.out.close()
	err := read()
	if err == nil {
		err = x.finish()
	}
	if err != nil {
		for name, n := range x.nodes {
			if n.kind == kindSymlink {
				_ = x.out.remove(name)
			}
		}
	}
	return x.res, err
}

// add creates one entry. body is read only for regular files and zip symlinks.
func (x *extractor) add(e entry, body io.Reader) error {
	if err := x.ctx.Err(); err != nil {
		return err
	}
	x.res.Entries++
	if x.res.Entries > x.lim.MaxEntries {
		return fmt.Errorf("more than %d entries: %w", x.lim.MaxEntries, ErrTooManyEntries)
	}
	name, err := cleanName(e.name)
	if err != nil {
		return err
	}
	if name == "." {
		if e.kind == kindDir {
			return nil // "./" leads many tar archives; dest already exists
		}
		return fmt.Errorf("entry %q: a %s cannot be the bundle root: %w", e.name, e.kind, ErrUnsafePath)
	}
	if err := x.parents(name); err != nil {
		return err
	}
	if prev, ok := x.nodes[name]; ok {
		if prev.kind == kindDir && e.kind == kindDir && !e.hardlink {
			prev.mode = e.mode
			x.nodes[name] = prev
			return nil
		}
		return fmt.Errorf("entry %q: already in the bundle as a %s: %w", name, prev.kind, ErrConflict)
	}
	switch {
	case e.hardlink:
		return x.hardlink(name, e.linkname)
	case e.kind == kindDir:
		if err := x.out.mkdir(name); err != nil {
			return fmt.Errorf("entry %q: %w", name, err)
		}
		x.nodes[name] = node{kind: kindDir, mode: e.mode}
	case e.kind == kindSymlink:
		return x.symlink(name, e.linkname)
	default:
		return x.file(name, e, body)
	}
	return nil
}

// parents creates the missing ancestors of name and refuses to go through a link or a file.
// Every known node's ancestors are known directories, so a known parent directory ends the walk.
func (x *extractor) parents(name string) error {
	dir := path.Dir(name)
	if dir == "." {
		return nil
	}
	if n, ok := x.nodes[dir]; ok && n.kind == kindDir {
		return nil
	}
	for i := 0; i <= len(dir); i++ {
		if i < len(dir) && dir[i] != '/' {
			continue
		}
		p := dir[:i]
		n, ok := x.nodes[p]
		switch {
		case !ok:
			if err := x.out.mkdir(p); err != nil {
				return fmt.Errorf("entry %q: %w", name, err)
			}
			x.nodes[p] = node{kind: kindDir, mode: 0o755}
		case n.kind == kindSymlink:
			return fmt.Errorf("entry %q: parent %q is a symlink: %w", name, p, ErrUnsafePath)
		case n.kind == kindFile:
			return fmt.Errorf("entry %q: parent %q is a file: %w", name, p, ErrConflict)
		}
	}
	return nil
}

func (x *extractor) file(name string, e entry, body io.Reader) error {
	left := x.lim.MaxBytes - x.res.Bytes
	if e.size > left {
		return fmt.Errorf("entry %q declares %d bytes, past the %d-byte limit: %w", name, e.size, x.lim.MaxBytes, ErrTooLarge)
	}
	f, err := x.out.create(name)
	if err != nil {
		return fmt.Errorf("entry %q: %w", name, err)
	}
	before := x.res.Bytes
	err = x.copy(name, f, body)
	x.nodes[name] = node{kind: kindFile, mode: e.mode.Perm(), size: x.res.Bytes - before}
	if err != nil {
		_ = f.Close()
		return err
	}
	// Chmod on the open file: exact bits regardless of umask, and no path to race on.
	if err := f.Chmod(e.mode.Perm()); err != nil {
		_ = f.Close()
		return fmt.Errorf("entry %q: %w", name, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("entry %q: %w", name, err)
	}
	return nil
}

// copy streams body into f, counting what is written against MaxBytes: headers can lie, bytes
// cannot. A read that would pass the limit is refused before it is written.
func (x *extractor) copy(name string, f io.Writer, body io.Reader) error {
	if x.buf == nil {
		x.buf = make([]byte, x.bufSize)
	}
	for {
		if err := x.ctx.Err(); err != nil {
			return err
		}
		n, rerr := body.Read(x.buf)
		if n > 0 {
			if int64(n) > x.lim.MaxBytes-x.res.Bytes {
				return fmt.Errorf("entry %q: bundle expands past the %d-byte limit: %w", name, x.lim.MaxBytes, ErrTooLarge)
			}
			if _, err := f.Write(x.buf[:n]); err != nil {
				return fmt.Errorf("entry %q: %w", name, err)
			}
			x.res.Bytes += int64(n)
		}
		if errors.Is(rerr, io.EOF) {
			return nil
		}
		if rerr != nil {
			return fmt.Errorf("entry %q: %w", name, rerr)
		}
	}
}

func (x *extractor) symlink(name, target string) error {
	if err := checkLinkTarget(name, target); err != nil {
		return err
	}
	if err := x.out.symlink(target, name); err != nil {
		return fmt.Errorf("entry %q: %w", name, err)
	}
	x.nodes[name] = node{kind: kindSymlink, target: target}
	return nil
}

// hardlink links only to a regular file this archive already created: that file's path holds no
// link and sits inside dest, so the new name shares nothing but that file's content.
func (x *extractor) hardlink(name, linkname string) error {
	target, err := cleanName(linkname)
	if err != nil {
		return fmt.Errorf("hardlink %q: target: %w", name, err)
	}
	n, ok := x.nodes[target]
	if !ok || n.kind != kindFile {
		return fmt.Errorf("hardlink %q: target %q is not an earlier regular file of the bundle: %w", name, linkname, ErrUnsafePath)
	}
	if err := x.out.link(target, name); err != nil {
		return fmt.Errorf("entry %q: %w", name, err)
	}
	if n.src == "" {
		n.src = target
	}
	x.nodes[name] = n
	return nil
}

// stream extracts a tar or tgz read sequentially.
func (x *extractor) stream(r io.Reader, format Format) error {
	if format == FormatTgz {
		zr, err := gzip.NewReader(r)
		if err != nil {
			return fmt.Errorf("read gzip: %w", err)
		}
		defer func() { _ = zr.Close() }()
		r = zr
	}
	return x.tar(r)
}

// finish checks link chains, strips the leading directory when the rule applies, then applies
// directory modes, deepest first so a directory made unsearchable does not hide its children.
func (x *extractor) finish() error {
	top, strip := x.leadingDir()
	prefix := ""
	if strip {
		prefix = top + "/"
	}
	links := make(map[string]string)
	for name, n := range x.nodes {
		if n.kind == kindSymlink && strings.HasPrefix(name, prefix) {
			links[name[len(prefix):]] = n.target
		}
	}
	res := newResolver(links)
	// In name order, so the same archive is always refused naming the same link.
	for _, name := range slices.Sorted(maps.Keys(links)) {
		if err := res.check(name); err != nil {
			return err
		}
	}
	if strip {
		if err := x.strip(top); err != nil {
			return err
		}
		x.res.StrippedDir = top
	}
	var dirs []string
	for name, n := range x.nodes {
		if n.kind == kindDir {
			dirs = append(dirs, name)
		}
	}
	slices.SortFunc(dirs, func(a, b string) int {
		return strings.Count(b, "/") - strings.Count(a, "/")
	})
	for _, d := range dirs {
		if err := x.out.chmod(d, x.nodes[d].mode); err != nil {
			return fmt.Errorf("directory %q: %w", d, err)
		}
	}
	return nil
}

// leadingDir reports the archive's only top-level entry when it is a directory holding an AppSpec.
func (x *extractor) leadingDir() (string, bool) {
	top := ""
	for name := range x.nodes {
		first, _, _ := strings.Cut(name, "/")
		if top == "" {
			top = first
		} else if first != top {
			return "", false
		}
	}
	if n, ok := x.nodes[top]; !ok || n.kind != kindDir {
		return "", false
	}
	for _, a := range appspecNames {
		if n, ok := x.nodes[top+"/"+a]; ok && n.kind != kindDir {
			return top, true
		}
	}
	return "", false
}

// strip moves top's children into the root with renames (no copy). top is first renamed aside
// because it may hold a child of its own name (`repo/repo/...`); the name it is moved to is one
// that neither top nor any of its children has, since each child is then renamed to its own name
// in the root.
func (x *extractor) strip(top string) error {
	aside := ".slipway-strip"
	for i := 2; aside == top || x.nodes[top+"/"+aside].kind != 0; i++ {
		aside = ".slipway-strip-" + strconv.Itoa(i)
	}
	if err := x.out.rename(top, aside); err != nil {
		return fmt.Errorf("strip %q: %w", top, err)
	}
	prefix := top + "/"
	nodes := make(map[string]node, len(x.nodes))
	for name, n := range x.nodes {
		rel, ok := strings.CutPrefix(name, prefix)
		if !ok {
			continue
		}
		nodes[rel] = n
		if strings.Contains(rel, "/") {
			continue
		}
		if err := x.out.rename(aside+"/"+rel, rel); err != nil {
			return fmt.Errorf("strip %q: %w", top, err)
		}
	}
	if err := x.out.remove(aside); err != nil {
		return fmt.Errorf("strip %q: %w", top, err)
	}
	x.nodes = nodes
	return nil
}
