package main

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"html"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/sethvargo/go-githubactions"

	"github.com/slipway-deploy/slipway/internal/api"
)

// reporter writes a deployment's progress into the workflow: log lines, one collapsible group
// per host when it is done, error annotations on the failing hook scripts, and the job summary.
//
// Everything the server or the hosts said (host names, messages, script output) is written with
// workflow commands stopped, so a script printing "::set-output ..." or "::error ..." is shown,
// not obeyed.
type reporter struct {
	gh  *githubactions.Action
	out io.Writer
	// bundleDir is the revision directory relative to the repository root, to turn a hook's
	// location into a file annotations can point at; "" when the revision was an archive.
	bundleDir string

	sig     string          // every status seen last time, to tell whether anything changed
	status  string          // the deployment's status last printed
	started map[string]bool // hosts that have left Pending
	printed map[string]bool // hosts whose group has been printed
}

func newReporter(gh *githubactions.Action, out io.Writer, bundleDir string) *reporter {
	return &reporter{gh: gh, out: out, bundleDir: bundleDir, started: map[string]bool{}, printed: map[string]bool{}}
}

// untrusted runs write with workflow commands stopped for what it writes.
func (r *reporter) untrusted(write func(w io.Writer)) {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	tok := hex.EncodeToString(b[:])
	r.gh.IssueCommand(&githubactions.Command{Name: "stop-commands", Message: tok})
	write(r.out)
	r.gh.IssueCommand(&githubactions.Command{Name: tok})
}

// update reports what d brings that is new and says whether anything changed.
func (r *reporter) update(d api.Deployment) bool {
	sig := statusSignature(d)
	if sig == r.sig {
		return false
	}
	r.sig = sig
	var lines []string
	if d.Status != r.status {
		r.status = d.Status
		lines = append(lines, fmt.Sprintf("deployment %s: %s", d.ID, d.Status))
	}
	var finished []api.DeploymentInstance
	for _, in := range d.Instances {
		if !r.started[in.Instance] && in.Status != statusPending {
			r.started[in.Instance] = true
			if !hostDone(in.Status) {
				lines = append(lines, fmt.Sprintf("%s: %s", in.Instance, in.Status))
			}
		}
		if !r.printed[in.Instance] && (hostDone(in.Status) || deploymentDone(d.Status)) {
			r.printed[in.Instance] = true
			finished = append(finished, in)
		}
	}
	if len(lines) > 0 {
		r.untrusted(func(w io.Writer) {
			for _, l := range lines {
				fmt.Fprintln(w, l)
			}
		})
	}
	for _, in := range finished {
		r.hostGroup(in)
	}
	return true
}

func hostDone(status string) bool {
	return status == statusSucceeded || status == statusFailed || status == statusSkipped || status == "Ready"
}

// statusSignature is every status in d, in order.
func statusSignature(d api.Deployment) string {
	var b strings.Builder
	b.WriteString(d.Status)
	for _, in := range d.Instances {
		b.WriteString("|" + in.Instance + "=" + in.Status)
		for _, ev := range in.Events {
			b.WriteString("," + ev.Status)
		}
	}
	return b.String()
}

// hostGroup prints one host's events, with the diagnostics of a failure, as a collapsible group.
func (r *reporter) hostGroup(in api.DeploymentInstance) {
	title := fmt.Sprintf("%s: %s", in.Instance, in.Status)
	if d := hostDuration(in); d > 0 {
		title += fmt.Sprintf(" in %s", d.Round(100*time.Millisecond))
	}
	// A group's title is a command's data: escaped by the library, so it cannot end the line.
	r.gh.Group(title)
	r.untrusted(func(w io.Writer) {
		if in.Message != "" {
			fmt.Fprintln(w, in.Message)
		}
		width := 0
		for _, ev := range in.Events {
			width = max(width, len(ev.Name))
		}
		for _, ev := range in.Events {
			line := fmt.Sprintf("%-*s  %-9s", width, ev.Name, ev.Status)
			if ev.StartTime != nil && ev.EndTime != nil {
				line += fmt.Sprintf("  %s", ev.EndTime.Sub(*ev.StartTime).Round(time.Millisecond))
			}
			fmt.Fprintln(w, strings.TrimRight(line, " "))
			if ev.Status == statusFailed {
				writeDiagnostics(w, ev.Diagnostics, "    ")
			}
		}
	})
	r.gh.EndGroup()
}

func hostDuration(in api.DeploymentInstance) time.Duration {
	if in.StartTime == nil || in.EndTime == nil {
		return 0
	}
	return in.EndTime.Sub(*in.StartTime)
}

// failure is one failing hook, possibly on several hosts.
type failure struct {
	event, script, code, message, tail string
	hosts                              []string
}

// failures groups the failed events of d by what failed, so three hosts failing the same script
// make one annotation.
func failures(d api.Deployment) []*failure {
	var out []*failure
	for _, in := range d.Instances {
		for _, ev := range in.Events {
			if ev.Status != statusFailed {
				continue
			}
			f := failure{event: ev.Name}
			if dg := ev.Diagnostics; dg != nil {
				f.script, f.code, f.message, f.tail = dg.ScriptName, dg.ErrorCode, dg.Message, dg.LogTail
			}
			i := slices.IndexFunc(out, func(o *failure) bool {
				return o.event == f.event && o.script == f.script && o.code == f.code && o.message == f.message
			})
			if i < 0 {
				out = append(out, &f)
				i = len(out) - 1
			}
			out[i].hosts = append(out[i].hosts, in.Instance)
		}
	}
	return out
}

