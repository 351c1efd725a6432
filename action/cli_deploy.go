package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/slipway-deploy/slipway/internal/api"
	"github.com/slipway-deploy/slipway/internal/appspec"
	"github.com/slipway-deploy/slipway/internal/bundle"
)

const deployUsage = `usage: slipway deploy --app A --group G (--bundle DIR|ARCHIVE | --s3 s3://BUCKET/KEY[?versionId=V] | --revision DIGEST)
       [--config NAME] [--description D] [--file-exists-behavior DISALLOW|OVERWRITE|RETAIN]
       [--update-outdated-only] [--commit SHA] [--wait [--timeout DURATION]] [--json]

Uploads a revision, or registers one kept in S3, and deploys it to a deployment group, then
prints the deployment id.

A DIR is checked first (its appspec must be valid; warnings are printed) and bundled as a
deterministic tgz without any .git. An ARCHIVE (zip, tar or tgz, recognised by its content) is
uploaded as it is; its appspec is checked by the agents, not here.

With --s3 nothing is uploaded: the server reads the object once (it needs s3:GetObject on it),
checks it is a bundle with a valid appspec, pins its version and ETag, and agents download it
from the bucket; hooks see BUNDLE_BUCKET, BUNDLE_KEY, BUNDLE_VERSION and BUNDLE_ETAG.

With --wait, slipway follows the deployment, printing each host's lifecycle events on stderr
as they change, and exits 0 only when it Succeeded (1 if it Failed, was Stopped, or --timeout
passed).
With --json, the deployment is printed as JSON instead of its id (after waiting, with --wait).
`

func (c *cli) deploy(ctx context.Context, args []string) error {
	cmd := c.command("deploy", deployUsage)
	app := cmd.fs.String("app", "", "application `NAME` (required)")
	group := cmd.fs.String("group", "", "deployment group `NAME` (required)")
	bundlePath := cmd.fs.String("bundle", "", "bundle `DIR or ARCHIVE` (zip, tar or tgz) to upload")
	s3URL := cmd.fs.String("s3", "", "bundle kept in S3: s3://`BUCKET/KEY[?versionId=V]`")
	revision := cmd.fs.String("revision", "", "redeploy a revision the server already holds, by its sha256 `DIGEST`")
	config := cmd.fs.String("config", "", "deployment config `NAME`, instead of the group's")
	description := cmd.fs.String("description", "", "description of the deployment")
	fileExists := cmd.fs.String("file-exists-behavior", "", "when a target file exists and the appspec does not say: DISALLOW (default), OVERWRITE or RETAIN")
	outdatedOnly := cmd.fs.Bool("update-outdated-only", false, "skip instances already on this revision")
	commit := cmd.fs.String("commit", "", "full Git commit `SHA` the bundle was built from; hooks see it as BUNDLE_COMMIT")
	wf := cmd.waitFlags()
	if _, err := cmd.args(args); err != nil {
		return flagsDone(err)
	}
	if err := cmd.require("app", "group"); err != nil {
		return err
	}
	sources := 0
	for _, v := range []string{*bundlePath, *s3URL, *revision} {
		if v != "" {
			sources++
		}
	}
	if sources != 1 {
		return usageError{"deploy: give one of --bundle, --s3 or --revision"}
	}
	if *commit != "" && *bundlePath == "" {
		return usageError{"deploy: --commit goes with --bundle; a revision in S3 is named by its bucket, key and version"}
	}
	var loc *api.S3Location
	if *s3URL != "" {
		l, err := parseS3URL(*s3URL)
		if err != nil {
			return usageError{"deploy: --s3: " + err.Error()}
		}
		loc = &l
	}
	if *fileExists != "" {
		if _, err := appspec.ParseFileExistsBehavior(*fileExists); err != nil {
			return usageError{"deploy: --file-exists-behavior: " + err.Error()}
		}
	}
	if err := wf.check(cmd); err != nil {
		return err
	}
	// What can be checked here first, so a mistake in the bundle shows without a server; then the
	// group, so a mistyped group name costs no upload.
	dirBundle := false
	if *bundlePath != "" {
		var err error
		if dirBundle, err = checkBundle(*bundlePath, func(d appspec.Diagnostic) { fmt.Fprintln(c.stderr, d) }); err != nil {
			return err
		}
	}
	client, err := cmd.client()
	if err != nil {
		return err
	}
	g, err := checkGroup(ctx, client, *app, *group)
	if err != nil {
		return err
	}
	var rev api.Revision
	switch {
	case *revision != "":
		rev.Digest = strings.TrimPrefix(*revision, "sha256:")
	case loc != nil:
		rev, err = client.RegisterRevision(ctx, *app, api.RegisterRevision{S3: loc})
		if err != nil {
			return serverError(err)
		}
		fmt.Fprintf(c.stderr, "registered revision %s (%s, %d bytes) from %s\n", rev.Digest, orDash(rev.Format), rev.Size, *s3URL)
	default:
		file, cleanup, err := buildBundle(ctx, *bundlePath, dirBundle)
		if err != nil {
			return err
		}
		defer cleanup()
		// The group says whether its bundles go through the server or straight to S3.
		if rev, err = c.upload(ctx, client, *app, *group, g.Upload == api.UploadDirect, file, api.RevisionOrigin{Commit: *commit}); err != nil {
			return err
		}
	}
	d, err := client.CreateDeployment(ctx, api.CreateDeployment{
		Application:                 *app,
		Group:                       *group,
		Revision:                    rev.Digest,
		DeploymentConfig:            *config,
		Description:                 *description,
		FileExistsBehavior:          *fileExists,
		UpdateOutdatedInstancesOnly: *outdatedOnly,
	})
	if err != nil {
		return serverError(err)
	}
	return c.follow(ctx, client, d, wf)
}

