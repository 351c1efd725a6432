package lifecycle

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// ErrLocked means another agent process is using the deployment root.
var ErrLocked = errors.New("deployment root is in use")

// Lock takes an exclusive lock on the root for the life of the process, so two agents (or a
// `local` run next to the service) never interleave installs into the same cleanup list. The lock
// is released by the returned function or when the process exits, even by SIGKILL.
func (r Root) Lock() (unlock func() error, err error) {
	if err := os.MkdirAll(string(r), 0o755); err != nil { //nolint:gosec // hooks running as their runas user go through it to reach the archive
		return nil, fmt.Errorf("create deployment root: %w", err)
	}
	if err := r.checkClosed(); err != nil {
		return nil, err
	}
	path := filepath.Join(string(r), ".lock")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		_ = f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("%w: another slipway-agent holds %s", ErrLocked, path)
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return f.Close, nil
}

// checkClosed refuses a root that another user owns or that group or others may write. The
// agent, usually root, unpacks, installs and runs hooks from under it: whoever else may write
// there could swap a revision's files, between unpacking and installing, for links to anything
// on the host. Like sshd's StrictModes, it is refused rather than quietly chmodded, since an
// open root may already have been tampered with.
func (r Root) checkClosed() error {
	fi, err := os.Stat(string(r))
	if err != nil {
		return fmt.Errorf("deployment root: %w", err)
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return nil // not a Unix file system: nothing to check
	}
	switch {
	case !fi.IsDir():
		return fmt.Errorf("deployment root %s is not a directory", r)
	case int(st.Uid) != os.Geteuid():
		return fmt.Errorf("deployment root %s belongs to uid %d, not to the agent's uid %d: chown it to the agent's user (or pick another --root)", r, st.Uid, os.Geteuid())
	case fi.Mode().Perm()&0o022 != 0:
		return fmt.Errorf("deployment root %s has mode %04o, so others may write in it: chmod go-w %s", r, fi.Mode().Perm(), r)
	}
	return nil
}
