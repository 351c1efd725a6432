package main

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/slipway-deploy/slipway/internal/api"
)

const deploymentGetUsage = `usage: slipway deployment get ID [--json]

Shows a deployment: its status, error and instance counts, a table of instances by lifecycle
event, and the diagnostics of every failed event. --json prints it as the server sends it.

Event columns are abbreviated: Stop, Download, Start and Validate are ApplicationStop,
DownloadBundle, ApplicationStart and ValidateService; a leading B or A is Before or After
(BInstall = BeforeInstall, ABlock = AfterBlockTraffic, BAllow = BeforeAllowTraffic). Cells: ok
Succeeded, FAIL Failed, run InProgress, - Pending, skip Skipped, ? Unknown; empty when the
instance has no such event.
`

const deploymentWaitUsage = `usage: slipway deployment wait ID [--timeout DURATION] [--json]

Follows a deployment until it ends, printing each host's lifecycle events to stderr as they
change. Exits 0 only if it Succeeded.
`

func (c *cli) deploymentWait(ctx context.Context, args []string) error {
	cmd := c.command("deployment wait", deploymentWaitUsage)
	timeout := cmd.fs.Duration("timeout", 0, "give up waiting after this `DURATION` (the deployment goes on)")
	asJSON := cmd.fs.Bool("json", false, "print the final deployment as JSON")
	pos, err := cmd.args(args, "ID")
	if err != nil {
		return flagsDone(err)
	}
	if *timeout < 0 {
		return usageError{"deployment wait: --timeout must be positive"}
	}
	client, err := cmd.client()
	if err != nil {
		return err
	}
	return c.wait(ctx, client, pos[0], *timeout, *asJSON)
}

func (c *cli) deploymentGet(ctx context.Context, args []string) error {
	cmd := c.command("deployment get", deploymentGetUsage)
	asJSON := cmd.fs.Bool("json", false, "print JSON")
	pos, err := cmd.args(args, "ID")
	if err != nil {
		return flagsDone(err)
	}
	client, err := cmd.client()
	if err != nil {
		return err
	}
	d, err := client.GetDeployment(ctx, pos[0])
	if err != nil {
		return serverError(err)
	}
	if *asJSON {
		return writeIndentedJSON(c.stdout, d)
	}
	return writeDeployment(c.stdout, d)
}

// writeDeployment is the human view of one deployment.
func writeDeployment(w io.Writer, d api.Deployment) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := func(k, v string) {
		if v != "" {
			fmt.Fprintf(tw, "%s\t%s\n", k, v)
		}
	}
	row("Deployment", d.ID)
	row("Application", d.Application)
	row("Group", d.Group)
	row("Revision", d.Revision)
	row("Config", d.DeploymentConfig)
	row("Creator", d.Creator)
	row("Description", d.Description)
	row("Status", d.Status)
	row("Error", deploymentError(d))
	row("Rollback of", d.RollbackOf)
	row("Rolled back by", d.RolledBackBy)
	row("Type", d.DeploymentType)
	if t := d.Traffic; t != nil {
		row("Traffic", formatTraffic(*t))
		row("Timeline", formatTimeline(t.Timeline))
		if r := t.Release; r != nil {
			row("Release", fmt.Sprintf("%s %s %s", r.Command, r.Status, r.Message))
		}
	}
	row("Created", formatTime(d.CreateTime))
	if d.StartTime != nil {
		row("Started", formatTime(*d.StartTime))
	}
	if d.EndTime != nil {
		row("Ended", formatTime(*d.EndTime))
	}
	row("Instances", formatOverview(d.Overview))
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(d.Instances) == 0 {
		return nil
	}
	fmt.Fprintln(w)
	if err := writeEventTable(w, d.Instances); err != nil {
		return err
	}
	writeFailures(w, d.Instances)
	return nil
}

