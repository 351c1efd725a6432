package script

import (
	"fmt"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
)

// account is a user a script runs as.
//
// The reference agent runs `su USER -c SCRIPT`. Slipway sets the process credentials directly
// instead: the user's login shell is never involved, so accounts whose shell is nologin (the
// usual kind for a service user) work, and nothing of the path is parsed by a shell. Like su
// without "-", the environment is the caller's with HOME, USER and LOGNAME set for the user;
// SHELL is dropped rather than set, because the login shell is not what runs the script and is
// often nologin. Unlike su, PATH is not reset from login.defs and no PAM session is opened (no
// pam_limits, no pam_systemd session).
type account struct {
	name   string
	uid    uint32
	gid    uint32
	groups []uint32
	home   string
}

func lookupAccount(name string) (account, error) {
	u, err := user.Lookup(name)
	if err != nil {
		return account{}, fmt.Errorf("look up user %s: %w", name, err)
	}
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return account{}, fmt.Errorf("user %s has a non-numeric uid %q", name, u.Uid)
	}
	gid, err := strconv.ParseUint(u.Gid, 10, 32)
	if err != nil {
		return account{}, fmt.Errorf("user %s has a non-numeric gid %q", name, u.Gid)
	}
	ids, err := u.GroupIds()
	if err != nil {
		return account{}, fmt.Errorf("look up the groups of user %s: %w", name, err)
	}
	a := account{name: name, uid: uint32(uid), gid: uint32(gid), home: u.HomeDir}
	for _, id := range ids {
		g, err := strconv.ParseUint(id, 10, 32)
		if err != nil {
			return account{}, fmt.Errorf("user %s is in a group with a non-numeric gid %q", name, id)
		}
		a.groups = append(a.groups, uint32(g))
	}
	return a, nil
}

func (a account) credential() *syscall.Credential {
	return &syscall.Credential{Uid: a.uid, Gid: a.gid, Groups: a.groups}
}

// environ returns env with the variables that name the user replaced.
func (a account) environ(env []string) []string {
	out := make([]string, 0, len(env)+3)
	for _, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		switch k {
		case "HOME", "USER", "LOGNAME", "SHELL":
			continue
		}
		out = append(out, kv)
	}
	return append(out, "HOME="+a.home, "USER="+a.name, "LOGNAME="+a.name)
}

// accessProblem says, from the mode bits, why the user cannot reach path with want (4 read,
// 1 execute or search): the outermost directory it cannot search, or the file itself. Empty when
// the mode bits allow it. ACLs are not read, so this is only used to explain a failure that has
// already happened, never to refuse a run.
func (a account) accessProblem(path string, want uint32) string {
	var dirs []string
	for d := filepath.Dir(path); ; d = filepath.Dir(d) {
		dirs = append(dirs, d)
		if d == filepath.Dir(d) {
			break
		}
	}
	slices.Reverse(dirs)
	for _, d := range dirs {
		if p := a.denied(d, 0o1, "search"); p != "" {
			return p
		}
	}
	verb := "read and execute"
	if want == 0o1 {
		verb = "search"
	}
	return a.denied(path, want, verb)
}

func (a account) denied(path string, want uint32, verb string) string {
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		return ""
	}
	perm := st.Mode & 0o7777
	var bits uint32
	switch {
	case st.Uid == a.uid:
		bits = perm >> 6
	case st.Gid == a.gid || slices.Contains(a.groups, st.Gid):
		bits = perm >> 3
	default:
		bits = perm
	}
	if bits&want == want {
		return ""
	}
	return fmt.Sprintf("%s has mode %04o and owner %s, so user %s cannot %s it", path, perm, ownerName(st.Uid), a.name, verb)
}

func ownerName(uid uint32) string {
	id := strconv.FormatUint(uint64(uid), 10)
	if u, err := user.LookupId(id); err == nil {
		return u.Username
	}
	return "uid " + id
}
