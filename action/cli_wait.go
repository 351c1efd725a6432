package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/slipway-deploy/slipway/internal/api"
)

// CodeDeploy status names the CLI acts on.
const (
	statusSucceeded  = "Succeeded"
	statusFailed     = "Failed"
	statusStopped    = "Stopped"
	statusQueued     = "Queued"
	statusPending    = "Pending"
	statusInProgress = "InProgress"
	statusSkipped    = "Skipped"
	statusUnknown    = "Unknown"
)

// Polling: fast at first and right after something changed, when the next change is likely
// near (a trivial revision finishes in well under a second); then backing off to pollMax.
const (
	pollFirst = 20 * time.Millisecond
	pollMax   = 500 * time.Millisecond
)

func deploymentDone(status string) bool {
	return status == statusSucceeded || status == statusFailed || status == statusStopped
}

// waitDeployment polls a deployment until it ends and returns its final state. observe sees every
// state polled and says whether anything changed (polling speeds up again when it did); w gets
// the lines about the server's availability. On a context error it returns the last state seen
// with the error. Answers a restarting server gives (no connection, 5xx) are retried; any other
// error answer ends the wait.
func waitDeployment(ctx context.Context, client *api.Client, id string, observe func(api.Deployment) bool, w io.Writer) (api.Deployment, error) {
	var last api.Deployment
	interval := pollFirst
	failing := false
	for {
		d, err := client.GetDeployment(ctx, id)
		switch {
		case err != nil && ctx.Err() != nil:
			return last, ctx.Err()
		case err != nil && api.StatusOf(err) != 0 && api.StatusOf(err) < http.StatusInternalServerError:
			return last, err
		case err != nil:
			if !failing {
				fmt.Fprintf(w, "server unavailable, retrying: %v\n", err)
			}
			failing, interval = true, pollMax
		default:
			if failing {
				fmt.Fprintln(w, "server available again")
			}
			failing, last = false, d
			if observe(d) {
				interval = pollFirst
			} else {
				interval = min(2*interval, pollMax)
			}
			if deploymentDone(d.Status) {
				return d, nil
			}
		}
		t := time.NewTimer(interval)
		select {
		case <-ctx.Done():
			t.Stop()
			return last, ctx.Err()
		case <-t.C:
		}
	}
}

// waitProgress prints what changed between two states of a deployment: one line per lifecycle event
// that left Pending, with the diagnostics of a failure, the deployment's own status changes, and
// where a blue/green deployment's traffic stands each time that changes.
type waitProgress struct {
	w                     io.Writer
	status                string
	traffic               string
	events                map[[2]string]string // instance, event → status
	instances             map[string]string
	hostWidth, eventWidth int
}

func newWaitProgress(w io.Writer) *waitProgress {
	return &waitProgress{w: w, events: make(map[[2]string]string), instances: make(map[string]string)}
}

// update prints the changes d brings and says whether there were any.
func (p *waitProgress) update(d api.Deployment) bool {
	changed := false
	if d.Status != p.status {
		p.status, changed = d.Status, true
		if !deploymentDone(d.Status) {
			fmt.Fprintf(p.w, "deployment %s %s\n", d.ID, d.Status)
		}
	}
	// Columns only widen, so lines printed earlier stay aligned with later ones as far as can be.
	for _, in := range d.Instances {
		p.hostWidth = max(p.hostWidth, len(in.Instance))
		for _, ev := range in.Events {
			p.eventWidth = max(p.eventWidth, len(ev.Name))
		}
	}
	for _, in := range d.Instances {
		for _, ev := range in.Events {
			key := [2]string{in.Instance, ev.Name}
			if p.events[key] == ev.Status {
				continue
			}
			p.events[key], changed = ev.Status, true
			// A host skipped altogether gets one line below, not one per event; after a failure,
			// the events that will not run are implied by it.
			if ev.Status == statusPending || ev.Status == statusSkipped && (in.Status == statusSkipped || in.Status == statusFailed) {
				continue
			}
			fmt.Fprintf(p.w, "%-*s  %-*s  %s\n", p.hostWidth, in.Instance, p.eventWidth, ev.Name, ev.Status)
			if ev.Status == statusFailed {
				writeDiagnostics(p.w, ev.Diagnostics, "    ")
			}
		}
		if p.instances[in.Instance] == in.Status {
			continue
		}
		p.instances[in.Instance], changed = in.Status, true
		// Events tell the story of a host; its own status is worth a line only when they do not:
		// skipped altogether, or failed or lost with a reason of its own.
		switch {
		case in.Status == statusSkipped, in.Message != "" && (in.Status == statusFailed || in.Status == statusUnknown):
			line := fmt.Sprintf("%-*s  %s", p.hostWidth, in.Instance, in.Status)
			if in.Message != "" {
				line += ": " + in.Message
			}
			fmt.Fprintln(p.w, line)
		}
	}
	if d.Traffic != nil {
		if line := "traffic: " + formatTraffic(*d.Traffic); line != p.traffic {
			p.traffic, changed = line, true
			fmt.Fprintln(p.w, line)
		}
	}
	return changed
}

// writeDiagnostics prints why an event failed, then the script's last lines of output, indented.
func writeDiagnostics(w io.Writer, d *api.Diagnostics, indent string) {
	if d == nil {
		return
	}
	var parts []string
	for _, s := range []string{d.ErrorCode, d.ScriptName, d.Message} {
		if s != "" {
			parts = append(parts, s)
		}
	}
	if len(parts) > 0 {
		fmt.Fprintf(w, "%s%s\n", indent, strings.Join(parts, ": "))
	}
	tail := strings.TrimRight(d.LogTail, "\r\n")
	if tail == "" {
		return
	}
	for line := range strings.SplitSeq(tail, "\n") {
		fmt.Fprintf(w, "%s  %s\n", indent, strings.TrimRight(line, "\r"))
	}
}
