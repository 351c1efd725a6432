package bundle

import (
	"errors"
	"fmt"
	"path"
	"strings"
)

const (
	// maxLinkHops matches Linux's MAXSYMLINKS: a chain longer than the kernel would follow is a
	// loop or an attack, not a layout anyone deploys.
	maxLinkHops = 40
	// maxResolveSteps bounds the work of checking every symlink of a tree, so a crafted web of
	// long chained links costs a fraction of a second instead of hours.
	maxResolveSteps = 1 << 24
	// maxLinkTarget is PATH_MAX: no real symlink target is longer.
	maxLinkTarget = 4096
	// maxNameLen is NAME_MAX, the longest file name Linux file systems hold.
	maxNameLen = 255
)

// cleanName turns an archive entry name into a slash-separated path relative to the bundle root,
// or says why it cannot be one. "." is returned for the root itself.
func cleanName(name string) (string, error) {
	switch {
	case name == "":
		return "", fmt.Errorf("entry with an empty name: %w", ErrUnsafePath)
	case strings.IndexByte(name, 0) >= 0:
		return "", fmt.Errorf("entry %q: name contains a NUL byte: %w", name, ErrUnsafePath)
	case strings.HasPrefix(name, "/"):
		return "", fmt.Errorf("entry %q: absolute path: %w", name, ErrUnsafePath)
	}
	clean := path.Clean(name)
	if clean == ".." || strings.HasPrefix(clean, "../") {
		return "", fmt.Errorf("entry %q: path leaves the bundle: %w", name, ErrUnsafePath)
	}
	// Checked here rather than left to the file system, so Inspect refuses what Extract would.
	for c := range strings.SplitSeq(clean, "/") {
		if len(c) > maxNameLen {
			return "", fmt.Errorf("entry %q: a name in the path is longer than %d bytes: %w", name, maxNameLen, ErrUnsupportedEntry)
		}
	}
	return clean, nil
}

// zipName undoes what Windows zip tools do: they write `\` as the separator and sometimes keep
// the drive. Treating `\` as a separator is what makes `..\..\evil` visible as an escape.
func zipName(name string) (string, error) {
	n := strings.ReplaceAll(name, `\`, "/")
	if len(n) >= 2 && n[1] == ':' && (n[0]|0x20 >= 'a' && n[0]|0x20 <= 'z') {
		return "", fmt.Errorf("entry %q: path with a drive letter: %w", name, ErrUnsafePath)
	}
	return n, nil
}

// checkLinkTarget is the quick, per-entry test of a symlink target: relative, and lexically inside
// the tree from where the link sits. Chains through other links are checked once the whole tree
// is known (see resolver), because a later entry can change what an earlier target means.
func checkLinkTarget(name, target string) error {
	switch {
	case target == "":
		return fmt.Errorf("symlink %q: empty target: %w", name, ErrUnsafePath)
	case len(target) > maxLinkTarget:
		return fmt.Errorf("symlink %q: target longer than %d bytes: %w", name, maxLinkTarget, ErrUnsafePath)
	case strings.IndexByte(target, 0) >= 0:
		return fmt.Errorf("symlink %q: target contains a NUL byte: %w", name, ErrUnsafePath)
	case path.IsAbs(target):
		return fmt.Errorf("symlink %q: absolute target %q: %w", name, target, ErrUnsafePath)
	}
	resolved := path.Join(path.Dir(name), target)
	if resolved == ".." || strings.HasPrefix(resolved, "../") {
		return fmt.Errorf("symlink %q: target %q leaves the bundle: %w", name, target, ErrUnsafePath)
	}
	return nil
}

var errResolveBudget = errors.New("symlinks too numerous or too deeply chained to check")

// resolver follows symlink targets through the other symlinks of a tree, component by component,
// the way the kernel would, without touching the disk: a link can be lexically inside the tree and
// still lead out once an intermediate component is itself a link (`l2 -> a/l1/..` with
// `a/l1 -> ..`).
type resolver struct {
	// links maps a link's slash path (relative to the tree root) to its target.
	links map[string]string
	steps int
}

func newResolver(links map[string]string) *resolver {
	return &resolver{links: links, steps: maxResolveSteps}
}

// check returns nil when following the link at name stays inside the tree (a dangling link that
// stays inside is fine), and an error naming the link otherwise.
func (r *resolver) check(name string) error {
	if _, err := r.resolve(path.Dir(name), r.links[name]); err != nil {
		return fmt.Errorf("symlink %q: %w", name, err)
	}
	return nil
}

// resolve follows p from the directory from ("." for the root) through the tree's links and
// returns the path it leads to ("." for the root), or says how it leads out.
func (r *resolver) resolve(from, p string) (string, error) {
	var cur []string
	if from != "." {
		cur = strings.Split(from, "/")
	}
	pending := pushComponents(nil, p)
	hops := 0
	for len(pending) > 0 {
		r.steps--
		if r.steps < 0 {
			return "", fmt.Errorf("%w: %w", errResolveBudget, ErrUnsafePath)
		}
		c := pending[len(pending)-1]
		pending = pending[:len(pending)-1]
		switch c {
		case "", ".":
			continue
		case "..":
			if len(cur) == 0 {
				return "", fmt.Errorf("target %q leads out of the bundle through other links: %w", p, ErrUnsafePath)
			}
			cur = cur[:len(cur)-1]
			continue
		}
		cur = append(cur, c)
		next, ok := r.links[strings.Join(cur, "/")]
		if !ok {
			continue
		}
		hops++
		if hops > maxLinkHops {
			return "", fmt.Errorf("more than %d links in a chain (a loop?): %w", maxLinkHops, ErrUnsafePath)
		}
		if path.IsAbs(next) {
			return "", fmt.Errorf("chain reaches absolute target %q: %w", next, ErrUnsafePath)
		}
		cur = cur[:len(cur)-1]
		pending = pushComponents(pending, next)
	}
	if len(cur) == 0 {
		return ".", nil
	}
	return strings.Join(cur, "/"), nil
}

// pushComponents adds p's components to a stack so that the first component is popped first.
func pushComponents(stack []string, p string) []string {
	parts := strings.Split(p, "/")
	for i := len(parts) - 1; i >= 0; i-- {
		stack = append(stack, parts[i])
	}
	return stack
}
