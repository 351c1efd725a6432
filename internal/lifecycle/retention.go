package lifecycle

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
)

// DefaultKeepRevisions is how many deployment directories of a group are kept, as CodeDeploy's
// agent keeps five by default.
const DefaultKeepRevisions = 5

// prune deletes the group's oldest deployment directories so that at most keep remain, counting
// the one about to be created (current). The last successfully installed revision counts towards
// keep but is never deleted, since the next ApplicationStop needs its scripts: as in the reference
// agent, when it is among the oldest a newer revision is deleted in its place.
func (r Root) prune(groupID, current string, keep int) ([]string, error) {
	if keep < 1 {
		keep = 1
	}
	entries, err := os.ReadDir(r.groupDir(groupID))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list revisions: %w", err)
	}
	last, err := readPointer(r.lastSuccessfulFile(groupID))
	if err != nil {
		return nil, err
	}
	type rev struct {
		name string
		mod  int64
	}
	var revs []rev
	for _, e := range entries {
		if !e.IsDir() || e.Name() == current {
			continue
		}
		info, err := e.Info()
		if err != nil {
			continue
		}
		revs = append(revs, rev{e.Name(), info.ModTime().UnixNano()})
	}
	extra := len(revs) - (keep - 1)
	if extra <= 0 {
		return nil, nil
	}
	// Oldest first; the name breaks ties so the choice does not depend on directory order.
	sort.Slice(revs, func(i, j int) bool {
		if revs[i].mod != revs[j].mod {
			return revs[i].mod < revs[j].mod
		}
		return revs[i].name < revs[j].name
	})
	var removed []string
	for _, rv := range revs {
		if len(removed) == extra {
			break
		}
		dir := filepath.Join(r.groupDir(groupID), rv.name)
		if dir == last {
			continue
		}
		if err := os.RemoveAll(dir); err != nil {
			return removed, fmt.Errorf("remove old revision %s: %w", dir, err)
		}
		removed = append(removed, dir)
	}
	return removed, nil
}
