package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/slipway-deploy/slipway/internal/deploy"
)

// Versioned is a stored deployment and its version. Pass Version back to SaveDeployment: it
// refuses a save made from a state someone else has changed since (ErrVersionConflict).
type Versioned struct {
	Deployment deploy.Deployment
	Version    int
}

// Saved is what SaveDeployment did besides storing the state.
type Saved struct {
	// Version is the deployment's new version.
	Version int
	// Next is the deployment the group's queue made active when this one finished: feed it
	// deploy.Start. Empty when nothing is to start.
	Next string
	// Rollback is the id of the deployment a StartRollback effect created (already admitted,
	// ahead of anything queued; it is Next when this deployment was the active one).
	Rollback string
}

// CreateDeployment stores a new deployment (Status Created, version 1) and admits it to its
// group's queue with deploy.Admit in the same transaction, so two deployments racing for an
// idle group cannot both be told to start. d.GroupRevision is set from the group's current
// revision inside that transaction too, so it cannot miss a deployment finishing meanwhile.
// When the group is busy the deployment is stored already Queued (deploy.Decide with Enqueue),
// so no crash leaves a queued deployment looking merely created.
//
// Errors: ErrNotFound (no such group), ErrExists (the id is taken), deploy.ErrGroupBusy (busy
// and refuseWhenBusy); nothing is stored on error.
func (s *SQLite) CreateDeployment(ctx context.Context, d deploy.Deployment, refuseWhenBusy bool) (deploy.Deployment, deploy.Admission, error) {
	if d.ID == "" {
		return deploy.Deployment{}, 0, fmt.Errorf("create deployment: %w: empty id", ErrInvalid)
	}
	if d.Status != deploy.StatusCreated {
		return deploy.Deployment{}, 0, fmt.Errorf("create deployment %s: %w: status %v, want Created", d.ID, ErrInvalid, d.Status)
	}
	if d.CreateTime.IsZero() {
		d.CreateTime = s.now()
	}
	var adm deploy.Admission
	err := s.write(ctx, func(tx *sql.Tx) error {
		var err error
		d, adm, err = admitNew(ctx, tx, d, refuseWhenBusy, s.now())
		return err
	})
	if err != nil {
		return deploy.Deployment{}, 0, fmt.Errorf("create deployment %s: %w", d.ID, err)
	}
	return d, adm, nil
}

// admitNew is CreateDeployment's transaction body, shared with the rollbacks SaveDeployment
// creates.
func admitNew(ctx context.Context, tx *sql.Tx, d deploy.Deployment, refuseWhenBusy bool, now time.Time) (deploy.Deployment, deploy.Admission, error) {
	g, err := getGroup(ctx, tx, d.Application, d.Group)
	if err != nil {
		return d, 0, fmt.Errorf("group %s/%s: %w", d.Application, d.Group, err)
	}
	d.GroupRevision = g.CurrentRevision
	// Admit would call a taken id "already admitted" only while it is queued; asking the
	// table gives one answer for every taken id.
	var taken int
	if err := tx.QueryRowContext(ctx, "SELECT COUNT(*) FROM deployments WHERE id = ?", d.ID).Scan(&taken); err != nil {
		return d, 0, err
	}
	if taken > 0 {
		return d, 0, ErrExists
	}
	q, adm, err := deploy.Admit(g.Queue, d.ID, d.Creator, refuseWhenBusy)
	if err != nil {
		return d, 0, err
	}
	if adm == deploy.AdmitQueued {
		if d, _, err = deploy.Decide(d, deploy.Enqueue{}, now); err != nil {
			return d, 0, err
		}
	}
	if err := insertDeployment(ctx, tx, d); err != nil {
		return d, 0, err
	}
	if err := setQueue(ctx, tx, d.Application, d.Group, q); err != nil {
		return d, 0, err
	}
	return d, adm, nil
}

