package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/slipway-deploy/slipway/internal/deploy"
)

// GitHubDeployment ties a Slipway deployment to the GitHub Deployment it reports to.
type GitHubDeployment struct {
	// Deployment is the Slipway deployment's id.
	Deployment string
	// Repository is "owner/name"; RepositoryID is what keys the link.
	Repository   string
	RepositoryID int64
	// GitHubID is GitHub's id of the Deployment.
	GitHubID    int64
	SHA         string
	Ref         string
	Environment string
	// CheckRun is the id of the check run reporting the deployment, 0 until one is created.
	CheckRun int64
	// Report is the reporter's record of what it posted; the store keeps it opaque.
	Report json.RawMessage
	// Done is set once nothing is left to post.
	Done bool
	// CreateTime is set by the store when zero.
	CreateTime time.Time
}

func (l GitHubDeployment) validate() error {
	if l.Repository == "" || l.RepositoryID <= 0 || l.GitHubID <= 0 {
		return fmt.Errorf("%w: github deployment: give the repository, its id and the GitHub Deployment's id", ErrInvalid)
	}
	if !validCommit(l.SHA) {
		return fmt.Errorf("%w: github deployment: sha %q is not a full commit id", ErrInvalid, l.SHA)
	}
	if len(l.Report) > 0 && !json.Valid(l.Report) {
		return fmt.Errorf("%w: github deployment: report is not JSON", ErrInvalid)
	}
	return nil
}

