package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/slipway-deploy/slipway/internal/api"
)

const groupFlagsUsage = `
Instances are chosen by tag, as in CodeDeploy: all --tag filters form one tag group, and an
instance matches the group when it matches any of them; each --tag-group adds another tag group
(comma-separated filters) that must match too. A filter is KEY=VALUE (key and value), KEY= (the
key with any value) or =VALUE (any key with that value).

--github-repo and --github-repo-id link the group to the repository whose webhooks and Actions
OIDC tokens may deploy it (the numeric id is what is checked: find it with
gh api repos/OWNER/NAME --jq .id); --allowed-ref limits the refs a workflow may deploy from
(e.g. refs/heads/main, refs/tags/v*).

Traffic (see docs/bluegreen.md): --router-address and --router-backend name the HAProxy stats
socket (level admin) and backend the group's instances serve in; each instance is the server
--router-server-name names ({name} and {id} stand for the instance's name and id). In place,
each host is then drained before its lifecycle and readied after it. --deployment-type
blue-green deploys to a replacement fleet, moves traffic to it in the --traffic shape
(all-at-once, canary:PERCENT:INTERVAL, linear:PERCENT:INTERVAL, a CodeDeployDefault.* preset,
or a YAML file of steps with --traffic-file), then drains the fleet that served. The --tag
filters select the fleet serving now and the --replacement-tag filters the replacement fleet;
--tag-group groups select both (--tag fleet=blue --tag-group app=shop --replacement-tag
fleet=green deploys to hosts tagged fleet=green and app=shop). After a success the --tag and
--replacement-tag filters swap. --ready-wait makes a deployment wait for
'slipway deployment continue' once the replacements are installed; --release-command names one
of the server's release_commands to run on the original instances after --release-wait.

--alarms-file reads the group's alarm_configuration (YAML or JSON; see docs/alarms.md).

--upload direct has 'slipway deploy' and the Action upload the group's bundles straight to the
server's S3 bundle bucket through presigned URLs, so no bundle byte passes through the server
(the server's bundle_store must be s3; see docs/s3.md); --upload server (the default) sends
them through the server.
` + groupAWSUsage

const groupCreateUsage = `usage: slipway group create APP GROUP --tag K=V ... [--tag-group K=V,K2=V2 ...]
       [--config NAME] [--auto-rollback] [--ignore-stop-failures] [--reject-when-busy]
       [--environment ENV] [--github-repo OWNER/NAME --github-repo-id ID [--allowed-ref PATTERN ...]
        [--environment-url URL]]
       [--router-address ADDR --router-backend NAME [--router-server-name TEMPLATE]]
       [--deployment-type blue-green --replacement-tag K=V ... --traffic SHAPE|--traffic-file FILE
        [--ready-wait D] [--release-command NAME [--release-wait D]]]
       [--alarms-file FILE] [--upload server|direct]
   or: slipway group create APP GROUP [--aws-region R] [--aws-profile P] [--aws-endpoint URL]
       [--aws-endpoint-for SERVICE=URL ...] [--traffic SHAPE|--traffic-file FILE] [--hook-timeout D]
       [--ecs-cluster C --ecs-service S --ecs-target-groups ARN,ARN --ecs-production-listener ARN
        [--ecs-test-listener ARN] [--ecs-termination-wait D]] [--alarms-file FILE] [--upload server|direct]

Creates a deployment group of application APP (the second form for lambda and ecs applications).
` + groupFlagsUsage

const groupUpdateUsage = `usage: slipway group update APP GROUP [the flags of group create] [--no-router] [--no-alarms]

Changes the settings the flags name and keeps the others. --tag or --tag-group replace all the
tag groups, --replacement-tag the replacement fleet's own filters. Turn a bool
setting off with --flag=false. --deployment-type in-place drops the blue/green settings.
` + groupFlagsUsage

const groupGetUsage = `usage: slipway group get APP GROUP [--json]

Shows a deployment group: the instances it selects, its settings, its current revision and the
deployments running or queued in it. --json prints it as the server sends it.
`

const groupListUsage = `usage: slipway group list APP [--json]

Lists an application's deployment groups.
`

