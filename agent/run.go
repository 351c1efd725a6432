package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/slipway-deploy/slipway/internal/agent"
	"github.com/slipway-deploy/slipway/internal/lifecycle"
)

const runUsage = `usage: slipway-agent run --server URL --root DIR [--enroll-token T] [--name NAME] [--tag K=V]... [flags]

Connects this host to a Slipway server and runs the lifecycle events it sends until stopped.
The first start enrolls with the enrollment token and saves the instance's own credential in
<root>/agent/credential; later starts use that and need no token. SLIPWAY_SERVER and
SLIPWAY_ENROLL_TOKEN stand in for --server and --enroll-token, which keeps the token out of ps.

The --tag flags are stored when the instance enrolls. After that only an administrator changes
them (slipway instance tag), unless the server runs with agent_tags: host: started with other
tags, the agent logs the server's refusal and serves on with the instance's tags.

flags:
`

// runAgent is `slipway-agent run`: the long-lived, server-driven agent.
func runAgent(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, runUsage); fs.PrintDefaults() }
	tags := tagFlag{}
	var (
		server   = fs.String("server", "", "the Slipway server's base `URL` (or SLIPWAY_SERVER)")
		token    = fs.String("enroll-token", "", "enrollment `token`, used only when no credential is saved (or SLIPWAY_ENROLL_TOKEN)")
		name     = fs.String("name", "", "this instance's `name` (default: the host name)")
		root     = fs.String("root", "", "the deployment root `dir`ectory (created if missing)")
		pollWait = fs.Duration("poll-wait", agent.DefaultPollWait, "how long one long poll for commands stays open")
		keep     = fs.Int("keep-revisions", lifecycle.DefaultKeepRevisions, "revisions of a group kept on disk")
		prefix   = fs.String("install-prefix", "", "root every files destination under this `dir`ectory (several agents on one machine); hooks see SLIPWAY_INSTALL_PREFIX")
		logLevel = fs.String("log-level", "info", "debug, info, warn or error")
		caFile   = fs.String("ca-cert", "", "PEM `file` of CA certificates to trust for an https server, besides the system's (or SLIPWAY_CA_CERT)")
	)
	fs.Var(tags, "tag", "a `K=V` tag deployment groups select this instance by; repeat for more")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return exitError{2}
	}
	usageErr := func(format string, a ...any) error {
		fmt.Fprintf(stderr, "slipway-agent run: "+format+"\n", a...)
		fs.Usage()
		return exitError{2}
	}
	if fs.NArg() > 0 {
		return usageErr("unexpected argument %q", fs.Arg(0))
	}
	if *server == "" {
		*server = getenv("SLIPWAY_SERVER")
	}
	if *token == "" {
		*token = getenv("SLIPWAY_ENROLL_TOKEN")
	}
	if *caFile == "" {
		*caFile = getenv("SLIPWAY_CA_CERT")
	}
	if *server == "" || *root == "" {
		return usageErr("--server (or SLIPWAY_SERVER) and --root are required")
	}
	if u, err := url.Parse(*server); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return usageErr("--server %q is not an http or https URL", *server)
	}
	if *pollWait <= 0 {
		return usageErr("--poll-wait must be positive")
	}
	if *keep < 1 {
		return usageErr("--keep-revisions must be at least 1")
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return usageErr("--log-level %q: want debug, info, warn or error", *logLevel)
	}
	if *name == "" {
		h, err := os.Hostname()
		if err != nil {
			return fmt.Errorf("--name not given and the host name is unknown: %w", err)
		}
		*name = h
	}
	rootDir, err := filepath.Abs(*root)
	if err != nil {
		return err
	}

	logger := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: level}))
	a, err := agent.New(agent.Config{
		Server:      *server,
		EnrollToken: *token,
		Name:        *name,
		Tags:        tags,
		Version:     version,
		Host: &lifecycle.Host{
			Root:          lifecycle.Root(rootDir),
			Env:           hookEnv(os.Environ()),
			KeepRevisions: *keep,
			InstallPrefix: *prefix,
			Logger:        logger,
		},
		PollWait: *pollWait,
		CAFile:   *caFile,
		Logger:   logger,
	})
	if err != nil {
		return usageErr("%v", err)
	}
	return a.Run(ctx)
}

// tagFlag collects repeated --tag K=V flags.
type tagFlag map[string]string

func (t tagFlag) String() string {
	keys := make([]string, 0, len(t))
	for k := range t {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for i, k := range keys {
		keys[i] = k + "=" + t[k]
	}
	return strings.Join(keys, ",")
}

func (t tagFlag) Set(s string) error {
	k, v, ok := strings.Cut(s, "=")
	if !ok || k == "" {
		return fmt.Errorf("want KEY=VALUE, got %q", s)
	}
	if _, dup := t[k]; dup {
		return fmt.Errorf("tag %q is given twice", k)
	}
	t[k] = v
	return nil
}
