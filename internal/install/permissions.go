package install

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/slipway-deploy/slipway/internal/appspec"
)

// aclChunk bounds how many paths one setfacl call gets, far below the kernel's argument limit.
const aclChunk = 256

// permJob is one permissions entry with the installed paths it selects.
type permJob struct {
	perm appspec.Permission
	// paths are files and directories; links are symlinks, which only get their ownership set:
	// chmod, setfacl and semanage would act on whatever the link points to, which this install
	// may not own.
	paths, links []string
	// uid and gid are -1 when not given.
	uid, gid int
}

// planPermissions selects, for each permissions entry, the paths this install creates that it
// applies to, and checks everything that can be checked before a file is written: conflicts,
// default ACLs on files, owners and groups, and the commands the entries need.
//
// Selection follows the reference agent. When object is a file this install creates, the entry
// applies to that file alone (if its type allows files). When object is a directory (created now
// or already there), the entry applies to the installed paths strictly below it: pattern and
// except match the names of direct children only, except pattern "**", which matches every path
// below. A path selected by two entries is an error.
func (in *Installer) planPermissions(perms []appspec.Permission, steps []step) ([]permJob, error) {
	if len(perms) == 0 {
		return nil, nil
	}
	kinds := make(map[string]Kind, len(steps))
	for _, s := range steps {
		kinds[s.Destination] = s.Kind
	}
	selectedBy := map[string]int{}
	var jobs []permJob
	for _, perm := range perms {
		if !filepath.IsAbs(perm.Object) {
			return nil, fmt.Errorf("%w: permissions at line %d have object %q; give an absolute path", ErrBadDestination, perm.Line, perm.Object)
		}
		obj := filepath.Clean(perm.Object)
		var selected []step
		kind, installed := kinds[obj]
		switch {
		case installed && kind != KindMkdir:
			if !perm.AppliesTo(appspec.ObjectFile) {
				continue
			}
			if (perm.Pattern != "" && perm.Pattern != "**") || len(perm.Except) > 0 {
				return nil, fmt.Errorf("%w: permissions at line %d name the file %s as object, so pattern and except cannot apply; remove them or set object to its directory",
					ErrPermissionConflict, perm.Line, obj)
			}
			selected = []step{{Instruction: Instruction{Kind: kind, Destination: obj}}}
		case installed || isDir(obj):
			for _, s := range steps {
				if perm.AppliesTo(objectType(s.Kind)) && selects(perm, obj, s.Destination) {
					selected = append(selected, s)
				}
			}
		default:
			in.logger().Debug("permissions object was not installed and is not a directory; nothing to do", keyPath, obj, keyLine, perm.Line)
			continue
		}
		job := permJob{perm: perm, uid: -1, gid: -1}
		for _, s := range selected {
			if first, ok := selectedBy[s.Destination]; ok {
				return nil, fmt.Errorf("%w: %s is selected by the permissions at line %d and at line %d; narrow one of them with pattern, except or type",
					ErrPermissionConflict, s.Destination, first, perm.Line)
			}
			selectedBy[s.Destination] = perm.Line
			if s.Kind != KindMkdir && hasDefaultACL(perm.ACLs) {
				return nil, fmt.Errorf("%w: the permissions at line %d select the file %s and give default (d:) ACL entries; add type: [directory] or remove those entries",
					ErrDefaultACLOnFile, perm.Line, s.Destination)
			}
			if s.Kind == KindSymlink {
				job.links = append(job.links, s.Destination)
			} else {
				job.paths = append(job.paths, s.Destination)
			}
		}
		if len(job.paths) == 0 && len(job.links) == 0 {
			continue
		}
		if err := in.resolveOwner(&job); err != nil {
			return nil, err
		}
		if err := in.checkTools(job); err != nil {
			return nil, err
		}
		jobs = append(jobs, job)
	}
	return jobs, nil
}

func objectType(k Kind) appspec.ObjectType {
	if k == KindMkdir {
		return appspec.ObjectDirectory
	}
	return appspec.ObjectFile
}

