package apiserver

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/gorilla/mux"

	"github.com/slipway-deploy/slipway/internal/api"
	"github.com/slipway-deploy/slipway/internal/auth"
	"github.com/slipway-deploy/slipway/internal/deploy"
	"github.com/slipway-deploy/slipway/internal/store"
)

// Who may call /api/v1: the admin token may do anything; a GitHub Actions workflow, presenting
// an OIDC token, may make the calls in workflowRoutes, for the groups its repository is linked to
// (auth.Workflow.Authorize has the rules). Routes are closed to workflows unless listed, so a
// route added later is admin-only until someone decides otherwise.

// WorkflowVerifier verifies a GitHub Actions OIDC token (auth.Verifier provides it).
type WorkflowVerifier interface {
	Verify(ctx context.Context, raw string) (auth.Workflow, error)
}

// workflowRoutes are the calls a workflow token may make: upload a revision, read the group it
// deploys (for its GitHub environment), create a deployment, and read or stop one.
var workflowRoutes = map[string]bool{
	http.MethodPost + " " + api.PathAPI + "/applications/{app}/revisions":                            true,
	http.MethodPost + " " + api.PathAPI + "/applications/{app}/groups/{group}/uploads":               true,
	http.MethodPost + " " + api.PathAPI + "/applications/{app}/groups/{group}/uploads/{id}/complete": true,
	http.MethodGet + " " + api.PathAPI + "/applications/{app}/groups/{group}":                        true,
	http.MethodPost + " " + api.PathAPI + "/deployments":                                             true,
	http.MethodGet + " " + api.PathAPI + "/deployments/{id}":                                         true,
	http.MethodPost + " " + api.PathAPI + "/deployments/{id}/stop":                                   true,
}

var errWorkflowRoute = fmt.Errorf("%w: a workflow token may only upload revisions, read its deployment groups, create deployments and read or stop them; this call needs the admin token", auth.ErrForbidden)

// principal is who is calling; exactly one field is set.
type principal struct {
	admin    bool
	workflow *auth.Workflow
}

type principalKey struct{}

func principalOf(r *http.Request) principal {
	p, _ := r.Context().Value(principalKey{}).(principal)
	return p
}

// authenticate guards the REST API: the admin token, or a verified workflow token on a route
// open to workflows.
func (s *Server) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok := bearer(r)
		var p principal
		switch {
		case tokenEqual(tok, s.cfg.AdminToken):
			p.admin = true
		case s.cfg.Workflows != nil && auth.LooksLikeToken(tok):
			wf, err := s.cfg.Workflows.Verify(r.Context(), tok)
			if err != nil {
				s.writeError(w, r, err)
				return
			}
			if !workflowRoutes[routeKey(r)] {
				s.writeError(w, r, errWorkflowRoute)
				return
			}
			p.workflow = &wf
		default:
			s.writeError(w, r, errUnauthorized)
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), principalKey{}, p)))
	})
}

// routeKey is "METHOD /path/{template}" of the matched route.
func routeKey(r *http.Request) string {
	route := mux.CurrentRoute(r)
	if route == nil {
		return ""
	}
	tpl, err := route.GetPathTemplate()
	if err != nil {
		return ""
	}
	return r.Method + " " + tpl
}

func target(g store.Group) auth.Target {
	return auth.Target{
		Application: g.Application, Group: g.Name,
		Repository: g.GitHub.Repository, RepositoryID: g.GitHub.RepositoryID, AllowedRefs: g.GitHub.AllowedRefs,
		Environment: g.Environment,
	}
}

// authorizeGroup says whether the caller may deploy to g.
func (s *Server) authorizeGroup(r *http.Request, g store.Group) error {
	p := principalOf(r)
	switch {
	case p.admin:
		return nil
	case p.workflow != nil:
		return p.workflow.Authorize(target(g))
	}
	return errUnauthorized
}

// authorizeApplication says whether the caller may upload revisions of app: a workflow may when
// it may deploy to at least one of the application's groups.
func (s *Server) authorizeApplication(r *http.Request, app string) error {
	p := principalOf(r)
	if p.admin {
		return nil
	}
	if p.workflow == nil {
		return errUnauthorized
	}
	groups, err := s.store.ListGroups(r.Context(), app)
	if err != nil {
		return storeErr(err)
	}
	var refusals []error
	for _, g := range groups {
		err := p.workflow.Authorize(target(g))
		if err == nil {
			return nil
		}
		refusals = append(refusals, err)
	}
	if len(refusals) == 0 {
		return fmt.Errorf("%w: application %s has no deployment groups", auth.ErrForbidden, app)
	}
	return fmt.Errorf("%w: no group of application %s accepts this workflow: %w", auth.ErrForbidden, app, errors.Join(refusals...))
}

// authorizedDeployment returns the deployment the request's {id} names, if the caller may read
// or stop it: a workflow may for the deployments of the groups it may deploy to.
func (s *Server) authorizedDeployment(r *http.Request) (deploy.Deployment, error) {
	d, _, err := s.orch.Get(r.Context(), mux.Vars(r)["id"])
	if err != nil || principalOf(r).admin {
		return d, storeErr(err)
	}
	g, err := s.store.GetGroup(r.Context(), d.Application, d.Group)
	if err != nil {
		return d, storeErr(err)
	}
	return d, s.authorizeGroup(r, g)
}

// authorizeGitHubDeployment says whether a workflow may tie a new deployment to gh: only to a
// GitHub Deployment of its own repository, since the server reports statuses there.
func (s *Server) authorizeGitHubDeployment(r *http.Request, gh *api.GitHubDeployment) error {
	wf := principalOf(r).workflow
	if wf == nil || gh == nil || gh.RepositoryID == wf.RepositoryID {
		return nil
	}
	return fmt.Errorf("%w: the GitHub Deployment named belongs to repository id %d; a workflow may only report to its own repository (id %d)",
		auth.ErrForbidden, gh.RepositoryID, wf.RepositoryID)
}

// authorizeCommit says whether the caller may say an upload was built from commit, which the
// request names in field (the upload's header, or an upload slot's field). A workflow may
// name only the commit its own run is on (its token's sha claim): the commit an upload names is
// how a GitHub Deployment or a pull request's /deploy of that commit finds a bundle to install, so
// a workflow that may deploy one group of an application must not plant a bundle under a commit
// that another group, with stricter refs or an environment, is later deployed from.
func (s *Server) authorizeCommit(r *http.Request, field, commit string) error {
	wf := principalOf(r).workflow
	if wf == nil || commit == "" || commit == wf.SHA {
		return nil
	}
	return fmt.Errorf("%w: %s names commit %q, and this workflow runs on commit %q: a workflow may only upload bundles of its own commit (or name none)",
		auth.ErrForbidden, field, commit, wf.SHA)
}

// logWorkflow records which workflow did something, for the audit trail; never the token.
func (s *Server) logWorkflow(r *http.Request, msg string, args ...any) {
	wf := principalOf(r).workflow
	if wf == nil {
		return
	}
	s.log.Info(msg, append(args, "repository", wf.Repository, "repository_id", wf.RepositoryID,
		"ref", wf.Ref, "workflow_ref", wf.JobWorkflowRef, "run_id", wf.RunID, "actor", wf.Actor)...)
}
