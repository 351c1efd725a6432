package lifecycle

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/slipway-deploy/slipway/internal/script"
)

// Marker records that an event has started and not yet finished. It is written before the event
// runs and removed after its result is known, so a marker found at start-up is an event that an
// agent crash or restart interrupted: it is reported as failed (FailedAfterRestart) instead of
// leaving the server to wait for a result that will never come.
type Marker struct {
	DeploymentID string    `json:"deployment_id"`
	GroupID      string    `json:"group_id"`
	Event        string    `json:"event"`
	Started      time.Time `json:"started"`
	// Command identifies the server's host command, when there is one.
	Command string `json:"command,omitempty"`
	// Group is the process group of the event's script that was last started, so that the agent,
	// started again, can end a script its crash left running (see Host.EndInterrupted).
	Group *script.Group `json:"process_group,omitempty"`
}

const markerSuffix = ".json"

// UnknownEvent stands for the event of a marker that could not be read.
const UnknownEvent = "(unknown event: unreadable crash marker)"

func (r Root) markerPath(deploymentID string) string {
	return filepath.Join(r.ongoingDir(), deploymentID+markerSuffix)
}

// mark records m before its event runs.
//
// The marker is not fsynced: it must outlive the agent process (a crash, an OOM kill, a
// restart), which the page cache guarantees, not a power cut, after which the server's lease on
// the event runs out anyway. Two fsyncs per event were most of the cost of a lifecycle of no-op
// hooks (see bench/README.md). After a power cut a marker may therefore be empty or torn;
// Interrupted still reports it.
func (r Root) mark(m Marker) error {
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	return writeFile(r.markerPath(m.DeploymentID), b, false)
}

// unmark removes the marker of a deployment once its event's result is known.
func (r Root) unmark(deploymentID string) error {
	err := os.Remove(r.markerPath(deploymentID))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove crash marker: %w", err)
	}
	return nil
}

// Interrupted lists the events that were running when the agent last stopped, oldest first.
// The caller reports each as failed and then calls Forget.
func (r Root) Interrupted() ([]Marker, error) {
	entries, err := os.ReadDir(r.ongoingDir())
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read crash markers: %w", err)
	}
	var out []Marker
	for _, e := range entries {
		name := e.Name()
		if !strings.HasSuffix(name, markerSuffix) || strings.HasPrefix(name, ".") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(r.ongoingDir(), name))
		if err != nil {
			return nil, fmt.Errorf("read crash marker %s: %w", name, err)
		}
		var m Marker
		if err := json.Unmarshal(b, &m); err != nil {
			// Markers are not fsynced, so a power cut can leave one empty: its deployment is
			// still known from the name, and refusing to start would block every deployment.
			m = Marker{DeploymentID: strings.TrimSuffix(name, markerSuffix), Event: UnknownEvent}
			if info, err := e.Info(); err == nil {
				m.Started = info.ModTime().UTC()
			}
		}
		out = append(out, m)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Started.Before(out[j].Started) })
	return out, nil
}

// ProcessGroup names the process group m records, or says it has none (the script is then found
// by its environment, see EndInterrupted).
func (m Marker) ProcessGroup() string {
	if m.Group == nil {
		return "not recorded"
	}
	return strconv.Itoa(m.Group.ID)
}

// EndInterrupted ends the script an interrupted event left running, before the event is reported
// as failed: otherwise it would go on while the next deployment's hooks run on this host. The
// process group m records gets SIGTERM, then SIGKILL after the grace, but only while it is still
// the script that was started (see script.End). It returns script.NotRunning when there was
// nothing to end.
//
// A marker without a process group belongs to an agent killed between starting the script and
// recording its group, or before any script started: the script, if there is one, is found by the
// DEPLOYMENT_ID and LIFECYCLE_EVENT it was given.
func (h *Host) EndInterrupted(ctx context.Context, m Marker) (script.Ending, error) {
	var groups []script.Group
	if m.Group != nil {
		groups = append(groups, *m.Group)
	} else if m.DeploymentID != "" && m.Event != "" {
		found, err := script.LeadersWithEnv("DEPLOYMENT_ID="+m.DeploymentID, "LIFECYCLE_EVENT="+m.Event)
		if err != nil {
			return script.NotRunning, fmt.Errorf("look for the script of interrupted %s of deployment %s: %w", m.Event, m.DeploymentID, err)
		}
		groups = found
	}
	grace := h.KillGrace
	if grace <= 0 {
		grace = script.DefaultKillGrace
	}
	ending := script.NotRunning
	for _, g := range groups {
		end, err := script.End(ctx, g, grace)
		if err != nil {
			return end, fmt.Errorf("end the script of interrupted %s of deployment %s (process group %d): %w", m.Event, m.DeploymentID, g.ID, err)
		}
		ending = max(ending, end)
	}
	return ending, nil
}

// Done removes the marker of a deployment's event once its result is recorded (see
// Host.KeepMarkers).
func (r Root) Done(deploymentID string) error { return r.unmark(deploymentID) }

// Forget removes the marker of an interrupted event after it has been reported.
func (r Root) Forget(m Marker) error { return r.unmark(m.DeploymentID) }
