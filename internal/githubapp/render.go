package githubapp

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/google/go-github/v60/github"

	"github.com/slipway-deploy/slipway/internal/api"
	"github.com/slipway-deploy/slipway/internal/deploy"
)

// GitHub deployment status states Slipway posts.
const (
	stateQueued     = "queued"
	stateInProgress = "in_progress"
	stateSuccess    = "success"
	stateFailure    = "failure"
	stateError      = "error"
	stateInactive   = "inactive"
)

// stateRank orders the states a deployment passes through; a state is posted only after the ones
// ranked below it, never again and never backwards.
func stateRank(state string) int {
	switch state {
	case stateQueued:
		return 0
	case stateInProgress:
		return 1
	case stateInactive:
		return 3
	}
	return 2
}

// couldNotRun are the failures that mean the deployment never got to run a revision on its
// hosts: GitHub's "error" rather than "failure".
var couldNotRun = map[string]bool{
	string(deploy.ErrorHealthConstraintsInvalid): true,
	string(deploy.ErrorNoInstances):              true,
	string(deploy.ErrorInternal):                 true,
	string(deploy.ErrorRevisionMissing):          true,
	string(deploy.ErrorInvalidRevision):          true,
	string(deploy.ErrorApplicationMissing):       true,
	string(deploy.ErrorDeploymentGroupMissing):   true,
}

// wantStatuses is the sequence of deployment statuses d has earned so far: queued, then
// in_progress once it started, then its outcome.
func wantStatuses(d api.Deployment) []string {
	out := []string{stateQueued}
	if d.StartTime != nil {
		out = append(out, stateInProgress)
	}
	switch d.Status {
	case deploy.StatusSucceeded.String():
		out = append(out, stateSuccess)
	case deploy.StatusFailed.String():
		if couldNotRun[d.ErrorCode] {
			out = append(out, stateError)
		} else {
			out = append(out, stateFailure)
		}
	case deploy.StatusStopped.String():
		out = append(out, stateError)
	}
	return out
}