// selects reports whether perm, whose object is obj, applies to the installed path.
func selects(perm appspec.Permission, obj, path string) bool {
	prefix := obj
	if !strings.HasSuffix(prefix, "/") {
		prefix += "/"
	}
	rel, ok := strings.CutPrefix(path, prefix)
	if !ok || rel == "" {
		return false
	}
	if perm.Pattern != "" && perm.Pattern != "**" && !matchChild(perm.Pattern, rel) {
		return false
	}
	for _, e := range perm.Except {
		if matchChild(e, rel) {
			return false
		}
	}
	return true
}

// matchChild reports whether rel is a direct child name matching pattern.
func matchChild(pattern, rel string) bool {
	return !strings.Contains(rel, "/") && matchGlob(pattern, rel)
}

// matchGlob matches name against pattern where only '*' is special, as in the reference agent:
// '?' and '[' stand for themselves, so a file called "a[1]" is matched by the pattern "a[1]".
func matchGlob(pattern, name string) bool {
	p, n := 0, 0
	star, from := -1, 0
	for n < len(name) {
		switch {
		case p < len(pattern) && pattern[p] == '*':
			star, from = p, n
			p++
		case p < len(pattern) && pattern[p] == name[n]:
			p++
			n++
		case star >= 0:
			from++
			p, n = star+1, from
		default:
			return false
		}
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}

func isDir(path string) bool {
	info, err := os.Stat(path)
	return err == nil && info.IsDir()
}

func hasDefaultACL(acls []appspec.ACE) bool {
	for _, a := range acls {
		if a.Default {
			return true
		}
	}
	return false
}

func (in *Installer) resolveOwner(job *permJob) error {
	p := job.perm
	if p.Owner != "" {
		u, err := user.Lookup(p.Owner)
		if err != nil {
			return ownerError(p, "user", p.Owner, "useradd", err)
		}
		if job.uid, err = strconv.Atoi(u.Uid); err != nil {
			return fmt.Errorf("permissions at line %d: user %s has uid %q: %w", p.Line, p.Owner, u.Uid, err)
		}
	}
	if p.Group != "" {
		g, err := user.LookupGroup(p.Group)
		if err != nil {
			return ownerError(p, "group", p.Group, "groupadd", err)
		}
		if job.gid, err = strconv.Atoi(g.Gid); err != nil {
			return fmt.Errorf("permissions at line %d: group %s has gid %q: %w", p.Line, p.Group, g.Gid, err)
		}
	}
	return nil
}

func ownerError(p appspec.Permission, what, name, add string, err error) error {
	var uerr user.UnknownUserError
	var gerr user.UnknownGroupError
	if errors.As(err, &uerr) || errors.As(err, &gerr) {
		return fmt.Errorf("%w: the permissions at line %d name the %s %q, which does not exist on this host; create it (%s) or change the appspec",
			ErrUnknownOwner, p.Line, what, name, add)
	}
	return fmt.Errorf("permissions at line %d: look up %s %q: %w", p.Line, what, name, err)
}

// checkTools makes sure the commands job needs are installed. Only real paths need them: links
// get their ownership alone.
func (in *Installer) checkTools(job permJob) error {
	if len(job.paths) == 0 {
		return nil
	}
	if len(job.perm.ACLs) > 0 {
		if err := in.lookPath("setfacl"); err != nil {
			return aclToolError(job.perm.Line)
		}
	}
	if job.perm.Context != nil {
		for _, tool := range []string{"semanage", "restorecon"} {
			if err := in.lookPath(tool); err != nil {
				return contextToolError(job.perm.Line, tool)
			}
		}
	}
	return nil
}

func aclToolError(line int) error {
	return fmt.Errorf("%w: permissions at line %d use acls but setfacl is not installed (apt-get install acl)", ErrToolMissing, line)
}

func contextToolError(line int, tool string) error {
	return fmt.Errorf("%w: permissions at line %d use an SELinux context but %s is not installed (install policycoreutils-python-utils, and SELinux must be enabled)",
		ErrToolMissing, line, tool)
}

// applyPermissions applies each job in the order chmod, setfacl, SELinux context, chown. Every
// path gets at most one job, so doing one step for all of a job's paths before the next step
// keeps that order for each path while letting setfacl take many paths per call.
func (in *Installer) applyPermissions(ctx context.Context, jobs []permJob, list *cleanupList) error {
	for _, j := range jobs {
		if err := in.applyJob(ctx, j, list); err != nil {
			return fmt.Errorf("permissions at line %d: %w", j.perm.Line, err)
		}
	}
	return nil
}

func (in *Installer) applyJob(ctx context.Context, j permJob, list *cleanupList) error {
	p := j.perm
	if p.Mode != nil {
		for _, path := range j.paths {
			if err := os.Chmod(path, p.Mode.Bits); err != nil {
				return err
			}
		}
	}
	if len(p.ACLs) > 0 {
		entries := make([]string, len(p.ACLs))
		for i, a := range p.ACLs {
			entries[i] = a.String()
		}
		spec := strings.Join(entries, ",")
		for start := 0; start < len(j.paths); start += aclChunk {
			args := append([]string{"--modify", spec}, j.paths[start:min(start+aclChunk, len(j.paths))]...)
			if err := in.run(ctx, "setfacl", args...); err != nil {
				if errors.Is(err, exec.ErrNotFound) {
					return aclToolError(p.Line)
				}
				return err
			}
		}
	}
	if p.Context != nil {
		for _, path := range j.paths {
			if err := in.setContext(ctx, p, path, list); err != nil {
				return err
			}
		}
	}
	if j.uid >= 0 || j.gid >= 0 {
		for _, path := range append(j.paths[:len(j.paths):len(j.paths)], j.links...) {
			if err := os.Lchown(path, j.uid, j.gid); err != nil {
				return err
			}
		}
		if p.Mode != nil && p.Mode.Bits&(fs.ModeSetuid|fs.ModeSetgid) != 0 {
			for _, path := range j.paths {
				if err := restoreSetID(path, p.Mode.Bits); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// restoreSetID puts back the setuid and setgid bits that chown clears on Linux, even for root.
// The current permission bits are kept as they are: with an ACL they show the mask, which a chmod
// to the appspec's mode would overwrite.
func restoreSetID(path string, want fs.FileMode) error {
	info, err := os.Lstat(path)
	if err != nil {
		return err
	}
	special := fs.ModeSetuid | fs.ModeSetgid
	if info.Mode()&special == want&special {
		return nil
	}
	return os.Chmod(path, info.Mode()&(fs.ModePerm|fs.ModeSticky)|want&special)
}

// setContext adds an SELinux file-context rule for path and relabels it, as the reference agent
// does: the rule names the real path, because file contexts are matched after symlinks in the
// directories above are resolved. The rule is recorded for cleanup before it is added.
func (in *Installer) setContext(ctx context.Context, p appspec.Permission, path string, list *cleanupList) error {
	realPath, err := filepath.EvalSymlinks(path)
	if err != nil {
		return err
	}
	list.add(selinuxMark + realPath)
	if err := list.commit(); err != nil {
		return err
	}
	c := p.Context
	args := []string{"fcontext", "-a"}
	if c.User != "" {
		args = append(args, "-s", c.User)
	}
	args = append(args, "-t", c.Type)
	if c.Range != nil {
		args = append(args, "-r", c.Range.Text)
	}
	args = append(args, realPath)
	for _, cmd := range []struct {
		name string
		args []string
	}{{"semanage", args}, {"restorecon", []string{"-v", realPath}}} {
		if err := in.run(ctx, cmd.name, cmd.args...); err != nil {
			if errors.Is(err, exec.ErrNotFound) {
				return contextToolError(p.Line, cmd.name)
			}
			return err
		}
	}
	return nil
}