const rollbackUsage = `usage: slipway rollback --app A --group G [--wait [--timeout DURATION]] [--json]

Undoes the group's latest release and prints the new deployment's id: after a failed or stopped
deployment it redeploys the group's last good revision; after a successful one, the revision
that was good before it (see 'slipway deploy -h' for --wait and --json, and --revision there
to redeploy any earlier revision).
`

func (c *cli) rollback(ctx context.Context, args []string) error {
	cmd := c.command("rollback", rollbackUsage)
	app := cmd.fs.String("app", "", "application `NAME` (required)")
	group := cmd.fs.String("group", "", "deployment group `NAME` (required)")
	wf := cmd.waitFlags()
	if _, err := cmd.args(args); err != nil {
		return flagsDone(err)
	}
	if err := cmd.require("app", "group"); err != nil {
		return err
	}
	if err := wf.check(cmd); err != nil {
		return err
	}
	client, err := cmd.client()
	if err != nil {
		return err
	}
	if _, err := checkGroup(ctx, client, *app, *group); err != nil {
		return err
	}
	d, err := client.Rollback(ctx, *app, *group)
	if err != nil {
		return serverError(err)
	}
	return c.follow(ctx, client, d, wf)
}

// waitFlags are the flags of the commands that start a deployment.
type waitFlags struct {
	wait    *bool
	timeout *time.Duration
	json    *bool
}

func (c *command) waitFlags() waitFlags {
	return waitFlags{
		wait:    c.fs.Bool("wait", false, "follow the deployment until it ends; exit 0 only if it Succeeded"),
		timeout: c.fs.Duration("timeout", 0, "with --wait, give up waiting after this `DURATION` (the deployment goes on)"),
		json:    c.fs.Bool("json", false, "print the deployment as JSON instead of its id"),
	}
}

func (w waitFlags) check(c *command) error {
	if *w.timeout < 0 || (*w.timeout > 0 && !*w.wait) {
		return usageError{fmt.Sprintf("%s: --timeout needs --wait and a positive duration", c.fs.Name())}
	}
	return nil
}

// checkGroup returns deployment group app/group, and when it does not exist, says how to
// create it (or the application) and which groups the application has.
func checkGroup(ctx context.Context, client *api.Client, app, group string) (api.DeploymentGroup, error) {
	g, err := client.GetGroup(ctx, app, group)
	if api.StatusOf(err) != http.StatusNotFound {
		if err != nil {
			return g, serverError(err)
		}
		return g, nil
	}
	a, err := client.GetApplication(ctx, app)
	if api.StatusOf(err) == http.StatusNotFound {
		return api.DeploymentGroup{}, fmt.Errorf("no application %s: create it with 'slipway app create %s', then its deployment group with 'slipway group create %s %s --tag K=V'",
			app, app, app, group)
	}
	if err != nil {
		return api.DeploymentGroup{}, serverError(err)
	}
	create := fmt.Sprintf("'slipway group create %s %s --tag K=V'", app, group)
	if a.ComputePlatform != "" && a.ComputePlatform != appspec.PlatformServer.String() {
		create = fmt.Sprintf("'slipway group create %s %s' and the flags of a %s group (see 'slipway group create -h')", app, group, a.ComputePlatform)
	}
	msg := fmt.Sprintf("no deployment group %s/%s: create it with %s", app, group, create)
	if groups, err := client.ListGroups(ctx, app); err == nil && len(groups) > 0 {
		names := make([]string, len(groups))
		for i, other := range groups {
			names[i] = other.Name
		}
		msg += fmt.Sprintf(", or deploy to a group %s has: %s", app, strings.Join(names, ", "))
	}
	return api.DeploymentGroup{}, errors.New(msg)
}

