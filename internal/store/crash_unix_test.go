//go:build unix

package store_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/slipway-deploy/slipway/internal/deploy"
	"github.com/slipway-deploy/slipway/internal/store"
)

// crashEnv, when set, makes TestSQLite_SurvivesSIGKILL the child: it saves in a loop against
// the database the variable names until it is killed.
const crashEnv = "SLIPWAY_STORE_CRASH_CHILD_DB"

// crashSave is the child's one kind of save: the deployment's Minimum becomes the version being
// written and the group's revision "r<version>", through a bookkeeping effect. A committed save
// thus leaves the same number in three tables, and a torn one would show.
func crashSave(ctx context.Context, s *store.SQLite) (int, error) {
	v, err := s.GetDeployment(ctx, "d-1")
	if err != nil {
		return 0, err
	}
	next := v.Version + 1
	d := v.Deployment
	d.Minimum = next
	saved, err := s.SaveDeployment(ctx, d, v.Version, []deploy.Effect{deploy.SetGroupRevision{Group: "web", Revision: fmt.Sprintf("r%d", next)}})
	return saved.Version, err
}

func crashChild(path string) {
	ctx := context.Background()
	s, err := store.OpenSQLite(ctx, path)
	if err != nil {
		fmt.Println("child error:", err)
		os.Exit(2)
	}
	for {
		version, err := crashSave(ctx, s)
		if err != nil {
			fmt.Println("child error:", err)
			os.Exit(2)
		}
		// Printed only after the commit returned: the parent may rely on every number it reads.
		fmt.Println("committed", version)
	}
}

// TestSQLite_SurvivesSIGKILL kills a child process that is saving in a loop, several times, and
// checks after each kill that the file is intact and every save the child reported is there.
func TestSQLite_SurvivesSIGKILL(t *testing.T) {
	if path := os.Getenv(crashEnv); path != "" {
		crashChild(path)
		return
	}
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "crash.db")
	s, err := store.OpenSQLite(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	newFixture(t, s, 0)
	create(t, s, newDeployment("d-1", "r1"))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	const rounds, commitsPerRound = 4, 25
	reported := 1
	for round := range rounds {
		// Kill after a varying number of commits so the kill lands at different points.
		reported = runChildUntil(t, path, reported+commitsPerRound+round*7)

		s := openAt(t, path)
		checkIntegrity(t, path)
		v := get(t, s, "d-1")
		if v.Version < reported {
			t.Fatalf("round %d: stored version %d, but the child reported %d committed", round, v.Version, reported)
		}
		if v.Deployment.Minimum != v.Version {
			t.Errorf("round %d: deployment state from version %d stored as version %d", round, v.Deployment.Minimum, v.Version)
		}
		g, err := s.GetGroup(ctx, "app", "web")
		if err != nil {
			t.Fatal(err)
		}
		if want := fmt.Sprintf("r%d", v.Version); g.CurrentRevision != want {
			t.Errorf("round %d: group revision %s, want %s (saved with version %d)", round, g.CurrentRevision, want, v.Version)
		}
		effs, err := s.DeploymentEffects(ctx, "d-1")
		if err != nil {
			t.Fatal(err)
		}
		if len(effs) != v.Version-1 {
			t.Fatalf("round %d: %d effects for version %d, want one per committed save", round, len(effs), v.Version)
		}
		for i, e := range effs {
			if want := (deploy.SetGroupRevision{Group: "web", Revision: fmt.Sprintf("r%d", i+2)}); e.Effect != want || e.Seq != i+1 {
				t.Fatalf("round %d: effect %d is %+v seq %d, want %+v seq %d", round, i, e.Effect, e.Seq, want, i+1)
			}
		}
		reported = v.Version
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// runChildUntil starts the child, reads its reports until one reaches target, kills it with
// SIGKILL and returns the last version it reported.
func runChildUntil(t *testing.T, path string, target int) int {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestSQLite_SurvivesSIGKILL$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashEnv+"="+path)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// A guard, not an assertion: a child that hangs must not hang the test run.
	guard := time.AfterFunc(2*time.Minute, func() { _ = cmd.Process.Kill() })
	defer guard.Stop()

	last := 0
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		line := sc.Text()
		if msg, ok := strings.CutPrefix(line, "child error: "); ok {
			t.Errorf("child: %s", msg)
			break
		}
		num, ok := strings.CutPrefix(line, "committed ")
		if !ok {
			continue
		}
		if last, err = strconv.Atoi(num); err != nil {
			t.Fatalf("child said %q", line)
		}
		if last >= target {
			break
		}
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatalf("kill child: %v", err)
	}
	_ = cmd.Wait() // killed: the error is expected
	if last < target {
		t.Fatalf("child stopped at version %d before reaching %d", last, target)
	}
	return last
}

func checkIntegrity(t *testing.T, path string) {
	t.Helper()
	db := rawDB(t, path)
	var result string
	if err := db.QueryRow("PRAGMA integrity_check").Scan(&result); err != nil {
		t.Fatalf("integrity check: %v", err)
	}
	if result != "ok" {
		t.Fatalf("integrity check: got %q, want ok", result)
	}
	var fk int
	if err := db.QueryRow("SELECT COUNT(*) FROM pragma_foreign_key_check").Scan(&fk); err != nil || fk != 0 {
		t.Fatalf("foreign key check: %d violations (%v), want 0", fk, err)
	}
}
