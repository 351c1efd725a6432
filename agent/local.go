package main

import (
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/slipway-deploy/slipway/internal/appspec"
	"github.com/slipway-deploy/slipway/internal/lifecycle"
	"github.com/slipway-deploy/slipway/internal/script"
)

const localUsage = `usage: slipway-agent local --bundle DIR|ARCHIVE --root DIR [flags]

Runs a revision's whole lifecycle on this machine, with no server, exactly as a deployment would.

flags:
`

func runLocal(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("local", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, localUsage); fs.PrintDefaults() }
	var (
		bundlePath   = fs.String("bundle", "", "the revision: a directory or a zip, tar or tgz `file` with appspec.yml at its root")
		root         = fs.String("root", "", "the deployment root `dir`ectory (created if missing)")
		application  = fs.String("application", "local", "application `name`, given to hooks as APPLICATION_NAME")
		group        = fs.String("group", "LocalFleet", "deployment group `name`; runs with the same application and group follow each other")
		deploymentID = fs.String("deployment-id", "", "deployment `id` (default: a new d-XXXXXXXXX-local)")
		fileExists   = fs.String("file-exists-behavior", "", "DISALLOW, OVERWRITE or RETAIN when a target file exists (the appspec's value wins)")
		events       = fs.String("events", "", "comma-separated `events` to run, in order, custom events included (an appspec hook not named here fails DownloadBundle); DownloadBundle and Install are added when missing (default: "+strings.Join(lifecycle.DefaultLocalEvents, ",")+")")
		keep         = fs.Int("keep-revisions", lifecycle.DefaultKeepRevisions, "revisions of the group kept on disk")
		prefix       = fs.String("install-prefix", "", "root every files destination under this `dir`ectory (several agents on one machine); hooks see SLIPWAY_INSTALL_PREFIX")
	)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return exitError{2}
	}
	usageErr := func(format string, a ...any) error {
		fmt.Fprintf(stderr, "slipway-agent local: "+format+"\n", a...)
		fs.Usage()
		return exitError{2}
	}
	if fs.NArg() > 0 {
		return usageErr("unexpected argument %q", fs.Arg(0))
	}
	if *bundlePath == "" || *root == "" {
		return usageErr("--bundle and --root are required")
	}
	d := lifecycle.Deployment{
		ID:              *deploymentID,
		ApplicationName: *application,
		GroupName:       *group,
		GroupID:         groupID(*application, *group),
	}
	if d.ID == "" {
		d.ID = newDeploymentID()
	}
	if *fileExists != "" {
		b, err := appspec.ParseFileExistsBehavior(*fileExists)
		if err != nil {
			return usageErr("--file-exists-behavior: %v", err)
		}
		d.FileExists = b
	}
	list := lifecycle.DefaultLocalEvents
	if *events != "" {
		given := strings.Split(*events, ",")
		for i := range given {
			given[i] = strings.TrimSpace(given[i])
		}
		list = lifecycle.WithRequiredEvents(given)
		if err := lifecycle.CheckEventOrder(list); err != nil {
			if len(list) != len(given) {
				return usageErr("--events (DownloadBundle and Install always run and were added): %v", err)
			}
			return usageErr("--events: %v", err)
		}
		for _, e := range list {
			if slices.Contains(appspec.ReservedEvents, e) && e != appspec.EventDownloadBundle && e != appspec.EventInstall {
				return usageErr("--events: %s needs a traffic router, which only the server has", e)
			}
			if !slices.Contains(lifecycle.DefaultLocalEvents, e) {
				d.CustomEvents = append(d.CustomEvents, e)
			}
		}
	}
	abs, err := filepath.Abs(*bundlePath)
	if err != nil {
		return err
	}
	d.Bundle = abs
	rootDir, err := filepath.Abs(*root)
	if err != nil {
		return err
	}

	host := &lifecycle.Host{Root: lifecycle.Root(rootDir), Env: hookEnv(os.Environ()), KeepRevisions: *keep, InstallPrefix: *prefix}
	unlock, err := host.Root.Lock()
	if err != nil {
		return err
	}
	defer func() { _ = unlock() }()
	if err := reportInterrupted(ctx, host, stdout); err != nil {
		return err
	}

	fmt.Fprintf(stdout, "deployment %s of %s/%s (bundle %s)\n", d.ID, d.ApplicationName, d.GroupName, d.Bundle)
	start := time.Now()
	for i, event := range list {
		r := host.Run(ctx, d, event)
		printResult(stdout, r)
		if r.Status == lifecycle.StatusFailed {
			printEventsHint(stdout, list, r.UndeclaredEvents)
			for _, rest := range list[i+1:] {
				fmt.Fprintf(stdout, "  %-20s %s\n", rest, "not run")
			}
			fmt.Fprintf(stdout, "Failed after %s. Script output: %s\n", time.Since(start).Round(time.Millisecond), host.Root.ScriptLog(d.GroupID, d.ID))
			return exitError{1}
		}
	}
	fmt.Fprintf(stdout, "Succeeded in %s. Script output: %s\n", time.Since(start).Round(time.Millisecond), host.Root.ScriptLog(d.GroupID, d.ID))
	return nil
}

