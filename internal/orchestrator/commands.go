package orchestrator

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/slipway-deploy/slipway/internal/deploy"
)

// Command is a host command: one lifecycle event of one deployment for one instance.
type Command struct {
	ID         string
	Deployment deploy.Deployment
	deploy.SendCommand
	// Resent counts the earlier hand-outs of this same command: an agent that lost a command
	// (it died before recording it) asks again and gets it again, and that is on record.
	Resent int
}

// CommandID names a command as agents quote it: deployment, event and attempt.
func CommandID(c deploy.SendCommand) string {
	return c.Deployment + ":" + c.Event + ":" + strconv.Itoa(c.Attempt)
}

// ParseCommandID reads a CommandID.
func ParseCommandID(id string) (deployment, event string, attempt int, err error) {
	parts := strings.Split(id, ":")
	if len(parts) != 3 {
		return "", "", 0, fmt.Errorf("command id %q: want deployment:event:attempt: %w", id, ErrNotFound)
	}
	attempt, err = strconv.Atoi(parts[2])
	if err != nil || attempt < 1 {
		return "", "", 0, fmt.Errorf("command id %q: bad attempt: %w", id, ErrNotFound)
	}
	return parts[0], parts[1], attempt, nil
}

// NextCommand waits up to wait for a command for instance. It answers as soon as one exists, so
// an idle agent gets a new command within milliseconds of its being decided. nil means none.
func (o *Orchestrator) NextCommand(ctx context.Context, instance string, wait time.Duration) (*Command, error) {
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for {
		o.mu.Lock()
		cmd := o.findCommand(instance)
		var ch chan struct{}
		if cmd == nil {
			ch = o.polls[instance]
			if ch == nil {
				ch = make(chan struct{})
				o.polls[instance] = ch
			}
		}
		o.mu.Unlock()
		if cmd != nil {
			if cmd.Resent > 0 {
				o.log.Warn("command handed out again: the agent asked for it after losing it",
					"deployment_id", cmd.Deployment.ID, "instance", instance, "event", cmd.Event, "times", cmd.Resent+1)
			}
			return cmd, nil
		}
		select {
		case <-ch:
		case <-timer.C:
			return nil, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// findCommand returns the oldest active deployment's command for instance. Called with o.mu held.
func (o *Orchestrator) findCommand(instance string) *Command {
	var found []*Command
	for _, e := range o.active {
		if c, ok := deploy.CommandFor(e.d, instance); ok {
			found = append(found, &Command{ID: CommandID(c), Deployment: e.d, SendCommand: c})
		}
	}
	if len(found) == 0 {
		return nil
	}
	sort.Slice(found, func(i, j int) bool {
		return found[i].Deployment.CreateTime.Before(found[j].Deployment.CreateTime)
	})
	c := found[0]
	k := sentKey{deployment: c.Deployment.ID, instance: instance, command: c.ID}
	c.Resent = o.sent[k]
	o.sent[k]++
	return c
}

// Report records a host's result for a command. A duplicate or late report is not an error: the
// first result received is the one kept, and the agent may stop resending.
func (o *Orchestrator) Report(ctx context.Context, instance, commandID string, status deploy.EventStatus, diag deploy.Diagnostics) error {
	dep, event, attempt, err := ParseCommandID(commandID)
	if err != nil {
		return err
	}
	if err := o.owns(ctx, dep, instance); err != nil {
		return err
	}
	_, err = o.Apply(ctx, dep, deploy.EventReported{Instance: instance, Event: event, Attempt: attempt, Status: status, Diagnostics: diag})
	o.mu.Lock()
	delete(o.sent, sentKey{deployment: dep, instance: instance, command: commandID})
	o.mu.Unlock()
	if ignorable(err) {
		return nil
	}
	return err
}

// Heartbeat renews a command's lease. It returns deploy.ErrStale (or ErrFinished) when the command
// is no longer wanted, so the agent can stop working on it.
func (o *Orchestrator) Heartbeat(ctx context.Context, instance, commandID string) error {
	dep, event, attempt, err := ParseCommandID(commandID)
	if err != nil {
		return err
	}
	if err := o.owns(ctx, dep, instance); err != nil {
		return err
	}
	_, err = o.Apply(ctx, dep, deploy.Heartbeat{Instance: instance, Event: event, Attempt: attempt})
	return err
}

// owns checks that the deployment targets the instance, so one host cannot report for another.
func (o *Orchestrator) owns(ctx context.Context, deployment, instance string) error {
	d, _, err := o.Get(ctx, deployment)
	if err != nil {
		return fmt.Errorf("deployment %s: %w", deployment, ErrNotFound)
	}
	for _, t := range d.Targets {
		if t.Instance == instance {
			return nil
		}
	}
	return fmt.Errorf("deployment %s does not target %s: %w", deployment, instance, ErrNotFound)
}

// TargetedBy reports whether deployment id is running and targets instance: a host may ask for
// the bundle of a command only through a deployment that includes it.
func (o *Orchestrator) TargetedBy(id, instance string) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	e, ok := o.active[id]
	if !ok {
		return false
	}
	for _, t := range e.d.Targets {
		if t.Instance == instance {
			return true
		}
	}
	return false
}

// Targets reports whether an active deployment of revision targets instance: only such a host
// may download the revision.
func (o *Orchestrator) Targets(instance, revision string) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, e := range o.active {
		if e.d.Revision != revision {
			continue
		}
		for _, t := range e.d.Targets {
			if t.Instance == instance {
				return true
			}
		}
	}
	return false
}
