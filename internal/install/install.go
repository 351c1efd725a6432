package install

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"

	"github.com/slipway-deploy/slipway/internal/appspec"
)

// Log keys.
const (
	keyPath     = "path"
	keyFile     = "file"
	keyError    = "error"
	keyRemoved  = "removed"
	keyKept     = "kept"
	keyDirs     = "dirs"
	keyFiles    = "files"
	keyLinks    = "symlinks"
	keyRetained = "retained"
	keyBehavior = "file_exists_behavior"
	keyLine     = "line"
)

// batchSize is how many paths are recorded in the cleanup list, with one fsync, before any of
// them is created. See Install.
const batchSize = 1024

// Installer performs the Install event. The zero value runs real commands and logs nothing.
type Installer struct {
	// Run runs an external command (setfacl, semanage, restorecon); nil runs it for real. It is
	// the seam through which tests see the SELinux command lines, which this kernel cannot run.
	Run func(ctx context.Context, name string, args ...string) error
	// LookPath finds a command before anything is installed, so a missing setfacl fails the
	// install before it writes a file; nil is exec.LookPath.
	LookPath func(file string) (string, error)
	Logger   *slog.Logger
}

// Request is one Install event.
type Request struct {
	Spec *appspec.Spec
	// ArchiveDir is the extracted bundle.
	ArchiveDir string
	// CleanupFile is <root>/deployment-instructions/<group-id>-cleanup: it lists what the
	// group's previous install created, and is rewritten with what this one creates.
	CleanupFile string
	// InstallFile is <root>/deployment-instructions/<group-id>-install.json.
	InstallFile string
	// FileExists is the deployment's option; the appspec's own value wins over it.
	FileExists appspec.FileExistsBehavior
}

// step is an Instruction as it will run on this host.
type step struct {
	Instruction
	// overwrite is set when the target exists and file_exists_behavior is OVERWRITE.
	overwrite bool
}

// Install removes what the group's previous install created, then installs req.Spec's files
// from req.ArchiveDir and applies its permissions.
//
// Everything that can be refused is refused before the first file is written: a DISALLOW
// conflict, a collision between files entries, an unknown owner, a missing setfacl. Such a failure
// leaves the host as the cleanup left it.
//
// Crash safety: every path is in the cleanup list, on disk, before it is created, so whatever an
// interrupted install wrote is removed by the next one. Paths are recorded batchSize at a time
// with one fsync per batch instead of one per file: an fsync per file would make a 20,000-file
// install take minutes on a slow disk, while recording a path a little early is harmless, as
// cleanup skips a path that was never created. The one cost is that an OVERWRITE target recorded
// early may be removed by the next cleanup without having been replaced, which that next
// install would have done anyway.
func (in *Installer) Install(ctx context.Context, req Request) error {
	if req.Spec == nil {
		return errors.New("install: no appspec")
	}
	if req.Spec.OS == appspec.OSWindows {
		return fmt.Errorf("%w: the appspec says os: windows, but this host runs linux; set os: linux", ErrWrongOS)
	}
	if err := in.Cleanup(ctx, req.CleanupFile); err != nil {
		return err
	}
	plan, err := Plan(req.Spec, req.ArchiveDir)
	if err != nil {
		return err
	}
	behavior := req.Spec.FileExistsBehavior.Resolve(req.FileExists)
	steps, retained, err := resolveExisting(plan, behavior)
	if err != nil {
		return err
	}
	jobs, err := in.planPermissions(req.Spec.Permissions, steps)
	if err != nil {
		return err
	}
	if err := writeInstructions(req.InstallFile, steps); err != nil {
		return err
	}
	list, err := createCleanupList(req.CleanupFile)
	if err != nil {
		return err
	}
	err = in.execute(ctx, steps, list)
	if err == nil {
		err = in.applyPermissions(ctx, jobs, list)
	}
	if cerr := list.close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	var dirs, files, links int
	for _, s := range steps {
		switch s.Kind {
		case KindMkdir:
			dirs++
		case KindCopy:
			files++
		case KindSymlink:
			links++
		}
	}
	in.logger().Info("installed", keyDirs, dirs, keyFiles, files, keyLinks, links, keyRetained, retained, keyBehavior, behavior.String())
	return nil
}

