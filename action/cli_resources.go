package main

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/slipway-deploy/slipway/internal/api"
)

// Tag filter types, as CodeDeploy names them.
const (
	tagKeyAndValue = "KEY_AND_VALUE"
	tagKeyOnly     = "KEY_ONLY"
	tagValueOnly   = "VALUE_ONLY"
)

const appCreateUsage = `usage: slipway app create NAME [--platform server|lambda|ecs]

Creates an application. The platform defaults to server (hosts running slipway-agent).
`

func (c *cli) appCreate(ctx context.Context, args []string) error {
	cmd := c.command("app create", appCreateUsage)
	platform := cmd.fs.String("platform", "server", "compute platform: server, lambda or ecs")
	pos, err := cmd.args(args, "NAME")
	if err != nil {
		return flagsDone(err)
	}
	switch *platform {
	case "server", "lambda", "ecs":
	default:
		return usageError{fmt.Sprintf("app create: unknown platform %q (want server, lambda or ecs)", *platform)}
	}
	client, err := cmd.client()
	if err != nil {
		return err
	}
	app, err := client.CreateApplication(ctx, api.Application{Name: pos[0], ComputePlatform: *platform})
	if err != nil {
		return serverError(err)
	}
	fmt.Fprintf(c.stdout, "created application %s (%s)\n", app.Name, app.ComputePlatform)
	return nil
}

func parseTagFilters(specs []string) ([]api.TagFilter, error) {
	set := make([]api.TagFilter, 0, len(specs))
	for _, s := range specs {
		f, err := parseTagFilter(s)
		if err != nil {
			return nil, err
		}
		set = append(set, f)
	}
	return set, nil
}

// parseTagFilter reads KEY=VALUE, KEY= (KEY_ONLY) or =VALUE (VALUE_ONLY).
func parseTagFilter(s string) (api.TagFilter, error) {
	k, v, ok := strings.Cut(s, "=")
	switch {
	case !ok || (k == "" && v == ""):
		return api.TagFilter{}, fmt.Errorf("%q: want KEY=VALUE, KEY= (any value) or =VALUE (any key)", s)
	case v == "":
		return api.TagFilter{Key: k, Type: tagKeyOnly}, nil
	case k == "":
		return api.TagFilter{Value: v, Type: tagValueOnly}, nil
	}
	return api.TagFilter{Key: k, Value: v, Type: tagKeyAndValue}, nil
}

const configCreateUsage = `usage: slipway config create NAME --min-healthy HOST_COUNT:N|FLEET_PERCENT:P

Creates a deployment config: how many hosts must stay healthy while a deployment runs, as a
number of hosts or a percentage of the fleet (0-99, rounded up).
`

func (c *cli) configCreate(ctx context.Context, args []string) error {
	cmd := c.command("config create", configCreateUsage)
	minHealthy := cmd.fs.String("min-healthy", "", "minimum healthy hosts, `HOST_COUNT:N or FLEET_PERCENT:P`")
	pos, err := cmd.args(args, "NAME")
	if err != nil {
		return flagsDone(err)
	}
	if err := cmd.require("min-healthy"); err != nil {
		return err
	}
	mh, err := parseMinHealthy(*minHealthy)
	if err != nil {
		return usageError{"config create: --min-healthy " + err.Error()}
	}
	client, err := cmd.client()
	if err != nil {
		return err
	}
	out, err := client.CreateConfig(ctx, api.DeploymentConfig{Name: pos[0], MinimumHealthyHosts: mh})
	if err != nil {
		return serverError(err)
	}
	fmt.Fprintf(c.stdout, "created deployment config %s (%s)\n", out.Name, formatMinHealthy(out.MinimumHealthyHosts))
	return nil
}

// parseMinHealthy reads HOST_COUNT:N or FLEET_PERCENT:P; the type is case-insensitive.
func parseMinHealthy(s string) (api.MinimumHealthyHosts, error) {
	typ, val, ok := strings.Cut(s, ":")
	typ = strings.ToUpper(typ)
	n, err := strconv.Atoi(val)
	switch {
	case !ok || (typ != "HOST_COUNT" && typ != "FLEET_PERCENT"):
		return api.MinimumHealthyHosts{}, fmt.Errorf("%q: want HOST_COUNT:N or FLEET_PERCENT:P", s)
	case err != nil || n < 0:
		return api.MinimumHealthyHosts{}, fmt.Errorf("%q: %q is not a whole number of 0 or more", s, val)
	case typ == "FLEET_PERCENT" && n > 99:
		return api.MinimumHealthyHosts{}, fmt.Errorf("%q: a fleet percentage is 0 to 99", s)
	}
	return api.MinimumHealthyHosts{Type: typ, Value: n}, nil
}

// formatMinHealthy writes a minimum as config create reads it. CodeDeployDefault.OneAtATime is
// MOST_CONCURRENCY:1, a type config create refuses, so it is put in words instead.
func formatMinHealthy(m api.MinimumHealthyHosts) string {
	if m.Type == "MOST_CONCURRENCY" {
		return fmt.Sprintf("all hosts but %d (%d at a time)", m.Value, m.Value)
	}
	return m.Type + ":" + strconv.Itoa(m.Value)
}

const configListUsage = `usage: slipway config list [--json]

Lists deployment configs, the CodeDeployDefault presets included.
`

