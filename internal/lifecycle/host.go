package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/slipway-deploy/slipway/internal/appspec"
	"github.com/slipway-deploy/slipway/internal/bundle"
	"github.com/slipway-deploy/slipway/internal/install"
	"github.com/slipway-deploy/slipway/internal/script"
)

// Status is the outcome of one lifecycle event on this host, in CodeDeploy's words.
type Status int

const (
	// StatusSucceeded is an event whose scripts all ran and exited 0.
	StatusSucceeded Status = iota + 1
	// StatusFailed is an event that could not run, or a script of which failed; Result says how.
	StatusFailed
	// StatusSkipped is an event with nothing to do: no scripts, or no previous revision.
	StatusSkipped
)

func (s Status) String() string {
	switch s {
	case StatusSucceeded:
		return "Succeeded"
	case StatusFailed:
		return "Failed"
	case StatusSkipped:
		return "Skipped"
	}
	return "Unknown"
}

// Deployment is what a host needs to know about the deployment whose events it runs.
type Deployment struct {
	ID              string
	ApplicationName string
	GroupName       string
	// GroupID names the group's directories under the root; it must be stable across
	// deployments, since it links a deployment to the previous revision's scripts and cleanup list.
	GroupID string
	// Bundle is a local directory or archive file (zip, tar, tgz) holding the revision; only
	// DownloadBundle reads it.
	Bundle string
	// BundleEnv holds the BUNDLE_* variables that say where the revision came from.
	BundleEnv map[string]string
	// FileExists is the deployment's file_exists_behavior option; the appspec's value wins.
	FileExists appspec.FileExistsBehavior
	// CustomEvents are event names beyond the scriptable server events that this deployment may
	// run, as codedeploy-local allows. An appspec hook outside both lists is an error.
	CustomEvents []string
	// Command identifies the server's host command, recorded in the crash marker.
	Command string
}

// Result is the outcome of one lifecycle event.
type Result struct {
	Event  string
	Status Status
	// Code is why a failed event failed, in the reference agent's vocabulary.
	Code script.Code
	// Message says what went wrong and, where it can, what to change.
	Message string
	// Script is the failing hook's location inside the revision, as the appspec gives it.
	Script string
	// Tail is the end of the failing script's output.
	Tail string
	// Notes are things worth showing even on success: appspec warnings, what was extracted.
	Notes []string
	// UndeclaredEvents are the revision's hook events that are neither lifecycle events nor
	// among the deployment's CustomEvents, when they are what failed DownloadBundle: the caller
	// says how to name them (slipway-agent local: --events).
	UndeclaredEvents  []string
	Started, Finished time.Time
}

// Host runs lifecycle events on this machine. The zero value is not usable: Root is required.
type Host struct {
	Root Root
	// Env is the environment every hook starts from, before the lifecycle variables are added.
	// It should not hold the agent's own secrets.
	Env []string
	// KeepRevisions is how many revisions of a group stay on disk; DefaultKeepRevisions when zero.
	KeepRevisions int
	// Limits bound bundle extraction.
	Limits bundle.Limits
	// Installer performs Install; the zero Installer when nil.
	Installer *install.Installer
	// KillGrace, PipeGrace and TailBytes tune the script runner; see script.Runner.
	KillGrace, PipeGrace time.Duration
	TailBytes            int
	// InstallPrefix, when set, roots every files destination and permissions object under this
	// directory, and hooks see it as SLIPWAY_INSTALL_PREFIX. It lets several agents share one
	// machine (demos, tests, containers); CodeDeploy has no such option, so it is off by default.
	InstallPrefix string
	// KeepMarkers leaves an event's crash marker in place after Run returns: the caller removes
	// it with Root.Done once it has durably recorded the result. Without it, an agent killed
	// between the end of Run and saving the result would neither report the event as
	// interrupted nor have a result to send, and the server would ask it to run again.
	KeepMarkers bool
	Logger      *slog.Logger
}

// prefixed returns spec with its destinations and permission objects under h.InstallPrefix.
func (h *Host) prefixed(spec *appspec.Spec) *appspec.Spec {
	if h.InstallPrefix == "" {
		return spec
	}
	out := *spec
	out.Files = slices.Clone(spec.Files)
	for i := range out.Files {
		out.Files[i].Destination = filepath.Join(h.InstallPrefix, out.Files[i].Destination)
	}
	out.Permissions = slices.Clone(spec.Permissions)
	for i := range out.Permissions {
		out.Permissions[i].Object = filepath.Join(h.InstallPrefix, out.Permissions[i].Object)
	}
	return &out
}