// groupFlags are the settings group create and group update take.
type groupFlags struct {
	tags, tagGroups, allowedRefs, replTags listFlag

	config, env, repo, envURL                          *string
	repoID                                             *int64
	autoRollback, ignoreStop, reject                   *bool
	deploymentType                                     *string
	routerType, routerAddress, routerBackend, template *string
	noRouter                                           *bool
	shape, shapeFile, releaseCommand                   *string
	readyWait, releaseWait                             *time.Duration
	alarmsFile                                         *string
	noAlarms                                           *bool
	upload                                             *string
	aws                                                *awsFlags
}

func addGroupFlags(fs *flag.FlagSet) *groupFlags {
	f := &groupFlags{}
	fs.Var(&f.tags, "tag", "tag filter `K=V` of the first tag group (repeatable)")
	fs.Var(&f.tagGroups, "tag-group", "another tag group, `K=V,K2=V2`, that must match as well (repeatable)")
	f.config = fs.String("config", "", "deployment config `NAME` (empty: the server's default)")
	f.autoRollback = fs.Bool("auto-rollback", false, "redeploy the last good revision when a deployment fails")
	f.ignoreStop = fs.Bool("ignore-stop-failures", false, "let deployments continue past failed ApplicationStop, BeforeBlockTraffic and AfterBlockTraffic scripts")
	f.reject = fs.Bool("reject-when-busy", false, "refuse a deployment while another runs, instead of queueing it")
	f.env = fs.String("environment", "", "GitHub environment `ENV` the group reports to")
	f.repo = fs.String("github-repo", "", "GitHub repository `OWNER/NAME` allowed to deploy the group")
	f.repoID = fs.Int64("github-repo-id", 0, "that repository's numeric `ID`")
	f.envURL = fs.String("environment-url", "", "`URL` of the deployed environment, shown on GitHub's deployments (needs --github-repo)")
	fs.Var(&f.allowedRefs, "allowed-ref", "ref `PATTERN` a workflow may deploy from (repeatable; default any)")
	f.deploymentType = fs.String("deployment-type", "", "in-place (the default) or blue-green")
	f.routerType = fs.String("router", "haproxy", "traffic router `TYPE`")
	f.routerAddress = fs.String("router-address", "", "the router's API: HAProxy's stats socket `PATH` (level admin), or tcp:HOST:PORT")
	f.routerBackend = fs.String("router-backend", "", "the router's backend `NAME` the group's instances serve in")
	f.template = fs.String("router-server-name", "", "an instance's server `TEMPLATE` in the backend ({name}, {id}; default {name})")
	f.noRouter = fs.Bool("no-router", false, "group update: remove the traffic router")
	fs.Var(&f.replTags, "replacement-tag", "blue/green: tag filter `K=V` of the replacement fleet, in place of the --tag ones (repeatable)")
	f.shape = fs.String("traffic", "", "blue/green: traffic `SHAPE`: all-at-once, canary:PERCENT:INTERVAL, linear:PERCENT:INTERVAL or a CodeDeployDefault.* preset")
	f.shapeFile = fs.String("traffic-file", "", "blue/green: YAML or JSON `FILE` of the traffic shape (for step lists)")
	f.readyWait = fs.Duration("ready-wait", 0, "blue/green: wait up to `D` for 'deployment continue' once the replacements are installed (0: go on at once)")
	f.releaseCommand = fs.String("release-command", "", "blue/green: the server's release command `NAME` to run on the original instances")
	f.releaseWait = fs.Duration("release-wait", 0, "blue/green: wait `D` after traffic has moved before the release command")
	f.alarmsFile = fs.String("alarms-file", "", "YAML or JSON `FILE` of the group's alarm_configuration")
	f.noAlarms = fs.Bool("no-alarms", false, "group update: remove the group's alarms")
	f.upload = fs.String("upload", "", "how clients send bundles: `server` (the default) or direct (to the S3 bundle bucket)")
	f.aws = addAWSFlags(fs)
	return f
}