// CreateDeploymentForGitHub is CreateDeployment for a deployment that runs a GitHub Deployment,
// keyed by that GitHub Deployment: when one is already linked to it, nothing is created and the
// existing deployment is returned with created false. The lookup, the create, the admission and
// the link are one transaction and the link's unique key backs it, so two requests for the same
// GitHub Deployment (the Action's and the webhook's) make one Slipway deployment whichever
// comes first. link.Deployment is set to d.ID.
func (s *SQLite) CreateDeploymentForGitHub(ctx context.Context, d deploy.Deployment, refuseWhenBusy bool, link GitHubDeployment) (deploy.Deployment, deploy.Admission, bool, error) {
	link.Deployment = d.ID
	if err := link.validate(); err != nil {
		return deploy.Deployment{}, 0, false, fmt.Errorf("create deployment %s: %w", d.ID, err)
	}
	if d.Status != deploy.StatusCreated || d.ID == "" {
		return deploy.Deployment{}, 0, false, fmt.Errorf("create deployment %s: %w: want a new deployment with an id", d.ID, ErrInvalid)
	}
	if d.CreateTime.IsZero() {
		d.CreateTime = s.now()
	}
	var adm deploy.Admission
	created := false
	err := s.write(ctx, func(tx *sql.Tx) error {
		var existing string
		err := tx.QueryRowContext(ctx, "SELECT deployment FROM github_deployments WHERE repository_id = ? AND github_deployment = ?",
			link.RepositoryID, link.GitHubID).Scan(&existing)
		if err == nil {
			v, err := getDeployment(ctx, tx, existing)
			d = v.Deployment
			return err
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		if d, adm, err = admitNew(ctx, tx, d, refuseWhenBusy, s.now()); err != nil {
			return err
		}
		created = true
		return insertGitHubDeployment(ctx, tx, link, s.now())
	})
	if err != nil {
		return deploy.Deployment{}, 0, false, fmt.Errorf("create deployment %s for GitHub deployment %d: %w", d.ID, link.GitHubID, err)
	}
	return d, adm, created, nil
}

// LinkGitHubDeployment links an existing deployment to a GitHub Deployment the server created for
// it (a rollback's, an auto-update's). ErrExists when either is linked already.
func (s *SQLite) LinkGitHubDeployment(ctx context.Context, link GitHubDeployment) error {
	if err := link.validate(); err != nil {
		return fmt.Errorf("link deployment %s: %w", link.Deployment, err)
	}
	err := s.write(ctx, func(tx *sql.Tx) error {
		if _, err := getDeployment(ctx, tx, link.Deployment); err != nil {
			return err
		}
		return insertGitHubDeployment(ctx, tx, link, s.now())
	})
	if err != nil {
		return fmt.Errorf("link deployment %s to GitHub deployment %d: %w", link.Deployment, link.GitHubID, err)
	}
	return nil
}

func insertGitHubDeployment(ctx context.Context, tx *sql.Tx, l GitHubDeployment, now time.Time) error {
	if l.CreateTime.IsZero() {
		l.CreateTime = now
	}
	if len(l.Report) == 0 {
		l.Report = json.RawMessage("{}")
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO github_deployments (deployment, repository, repository_id, github_deployment,
		sha, ref, environment, check_run, report, done, create_time) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		l.Deployment, l.Repository, l.RepositoryID, l.GitHubID, l.SHA, l.Ref, l.Environment, l.CheckRun,
		string(l.Report), boolInt(l.Done), millis(l.CreateTime))
	if isUniqueViolation(err) {
		return ErrExists
	}
	if err != nil {
		return fmt.Errorf("insert github deployment: %w", err)
	}
	return nil
}

const githubDeploymentColumns = `deployment, repository, repository_id, github_deployment, sha, ref, environment,
	check_run, report, done, create_time`

func scanGitHubDeployment(sc scanner) (GitHubDeployment, error) {
	var l GitHubDeployment
	var report string
	var done int
	var created int64
	err := sc.Scan(&l.Deployment, &l.Repository, &l.RepositoryID, &l.GitHubID, &l.SHA, &l.Ref, &l.Environment,
		&l.CheckRun, &report, &done, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return GitHubDeployment{}, ErrNotFound
	}
	if err != nil {
		return GitHubDeployment{}, err
	}
	l.Report, l.Done, l.CreateTime = json.RawMessage(report), done != 0, fromMillis(created)
	return l, nil
}

// queryGitHubDeployments selects the rows matching where, a constant clause of this file whose
// values are all in args.
func (s *SQLite) queryGitHubDeployments(ctx context.Context, where string, args ...any) ([]GitHubDeployment, error) {
	rows, err := s.r.QueryContext(ctx, "SELECT "+githubDeploymentColumns+" FROM github_deployments WHERE "+where, args...) //nolint:gosec // where is a constant (see above)
	if err != nil {
		return nil, err
	}
	defer func() { _ = rows.Close() }()
	var out []GitHubDeployment
	for rows.Next() {
		l, err := scanGitHubDeployment(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, l)
	}
	return out, rows.Err()
}

// GitHubDeploymentOf returns the GitHub Deployment a deployment reports to; ErrNotFound if none.
func (s *SQLite) GitHubDeploymentOf(ctx context.Context, deployment string) (GitHubDeployment, error) {
	l, err := scanGitHubDeployment(s.r.QueryRowContext(ctx, "SELECT "+githubDeploymentColumns+" FROM github_deployments WHERE deployment = ?", deployment))
	if err != nil {
		return GitHubDeployment{}, fmt.Errorf("github deployment of %s: %w", deployment, err)
	}
	return l, nil
}

// GitHubDeploymentByCheckRun returns the link whose check run is checkRun in a repository;
// ErrNotFound if none.
func (s *SQLite) GitHubDeploymentByCheckRun(ctx context.Context, repositoryID, checkRun int64) (GitHubDeployment, error) {
	if checkRun <= 0 {
		return GitHubDeployment{}, fmt.Errorf("github deployment of check run %d: %w", checkRun, ErrNotFound)
	}
	l, err := scanGitHubDeployment(s.r.QueryRowContext(ctx, "SELECT "+githubDeploymentColumns+
		" FROM github_deployments WHERE repository_id = ? AND check_run = ?", repositoryID, checkRun))
	if err != nil {
		return GitHubDeployment{}, fmt.Errorf("github deployment of check run %d: %w", checkRun, err)
	}
	return l, nil
}

// GitHubDeploymentsToReport returns the links with something left to post, oldest first.
func (s *SQLite) GitHubDeploymentsToReport(ctx context.Context) ([]GitHubDeployment, error) {
	out, err := s.queryGitHubDeployments(ctx, "done = 0 ORDER BY create_time, deployment")
	if err != nil {
		return nil, fmt.Errorf("github deployments to report: %w", err)
	}
	return out, nil
}

// GitHubDeploymentsIn returns the links of one repository's environment, newest first.
func (s *SQLite) GitHubDeploymentsIn(ctx context.Context, repositoryID int64, environment string) ([]GitHubDeployment, error) {
	out, err := s.queryGitHubDeployments(ctx, "repository_id = ? AND environment = ? ORDER BY create_time DESC, deployment DESC", repositoryID, environment)
	if err != nil {
		return nil, fmt.Errorf("github deployments in %d/%s: %w", repositoryID, environment, err)
	}
	return out, nil
}

// SaveGitHubReport records what the reporter posted for a deployment: its check run, its report
// and whether anything is left to post.
func (s *SQLite) SaveGitHubReport(ctx context.Context, deployment string, checkRun int64, report json.RawMessage, done bool) error {
	if !json.Valid(report) {
		return fmt.Errorf("save github report of %s: %w: report is not JSON", deployment, ErrInvalid)
	}
	res, err := s.w.ExecContext(ctx, "UPDATE github_deployments SET check_run = ?, report = ?, done = ? WHERE deployment = ?",
		checkRun, string(report), boolInt(done), deployment)
	if err == nil {
		err = mustAffect(res)
	}
	if err != nil {
		return fmt.Errorf("save github report of %s: %w", deployment, err)
	}
	return nil
}

// SetGitHubInstallation records the GitHub App installation that covers a repository.
func (s *SQLite) SetGitHubInstallation(ctx context.Context, repositoryID int64, repository string, installation int64) error {
	if repositoryID <= 0 || installation <= 0 {
		return fmt.Errorf("set installation of %s: %w: ids must be positive", repository, ErrInvalid)
	}
	_, err := s.w.ExecContext(ctx, `INSERT INTO github_installations (repository_id, repository, installation_id, update_time)
		VALUES (?, ?, ?, ?) ON CONFLICT (repository_id) DO UPDATE SET
			repository = excluded.repository, installation_id = excluded.installation_id, update_time = excluded.update_time`,
		repositoryID, repository, installation, millis(s.now()))
	if err != nil {
		return fmt.Errorf("set installation of %s: %w", repository, err)
	}
	return nil
}

// GitHubInstallation returns the installation recorded for a repository; ErrNotFound if none.
func (s *SQLite) GitHubInstallation(ctx context.Context, repositoryID int64) (int64, error) {
	var id int64
	err := s.r.QueryRowContext(ctx, "SELECT installation_id FROM github_installations WHERE repository_id = ?", repositoryID).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		err = ErrNotFound
	}
	if err != nil {
		return 0, fmt.Errorf("installation of repository %d: %w", repositoryID, err)
	}
	return id, nil
}

// GroupsForRepository returns the groups linked to a GitHub repository, by application and name.
// The link lives in a JSON column, so the groups are filtered here rather than in SQL that
// PostgreSQL would spell differently; a server has tens of groups, not millions.
func (s *SQLite) GroupsForRepository(ctx context.Context, repositoryID int64) ([]Group, error) {
	rows, err := s.r.QueryContext(ctx, "SELECT "+groupColumns+" FROM deployment_groups ORDER BY application, name")
	if err != nil {
		return nil, fmt.Errorf("groups of repository %d: %w", repositoryID, err)
	}
	defer func() { _ = rows.Close() }()
	var out []Group
	for rows.Next() {
		g, err := scanGroup(rows)
		if err != nil {
			return nil, fmt.Errorf("groups of repository %d: %w", repositoryID, err)
		}
		if g.GitHub.RepositoryID == repositoryID {
			out = append(out, g)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("groups of repository %d: %w", repositoryID, err)
	}
	return out, nil
}