// Run runs one lifecycle event of d and reports its outcome. Failures are results, not errors:
// each becomes the event's reported status. A crash marker covers the whole run, so an agent that
// dies inside it reports the event as failed when it comes back (see Interrupted).
func (h *Host) Run(ctx context.Context, d Deployment, event string) Result {
	res := Result{Event: event, Started: time.Now()}
	finish := func(r Result) Result {
		r.Event, r.Started, r.Finished = event, res.Started, time.Now()
		return r
	}
	if err := checkID("deployment group id", d.GroupID); err != nil {
		return finish(failed(script.UnknownError, err.Error()))
	}
	if err := checkID("deployment id", d.ID); err != nil {
		return finish(failed(script.UnknownError, err.Error()))
	}
	marker := Marker{DeploymentID: d.ID, GroupID: d.GroupID, Event: event, Started: res.Started.UTC(), Command: d.Command}
	if err := h.Root.mark(marker); err != nil {
		return finish(failed(script.UnknownError, fmt.Sprintf("record crash marker: %v", err)))
	}
	r := h.dispatch(ctx, d, event, marker)
	if h.KeepMarkers {
		return finish(r)
	}
	if err := h.Root.unmark(d.ID); err != nil && r.Status != StatusFailed {
		r = failed(script.UnknownError, err.Error())
	}
	return finish(r)
}

func (h *Host) dispatch(ctx context.Context, d Deployment, event string, marker Marker) Result {
	switch event {
	case appspec.EventDownloadBundle:
		return h.download(ctx, d)
	case appspec.EventInstall:
		return h.install(ctx, d)
	case appspec.EventBlockTraffic, appspec.EventAllowTraffic:
		// Traffic is moved by the server through its router; there is nothing to do on the host.
		return Result{Status: StatusSkipped, Message: "traffic is handled by the server's router"}
	}
	return h.hooks(ctx, d, event, marker)
}

func failed(code script.Code, msg string) Result {
	return Result{Status: StatusFailed, Code: code, Message: msg}
}

// download places the revision in the deployment's archive directory and checks its appspec, so
// a broken revision fails here, before anything on the host has changed.
func (h *Host) download(ctx context.Context, d Deployment) Result {
	removed, err := h.Root.prune(d.GroupID, d.ID, h.keep())
	if err != nil {
		return failed(script.UnknownError, err.Error())
	}
	var notes []string
	for _, dir := range removed {
		notes = append(notes, "removed old revision "+dir)
	}
	dir := h.Root.DeploymentDir(d.GroupID, d.ID)
	archive := h.Root.ArchiveDir(d.GroupID, d.ID)
	// A DownloadBundle that runs again (a retry after a crash) starts from an empty archive, so
	// no file of the interrupted attempt survives into the install.
	if err := os.RemoveAll(archive); err != nil {
		return failed(script.UnknownError, fmt.Sprintf("clear %s: %v", archive, err))
	}
	if err := os.MkdirAll(archive, 0o755); err != nil { //nolint:gosec // hooks running as their runas user read the archive
		return failed(script.UnknownError, fmt.Sprintf("create %s: %v", dir, err))
	}
	ex, err := h.unpack(ctx, d.Bundle, archive)
	if err != nil {
		return failed(script.UnknownError, err.Error())
	}
	note := fmt.Sprintf("%d entries, %s", ex.Entries, humanBytes(ex.Bytes))
	if ex.Format != bundle.FormatUnknown {
		note += " (" + ex.Format.String() + ")"
	}
	if ex.StrippedDir != "" {
		note += ", leading directory " + ex.StrippedDir + "/ removed"
	}
	notes = append(notes, note)
	_, diags, err := h.loadSpec(archive, d)
	for _, dg := range diags {
		if dg.Severity == appspec.SeverityWarning {
			notes = append(notes, dg.String())
		}
	}
	if err != nil {
		r := failed(script.UnknownError, err.Error())
		// The message holds the first error; the tail adds the others when there are more.
		if errorCount(diags) > 1 {
			r.Tail = diagnosticsText(diags)
		}
		r.Notes = notes
		r.UndeclaredEvents = h.undeclaredEvents(archive, d)
		return r
	}
	return Result{Status: StatusSucceeded, Notes: notes}
}

