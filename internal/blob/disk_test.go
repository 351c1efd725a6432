package blob_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/slipway-deploy/slipway/internal/blob"
)

func newDisk(t *testing.T, opts ...blob.Option) (*blob.Disk, string) {
	t.Helper()
	dir := t.TempDir()
	d, err := blob.NewDisk(dir, opts...)
	if err != nil {
		t.Fatalf("NewDisk: %v", err)
	}
	return d, dir
}

// files lists every regular file under dir, relative to it.
func files(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(path string, e os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if e.Type().IsRegular() {
			rel, _ := filepath.Rel(dir, path)
			out = append(out, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func wantOnly(t *testing.T, dir string, want ...string) {
	t.Helper()
	got := files(t, dir)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("files under the blob dir: got %q, want %q", got, want)
	}
}

func TestDisk_RefusesANonPositiveLimit(t *testing.T) {
	if _, err := blob.NewDisk(t.TempDir(), blob.WithMaxSize(0)); err == nil {
		t.Errorf("NewDisk(max 0): got no error, want one")
	}
}

func TestDisk_CleanTemp(t *testing.T) {
	ctx := context.Background()
	d, dir := newDisk(t)
	stale := filepath.Join(dir, "tmp", "put-123")
	other := filepath.Join(dir, "tmp", "not-ours")
	for _, p := range []string{stale, other} {
		if err := os.WriteFile(p, []byte("half an upload"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	old := time.Now().Add(-time.Hour)
	for _, p := range []string{stale, other} {
		if err := os.Chtimes(p, old, old); err != nil {
			t.Fatal(err)
		}
	}
	removed, err := d.CleanTemp(ctx, time.Now().Add(-time.Minute))
	if err != nil || removed != 1 {
		t.Errorf("CleanTemp: got %d %v, want 1 removed", removed, err)
	}
	wantOnly(t, dir, filepath.Join("tmp", "not-ours"))
}