// apply sets in g the settings whose flags were given (set, by flag name); function says g is
// a group of a lambda or ecs application.
func (f *groupFlags) apply(g *api.DeploymentGroup, set map[string]bool, function bool) error {
	given := func(names ...string) bool {
		for _, n := range names {
			if set[n] {
				return true
			}
		}
		return false
	}
	if err := f.applyCommon(g, set, given); err != nil {
		return err
	}
	if function {
		if given("tag", "tag-group", "deployment-type", "router", "router-address", "router-backend", "router-server-name", "no-router",
			"replacement-tag", "ready-wait", "release-command", "release-wait", "ignore-stop-failures") {
			return errors.New("a lambda or ecs group targets no instances: tags, routers, blue/green fleets and stop failures are for server groups")
		}
		shape, err := f.trafficShape(set)
		if err != nil {
			return err
		}
		return f.aws.apply(g, set, shape)
	}
	if f.aws.given(set) {
		return errors.New("--aws-*, --ecs-* and --hook-timeout are for groups of lambda and ecs applications (slipway app create NAME --platform lambda|ecs)")
	}
	if g.BlueGreen != nil {
		// The server derives the replacement fleet's tag set; what it sent is not a setting.
		g.BlueGreen.ReplacementFleet = nil
	}
	if given("tag", "tag-group") {
		groups, err := tagGroups(f.tags, f.tagGroups)
		if err != nil {
			return err
		}
		g.TagGroups = groups
	}
	if set["ignore-stop-failures"] {
		g.IgnoreApplicationStopFailures = *f.ignoreStop
	}
	if set["deployment-type"] {
		switch strings.ToUpper(strings.ReplaceAll(*f.deploymentType, "-", "_")) {
		case "IN_PLACE":
			g.DeploymentType, g.BlueGreen = "", nil
		case "BLUE_GREEN":
			g.DeploymentType = "BLUE_GREEN"
		default:
			return fmt.Errorf("--deployment-type %q: want in-place or blue-green", *f.deploymentType)
		}
	}
	if given("tag", "tag-group") && !set["tag"] && g.DeploymentType == "BLUE_GREEN" {
		return errors.New("--tag-group without --tag: in a blue-green group the --tag filters select the fleet serving now and the --tag-group ones both fleets; give the serving fleet's filters with --tag")
	}
	if err := f.applyRouter(g, set); err != nil {
		return err
	}
	return f.applyBlueGreen(g, set, given)
}

// applyCommon sets what groups of every platform have: config, rollback, busy policy, GitHub
// environment and link, upload, alarms.
func (f *groupFlags) applyCommon(g *api.DeploymentGroup, set map[string]bool, given func(...string) bool) error {
	if set["config"] {
		g.DeploymentConfig = *f.config
	}
	if set["auto-rollback"] {
		g.AutoRollback.OnFailure = *f.autoRollback
	}
	if set["reject-when-busy"] {
		g.OnBusy = map[bool]string{true: "reject", false: "queue"}[*f.reject]
	}
	if set["environment"] {
		g.Environment = *f.env
	}
	if set["upload"] {
		if *f.upload != api.UploadServer && *f.upload != api.UploadDirect {
			return fmt.Errorf("--upload %q: want server or direct", *f.upload)
		}
		g.Upload = *f.upload
	}
	if given("github-repo", "github-repo-id", "allowed-ref", "environment-url") {
		if *f.repo == "" || *f.repoID <= 0 {
			return errors.New("give --github-repo OWNER/NAME and --github-repo-id ID together")
		}
		g.GitHub = &api.GitHubLink{Repository: *f.repo, RepositoryID: *f.repoID, AllowedRefs: f.allowedRefs, EnvironmentURL: *f.envURL}
	}
	switch {
	case set["no-alarms"] && set["alarms-file"]:
		return errors.New("give --alarms-file or --no-alarms, not both")
	case set["no-alarms"]:
		g.AlarmConfiguration = nil
	case set["alarms-file"]:
		var a api.AlarmConfiguration
		if err := readYAMLAsJSON(*f.alarmsFile, "alarm_configuration", &a); err != nil {
			return fmt.Errorf("--alarms-file: %w", err)
		}
		g.AlarmConfiguration = &a
	}
	return nil
}

// trafficShape is the shape --traffic or --traffic-file gives, or nil.
func (f *groupFlags) trafficShape(set map[string]bool) (*api.TrafficShape, error) {
	switch {
	case set["traffic"] && set["traffic-file"]:
		return nil, errors.New("give --traffic or --traffic-file, not both")
	case set["traffic"]:
		shape, err := parseTrafficShape(*f.shape)
		return &shape, err
	case set["traffic-file"]:
		var shape api.TrafficShape
		if err := readYAMLAsJSON(*f.shapeFile, "traffic", &shape); err != nil {
			return nil, fmt.Errorf("--traffic-file: %w", err)
		}
		return &shape, nil
	}
	return nil, nil
}

