package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/sethvargo/go-githubactions"

	"github.com/slipway-deploy/slipway/internal/api"
	"github.com/slipway-deploy/slipway/internal/appspec"
	"github.com/slipway-deploy/slipway/internal/deploy"
)

// `slipway action` is the GitHub Action: action.yml runs it with the inputs in INPUT_*
// variables. It validates the appspec, bundles, uploads, opens a GitHub Deployment, creates the
// Slipway deployment tied to it, and follows it, reporting through the runner's files and
// workflow commands (go-githubactions). docs/action.md is the user's side of this.

const actionUsage = `usage: slipway action

Runs as the Slipway GitHub Action: reads its inputs from the INPUT_* variables the runner sets,
and writes outputs, annotations and the job summary through the runner's files.
See docs/action.md.
`

func runAction(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) > 0 {
		if args[0] == "-h" || args[0] == "--help" {
			fmt.Fprint(stdout, actionUsage)
			return nil
		}
		return usageError{"action takes no arguments: it reads the INPUT_* variables; run 'slipway action -h'"}
	}
	gh := githubactions.New(githubactions.WithGetenv(getenv), githubactions.WithWriter(stdout))
	a := &actionRun{gh: gh, getenv: getenv, out: stdout, cli: &cli{getenv: getenv, stdout: stdout, stderr: stdout}}
	err := a.run(ctx)
	if err == nil {
		return nil
	}
	var ee exitError
	if !errors.As(err, &ee) {
		gh.Errorf("%s", err)
	}
	return exitError{1}
}

// actionRun is one run of the Action.
type actionRun struct {
	gh     *githubactions.Action
	getenv func(string) string
	out    io.Writer
	cli    *cli
}

func (a *actionRun) run(ctx context.Context) error {
	cfg, err := readActionConfig(a.gh.GetInput)
	if err != nil {
		return err
	}
	run, err := readGitHubRun(a.getenv)
	if err != nil {
		return err
	}
	client, err := a.serverClient(ctx, cfg)
	if err != nil {
		return err
	}

	// The group first: it checks the credential and the workflow's rights before any upload,
	// and names the GitHub environment.
	group, err := client.GetGroup(ctx, cfg.Application, cfg.DeploymentGroup)
	if err != nil {
		return a.serverError(cfg, fmt.Sprintf("deployment group %s/%s", cfg.Application, cfg.DeploymentGroup), err)
	}
	environment := group.Environment
	if environment == "" {
		environment = group.Name
		a.gh.Noticef("group %s has no GitHub environment; the GitHub Deployment uses environment %q", group.Name, environment)
	}

	file, cleanup, err := a.cli.prepareBundle(ctx, cfg.Path, a.appspecFinding(run))
	if err != nil {
		return err
	}
	defer cleanup()
	// The server names hook scripts in check run annotations by the same paths as this run's
	// annotations: their location in the bundle under its directory in the repository.
	dir := bundleDirectory(run.Workspace, cfg.Path)
	rev, err := a.cli.upload(ctx, client, cfg.Application, cfg.DeploymentGroup, group.Upload == api.UploadDirect, file, api.RevisionOrigin{Commit: run.SHA, Directory: dir})
	if err != nil {
		return a.serverError(cfg, "upload", err)
	}

	var ghd *api.GitHubDeployment
	var deployments *githubDeployments
	if cfg.GitHubToken == "" {
		a.gh.Warningf("input %s is empty: no GitHub Deployment is created", inGitHubToken)
	} else {
		deployments, err = newGitHubDeployments(run, cfg.GitHubToken)
		if err != nil {
			return err
		}
		id, err := deployments.create(ctx, environment, describe(cfg, run), api.GitHubDeploymentPayload{
			Application: cfg.Application, Group: cfg.DeploymentGroup, Revision: rev.Digest,
			DeploymentConfig: cfg.DeploymentConfig, FileExistsBehavior: cfg.FileExistsBehavior,
		})
		if err != nil {
			return err
		}
		a.gh.SetOutput(outGitHubDeploymentID, strconv.FormatInt(id, 10))
		fmt.Fprintf(a.out, "GitHub Deployment %d created (environment %s)\n", id, environment)
		ghd = &api.GitHubDeployment{Repository: run.Repository, RepositoryID: run.RepositoryID, DeploymentID: id,
			SHA: run.SHA, Ref: run.Ref, Environment: environment}
	}

	d, err := client.CreateDeployment(ctx, api.CreateDeployment{
		Application: cfg.Application, Group: cfg.DeploymentGroup, Revision: rev.Digest,
		DeploymentConfig: cfg.DeploymentConfig, Description: describe(cfg, run),
		FileExistsBehavior: cfg.FileExistsBehavior, GitHub: ghd,
	})
	if err != nil {
		err = a.serverError(cfg, "create the deployment", err)
		var ae *api.Error
		switch {
		case ghd == nil:
		case errors.As(err, &ae) && ae.RefusalReported:
			// The server's deployment webhook refused this Deployment first and reported it.
			fmt.Fprintf(a.out, "Slipway reported the refusal on GitHub Deployment %d already\n", ghd.DeploymentID)
		default:
			if ferr := deployments.fail(ctx, ghd.DeploymentID, "Slipway refused the deployment: "+err.Error()); ferr != nil {
				a.gh.Warningf("%s", ferr)
			}
		}
		return err
	}
	if err := a.setDeploymentOutputs(cfg, d); err != nil {
		return err
	}
	logURL := deploymentURL(cfg.ServerURL, d.ID)
	fmt.Fprintf(a.out, "Slipway deployment %s created: %s\n", d.ID, logURL)
	if !cfg.Wait {
		a.gh.AddStepSummary(summary(d, cfg.Application, cfg.DeploymentGroup, logURL))
		return nil
	}
	return a.wait(ctx, cfg, client, d, dir)
}

