package orchestrator

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"

	"github.com/slipway-deploy/slipway/internal/deploy"
)

const (
	// DefaultReleaseTimeout bounds a release command.
	DefaultReleaseTimeout = 10 * time.Minute
	// releaseOutputTail is how much of a release command's output the deployment keeps.
	releaseOutputTail = 2 << 10
)

// release runs the group's release command on a blue/green deployment's original instances and
// reports its outcome. The command is named by the group but defined in the server's own
// configuration (ReleaseCommands): whoever holds an API token can pick one, never write one.
func (o *Orchestrator) release(ctx context.Context, r deploy.ReleaseOriginals) {
	ok, msg := o.runRelease(ctx, r)
	if ctx.Err() != nil {
		// Stopping: the deployment still waits for the command, which runs again at start.
		return
	}
	if !ok {
		o.log.Warn("release command failed", "deployment_id", r.Deployment, "command", r.Command, "error", msg)
	}
	if _, err := o.Apply(ctx, r.Deployment, deploy.OriginalsReleased{OK: ok, Message: msg}); err != nil && !ignorable(err) {
		o.log.Error("report release command", "deployment_id", r.Deployment, "error", err)
	}
}

func (o *Orchestrator) runRelease(ctx context.Context, r deploy.ReleaseOriginals) (bool, string) {
	argv, ok := o.ReleaseCommands[r.Command]
	if !ok || len(argv) == 0 {
		return false, fmt.Sprintf("the server has no release command %q; define it under release_commands in its configuration", r.Command)
	}
	timeout := o.ReleaseTimeout
	if timeout <= 0 {
		timeout = DefaultReleaseTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = append(releaseEnv(os.Environ()),
		"SLIPWAY_DEPLOYMENT_ID="+r.Deployment,
		"SLIPWAY_ORIGINAL_INSTANCES="+strings.Join(r.Instances, " "),
		"SLIPWAY_ORIGINAL_INSTANCE_IDS="+strings.Join(r.InstanceIDs, " "),
	)
	out := &tail{max: releaseOutputTail}
	cmd.Stdout, cmd.Stderr = out, out
	// A child that keeps the output open must not hold the deployment up after the command ends.
	cmd.WaitDelay = 5 * time.Second
	o.log.Info("release command started", "deployment_id", r.Deployment, "command", r.Command, "instances", len(r.Instances))
	err := cmd.Run()
	text := strings.TrimSpace(out.String())
	switch {
	case err == nil:
		return true, summarize("exit status 0", text)
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		return false, summarize(fmt.Sprintf("no end within %v", timeout), text)
	}
	return false, summarize(err.Error(), text)
}

func summarize(status, output string) string {
	if output == "" {
		return status
	}
	return status + ": " + output
}

// releaseEnv is the server's environment without its own SLIPWAY_ settings, which hold its
// tokens: a release command gets what it needs to reach a cloud API, not the server's secrets.
func releaseEnv(env []string) []string {
	out := make([]string, 0, len(env))
	for _, kv := range env {
		if !strings.HasPrefix(kv, "SLIPWAY_") {
			out = append(out, kv)
		}
	}
	return out
}

// tail keeps the last max bytes written to it.
type tail struct {
	mu  sync.Mutex
	max int
	buf bytes.Buffer
}

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf.Write(p)
	if extra := t.buf.Len() - t.max; extra > 0 {
		t.buf.Next(extra)
	}
	return len(p), nil
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.buf.String()
}
