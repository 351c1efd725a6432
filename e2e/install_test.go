package e2e

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
)

// scripts/action-install.sh at a release tag: the binary is downloaded from the release and
// run only if its sha256 is the one committed in the action's tree.

// installRun runs the install script as action.yml does, for ref, with the action's checkout in
// actionDir and releases served by url; it returns the exit code, the log and the path output.
func installRun(t *testing.T, actionDir, ref, url, toolCache string) (int, string, string) {
	t.Helper()
	outFile := filepath.Join(t.TempDir(), "output")
	cmd := exec.Command("bash", filepath.Join("..", "scripts", "action-install.sh"))
	cmd.Env = []string{
		"PATH=" + os.Getenv("PATH"), "GITHUB_ACTION_PATH=" + actionDir, "SLIPWAY_ACTION_REF=" + ref,
		"SLIPWAY_RELEASE_URL=" + url, "RUNNER_TOOL_CACHE=" + toolCache, "RUNNER_OS=Linux", "RUNNER_ARCH=X64",
		"GITHUB_OUTPUT=" + outFile, "TMPDIR=" + t.TempDir(),
	}
	out, err := cmd.CombinedOutput()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	path := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(readFile(t, outFile)), "path="))
	return code, string(out), path
}

func TestActionInstall_ReleaseBinaryCheckedAgainstCommittedSum(t *testing.T) {
	release, err := os.ReadFile(filepath.Join(bin, "slipway"))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(release)
	var served atomic.Value
	served.Store(release)
	var downloads atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v9.9.9/slipway_linux_amd64" {
			http.NotFound(w, r)
			return
		}
		downloads.Add(1)
		_, _ = w.Write(served.Load().([]byte))
	}))
	t.Cleanup(srv.Close)

	actionDir := t.TempDir()
	writeFile(t, filepath.Join(actionDir, "action", "release.sha256"),
		"# sums\n"+hex.EncodeToString(sum[:])+"  v9.9.9/slipway_linux_amd64\n", 0o644)
	toolCache := t.TempDir()

	code, log, path := installRun(t, actionDir, "v9.9.9", srv.URL, toolCache)
	if code != 0 || !strings.Contains(log, "(release v9.9.9, downloaded)") {
		t.Fatalf("exit %d\n%s", code, log)
	}
	if !strings.HasPrefix(path, toolCache) {
		t.Errorf("path %q is not in the tool cache %s", path, toolCache)
	}
	if out, err := exec.Command(path, "version").CombinedOutput(); err != nil || !strings.HasPrefix(string(out), "slipway ") {
		t.Errorf("installed binary: %v %s", err, out)
	}
	code, log, _ = installRun(t, actionDir, "v9.9.9", srv.URL, toolCache)
	if code != 0 || !strings.Contains(log, "(release v9.9.9, cached)") || downloads.Load() != 1 {
		t.Errorf("second run: exit %d, %d downloads; want the cached binary\n%s", code, downloads.Load(), log)
	}

	// A binary that is not the released one is refused, cached or downloaded.
	tampered := append([]byte(nil), release...)
	tampered[len(tampered)/2] ^= 0xff
	served.Store(tampered)
	if err := os.WriteFile(path, tampered, 0o755); err != nil {
		t.Fatal(err)
	}
	code, log, path = installRun(t, actionDir, "v9.9.9", srv.URL, toolCache)
	if code != 1 || !strings.Contains(log, "but action/release.sha256 says "+hex.EncodeToString(sum[:])+": refusing to run it") || path != "" {
		t.Errorf("tampered download: exit %d, path %q\n%s", code, path, log)
	}
}
