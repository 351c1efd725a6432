package install

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/slipway-deploy/slipway/internal/appspec"
)

// Kind says what an Instruction does.
type Kind int

// The instruction kinds, named as in install.json.
const (
	KindMkdir Kind = iota + 1
	KindCopy
	KindSymlink
)

func (k Kind) String() string {
	switch k {
	case KindMkdir:
		return "mkdir"
	case KindCopy:
		return "copy"
	case KindSymlink:
		return "symlink"
	}
	return "unknown"
}

// MarshalText writes the instruction type as the reference agent's install.json names it.
func (k Kind) MarshalText() ([]byte, error) {
	switch k {
	case KindMkdir, KindCopy, KindSymlink:
		return []byte(k.String()), nil
	}
	return nil, fmt.Errorf("unknown instruction kind %d", int(k))
}

// UnmarshalText reads what MarshalText writes.
func (k *Kind) UnmarshalText(b []byte) error {
	for _, c := range []Kind{KindMkdir, KindCopy, KindSymlink} {
		if string(b) == c.String() {
			*k = c
			return nil
		}
	}
	return fmt.Errorf("unknown instruction type %q (want mkdir, copy or symlink)", b)
}

// Instruction is one step of an install, in the order it must run.
type Instruction struct {
	Kind Kind `json:"type"`
	// Source is the absolute path in the extracted bundle; empty for a mkdir of a missing
	// ancestor of a destination, which has no counterpart in the bundle.
	Source      string `json:"source,omitempty"`
	Destination string `json:"destination"`
	// Target is the text of a symlink as found in the bundle.
	Target string `json:"target,omitempty"`
	// Line is the appspec line of the files entry the instruction comes from.
	Line int `json:"line,omitempty"`
}

// Plan turns the spec's files section into the mkdir, copy and symlink instructions that
// install it, in order: a directory's mkdir comes before anything inside it.
//
// It reads the bundle and looks at the destinations, because a directory that already exists
// gets no mkdir (it is not ours and will never be cleaned up), and a file standing where a
// directory must go is an error. It creates nothing and does not apply file_exists_behavior:
// whether a copy target exists is decided by the caller, after Plan.
func Plan(spec *appspec.Spec, archiveDir string) ([]Instruction, error) {
	archive, err := filepath.Abs(archiveDir)
	if err != nil {
		return nil, fmt.Errorf("bundle directory %s: %w", archiveDir, err)
	}
	p := planner{archive: archive, copies: map[string]int{}, mkdirs: map[string]int{}}
	for _, f := range spec.Files {
		if err := p.file(f); err != nil {
			return nil, err
		}
	}
	return p.out, nil
}

type planner struct {
	archive string
	out     []Instruction
	// copies and mkdirs map a destination to the index of its instruction in out, to catch two
	// entries that install one path and to merge repeated mkdirs.
	copies map[string]int
	mkdirs map[string]int
}

func (p *planner) file(f appspec.File) error {
	if !filepath.IsAbs(f.Destination) {
		return fmt.Errorf("%w: files entry at line %d has destination %q; give an absolute directory such as /opt/app",
			ErrBadDestination, f.Line, f.Destination)
	}
	dest := filepath.Clean(f.Destination)
	rel, err := sourcePath(f)
	if err != nil {
		return err
	}
	src := filepath.Join(p.archive, rel)
	info, err := p.lstatSource(rel, f)
	if err != nil {
		return err
	}
	if info.IsDir() {
		if err := p.dir(dest, src, f.Line); err != nil {
			return err
		}
		return p.tree(src, dest, f.Line)
	}
	if err := p.dir(dest, "", f.Line); err != nil {
		return err
	}
	return p.entry(src, filepath.Join(dest, filepath.Base(src)), info.Mode().Type(), f.Line)
}

// sourcePath is the source of f relative to the bundle root, "." for the whole bundle.
func sourcePath(f appspec.File) (string, error) {
	for _, c := range strings.Split(f.Source, "/") {
		if c == ".." {
			return "", fmt.Errorf("%w: files entry at line %d has source %q, which leaves the bundle; give a path inside the bundle",
				ErrSourceMissing, f.Line, f.Source)
		}
	}
	rel := strings.TrimLeft(filepath.Clean("/"+f.Source), "/")
	if rel == "" {
		return ".", nil
	}
	return rel, nil
}