func (c *cli) configList(ctx context.Context, args []string) error {
	cmd := c.command("config list", configListUsage)
	asJSON := cmd.fs.Bool("json", false, "print JSON")
	if _, err := cmd.args(args); err != nil {
		return flagsDone(err)
	}
	client, err := cmd.client()
	if err != nil {
		return err
	}
	configs, err := client.ListConfigs(ctx)
	if err != nil {
		return serverError(err)
	}
	if *asJSON {
		return writeJSONList(c.stdout, configs)
	}
	tw := tabwriter.NewWriter(c.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tMINIMUM HEALTHY HOSTS\tPRESET")
	for _, cfg := range configs {
		preset := "no"
		if cfg.Preset {
			preset = "yes"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", cfg.Name, formatMinHealthy(cfg.MinimumHealthyHosts), preset)
	}
	return tw.Flush()
}

const instanceListUsage = `usage: slipway instance list [--json]

Lists the instances (hosts running slipway-agent): one line per deployment group an instance is
in, with its health and revision there, and when the server last heard from it. An instance is
in every group whose tags select it; until a deployment of the group reaches it, its health
there is Unknown and its revision "never deployed". GROUP is - for an instance no group selects.
`

func (c *cli) instanceList(ctx context.Context, args []string) error {
	cmd := c.command("instance list", instanceListUsage)
	asJSON := cmd.fs.Bool("json", false, "print JSON")
	if _, err := cmd.args(args); err != nil {
		return flagsDone(err)
	}
	client, err := cmd.client()
	if err != nil {
		return err
	}
	instances, err := client.ListInstances(ctx)
	if err != nil {
		return serverError(err)
	}
	if *asJSON {
		return writeJSONList(c.stdout, instances)
	}
	tw := tabwriter.NewWriter(c.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tTAGS\tGROUP\tHEALTH\tREVISION\tLAST SEEN")
	for _, in := range instances {
		seen := formatTimePtr(in.LastSeen)
		if in.Deregistered {
			seen = "deregistered"
		}
		if len(in.Groups) == 0 {
			fmt.Fprintf(tw, "%s\t%s\t-\t-\t-\t%s\n", in.Name, formatTags(in.Tags), seen)
			continue
		}
		for _, g := range in.Groups {
			revision := shortDigest(g.Revision)
			if g.Health == api.HealthUnknown && g.Revision == "" {
				revision = "never deployed"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s/%s\t%s\t%s\t%s\n", in.Name, formatTags(in.Tags),
				g.Application, g.Group, orDash(g.Health), revision, seen)
		}
	}
	return tw.Flush()
}

const instanceDeregisterUsage = `usage: slipway instance deregister NAME

Deregisters an instance, so that deployments no longer target it.
`

func (c *cli) instanceDeregister(ctx context.Context, args []string) error {
	cmd := c.command("instance deregister", instanceDeregisterUsage)
	pos, err := cmd.args(args, "NAME")
	if err != nil {
		return flagsDone(err)
	}
	client, err := cmd.client()
	if err != nil {
		return err
	}
	if err := client.DeregisterInstance(ctx, pos[0]); err != nil {
		return serverError(err)
	}
	fmt.Fprintf(c.stdout, "deregistered instance %s\n", pos[0])
	return nil
}

const instanceTagUsage = `usage: slipway instance tag NAME [--tag K=V]... [--remove KEY]...

Changes an instance's tags: --tag sets one (adding it or changing its value), --remove drops one;
the others stay. Deployment groups select hosts by tag, so this moves the host between groups:
deployments created from now on go by the new tags, and a group the host now joins installs its
current revision there, as for a host that just enrolled.

A host sets its tags when it enrolls; after that only this command (with the admin token) changes
them, unless the server runs with agent_tags: host. An agent started with other --tag flags keeps
the instance's tags and logs the command that would change them.
`

func (c *cli) instanceTag(ctx context.Context, args []string) error {
	cmd := c.command("instance tag", instanceTagUsage)
	var set, remove listFlag
	cmd.fs.Var(&set, "tag", "set tag `K=V` (repeatable)")
	cmd.fs.Var(&remove, "remove", "remove tag `KEY` (repeatable)")
	pos, err := cmd.args(args, "NAME")
	if err != nil {
		return flagsDone(err)
	}
	if len(set) == 0 && len(remove) == 0 {
		return usageError{"instance tag: give --tag K=V or --remove KEY at least once"}
	}
	change := map[string]string{}
	for _, s := range set {
		k, v, ok := strings.Cut(s, "=")
		if !ok || k == "" {
			return usageError{fmt.Sprintf("instance tag: --tag %q: want KEY=VALUE", s)}
		}
		if _, dup := change[k]; dup {
			return usageError{fmt.Sprintf("instance tag: tag %q is given twice", k)}
		}
		change[k] = v
	}
	for _, k := range remove {
		if _, both := change[k]; both {
			return usageError{fmt.Sprintf("instance tag: tag %q is both set and removed", k)}
		}
	}
	client, err := cmd.client()
	if err != nil {
		return err
	}
	instances, err := client.ListInstances(ctx)
	if err != nil {
		return serverError(err)
	}
	i := slices.IndexFunc(instances, func(in api.Instance) bool { return in.Name == pos[0] })
	if i < 0 {
		return fmt.Errorf("instance tag: no registered instance named %s (slipway instance list shows them)", pos[0])
	}
	tags := maps.Clone(instances[i].Tags)
	if tags == nil {
		tags = map[string]string{}
	}
	maps.Copy(tags, change)
	for _, k := range remove {
		delete(tags, k)
	}
	in, err := client.SetInstanceTags(ctx, pos[0], tags)
	if err != nil {
		return serverError(err)
	}
	fmt.Fprintf(c.stdout, "instance %s now has tags %s\n", in.Name, formatTags(in.Tags))
	return nil
}
