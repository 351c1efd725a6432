package store

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"sync"

	"github.com/slipway-deploy/slipway/internal/deploy"
)

// A deployment's targets are rows of deployment_targets, and a save writes only those that
// differ from the targets stored at the version it saves over. The store knows those from its
// own last save of the deployment (savedTargets); when it does not (after a restart, after
// another write bumped the version), it writes them all.

// savedTargets remembers, per active deployment, the targets its last save stored and the
// version that save created.
type savedTargets struct {
	mu sync.Mutex
	m  map[string]targetsAt
}

type targetsAt struct {
	version int
	targets []deploy.Target
}

// at returns the targets stored at version of deployment id, if they are known.
func (c *savedTargets) at(id string, version int) ([]deploy.Target, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	t, ok := c.m[id]
	if !ok || t.version != version {
		return nil, false
	}
	return t.targets, true
}

// saved records what a committed save stored: targets at version. written marks the targets
// the save wrote; the others are prev's (the targets it saved over), unchanged. A finished
// deployment is saved no more, and forgotten.
func (c *savedTargets) saved(id string, version int, targets, prev []deploy.Target, written []bool, finished bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[string]targetsAt{}
	}
	if cur, ok := c.m[id]; finished || ok && cur.version > version {
		if finished {
			delete(c.m, id)
		}
		return
	}
	// A copy, so that nothing the caller does to its deployment afterwards changes what the
	// store believes is stored.
	kept := make([]deploy.Target, len(targets))
	for i, t := range targets {
		if !written[i] {
			kept[i] = prev[i]
			continue
		}
		t.Events = slices.Clone(t.Events)
		kept[i] = t
	}
	c.m[id] = targetsAt{version: version, targets: kept}
}

// sameTarget says whether two targets are equal in every field, times included down to their
// location and monotonic reading (a difference there costs a write, never a lost change).
// TestSameTarget_EveryField fails when a target, its events or their diagnostics gain a field
// this does not compare.
func sameTarget(a, b deploy.Target) bool {
	return a.Instance == b.Instance && a.Name == b.Name && a.Fleet == b.Fleet && a.Server == b.Server &&
		a.HealthAtStart == b.HealthAtStart &&
		a.RevisionAtStart == b.RevisionAtStart && a.InstalledRevision == b.InstalledRevision &&
		a.Status == b.Status && a.Attempt == b.Attempt && a.UpToDate == b.UpToDate && a.Gone == b.Gone &&
		a.Message == b.Message && a.StartTime == b.StartTime && a.EndTime == b.EndTime && //nolint:staticcheck // == on purpose: see above
		slices.Equal(a.Events, b.Events) // deploy.Event is comparable: == compares every field
}

// putTargets stores targets as the rows of deployment id. prev holds the rows already stored,
// when known: only the targets that differ from them are written. It returns which were.
func putTargets(ctx context.Context, tx *sql.Tx, id string, targets, prev []deploy.Target, known bool) ([]bool, error) {
	written := make([]bool, len(targets))
	stmt, err := tx.PrepareContext(ctx, `INSERT INTO deployment_targets (deployment, position, state) VALUES (?, ?, ?)
		ON CONFLICT (deployment, position) DO UPDATE SET state = excluded.state`)
	if err != nil {
		return nil, fmt.Errorf("store targets: %w", err)
	}
	defer func() { _ = stmt.Close() }()
	for i, t := range targets {
		if known && i < len(prev) && sameTarget(prev[i], t) {
			continue
		}
		b, err := encodeTarget(t)
		if err != nil {
			return nil, err
		}
		if _, err := stmt.ExecContext(ctx, id, i, string(b)); err != nil {
			return nil, fmt.Errorf("store target %s: %w", t.Instance, err)
		}
		written[i] = true
	}
	if !known || len(prev) > len(targets) {
		if _, err := tx.ExecContext(ctx, "DELETE FROM deployment_targets WHERE deployment = ? AND position >= ?", id, len(targets)); err != nil {
			return nil, fmt.Errorf("store targets: %w", err)
		}
	}
	return written, nil
}

// targetRows reads the target rows of deployment id, in order.
func targetRows(ctx context.Context, q querier, id string) ([][]byte, error) {
	rows, err := q.QueryContext(ctx, "SELECT state FROM deployment_targets WHERE deployment = ? ORDER BY position", id)
	if err != nil {
		return nil, fmt.Errorf("read targets: %w", err)
	}
	defer func() { _ = rows.Close() }()
	var out [][]byte
	for rows.Next() {
		var b []byte
		if err := rows.Scan(&b); err != nil {
			return nil, fmt.Errorf("read targets: %w", err)
		}
		out = append(out, b)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read targets: %w", err)
	}
	return out, nil
}