// resolveExisting applies file_exists_behavior to the copy and symlink targets that exist. All
// targets are looked at before returning, so a DISALLOW error tells how many paths are in the way.
func resolveExisting(plan []Instruction, behavior appspec.FileExistsBehavior) (steps []step, retained int, err error) {
	steps = make([]step, 0, len(plan))
	var blocked []string
	for _, in := range plan {
		if in.Kind == KindMkdir {
			steps = append(steps, step{Instruction: in})
			continue
		}
		info, err := os.Lstat(in.Destination)
		if errors.Is(err, fs.ErrNotExist) {
			steps = append(steps, step{Instruction: in})
			continue
		}
		if err != nil {
			return nil, 0, fmt.Errorf("files entry at line %d: %w", in.Line, err)
		}
		if info.IsDir() {
			return nil, 0, fmt.Errorf("%w: %s is a directory, but the files entry at line %d installs a file there; remove the directory or change the destination",
				ErrTypeConflict, in.Destination, in.Line)
		}
		switch behavior {
		case appspec.FileExistsOverwrite:
			steps = append(steps, step{Instruction: in, overwrite: true})
		case appspec.FileExistsRetain:
			retained++
		default:
			blocked = append(blocked, in.Destination)
		}
	}
	if len(blocked) > 0 {
		more := ""
		if len(blocked) > 1 {
			more = fmt.Sprintf(" (and %d more)", len(blocked)-1)
		}
		// The previous install's files are gone by now, so whatever is there came from elsewhere:
		// say so, and name both places the behaviour can be set (the deployment's option is
		// `slipway-agent local --file-exists-behavior` when running locally).
		return nil, 0, fmt.Errorf("%w at %s%s, not written by this group's previous install; set file_exists_behavior: OVERWRITE or RETAIN in the appspec or the deployment's file-exists-behavior option, or remove the file",
			ErrFileExists, blocked[0], more)
	}
	return steps, retained, nil
}

// writeInstructions writes install.json the way the reference agent lays it out, replacing the
// old one atomically so a reader never sees half of it.
func writeInstructions(path string, steps []step) error {
	doc := struct {
		Instructions []Instruction `json:"instructions"`
	}{Instructions: make([]Instruction, 0, len(steps))}
	for _, s := range steps {
		doc.Instructions = append(doc.Instructions, s.Instruction)
	}
	data, err := json.Marshal(doc)
	if err != nil {
		return fmt.Errorf("write install instructions: %w", err)
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return fmt.Errorf("write install instructions: %w", err)
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("write install instructions: %w", err)
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		_ = os.Remove(f.Name())
		return fmt.Errorf("write install instructions %s: %w", path, err)
	}
	return syncDir(dir)
}

// execute runs the steps, recording each batch of paths in the cleanup list before creating them.
func (in *Installer) execute(ctx context.Context, steps []step, list *cleanupList) error {
	for start := 0; start < len(steps); start += batchSize {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("install: %w", err)
		}
		batch := steps[start:min(start+batchSize, len(steps))]
		for _, s := range batch {
			if s.overwrite {
				list.add(tmpName(s.Destination))
			}
			list.add(s.Destination)
		}
		if err := list.commit(); err != nil {
			return err
		}
		if err := runBatch(batch); err != nil {
			return err
		}
	}
	return nil
}

// copyWorkers is how many files are copied at once. Creating a file is mostly waiting on the
// filesystem, so a few at a time go faster than one even on one CPU.
const copyWorkers = 4

// runBatch runs mkdirs and symlinks in order and hands copies to workers. A copy is handed over
// only after every step before it ran or was handed over, so its directory exists by then.
func runBatch(batch []step) error {
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
	)
	fail := func(s step, err error) {
		mu.Lock()
		defer mu.Unlock()
		if first == nil {
			first = fmt.Errorf("install %s (files entry at line %d): %w", s.Destination, s.Line, err)
		}
	}
	failed := func() bool {
		mu.Lock()
		defer mu.Unlock()
		return first != nil
	}
	copies := make(chan step)
	for range copyWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for s := range copies {
				if err := s.run(); err != nil {
					fail(s, err)
				}
			}
		}()
	}
	for _, s := range batch {
		if failed() {
			break
		}
		if s.Kind == KindCopy {
			copies <- s
			continue
		}
		if err := s.run(); err != nil {
			fail(s, err)
		}
	}
	close(copies)
	wg.Wait()
	return first
}

