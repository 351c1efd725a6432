package rig

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/slipway-deploy/slipway/internal/api"
	"github.com/slipway-deploy/slipway/internal/bundle"
)

// ScriptableEvents are the nine server events a hook can be attached to, in lifecycle order.
var ScriptableEvents = []string{
	"BeforeBlockTraffic", "AfterBlockTraffic", "ApplicationStop", "BeforeInstall", "AfterInstall",
	"ApplicationStart", "ValidateService", "BeforeAllowTraffic", "AfterAllowTraffic",
}

// Trivial describes the trivial revision: one small file copied to FileDest (under the agent's
// install prefix) and, with hooks, one no-op script on each of the nine scriptable events.
type Trivial struct {
	Dir      string // the bundle's directory
	Script   string // path of the no-op script inside Dir
	File     string // path of the small file inside Dir
	FileDest string // the files section's destination directory
}

// TrivialContent is the copied file's content.
const TrivialContent = "slipway bench: a small file\n"

// WriteTrivial writes the trivial revision's tree into dir.
func WriteTrivial(dir string, hooks bool) (Trivial, error) {
	t := Trivial{Dir: dir, Script: filepath.Join(dir, "scripts", "noop.sh"), File: filepath.Join(dir, "site", "index.html"), FileDest: "/srv/bench"}
	var spec strings.Builder
	spec.WriteString("version: 0.0\nos: linux\nfiles:\n  - source: site/index.html\n    destination: " + t.FileDest + "\n")
	if hooks {
		spec.WriteString("hooks:\n")
		for _, e := range ScriptableEvents {
			fmt.Fprintf(&spec, "  %s:\n    - location: scripts/noop.sh\n      timeout: 60\n", e)
		}
	}
	for _, d := range []string{filepath.Dir(t.Script), filepath.Dir(t.File)} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return t, err
		}
	}
	for _, f := range []struct {
		path, body string
		mode       os.FileMode
	}{
		{filepath.Join(dir, "appspec.yml"), spec.String(), 0o644},
		{t.Script, "#!/bin/sh\nexit 0\n", 0o755},
		{t.File, TrivialContent, 0o644},
	} {
		if err := os.WriteFile(f.path, []byte(f.body), f.mode); err != nil {
			return t, err
		}
	}
	return t, nil
}

// Upload builds dir as a tgz bundle and uploads it to app; it returns the revision's digest.
func Upload(ctx context.Context, c *api.Client, app, dir string) (string, error) {
	var b bytes.Buffer
	digest, err := bundle.Build(ctx, &b, dir, bundle.FormatTgz, bundle.BuildOptions{})
	if err != nil {
		return "", err
	}
	rev, err := c.UploadRevision(ctx, app, &b, int64(b.Len()), digest, "")
	if err != nil {
		return "", fmt.Errorf("upload revision: %w", err)
	}
	return rev.Digest, nil
}

// CreateGroup creates app (if needed) and a group selecting instances tagged key=value.
func CreateGroup(ctx context.Context, c *api.Client, app, group, key, value, config string) error {
	if _, err := c.GetApplication(ctx, app); err != nil {
		if _, err := c.CreateApplication(ctx, api.Application{Name: app}); err != nil {
			return fmt.Errorf("create application: %w", err)
		}
	}
	_, err := c.CreateGroup(ctx, api.DeploymentGroup{
		Application: app, Name: group, DeploymentConfig: config,
		TagGroups: [][]api.TagFilter{{{Key: key, Value: value, Type: "KEY_AND_VALUE"}}},
	})
	if err != nil {
		return fmt.Errorf("create group: %w", err)
	}
	return nil
}

// WaitFinished polls the deployment list, filtered on the finished statuses so that a poll while
// the deployment runs costs the server one indexed query and an empty answer, until deployment
// id has finished. It returns the deployment, when the poll saw it finished, and how many polls
// it took.
func WaitFinished(ctx context.Context, c *api.Client, app, group, id string, every time.Duration) (api.Deployment, time.Time, int, error) {
	f := api.DeploymentFilter{Application: app, Group: group, Statuses: []string{"Succeeded", "Failed", "Stopped"}, Limit: 1}
	for polls := 1; ; polls++ {
		list, err := c.ListDeployments(ctx, f)
		seen := time.Now()
		if err != nil {
			return api.Deployment{}, seen, polls, err
		}
		if len(list) == 1 && list[0].ID == id {
			return list[0], seen, polls, nil
		}
		select {
		case <-ctx.Done():
			return api.Deployment{}, seen, polls, ctx.Err()
		case <-time.After(every):
		}
	}
}
