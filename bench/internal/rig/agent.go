package rig

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"github.com/slipway-deploy/slipway/internal/api"
)

// Agent is a slipway-agent process with its own deployment root and install prefix under a
// directory; its log is dir/agent.log.
type Agent struct {
	Name, Root, Prefix string
	cmd                *exec.Cmd
	done               chan struct{}
}

// StartAgent runs bin against srv as host name with tags (KEY=VALUE), its files under dir.
func StartAgent(bin string, srv *Server, dir, name string, tags ...string) (*Agent, error) {
	a := &Agent{Name: name, Root: filepath.Join(dir, "root"), Prefix: filepath.Join(dir, "prefix"), done: make(chan struct{})}
	for _, d := range []string{a.Root, a.Prefix} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
	}
	logFile, err := os.Create(filepath.Join(dir, "agent.log"))
	if err != nil {
		return nil, err
	}
	args := []string{"run", "--server", srv.URL, "--name", name, "--root", a.Root, "--install-prefix", a.Prefix}
	for _, t := range tags {
		args = append(args, "--tag", t)
	}
	a.cmd = exec.Command(bin, args...)
	a.cmd.Env = append(os.Environ(), "SLIPWAY_ENROLL_TOKEN="+srv.EnrollToken)
	a.cmd.Stdout, a.cmd.Stderr = logFile, logFile
	if err := a.cmd.Start(); err != nil {
		_ = logFile.Close()
		return nil, err
	}
	go func() {
		_ = a.cmd.Wait()
		_ = logFile.Close()
		close(a.done)
	}()
	return a, nil
}

// Pid is the agent's process id.
func (a *Agent) Pid() int { return a.cmd.Process.Pid }

// Stop ends the agent (SIGTERM, then SIGKILL after 10 s) and waits for it.
func (a *Agent) Stop() {
	_ = a.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-a.done:
	case <-time.After(10 * time.Second):
		_ = a.cmd.Process.Kill()
		<-a.done
	}
}

// WaitInstances waits until n agents have registered and are long-polling.
func WaitInstances(ctx context.Context, c *api.Client, n int, agents ...*Agent) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		list, err := c.ListInstances(ctx)
		seen := 0
		for _, in := range list {
			if in.LastSeen != nil {
				seen++
			}
		}
		if err == nil && seen >= n {
			return nil
		}
		for _, a := range agents {
			select {
			case <-a.done:
				return errors.New("slipway-agent " + a.Name + " exited; see its log in the work directory (-dir)")
			default:
			}
		}
		if time.Now().After(deadline) {
			if err != nil {
				return fmt.Errorf("%d agents did not connect within 30s: %w", n, err)
			}
			return fmt.Errorf("%d agents did not connect within 30s (%d did)", n, seen)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