// undeclaredEvents lists the hook events of the revision in archive that d does not run, when
// naming them as custom events is all its appspec needs; nil otherwise.
func (h *Host) undeclaredEvents(archive string, d Deployment) []string {
	spec, _, err := appspec.Load(archive, appspec.Options{Platform: appspec.PlatformServer, AllowCustomEvents: true})
	if err != nil {
		return nil
	}
	return undeclared(spec, d)
}

// undeclared lists, sorted, the hook events of spec that are neither lifecycle events nor among
// d's custom events. A misspelt lifecycle event is left out: the appspec's error already says
// which event it meant, and suggesting to run the typo as a custom event would mislead.
func undeclared(spec *appspec.Spec, d Deployment) []string {
	var out []string
	for name := range spec.Hooks {
		if !isKnownEvent(name) && !slices.Contains(d.CustomEvents, name) && appspec.Misspelling(name) == "" {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

// unpack copies a directory bundle through the same hardened extractor an archive goes through,
// so a directory gets the same checks (no links out of the tree) without a temporary archive.
func (h *Host) unpack(ctx context.Context, src, dest string) (bundle.Result, error) {
	if src == "" {
		return bundle.Result{}, errors.New("no bundle given")
	}
	fi, err := os.Stat(src)
	if err != nil {
		return bundle.Result{}, fmt.Errorf("bundle: %w", err)
	}
	if !fi.IsDir() {
		r, err := bundle.ExtractFile(ctx, src, dest, h.Limits)
		if err != nil {
			return r, fmt.Errorf("extract bundle %s: %w", src, err)
		}
		return r, nil
	}
	pr, pw := io.Pipe()
	built := make(chan error, 1)
	go func() {
		_, err := bundle.Build(ctx, pw, src, bundle.FormatTar, bundle.BuildOptions{})
		_ = pw.CloseWithError(err) // always nil
		built <- err
	}()
	r, err := bundle.ExtractReader(ctx, pr, dest, h.Limits)
	_ = pr.CloseWithError(errors.New("extraction stopped")) // always nil
	if berr := <-built; berr != nil && err == nil || berr != nil && errors.Is(err, io.ErrClosedPipe) {
		err = berr
	}
	if err != nil {
		return r, fmt.Errorf("copy bundle directory %s: %w", src, err)
	}
	r.Format = bundle.FormatUnknown // a directory, not an archive
	return r, nil
}

func (h *Host) install(ctx context.Context, d Deployment) Result {
	dir := h.Root.DeploymentDir(d.GroupID, d.ID)
	spec, _, err := h.loadSpec(h.Root.ArchiveDir(d.GroupID, d.ID), d)
	if err != nil {
		return failed(script.UnknownError, err.Error())
	}
	// What the previous install wrote is about to be removed: say so, since a user comparing two
	// revisions wants to see which files went and why.
	var notes []string
	prev, err := readPointer(h.Root.mostRecentFile(d.GroupID))
	if err != nil {
		return failed(script.UnknownError, err.Error())
	}
	if n := countLines(h.Root.CleanupFile(d.GroupID)); n > 0 {
		notes = append(notes, fmt.Sprintf("removed what deployment %s installed (%d entries in its cleanup list)", filepath.Base(prev), n))
	}
	if err := writeFileAtomic(h.Root.mostRecentFile(d.GroupID), []byte(dir+"\n")); err != nil {
		return failed(script.UnknownError, err.Error())
	}
	in := h.Installer
	if in == nil {
		in = &install.Installer{Logger: h.Logger}
	}
	err = in.Install(ctx, install.Request{
		Spec:        h.prefixed(spec),
		ArchiveDir:  h.Root.ArchiveDir(d.GroupID, d.ID),
		CleanupFile: h.Root.CleanupFile(d.GroupID),
		InstallFile: h.Root.InstallFile(d.GroupID),
		FileExists:  d.FileExists,
	})
	if err != nil {
		r := failed(script.UnknownError, err.Error())
		r.Notes = notes
		return r
	}
	notes = append(notes, fmt.Sprintf("installed %d entries, listed in %s", countLines(h.Root.CleanupFile(d.GroupID)), h.Root.CleanupFile(d.GroupID)))
	// The last successful install moves here, not at the end of the deployment: from now on the
	// host runs this revision's files, so its ApplicationStop is the one that can stop them.
	if err := writeFileAtomic(h.Root.lastSuccessfulFile(d.GroupID), []byte(dir+"\n")); err != nil {
		return failed(script.UnknownError, err.Error())
	}
	return Result{Status: StatusSucceeded, Notes: notes}
}

// hooks runs the scripts of a hook event, in file order, stopping at the first failure.
func (h *Host) hooks(ctx context.Context, d Deployment, event string, marker Marker) Result {
	archive := h.Root.ArchiveDir(d.GroupID, d.ID)
	if usesPreviousRevision(event) {
		prev, err := readPointer(h.Root.lastSuccessfulFile(d.GroupID))
		if err != nil {
			return failed(script.UnknownError, err.Error())
		}
		if prev == "" {
			return Result{Status: StatusSkipped, Message: "no previous successful install of this group: nothing to stop"}
		}
		archive = filepath.Join(prev, "deployment-archive")
		if _, err := os.Stat(archive); err != nil {
			return Result{Status: StatusSkipped, Message: fmt.Sprintf("the previous revision's files are gone (%s): nothing to run", archive)}
		}
		note := "scripts of deployment " + filepath.Base(prev) + ", the last successful install"
		// That revision's appspec was accepted with that deployment's custom events, which this
		// one need not name: they must not keep its stop script from running.
		spec, err := h.loadPreviousSpec(archive)
		if err != nil {
			return failed(script.UnknownError, err.Error())
		}
		return h.runScripts(ctx, d, event, archive, spec.Hooks[event], marker, []string{note})
	}
	spec, _, err := h.loadSpec(archive, d)
	if err != nil {
		return failed(script.UnknownError, err.Error())
	}
	if !isKnownEvent(event) && !slices.Contains(d.CustomEvents, event) {
		return failed(script.UnknownError, fmt.Sprintf("%s is not a lifecycle event", event))
	}
	scripts := spec.Hooks[event]
	if len(scripts) == 0 && !isKnownEvent(event) {
		return failed(script.UnknownError, fmt.Sprintf("You specified a lifecycle event which is not a default one and doesn't exist in your appspec.yml file: %s", event))
	}
	return h.runScripts(ctx, d, event, archive, scripts, marker, nil)
}

// runScripts runs one event's scripts from archive, in file order, stopping at the first failure.
// Each script's process group goes into the event's crash marker as the script starts.
func (h *Host) runScripts(ctx context.Context, d Deployment, event, archive string, scripts []appspec.Script, marker Marker, notes []string) (res Result) {
	if len(scripts) == 0 {
		return Result{Status: StatusSkipped, Message: "no scripts", Notes: notes}
	}
	logPath := h.Root.ScriptLog(d.GroupID, d.ID)
	// This may create the deployment directory (ApplicationStop runs before DownloadBundle), which
	// hooks running as their runas user go through to reach the archive.
	if err := os.MkdirAll(filepath.Dir(logPath), 0o755); err != nil { //nolint:gosec // see above
		return failed(script.UnknownError, err.Error())
	}
	logFile, err := os.OpenFile(logPath, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644) //nolint:gosec // readable as the reference agent's is: log shippers running as their own user tail it
	if err != nil {
		return failed(script.UnknownError, err.Error())
	}
	defer func() {
		if err := logFile.Close(); err != nil {
			res.Notes = append(res.Notes, fmt.Sprintf("scripts.log is incomplete: %v", err))
		}
	}()
	runner := &script.Runner{Log: logFile, KillGrace: h.KillGrace, PipeGrace: h.PipeGrace, TailBytes: h.TailBytes}
	env := h.environment(d, event)
	started := func(g script.Group) {
		marker.Group = &g
		if err := h.Root.mark(marker); err != nil {
			notes = append(notes, fmt.Sprintf("the crash marker does not name the script's process group %d: %v", g.ID, err))
		}
	}
	for _, sc := range scripts {
		path, err := scriptPath(archive, sc.Location)
		if err != nil {
			r := failed(script.Missing, err.Error())
			r.Script = sc.Location
			return r
		}
		sr := runner.Run(ctx, script.Command{
			Event: event, Path: path, Location: sc.Location, Dir: archive,
			RunAs: sc.RunAs, Timeout: sc.Timeout, Env: env, Started: started,
		})
		if sr.LogErr != nil {
			notes = append(notes, fmt.Sprintf("scripts.log is incomplete: %v", sr.LogErr))
		}
		if sr.Code != script.Succeeded {
			return Result{Status: StatusFailed, Code: sr.Code, Message: sr.Message, Script: sc.Location, Tail: sr.Tail, Notes: notes}
		}
	}
	return Result{Status: StatusSucceeded, Notes: notes}
}

// loadPreviousSpec reads the appspec of the last successfully installed revision, which was
// checked when it was installed; custom events it declared are accepted and simply not run.
func (h *Host) loadPreviousSpec(archive string) (*appspec.Spec, error) {
	spec, _, err := appspec.Load(archive, appspec.Options{Platform: appspec.PlatformServer, AllowCustomEvents: true})
	return spec, err
}

// loadSpec reads a revision's server appspec, allowing exactly the deployment's custom events.
func (h *Host) loadSpec(archive string, d Deployment) (*appspec.Spec, []appspec.Diagnostic, error) {
	spec, diags, err := appspec.Load(archive, appspec.Options{
		Platform:          appspec.PlatformServer,
		AllowCustomEvents: len(d.CustomEvents) > 0,
	})
	if err != nil {
		return nil, diags, err
	}
	if unknown := undeclared(spec, d); len(unknown) > 0 {
		return nil, diags, fmt.Errorf("appspec.yml file contains unknown lifecycle events: %s (not among this deployment's custom events: %s)",
			strings.Join(unknown, ", "), strings.Join(d.CustomEvents, ", "))
	}
	return spec, diags, nil
}

func isKnownEvent(event string) bool { return slices.Contains(appspec.ServerHookEvents, event) }

// scriptPath resolves a hook's location inside the revision and refuses one that leads out of it:
// hooks run as root, so a location like ../../usr/bin/x must not run whatever is there.
func scriptPath(archive, location string) (string, error) {
	rel := filepath.Clean("/" + filepath.FromSlash(location))[1:]
	if rel == "" {
		return "", fmt.Errorf("hook location %q names the bundle root, not a script", location)
	}
	p := filepath.Join(archive, rel)
	resolved, err := filepath.EvalSymlinks(p)
	if err != nil {
		// Missing files are the runner's to report, in the reference agent's words.
		return p, nil
	}
	base, err := filepath.EvalSymlinks(archive)
	if err != nil {
		return "", err
	}
	if r, err := filepath.Rel(base, resolved); err != nil || r == ".." || strings.HasPrefix(r, "../") {
		return "", fmt.Errorf("hook location %q leads out of the revision (to %s)", location, resolved)
	}
	return p, nil
}

// environment is the hook's environment: the host's, then the lifecycle variables CodeDeploy sets.
func (h *Host) environment(d Deployment, event string) []string {
	vars := map[string]string{
		"LIFECYCLE_EVENT":       event,
		"DEPLOYMENT_ID":         d.ID,
		"APPLICATION_NAME":      d.ApplicationName,
		"DEPLOYMENT_GROUP_NAME": d.GroupName,
		"DEPLOYMENT_GROUP_ID":   d.GroupID,
	}
	for k, v := range d.BundleEnv {
		vars[k] = v
	}
	if h.InstallPrefix != "" {
		vars["SLIPWAY_INSTALL_PREFIX"] = h.InstallPrefix
	}
	env := make([]string, 0, len(h.Env)+len(vars))
	for _, kv := range h.Env {
		k, _, _ := strings.Cut(kv, "=")
		if _, override := vars[k]; !override {
			env = append(env, kv)
		}
	}
	keys := make([]string, 0, len(vars))
	for k := range vars {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		env = append(env, k+"="+vars[k])
	}
	return env
}

func (h *Host) keep() int {
	if h.KeepRevisions > 0 {
		return h.KeepRevisions
	}
	return DefaultKeepRevisions
}

func errorCount(diags []appspec.Diagnostic) int {
	n := 0
	for _, d := range diags {
		if d.Severity == appspec.SeverityError {
			n++
		}
	}
	return n
}

func diagnosticsText(diags []appspec.Diagnostic) string {
	var b strings.Builder
	for _, d := range diags {
		if d.Severity == appspec.SeverityError {
			b.WriteString(d.String())
			b.WriteByte('\n')
		}
	}
	return b.String()
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
