package githubapp

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/google/go-github/v60/github"

	"github.com/slipway-deploy/slipway/internal/api"
	"github.com/slipway-deploy/slipway/internal/deploy"
	"github.com/slipway-deploy/slipway/internal/store"
)

// GitHub's reaction names.
const (
	reactionEyes   = "eyes"
	reactionRocket = "rocket"
	reactionNo     = "-1"
)

// prComment is a command comment being handled.
type prComment struct {
	gh      *github.Client
	repo    Repo
	number  int
	comment int64
	user    string
	cmd     command
}

// issueComment handles /deploy, /rollback, /stop and /status written in a new comment on a pull
// request: 👀 on receipt, then 🚀 and a reply saying what was done, or 👎 and a reply saying why
// not. Only collaborators with write or admin permission may command. Comments on issues, edits,
// deletions and comments that are not commands are ignored.
func (h *handlers) issueComment(ctx context.Context, dl store.Delivery) (string, error) {
	if action := peekAction(dl.Payload); action != "created" {
		return "ignored: comment action " + action, nil
	}
	var ev github.IssueCommentEvent
	if err := decode(dl.Payload, &ev); err != nil {
		return "", err
	}
	if ev.GetIssue().GetPullRequestLinks() == nil {
		return "ignored: comment on an issue, not a pull request", nil
	}
	cmd, ok, perr := parseCommand(ev.GetComment().GetBody())
	if !ok {
		return "ignored: not a command", nil
	}
	if ev.GetComment().GetUser().GetType() == "Bot" {
		return "ignored: comment by a bot", nil
	}
	repo, err := eventRepo(ev.Repo)
	if err != nil {
		return "", err
	}
	gh, err := h.clients.For(ctx, repo, ev.GetInstallation().GetID())
	if err != nil {
		return "", err
	}
	c := prComment{gh: gh, repo: repo, number: ev.GetIssue().GetNumber(), comment: ev.GetComment().GetID(), user: ev.GetComment().GetUser().GetLogin(), cmd: cmd}
	// Reacting twice is harmless (GitHub answers the existing reaction), so a retried delivery
	// may react again.
	if err := h.react(ctx, c, reactionEyes); err != nil {
		return "", err
	}
	if perr != nil {
		return h.refuse(ctx, c, perr.Error())
	}
	allowed, perm, err := canWrite(ctx, gh, repo, c.user)
	if err != nil {
		return "", err
	}
	if !allowed {
		return h.refuse(ctx, c, fmt.Sprintf("@%s needs write access to %s to run Slipway commands (their permission is %s).", c.user, repo, perm))
	}
	msg, err := h.runCommand(ctx, c)
	var perm2 permanentError
	if errors.As(err, &perm2) {
		return h.refuse(ctx, c, reason(err))
	}
	if err != nil {
		return "", err
	}
	if err := h.react(ctx, c, reactionRocket); err != nil {
		return "", err
	}
	if err := h.reply(ctx, c, msg); err != nil {
		return "", err
	}
	return "done: " + cmd.Line, nil
}

func (h *handlers) react(ctx context.Context, c prComment, content string) error {
	if _, _, err := c.gh.Reactions.CreateIssueCommentReaction(ctx, c.repo.Owner, c.repo.Name, c.comment, content); err != nil {
		return fmt.Errorf("react %s to comment %d: %w", content, c.comment, err)
	}
	return nil
}

func (h *handlers) reply(ctx context.Context, c prComment, msg string) error {
	body := "> " + c.cmd.Line + "\n\n" + msg
	if _, _, err := c.gh.Issues.CreateComment(ctx, c.repo.Owner, c.repo.Name, c.number, &github.IssueComment{Body: github.String(clip(body, maxCheckRunText))}); err != nil {
		return fmt.Errorf("reply on #%d: %w", c.number, err)
	}
	return nil
}

// refuse answers a command that will not run: 👎 and the reason.
func (h *handlers) refuse(ctx context.Context, c prComment, why string) (string, error) {
	if err := h.react(ctx, c, reactionNo); err != nil {
		return "", err
	}
	if err := h.reply(ctx, c, "👎 "+why); err != nil {
		return "", err
	}
	return "refused: " + why, nil
}