func (f *groupFlags) applyRouter(g *api.DeploymentGroup, set map[string]bool) error {
	router := set["router"] || set["router-address"] || set["router-backend"] || set["router-server-name"]
	if set["no-router"] {
		if router {
			return errors.New("give the router's flags or --no-router, not both")
		}
		g.TrafficRouter = nil
		return nil
	}
	if !router {
		return nil
	}
	r := api.TrafficRouter{}
	if g.TrafficRouter != nil {
		r = *g.TrafficRouter
	}
	if set["router"] || r.Type == "" {
		r.Type = *f.routerType
	}
	if set["router-address"] {
		r.Address = *f.routerAddress
	}
	if set["router-backend"] {
		r.Backend = *f.routerBackend
	}
	if set["router-server-name"] {
		r.ServerName = *f.template
	}
	g.TrafficRouter = &r
	return nil
}

func (f *groupFlags) applyBlueGreen(g *api.DeploymentGroup, set map[string]bool, given func(...string) bool) error {
	if !given("replacement-tag", "traffic", "traffic-file", "ready-wait", "release-command", "release-wait") {
		return nil
	}
	if g.DeploymentType != "BLUE_GREEN" {
		return errors.New("the replacement fleet, traffic shape, ready wait and release settings are for --deployment-type blue-green")
	}
	bg := api.BlueGreen{}
	if g.BlueGreen != nil {
		bg = *g.BlueGreen
	}
	if set["replacement-tag"] {
		filters, err := parseTagFilters(f.replTags)
		if err != nil {
			return fmt.Errorf("--replacement-tag %w", err)
		}
		bg.ReplacementTags = filters
	}
	shape, err := f.trafficShape(set)
	if err != nil {
		return err
	}
	if shape != nil {
		bg.Traffic = *shape
	}
	if set["ready-wait"] {
		bg.ReadyWait = api.Duration(*f.readyWait)
	}
	if set["release-command"] {
		bg.ReleaseCommand = *f.releaseCommand
	}
	if set["release-wait"] {
		bg.ReleaseWait = api.Duration(*f.releaseWait)
	}
	g.BlueGreen = &bg
	return nil
}

// tagGroups builds tag groups from the --tag filters (the first group) and the --tag-group
// lists.
func tagGroups(first, more listFlag) ([][]api.TagFilter, error) {
	out := [][]api.TagFilter{}
	if len(first) > 0 {
		set, err := parseTagFilters(first)
		if err != nil {
			return nil, fmt.Errorf("--tag %w", err)
		}
		out = append(out, set)
	}
	for _, tg := range more {
		set, err := parseTagFilters(strings.Split(tg, ","))
		if err != nil {
			return nil, fmt.Errorf("--tag-group %w", err)
		}
		out = append(out, set)
	}
	return out, nil
}

// parseTrafficShape reads the short forms of a traffic shape.
func parseTrafficShape(s string) (api.TrafficShape, error) {
	bad := fmt.Errorf("--traffic %q: want all-at-once, canary:PERCENT:INTERVAL, linear:PERCENT:INTERVAL (e.g. linear:10:1m) or a CodeDeployDefault.* preset; put step lists in --traffic-file", s)
	switch {
	case s == "all-at-once":
		return api.TrafficShape{AllAtOnce: true}, nil
	case strings.HasPrefix(s, "CodeDeployDefault."):
		return api.TrafficShape{Preset: s}, nil
	}
	kind, rest, _ := strings.Cut(s, ":")
	p, interval, ok := strings.Cut(rest, ":")
	percent, err := strconv.Atoi(p)
	if !ok || err != nil || interval == "" {
		return api.TrafficShape{}, bad
	}
	inc := &api.TrafficIncrement{Percent: percent, Interval: interval}
	switch kind {
	case "canary":
		return api.TrafficShape{Canary: inc}, nil
	case "linear":
		return api.TrafficShape{Linear: inc}, nil
	}
	return api.TrafficShape{}, bad
}

