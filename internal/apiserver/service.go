package apiserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path"
	"regexp"
	"strings"
	"time"
	"unicode"

	"github.com/slipway-deploy/slipway/internal/api"
	"github.com/slipway-deploy/slipway/internal/appspec"
	"github.com/slipway-deploy/slipway/internal/bundle"
	"github.com/slipway-deploy/slipway/internal/deploy"
	"github.com/slipway-deploy/slipway/internal/store"
)

// The methods in this file are what the REST handlers do, callable without HTTP, so that the
// GitHub webhook handlers run the very same code: one create path, one stop path, one way to
// register a revision. Their errors are *api.Error for a caller's mistake (the message says what
// to change) and plain errors for server faults.

// commitRE is a full Git commit id.
var commitRE = regexp.MustCompile(`^([0-9a-f]{40}|[0-9a-f]{64})$`)

// CreateDeployment creates a deployment of a registered revision to a group, with the request's
// options over the group's. With in.GitHub set the deployment runs that GitHub Deployment and is
// created at most once for it: a second call for the same GitHub Deployment (the Action's and the
// webhook's, in either order) returns the first one with created false.
func (s *Server) CreateDeployment(ctx context.Context, in api.CreateDeployment, creator deploy.Creator) (api.Deployment, bool, error) {
	d, created, err := s.createDeployment(ctx, in, creator)
	if err != nil {
		return api.Deployment{}, false, publicError(err)
	}
	return s.deploymentJSON(ctx, d), created, nil
}

func (s *Server) createDeployment(ctx context.Context, in api.CreateDeployment, creator deploy.Creator) (deploy.Deployment, bool, error) {
	g, err := s.store.GetGroup(ctx, in.Application, in.Group)
	if err != nil {
		return deploy.Deployment{}, false, storeErr(err)
	}
	if _, err := s.store.GetRevision(ctx, in.Application, in.Revision); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			err = invalid("revision", "no revision %q in application %s: upload the bundle first (slipway deploy does both)", in.Revision, in.Application)
		}
		return deploy.Deployment{}, false, storeErr(err)
	}
	d, err := s.newDeployment(ctx, g, in.Revision, creator, in)
	if err != nil {
		return deploy.Deployment{}, false, err
	}
	if in.GitHub == nil {
		d, err = s.orch.Create(ctx, d, g.RefuseWhenBusy)
		return d, err == nil, storeErr(err)
	}
	link, err := githubLink(g, *in.GitHub)
	if err != nil {
		return deploy.Deployment{}, false, err
	}
	d, adm, created, err := s.store.CreateDeploymentForGitHub(ctx, d, g.RefuseWhenBusy, link)
	if err != nil {
		return deploy.Deployment{}, false, storeErr(err)
	}
	if !created {
		// Only the same request again finds the deployment: one for another group must not
		// read it, or pass for it in what GitHub is told.
		if d.Application != g.Application || d.Group != g.Name {
			return deploy.Deployment{}, false, as(errConflict, "GitHub Deployment %d already runs as a deployment of another group: create a GitHub Deployment of its own for %s/%s",
				in.GitHub.DeploymentID, g.Application, g.Name)
		}
		d, _, err = s.orch.Get(ctx, d.ID)
		return d, false, storeErr(err)
	}
	d, err = s.orch.Admitted(ctx, d, adm)
	return d, true, storeErr(err)
}

