package githubapp

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

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
	// created is when the comment was written: the reply, if posted, is newer.
	created time.Time
	user    string
	cmd     command
}

// recordTimeout bounds the write of a command's outcome, which is made even while the server
// stops: the command has run by then.
const recordTimeout = 5 * time.Second

// issueComment handles /deploy, /rollback, /stop and /status written in a new comment on a pull
// request: 👀 on receipt, then 🚀 and a reply saying what was done, or 👎 and a reply saying why
// not. Only collaborators with write or admin permission may command. Comments on issues, edits,
// deletions and comments that are not commands are ignored.
//
// A command runs once and is answered once, however often its delivery is processed: its outcome
// is recorded, keyed by the comment, before GitHub is told anything, and a delivery processed
// again (after a crash, or a failed reply) answers from the record instead of running the
// command again. The reply carries a hidden marker naming the comment, so a reply that was
// posted but not recorded as posted is found on the pull request rather than posted again.
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
	if ev.GetComment().GetID() <= 0 {
		return "", permanentf("the comment event names no comment id")
	}
	gh, err := h.clients.For(ctx, repo, ev.GetInstallation().GetID())
	if err != nil {
		return "", err
	}
	c := prComment{
		gh: gh, repo: repo, number: ev.GetIssue().GetNumber(), comment: ev.GetComment().GetID(),
		created: ev.GetComment().GetCreatedAt().Time, user: ev.GetComment().GetUser().GetLogin(), cmd: cmd,
	}
	// Reacting twice is harmless (GitHub answers the existing reaction), so a retried delivery
	// may react again.
	if err := h.react(ctx, c, reactionEyes); err != nil {
		return "", err
	}
	rec, err := h.store.GetGitHubCommand(ctx, repo.ID, c.comment)
	handledBefore := err == nil
	if errors.Is(err, store.ErrNotFound) {
		rec, err = h.decide(ctx, c, perr)
	}
	if err != nil {
		return "", err
	}
	return h.answer(ctx, c, rec, handledBefore)
}

// decide runs the command, or finds why it may not run, and records the outcome.
func (h *handlers) decide(ctx context.Context, c prComment, perr error) (store.GitHubCommand, error) {
	out := store.GitHubCommand{RepositoryID: c.repo.ID, CommentID: c.comment}
	if perr != nil {
		out.Refused, out.Reply = true, perr.Error()
		return h.store.RecordGitHubCommand(ctx, out)
	}
	allowed, perm, err := canWrite(ctx, c.gh, c.repo, c.user)
	if err != nil {
		return out, err
	}
	if !allowed {
		out.Refused, out.Reply = true, fmt.Sprintf("@%s needs write access to %s to run Slipway commands (their permission is %s).", c.user, c.repo, perm)
		return h.store.RecordGitHubCommand(ctx, out)
	}
	msg, err := h.runCommand(ctx, c)
	// The command has run (or been refused). From here until the record below is written, a
	// crash would leave nothing saying so, and the delivery, processed again, would run the
	// command again: a second /rollback, or a /stop of whatever runs by then. That window is one
	// store write, made with a context a stopping server does not cancel; closing it would take
	// the command and its record in one transaction of the store. A /deploy is safe even there:
	// it finds the GitHub Deployment, and through it the deployment, it created.
	var refused permanentError
	switch {
	case errors.As(err, &refused):
		out.Refused, out.Reply = true, reason(err)
	case err != nil:
		return out, err
	default:
		out.Reply = msg
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), recordTimeout)
	defer cancel()
	return h.store.RecordGitHubCommand(rctx, out)
}

// answer tells the commenter the recorded outcome: 🚀 or 👎, and the reply unless it is known to
// be posted. A command handled before may have had its reply posted without the record saying
// so: the pull request's comments are searched for it first.
func (h *handlers) answer(ctx context.Context, c prComment, rec store.GitHubCommand, handledBefore bool) (string, error) {
	reaction, outcome, body := reactionRocket, "done: "+c.cmd.Line, rec.Reply
	if rec.Refused {
		reaction, outcome, body = reactionNo, "refused: "+rec.Reply, "👎 "+rec.Reply
	}
	if err := h.react(ctx, c, reaction); err != nil {
		return "", err
	}
	if rec.ReplyComment != 0 {
		return outcome, nil
	}
	var id int64
	var err error
	if handledBefore {
		if id, err = h.findReply(ctx, c); err != nil {
			return "", err
		}
	}
	if id == 0 {
		if id, err = h.reply(ctx, c, body); err != nil {
			return "", err
		}
	}
	if err := h.store.SetGitHubCommandReply(ctx, c.repo.ID, c.comment, id); err != nil {
		return "", err
	}
	return outcome, nil
}

