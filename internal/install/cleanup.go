package install

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// selinuxMark starts a cleanup line that names an SELinux file-context rule to delete rather than
// a path to remove. The reference agent uses the same marker, so a host switching agents keeps
// its cleanup list meaningful.
const selinuxMark = "semanage\x00"

// Cleanup removes what the install that wrote cleanupFile created, then deletes the file. A
// missing file means there is nothing to clean up.
//
// Lines run last to first, so children go before the directories holding them. Files and
// symlinks are removed (a symlink is never followed); a directory only when it is empty, because
// anything else in it was put there by someone else. The last line counts only when it ends in a
// newline: without one, the writer stopped in the middle of it.
//
// When a path cannot be removed, every other line is still tried, the file is kept so the next
// attempt retries, and the error names the paths.
func (in *Installer) Cleanup(ctx context.Context, cleanupFile string) error {
	data, err := os.ReadFile(cleanupFile)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read cleanup list: %w", err)
	}
	lines := completeLines(data)
	log := in.logger()
	var errs []error
	removed, kept := 0, 0
	for i := len(lines) - 1; i >= 0; i-- {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("clean up previous install: %w", err)
		}
		line := lines[i]
		if path, ok := strings.CutPrefix(line, selinuxMark); ok {
			// The reference agent ignores a failure here too: a rule left behind only labels
			// a path that is about to be gone, and it must not block every later deployment.
			if err := in.run(ctx, "semanage", "fcontext", "-d", path); err != nil {
				log.Warn("remove selinux file context", keyPath, path, keyError, err)
			}
			continue
		}
		if !filepath.IsAbs(line) {
			log.Warn("cleanup list line is not an absolute path; skipped", keyPath, line, keyFile, cleanupFile)
			continue
		}
		gone, err := removePath(line)
		switch {
		case err != nil:
			errs = append(errs, err)
		case gone:
			removed++
		default:
			kept++
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("clean up previous install (%s kept for a retry): %w", cleanupFile, errors.Join(errs...))
	}
	if err := os.Remove(cleanupFile); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("clean up previous install: %w", err)
	}
	log.Info("cleaned up previous install", keyRemoved, removed, keyKept, kept)
	return nil
}

// completeLines splits data into lines, dropping a last line that has no newline.
func completeLines(data []byte) []string {
	s := string(data)
	end := strings.LastIndexByte(s, '\n')
	if end < 0 {
		return nil
	}
	return strings.Split(s[:end], "\n")
}

// removePath removes a file, a symlink or an empty directory; gone is false when path is a
// directory that still holds something.
func removePath(path string) (gone bool, err error) {
	info, err := os.Lstat(path) //nolint:gosec // the cleanup list holds paths this agent created
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
		return true, nil
	}
	if err != nil {
		return false, err
	}
	if info.IsDir() {
		err = syscall.Rmdir(path)
		if errors.Is(err, syscall.ENOTEMPTY) || errors.Is(err, syscall.EEXIST) {
			return false, nil
		}
		if err != nil && !errors.Is(err, syscall.ENOENT) {
			return false, &fs.PathError{Op: "rmdir", Path: path, Err: err}
		}
		return true, nil
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) { //nolint:gosec // as above
		return false, err
	}
	return true, nil
}

// cleanupList appends to a group's cleanup file. Lines are buffered and written and synced by
// commit, which the installer calls before it creates the paths it has added; see Install.
type cleanupList struct {
	f   *os.File
	buf []byte
}

func createCleanupList(path string) (*cleanupList, error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("create cleanup list: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("create cleanup list: %w", err)
	}
	if err := syncDir(dir); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("create cleanup list: %w", err)
	}
	return &cleanupList{f: f}, nil
}

func (l *cleanupList) add(line string) {
	l.buf = append(l.buf, line...)
	l.buf = append(l.buf, '\n')
}

// commit makes the added lines durable. One write call per batch keeps every line whole even if
// the process dies halfway through the batch, short of a torn write, which completeLines catches.
func (l *cleanupList) commit() error {
	if len(l.buf) == 0 {
		return nil
	}
	if _, err := l.f.Write(l.buf); err != nil {
		return fmt.Errorf("write cleanup list: %w", err)
	}
	l.buf = l.buf[:0]
	if err := l.f.Sync(); err != nil {
		return fmt.Errorf("sync cleanup list: %w", err)
	}
	return nil
}

func (l *cleanupList) close() error {
	err := l.commit()
	if cerr := l.f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("close cleanup list: %w", cerr)
	}
	return err
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer func() { _ = d.Close() }()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}