func (s step) run() error {
	switch s.Kind {
	case KindMkdir:
		return makeDir(s.Source, s.Destination)
	case KindCopy:
		return copyFile(s.Source, s.Destination, s.overwrite)
	case KindSymlink:
		return makeLink(s.Target, s.Destination, s.overwrite)
	}
	return fmt.Errorf("unknown instruction kind %d", int(s.Kind))
}

// tmpName is where an OVERWRITE target is written before it replaces the old file. It is fixed
// rather than random so that it can be recorded in the cleanup list before it exists.
func tmpName(dest string) string {
	return filepath.Join(filepath.Dir(dest), "."+filepath.Base(dest)+".slipway-new")
}

// modeBits are the parts of a bundle file's mode an install keeps.
const modeBits = fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky

// makeDir creates dest; a directory that mirrors one in the bundle (src set) gets its mode, a
// missing ancestor the usual 0755.
func makeDir(src, dest string) error {
	// 0755 as the reference agent makes them: the application's users must be able to read what
	// is installed, and permissions entries narrow it where wanted.
	if err := os.Mkdir(dest, 0o755); err != nil { //nolint:gosec // see above
		return err
	}
	if src == "" {
		return nil
	}
	info, err := os.Lstat(src)
	if err != nil {
		return err
	}
	// Mkdir's mode passes through the umask; the bundle's mode should not.
	return os.Chmod(dest, info.Mode()&modeBits)
}

// copyFile copies the bundle file src to dest with its mode and modification time. A new file is
// created in place (O_EXCL, so nothing that appeared since planning is clobbered); an OVERWRITE
// target is written beside it and renamed over it, so the old file stays whole until the new one
// is complete.
func copyFile(src, dest string, overwrite bool) (err error) {
	r, err := os.Open(src)
	if err != nil {
		return err
	}
	defer func() { _ = r.Close() }()
	info, err := r.Stat()
	if err != nil {
		return err
	}
	if !info.Mode().IsRegular() {
		return fmt.Errorf("%s in the bundle is no longer a regular file", src)
	}
	path := dest
	if overwrite {
		path = tmpName(dest)
	}
	w, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = os.Remove(path)
		}
	}()
	_, err = io.Copy(w, r)
	if err == nil {
		err = w.Chmod(info.Mode() & modeBits)
	}
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if err := os.Chtimes(path, info.ModTime(), info.ModTime()); err != nil {
		return err
	}
	if overwrite {
		return os.Rename(path, dest)
	}
	return nil
}

func makeLink(target, dest string, overwrite bool) error {
	if !overwrite {
		return os.Symlink(target, dest)
	}
	tmp := tmpName(dest)
	if err := os.Symlink(target, tmp); err != nil {
		return err
	}
	if err := os.Rename(tmp, dest); err != nil {
		_ = os.Remove(tmp)
		return err
	}
	return nil
}

// run runs an external command through Run, or for real with its output kept for the error.
func (in *Installer) run(ctx context.Context, name string, args ...string) error {
	if in.Run != nil {
		return in.Run(ctx, name, args...)
	}
	cmd := exec.CommandContext(ctx, name, args...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		msg := strings.TrimSpace(string(out))
		if msg == "" {
			return fmt.Errorf("%s: %w", strings.Join(cmd.Args, " "), err)
		}
		return fmt.Errorf("%s: %w: %s", strings.Join(cmd.Args, " "), err, msg)
	}
	return nil
}

func (in *Installer) lookPath(file string) error {
	look := in.LookPath
	if look == nil {
		look = exec.LookPath
	}
	_, err := look(file)
	return err
}

func (in *Installer) logger() *slog.Logger {
	if in.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return in.Logger
}