// githubLink checks a GitHub Deployment against the group it is to deploy.
func githubLink(g store.Group, gh api.GitHubDeployment) (store.GitHubDeployment, error) {
	owner, name, ok := strings.Cut(gh.Repository, "/")
	switch {
	case !ok || owner == "" || name == "" || strings.Contains(name, "/"):
		return store.GitHubDeployment{}, invalid("github.repository", "%q: give owner/name", gh.Repository)
	case gh.RepositoryID <= 0:
		return store.GitHubDeployment{}, invalid("github.repository_id", "give the repository's numeric id (github.repository_id in a workflow)")
	case gh.DeploymentID <= 0:
		return store.GitHubDeployment{}, invalid("github.deployment_id", "give the id of the GitHub Deployment this deployment runs")
	case !commitRE.MatchString(gh.SHA):
		return store.GitHubDeployment{}, invalid("github.sha", "%q: give the full commit id the GitHub Deployment names", gh.SHA)
	case g.GitHub.Linked() && g.GitHub.RepositoryID != gh.RepositoryID:
		return store.GitHubDeployment{}, invalid("github.repository_id", "group %s/%s is linked to repository %s (id %d), not %s (id %d)",
			g.Application, g.Name, g.GitHub.Repository, g.GitHub.RepositoryID, gh.Repository, gh.RepositoryID)
	case g.Environment != "" && gh.Environment != "" && g.Environment != gh.Environment:
		return store.GitHubDeployment{}, invalid("github.environment", "group %s/%s deploys environment %q, not %q", g.Application, g.Name, g.Environment, gh.Environment)
	}
	env := gh.Environment
	if env == "" {
		env = g.Environment
	}
	return store.GitHubDeployment{
		Repository: gh.Repository, RepositoryID: gh.RepositoryID, GitHubID: gh.DeploymentID,
		SHA: gh.SHA, Ref: gh.Ref, Environment: env,
	}, nil
}

// newDeployment builds a deployment of revision to g, with the request's options over the group's.
func (s *Server) newDeployment(ctx context.Context, g store.Group, revision string, creator deploy.Creator, in api.CreateDeployment) (deploy.Deployment, error) {
	configName := g.ConfigName
	if in.DeploymentConfig != "" {
		configName = in.DeploymentConfig
	}
	cfg, err := s.config(ctx, configName)
	if err != nil {
		return deploy.Deployment{}, err
	}
	if in.FileExistsBehavior != "" {
		if _, err := appspec.ParseFileExistsBehavior(in.FileExistsBehavior); err != nil {
			return deploy.Deployment{}, invalid("file_exists_behavior", "%v", err)
		}
	}
	d := deploy.Deployment{
		ID:                            store.NewDeploymentID(),
		Application:                   g.Application,
		Group:                         g.Name,
		Revision:                      revision,
		Creator:                       creator,
		Config:                        cfg,
		Description:                   in.Description,
		FileExistsBehavior:            in.FileExistsBehavior,
		IgnoreApplicationStopFailures: g.IgnoreApplicationStopFailures,
		UpdateOutdatedInstancesOnly:   in.UpdateOutdatedInstancesOnly,
		AutoRollback:                  g.AutoRollback,
		Type:                          g.Type,
		Router:                        g.Router,
		BlueGreen:                     g.BlueGreen,
		Lease:                         s.cfg.Lease,
		CreateTime:                    time.Now().UTC(),
	}
	if in.IgnoreApplicationStopFailures != nil {
		d.IgnoreApplicationStopFailures = *in.IgnoreApplicationStopFailures
	}
	if in.AutoRollback != nil {
		d.AutoRollback = deploy.AutoRollback{OnFailure: in.AutoRollback.OnFailure, OnAlarm: in.AutoRollback.OnAlarm, OnStopRequested: in.AutoRollback.OnStopRequested}
	}
	app, err := s.store.GetApplication(ctx, g.Application)
	if err != nil {
		return deploy.Deployment{}, storeErr(err)
	}
	if app.ComputePlatform != store.PlatformServer {
		if err := s.functionDeployment(ctx, g, app.ComputePlatform, &d); err != nil {
			return deploy.Deployment{}, err
		}
	}
	return d, nil
}