// formatOverview lists the non-zero instance counts, in the order an instance moves through them.
func formatOverview(o api.Overview) string {
	counts := []struct {
		name string
		n    int
	}{
		{"pending", o.Pending}, {"in progress", o.InProgress}, {"ready", o.Ready},
		{"succeeded", o.Succeeded}, {"failed", o.Failed}, {"skipped", o.Skipped}, {"unknown", o.Unknown},
	}
	var parts []string
	for _, c := range counts {
		if c.n > 0 {
			parts = append(parts, strconv.Itoa(c.n)+" "+c.name)
		}
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

// eventColumns are short headers for the lifecycle events, so that the nine to thirteen events
// of a host fit on one line. Other event names are shown in full.
var eventColumns = map[string]string{
	"BeforeBlockTraffic":    "BBlock",
	"BlockTraffic":          "Block",
	"AfterBlockTraffic":     "ABlock",
	"ApplicationStop":       "Stop",
	"DownloadBundle":        "Download",
	"BeforeInstall":         "BInstall",
	"Install":               "Install",
	"AfterInstall":          "AInstall",
	"ApplicationStart":      "Start",
	"ValidateService":       "Validate",
	"BeforeAllowTraffic":    "BAllow",
	"AllowTraffic":          "Allow",
	"AfterAllowTraffic":     "AAllow",
	"AfterAllowTestTraffic": "AAllowTest",
}

// eventCell is an event's status in a few characters; a failure stands out in capitals.
func eventCell(status string) string {
	switch status {
	case statusSucceeded:
		return "ok"
	case statusFailed:
		return "FAIL"
	case statusInProgress:
		return "run"
	case statusPending:
		return "-"
	case statusSkipped:
		return "skip"
	case statusUnknown:
		return "?"
	}
	return status
}

// writeEventTable prints instances × lifecycle events, events in the order the instances list them.
func writeEventTable(w io.Writer, instances []api.DeploymentInstance) error {
	var events []string
	seen := make(map[string]bool)
	for _, in := range instances {
		for _, ev := range in.Events {
			if !seen[ev.Name] {
				seen[ev.Name] = true
				events = append(events, ev.Name)
			}
		}
	}
	fleets := slices.ContainsFunc(instances, func(in api.DeploymentInstance) bool { return in.Fleet != "" })
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprint(tw, "INSTANCE")
	if fleets {
		fmt.Fprint(tw, "\tFLEET")
	}
	fmt.Fprint(tw, "\tSTATUS")
	for _, name := range events {
		header := eventColumns[name]
		if header == "" {
			header = name
		}
		fmt.Fprint(tw, "\t", header)
	}
	fmt.Fprintln(tw)
	for _, in := range instances {
		status := make(map[string]string, len(in.Events))
		for _, ev := range in.Events {
			status[ev.Name] = eventCell(ev.Status)
		}
		fmt.Fprint(tw, in.Instance)
		if fleets {
			fmt.Fprint(tw, "\t", in.Fleet)
		}
		fmt.Fprint(tw, "\t", in.Status)
		for _, name := range events {
			fmt.Fprint(tw, "\t", status[name])
		}
		fmt.Fprintln(tw)
	}
	return tw.Flush()
}

// writeFailures prints the diagnostics of every failed event and the reason an instance failed
// when no event says it; then why the instances that were skipped or left midway (by a stop, or a
// failure elsewhere) did not finish, apart, since nothing failed on them.
func writeFailures(w io.Writer, instances []api.DeploymentInstance) {
	failures := section{w: w, title: "Failures"}
	for _, in := range instances {
		for _, ev := range in.Events {
			if ev.Status != statusFailed {
				continue
			}
			failures.start()
			fmt.Fprintf(w, "  %s  %s\n", in.Instance, ev.Name)
			writeDiagnostics(w, ev.Diagnostics, "    ")
		}
		if in.Message != "" && in.Status == statusFailed {
			failures.start()
			fmt.Fprintf(w, "  %s  %s: %s\n", in.Instance, in.Status, in.Message)
		}
	}
	unfinished := section{w: w, title: "Not deployed"}
	for _, in := range instances {
		if in.Message != "" && in.Status != statusFailed && in.Status != statusSucceeded {
			unfinished.start()
			fmt.Fprintf(w, "  %s  %s: %s\n", in.Instance, in.Status, in.Message)
		}
	}
}

// section prints its title before its first line.
type section struct {
	w       io.Writer
	title   string
	started bool
}

func (s *section) start() {
	if !s.started {
		fmt.Fprintf(s.w, "\n%s:\n", s.title)
		s.started = true
	}
}

const deploymentListUsage = `usage: slipway deployment list [--app A] [--group G] [--status S ...] [--json]

Lists deployments, newest first as the server orders them. --status may be repeated or hold a
comma-separated list (Created, Queued, InProgress, Baking, Ready, Succeeded, Failed, Stopped).
`

func (c *cli) deploymentList(ctx context.Context, args []string) error {
	cmd := c.command("deployment list", deploymentListUsage)
	app := cmd.fs.String("app", "", "only deployments of this application")
	group := cmd.fs.String("group", "", "only deployments to this deployment group")
	var statuses listFlag
	cmd.fs.Var(&statuses, "status", "only deployments with this `STATUS` (repeatable, or comma-separated)")
	asJSON := cmd.fs.Bool("json", false, "print JSON")
	if _, err := cmd.args(args); err != nil {
		return flagsDone(err)
	}
	f := api.DeploymentFilter{Application: *app, Group: *group}
	for _, s := range statuses {
		for v := range strings.SplitSeq(s, ",") {
			if v = strings.TrimSpace(v); v != "" {
				f.Statuses = append(f.Statuses, v)
			}
		}
	}
	client, err := cmd.client()
	if err != nil {
		return err
	}
	list, err := client.ListDeployments(ctx, f)
	if err != nil {
		return serverError(err)
	}
	if *asJSON {
		return writeJSONList(c.stdout, list)
	}
	tw := tabwriter.NewWriter(c.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tAPPLICATION\tGROUP\tSTATUS\tREVISION\tCREATOR\tCREATED")
	for _, d := range list {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", d.ID, d.Application, d.Group, d.Status,
			shortDigest(d.Revision), orDash(d.Creator), formatTime(d.CreateTime))
	}
	return tw.Flush()
}

const deploymentStopUsage = `usage: slipway deployment stop ID [--rollback]

Stops a deployment: no host starts another lifecycle event, hosts that have not started are
skipped, and the deployment is Stopped once the events already running on hosts have finished
(or their lease has run out), which 'slipway deployment wait ID' follows. With --rollback, the
group's last good revision is then redeployed; the rollback deployment's id is printed once the
server has started it.
`

func (c *cli) deploymentStop(ctx context.Context, args []string) error {
	cmd := c.command("deployment stop", deploymentStopUsage)
	rollback := cmd.fs.Bool("rollback", false, "redeploy the last good revision once stopped")
	pos, err := cmd.args(args, "ID")
	if err != nil {
		return flagsDone(err)
	}
	client, err := cmd.client()
	if err != nil {
		return err
	}
	d, err := client.StopDeployment(ctx, pos[0], *rollback)
	if err != nil {
		return serverError(err)
	}
	switch {
	case d.Status == statusStopped:
		fmt.Fprintf(c.stdout, "deployment %s %s\n", d.ID, d.Status)
	case deploymentDone(d.Status):
		fmt.Fprintf(c.stdout, "deployment %s had already ended %s: nothing to stop\n", d.ID, d.Status)
	default:
		fmt.Fprintf(c.stdout, "deployment %s is stopping%s; follow it with 'slipway deployment wait %s'\n", d.ID, stoppingWaitsFor(d), d.ID)
	}
	switch {
	case d.RolledBackBy != "":
		fmt.Fprintf(c.stdout, "rollback started: deployment %s\n", d.RolledBackBy)
	case *rollback && !deploymentDone(d.Status):
		fmt.Fprintln(c.stdout, "the rollback starts once it has stopped")
	}
	return nil
}

// stoppingWaitsFor says what a stopping deployment still waits for: the events running on hosts,
// which are let finish rather than cut short.
func stoppingWaitsFor(d api.Deployment) string {
	var hosts []string
	for _, in := range d.Instances {
		if in.Status == statusInProgress {
			hosts = append(hosts, in.Instance)
		}
	}
	switch {
	case len(hosts) > 0:
		return fmt.Sprintf(": waiting for the lifecycle events running on %s to finish (no new ones start)", strings.Join(hosts, ", "))
	case d.Overview.InProgress > 0:
		return fmt.Sprintf(": waiting for the lifecycle events running on %d host(s) to finish (no new ones start)", d.Overview.InProgress)
	}
	return ""
}

const deploymentActUsage = `usage: slipway deployment %[1]s ID

%[2]s
`

var deploymentActions = map[string]string{
	api.ActionPromote: `Promotes a blue/green deployment's traffic shift: ends the wait of its current step (a timed
pause, a pause until promoted, an analysis) so the next step runs, and lifts a pause.`,
	api.ActionPause: `Holds a blue/green deployment's traffic at its current weight until 'deployment promote'.`,
	api.ActionContinue: `Continues a blue/green deployment that is Ready (its replacement instances installed, the
group waiting for a person) on to moving traffic, or one that is Baking on to releasing its
original instances now.`,
	api.ActionAbort: `Stops a deployment without a rollback deployment. A blue/green deployment sends all traffic
back to its original instances at once.`,
}

// deploymentAct is the command for one of the actions on a running deployment.
func (c *cli) deploymentAct(action string) func(context.Context, []string) error {
	return func(ctx context.Context, args []string) error {
		cmd := c.command("deployment "+action, fmt.Sprintf(deploymentActUsage, action, deploymentActions[action]))
		asJSON := cmd.fs.Bool("json", false, "print the deployment as JSON")
		pos, client, err := cmd.argsAndClient(args, "ID")
		if err != nil {
			return flagsDone(err)
		}
		d, err := client.ActOnDeployment(ctx, pos[0], action)
		if err != nil {
			return serverError(err)
		}
		if *asJSON {
			return writeIndentedJSON(c.stdout, d)
		}
		line := fmt.Sprintf("deployment %s %s", d.ID, d.Status)
		if t := d.Traffic; t != nil {
			line += ": " + formatTraffic(*t)
		}
		fmt.Fprintln(c.stdout, line)
		return nil
	}
}

// formatTraffic says where a blue/green deployment stands in one line.
func formatTraffic(t api.DeploymentTraffic) string {
	s := fmt.Sprintf("phase %s, %d%% of traffic on the replacements", t.Phase, t.Percent)
	if t.Step > 0 {
		s += fmt.Sprintf(" (step %d of %d of %s)", t.Step, t.Steps, t.Shape)
	}
	switch {
	case t.Paused:
		s += ", paused until promoted"
	case t.Waiting != "" && t.WaitUntil != nil:
		s += ", waiting (" + t.Waiting + ") until " + formatTime(*t.WaitUntil)
	case t.Waiting != "":
		s += ", waiting for " + t.Waiting
	}
	switch {
	case t.RevertError != "":
		s += "; traffic could not be sent back to the originals: " + t.RevertError
	case t.Reverted && len(t.RevertSkipped) > 0:
		s += "; traffic sent back to the originals, skipping servers the backend no longer has: " + strings.Join(t.RevertSkipped, ", ")
	case t.Reverted:
		s += "; traffic sent back to the originals"
	}
	return s
}

// formatTimeline lists the shares of traffic the router applied, with their times.
func formatTimeline(points []api.TrafficPoint) string {
	parts := make([]string, len(points))
	for i, p := range points {
		parts[i] = fmt.Sprintf("%d%% at %s", p.Percent, p.Time.UTC().Format("15:04:05.000"))
	}
	return strings.Join(parts, ", ")
}