// lstatSource checks that rel exists in the bundle without passing through a symlink: a link
// in the middle of a source path would make the install read from wherever it points.
func (p *planner) lstatSource(rel string, f appspec.File) (fs.FileInfo, error) {
	info, err := os.Lstat(p.archive)
	if err != nil {
		return nil, fmt.Errorf("bundle directory %s: %w", p.archive, err)
	}
	if rel == "." {
		return info, nil
	}
	cur := p.archive
	parts := strings.Split(rel, "/")
	for i, c := range parts {
		cur = filepath.Join(cur, c)
		info, err = os.Lstat(cur)
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
			return nil, fmt.Errorf("%w: files entry at line %d has source %q, which is not in the bundle; correct the source or add it to the bundle",
				ErrSourceMissing, f.Line, f.Source)
		}
		if err != nil {
			return nil, fmt.Errorf("files entry at line %d: %w", f.Line, err)
		}
		if i < len(parts)-1 && info.Mode()&fs.ModeSymlink != 0 {
			return nil, fmt.Errorf("%w: files entry at line %d has source %q, which passes through the symlink %s in the bundle; name the real directory instead",
				ErrUnsafeSymlink, f.Line, f.Source, strings.Join(parts[:i+1], "/"))
		}
	}
	return info, nil
}

// tree plans the contents of the bundle directory src into dest, recursively.
func (p *planner) tree(src, dest string, line int) error {
	entries, err := os.ReadDir(src)
	if err != nil {
		return fmt.Errorf("read bundle directory %s: %w", src, err)
	}
	for _, e := range entries {
		s, d := filepath.Join(src, e.Name()), filepath.Join(dest, e.Name())
		if e.IsDir() {
			if err := p.dir(d, s, line); err != nil {
				return err
			}
			if err := p.tree(s, d, line); err != nil {
				return err
			}
			continue
		}
		if err := p.entry(s, d, e.Type(), line); err != nil {
			return err
		}
	}
	return nil
}

// entry plans one non-directory of the bundle.
func (p *planner) entry(src, dest string, typ fs.FileMode, line int) error {
	if err := recordable(dest, line); err != nil {
		return err
	}
	switch {
	case typ.IsRegular():
		return p.add(Instruction{Kind: KindCopy, Source: src, Destination: dest, Line: line})
	case typ&fs.ModeSymlink != 0:
		target, err := p.checkLink(src)
		if err != nil {
			return fmt.Errorf("files entry at line %d: %w", line, err)
		}
		return p.add(Instruction{Kind: KindSymlink, Source: src, Destination: dest, Target: target, Line: line})
	}
	return fmt.Errorf("%w: %s in the bundle (files entry at line %d) is a %s; only files, directories and symlinks can be installed",
		ErrUnsupportedFile, src, line, describeType(typ))
}

// recordable refuses a path the line-based cleanup list could not hold.
func recordable(dest string, line int) error {
	if strings.ContainsRune(dest, '\n') {
		return fmt.Errorf("%w: %q (files entry at line %d) has a newline in its name, which the cleanup list cannot record; rename it in the bundle",
			ErrUnsupportedFile, dest, line)
	}
	return nil
}

func describeType(t fs.FileMode) string {
	switch {
	case t&fs.ModeDevice != 0:
		return "device"
	case t&fs.ModeNamedPipe != 0:
		return "named pipe"
	case t&fs.ModeSocket != 0:
		return "socket"
	}
	return "special file"
}

// add records a copy or symlink instruction, refusing a second one for the same destination.
func (p *planner) add(in Instruction) error {
	if i, ok := p.copies[in.Destination]; ok {
		prev := p.out[i]
		return fmt.Errorf("%w: %s is the destination of both %s (files entry at line %d) and %s (files entry at line %d); remove one of them from the appspec",
			ErrCollision, in.Destination, p.bundlePath(prev.Source), prev.Line, p.bundlePath(in.Source), in.Line)
	}
	if i, ok := p.mkdirs[in.Destination]; ok {
		return fmt.Errorf("%w: %s (files entry at line %d) would install %s where the files entry at line %d makes a directory; change one of the destinations",
			ErrCollision, p.bundlePath(in.Source), in.Line, in.Destination, p.out[i].Line)
	}
	p.copies[in.Destination] = len(p.out)
	p.out = append(p.out, in)
	return nil
}