// RollbackGroup starts a deployment (creator rollback) of the group's last successful revision,
// reusing the content options of the deployment that installed it, as CodeDeploy does.
// description, when given, replaces the default one. key, when given, names the request (a
// comment, a button click) that may be handled twice: a rollback it already started is returned
// instead of a second one, which would undo the release before.
func (s *Server) RollbackGroup(ctx context.Context, application, group, description, key string) (api.Deployment, error) {
	g, err := s.store.GetGroup(ctx, application, group)
	if err != nil {
		return api.Deployment{}, publicError(storeErr(err))
	}
	if key != "" {
		if d, ok, err := s.requested(ctx, g, key); err != nil || ok {
			return d, err
		}
	}
	revision, template, err := s.rollbackTarget(ctx, g)
	if err != nil {
		return api.Deployment{}, publicError(err)
	}
	if !g.AWS.IsZero() && revision == g.CurrentRevision {
		// A lambda or ecs deployment that failed or was stopped put the alias or service back.
		return api.Deployment{}, publicError(as(errConflict, "group %s is a lambda or ecs group, and a deployment that fails or is stopped "+
			"puts the alias or service back by itself: the last good revision %s is what runs now, and a rollback after a successful "+
			"deployment returns to the one before", g.Name, revision))
	}
	// Reuse the content options of the deployment that installed the revision, as CodeDeploy does.
	var in api.CreateDeployment
	in.FileExistsBehavior = template.FileExistsBehavior
	in.Description = "rollback to revision " + revision
	if description != "" {
		in.Description = description
	}
	d, err := s.newDeployment(ctx, g, revision, deploy.CreatorRollback, in)
	if err != nil {
		return api.Deployment{}, publicError(err)
	}
	// A rollback must not roll itself back.
	d.AutoRollback = deploy.AutoRollback{}
	d.RollbackOf = template.RolledBackFrom
	d.RequestKey = key
	if d.Platform != deploy.PlatformServer {
		if err := s.functionRollback(ctx, g, &d); err != nil {
			return api.Deployment{}, publicError(err)
		}
	}
	d, err = s.orch.Create(ctx, d, false)
	if err != nil {
		return api.Deployment{}, publicError(storeErr(err))
	}
	return s.deploymentJSON(ctx, d), nil
}

// rollbackSearch bounds how far back a manual rollback looks for the previous good revision,
// and for the rollback a request handled before started.
const rollbackSearch = 200

// requested finds the deployment of group g that the request named key created, if any.
func (s *Server) requested(ctx context.Context, g store.Group, key string) (api.Deployment, bool, error) {
	list, err := s.store.ListDeployments(ctx, store.DeploymentFilter{Application: g.Application, Group: g.Name, Limit: rollbackSearch})
	if err != nil {
		return api.Deployment{}, false, publicError(storeErr(err))
	}
	for _, v := range list {
		if v.Deployment.RequestKey == key {
			return s.deploymentJSON(ctx, v.Deployment), true, nil
		}
	}
	return api.Deployment{}, false, nil
}

// rollbackOrigin is the deployment whose revision a manual rollback redeploys.
type rollbackOrigin struct {
	FileExistsBehavior string
	// RolledBackFrom is the deployment being undone, when there is one to name.
	RolledBackFrom string
}

// rollbackTarget decides what a manual rollback redeploys, as a user of CodeDeploy, Argo Rollouts
// or Kamal expects "roll back" to mean:
//   - when the group's newest deployment did not succeed (it failed, was stopped, or still runs),
//     the group's current revision — the last good one — so hosts that took the bad revision
//     get the good one back;
//   - when it succeeded, the newest earlier successful revision that differs from the current
//     one: undo the last release.
//
// Auto-updates only repeat the current revision on new hosts and are not releases.
func (s *Server) rollbackTarget(ctx context.Context, g store.Group) (string, rollbackOrigin, error) {
	if g.CurrentRevision == "" {
		return "", rollbackOrigin{}, as(errConflict, "group %s has no successful deployment to roll back to", g.Name)
	}
	list, err := s.store.ListDeployments(ctx, store.DeploymentFilter{Application: g.Application, Group: g.Name, Limit: rollbackSearch})
	if err != nil {
		return "", rollbackOrigin{}, err
	}
	var newest *deploy.Deployment
	for i := range list {
		if d := &list[i].Deployment; d.Creator != deploy.CreatorAutoUpdate {
			newest = d
			break
		}
	}
	if newest == nil || newest.Status != deploy.StatusSucceeded || newest.Revision != g.CurrentRevision {
		origin := rollbackOrigin{}
		if newest != nil {
			origin.RolledBackFrom = newest.ID
		}
		if g.LastSuccessfulDeployment != "" {
			if last, err := s.store.GetDeployment(ctx, g.LastSuccessfulDeployment); err == nil {
				origin.FileExistsBehavior = last.Deployment.FileExistsBehavior
			}
		}
		return g.CurrentRevision, origin, nil
	}
	for _, v := range list {
		d := v.Deployment
		if d.Status == deploy.StatusSucceeded && d.Revision != g.CurrentRevision && d.Creator != deploy.CreatorAutoUpdate {
			return d.Revision, rollbackOrigin{FileExistsBehavior: d.FileExistsBehavior, RolledBackFrom: newest.ID}, nil
		}
	}
	return "", rollbackOrigin{}, as(errConflict,
		"group %s has had only one successful revision (%s), so there is nothing earlier to roll back to; deploy another revision instead",
		g.Name, g.CurrentRevision)
}

