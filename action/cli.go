package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/slipway-deploy/slipway/internal/api"
)

// The API commands of the slipway binary: app, group, config, deploy, deployment, rollback and
// instance. Each parses its own flags, talks to the server through api.Client and prints for
// humans (tabwriter tables) or, with --json, the api types as the server sent them.

// Environment variables that stand in for --server and --token, and name a private CA.
const (
	envServer = "SLIPWAY_SERVER"
	envToken  = "SLIPWAY_TOKEN"
	envCACert = "SLIPWAY_CA_CERT"
)

// cli carries what every API command needs; one is made per run.
type cli struct {
	getenv         func(string) string
	stdout, stderr io.Writer
}

// runAPICommand dispatches the API commands; args[0] is the command name.
func runAPICommand(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	c := &cli{getenv: getenv, stdout: stdout, stderr: stderr}
	switch args[0] {
	case "app":
		return c.dispatch(ctx, "app", args[1:], []subcommand{{"create", "create an application", c.appCreate}})
	case "group":
		return c.dispatch(ctx, "group", args[1:], []subcommand{
			{"create", "create a deployment group of an application", c.groupCreate},
			{"update", "change some of a deployment group's settings", c.groupUpdate},
			{"get", "show a deployment group's settings and where it stands", c.groupGet},
			{"list", "list an application's deployment groups", c.groupList},
		})
	case "config":
		return c.dispatch(ctx, "config", args[1:], []subcommand{
			{"create", "create a deployment config (minimum healthy hosts)", c.configCreate},
			{"list", "list deployment configs, the presets included", c.configList},
		})
	case "deploy":
		return c.deploy(ctx, args[1:])
	case "deployment":
		return c.dispatch(ctx, "deployment", args[1:], []subcommand{
			{"get", "show a deployment, its hosts' events and failures", c.deploymentGet},
			{"list", "list deployments, newest first", c.deploymentList},
			{"stop", "stop a deployment, optionally rolling it back", c.deploymentStop},
			{"wait", "follow a deployment to its end", c.deploymentWait},
			{"promote", "move a blue/green deployment's traffic shift on", c.deploymentAct(api.ActionPromote)},
			{"pause", "hold a blue/green deployment's traffic where it is", c.deploymentAct(api.ActionPause)},
			{"continue", "go on past a blue/green deployment's Ready or bake wait", c.deploymentAct(api.ActionContinue)},
			{"abort", "stop a deployment without rolling back", c.deploymentAct(api.ActionAbort)},
		})
	case "rollback":
		return c.rollback(ctx, args[1:])
	case "instance":
		return c.dispatch(ctx, "instance", args[1:], []subcommand{
			{"list", "list instances with their groups, health and revision", c.instanceList},
			{"tag", "change an instance's tags, and so its deployment groups", c.instanceTag},
			{"deregister", "take an instance out of every deployment", c.instanceDeregister},
		})
	}
	return usageError{fmt.Sprintf("unknown command %q; run 'slipway help'", args[0])}
}

type subcommand struct {
	name, summary string
	run           func(ctx context.Context, args []string) error
}

// isHelp reports whether arg asks for help rather than naming a subcommand.
func isHelp(arg string) bool {
	return arg == "-h" || arg == "--help" || arg == "-help" || arg == "help"
}

