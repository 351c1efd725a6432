package script

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Group identifies a script's process group well enough for another process, such as the agent
// started again after it was killed, to end it without ending a stranger that now has its id.
type Group struct {
	// ID is the process group id, which is the script's pid: the script leads its group.
	ID int `json:"id"`
	// Start is when the script started, in clock ticks after boot (field 22 of /proc/PID/stat).
	// A pid that is reused belongs to a process that started later.
	Start uint64 `json:"start"`
	// Boot is the kernel's boot id: ticks after boot repeat from one boot to the next.
	Boot string `json:"boot"`
}

// Ending is what End did to a process group.
type Ending int

const (
	// NotRunning means the script had already ended: End signalled nothing.
	NotRunning Ending = iota
	// Terminated means the group ended after SIGTERM.
	Terminated
	// Killed means the group outlasted the grace after SIGTERM and got SIGKILL.
	Killed
)

func (e Ending) String() string {
	switch e {
	case Terminated:
		return "ended by SIGTERM"
	case Killed:
		return "ended by SIGKILL"
	}
	return "not running"
}

// procRoot is where the kernel shows processes.
const procRoot = "/proc"

// groupOf identifies the process group that pid leads.
func groupOf(pid int) (Group, error) {
	st, err := readStat(pid)
	if err != nil {
		return Group{}, err
	}
	boot, err := bootID()
	if err != nil {
		return Group{}, err
	}
	return Group{ID: pid, Start: st.start, Boot: boot}, nil
}

// End ends what is left of a script that another process started: when the group's leader is
// still the script g recorded and still runs, it sends SIGTERM to the whole group, then SIGKILL
// to what remains after grace, and waits for the group to be gone.
//
// A group whose leader has exited is left alone, even if processes remain in it: the script has
// ended, what it left in the background is what any finished script may leave (a daemon from
// ApplicationStart), and a group id without its leader can no longer be told from a later one.
// While the leader runs, its id cannot be reused, so the check and the signals are safe; the
// group id stays allocated while any member lives, so the wait after SIGTERM is too.
func End(ctx context.Context, g Group, grace time.Duration) (Ending, error) {
	if g.ID <= 1 || g.Start == 0 || g.Boot == "" {
		return NotRunning, fmt.Errorf("process group %d: incomplete record (start %d, boot %q)", g.ID, g.Start, g.Boot)
	}
	boot, err := bootID()
	if err != nil {
		return NotRunning, err
	}
	if boot != g.Boot {
		return NotRunning, nil // the machine restarted since: nothing of the script survived
	}
	st, err := readStat(g.ID)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return NotRunning, nil
	case err != nil:
		return NotRunning, err
	case st.start != g.Start || st.pgrp != g.ID || st.state == 'Z' || st.state == 'X':
		return NotRunning, nil
	}
	if err := signalGroup(g.ID, syscall.SIGTERM); err != nil {
		return NotRunning, err
	}
	gone, err := waitGroupGone(ctx, g.ID, grace)
	if err != nil || gone {
		return Terminated, err
	}
	if err := signalGroup(g.ID, syscall.SIGKILL); err != nil {
		return Terminated, err
	}
	// SIGKILL cannot be caught; a process in uninterruptible sleep still takes a moment to die.
	gone, err = waitGroupGone(ctx, g.ID, killWait)
	if err == nil && !gone {
		err = fmt.Errorf("process group %d still has processes %s after SIGKILL", g.ID, killWait)
	}
	return Killed, err
}

// killWait bounds the wait for a process group to go after SIGKILL.
const killWait = 5 * time.Second

func signalGroup(id int, sig syscall.Signal) error {
	err := syscall.Kill(-id, sig)
	if err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("send %s to process group %d: %w", signalName(sig), id, err)
	}
	return nil
}

// waitGroupGone polls until no process of group id runs, for up to within. Zombies do not count:
// a script orphaned by a killed agent is reaped only if something on the machine reaps orphans.
func waitGroupGone(ctx context.Context, id int, within time.Duration) (bool, error) {
	deadline := time.Now().Add(within)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		running, err := groupRunning(id)
		if err != nil || !running {
			return !running, err
		}
		if time.Now().After(deadline) {
			return false, nil
		}
		select {
		case <-ctx.Done():
			return false, context.Cause(ctx)
		case <-tick.C:
		}
	}
}

