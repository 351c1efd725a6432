package agent

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/slipway-deploy/slipway/internal/lifecycle"
)

// credential is what the server issued at enrollment. The file holds a secret: it is written with
// mode 0600 in a 0700 directory and never printed.
type credential struct {
	Instance string `json:"instance"`
	Secret   string `json:"credential"`
}

// stateDir is the agent's own directory under the deployment root.
func stateDir(root lifecycle.Root) string { return filepath.Join(string(root), "agent") }

// CredentialPath is where the agent keeps the credential the server issued it.
func CredentialPath(root lifecycle.Root) string { return filepath.Join(stateDir(root), "credential") }

// loadCredential reads the saved credential; ok is false when there is none yet.
func loadCredential(path string) (c credential, ok bool, err error) {
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return credential{}, false, nil
	}
	if err != nil {
		return credential{}, false, fmt.Errorf("read credential: %w", err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return credential{}, false, fmt.Errorf("credential file %s is readable by others (mode %04o): run chmod 600 %s", path, fi.Mode().Perm(), path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return credential{}, false, fmt.Errorf("read credential: %w", err)
	}
	if err := json.Unmarshal(b, &c); err != nil || c.Secret == "" {
		return credential{}, false, fmt.Errorf("credential file %s is damaged: delete it and enroll again with an enrollment token", path)
	}
	return c, true, nil
}

// saveCredential writes the credential so that a crash leaves either no file or a whole one: an
// agent that lost its credential halfway could neither use it nor enroll again on its own.
func saveCredential(path string, c credential) error {
	b, err := json.Marshal(c) //nolint:gosec // this file is where the secret is meant to be kept
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("save credential: %w", err)
	}
	// MkdirAll keeps an existing directory's mode; the credential's directory must not be open.
	if err := os.Chmod(filepath.Dir(path), 0o700); err != nil { //nolint:gosec // a directory needs x
		return fmt.Errorf("save credential: %w", err)
	}
	if err := writeFileAtomic(path, b, 0o600); err != nil {
		return fmt.Errorf("save credential: %w", err)
	}
	return nil
}

// writeFileAtomic replaces path with data (temporary file, fsync, rename, fsync of the directory).
func writeFileAtomic(path string, data []byte, perm fs.FileMode) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	err = f.Chmod(perm)
	if err == nil {
		_, err = f.Write(data)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, err)
	}
	return syncDir(dir)
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
