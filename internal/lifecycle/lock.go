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
	if err := os.MkdirAll(string(r), 0o755); err != nil {
		return nil, fmt.Errorf("create deployment root: %w", err)
	}
	path := filepath.Join(string(r), ".lock")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("%w: another slipway-agent holds %s", ErrLocked, path)
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return f.Close, nil
}