// StopDeployment stops a deployment, rolling back if asked or if its group says so. Stopping a
// finished deployment is not an error: it is returned as it is.
func (s *Server) StopDeployment(ctx context.Context, id string, rollback bool, message string) (api.Deployment, error) {
	d, err := s.orch.Stop(ctx, id, rollback, message)
	// Stopping a deployment that has ended or is stopping already is no mistake: the answer
	// says where it stands.
	if err != nil && !errors.Is(err, deploy.ErrFinished) && !errors.Is(err, deploy.ErrStale) {
		return api.Deployment{}, publicError(storeErr(err))
	}
	return s.deploymentJSON(ctx, d), nil
}

// ActOnDeployment applies one of the api.Action* actions to a running deployment and returns it
// after; message says who aborted (an abort's error message). Asking twice (pause a paused
// shift, abort a stopping deployment) is not an error; acting on a finished deployment is a
// conflict, out of phase a 422, both *api.Error.
func (s *Server) ActOnDeployment(ctx context.Context, id, action, message string) (api.Deployment, error) {
	var d deploy.Deployment
	var err error
	switch action {
	case api.ActionPromote:
		d, err = s.orch.Promote(ctx, id)
	case api.ActionPause:
		d, err = s.orch.Pause(ctx, id)
	case api.ActionContinue:
		d, err = s.orch.Continue(ctx, id)
	case api.ActionAbort:
		if message == "" {
			message = "aborted by a user"
		}
		d, err = s.orch.Stop(ctx, id, false, message)
	default:
		return api.Deployment{}, publicError(invalid("", "unknown action %q: use promote, pause, continue or abort", action))
	}
	switch {
	case errors.Is(err, deploy.ErrFinished):
		err = as(errConflict, "deployment %s is %v: there is nothing to %s", id, d.Status, action)
	case errors.Is(err, deploy.ErrStale):
		err = nil
	}
	if err != nil {
		return api.Deployment{}, publicError(storeErr(err))
	}
	return s.deploymentJSON(ctx, d), nil
}

// GetDeployment returns a deployment with its hosts named.
func (s *Server) GetDeployment(ctx context.Context, id string) (api.Deployment, error) {
	d, _, err := s.orch.Get(ctx, id)
	if err != nil {
		return api.Deployment{}, publicError(storeErr(err))
	}
	return s.deploymentJSON(ctx, d), nil
}

// NewRevision is a bundle to register.
type NewRevision struct {
	Application string
	// Body is the bundle's bytes, Size their number (-1 when unknown: a bundle store in S3
	// refuses those); Digest, when set, is the sha256 they must have.
	Body   io.Reader
	Size   int64
	Digest string
	Source store.RevisionSource
	// Commit is the Git commit the bundle was built from, when known.
	Commit string
	// Directory is the bundle's directory in that commit's repository ("." for its root), when
	// known.
	Directory string
	// Location is the source's details (for github: repository and commit).
	Location json.RawMessage
}

