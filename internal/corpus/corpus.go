package corpus

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// Dir returns shared/corpus/<name> in the nearest directory above the working directory that has
// one, so that it is found from the main checkout and from a git worktree nested deeper alike.
func Dir(name string) (string, error) {
	start, err := filepath.Abs(".")
	if err != nil {
		return "", err
	}
	for dir := start; ; dir = filepath.Dir(dir) {
		p := filepath.Join(dir, "shared", "corpus", name)
		if fi, err := os.Stat(p); err == nil && fi.IsDir() {
			return p, nil
		}
		if dir == filepath.Dir(dir) {
			return "", fmt.Errorf("no shared/corpus/%s in any directory above %s", name, start)
		}
	}
}

// Need returns Dir(name), or skips the test when the corpus is absent; under CI=true, where the
// corpus must be checked out beside the repository, it fails instead.
func Need(t testing.TB, name string) string {
	t.Helper()
	dir, err := Dir(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("test corpus missing (CI must check out shared/ beside the repository): %v", err)
		}
		t.Skipf("test corpus not found: %v", err)
	}
	return dir
}
