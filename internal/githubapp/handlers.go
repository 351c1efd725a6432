package githubapp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"path"
	"regexp"
	"strings"

	"github.com/google/go-github/v60/github"

	"github.com/slipway-deploy/slipway/internal/api"
	"github.com/slipway-deploy/slipway/internal/deploy"
	"github.com/slipway-deploy/slipway/internal/store"
)

// handlers are the per-event delivery handlers. Each decodes its event with go-github's types,
// checks that it concerns a group linked to the repository, and acts through Server, the same
// calls the REST API makes.
type handlers struct {
	store     Store
	server    Server
	clients   *Clients
	log       *slog.Logger
	publicURL string
	// tempDir holds fetched tarballs; maxBundleBytes bounds them.
	tempDir        string
	maxBundleBytes int64
	// notify tells the reporter a deployment changed in a way the orchestrator does not see;
	// noteRollback that a rollback was started from its check run.
	notify       func(id string)
	noteRollback func(ctx context.Context, id string) error
}

func (h *handlers) byEvent() map[string]handler {
	return map[string]handler{
		eventPing:         h.ping,
		eventDeployment:   h.deployment,
		eventIssueComment: h.issueComment,
		eventCheckRun:     h.checkRun,
	}
}

// userOr makes a requester's mistake (*api.Error) permanent; anything else may pass on retry.
func userOr(err error) error {
	var ae *api.Error
	if errors.As(err, &ae) {
		return permanent(err)
	}
	return err
}

// eventRepo is the repository a webhook is about.
func eventRepo(r *github.Repository) (Repo, error) {
	if r == nil || r.GetID() == 0 {
		return Repo{}, permanentf("the event names no repository")
	}
	return parseRepo(r.GetFullName(), r.GetID())
}

func decode(payload []byte, v any) error {
	if err := json.Unmarshal(payload, v); err != nil {
		return permanentf("decode payload: %w", err)
	}
	return nil
}

// peekAction reads only a payload's action.
func peekAction(payload []byte) string {
	var a struct {
		Action string `json:"action"`
	}
	_ = json.Unmarshal(payload, &a)
	return a.Action
}

func (h *handlers) ping(_ context.Context, d store.Delivery) (string, error) {
	var ev github.PingEvent
	if err := decode(d.Payload, &ev); err != nil {
		return "", err
	}
	h.log.Info("webhook ping", "delivery_id", d.ID, "hook_id", ev.GetHookID(), "repository", ev.GetRepo().GetFullName())
	return "pong", nil
}

// deploymentPayload is what Slipway reads in a GitHub Deployment's payload.
type deploymentPayload struct {
	// Slipway is what to run, put there by the Action or by this server (see api).
	Slipway *api.GitHubDeploymentPayload `json:"slipway,omitempty"`
	// Deployment names the Slipway deployment this server created the GitHub Deployment for (a
	// rollback's, an auto-update's): it runs already and reports itself.
	Deployment string `json:"slipway_deployment,omitempty"`
	// Request marks a GitHub Deployment this server created for a request (a pull request
	// comment), so that the request, handled again after a crash, finds it instead of creating
	// another.
	Request string `json:"slipway_request,omitempty"`
	// RollbackOf names the deployment a rollback's GitHub Deployment rolls back.
	RollbackOf string `json:"slipway_rollback_of,omitempty"`
}

// decodeDeploymentPayload reads a Deployment's payload, which GitHub returns as the JSON object
// it was given, or as a string when it was given one.
func decodeDeploymentPayload(raw json.RawMessage) deploymentPayload {
	var p deploymentPayload
	if len(raw) == 0 {
		return p
	}
	if raw[0] == '"' {
		var s string
		if json.Unmarshal(raw, &s) == nil {
			raw = json.RawMessage(s)
		}
	}
	if json.Unmarshal(raw, &p) != nil {
		return deploymentPayload{}
	}
	return p
}

// errNoGroup means no group is linked to the repository and environment: the Deployment is
// someone else's to run.
var errNoGroup = errors.New("no deployment group is linked to this repository and environment")