// readYAMLAsJSON reads a YAML (or JSON) file into v by its JSON field names, which are the keys
// the docs show; a file whose only key is wrapper holds the value under it. Unknown keys are
// errors, so a misspelt one is not silently dropped.
func readYAMLAsJSON(path, wrapper string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var doc any
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if m, ok := doc.(map[string]any); ok && len(m) == 1 && m[wrapper] != nil {
		doc = m[wrapper]
	}
	j, err := json.Marshal(doc)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	dec := json.NewDecoder(strings.NewReader(string(j)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// visited lists the flags given on the command line.
func visited(fs *flag.FlagSet) map[string]bool {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	return set
}

func (c *cli) groupCreate(ctx context.Context, args []string) error {
	cmd := c.command("group create", groupCreateUsage)
	f := addGroupFlags(cmd.fs)
	pos, err := cmd.args(args, "APP", "GROUP")
	if err != nil {
		return flagsDone(err)
	}
	set := visited(cmd.fs)
	if set["no-router"] || set["no-alarms"] {
		return usageError{"group create: --no-router and --no-alarms are for group update"}
	}
	g := api.DeploymentGroup{Application: pos[0], Name: pos[1], TagGroups: [][]api.TagFilter{}}
	// A group without tags can only be a lambda or ecs group; the server holds it to its
	// application's platform.
	function := f.aws.given(set) || !set["tag"] && !set["tag-group"]
	if err := f.apply(&g, set, function); err != nil {
		return usageError{"group create: " + err.Error()}
	}
	client, err := cmd.client()
	if err != nil {
		return err
	}
	out, err := client.CreateGroup(ctx, g)
	if err != nil {
		return serverError(err)
	}
	fmt.Fprintf(c.stdout, "created deployment group %s/%s\n", out.Application, out.Name)
	return nil
}

func (c *cli) groupUpdate(ctx context.Context, args []string) error {
	cmd := c.command("group update", groupUpdateUsage)
	f := addGroupFlags(cmd.fs)
	pos, client, err := cmd.argsAndClient(args, "APP", "GROUP")
	if err != nil {
		return flagsDone(err)
	}
	g, err := client.GetGroup(ctx, pos[0], pos[1])
	if err != nil {
		return serverError(err)
	}
	function := g.AWS != nil || g.ECS != nil || g.Traffic != nil
	if err := f.apply(&g, visited(cmd.fs), function); err != nil {
		return usageError{"group update: " + err.Error()}
	}
	out, err := client.UpdateGroup(ctx, g)
	if err != nil {
		return serverError(err)
	}
	fmt.Fprintf(c.stdout, "updated deployment group %s/%s\n", out.Application, out.Name)
	return nil
}

func (c *cli) groupGet(ctx context.Context, args []string) error {
	cmd := c.command("group get", groupGetUsage)
	asJSON := cmd.fs.Bool("json", false, "print JSON")
	pos, client, err := cmd.argsAndClient(args, "APP", "GROUP")
	if err != nil {
		return flagsDone(err)
	}
	g, err := client.GetGroup(ctx, pos[0], pos[1])
	if err != nil {
		return serverError(err)
	}
	if *asJSON {
		return writeIndentedJSON(c.stdout, g)
	}
	return writeGroup(c.stdout, g)
}

func (c *cli) groupList(ctx context.Context, args []string) error {
	cmd := c.command("group list", groupListUsage)
	asJSON := cmd.fs.Bool("json", false, "print JSON")
	pos, client, err := cmd.argsAndClient(args, "APP")
	if err != nil {
		return flagsDone(err)
	}
	groups, err := client.ListGroups(ctx, pos[0])
	if err != nil {
		return serverError(err)
	}
	if *asJSON {
		return writeJSONList(c.stdout, groups)
	}
	tw := tabwriter.NewWriter(c.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tTYPE\tCONFIG\tINSTANCES\tREVISION\tACTIVE")
	for _, g := range groups {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", g.Name, groupType(g), orDash(g.DeploymentConfig),
			formatTagGroups(g.TagGroups), shortDigest(g.CurrentRevision), orDash(g.ActiveDeployment))
	}
	return tw.Flush()
}

func groupType(g api.DeploymentGroup) string {
	if g.DeploymentType == "BLUE_GREEN" {
		return "blue/green"
	}
	return "in place"
}

// writeGroup is the human view of a deployment group.
func writeGroup(w io.Writer, g api.DeploymentGroup) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := func(k, v string) {
		if v != "" {
			fmt.Fprintf(tw, "%s\t%s\n", k, v)
		}
	}
	row("Group", g.Application+"/"+g.Name)
	row("Type", groupType(g))
	row("Instances", formatTagGroups(g.TagGroups))
	row("Config", g.DeploymentConfig)
	row("Auto rollback", formatAutoRollback(g.AutoRollback))
	if g.IgnoreApplicationStopFailures {
		row("Stop failures", "ignored (ApplicationStop, BeforeBlockTraffic, AfterBlockTraffic)")
	}
	busy := "queue new deployments"
	if g.OnBusy == "reject" {
		busy = "reject new deployments"
	}
	row("While busy", busy)
	if g.Upload == api.UploadDirect {
		row("Upload", "direct: clients PUT bundles straight to the S3 bundle bucket")
	}
	row("Environment", g.Environment)
	if gh := g.GitHub; gh != nil {
		s := fmt.Sprintf("%s (id %d)", gh.Repository, gh.RepositoryID)
		if len(gh.AllowedRefs) > 0 {
			s += ", refs " + strings.Join(gh.AllowedRefs, " ")
		}
		row("GitHub", s)
		row("Environment URL", gh.EnvironmentURL)
	}
	if r := g.TrafficRouter; r != nil {
		row("Router", fmt.Sprintf("%s %s, backend %s, servers %s", r.Type, r.Address, r.Backend, cmp.Or(r.ServerName, "{name}")))
	}
	if bg := g.BlueGreen; bg != nil {
		row("Replacements", formatTagGroups(bg.ReplacementFleet))
		row("Traffic", formatShape(bg.Traffic))
		if bg.ReadyWait > 0 {
			row("Ready wait", time.Duration(bg.ReadyWait).String())
		}
		if bg.ReleaseCommand != "" {
			row("Release", fmt.Sprintf("%s after %s", bg.ReleaseCommand, time.Duration(bg.ReleaseWait)))
		}
	}
	if a := g.AlarmConfiguration; a != nil && len(a.Alarms) > 0 {
		names := make([]string, len(a.Alarms))
		for i, al := range a.Alarms {
			names[i] = al.Name
		}
		row("Alarms", strings.Join(names, ", "))
	}
	row("Revision", cmp.Or(g.CurrentRevision, "none deployed yet"))
	row("Last success", g.LastSuccessfulDeployment)
	row("Active", g.ActiveDeployment)
	row("Queued", strings.Join(g.QueuedDeployments, ", "))
	row("Created", formatTime(g.CreateTime))
	return tw.Flush()
}

// formatTagGroups says which instances tag groups select: any filter of a tag group, and every
// tag group.
func formatTagGroups(groups [][]api.TagFilter) string {
	if len(groups) == 0 {
		return "-"
	}
	parts := make([]string, len(groups))
	for i, tg := range groups {
		fs := make([]string, len(tg))
		for j, f := range tg {
			fs[j] = f.Key + "=" + f.Value
		}
		parts[i] = strings.Join(fs, " or ")
		if len(groups) > 1 && len(tg) > 1 {
			parts[i] = "(" + parts[i] + ")"
		}
	}
	return strings.Join(parts, " and ")
}

func formatAutoRollback(a api.AutoRollback) string {
	var on []string
	if a.OnFailure {
		on = append(on, "on failure")
	}
	if a.OnAlarm {
		on = append(on, "on alarm")
	}
	if a.OnStopRequested {
		on = append(on, "on stop")
	}
	if len(on) == 0 {
		return "off"
	}
	return strings.Join(on, ", ")
}

// formatShape names a traffic shape in the short forms --traffic takes.
func formatShape(s api.TrafficShape) string {
	switch {
	case s.Preset != "":
		return s.Preset
	case s.AllAtOnce:
		return "all-at-once"
	case s.Canary != nil:
		return fmt.Sprintf("canary:%d:%s", s.Canary.Percent, s.Canary.Interval)
	case s.Linear != nil:
		return fmt.Sprintf("linear:%d:%s", s.Linear.Percent, s.Linear.Interval)
	case len(s.Steps) > 0:
		return fmt.Sprintf("%d steps", len(s.Steps))
	}
	return "-"
}