// reportInterrupted reports the events a killed agent left unfinished, as the server-driven agent
// reports them to the server: failed, with the reference agent's FailedAfterRestart code. A
// script such an event left running is ended first, so it does not run beside the new hooks.
func reportInterrupted(ctx context.Context, host *lifecycle.Host, w io.Writer) error {
	markers, err := host.Root.Interrupted()
	if err != nil {
		return err
	}
	for _, m := range markers {
		end, err := host.EndInterrupted(ctx, m)
		switch {
		case err != nil:
			fmt.Fprintf(w, "interrupted: %v; it may still be running\n", err)
		case end != script.NotRunning:
			fmt.Fprintf(w, "interrupted: the script of %s of deployment %s was still running (process group %s): %s\n",
				m.Event, m.DeploymentID, m.ProcessGroup(), end)
		}
		fmt.Fprintf(w, "interrupted: %s of deployment %s (started %s) did not finish: Failed (%s)\n",
			m.Event, m.DeploymentID, m.Started.Format(time.RFC3339), script.FailedAfterRestart)
		if err := host.Root.Forget(m); err != nil {
			return err
		}
	}
	return nil
}

// printEventsHint says how to run the custom events an appspec names, as codedeploy-local users
// know it: list them in --events, here after the events of this run.
func printEventsHint(w io.Writer, list, undeclared []string) {
	if len(undeclared) == 0 {
		return
	}
	events := slices.Clone(list)
	for _, e := range undeclared {
		if !slices.Contains(events, e) {
			events = append(events, e)
		}
	}
	what := "is not a lifecycle event; to run it as a custom event, name it in --events where it should run"
	if len(undeclared) > 1 {
		what = "are not lifecycle events; to run them as custom events, name them in --events where they should run"
	}
	fmt.Fprintf(w, "  hint: %s %s, e.g.\n        --events %s\n", strings.Join(undeclared, ", "), what, strings.Join(events, ","))
}

func printResult(w io.Writer, r lifecycle.Result) {
	detail := r.Finished.Sub(r.Started).Round(time.Millisecond).String()
	if r.Message != "" {
		detail = r.Message
	}
	if r.Status == lifecycle.StatusFailed {
		detail = r.Code.String() + ": " + r.Message
	}
	fmt.Fprintf(w, "  %-20s %-10s %s\n", r.Event, r.Status, detail)
	for _, n := range r.Notes {
		fmt.Fprintf(w, "  %-20s %-10s %s\n", "", "", n)
	}
	if r.Status == lifecycle.StatusFailed && r.Tail != "" {
		fmt.Fprintf(w, "    output (last lines):\n")
		for _, line := range strings.Split(strings.TrimRight(r.Tail, "\n"), "\n") {
			fmt.Fprintf(w, "      %s\n", line)
		}
	}
}

// hookEnv is the environment hooks inherit: the agent's own, less its SLIPWAY_* settings, which may
// hold credentials that scripts have no business seeing.
func hookEnv(environ []string) []string {
	out := make([]string, 0, len(environ))
	for _, kv := range environ {
		if !strings.HasPrefix(kv, "SLIPWAY_") {
			out = append(out, kv)
		}
	}
	return out
}

// groupID derives a stable directory name for an application's group, so runs with the same names
// share the previous-revision and cleanup bookkeeping.
func groupID(application, group string) string {
	clean := func(s string) string {
		return strings.Map(func(r rune) rune {
			if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' {
				return r
			}
			return '-'
		}, s)
	}
	return clean(application) + "_" + clean(group)
}

// newDeploymentID makes an id in the shape codedeploy-local uses, d-XXXXXXXXX-local.
func newDeploymentID() string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	b := make([]byte, 9)
	rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return "d-" + string(b) + "-local"
}