// deployment runs a GitHub Deployment (action created) when its repository and environment map
// to a group, or its payload names one linked to the repository. Creation is keyed by the GitHub
// Deployment's id, the same create-or-get the REST API does for the Action: whichever arrives
// first creates, the other finds.
func (h *handlers) deployment(ctx context.Context, dl store.Delivery) (string, error) {
	if action := peekAction(dl.Payload); action != "created" {
		return "ignored: deployment action " + action, nil
	}
	var ev github.DeploymentEvent
	if err := decode(dl.Payload, &ev); err != nil {
		return "", err
	}
	repo, err := eventRepo(ev.Repo)
	if err != nil {
		return "", err
	}
	gd := ev.Deployment
	if gd.GetID() == 0 || gd.GetSHA() == "" {
		return "", permanentf("the deployment event names no deployment id or sha")
	}
	p := decodeDeploymentPayload(gd.Payload)
	if p.Deployment != "" {
		return "ignored: created by this server for deployment " + p.Deployment, nil
	}
	g, err := h.groupFor(ctx, repo, gd.GetEnvironment(), p.Slipway)
	if errors.Is(err, errNoGroup) {
		h.log.Info("GitHub deployment not for Slipway; ignored", "repository", repo.String(), "environment", gd.GetEnvironment(), "github_deployment", gd.GetID())
		return fmt.Sprintf("ignored: no group linked to %s for environment %q", repo, gd.GetEnvironment()), nil
	}
	gh, gherr := h.clients.For(ctx, repo, ev.Installation.GetID())
	if gherr != nil {
		return "", gherr
	}
	if err != nil {
		return "", h.refuseDeployment(ctx, gh, repo, gd.GetID(), err)
	}
	if ref := fullRef(gd.GetRef()); !refAllowed(g, ref) {
		if ref == "" {
			// The Action names the commit; its own call, which proves the workflow's ref with an
			// OIDC token, runs it. A webhook alone cannot tell which branch the commit is on.
			return fmt.Sprintf("ignored: the Deployment names commit %s, and group %s/%s deploys only refs matching %s", short(gd.GetRef()), g.Application, g.Name, strings.Join(g.GitHub.AllowedRefs, ", ")), nil
		}
		return "", h.refuseDeployment(ctx, gh, repo, gd.GetID(), permanentf("group %s/%s deploys only refs matching %s, not %s", g.Application, g.Name, strings.Join(g.GitHub.AllowedRefs, ", "), ref))
	}
	in := api.CreateDeployment{
		Application: g.Application, Group: g.Name, Description: gd.GetDescription(),
		GitHub: &api.GitHubDeployment{
			Repository: repo.String(), RepositoryID: repo.ID, DeploymentID: gd.GetID(),
			SHA: gd.GetSHA(), Ref: gd.GetRef(), Environment: gd.GetEnvironment(),
		},
	}
	named := ""
	if p.Slipway != nil {
		in.DeploymentConfig, in.FileExistsBehavior, named = p.Slipway.DeploymentConfig, p.Slipway.FileExistsBehavior, p.Slipway.Revision
	}
	if in.Revision, err = h.revisionFor(ctx, gh, repo, g.Application, gd.GetSHA(), named, len(g.GitHub.AllowedRefs) > 0); err != nil {
		return "", h.refuseDeployment(ctx, gh, repo, gd.GetID(), err)
	}
	d, created, err := h.server.CreateDeployment(ctx, in, deploy.CreatorGitHub)
	if err != nil {
		return "", h.refuseDeployment(ctx, gh, repo, gd.GetID(), userOr(err))
	}
	h.notify(d.ID)
	if !created {
		return "deployment " + d.ID + " already runs this GitHub Deployment", nil
	}
	return "created deployment " + d.ID, nil
}