// dir makes sure dest will be a directory: nothing to do when it already is one, else a mkdir
// after the mkdirs of its missing ancestors. src is the bundle directory it mirrors, if any.
func (p *planner) dir(dest, src string, line int) error {
	if _, ok := p.mkdirs[dest]; ok {
		return nil
	}
	if i, ok := p.copies[dest]; ok {
		return fmt.Errorf("%w: the files entry at line %d needs a directory at %s, where %s (files entry at line %d) is installed; change one of the destinations",
			ErrCollision, line, dest, p.bundlePath(p.out[i].Source), p.out[i].Line)
	}
	// Stat, not Lstat: a symlink to a directory put there by the host's admin (/var/www ->
	// /srv/www) is a directory to install into, as it is for the reference agent.
	info, err := os.Stat(dest)
	switch {
	case err == nil && info.IsDir():
		return nil
	case err == nil:
		return fmt.Errorf("%w: the files entry at line %d needs a directory at %s, but a file is there; remove it or change the destination",
			ErrTypeConflict, line, dest)
	case errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR):
		if _, lerr := os.Lstat(dest); lerr == nil {
			return fmt.Errorf("%w: the files entry at line %d needs a directory at %s, but a broken symlink is there; remove it or change the destination",
				ErrTypeConflict, line, dest)
		}
	default:
		return fmt.Errorf("files entry at line %d: %w", line, err)
	}
	if err := recordable(dest, line); err != nil {
		return err
	}
	if parent := filepath.Dir(dest); parent != dest {
		if err := p.dir(parent, "", line); err != nil {
			return err
		}
	}
	p.mkdirs[dest] = len(p.out)
	p.out = append(p.out, Instruction{Kind: KindMkdir, Source: src, Destination: dest, Line: line})
	return nil
}

// bundlePath shows a bundle path the way the appspec names it.
func (p *planner) bundlePath(abs string) string {
	rel, err := filepath.Rel(p.archive, abs)
	if err != nil {
		return abs
	}
	return rel
}

// maxLinkHops bounds link resolution, as the kernel's ELOOP limit does.
const maxLinkHops = 40

// checkLink returns the text of the bundle symlink at src after checking that following it
// stays inside the bundle. Links it passes through are resolved as the kernel would: checking
// the text alone lets a chain of links that each look harmless climb out.
func (p *planner) checkLink(src string) (string, error) {
	target, err := os.Readlink(src)
	if err != nil {
		return "", fmt.Errorf("read symlink %s: %w", src, err)
	}
	rel := p.bundlePath(src)
	escape := func() error {
		return fmt.Errorf("%w: %s in the bundle points to %q, outside the bundle; use a relative link that stays inside it",
			ErrUnsafeSymlink, rel, target)
	}
	if filepath.IsAbs(target) {
		return "", escape()
	}
	var cur []string
	if d := filepath.Dir(rel); d != "." {
		cur = strings.Split(d, "/")
	}
	todo := strings.Split(target, "/")
	hops := 0
	for len(todo) > 0 {
		c := todo[0]
		todo = todo[1:]
		switch c {
		case "", ".":
			continue
		case "..":
			if len(cur) == 0 {
				return "", escape()
			}
			cur = cur[:len(cur)-1]
			continue
		}
		next := append(cur[:len(cur):len(cur)], c)
		path := filepath.Join(p.archive, filepath.Join(next...))
		info, err := os.Lstat(path)
		if err != nil || info.Mode()&fs.ModeSymlink == 0 {
			// A missing component is taken as written: the link may point at something the
			// application creates later, and no link can hide behind a name that does not exist.
			cur = next
			continue
		}
		if hops++; hops > maxLinkHops {
			return "", fmt.Errorf("%w: %s in the bundle goes through more than %d links", ErrUnsafeSymlink, rel, maxLinkHops)
		}
		t, err := os.Readlink(path)
		if err != nil {
			return "", fmt.Errorf("read symlink %s: %w", path, err)
		}
		if filepath.IsAbs(t) {
			return "", escape()
		}
		todo = append(strings.Split(t, "/"), todo...)
	}
	return target, nil
}
