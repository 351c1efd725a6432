package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/slipway-deploy/slipway/internal/script"
)

// The tests in this file run the real slipway-agent binary, since what they check (SIGKILL, a
// lock held by another process) cannot happen inside one test process.

// sleeperBundle is a revision whose BeforeInstall writes its pid to pidFile, then sleeps.
func sleeperBundle(t *testing.T, pidFile string) string {
	t.Helper()
	return newBundle(t, map[string]string{
		"appspec.yml": "version: 0.0\nos: linux\nhooks:\n  BeforeInstall:\n    - location: sleep.sh\n      timeout: 600\n",
		"sleep.sh":    "#!/bin/sh\necho $$ > " + pidFile + ".tmp\nmv " + pidFile + ".tmp " + pidFile + "\nexec sleep 600\n",
	})
}

// startAgent starts `slipway-agent local` with args; its output collects in the returned buffer.
func startAgent(t *testing.T, args ...string) (*exec.Cmd, *bytes.Buffer) {
	t.Helper()
	var out bytes.Buffer
	cmd := exec.Command(agentBinary(t), append([]string{"local"}, args...)...)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	return cmd, &out
}

// waitForPid waits for a script to write its pid, and has its process group killed at the end.
func waitForPid(t *testing.T, path string, agent *exec.Cmd) int {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if b, err := os.ReadFile(path); err == nil {
			pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
			if err != nil {
				t.Fatalf("pid file: %v", err)
			}
			// The script runs in its own process group, which outlives a killed agent.
			t.Cleanup(func() { _ = syscall.Kill(-pid, syscall.SIGKILL) })
			return pid
		}
		if agent.ProcessState != nil {
			t.Fatal("the agent exited before the script started")
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no pid file %s: the hook did not start", path)
	return 0
}

// TestLocal_CrashRuleReportsInterruptedEvent kills an agent with SIGKILL while its hook runs; the
// next run ends the orphaned hook, then reports the event as failed, then deploys.
func TestLocal_CrashRuleReportsInterruptedEvent(t *testing.T) {
	dir := t.TempDir()
	root, pidFile := filepath.Join(dir, "root"), filepath.Join(dir, "pid")
	agent, _ := startAgent(t, "--bundle", sleeperBundle(t, pidFile), "--root", root, "--deployment-id", "d-crash")
	hook := waitForPid(t, pidFile, agent)

	// Kill the agent alone, as a crash or an OOM kill would: the script is left running.
	if err := agent.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = agent.Wait()
	if !script.Running(hook) {
		t.Fatal("the script died with the agent; the test needs it orphaned")
	}

	next := newBundle(t, map[string]string{
		"appspec.yml": "version: 0.0\nos: linux\nhooks:\n  BeforeInstall:\n    - location: ok.sh\n",
		"ok.sh":       "#!/bin/sh\necho fine\n",
	})
	out, err := exec.Command(agentBinary(t), "local", "--bundle", next, "--root", root, "--deployment-id", "d-next").CombinedOutput()
	if err != nil {
		t.Fatalf("second run: %v\n%s", err, out)
	}
	text := string(out)
	if want := "interrupted: BeforeInstall of deployment d-crash"; !strings.Contains(text, want) {
		t.Errorf("second run's output lacks %q:\n%s", want, text)
	}
	if want := "did not finish: Failed (FailedAfterRestart)"; !strings.Contains(text, want) {
		t.Errorf("second run's output lacks %q:\n%s", want, text)
	}
	if !strings.Contains(text, "\nSucceeded in ") {
		t.Errorf("the second deployment did not proceed to success:\n%s", text)
	}
	// The orphaned hook was ended before the next deployment's hooks ran, and the run said so.
	if script.Running(hook) {
		t.Errorf("the interrupted hook (pid %d) still runs after the next deployment", hook)
	}
	ended := fmt.Sprintf("interrupted: the script of BeforeInstall of deployment d-crash was still running (process group %d): ended by SIGTERM\n", hook)
	if i, j := strings.Index(text, ended), strings.Index(text, "deployment d-next"); i < 0 || j < i {
		t.Errorf("second run's output lacks %q before the new deployment starts:\n%s", ended, text)
	}

	// Reported once: a third run has nothing interrupted to report.
	out, err = exec.Command(agentBinary(t), "local", "--bundle", next, "--root", root, "--deployment-id", "d-third").CombinedOutput()
	if err != nil {
		t.Fatalf("third run: %v\n%s", err, out)
	}
	if strings.Contains(string(out), "interrupted:") {
		t.Errorf("third run reports an interrupted event again:\n%s", out)
	}
}

func TestLocal_LockRefusesSecondRun(t *testing.T) {
	dir := t.TempDir()
	root, pidFile := filepath.Join(dir, "root"), filepath.Join(dir, "pid")
	agent, firstOut := startAgent(t, "--bundle", sleeperBundle(t, pidFile), "--root", root, "--deployment-id", "d-first")
	hook := waitForPid(t, pidFile, agent)

	other := newBundle(t, map[string]string{"appspec.yml": "version: 0.0\nos: linux\n"})
	code, stdout, stderr := runCLI(t, "local", "--bundle", other, "--root", root, "--deployment-id", "d-second")
	if code != 1 {
		t.Errorf("second run on a locked root: exit status %d, want 1", code)
	}
	if want := "deployment root is in use: another slipway-agent holds " + filepath.Join(root, ".lock"); !strings.Contains(stderr, want) {
		t.Errorf("stderr %q, want it to contain %q", stderr, want)
	}
	if strings.Contains(stdout, "d-second") {
		t.Errorf("the refused run started a deployment:\n%s", stdout)
	}

	// The first agent, told to stop, stops its script's process group and reports the event failed.
	if err := agent.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	err := agent.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Errorf("stopped agent: %v, want exit status 1\n%s", err, firstOut)
	}
	if !strings.Contains(firstOut.String(), "BeforeInstall") || !strings.Contains(firstOut.String(), "agent is stopping") {
		t.Errorf("stopped agent's output does not say BeforeInstall was stopped:\n%s", firstOut)
	}
	deadline := time.Now().Add(30 * time.Second)
	for script.Running(hook) {
		if time.Now().After(deadline) {
			t.Fatalf("script %d still runs after its agent stopped", hook)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