func (h *handlers) runCommand(ctx context.Context, c prComment) (string, error) {
	groups, err := h.store.GroupsForRepository(ctx, c.repo.ID)
	if err != nil {
		return "", err
	}
	if len(groups) == 0 {
		return "", permanentf("no deployment group is linked to %s: link one (its github repository) to deploy from here", c.repo)
	}
	if c.cmd.Name == cmdStatus {
		return h.status(ctx, groups, c.cmd.Group)
	}
	g, err := pickGroup(groups, c.cmd.Group)
	if err != nil {
		return "", err
	}
	switch c.cmd.Name {
	case cmdDeploy:
		return h.deployPR(ctx, c, g)
	case cmdRollback:
		d, err := h.server.RollbackGroup(ctx, g.Application, g.Name, fmt.Sprintf("rollback requested by @%s in #%d", c.user, c.number))
		if err != nil {
			return "", userOr(err)
		}
		return fmt.Sprintf("🚀 Rolling back **%s/%s** to `%s`: %s", g.Application, g.Name, short(d.Revision), h.link(d)), nil
	case cmdStop:
		if g.Queue.Active == "" {
			return "", permanentf("nothing is running in %s/%s", g.Application, g.Name)
		}
		d, err := h.server.StopDeployment(ctx, g.Queue.Active, false, fmt.Sprintf("stopped by @%s in #%d", c.user, c.number))
		if err != nil {
			return "", userOr(err)
		}
		h.notify(d.ID)
		return fmt.Sprintf("🛑 Stopping %s: hosts finish the event they are running, the rest are skipped.", h.link(d)), nil
	}
	return "", permanentf("unknown command %s", c.cmd.Name)
}

// pickGroup finds the group a command names: by name, or application/name, or the only one.
func pickGroup(groups []store.Group, name string) (store.Group, error) {
	var names []string
	var match []store.Group
	for _, g := range groups {
		full := g.Application + "/" + g.Name
		names = append(names, "`"+full+"`")
		if name == "" || name == g.Name || name == full {
			match = append(match, g)
		}
	}
	switch {
	case len(match) == 1:
		return match[0], nil
	case name == "":
		return store.Group{}, permanentf("name the group: %s", strings.Join(names, ", "))
	case len(match) == 0:
		return store.Group{}, permanentf("no group %q is linked to this repository; the groups are %s", name, strings.Join(names, ", "))
	}
	return store.Group{}, permanentf("%q is ambiguous; write application/group: %s", name, strings.Join(names, ", "))
}