func insertDeployment(ctx context.Context, tx *sql.Tx, d deploy.Deployment) error {
	state, err := encodeDeployment(d)
	if err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO deployments (id, application, group_name, status, creator, create_time, end_time, version, state)
		VALUES (?, ?, ?, ?, ?, ?, ?, 1, ?)`,
		d.ID, d.Application, d.Group, d.Status.String(), d.Creator.String(), millis(d.CreateTime), millis(d.EndTime), string(state))
	if isUniqueViolation(err) {
		return ErrExists
	}
	if err != nil {
		return fmt.Errorf("insert deployment: %w", err)
	}
	_, err = putTargets(ctx, tx, d.ID, d.Targets, nil, false)
	return err
}

// GetDeployment returns a deployment and its version; ErrNotFound if none.
func (s *SQLite) GetDeployment(ctx context.Context, id string) (Versioned, error) {
	var v Versioned
	err := s.read(ctx, func(tx *sql.Tx) error {
		var err error
		v, err = getDeployment(ctx, tx, id)
		return err
	})
	if err != nil {
		return Versioned{}, fmt.Errorf("get deployment %s: %w", id, err)
	}
	return v, nil
}

// getDeployment reads a deployment; q must see one snapshot (a transaction), since its state
// and its targets are separate rows.
func getDeployment(ctx context.Context, q querier, id string) (Versioned, error) {
	var r stateRow
	err := q.QueryRowContext(ctx, "SELECT id, version, state FROM deployments WHERE id = ?", id).Scan(&r.id, &r.version, &r.state)
	if errors.Is(err, sql.ErrNoRows) {
		return Versioned{}, ErrNotFound
	}
	if err != nil {
		return Versioned{}, err
	}
	return r.withTargets(ctx, q)
}

// stateRow is a deployments row as read, before its targets.
type stateRow struct {
	id      string
	version int
	state   []byte
}

func (r stateRow) withTargets(ctx context.Context, q querier) (Versioned, error) {
	targets, err := targetRows(ctx, q, r.id)
	if err != nil {
		return Versioned{}, err
	}
	d, err := decodeDeployment(r.state, targets)
	if err != nil {
		return Versioned{}, err
	}
	return Versioned{Deployment: d, Version: r.version}, nil
}

// DeploymentFilter narrows ListDeployments. Zero fields do not filter.
type DeploymentFilter struct {
	Application string
	Group       string
	Statuses    []deploy.Status
	// Limit caps the number returned; 0 means no cap.
	Limit int
}

// ListDeployments returns deployments newest first.
func (s *SQLite) ListDeployments(ctx context.Context, f DeploymentFilter) ([]Versioned, error) {
	var where []string
	var args []any
	if f.Application != "" {
		where, args = append(where, "application = ?"), append(args, f.Application)
	}
	if f.Group != "" {
		where, args = append(where, "group_name = ?"), append(args, f.Group)
	}
	if len(f.Statuses) > 0 {
		marks := make([]string, len(f.Statuses))
		for i, st := range f.Statuses {
			marks[i] = "?"
			args = append(args, st.String())
		}
		where = append(where, "status IN ("+strings.Join(marks, ", ")+")")
	}
	query := "SELECT id, version, state FROM deployments"
	if len(where) > 0 {
		query += " WHERE " + strings.Join(where, " AND ")
	}
	query += " ORDER BY create_time DESC, id DESC"
	if f.Limit > 0 {
		query += " LIMIT ?"
		args = append(args, f.Limit)
	}
	out, err := s.queryDeployments(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("list deployments: %w", err)
	}
	return out, nil
}

// ActiveDeployments returns every deployment that has not finished (Created, Queued,
// InProgress, ...), oldest first: what a restarting server resumes. A Created or Queued one
// that its group's queue names as active was admitted but not started: feed it Start.
func (s *SQLite) ActiveDeployments(ctx context.Context) ([]Versioned, error) {
	var finished []any
	for st := deploy.StatusCreated; st <= deploy.StatusStopped; st++ {
		if st.Finished() {
			finished = append(finished, st.String())
		}
	}
	marks := strings.TrimSuffix(strings.Repeat("?, ", len(finished)), ", ")
	out, err := s.queryDeployments(ctx, "SELECT id, version, state FROM deployments WHERE status NOT IN ("+marks+") ORDER BY create_time, id", finished...)
	if err != nil {
		return nil, fmt.Errorf("active deployments: %w", err)
	}
	return out, nil
}

func (s *SQLite) queryDeployments(ctx context.Context, query string, args ...any) ([]Versioned, error) {
	var out []Versioned
	err := s.read(ctx, func(tx *sql.Tx) error {
		var found []stateRow
		rows, err := tx.QueryContext(ctx, query, args...)
		if err != nil {
			return err
		}
		defer func() { _ = rows.Close() }()
		for rows.Next() {
			var r stateRow
			if err := rows.Scan(&r.id, &r.version, &r.state); err != nil {
				return err
			}
			found = append(found, r)
		}
		if err := rows.Err(); err != nil {
			return err
		}
		_ = rows.Close() // before the targets' queries on the same connection
		for _, r := range found {
			v, err := r.withTargets(ctx, tx)
			if err != nil {
				return err
			}
			out = append(out, v)
		}
		return nil
	})
	return out, err
}

// SaveDeployment stores the state Decide returned for a deployment read at version, with the
// effects Decide returned alongside it, all in one transaction:
//
//   - the version must still be the stored one, or nothing happens (ErrVersionConflict);
//   - every effect is appended to the outbox in order;
//   - the bookkeeping effects are carried out here and recorded as done, so they can be
//     neither lost nor doubled: SetInstanceHealth updates the group's record of the host,
//     SetGroupRevision moves the group's current revision and last successful deployment,
//     StartRollback creates and admits the rollback deployment (ahead of the queue), and
//     Finished releases the group's queue (Saved.Next names what to start);
//   - SendCommand needs nothing (commands are derived from the state by deploy.CommandFor) and
//     is recorded as done; Finished stays pending for the runtime (GitHub status, waiters), see
//     PendingEffects.
//
// The application and group of a deployment never change.
func (s *SQLite) SaveDeployment(ctx context.Context, d deploy.Deployment, version int, effects []deploy.Effect) (Saved, error) {
	var saved Saved
	var written []bool
	prev, known := s.targets.at(d.ID, version)
	err := s.write(ctx, func(tx *sql.Tx) error {
		var err error
		saved, written, err = s.save(ctx, tx, d, version, effects, prev, known)
		return err
	})
	if err != nil {
		return Saved{}, fmt.Errorf("save deployment %s: %w", d.ID, err)
	}
	s.targets.saved(d.ID, saved.Version, d.Targets, prev, written, d.Status.Finished())
	return saved, nil
}

// save is SaveDeployment's transaction body. prev are the targets stored at version, when known
// (then only the targets that differ are written); written says which were.
func (s *SQLite) save(ctx context.Context, tx *sql.Tx, d deploy.Deployment, version int, effects []deploy.Effect, prev []deploy.Target, known bool) (Saved, []bool, error) {
	var stored int
	var app, group string
	err := tx.QueryRowContext(ctx, "SELECT version, application, group_name FROM deployments WHERE id = ?", d.ID).Scan(&stored, &app, &group)
	if errors.Is(err, sql.ErrNoRows) {
		return Saved{}, nil, ErrNotFound
	}
	if err != nil {
		return Saved{}, nil, err
	}
	if stored != version {
		return Saved{}, nil, fmt.Errorf("%w: stored version %d, saving from %d", ErrVersionConflict, stored, version)
	}
	if d.Application != app || d.Group != group {
		return Saved{}, nil, fmt.Errorf("%w: deployment belongs to %s/%s, not %s/%s", ErrInvalid, app, group, d.Application, d.Group)
	}
	saved := Saved{Version: version + 1}
	now := s.now()
	finished := false
	done := make([]bool, len(effects))
	for i, e := range effects {
		switch e := e.(type) {
		case deploy.SendCommand, deploy.SetTraffic, deploy.ReleaseOriginals, deploy.InvokeHook, deploy.RunStep:
			// Derived from the state (CommandFor, PendingTraffic, PendingRelease,
			// PendingFunctionWork): a restarted
			// runtime finds them there, so the outbox need not hand them out.
			done[i] = true
		case deploy.SwapFleets:
			if err := swapFleets(ctx, tx, d, e); err != nil {
				return Saved{}, nil, err
			}
			done[i] = true
		case deploy.SetInstanceHealth:
			if err := setInstanceHealth(ctx, tx, d.Application, d.Group, e, now); err != nil {
				return Saved{}, nil, err
			}
			done[i] = true
		case deploy.SetGroupRevision:
			if err := setGroupRevision(ctx, tx, d, e); err != nil {
				return Saved{}, nil, err
			}
			done[i] = true
		case deploy.StartRollback:
			rb, err := s.startRollback(ctx, tx, d, e, now)
			if err != nil {
				return Saved{}, nil, err
			}
			saved.Rollback, d.RolledBackBy = rb, rb
			done[i] = true
		case deploy.Finished:
			if e.Deployment != d.ID {
				return Saved{}, nil, fmt.Errorf("%w: Finished effect names deployment %s", ErrInvalid, e.Deployment)
			}
			// Released after the loop: deploy asks for a rollback to be admitted before the
			// group is released, so it runs ahead of anything already queued.
			finished = true
		default:
			return Saved{}, nil, fmt.Errorf("%w: unknown effect %T", ErrInvalid, e)
		}
	}
	// The state is written after the effects because a rollback adds its id to it.
	state, err := encodeDeployment(d)
	if err != nil {
		return Saved{}, nil, err
	}
	if _, err := tx.ExecContext(ctx, "UPDATE deployments SET status = ?, end_time = ?, version = ?, state = ? WHERE id = ?",
		d.Status.String(), millis(d.EndTime), saved.Version, string(state), d.ID); err != nil {
		return Saved{}, nil, fmt.Errorf("update deployment: %w", err)
	}
	written, err := putTargets(ctx, tx, d.ID, d.Targets, prev, known)
	if err != nil {
		return Saved{}, nil, err
	}
	if finished {
		next, err := release(ctx, tx, d)
		if err != nil {
			return Saved{}, nil, err
		}
		saved.Next = next
	}
	if err := appendEffects(ctx, tx, d.ID, effects, done, now); err != nil {
		return Saved{}, nil, err
	}
	return saved, written, nil
}

func setInstanceHealth(ctx context.Context, tx *sql.Tx, app, group string, e deploy.SetInstanceHealth, now time.Time) error {
	// An empty revision keeps the one recorded: deploy sends it only for hosts that succeeded.
	_, err := tx.ExecContext(ctx, `INSERT INTO instance_groups (instance, application, group_name, health, revision, update_time)
		VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT (instance, application, group_name) DO UPDATE SET
			health = excluded.health,
			revision = CASE WHEN excluded.revision <> '' THEN excluded.revision ELSE instance_groups.revision END,
			update_time = excluded.update_time`,
		e.Instance, app, group, e.Health.String(), e.Revision, millis(now))
	if err != nil {
		return fmt.Errorf("set health of instance %s: %w", e.Instance, err)
	}
	return nil
}

func setGroupRevision(ctx context.Context, tx *sql.Tx, d deploy.Deployment, e deploy.SetGroupRevision) error {
	if e.Group != d.Group {
		return fmt.Errorf("%w: SetGroupRevision names group %s, deployment is in %s", ErrInvalid, e.Group, d.Group)
	}
	res, err := tx.ExecContext(ctx, "UPDATE deployment_groups SET current_revision = ?, last_successful_deployment = ? WHERE application = ? AND name = ?",
		e.Revision, d.ID, d.Application, d.Group)
	if err != nil {
		return fmt.Errorf("set revision of group %s: %w", d.Group, err)
	}
	if err := mustAffect(res); err != nil {
		return fmt.Errorf("set revision of group %s: %w", d.Group, err)
	}
	return nil
}

// swapFleets makes the replacement fleet of a successful blue/green deployment the group's own
// and the original fleet its next replacement.
func swapFleets(ctx context.Context, tx *sql.Tx, d deploy.Deployment, e deploy.SwapFleets) error {
	if e.Group != d.Group {
		return fmt.Errorf("%w: SwapFleets names group %s, deployment is in %s", ErrInvalid, e.Group, d.Group)
	}
	g, err := getGroup(ctx, tx, d.Application, d.Group)
	if err != nil {
		return fmt.Errorf("swap fleets of group %s: %w", d.Group, err)
	}
	g.swapFleets()
	row, err := encodeGroup(g)
	if err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, "UPDATE deployment_groups SET tags = ?, blue_green = ? WHERE application = ? AND name = ?",
		row.tags, row.blueGreen, d.Application, d.Group); err != nil {
		return fmt.Errorf("swap fleets of group %s: %w", d.Group, err)
	}
	return nil
}

// startRollback creates the rollback deployment a StartRollback effect asks for and admits it.
// A rollback is never refused and deploy.Admit puts it at the head of the queue.
func (s *SQLite) startRollback(ctx context.Context, tx *sql.Tx, d deploy.Deployment, e deploy.StartRollback, now time.Time) (string, error) {
	if e.Deployment != d.ID || e.Group != d.Group {
		return "", fmt.Errorf("%w: StartRollback for %s in %s from deployment %s in %s", ErrInvalid, e.Deployment, e.Group, d.ID, d.Group)
	}
	template := d
	if g, err := getGroup(ctx, tx, d.Application, d.Group); err == nil && g.LastSuccessfulDeployment != "" {
		if last, err := getDeployment(ctx, tx, g.LastSuccessfulDeployment); err == nil {
			template = last.Deployment
		}
	}
	rb := rollbackOf(d, template, NewDeploymentID(), e.Revision, now)
	if _, _, err := admitNew(ctx, tx, rb, false, now); err != nil {
		return "", fmt.Errorf("start rollback of %s: %w", d.ID, err)
	}
	return rb.ID, nil
}

// rollbackOf is the deployment that rolls back failed by redeploying revision with the options
// of template: the group's last successful deployment, whose content options a rollback
// reuses, or failed itself when that one is not known.
func rollbackOf(failed, template deploy.Deployment, id, revision string, now time.Time) deploy.Deployment {
	return deploy.Deployment{
		ID:                            id,
		Application:                   failed.Application,
		Group:                         failed.Group,
		Revision:                      revision,
		Creator:                       deploy.CreatorRollback,
		RollbackOf:                    failed.ID,
		FileExistsBehavior:            template.FileExistsBehavior,
		Config:                        template.Config,
		IgnoreApplicationStopFailures: template.IgnoreApplicationStopFailures,
		UpdateOutdatedInstancesOnly:   template.UpdateOutdatedInstancesOnly,
		Router:                        failed.Router,
		AutoRollback:                  template.AutoRollback,
		Lease:                         template.Lease,
		Status:                        deploy.StatusCreated,
		CreateTime:                    now,
	}
}

// release takes a finished deployment out of its group's queue and returns the deployment
// that became active. A deployment already out of the queue is not an error: refusing the save
// would leave it unfinished forever over a queue that is already right.
//
// The deployment that becomes active gets the group's current revision as its GroupRevision.
// It was stamped when the deployment was created, but a deployment that waited in the queue
// may have seen the one ahead of it succeed since: judging hosts' revisions, or rolling back,
// against the revision from before that would undo a good deployment.
func release(ctx context.Context, tx *sql.Tx, d deploy.Deployment) (string, error) {
	g, err := getGroup(ctx, tx, d.Application, d.Group)
	if err != nil {
		return "", fmt.Errorf("release group %s/%s: %w", d.Application, d.Group, err)
	}
	q, next, err := deploy.Release(g.Queue, d.ID)
	if errors.Is(err, deploy.ErrStale) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("release group %s/%s: %w", d.Application, d.Group, err)
	}
	if err := setQueue(ctx, tx, d.Application, d.Group, q); err != nil {
		return "", err
	}
	if next != "" {
		if err := refreshGroupRevision(ctx, tx, next, g.CurrentRevision); err != nil {
			return "", err
		}
	}
	return next, nil
}

// refreshGroupRevision sets a waiting deployment's GroupRevision to revision, bumping its
// version so that a decision made from the old state cannot be saved over it.
func refreshGroupRevision(ctx context.Context, tx *sql.Tx, id, revision string) error {
	v, err := getDeployment(ctx, tx, id)
	if err != nil {
		return fmt.Errorf("next deployment %s: %w", id, err)
	}
	d := v.Deployment
	if d.GroupRevision == revision || (d.Status != deploy.StatusCreated && d.Status != deploy.StatusQueued) {
		return nil
	}
	d.GroupRevision = revision
	state, err := encodeDeployment(d)
	if err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, "UPDATE deployments SET version = version + 1, state = ? WHERE id = ?", string(state), id); err != nil {
		return fmt.Errorf("next deployment %s: %w", id, err)
	}
	// Its state no longer holds targets, should it still have had them there.
	if _, err := putTargets(ctx, tx, id, d.Targets, nil, false); err != nil {
		return fmt.Errorf("next deployment %s: %w", id, err)
	}
	return nil
}

func appendEffects(ctx context.Context, tx *sql.Tx, deployment string, effects []deploy.Effect, done []bool, now time.Time) error {
	if len(effects) == 0 {
		return nil
	}
	var id, seq int64
	if err := tx.QueryRowContext(ctx, "SELECT COALESCE(MAX(id), 0) FROM effects").Scan(&id); err != nil {
		return fmt.Errorf("append effects: %w", err)
	}
	if err := tx.QueryRowContext(ctx, "SELECT COALESCE(MAX(seq), 0) FROM effects WHERE deployment = ?", deployment).Scan(&seq); err != nil {
		return fmt.Errorf("append effects: %w", err)
	}
	stmt, err := tx.PrepareContext(ctx, "INSERT INTO effects (id, deployment, seq, kind, payload, done, create_time) VALUES (?, ?, ?, ?, ?, ?, ?)")
	if err != nil {
		return fmt.Errorf("append effects: %w", err)
	}
	defer func() { _ = stmt.Close() }()
	for i, e := range effects {
		kind, payload, err := EncodeEffect(e)
		if err != nil {
			return err
		}
		id++
		seq++
		if _, err := stmt.ExecContext(ctx, id, deployment, seq, kind, string(payload), boolInt(done[i]), millis(now)); err != nil {
			return fmt.Errorf("append effect %s: %w", kind, err)
		}
	}
	return nil
}

// OutboxEffect is one effect in the outbox.
type OutboxEffect struct {
	// ID orders effects across deployments; MarkEffectDone takes it.
	ID         int64
	Deployment string
	// Seq is the effect's position among its deployment's effects, from 1.
	Seq        int
	Effect     deploy.Effect
	Done       bool
	CreateTime time.Time
}

// PendingEffects returns up to limit effects not yet done, in the order they were saved
// (limit 0: all). The runtime carries each out and then calls MarkEffectDone; after a crash
// it finds the same ones again, so carrying one out must be safe to repeat.
func (s *SQLite) PendingEffects(ctx context.Context, limit int) ([]OutboxEffect, error) {
	query := "SELECT id, deployment, seq, kind, payload, done, create_time FROM effects WHERE done = 0 ORDER BY id"
	var args []any
	if limit > 0 {
		query += " LIMIT ?"
		args = append(args, limit)
	}
	out, err := s.queryEffects(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("pending effects: %w", err)
	}
	return out, nil
}

// DeploymentEffects returns every effect recorded for a deployment, done or not, in order:
// the audit trail of what its decisions asked for.
func (s *SQLite) DeploymentEffects(ctx context.Context, deployment string) ([]OutboxEffect, error) {
	out, err := s.queryEffects(ctx, "SELECT id, deployment, seq, kind, payload, done, create_time FROM effects WHERE deployment = ? ORDER BY seq", deployment)
	if err != nil {
		return nil, fmt.Errorf("effects of %s: %w", deployment, err)
	}
	return out, nil
}

func (s *SQLite) queryEffects(ctx context.Context, query string, args ...any) ([]OutboxEffect, error) {
	rows, err := s.r.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer func() { _ = rows.Close() }()
	var out []OutboxEffect
	for rows.Next() {
		var o OutboxEffect
		var kind, payload string
		var done int
		var created int64
		if err := rows.Scan(&o.ID, &o.Deployment, &o.Seq, &kind, &payload, &done, &created); err != nil {
			return nil, err
		}
		if o.Effect, err = DecodeEffect(kind, []byte(payload)); err != nil {
			return nil, err
		}
		o.Done, o.CreateTime = done != 0, fromMillis(created)
		out = append(out, o)
	}
	return out, rows.Err()
}

// MarkEffectDone records that the runtime carried out an outbox effect. Marking one twice is
// not an error; ErrNotFound when there is no such effect.
func (s *SQLite) MarkEffectDone(ctx context.Context, id int64) error {
	res, err := s.w.ExecContext(ctx, "UPDATE effects SET done = 1 WHERE id = ?", id)
	if err != nil {
		return fmt.Errorf("mark effect %d done: %w", id, err)
	}
	if err := mustAffect(res); err != nil {
		return fmt.Errorf("mark effect %d done: %w", id, err)
	}
	return nil
}