func (c *cli) dispatch(ctx context.Context, noun string, args []string, subs []subcommand) error {
	names := make([]string, len(subs))
	for i, s := range subs {
		names[i] = s.name
	}
	if len(args) > 0 && isHelp(args[0]) {
		fmt.Fprintf(c.stdout, "usage: slipway %s <subcommand> [arguments]\n\nsubcommands:\n", noun)
		tw := tabwriter.NewWriter(c.stdout, 0, 0, 3, ' ', 0)
		for _, s := range subs {
			fmt.Fprintf(tw, "  %s\t%s\n", s.name, s.summary)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		fmt.Fprintf(c.stdout, "\nAdd -h to a subcommand for its usage: slipway %s %s -h\n", noun, subs[0].name)
		return nil
	}
	if len(args) == 0 {
		return usageError{fmt.Sprintf("%s: missing subcommand (%s); add -h to one for its usage", noun, strings.Join(names, ", "))}
	}
	for _, s := range subs {
		if s.name == args[0] {
			return s.run(ctx, args[1:])
		}
	}
	return usageError{fmt.Sprintf("%s: unknown subcommand %q (want %s)", noun, args[0], strings.Join(names, ", "))}
}

// commonFlagsUsage is appended to every API command's usage.
const commonFlagsUsage = `
The server and token come from --server and --token, or from SLIPWAY_SERVER and SLIPWAY_TOKEN.
SLIPWAY_CA_CERT names a PEM file of CA certificates to trust for an https server.
`

// command is one API command's flag set plus the connection flags every API command takes.
type command struct {
	*cli
	fs     *flag.FlagSet
	server *string
	token  *string
}

func (c *cli) command(name, usage string) *command {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(c.stderr)
	fs.Usage = func() {
		fmt.Fprint(c.stderr, usage, commonFlagsUsage, "\nflags:\n")
		fs.PrintDefaults()
	}
	return &command{
		cli: c,
		fs:  fs,
		// Defaults stay empty, never the environment's values: PrintDefaults would show a token.
		server: fs.String("server", "", "server `URL` (default $"+envServer+")"),
		token:  fs.String("token", "", "bearer `TOKEN` for the API (default $"+envToken+")"),
	}
}

// errHelp is returned by parse after -h: the usage has been printed and the command succeeds.
var errHelp = errors.New("help shown")

// parse reads flags placed anywhere among the positionals (`group create APP GROUP --tag K=V`);
// everything after "--" is positional. The flag package has already printed any error.
func (c *command) parse(args []string) ([]string, error) {
	var pos []string
	for {
		if err := c.fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, errHelp
			}
			return nil, exitError{2}
		}
		rest := c.fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if n := len(args) - len(rest); n > 0 && args[n-1] == "--" {
			return append(pos, rest...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// flagsDone turns parse's error into the command's result.
func flagsDone(err error) error {
	if errors.Is(err, errHelp) {
		return nil
	}
	return err
}

// args parses and checks the number of positionals; names are their placeholders for messages.
func (c *command) args(args []string, names ...string) ([]string, error) {
	pos, err := c.parse(args)
	if err != nil {
		return nil, err
	}
	if len(pos) != len(names) {
		want := "no arguments"
		if len(names) > 0 {
			want = strings.Join(names, " ")
		}
		return nil, usageError{fmt.Sprintf("%s: want %s, got %d argument(s); run 'slipway %s -h'",
			c.fs.Name(), want, len(pos), c.fs.Name())}
	}
	return pos, nil
}

// require fails with a usage error naming the first flag left empty.
func (c *command) require(flags ...string) error {
	for _, name := range flags {
		if c.fs.Lookup(name).Value.String() == "" {
			return usageError{fmt.Sprintf("%s: --%s is required", c.fs.Name(), name)}
		}
	}
	return nil
}

// argsAndClient is args, then client: what most API commands start with.
func (c *command) argsAndClient(args []string, names ...string) ([]string, *api.Client, error) {
	pos, err := c.args(args, names...)
	if err != nil {
		return nil, nil, err
	}
	client, err := c.client()
	return pos, client, err
}

// client builds the API client from the flags or the environment.
func (c *command) client() (*api.Client, error) {
	server, token := *c.server, *c.token
	if server == "" {
		server = c.getenv(envServer)
	}
	if token == "" {
		token = c.getenv(envToken)
	}
	if server == "" {
		return nil, usageError{fmt.Sprintf("%s: no server: pass --server URL or set %s", c.fs.Name(), envServer)}
	}
	u, err := url.Parse(server)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, usageError{fmt.Sprintf("%s: server %q is not an http:// or https:// URL", c.fs.Name(), server)}
	}
	cl := api.NewClient(server, token)
	cl.UserAgent = "slipway/" + version
	if err := cl.WithCA(c.getenv(envCACert)); err != nil {
		return nil, fmt.Errorf("%s: %w", envCACert, err)
	}
	return cl, nil
}

// serverError adds a hint to the answers a user can fix on their side; the server's message is
// kept as is, so it prints as `slipway: <message>`.
func serverError(err error) error {
	if api.StatusOf(err) == http.StatusUnauthorized {
		return fmt.Errorf("%w (check --token or %s)", err, envToken)
	}
	return err
}

// listFlag is a flag that may be repeated; each use appends one value.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, " ") }

func (l *listFlag) Set(v string) error {
	*l = append(*l, v)
	return nil
}

func writeIndentedJSON(w io.Writer, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}

// writeJSONList prints a list as JSON, an empty one as [] rather than null.
func writeJSONList[T any](w io.Writer, list []T) error {
	if list == nil {
		list = []T{}
	}
	return writeIndentedJSON(w, list)
}

// formatTime prints times in UTC, so output does not depend on the machine's zone.
func formatTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

func formatTimePtr(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return formatTime(*t)
}

// shortDigest keeps enough of a sha256 to tell revisions apart in a table.
func shortDigest(d string) string {
	if len(d) > 12 {
		return d[:12]
	}
	if d == "" {
		return "-"
	}
	return d
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// formatTags prints tags sorted by key as k=v,k=v.
func formatTags(tags map[string]string) string {
	if len(tags) == 0 {
		return "-"
	}
	keys := make([]string, 0, len(tags))
	for k := range tags {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + tags[k]
	}
	return strings.Join(parts, ",")
}