// deployPR deploys the pull request's head commit to g: from a revision registered for that
// commit if there is one, else from the repository's tarball at that commit. A GitHub Deployment
// is created for it (found again, not doubled, if this comment is handled twice) and the Slipway
// deployment is created for that GitHub Deployment by the same create-or-get the deployment
// webhook and the Action use.
func (h *handlers) deployPR(ctx context.Context, c prComment, g store.Group) (string, error) {
	if g.Environment == "" {
		return "", permanentf("group %s/%s has no GitHub environment: set its environment to deploy it from a pull request", g.Application, g.Name)
	}
	pr, _, err := c.gh.PullRequests.Get(ctx, c.repo.Owner, c.repo.Name, c.number)
	if err != nil {
		return "", fmt.Errorf("get pull request #%d: %w", c.number, err)
	}
	if pr.GetState() != "open" {
		return "", permanentf("pull request #%d is %s", c.number, pr.GetState())
	}
	sha := pr.GetHead().GetSHA()
	if sha == "" {
		return "", fmt.Errorf("pull request #%d has no head commit", c.number)
	}
	// A fork's branch is not this repository's branch of the same name.
	ref := fmt.Sprintf("refs/pull/%d/head", c.number)
	if pr.GetHead().GetRepo().GetID() == c.repo.ID {
		ref = "refs/heads/" + pr.GetHead().GetRef()
	}
	if !refAllowed(g, ref) {
		return "", permanentf("group %s/%s deploys only refs matching %s, and this pull request's head is %s", g.Application, g.Name, strings.Join(g.GitHub.AllowedRefs, ", "), ref)
	}
	revision, err := h.revisionFor(ctx, c.gh, c.repo, g.Application, sha, "")
	if err != nil {
		return "", err
	}
	marker := fmt.Sprintf("comment:%d:%s/%s", c.comment, g.Application, g.Name)
	payload := deploymentPayload{
		Slipway: &api.GitHubDeploymentPayload{Application: g.Application, Group: g.Name, Revision: revision, DeploymentConfig: c.cmd.Config},
		Request: marker,
	}
	desc := fmt.Sprintf("Deploy #%d requested by @%s", c.number, c.user)
	ghd, err := ensureDeployment(ctx, c.gh, c.repo, &github.DeploymentRequest{
		Ref: github.String(sha), Environment: github.String(g.Environment), Description: github.String(clip(desc, maxDescription)),
		Payload: payload, AutoMerge: github.Bool(false),
		// The commenter, who has write access, asked for this commit explicitly: GitHub's
		// commit-status gate is not applied (docs/github.md).
		RequiredContexts: &[]string{},
	}, func(p deploymentPayload) bool { return p.Request == marker })
	if err != nil {
		return "", err
	}
	d, _, err := h.server.CreateDeployment(ctx, api.CreateDeployment{
		Application: g.Application, Group: g.Name, Revision: revision, DeploymentConfig: c.cmd.Config, Description: desc,
		GitHub: &api.GitHubDeployment{
			Repository: c.repo.String(), RepositoryID: c.repo.ID, DeploymentID: ghd.GetID(),
			SHA: sha, Ref: pr.GetHead().GetRef(), Environment: g.Environment,
		},
	}, deploy.CreatorGitHub)
	if err != nil {
		return "", userOr(err)
	}
	h.notify(d.ID)
	queued := ""
	if d.Status == deploy.StatusQueued.String() {
		queued = " It waits for the deployment running in the group."
	}
	return fmt.Sprintf("🚀 Deploying `%s` (head of #%d) to **%s/%s** (environment `%s`): %s.%s",
		short(sha), c.number, g.Application, g.Name, g.Environment, h.link(d), queued), nil
}

// status describes the linked groups (or the one named).
func (h *handlers) status(ctx context.Context, groups []store.Group, name string) (string, error) {
	if name != "" {
		g, err := pickGroup(groups, name)
		if err != nil {
			return "", err
		}
		groups = []store.Group{g}
	}
	var b strings.Builder
	b.WriteString("| group | environment | revision | running | waiting | last success |\n|---|---|---|---|---|---|\n")
	for _, g := range groups {
		running := "none"
		if g.Queue.Active != "" {
			if d, err := h.server.GetDeployment(ctx, g.Queue.Active); err == nil {
				running = h.link(d) + " " + d.Status
			}
		}
		last := "none"
		if g.LastSuccessfulDeployment != "" {
			last = h.linkID(g.LastSuccessfulDeployment)
		}
		rev := "none"
		if g.CurrentRevision != "" {
			rev = "`" + short(g.CurrentRevision) + "`"
		}
		fmt.Fprintf(&b, "| %s/%s | %s | %s | %s | %d | %s |\n", g.Application, g.Name, g.Environment, rev, running, len(g.Queue.Waiting), last)
	}
	return b.String(), nil
}

// link is a Markdown link to a deployment's page.
func (h *handlers) link(d api.Deployment) string { return h.linkID(d.ID) }

func (h *handlers) linkID(id string) string {
	if h.publicURL == "" {
		return "`" + id + "`"
	}
	return "[" + id + "](" + deploymentURL(h.publicURL, id) + ")"
}

// deploymentURL is the address of a deployment's page on this server.
func deploymentURL(publicURL, id string) string {
	return strings.TrimRight(publicURL, "/") + "/deployments/" + id
}
