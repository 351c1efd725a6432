package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"path"
	"strings"
	"time"

	"github.com/slipway-deploy/slipway/internal/deploy"
)

// Group is a deployment group: which instances of an application a deployment targets and how.
type Group struct {
	Application string
	Name        string
	Tags        deploy.TagSet
	// ConfigName names a preset or a stored deployment config.
	ConfigName                    string
	AutoRollback                  deploy.AutoRollback
	IgnoreApplicationStopFailures bool
	// RefuseWhenBusy rejects a new deployment while one is active instead of queueing it.
	RefuseWhenBusy bool
	// Environment is the GitHub environment the group deploys to.
	Environment string
	// GitHub links the group to a repository; the zero value means not linked.
	GitHub GitHubLink

	// The fields below are the store's bookkeeping: CreateGroup and UpdateGroup ignore them, and
	// only SaveDeployment and CreateDeployment change them.

	// CurrentRevision is the revision of the last successful deployment, "" if none.
	CurrentRevision          string
	LastSuccessfulDeployment string
	Queue                    deploy.Queue
	// CreateTime is set by the store when zero.
	CreateTime time.Time
}

// GitHubLink names the repository allowed to deploy a group, from GitHub webhooks and from
// workflows presenting an Actions OIDC token. Repository IDs are matched, not names: a renamed
// or re-created repository must not inherit the right to deploy.
type GitHubLink struct {
	// Repository is "owner/name", for display and for API calls.
	Repository   string `json:"repository,omitempty"`
	RepositoryID int64  `json:"repository_id,omitempty"`
	// AllowedRefs are patterns (path.Match syntax, e.g. "refs/heads/main", "refs/tags/v*") a
	// workflow's ref must match; empty allows any ref.
	AllowedRefs []string `json:"allowed_refs,omitempty"`
	// EnvironmentURL is the deployed environment's address, reported as environment_url.
	EnvironmentURL string `json:"environment_url,omitempty"`
}

// Linked reports whether the group names a repository.
func (l GitHubLink) Linked() bool { return l.RepositoryID != 0 }

func (l GitHubLink) validate() error {
	if l.Repository != "" {
		owner, name, ok := strings.Cut(l.Repository, "/")
		if !ok || owner == "" || name == "" || strings.Contains(name, "/") {
			return fmt.Errorf("%w: github repository %q: give owner/name", ErrInvalid, l.Repository)
		}
	}
	if l.RepositoryID < 0 || (l.RepositoryID == 0) != (l.Repository == "") {
		return fmt.Errorf("%w: github: give both the repository (owner/name) and its numeric id, or neither", ErrInvalid)
	}
	if l.EnvironmentURL != "" {
		u, err := url.Parse(l.EnvironmentURL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return fmt.Errorf("%w: github environment url %q: give an absolute http(s) URL", ErrInvalid, l.EnvironmentURL)
		}
	}
	for _, p := range l.AllowedRefs {
		if _, err := path.Match(p, ""); err != nil || p == "" {
			return fmt.Errorf("%w: github allowed ref %q is not a valid pattern", ErrInvalid, p)
		}
	}
	return nil
}

func (g Group) validate() error {
	if strings.TrimSpace(g.Name) == "" {
		return fmt.Errorf("%w: empty group name", ErrInvalid)
	}
	if err := g.Tags.Validate(); err != nil {
		return fmt.Errorf("%w: tags: %w", ErrInvalid, err)
	}
	if g.ConfigName == "" {
		return fmt.Errorf("%w: empty config name", ErrInvalid)
	}
	return g.GitHub.validate()
}