// serverError explains the server's refusals a user can fix on their side.
func (a *actionRun) serverError(cfg actionConfig, what string, err error) error {
	hint := ""
	switch api.StatusOf(err) {
	case 401:
		if cfg.Auth == authOIDC {
			hint = " (the server refused the workflow's OIDC token: is its public_url exactly " + cfg.ServerURL + "?)"
		} else {
			hint = " (check the api-token input)"
		}
	case 403:
		hint = " (see the group's GitHub link: repository, allowed refs, environment)"
	}
	return fmt.Errorf("%s: %w%s", what, err, hint)
}

// appspecFinding turns appspec diagnostics into annotations on the appspec file.
func (a *actionRun) appspecFinding(run githubRun) func(appspec.Diagnostic) {
	return func(d appspec.Diagnostic) {
		fields := map[string]string{"file": repoPath(run.Workspace, d.File), "title": "AppSpec " + d.Code}
		if d.Line > 0 {
			fields["line"] = strconv.Itoa(d.Line)
		}
		if d.Column > 0 {
			fields["col"] = strconv.Itoa(d.Column)
		}
		if d.Severity == appspec.SeverityError {
			a.gh.WithFieldsMap(fields).Errorf("%s", d.Message)
		} else {
			a.gh.WithFieldsMap(fields).Warningf("%s", d.Message)
		}
	}
}

// bundleDirectory is the directory p names relative to the workspace (the repository's root),
// slash-separated and "." for the root; "" when p is an archive or lies outside the workspace.
func bundleDirectory(workspace, p string) string {
	if fi, err := os.Stat(p); err != nil || !fi.IsDir() {
		return ""
	}
	rel := repoPath(workspace, p)
	if path.IsAbs(rel) || rel == ".." || strings.HasPrefix(rel, "../") {
		return ""
	}
	return rel
}

// repoPath is p relative to the workspace (the repository's root), as annotations want it.
func repoPath(workspace, p string) string {
	abs, err := filepath.Abs(p)
	if err != nil || workspace == "" {
		return filepath.ToSlash(p)
	}
	rel, err := filepath.Rel(workspace, abs)
	if err != nil || rel == ".." || strings.HasPrefix(rel, "../") {
		return filepath.ToSlash(p)
	}
	return filepath.ToSlash(rel)
}

// describe is the deployment's description: the input, or where it comes from.
func describe(cfg actionConfig, run githubRun) string {
	if cfg.Description != "" {
		return cfg.Description
	}
	return fmt.Sprintf("%s@%s (run %s)", run.Repository, shortDigest(run.SHA), orDash(run.RunID))
}

func deploymentURL(server, id string) string {
	return server + "/deployments/" + url.PathEscape(id)
}

// Outputs are written only from values checked against what they can be: go-githubactions
// writes them with a fixed delimiter, so a value holding it could forge other outputs.
var deploymentIDRE = regexp.MustCompile(`^d-[A-Za-z0-9]{1,64}$`)

func (a *actionRun) setDeploymentOutputs(cfg actionConfig, d api.Deployment) error {
	if !deploymentIDRE.MatchString(d.ID) {
		return fmt.Errorf("the server answered with deployment id %q, which is not one", d.ID)
	}
	a.gh.SetOutput(outDeploymentID, d.ID)
	a.gh.SetOutput(outLogURL, deploymentURL(cfg.ServerURL, d.ID))
	a.setStatus(d.Status)
	return nil
}

func (a *actionRun) setStatus(status string) {
	if _, err := deploy.ParseStatus(status); err == nil {
		a.gh.SetOutput(outStatus, status)
	}
}

// wait follows the deployment to its end, reporting as it goes; an error unless it Succeeded.
// bundleDir is the revision's directory in the repository ("" when unknown).
func (a *actionRun) wait(ctx context.Context, cfg actionConfig, client *api.Client, d api.Deployment, bundleDir string) error {
	waitCtx := ctx
	if cfg.Timeout > 0 {
		var cancel context.CancelFunc
		waitCtx, cancel = context.WithTimeout(ctx, cfg.Timeout)
		defer cancel()
	}
	rep := newReporter(a.gh, a.out, bundleDir)
	rep.update(d)
	final, err := waitDeployment(waitCtx, client, d.ID, rep.update, a.out)
	logURL := deploymentURL(cfg.ServerURL, d.ID)
	if final.ID != "" {
		a.setStatus(final.Status)
		a.gh.AddStepSummary(summary(final, cfg.Application, cfg.DeploymentGroup, logURL))
	}
	if err != nil {
		switch {
		case ctx.Err() != nil:
			return fmt.Errorf("interrupted; deployment %s continues on the server (%s)", d.ID, logURL)
		case waitCtx.Err() != nil:
			return fmt.Errorf("%s: timed out after %s waiting for deployment %s (last seen %s); it continues on the server (%s)",
				inTimeoutMinutes, cfg.Timeout, d.ID, orDash(final.Status), logURL)
		}
		return a.serverError(cfg, "follow the deployment", err)
	}
	rep.annotate(final)
	if final.Status != statusSucceeded {
		if deploymentError(final) == "" {
			a.gh.Errorf("Slipway deployment %s %s (%s)", final.ID, final.Status, formatOverview(final.Overview))
		}
		return exitError{1}
	}
	fmt.Fprintf(a.out, "deployment %s Succeeded (%s) in %s\n", final.ID, formatOverview(final.Overview), elapsed(final))
	return nil
}

func elapsed(d api.Deployment) time.Duration {
	if d.StartTime == nil || d.EndTime == nil {
		return 0
	}
	return d.EndTime.Sub(*d.StartTime).Round(100 * time.Millisecond)
}