// AddRevision stores a bundle by its sha256 once it has passed the checks an agent would apply
// when it deploys it (checkBundle), and registers it with the application. A body over the
// server's bundle limit is refused.
func (s *Server) AddRevision(ctx context.Context, nr NewRevision) (api.Revision, error) {
	rev, err := s.addRevision(ctx, nr)
	if err != nil {
		return api.Revision{}, publicError(err)
	}
	return rev, nil
}

func (s *Server) addRevision(ctx context.Context, nr NewRevision) (api.Revision, error) {
	app, err := s.store.GetApplication(ctx, nr.Application)
	if err != nil {
		return api.Revision{}, storeErr(err)
	}
	platform, err := appspec.ParsePlatform(string(app.ComputePlatform))
	if err != nil {
		return api.Revision{}, fmt.Errorf("application %s: %w", app.Name, err)
	}
	if nr.Commit != "" && !commitRE.MatchString(nr.Commit) {
		return api.Revision{}, invalid("commit", "%q is not a full commit id: give the 40 hex characters of the commit the bundle was built from", nr.Commit)
	}
	dir, err := repositoryDirectory(nr.Directory)
	if err != nil {
		return api.Revision{}, err
	}
	var format bundle.Format
	// MaxBytesReader accepts a nil ResponseWriter: the limit then only fails the read.
	body := http.MaxBytesReader(nil, io.NopCloser(nr.Body), s.cfg.MaxBundleBytes)
	digest, size, err := s.blobs.Put(ctx, body, nr.Size, nr.Digest, func(content io.ReaderAt, size int64) error {
		var err error
		format, err = checkBundle(ctx, content, size, platform)
		return err
	})
	if err != nil {
		return api.Revision{}, s.blobErr(err)
	}
	rev, err := s.store.PutRevision(ctx, store.Revision{
		Digest: digest, Application: app.Name, Size: size, Format: format.String(),
		Source: nr.Source, Location: nr.Location, Commit: nr.Commit, Directory: dir,
	})
	if err != nil {
		return api.Revision{}, storeErr(err)
	}
	return revisionJSON(rev), nil
}

// maxDirectory bounds a repository directory's name, as Git hosts bound paths.
const maxDirectory = 1024

// repositoryDirectory checks the directory of a repository a bundle was built from: a relative
// slash-separated path inside the repository, "." for its root, "" when unknown. It is returned
// cleaned.
func repositoryDirectory(dir string) (string, error) {
	if dir == "" {
		return "", nil
	}
	clean := path.Clean(dir)
	bad := len(dir) > maxDirectory || path.IsAbs(dir) || clean == ".." || strings.HasPrefix(clean, "../") || strings.Contains(dir, "\\") ||
		strings.ContainsFunc(dir, unicode.IsControl)
	if bad {
		return "", invalid("directory", "%q: give the bundle's directory relative to the repository's root, such as deploy/web, or . for the root", dir)
	}
	return clean, nil
}

// publicError turns a caller's mistake into an *api.Error that carries its HTTP status and
// says what to change; a server fault is returned as it is.
func publicError(err error) error {
	if err == nil {
		return nil
	}
	var ae *api.Error
	if errors.As(err, &ae) {
		return err
	}
	status := statusOf(err)
	if status == http.StatusInternalServerError {
		return err
	}
	out := &api.Error{Message: err.Error(), Status: status}
	var br badRequest
	if errors.As(err, &br) {
		out.Field = br.field
	}
	return out
}

// AddGitHubRevision registers a bundle the server fetched from GitHub: repository's tarball at
// commit, size bytes long (-1 when unknown). Hooks see BUNDLE_COMMIT.
func (s *Server) AddGitHubRevision(ctx context.Context, application string, body io.Reader, size int64, repository, commit string) (api.Revision, error) {
	loc, err := json.Marshal(struct {
		Repository string `json:"repository"`
		Commit     string `json:"commit"`
	}{repository, commit})
	if err != nil {
		return api.Revision{}, err
	}
	return s.AddRevision(ctx, NewRevision{
		Application: application, Body: body, Size: size, Source: store.SourceGitHub, Commit: commit, Location: loc,
		Directory: ".", // GitHub's tarball holds the repository from its root
	})
}
