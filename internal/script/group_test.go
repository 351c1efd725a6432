package script

import (
	"context"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// startHook runs body as a hook in another goroutine and returns the process group that Started
// reported, and the channel Run's result arrives on.
func startHook(t *testing.T, body string) (string, Group, <-chan Result) {
	t.Helper()
	dir := t.TempDir()
	groups := make(chan Group, 1)
	done := make(chan Result, 1)
	c := Command{
		Event:   "BeforeInstall",
		Path:    writeScript(t, dir, "hook.sh", "#!/bin/sh\n"+body, 0o755),
		Dir:     dir,
		Timeout: time.Minute,
		Env:     []string{testPath},
		Started: func(g Group) { groups <- g },
	}
	go func() { done <- (&Runner{KillGrace: time.Minute}).Run(context.Background(), c) }()
	select {
	case g := <-groups:
		t.Cleanup(func() { _ = syscall.Kill(-g.ID, syscall.SIGKILL) })
		return dir, g, done
	case res := <-done:
		t.Fatalf("the hook ended before reporting its group: %v %s", res.Code, res.Message)
	case <-time.After(30 * time.Second):
		t.Fatal("Started was not called")
	}
	return "", Group{}, nil
}

func TestRun_StartedReportsTheScriptsGroup(t *testing.T) {
	t.Parallel()
	dir, g, done := startHook(t, "echo $$ > script.pid\nexec sleep 1000\n")
	if pid := readPID(t, filepath.Join(dir, "script.pid")); g.ID != pid {
		t.Errorf("group id %d, want the script's pid %d", g.ID, pid)
	}
	if g.Start == 0 || g.Boot == "" {
		t.Errorf("group %+v lacks its start time or boot id", g)
	}
	_ = syscall.Kill(-g.ID, syscall.SIGKILL)
	<-done
}

func TestEnd_TerminatesARunningScriptsGroup(t *testing.T) {
	t.Parallel()
	dir, g, done := startHook(t, "sleep 1000 &\necho $! > child.pid\nwait\n")
	child := readPID(t, filepath.Join(dir, "child.pid"))
	got, err := End(context.Background(), g, time.Minute)
	if err != nil || got != Terminated {
		t.Fatalf("End = %v, %v; want %v", got, err, Terminated)
	}
	waitGone(t, g.ID, child)
	if res := <-done; res.Signal != syscall.SIGTERM {
		t.Errorf("script ended with signal %v, want SIGTERM", res.Signal)
	}
}

func TestEnd_KillsAGroupThatIgnoresTERM(t *testing.T) {
	t.Parallel()
	// An ignored signal stays ignored across fork and exec: the sleep ignores TERM too.
	dir, g, done := startHook(t, "trap '' TERM\nsleep 1000 &\necho $! > child.pid\nwait\n")
	child := readPID(t, filepath.Join(dir, "child.pid"))
	got, err := End(context.Background(), g, 100*time.Millisecond)
	if err != nil || got != Killed {
		t.Fatalf("End = %v, %v; want %v", got, err, Killed)
	}
	waitGone(t, g.ID, child)
	<-done
}

// TestEnd_LeavesOthersAlone: a record that does not describe the process now holding the id
// (a reused pid, another boot) or whose script has ended signals nothing.
func TestEnd_LeavesOthersAlone(t *testing.T) {
	t.Parallel()
	cmd := exec.Command("sleep", "1000")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	own, err := groupOf(cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	reused, otherBoot := own, own
	reused.Start++
	otherBoot.Boot = "00000000-0000-0000-0000-000000000000"
	for name, g := range map[string]Group{"reused pid": reused, "another boot": otherBoot} {
		got, err := End(context.Background(), g, 10*time.Millisecond)
		if err != nil || got != NotRunning {
			t.Errorf("%s: End = %v, %v; want %v", name, got, err, NotRunning)
		}
	}
	if !Running(cmd.Process.Pid) {
		t.Fatal("End signalled a process it did not start")
	}

	t.Run("leader gone", func(t *testing.T) {
		// The script exits and leaves a daemon in its group, as an ApplicationStart may.
		dir, g, done := startHook(t, "sleep 1000 > /dev/null 2>&1 &\necho $! > child.pid\n")
		if res := <-done; res.Code != Succeeded {
			t.Fatalf("script: %v %s", res.Code, res.Message)
		}
		child := readPID(t, filepath.Join(dir, "child.pid"))
		got, err := End(context.Background(), g, 10*time.Millisecond)
		if err != nil || got != NotRunning {
			t.Errorf("End = %v, %v; want %v", got, err, NotRunning)
		}
		if !Running(child) {
			t.Error("End stopped what a finished script left running")
		}
	})

	t.Run("incomplete record", func(t *testing.T) {
		if _, err := End(context.Background(), Group{ID: own.ID}, time.Millisecond); err == nil {
			t.Error("End of a record without start time or boot id: no error")
		}
	})
}