// groupRunning reports whether a process other than a zombie is in process group id.
func groupRunning(id int) (bool, error) {
	entries, err := os.ReadDir(procRoot)
	if err != nil {
		return false, fmt.Errorf("list processes: %w", err)
	}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		st, err := readStat(pid)
		if err != nil {
			continue // it ended while we looked
		}
		if st.pgrp == id && st.state != 'Z' && st.state != 'X' {
			return true, nil
		}
	}
	return false, nil
}

// Running reports whether process pid runs. A zombie does not: it has ended, and an orphan's
// zombie stays until something on the machine reaps it.
func Running(pid int) bool {
	st, err := readStat(pid)
	return err == nil && st.state != 'Z' && st.state != 'X'
}

// stat holds the fields of /proc/PID/stat that End needs.
type stat struct {
	state byte
	pgrp  int
	start uint64
}

// readStat reads /proc/PID/stat. The command name, field 2, is in parentheses and may hold spaces
// and parentheses itself, so the fields are counted from the last ')'.
func readStat(pid int) (stat, error) {
	b, err := os.ReadFile(fmt.Sprintf("%s/%d/stat", procRoot, pid))
	if err != nil {
		return stat{}, err
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return stat{}, fmt.Errorf("process %d: malformed stat", pid)
	}
	// After ")": field 3 (state) is at index 0, field 5 (pgrp) at 2, field 22 (starttime) at 19.
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 20 || len(f[0]) != 1 {
		return stat{}, fmt.Errorf("process %d: malformed stat", pid)
	}
	pgrp, err := strconv.Atoi(f[2])
	if err != nil {
		return stat{}, fmt.Errorf("process %d: malformed stat: %w", pid, err)
	}
	start, err := strconv.ParseUint(f[19], 10, 64)
	if err != nil {
		return stat{}, fmt.Errorf("process %d: malformed stat: %w", pid, err)
	}
	return stat{state: f[0][0], pgrp: pgrp, start: start}, nil
}

// LeadersWithEnv finds the running process group leaders whose environment holds every one of
// vars ("KEY=value"): a script whose group a crash marker could not record, because its agent
// was killed between starting it and writing the marker, is found by the variables the agent
// gave it (a hook's DEPLOYMENT_ID and LIFECYCLE_EVENT). Processes whose environment cannot be
// read (another user's, to an agent not running as root) are passed over.
func LeadersWithEnv(vars ...string) ([]Group, error) {
	if len(vars) == 0 {
		return nil, errors.New("leaders with env: no variables to look for")
	}
	entries, err := os.ReadDir(procRoot)
	if err != nil {
		return nil, fmt.Errorf("list processes: %w", err)
	}
	var out []Group
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		st, err := readStat(pid)
		if err != nil || st.pgrp != pid || st.state == 'Z' || st.state == 'X' {
			continue
		}
		environ, err := os.ReadFile(fmt.Sprintf("%s/%d/environ", procRoot, pid))
		if err != nil || !hasAll(environ, vars) {
			continue
		}
		g, err := groupOf(pid)
		if err != nil {
			continue // it ended while we looked
		}
		out = append(out, g)
	}
	return out, nil
}

// hasAll reports whether a NUL-separated environment holds every one of vars.
func hasAll(environ []byte, vars []string) bool {
	have := make(map[string]bool, len(vars))
	for kv := range bytes.SplitSeq(environ, []byte{0}) {
		have[string(kv)] = true
	}
	for _, v := range vars {
		if !have[v] {
			return false
		}
	}
	return true
}

func bootID() (string, error) {
	b, err := os.ReadFile(procRoot + "/sys/kernel/random/boot_id")
	if err != nil {
		return "", fmt.Errorf("read boot id: %w", err)
	}
	return strings.TrimSpace(string(b)), nil
}