func (h *handlers) react(ctx context.Context, c prComment, content string) error {
	if _, _, err := c.gh.Reactions.CreateIssueCommentReaction(ctx, c.repo.Owner, c.repo.Name, c.comment, content); err != nil {
		return fmt.Errorf("react %s to comment %d: %w", content, c.comment, err)
	}
	return nil
}

// replyMarker is hidden in the reply to a comment (GitHub does not render HTML comments), so
// that the reply can be found again.
func replyMarker(comment int64) string {
	return fmt.Sprintf("<!-- slipway:reply-to:%d -->", comment)
}

// reply posts the answer to a command, quoting it, and returns the reply's id.
func (h *handlers) reply(ctx context.Context, c prComment, msg string) (int64, error) {
	marker := "\n\n" + replyMarker(c.comment)
	body := clip("> "+c.cmd.Line+"\n\n"+msg, maxCheckRunText-len(marker)) + marker
	posted, _, err := c.gh.Issues.CreateComment(ctx, c.repo.Owner, c.repo.Name, c.number, &github.IssueComment{Body: github.String(body)})
	if err != nil {
		return 0, fmt.Errorf("reply on #%d: %w", c.number, err)
	}
	return posted.GetID(), nil
}

// findReply looks among the pull request's comments written since the command for the reply
// carrying its marker; 0 when there is none.
func (h *handlers) findReply(ctx context.Context, c prComment) (int64, error) {
	marker := replyMarker(c.comment)
	opts := &github.IssueListCommentsOptions{ListOptions: github.ListOptions{PerPage: 100}}
	if !c.created.IsZero() {
		opts.Since = &c.created
	}
	for {
		list, resp, err := c.gh.Issues.ListComments(ctx, c.repo.Owner, c.repo.Name, c.number, opts)
		if err != nil {
			return 0, fmt.Errorf("look for the reply on #%d: %w", c.number, err)
		}
		for _, cm := range list {
			if strings.Contains(cm.GetBody(), marker) {
				return cm.GetID(), nil
			}
		}
		if resp.NextPage == 0 {
			return 0, nil
		}
		opts.Page = resp.NextPage
	}
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
		d, err := h.server.RollbackGroup(ctx, g.Application, g.Name, fmt.Sprintf("rollback requested by @%s in #%d", c.user, c.number),
			fmt.Sprintf("github-comment:%d:%d", c.repo.ID, c.comment))
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
	fork := pr.GetHead().GetRepo().GetID() != c.repo.ID
	switch {
	case c.cmd.Commit != "" && !strings.HasPrefix(sha, c.cmd.Commit):
		return "", permanentf("the head of #%d is now `%s`, not `%s`: it changed after the command; review it and comment again",
			c.number, short(sha), c.cmd.Commit)
	case c.cmd.Commit == "" && fork:
		// Whoever controls the fork could push between the comment and its handling, and what
		// runs would be what nobody with write access looked at.
		return "", permanentf("#%d comes from a fork: name the commit you reviewed, `/deploy %s --commit %s`, so that a push after your comment is not what gets deployed",
			c.number, cmp.Or(c.cmd.Group, "GROUP"), short(sha))
	}
	// A fork's branch is not this repository's branch of the same name.
	ref := fmt.Sprintf("refs/pull/%d/head", c.number)
	if !fork {
		ref = "refs/heads/" + pr.GetHead().GetRef()
	}
	if !refAllowed(g, ref) {
		return "", permanentf("group %s/%s deploys only refs matching %s, and this pull request's head is %s", g.Application, g.Name, strings.Join(g.GitHub.AllowedRefs, ", "), ref)
	}
	revision, err := h.revisionFor(ctx, c.gh, c.repo, g.Application, sha, "", false)
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