// scriptFile is a hook's location as a path from the repository root, or "" when unknown. The
// server's check run annotations name it the same way (api.RepositoryPath).
func (r *reporter) scriptFile(location string) string {
	if location == "" {
		return ""
	}
	return api.RepositoryPath(r.bundleDir, location)
}

// maxAnnotationTail bounds the script output carried in one annotation.
const maxAnnotationTail = 4 << 10

// annotate raises one error annotation per failing hook, on the script's file when it is known,
// and one for the deployment's own error.
func (r *reporter) annotate(d api.Deployment) {
	for _, f := range failures(d) {
		fields := map[string]string{"title": fmt.Sprintf("Slipway: %s failed on %s", f.event, strings.Join(f.hosts, ", "))}
		if file := r.scriptFile(f.script); file != "" {
			fields["file"] = file
		}
		msg := strings.Join(nonEmpty(f.code, f.script, f.message), ": ")
		if tail := strings.TrimRight(f.tail, "\r\n"); tail != "" {
			if len(tail) > maxAnnotationTail {
				tail = "…" + tail[len(tail)-maxAnnotationTail:]
			}
			msg += "\n" + tail
		}
		// The library escapes newlines and the property separators, so the message stays data.
		r.gh.WithFieldsMap(fields).Errorf("%s", msg)
	}
	if msg := deploymentError(d); msg != "" && d.Status != statusSucceeded {
		r.gh.WithFieldsMap(map[string]string{"title": "Slipway: deployment " + d.ID + " " + d.Status}).Errorf("%s", msg)
	}
}

func nonEmpty(ss ...string) []string {
	var out []string
	for _, s := range ss {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}

// summary is the job summary: the outcome, then a table of hosts × lifecycle events, then each
// failure with its output. Text from the server is HTML-escaped, so it renders as text.
func summary(d api.Deployment, app, group, logURL string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "### Slipway deployment %s: %s %s\n\n", esc(d.ID), statusMark(d.Status), esc(d.Status))
	fmt.Fprintf(&b, "Application **%s**, group **%s**, revision `%s`", esc(app), esc(group), esc(shortDigest(d.Revision)))
	if logURL != "" {
		fmt.Fprintf(&b, " — [deployment log](%s)", logURL)
	}
	b.WriteString("\n\n")
	if msg := deploymentError(d); msg != "" {
		fmt.Fprintf(&b, "%s\n\n", esc(msg))
	}
	if d.RolledBackBy != "" {
		fmt.Fprintf(&b, "Rollback started: deployment %s.\n\n", esc(d.RolledBackBy))
	}
	var events []string
	for _, in := range d.Instances {
		for _, ev := range in.Events {
			if !slices.Contains(events, ev.Name) {
				events = append(events, ev.Name)
			}
		}
	}
	if len(d.Instances) > 0 {
		b.WriteString("| host | status |")
		for _, e := range events {
			b.WriteString(" " + esc(e) + " |")
		}
		b.WriteString("\n| --- | --- |" + strings.Repeat(" --- |", len(events)) + "\n")
		for _, in := range d.Instances {
			fmt.Fprintf(&b, "| %s | %s %s |", esc(in.Instance), statusMark(in.Status), esc(in.Status))
			for _, e := range events {
				i := slices.IndexFunc(in.Events, func(ev api.LifecycleEvent) bool { return ev.Name == e })
				if i < 0 {
					b.WriteString(" |")
					continue
				}
				fmt.Fprintf(&b, " %s %s |", statusMark(in.Events[i].Status), esc(in.Events[i].Status))
			}
			b.WriteString("\n")
		}
		b.WriteString("\n")
	}
	for _, f := range failures(d) {
		fmt.Fprintf(&b, "**%s failed on %s**", esc(f.event), esc(strings.Join(f.hosts, ", ")))
		if s := strings.Join(nonEmpty(f.code, f.script, f.message), ": "); s != "" {
			fmt.Fprintf(&b, ": %s", esc(s))
		}
		b.WriteString("\n\n")
		if tail := strings.TrimRight(f.tail, "\r\n"); tail != "" {
			fmt.Fprintf(&b, "<pre>%s</pre>\n\n", html.EscapeString(tail))
		}
	}
	return b.String()
}

// esc makes server text safe in a Markdown table cell: HTML-escaped, no pipes, one line.
func esc(s string) string {
	s = html.EscapeString(s)
	s = strings.NewReplacer("|", "&#124;", "\r", " ", "\n", " ", "`", "&#96;", "[", "&#91;", "]", "&#93;").Replace(s)
	return s
}

func statusMark(status string) string {
	switch status {
	case statusSucceeded:
		return "✅"
	case statusFailed:
		return "❌"
	case statusStopped:
		return "⏹️"
	case statusSkipped:
		return "⏭️"
	case statusInProgress:
		return "⏳"
	case statusPending:
		return "…"
	}
	return "•"
}