// statusDescription says what a status means for d, within GitHub's 140 characters.
func statusDescription(d api.Deployment, state string) string {
	hosts := len(d.Instances)
	var s string
	switch state {
	case stateQueued:
		s = "Queued on " + d.Application + "/" + d.Group
		if d.Status == deploy.StatusQueued.String() {
			s += ", behind the deployment running there"
		}
	case stateInProgress:
		s = fmt.Sprintf("Deploying to %s of %s/%s (%s)", plural(hosts, "host"), d.Application, d.Group, d.DeploymentConfig)
	case stateSuccess:
		s = fmt.Sprintf("Succeeded on %d of %s", d.Overview.Succeeded, plural(hosts, "host"))
		if d.RollbackOf != "" {
			s += ", rolling back " + d.RollbackOf
		}
	default:
		word := "Failed"
		if d.Status == deploy.StatusStopped.String() {
			word = "Stopped"
		}
		s = word + ": " + d.ErrorMessage
		if d.RolledBackBy != "" {
			s = word + ", rolled back by " + d.RolledBackBy + ": " + d.ErrorMessage
		}
	}
	return clip(s, maxDescription)
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

// checkContent is a check run as Slipway renders it: everything but the annotations, which GitHub
// accumulates across updates and so are sent once each.
type checkContent struct {
	Name        string                   `json:"name"`
	Status      string                   `json:"status"`
	Conclusion  string                   `json:"conclusion,omitempty"`
	StartedAt   *time.Time               `json:"started_at,omitempty"`
	CompletedAt *time.Time               `json:"completed_at,omitempty"`
	DetailsURL  string                   `json:"details_url,omitempty"`
	Title       string                   `json:"title"`
	Summary     string                   `json:"summary"`
	Text        string                   `json:"text,omitempty"`
	Actions     []*github.CheckRunAction `json:"actions"`
}

// digest identifies what was posted, so an unchanged check run is not updated again.
func (c checkContent) digest() string {
	b, _ := json.Marshal(c)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// checkRunName is the check run's name: the group it deploys.
func checkRunName(d api.Deployment) string { return d.Application + "/" + d.Group }

// renderCheckRun lays d out for a check run: a title, a summary with the hosts × events table,
// the failed hooks' output as text, and the buttons that still make sense.
func renderCheckRun(d api.Deployment, pageURL string, rolledBack bool) checkContent {
	c := checkContent{Name: checkRunName(d), DetailsURL: pageURL, StartedAt: d.StartTime}
	done := d.Overview.Succeeded + d.Overview.Failed + d.Overview.Skipped + d.Overview.Unknown
	switch d.Status {
	case deploy.StatusCreated.String(), deploy.StatusQueued.String():
		c.Status, c.Title = "queued", "Queued"
	case deploy.StatusSucceeded.String():
		c.Status, c.Conclusion = "completed", "success"
		c.Title = fmt.Sprintf("Succeeded on %d of %s", d.Overview.Succeeded, plural(len(d.Instances), "host"))
	case deploy.StatusFailed.String():
		c.Status, c.Conclusion = "completed", "failure"
		c.Title = "Failed: " + d.ErrorCode
	case deploy.StatusStopped.String():
		c.Status, c.Conclusion = "completed", "cancelled"
		c.Title = "Stopped: " + d.ErrorCode
	default:
		c.Status = "in_progress"
		c.Title = fmt.Sprintf("Deploying: %d of %s done", done, plural(len(d.Instances), "host"))
	}
	if c.Status == "completed" {
		c.CompletedAt = d.EndTime
	}
	c.Title = clip(c.Title, 255)
	c.Summary = checkSummary(d, pageURL)
	c.Text = checkText(d)
	c.Actions = checkActions(d, rolledBack)
	return c
}

// checkActions are the buttons: Stop, and Stop & roll back, while the deployment runs; Roll back
// on a failed or stopped one that nothing rolled back yet. A running blue/green deployment gets
// the buttons of its phase instead (see trafficActions).
func checkActions(d api.Deployment, rolledBack bool) []*github.CheckRunAction {
	out := []*github.CheckRunAction{}
	switch {
	case !finished(d.Status) && d.Traffic != nil:
		out = trafficActions(*d.Traffic, d.Status)
	case !finished(d.Status):
		out = append(out,
			&github.CheckRunAction{Label: "Stop", Description: "Stop this deployment", Identifier: actionStop},
			&github.CheckRunAction{Label: "Stop & roll back", Description: "Stop and redeploy the last good revision", Identifier: actionRollback})
	case d.Status != deploy.StatusSucceeded.String() && d.RolledBackBy == "" && !rolledBack && d.Creator != deploy.CreatorRollback.String():
		out = append(out, &github.CheckRunAction{Label: "Roll back", Description: "Redeploy the last good revision", Identifier: actionRollback})
	}
	return out
}

var eventMarks = map[string]string{
	"Succeeded": "✅", "Failed": "❌", "InProgress": "⏳", "Pending": "·", "Skipped": "⏭️", "Unknown": "❔",
}

// checkSummary is the Markdown summary: the outcome, the links, and a table of hosts × events.
func checkSummary(d api.Deployment, pageURL string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "**%s** · `%s/%s` · revision `%s` · config %s", d.Status, d.Application, d.Group, short(d.Revision), d.DeploymentConfig)
	if pageURL != "" {
		fmt.Fprintf(&b, " · [deployment page](%s)", pageURL)
	}
	b.WriteString("\n\n")
	if d.RollbackOf != "" {
		fmt.Fprintf(&b, "Rolls back deployment `%s`.\n\n", d.RollbackOf)
	}
	if d.RolledBackBy != "" {
		fmt.Fprintf(&b, "Rolled back by deployment `%s`.\n\n", d.RolledBackBy)
	}
	if d.ErrorCode != "" {
		fmt.Fprintf(&b, "`%s`: %s\n\n", d.ErrorCode, mdEscape(d.ErrorMessage))
	}
	if len(d.Instances) == 0 {
		b.WriteString("No hosts yet.\n")
		return b.String()
	}
	var events []string
	seen := map[string]bool{}
	for _, in := range d.Instances {
		for _, e := range in.Events {
			if !seen[e.Name] {
				seen[e.Name] = true
				events = append(events, e.Name)
			}
		}
	}
	b.WriteString("| Host | Status |")
	for _, e := range events {
		b.WriteString(" " + e + " |")
	}
	b.WriteString("\n|---|---|" + strings.Repeat("---|", len(events)) + "\n")
	for i, in := range d.Instances {
		var row strings.Builder
		fmt.Fprintf(&row, "| %s | %s |", mdEscape(in.Instance), in.Status)
		status := map[string]string{}
		for _, e := range in.Events {
			status[e.Name] = e.Status
		}
		for _, e := range events {
			row.WriteString(" " + eventMarks[status[e]] + " |")
		}
		row.WriteString("\n")
		if b.Len()+row.Len() > maxCheckRunText-200 {
			fmt.Fprintf(&b, "\n… and %d more hosts: see the deployment page.\n", len(d.Instances)-i)
			break
		}
		b.WriteString(row.String())
	}
	return b.String()
}

// checkText holds the failed events' diagnostics, with their output tails.
func checkText(d api.Deployment) string {
	var b strings.Builder
	for _, in := range d.Instances {
		for _, e := range in.Events {
			if e.Status != "Failed" || e.Diagnostics == nil {
				continue
			}
			g := e.Diagnostics
			var part strings.Builder
			// What a host reported is text, even in a code span: a backquote in it must not end
			// the span and turn the rest into Markdown (links, mentions).
			fmt.Fprintf(&part, "### %s · %s · `%s`\n\n", mdEscape(in.Instance), e.Name, mdEscape(g.ErrorCode))
			if g.ScriptName != "" {
				fmt.Fprintf(&part, "Script `%s`: ", mdEscape(g.ScriptName))
			}
			part.WriteString(mdEscape(g.Message) + "\n\n")
			if g.LogTail != "" {
				part.WriteString("```\n" + strings.ReplaceAll(tail(g.LogTail, 4000), "```", "ʼʼʼ") + "\n```\n\n")
			}
			if b.Len()+part.Len() > maxCheckRunText-100 {
				b.WriteString("… more failures on the deployment page.\n")
				return b.String()
			}
			b.WriteString(part.String())
		}
	}
	return b.String()
}

// annotation is a check run annotation with the key that says it was posted.
type annotation struct {
	key string
	a   *github.CheckRunAnnotation
}

// annotationsFor points at the failed hooks: one failure annotation per failed event, on the
// script's path in the repository: its location in the bundle under dir, the bundle's directory
// in the repository (the Action's path; "." for a tarball from GitHub). When dir is unknown (a
// bundle uploaded by other means), the location in the bundle is the best guess.
func annotationsFor(d api.Deployment, dir string) []annotation {
	var out []annotation
	for _, in := range d.Instances {
		for _, e := range in.Events {
			if e.Status != "Failed" || e.Diagnostics == nil {
				continue
			}
			g := e.Diagnostics
			path := g.ScriptName
			if path == "" {
				path = "appspec.yml"
			}
			if p := api.RepositoryPath(dir, path); p != "" {
				path = p
			}
			msg := g.Message
			if g.LogTail != "" {
				msg += "\n\n" + tail(g.LogTail, 4000)
			}
			if msg == "" {
				msg = e.Name + " failed"
			}
			key := in.Instance + "/" + e.Name
			out = append(out, annotation{
				key: key,
				a: &github.CheckRunAnnotation{
					Path: github.String(path), StartLine: github.Int(1), EndLine: github.Int(1),
					AnnotationLevel: github.String("failure"),
					Title:           github.String(clip(annotationTitle(key)+" ("+g.ErrorCode+")", 255)),
					Message:         github.String(clip(msg, maxAnnotationBytes/4)),
				},
			})
		}
	}
	return out
}

// annotationTitle is how an annotation's title starts, "host: Event failed", from its key
// "host/Event" (host names hold no slash): the title is what tells, after a crash, whether GitHub
// has the annotation already.
func annotationTitle(key string) string {
	i := strings.LastIndex(key, "/")
	return key[:i] + ": " + key[i+1:] + " failed"
}

// mdEscape keeps text from other people (host names, script output) from breaking a table or
// turning into markup.
func mdEscape(s string) string {
	return strings.NewReplacer("|", `\|`, "\n", " ", "<", "&lt;", ">", "&gt;", "`", "'").Replace(s)
}

// trafficActions are a running blue/green deployment's buttons (GitHub shows at most three):
// what moves it on where it waits (Continue when Ready, Promote at a pause or a wait for
// promotion, Release now while it bakes), Pause while traffic moves, and always Abort, which
// sends all traffic back to the original fleet (its rollback).
func trafficActions(t api.DeploymentTraffic, status string) []*github.CheckRunAction {
	var out []*github.CheckRunAction
	add := func(label, description, identifier string) {
		out = append(out, &github.CheckRunAction{Label: label, Description: description, Identifier: identifier})
	}
	switch {
	case status == deploy.StatusReady.String():
		add("Move traffic", "Continue: move traffic to the new fleet", api.ActionContinue)
	case t.Phase == deploy.PhaseBake.String():
		add("Release now", "Release the original fleet now", api.ActionContinue)
	case t.Paused || t.Waiting == "promotion":
		add("Promote", "Go on to the next traffic step", api.ActionPromote)
	case t.Waiting == "pause" || t.Waiting == "analysis":
		add("Promote", "End this wait, go to the next step", api.ActionPromote)
		add("Pause", "Hold traffic where it is", api.ActionPause)
	case t.Phase == deploy.PhaseBeforeAllowTraffic.String() || t.Phase == deploy.PhaseAllowTraffic.String():
		add("Pause", "Hold traffic where it is", api.ActionPause)
	}
	if t.Phase != deploy.PhaseRelease.String() {
		add("Abort", "Send all traffic back to the originals", api.ActionAbort)
	}
	return out
}
