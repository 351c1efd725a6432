package githubapp

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/go-github/v60/github"

	"github.com/slipway-deploy/slipway/internal/api"
	"github.com/slipway-deploy/slipway/internal/store"
)

// The check run buttons' identifiers (GitHub allows 20 characters).
const (
	actionStop     = "stop"
	actionRollback = "rollback"
)

// checkRun handles a click on one of a Slipway check run's buttons (requested_action): Stop stops
// the deployment; Roll back stops it and rolls back when it is running, or rolls the group back
// to its last good revision when it has finished; a blue/green deployment's Promote, Pause,
// Continue (Move traffic, Release now) and Abort act on it as the CLI's do. The clicker must have write access. Check runs
// that are not Slipway's, and the other check_run actions, are ignored.
func (h *handlers) checkRun(ctx context.Context, dl store.Delivery) (string, error) {
	// Other apps' check runs (and older payloads' time formats) are no concern of Slipway's:
	// only a requested_action is decoded in full.
	if action := peekAction(dl.Payload); action != "requested_action" {
		return "ignored: check_run action " + action, nil
	}
	var ev github.CheckRunEvent
	if err := decode(dl.Payload, &ev); err != nil {
		return "", err
	}
	repo, err := eventRepo(ev.Repo)
	if err != nil {
		return "", err
	}
	run := ev.GetCheckRun()
	link, err := h.store.GitHubDeploymentByCheckRun(ctx, repo.ID, run.GetID())
	if errors.Is(err, store.ErrNotFound) || (err == nil && run.GetExternalID() != link.Deployment) {
		return fmt.Sprintf("ignored: check run %d is not Slipway's", run.GetID()), nil
	}
	if err != nil {
		return "", err
	}
	gh, err := h.clients.For(ctx, repo, ev.GetInstallation().GetID())
	if err != nil {
		return "", err
	}
	user := ev.GetSender().GetLogin()
	allowed, perm, err := canWrite(ctx, gh, repo, user)
	if err != nil {
		return "", err
	}
	if !allowed {
		h.log.Warn("check run action refused", "repository", repo.String(), "user", user, "permission", perm, "deployment_id", link.Deployment)
		return fmt.Sprintf("refused: %s has %s permission, needs write", user, perm), nil
	}
	id := link.Deployment
	msg := fmt.Sprintf("requested by %s from the check run", user)
	switch action := ev.GetRequestedAction().Identifier; action {
	case actionStop:
		if _, err := h.server.StopDeployment(ctx, id, false, "stopped "+msg); err != nil {
			return "", userOr(err)
		}
		h.notify(id)
		return "stopped " + id, nil
	case actionRollback:
		d, err := h.server.GetDeployment(ctx, id)
		if err != nil {
			return "", userOr(err)
		}
		if !finished(d.Status) {
			if _, err := h.server.StopDeployment(ctx, id, true, "stopped and rolled back "+msg); err != nil {
				return "", userOr(err)
			}
			h.notify(id)
			return "stopping " + id + " with a rollback", nil
		}
		if d.RolledBackBy != "" {
			// A second click, or this click handled again: the rollback is under way.
			return "already rolled back with " + d.RolledBackBy, nil
		}
		rb, err := h.server.RollbackGroup(ctx, d.Application, d.Group, "rollback of "+id+" "+msg, "check-run-rollback:"+id)
		if err != nil {
			return "", userOr(err)
		}
		if err := h.noteRollback(ctx, id); err != nil {
			h.log.Warn("record rollback on check run", "deployment_id", id, "error", err)
		}
		return "rolled back with " + rb.ID, nil
	case api.ActionPromote, api.ActionPause, api.ActionContinue, api.ActionAbort:
		if _, err := h.server.ActOnDeployment(ctx, id, action, "aborted "+msg); err != nil {
			return "", userOr(err)
		}
		h.notify(id)
		return action + " " + id, nil
	default:
		return "", permanentf("unknown check run action %q", action)
	}
}

// finished reports whether a deployment status (api form) is final.
func finished(status string) bool {
	return status == "Succeeded" || status == "Failed" || status == "Stopped"
}