// CreateGroup stores a new deployment group of an existing application, with an empty queue
// and no revision. ErrNotFound when the application or the config does not exist, ErrExists
// when the group does.
func (s *SQLite) CreateGroup(ctx context.Context, g Group) (Group, error) {
	if err := g.validate(); err != nil {
		return Group{}, fmt.Errorf("create group %s/%s: %w", g.Application, g.Name, err)
	}
	g.CurrentRevision, g.LastSuccessfulDeployment, g.Queue = "", "", deploy.Queue{}
	if g.CreateTime.IsZero() {
		g.CreateTime = s.now()
	}
	g.CreateTime = fromMillis(millis(g.CreateTime))
	tags, err := encodeTagSet(g.Tags)
	if err != nil {
		return Group{}, err
	}
	rollback, err := json.Marshal(autoRollbackJSON(g.AutoRollback))
	if err != nil {
		return Group{}, fmt.Errorf("create group: %w", err)
	}
	github, err := json.Marshal(g.GitHub)
	if err != nil {
		return Group{}, fmt.Errorf("create group: %w", err)
	}
	err = s.write(ctx, func(tx *sql.Tx) error {
		if _, err := getApplication(ctx, tx, g.Application); err != nil {
			return fmt.Errorf("application: %w", err)
		}
		if _, err := getConfig(ctx, tx, g.ConfigName); err != nil {
			return fmt.Errorf("config %s: %w", g.ConfigName, err)
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO deployment_groups (application, name, tags, config_name, auto_rollback,
			ignore_application_stop_failures, refuse_when_busy, environment, github, current_revision,
			last_successful_deployment, queue, create_time) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, '', '', '{}', ?)`,
			g.Application, g.Name, string(tags), g.ConfigName, string(rollback),
			boolInt(g.IgnoreApplicationStopFailures), boolInt(g.RefuseWhenBusy), g.Environment, string(github), millis(g.CreateTime))
		if isUniqueViolation(err) {
			return ErrExists
		}
		return err
	})
	if err != nil {
		return Group{}, fmt.Errorf("create group %s/%s: %w", g.Application, g.Name, err)
	}
	return g, nil
}

// UpdateGroup replaces the group's settings (tags, config, rollback, stop failures, busy
// policy, environment, GitHub link) and returns the group as stored. The bookkeeping fields are left as
// they are: they belong to the deployments.
func (s *SQLite) UpdateGroup(ctx context.Context, g Group) (Group, error) {
	if err := g.validate(); err != nil {
		return Group{}, fmt.Errorf("update group %s/%s: %w", g.Application, g.Name, err)
	}
	tags, err := encodeTagSet(g.Tags)
	if err != nil {
		return Group{}, err
	}
	rollback, err := json.Marshal(autoRollbackJSON(g.AutoRollback))
	if err != nil {
		return Group{}, fmt.Errorf("update group: %w", err)
	}
	github, err := json.Marshal(g.GitHub)
	if err != nil {
		return Group{}, fmt.Errorf("update group: %w", err)
	}
	var out Group
	err = s.write(ctx, func(tx *sql.Tx) error {
		if _, err := getConfig(ctx, tx, g.ConfigName); err != nil {
			return fmt.Errorf("config %s: %w", g.ConfigName, err)
		}
		res, err := tx.ExecContext(ctx, `UPDATE deployment_groups SET tags = ?, config_name = ?, auto_rollback = ?,
			ignore_application_stop_failures = ?, refuse_when_busy = ?, environment = ?, github = ?
			WHERE application = ? AND name = ?`,
			string(tags), g.ConfigName, string(rollback), boolInt(g.IgnoreApplicationStopFailures),
			boolInt(g.RefuseWhenBusy), g.Environment, string(github), g.Application, g.Name)
		if err != nil {
			return err
		}
		if err := mustAffect(res); err != nil {
			return err
		}
		out, err = getGroup(ctx, tx, g.Application, g.Name)
		return err
	})
	if err != nil {
		return Group{}, fmt.Errorf("update group %s/%s: %w", g.Application, g.Name, err)
	}
	return out, nil
}

// GetGroup returns one group; ErrNotFound if none.
func (s *SQLite) GetGroup(ctx context.Context, application, name string) (Group, error) {
	g, err := getGroup(ctx, s.r, application, name)
	if err != nil {
		return Group{}, fmt.Errorf("get group %s/%s: %w", application, name, err)
	}
	return g, nil
}

// ListGroups returns the groups of an application by name (none when it has none or does not
// exist).
func (s *SQLite) ListGroups(ctx context.Context, application string) ([]Group, error) {
	rows, err := s.r.QueryContext(ctx, "SELECT "+groupColumns+" FROM deployment_groups WHERE application = ? ORDER BY name", application)
	if err != nil {
		return nil, fmt.Errorf("list groups of %s: %w", application, err)
	}
	defer rows.Close()
	var out []Group
	for rows.Next() {
		g, err := scanGroup(rows)
		if err != nil {
			return nil, fmt.Errorf("list groups of %s: %w", application, err)
		}
		out = append(out, g)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list groups of %s: %w", application, err)
	}
	return out, nil
}

const groupColumns = `application, name, tags, config_name, auto_rollback, ignore_application_stop_failures,
	refuse_when_busy, environment, github, current_revision, last_successful_deployment, queue, create_time`

type scanner interface{ Scan(dest ...any) error }

func scanGroup(sc scanner) (Group, error) {
	var g Group
	var tags, rollback, github, queue string
	var ignore, refuse int
	var created int64
	err := sc.Scan(&g.Application, &g.Name, &tags, &g.ConfigName, &rollback, &ignore, &refuse, &g.Environment, &github,
		&g.CurrentRevision, &g.LastSuccessfulDeployment, &queue, &created)
	if err != nil {
		return Group{}, err
	}
	if g.Tags, err = decodeTagSet([]byte(tags)); err != nil {
		return Group{}, err
	}
	var ar autoRollbackJSON
	if err := json.Unmarshal([]byte(rollback), &ar); err != nil {
		return Group{}, fmt.Errorf("decode auto rollback: %w", err)
	}
	g.AutoRollback = deploy.AutoRollback(ar)
	if err := json.Unmarshal([]byte(github), &g.GitHub); err != nil {
		return Group{}, fmt.Errorf("decode github link: %w", err)
	}
	if g.Queue, err = decodeQueue([]byte(queue)); err != nil {
		return Group{}, err
	}
	g.IgnoreApplicationStopFailures, g.RefuseWhenBusy = ignore != 0, refuse != 0
	g.CreateTime = fromMillis(created)
	return g, nil
}

func getGroup(ctx context.Context, q querier, application, name string) (Group, error) {
	g, err := scanGroup(q.QueryRowContext(ctx, "SELECT "+groupColumns+" FROM deployment_groups WHERE application = ? AND name = ?", application, name))
	if errors.Is(err, sql.ErrNoRows) {
		return Group{}, ErrNotFound
	}
	return g, err
}

// setQueue writes a group's admission queue inside a transaction.
func setQueue(ctx context.Context, tx *sql.Tx, application, group string, q deploy.Queue) error {
	b, err := encodeQueue(q)
	if err != nil {
		return err
	}
	res, err := tx.ExecContext(ctx, "UPDATE deployment_groups SET queue = ? WHERE application = ? AND name = ?", string(b), application, group)
	if err != nil {
		return fmt.Errorf("set queue of %s/%s: %w", application, group, err)
	}
	return mustAffect(res)
}