// sayQueued tells the user, on stderr, what a queued deployment waits for.
func (c *cli) sayQueued(ctx context.Context, client *api.Client, d api.Deployment) {
	if d.Status != statusQueued {
		return
	}
	g, err := client.GetGroup(ctx, d.Application, d.Group)
	switch {
	case err != nil || g.ActiveDeployment == "":
		fmt.Fprintf(c.stderr, "deployment %s is queued: another deployment runs in %s/%s; it starts when that one ends\n", d.ID, d.Application, d.Group)
		return
	case g.ActiveDeployment == d.ID:
		return // it has started since
	}
	msg := fmt.Sprintf("deployment %s is queued behind %s, which runs in %s/%s", d.ID, g.ActiveDeployment, d.Application, d.Group)
	if i := slices.Index(g.QueuedDeployments, d.ID); i > 0 {
		msg += fmt.Sprintf(", and %s, queued before it; it starts when they have run", strings.Join(g.QueuedDeployments[:i], ", "))
	} else {
		msg += fmt.Sprintf("; it starts when %s ends", g.ActiveDeployment)
	}
	fmt.Fprintf(c.stderr, "%s (see 'slipway deployment get %s')\n", msg, g.ActiveDeployment)
}

// follow prints a new deployment and, with --wait, follows it to its end.
func (c *cli) follow(ctx context.Context, client *api.Client, d api.Deployment, w waitFlags) error {
	c.sayQueued(ctx, client, d)
	if !*w.wait {
		if *w.json {
			return writeIndentedJSON(c.stdout, d)
		}
		fmt.Fprintln(c.stdout, d.ID)
		return nil
	}
	if !*w.json {
		// At once, so `id=$(slipway deploy --wait ...)` has it even when the wait fails.
		fmt.Fprintln(c.stdout, d.ID)
	}
	return c.wait(ctx, client, d.ID, *w.timeout, *w.json)
}

// wait follows deployment id to its end, printing progress to stderr; exit 1 unless it Succeeded.
func (c *cli) wait(ctx context.Context, client *api.Client, id string, timeout time.Duration, asJSON bool) error {
	waitCtx := ctx
	if timeout > 0 {
		var cancel context.CancelFunc
		waitCtx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	final, err := waitDeployment(waitCtx, client, id, newWaitProgress(c.stderr).update, c.stderr)
	if err != nil {
		switch {
		case ctx.Err() != nil:
			return fmt.Errorf("interrupted; deployment %s continues on the server (stop it with 'slipway deployment stop %s')", id, id)
		case waitCtx.Err() != nil:
			return fmt.Errorf("timed out after %v waiting for deployment %s (last seen %s); it continues on the server", timeout, id, orDash(final.Status))
		}
		return serverError(err)
	}
	fmt.Fprintln(c.stderr, waitSummary(final))
	if final.RolledBackBy != "" {
		fmt.Fprintf(c.stderr, "rollback started: deployment %s (follow it with 'slipway deployment wait %s')\n", final.RolledBackBy, final.RolledBackBy)
	}
	if asJSON {
		if err := writeIndentedJSON(c.stdout, final); err != nil {
			return err
		}
	}
	if final.Status != statusSucceeded {
		return exitError{1}
	}
	return nil
}

// waitSummary is the last line of a wait: the outcome and the instance counts.
func waitSummary(d api.Deployment) string {
	s := fmt.Sprintf("deployment %s %s", d.ID, d.Status)
	if msg := deploymentError(d); msg != "" {
		s += ": " + msg
	}
	if d.Overview != (api.Overview{}) {
		s += " (" + formatOverview(d.Overview) + ")"
	}
	return s
}

func deploymentError(d api.Deployment) string {
	switch {
	case d.ErrorCode != "" && d.ErrorMessage != "":
		return d.ErrorCode + ": " + d.ErrorMessage
	case d.ErrorCode != "":
		return d.ErrorCode
	}
	return d.ErrorMessage
}

// prepareBundle returns the file to upload: the archive given, or a tgz built from a directory
// after its appspec passed validation, each finding passed to report. cleanup removes what was
// built.
func (c *cli) prepareBundle(ctx context.Context, p string, report func(appspec.Diagnostic)) (file string, cleanup func(), err error) {
	dir, err := checkBundle(p, report)
	if err != nil {
		return "", func() {}, err
	}
	return buildBundle(ctx, p, dir)
}

// checkBundle checks what can be checked of a bundle without a server: that an archive is one,
// and that a directory's appspec is valid (each finding passed to report). dir says which it is.
func checkBundle(p string, report func(appspec.Diagnostic)) (dir bool, err error) {
	fi, err := os.Stat(p)
	if err != nil {
		return false, fmt.Errorf("bundle: %w", err)
	}
	if !fi.IsDir() {
		format, err := detectArchive(p)
		if err != nil {
			return false, err
		}
		if format == bundle.FormatUnknown {
			return false, fmt.Errorf("bundle %s: not a directory, nor a zip, tar or tgz archive", p)
		}
		return false, nil
	}
	_, diags, err := appspec.Load(p, appspec.Options{})
	for _, d := range diags {
		report(d)
	}
	if err != nil {
		if errors.Is(err, appspec.ErrInvalid) {
			// The diagnostics above say what is wrong.
			return true, exitError{1}
		}
		return true, fmt.Errorf("bundle: %w", err)
	}
	return true, nil
}

// buildBundle returns the file to upload for a checked bundle: an archive as it is, a directory
// as a tgz that cleanup removes.
func buildBundle(ctx context.Context, p string, dir bool) (file string, cleanup func(), err error) {
	noop := func() {}
	if !dir {
		return p, noop, nil
	}
	tmp, err := os.CreateTemp("", "slipway-bundle-*.tgz")
	if err != nil {
		return "", noop, fmt.Errorf("bundle: %w", err)
	}
	cleanup = func() { _ = os.Remove(tmp.Name()) }
	_, err = bundle.Build(ctx, tmp, p, bundle.FormatTgz, bundle.BuildOptions{Exclude: excludeFromBundle})
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		cleanup()
		return "", noop, fmt.Errorf("bundle: %w", err)
	}
	return tmp.Name(), cleanup, nil
}