// groupFor finds the group a GitHub Deployment is for: the one its payload names, which must be
// linked to the repository and deploy that environment, or else the one group linked to the
// repository for that environment.
func (h *handlers) groupFor(ctx context.Context, repo Repo, env string, p *api.GitHubDeploymentPayload) (store.Group, error) {
	if p != nil && p.Application != "" {
		g, err := h.store.GetGroup(ctx, p.Application, p.Group)
		if errors.Is(err, store.ErrNotFound) {
			return store.Group{}, permanentf("the payload names group %s/%s, which does not exist", p.Application, p.Group)
		}
		if err != nil {
			return store.Group{}, err
		}
		if g.GitHub.RepositoryID != repo.ID {
			return store.Group{}, permanentf("group %s/%s is not linked to %s: set its github repository to deploy it from there", g.Application, g.Name, repo)
		}
		if g.Environment != "" && g.Environment != env {
			return store.Group{}, permanentf("group %s/%s deploys environment %q, not %q", g.Application, g.Name, g.Environment, env)
		}
		return g, nil
	}
	groups, err := h.store.GroupsForRepository(ctx, repo.ID)
	if err != nil {
		return store.Group{}, err
	}
	var match []store.Group
	for _, g := range groups {
		if g.Environment == env {
			match = append(match, g)
		}
	}
	switch len(match) {
	case 0:
		return store.Group{}, errNoGroup
	case 1:
		return match[0], nil
	}
	names := make([]string, len(match))
	for i, g := range match {
		names[i] = g.Application + "/" + g.Name
	}
	return store.Group{}, permanentf("groups %s all deploy environment %q: name one in the payload's slipway.application and slipway.group", strings.Join(names, ", "), env)
}

// refAllowed says whether g may be deployed from ref, a full ref name ("" when unknown): any ref
// when the group lists no patterns, else one that matches a pattern.
func refAllowed(g store.Group, ref string) bool {
	if len(g.GitHub.AllowedRefs) == 0 {
		return true
	}
	for _, p := range g.GitHub.AllowedRefs {
		if ok, _ := path.Match(p, ref); ok && ref != "" {
			return true
		}
	}
	return false
}

var commitRE = regexp.MustCompile(`^([0-9a-f]{40}|[0-9a-f]{64})$`)

// fullRef names a GitHub Deployment's ref as Git does: refs/... stays, a commit id names no ref
// (""), and a bare name is a branch, as GitHub resolves it first. A tag must be given as
// refs/tags/NAME to match a tag pattern.
func fullRef(ref string) string {
	switch {
	case strings.HasPrefix(ref, "refs/"):
		return ref
	case ref == "" || commitRE.MatchString(ref):
		return ""
	}
	return "refs/heads/" + ref
}

// refuseDeployment tells GitHub why a Deployment will not run (an error status) when the reason
// is the requester's, and returns err for the delivery's record. The Action, refused by the
// server's API, posts an error status of its own: of the two, the first to record the refusal
// reports it, so GitHub shows one.
func (h *handlers) refuseDeployment(ctx context.Context, gh *github.Client, repo Repo, id int64, err error) error {
	var perm permanentError
	if !errors.As(err, &perm) {
		return err
	}
	log := h.log.With("repository", repo.String(), "github_deployment", id)
	first, rerr := h.store.RecordGitHubRefusal(ctx, store.GitHubRefusal{RepositoryID: repo.ID, GitHubID: id, Webhook: true, Reason: clip(reason(err), maxDescription)})
	if rerr != nil {
		return rerr
	}
	if !first.Webhook {
		log.Info("GitHub deployment refused; the API's caller, refused first, reports it")
		return err
	}
	// This delivery may be processed again after a crash that came after the post.
	posted, lerr := hasStatus(ctx, gh, repo, id, stateError)
	if lerr != nil {
		return lerr
	}
	if posted {
		return err
	}
	_, _, serr := gh.Repositories.CreateDeploymentStatus(ctx, repo.Owner, repo.Name, id, &github.DeploymentStatusRequest{
		State:       github.String(stateError),
		Description: github.String(clip(reason(err), maxDescription)),
	})
	if serr != nil {
		log.Warn("report refused GitHub deployment", "error", serr)
	}
	return err
}

// hasStatus says whether a GitHub Deployment's latest status has state.
func hasStatus(ctx context.Context, gh *github.Client, repo Repo, id int64, state string) (bool, error) {
	list, _, err := gh.Repositories.ListDeploymentStatuses(ctx, repo.Owner, repo.Name, id, &github.ListOptions{PerPage: 1})
	if err != nil {
		return false, fmt.Errorf("list statuses of GitHub deployment %d: %w", id, err)
	}
	return len(list) > 0 && list[0].GetState() == state, nil
}

// reason is the message of a requester's mistake without wrapping.
func reason(err error) string {
	var ae *api.Error
	if errors.As(err, &ae) {
		return ae.Message
	}
	return err.Error()
}
