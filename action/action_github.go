package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/go-github/v60/github"

	"github.com/slipway-deploy/slipway/internal/api"
)

// githubRun is what the Action knows of the workflow run, from the runner's environment.
type githubRun struct {
	APIURL       string // GITHUB_API_URL: https://api.github.com, https://HOST/api/v3 on GHES
	ServerURL    string // GITHUB_SERVER_URL
	Repository   string // owner/name
	RepositoryID int64
	SHA          string
	Ref          string
	RunID        string
	Workspace    string
}

const defaultGitHubAPI = "https://api.github.com"

func readGitHubRun(getenv func(string) string) (githubRun, error) {
	r := githubRun{
		APIURL:     getenv("GITHUB_API_URL"),
		ServerURL:  getenv("GITHUB_SERVER_URL"),
		Repository: getenv("GITHUB_REPOSITORY"),
		SHA:        getenv("GITHUB_SHA"),
		Ref:        getenv("GITHUB_REF"),
		RunID:      getenv("GITHUB_RUN_ID"),
		Workspace:  getenv("GITHUB_WORKSPACE"),
	}
	if r.APIURL == "" {
		r.APIURL = defaultGitHubAPI
	}
	var missing []string
	for name, v := range map[string]string{"GITHUB_REPOSITORY": r.Repository, "GITHUB_SHA": r.SHA} {
		if v == "" {
			missing = append(missing, name)
		}
	}
	if id := getenv("GITHUB_REPOSITORY_ID"); id != "" {
		n, err := strconv.ParseInt(id, 10, 64)
		if err != nil || n <= 0 {
			return r, fmt.Errorf("GITHUB_REPOSITORY_ID %q is not a repository id", id)
		}
		r.RepositoryID = n
	} else {
		missing = append(missing, "GITHUB_REPOSITORY_ID")
	}
	if len(missing) > 0 {
		return r, fmt.Errorf("not in a GitHub Actions run: %s not set", strings.Join(missing, ", "))
	}
	return r, nil
}

// githubDeployments creates GitHub Deployments in the run's repository through the REST API at
// run.APIURL (GitHub, GHES, or a test's stand-in: only the base URL differs).
type githubDeployments struct {
	client      *github.Client
	owner, repo string
	run         githubRun
}

// githubTimeout bounds each GitHub API call.
const githubTimeout = 30 * time.Second

func newGitHubDeployments(run githubRun, token string) (*githubDeployments, error) {
	owner, repo, ok := strings.Cut(run.Repository, "/")
	if !ok || owner == "" || repo == "" {
		return nil, fmt.Errorf("GITHUB_REPOSITORY %q is not owner/name", run.Repository)
	}
	base, err := url.Parse(strings.TrimRight(run.APIURL, "/") + "/")
	if err != nil || (base.Scheme != "https" && base.Scheme != "http") {
		return nil, fmt.Errorf("GITHUB_API_URL %q is not an http(s) URL", run.APIURL)
	}
	c := github.NewClient(&http.Client{Timeout: githubTimeout}).WithAuthToken(token)
	c.BaseURL = base
	c.UserAgent = "slipway-action/" + version
	return &githubDeployments{client: c, owner: owner, repo: repo, run: run}, nil
}

// create opens a GitHub Deployment of the run's commit to environment, naming the Slipway
// revision in its payload, and returns its id.
//
// required_contexts is sent empty: left out, GitHub would refuse the deployment until every
// status check of the commit passed, and the job running this Action is itself one of those
// checks, still in progress. Ordering after tests belongs in the workflow (needs:) and in the
// environment's protection rules. auto_merge is off: GitHub would otherwise merge the default
// branch into the ref being deployed.
func (g *githubDeployments) create(ctx context.Context, environment, description string, payload api.GitHubDeploymentPayload) (int64, error) {
	req := &github.DeploymentRequest{
		Ref:              github.String(g.run.SHA),
		Task:             github.String("deploy"),
		AutoMerge:        github.Bool(false),
		RequiredContexts: &[]string{},
		Payload:          map[string]any{"slipway": payload},
		Environment:      github.String(environment),
		Description:      github.String(truncate(description, maxGitHubDescription)),
	}
	d, resp, err := g.client.Repositories.CreateDeployment(ctx, g.owner, g.repo, req)
	if err != nil {
		return 0, githubError("create the GitHub Deployment", resp, err)
	}
	if d.GetID() <= 0 {
		return 0, errors.New("GitHub created a deployment without an id")
	}
	return d.GetID(), nil
}

// fail sets a Deployment's state to error when Slipway refused to run it: nobody else would,
// and it would stay pending in the environment's history.
func (g *githubDeployments) fail(ctx context.Context, id int64, description string) error {
	_, resp, err := g.client.Repositories.CreateDeploymentStatus(ctx, g.owner, g.repo, id, &github.DeploymentStatusRequest{
		State:       github.String("error"),
		Description: github.String(truncate(description, maxGitHubDescription)),
	})
	if err != nil {
		return githubError("set the GitHub Deployment's status", resp, err)
	}
	return nil
}

// maxGitHubDescription is GitHub's limit on a deployment status description.
const maxGitHubDescription = 140

// githubError shows GitHub's answer verbatim: its status and its body, which says what is
// wrong (failed required contexts, an unknown ref, a protected environment...).
func githubError(what string, resp *github.Response, err error) error {
	var accepted *github.AcceptedError
	if errors.As(err, &accepted) {
		return fmt.Errorf("%s: GitHub answered 202 Accepted and created nothing: %s", what, accepted.Raw)
	}
	if resp == nil || resp.Response == nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	msg := fmt.Sprintf("%s: GitHub answered %s", what, resp.Status)
	var er *github.ErrorResponse
	if errors.As(err, &er) && er.Message != "" {
		msg += ": " + er.Message
	}
	if b := strings.TrimSpace(string(body)); b != "" {
		msg += "\nGitHub's answer: " + b
	}
	if resp.StatusCode == http.StatusForbidden || resp.StatusCode == http.StatusNotFound {
		msg += "\n(the job needs `permissions: deployments: write`, and github-token must be allowed to use it)"
	}
	return errors.New(msg)
}

// truncate cuts s to at most n bytes on a rune boundary, marking the cut.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n - len("…")
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
