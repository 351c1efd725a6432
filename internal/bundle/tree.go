package bundle

import (
	"io"
	"io/fs"
	"os"
	"path"
)

// tree is where the extractor puts the entries it has checked: a directory on disk for Extract,
// nowhere for Inspect. Every check lives in the extractor, so both reach the same verdict on the
// same archive. Names are cleaned slash paths relative to the tree's root.
type tree interface {
	mkdir(name string) error
	create(name string) (treeFile, error)
	symlink(target, name string) error
	link(target, name string) error
	rename(from, to string) error
	remove(name string) error
	chmod(name string, mode fs.FileMode) error
	close()
}

// treeFile is a file being written by the extractor.
type treeFile interface {
	io.Writer
	Chmod(mode fs.FileMode) error
	Close() error
}

// diskTree writes through an os.Root on the destination, so nothing can land outside it.
type diskTree struct {
	root *os.Root
	// dir is an os.Root on dirName, the directory the last file was created in (see create).
	dir     *os.Root
	dirName string
}

func (d *diskTree) mkdir(name string) error                   { return d.root.Mkdir(name, 0o755) }
func (d *diskTree) symlink(target, name string) error         { return d.root.Symlink(target, name) }
func (d *diskTree) link(target, name string) error            { return d.root.Link(target, name) }
func (d *diskTree) rename(from, to string) error              { return d.root.Rename(from, to) }
func (d *diskTree) remove(name string) error                  { return d.root.Remove(name) }
func (d *diskTree) chmod(name string, mode fs.FileMode) error { return d.root.Chmod(name, mode) }

func (d *diskTree) close() {
	if d.dir != nil {
		_ = d.dir.Close()
	}
	_ = d.root.Close()
}

// create makes a new file for name. O_EXCL: never open whatever might already sit at the name,
// link or not.
//
// Opening through os.Root walks every path component with syscalls of its own, and that walk, not
// decompression, was most of the time extracting a 20,000-file bundle. Archives list a
// directory's files together, so the Root of the last file's directory is kept and reused.
func (d *diskTree) create(name string) (treeFile, error) {
	const flags = os.O_WRONLY | os.O_CREATE | os.O_EXCL
	dir, base := path.Dir(name), path.Base(name)
	if dir == "." {
		return d.root.OpenFile(name, flags, 0o600)
	}
	if d.dir == nil || d.dirName != dir {
		if d.dir != nil {
			_ = d.dir.Close()
			d.dir = nil
		}
		r, err := d.root.OpenRoot(dir)
		if err != nil {
			return nil, err
		}
		d.dir, d.dirName = r, dir
	}
	return d.dir.OpenFile(base, flags, 0o600)
}

// nullTree keeps nothing: Inspect reads every byte (limits count bytes really read, not what
// headers claim) and throws them away.
type nullTree struct{}

func (nullTree) mkdir(string) error              { return nil }
func (nullTree) create(string) (treeFile, error) { return nullFile{}, nil }
func (nullTree) symlink(string, string) error    { return nil }
func (nullTree) link(string, string) error       { return nil }
func (nullTree) rename(string, string) error     { return nil }
func (nullTree) remove(string) error             { return nil }
func (nullTree) chmod(string, fs.FileMode) error { return nil }
func (nullTree) close()                          {}

type nullFile struct{}

func (nullFile) Write(p []byte) (int, error) { return len(p), nil }
func (nullFile) Chmod(fs.FileMode) error     { return nil }
func (nullFile) Close() error                { return nil }
