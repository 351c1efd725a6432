package githubapp

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/google/go-github/v60/github"
)

// GitHub's limits on what Slipway writes.
const (
	maxDescription     = 140
	maxCheckRunText    = 65535
	maxAnnotations     = 50
	maxActionLabel     = 20
	maxActionDesc      = 40
	maxActionID        = 20
	maxActions         = 3
	maxAnnotationBytes = 64 << 10
)

// clip shortens s to at most n characters, marking the cut.
func clip(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

// tail keeps the last n characters of s, marking the cut: a script's last lines say most.
func tail(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return "…" + string(r[len(r)-n+1:])
}

// short is a commit or digest abbreviated for people.
func short(s string) string {
	if len(s) > 7 {
		return s[:7]
	}
	return s
}

// githubRefusal turns GitHub's 4xx answer to a write into a permanent error quoting GitHub's own
// message verbatim (a 409 for failed required status checks, a 422 for a bad ref), which is what
// the requester needs to see.
func githubRefusal(what string, err error) error {
	var er *github.ErrorResponse
	if errors.As(err, &er) && er.Response != nil && er.Response.StatusCode >= 400 && er.Response.StatusCode < 500 &&
		er.Response.StatusCode != http.StatusTooManyRequests && er.Response.StatusCode != http.StatusForbidden {
		msg := er.Message
		for _, e := range er.Errors {
			if e.Message != "" {
				msg += "; " + e.Message
			}
		}
		return permanentf("%s: GitHub answered %d: %s", what, er.Response.StatusCode, msg)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// ensureDeployment returns the GitHub Deployment of repo at sha in env whose payload has, by
// match, been created for this request, creating it when there is none: a request handled again
// after a crash finds the Deployment it created the first time instead of making another.
func ensureDeployment(ctx context.Context, gh *github.Client, repo Repo, req *github.DeploymentRequest, match func(deploymentPayload) bool) (*github.Deployment, error) {
	opts := &github.DeploymentsListOptions{SHA: req.GetRef(), Environment: req.GetEnvironment(), ListOptions: github.ListOptions{PerPage: 100}}
	list, _, err := gh.Repositories.ListDeployments(ctx, repo.Owner, repo.Name, opts)
	if err != nil {
		return nil, fmt.Errorf("list deployments of %s: %w", repo, err)
	}
	for _, d := range list {
		if match(decodeDeploymentPayload(d.Payload)) {
			return d, nil
		}
	}
	d, _, err := gh.Repositories.CreateDeployment(ctx, repo.Owner, repo.Name, req)
	if err != nil {
		return nil, githubRefusal("create a GitHub Deployment in "+repo.String(), err)
	}
	return d, nil
}

// canWrite reports whether user may deploy from repo: GitHub's collaborator permission is admin
// or write (maintain reads as write). The permission found is returned for the refusal message.
func canWrite(ctx context.Context, gh *github.Client, repo Repo, user string) (bool, string, error) {
	if user == "" {
		return false, "none", nil
	}
	p, resp, err := gh.Repositories.GetPermissionLevel(ctx, repo.Owner, repo.Name, user)
	if err != nil {
		if resp != nil && resp.StatusCode == http.StatusNotFound {
			return false, "none", nil
		}
		return false, "", fmt.Errorf("permission of %s on %s: %w", user, repo, err)
	}
	perm := strings.ToLower(p.GetPermission())
	return perm == "admin" || perm == "write", perm, nil
}