// excludeFromBundle leaves version-control data out of a revision built from a work tree.
func excludeFromBundle(rel string) bool {
	return path.Base(rel) == ".git"
}

func detectArchive(p string) (bundle.Format, error) {
	f, err := os.Open(p)
	if err != nil {
		return bundle.FormatUnknown, fmt.Errorf("bundle: %w", err)
	}
	defer func() { _ = f.Close() }() // read only: nothing to lose
	head := make([]byte, 512)
	n, err := io.ReadFull(f, head)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return bundle.FormatUnknown, fmt.Errorf("bundle: %w", err)
	}
	return bundle.Detect(head[:n]), nil
}

// parseS3URL reads s3://BUCKET/KEY[?versionId=V], the form the AWS CLI uses: the key is taken as
// written, not URL-decoded.
func parseS3URL(s string) (api.S3Location, error) {
	rest, ok := strings.CutPrefix(s, "s3://")
	bucket, key, _ := strings.Cut(rest, "/")
	var version string
	if i := strings.LastIndex(key, "?versionId="); i >= 0 {
		key, version = key[:i], key[i+len("?versionId="):]
	}
	if !ok || bucket == "" || key == "" || (version == "" && strings.HasSuffix(s, "?versionId=")) {
		return api.S3Location{}, fmt.Errorf("%q: give s3://BUCKET/KEY, optionally with ?versionId=V", s)
	}
	return api.S3Location{Bucket: bucket, Key: key, Version: version}, nil
}

// upload sends the bundle with its digest, so the server (or S3) refuses it if it arrives
// altered: through the server, or, when direct (the group's upload is direct), straight to the
// server's S3 bundle bucket through an upload slot of the group.
func (c *cli) upload(ctx context.Context, client *api.Client, app, group string, direct bool, file string, origin api.RevisionOrigin) (api.Revision, error) {
	digest, err := bundle.DigestFile(file)
	if err != nil {
		return api.Revision{}, fmt.Errorf("bundle: %w", err)
	}
	f, err := os.Open(file)
	if err != nil {
		return api.Revision{}, fmt.Errorf("bundle: %w", err)
	}
	defer func() { _ = f.Close() }() // read only: nothing to lose
	fi, err := f.Stat()
	if err != nil {
		return api.Revision{}, fmt.Errorf("bundle: %w", err)
	}
	var rev api.Revision
	to := ""
	if direct {
		rev, err = client.UploadRevisionDirect(ctx, app, group, f, fi.Size(), digest, origin)
		to = " straight to S3"
	} else {
		rev, err = client.UploadRevisionFrom(ctx, app, f, fi.Size(), digest, origin)
	}
	if err != nil {
		return api.Revision{}, serverError(err)
	}
	if rev.Digest == "" {
		rev.Digest = digest
	}
	fmt.Fprintf(c.stderr, "uploaded revision %s (%s, %d bytes)%s\n", rev.Digest, orDash(rev.Format), fi.Size(), to)
	return rev, nil
}
