package install

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// writeList writes a cleanup list with the given content into dir.
func writeList(t *testing.T, dir, content string) string {
	t.Helper()
	p := filepath.Join(dir, "deployment-instructions", "g-cleanup")
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func lines(paths ...string) string { return strings.Join(paths, "\n") + "\n" }

func TestCleanup_RemovesFilesSymlinksAndEmptyDirs(t *testing.T) {
	dir := t.TempDir()
	makeTree(t, dir, tree{
		"app/sub/file":     "1",
		"app/top":          "2",
		"app/link-to-file": linkPrefix + "../outside/keep",
		"app/link-to-dir":  linkPrefix + "../outside",
		"outside/keep":     "3",
	})
	p := func(rel string) string { return filepath.Join(dir, rel) }
	// Written in install order: parents first. Cleanup must go the other way.
	list := writeList(t, dir, lines(p("app"), p("app/sub"), p("app/sub/file"), p("app/top"), p("app/link-to-file"), p("app/link-to-dir")))
	if err := (&Installer{Logger: testLogger(t)}).Cleanup(context.Background(), list); err != nil {
		t.Fatalf("Cleanup: %v", err)
	}
	if exists(t, p("app")) {
		t.Error("app still exists")
	}
	if got := readFile(t, p("outside/keep")); got != "3" {
		t.Errorf("symlink target content = %q, want it untouched", got)
	}
	if exists(t, list) {
		t.Error("cleanup list still exists after a clean run")
	}
}

func TestCleanup_NonEmptyDirectoryKept(t *testing.T) {
	dir := t.TempDir()
	makeTree(t, dir, tree{"app/ours": "1", "app/theirs": "added by someone else"})
	p := func(rel string) string { return filepath.Join(dir, rel) }
	list := writeList(t, dir, lines(p("app"), p("app/ours")))
	if err := (&Installer{}).Cleanup(context.Background(), list); err != nil {
		t.Fatalf("Cleanup: %v", err)
	}
	if exists(t, p("app/ours")) {
		t.Error("app/ours still exists")
	}
	if got := readFile(t, p("app/theirs")); got != "added by someone else" {
		t.Errorf("app/theirs = %q", got)
	}
}

func TestCleanup_MangledLastLineIgnored(t *testing.T) {
	dir := t.TempDir()
	makeTree(t, dir, tree{"a": "1", "b": "2", "bc": "3"})
	p := func(rel string) string { return filepath.Join(dir, rel) }
	// The writer died while writing ".../bc": only ".../b" made it, without its newline. Taking
	// that fragment as a path would remove b, which this install never wrote.
	list := writeList(t, dir, p("a")+"\n"+p("b"))
	if err := (&Installer{}).Cleanup(context.Background(), list); err != nil {
		t.Fatalf("Cleanup: %v", err)
	}
	if exists(t, p("a")) {
		t.Error("a still exists")
	}
	if !exists(t, p("b")) {
		t.Error("b was removed from a mangled last line")
	}
}

func TestCleanup_MissingListIsFine(t *testing.T) {
	if err := (&Installer{}).Cleanup(context.Background(), filepath.Join(t.TempDir(), "none")); err != nil {
		t.Fatalf("Cleanup: %v", err)
	}
}

func TestCleanup_MissingPathsAndRelativeLinesSkipped(t *testing.T) {
	dir := t.TempDir()
	makeTree(t, dir, tree{"a": "1"})
	cwd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	// A relative line would be resolved against the working directory: never act on it.
	list := writeList(t, dir, lines(filepath.Join(dir, "gone"), "plan_test.go", filepath.Join(dir, "a"), ""))
	if err := (&Installer{}).Cleanup(context.Background(), list); err != nil {
		t.Fatalf("Cleanup: %v", err)
	}
	if !exists(t, filepath.Join(cwd, "plan_test.go")) {
		t.Error("a relative line removed a file in the working directory")
	}
	if exists(t, filepath.Join(dir, "a")) {
		t.Error("a still exists")
	}
}

func TestCleanup_FailureKeepsListForRetry(t *testing.T) {
	dir := t.TempDir()
	makeTree(t, dir, tree{"a": "1"})
	bad := filepath.Join(dir, strings.Repeat("x", 300)) // longer than any name the kernel takes
	list := writeList(t, dir, lines(filepath.Join(dir, "a"), bad))
	err := (&Installer{}).Cleanup(context.Background(), list)
	if err == nil {
		t.Fatal("Cleanup succeeded with a path it cannot remove")
	}
	if !strings.Contains(err.Error(), bad) {
		t.Errorf("error %q should name the path", err)
	}
	if exists(t, filepath.Join(dir, "a")) {
		t.Error("the other lines were not cleaned up")
	}
	if !exists(t, list) {
		t.Error("cleanup list was deleted although a path is left")
	}
}

func TestCleanup_SELinuxLineDeletesRule(t *testing.T) {
	dir := t.TempDir()
	makeTree(t, dir, tree{"a": "1"})
	a := filepath.Join(dir, "a")
	cmds := &commands{onCall: func(string, []string) error { return errors.New("semanage: rule not found") }}
	list := writeList(t, dir, lines(a, selinuxMark+a))
	if err := (&Installer{Run: cmds.run, Logger: testLogger(t)}).Cleanup(context.Background(), list); err != nil {
		t.Fatalf("Cleanup: %v (a failing semanage -d must not block the next deployment)", err)
	}
	if got, want := cmds.got(), []string{"semanage fcontext -d " + a}; !slices.Equal(got, want) {
		t.Errorf("commands = %q, want %q", got, want)
	}
	if exists(t, a) {
		t.Error("a still exists")
	}
}
