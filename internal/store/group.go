package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"path"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/slipway-deploy/slipway/internal/alarm"
	"github.com/slipway-deploy/slipway/internal/awsconfig"
	"github.com/slipway-deploy/slipway/internal/awsecs"
	"github.com/slipway-deploy/slipway/internal/deploy"
	"github.com/slipway-deploy/slipway/internal/traffic"
)

// Group is a deployment group: which instances of an application a deployment targets and how.
type Group struct {
	Application string
	Name        string
	Tags        deploy.TagSet
	// ConfigName names a preset or a stored deployment config.
	ConfigName                    string
	AutoRollback                  deploy.AutoRollback
	IgnoreApplicationStopFailures bool
	// RefuseWhenBusy rejects a new deployment while one is active instead of queueing it.
	RefuseWhenBusy bool
	// Environment is the GitHub environment the group deploys to.
	Environment string
	// GitHub links the group to a repository; the zero value means not linked.
	GitHub GitHubLink
	// Type is how the group's deployments reach hosts: in place (the zero value) or blue/green.
	Type deploy.Type
	// Router is the group's traffic router; the zero value means none.
	Router deploy.Router
	// ReplacementTags is a blue/green group's replacement fleet's own tag group. Tags' first tag
	// group selects the fleet that serves and its other tag groups select both fleets (app=shop,
	// say): the replacement fleet is Tags with the first tag group replaced by these
	// (ReplacementFleet). A successful blue/green deployment swaps the first tag group and
	// these, so the next one goes to the other fleet and both keep the shared tag groups.
	ReplacementTags []deploy.TagFilter
	// BlueGreen is how a blue/green group moves traffic and what it does with the originals.
	BlueGreen deploy.BlueGreenOptions
	// Alarms are what the group's deployments watch while they run (none when empty).
	Alarms alarm.Config
	// AWS is a lambda or ecs group's AWS side; the zero value for a server group.
	AWS AWSGroup
	// DirectUpload has clients upload the group's bundles straight to the server's S3 bundle
	// bucket through upload slots, instead of through the server.
	DirectUpload bool

	// The fields below are the store's bookkeeping: CreateGroup and UpdateGroup ignore them, and
	// only SaveDeployment and CreateDeployment change them.

	// CurrentRevision is the revision of the last successful deployment, "" if none.
	CurrentRevision          string
	LastSuccessfulDeployment string
	Queue                    deploy.Queue
	// CreateTime is set by the store when zero.
	CreateTime time.Time
}

// ReplacementFleet is the tag set that selects a blue/green group's replacement fleet.
func (g Group) ReplacementFleet() deploy.TagSet {
	return g.Tags.WithFirst(g.ReplacementTags)
}

// swapFleets makes the replacement fleet the one that serves and the serving fleet the next
// replacement: only the fleets' own tag groups change places.
func (g *Group) swapFleets() {
	if len(g.Tags) == 0 {
		g.Tags, g.ReplacementTags = deploy.TagSet{g.ReplacementTags}, nil
		return
	}
	tags := slices.Clone(g.Tags)
	tags[0], g.ReplacementTags = g.ReplacementTags, g.Tags[0]
	g.Tags = tags
}

// GitHubLink names the repository allowed to deploy a group, from GitHub webhooks and from
// workflows presenting an Actions OIDC token. Repository IDs are matched, not names: a renamed
// or re-created repository must not inherit the right to deploy.
type GitHubLink struct {
	// Repository is "owner/name", for display and for API calls.
	Repository   string `json:"repository,omitempty"`
	RepositoryID int64  `json:"repository_id,omitempty"`
	// AllowedRefs are patterns (path.Match syntax, e.g. "refs/heads/main", "refs/tags/v*") a
	// workflow's ref must match; empty allows any ref.
	AllowedRefs []string `json:"allowed_refs,omitempty"`
	// EnvironmentURL is the deployed environment's address, reported as environment_url.
	EnvironmentURL string `json:"environment_url,omitempty"`
}

// Linked reports whether the group names a repository.
func (l GitHubLink) Linked() bool { return l.RepositoryID != 0 }

func (l GitHubLink) validate() error {
	if l.Repository != "" {
		owner, name, ok := strings.Cut(l.Repository, "/")
		if !ok || owner == "" || name == "" || strings.Contains(name, "/") {
			return fmt.Errorf("%w: github repository %q: give owner/name", ErrInvalid, l.Repository)
		}
	}
	if l.RepositoryID < 0 || (l.RepositoryID == 0) != (l.Repository == "") {
		return fmt.Errorf("%w: github: give both the repository (owner/name) and its numeric id, or neither", ErrInvalid)
	}
	if l.EnvironmentURL != "" {
		u, err := url.Parse(l.EnvironmentURL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return fmt.Errorf("%w: github environment url %q: give an absolute http(s) URL", ErrInvalid, l.EnvironmentURL)
		}
	}
	for _, p := range l.AllowedRefs {
		if _, err := path.Match(p, ""); err != nil || p == "" {
			return fmt.Errorf("%w: github allowed ref %q is not a valid pattern", ErrInvalid, p)
		}
	}
	return nil
}

// AWSGroup is where a lambda or ecs group's resources are and how its deployments move
// traffic to them.
type AWSGroup struct {
	// Config is the region, profile and endpoints the server reaches AWS with.
	Config awsconfig.Config
	// ECS is an ecs group's service and load balancer.
	ECS awsecs.Group
	// Traffic is how traffic moves to the new version or task set (all at once when unset).
	Traffic traffic.Config
	// HookTimeout bounds the wait for a hook's verdict (deploy.DefaultHookTimeout when 0).
	HookTimeout time.Duration
}

// IsZero reports whether no AWS setting is set (a server group).
func (a AWSGroup) IsZero() bool { return reflect.DeepEqual(a, AWSGroup{}) }

func (a AWSGroup) validate() error {
	if err := a.Config.Validate(); err != nil {
		return fmt.Errorf("%w: aws: %w", ErrInvalid, err)
	}
	if a.ECS != (awsecs.Group{}) {
		if err := a.ECS.Validate(); err != nil {
			return fmt.Errorf("%w: ecs: %w", ErrInvalid, err)
		}
	}
	if _, err := a.Traffic.Shape(); err != nil && !reflect.DeepEqual(a.Traffic, traffic.Config{}) {
		return fmt.Errorf("%w: traffic: %w", ErrInvalid, err)
	}
	if a.HookTimeout < 0 || a.HookTimeout > deploy.MaxWait {
		return fmt.Errorf("%w: hook timeout %v; use up to %v", ErrInvalid, a.HookTimeout, deploy.MaxWait)
	}
	return nil
}

// awsGroupJSON is the aws column.
type awsGroupJSON struct {
	Config      awsconfig.Config `json:"config,omitzero"`
	ECS         awsecs.Group     `json:"ecs,omitzero"`
	Traffic     traffic.Config   `json:"traffic,omitzero"`
	HookTimeout string           `json:"hook_timeout,omitempty"`
}

func (g Group) validate() error {
	if strings.TrimSpace(g.Name) == "" {
		return fmt.Errorf("%w: empty group name", ErrInvalid)
	}
	if err := g.AWS.validate(); err != nil {
		return err
	}
	// A lambda or ecs group targets no instances.
	if g.AWS.IsZero() || len(g.Tags) > 0 {
		if err := g.Tags.Validate(); err != nil {
			return fmt.Errorf("%w: tags: %w", ErrInvalid, err)
		}
	}
	if g.ConfigName == "" {
		return fmt.Errorf("%w: empty config name", ErrInvalid)
	}
	if err := g.Router.Validate(); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if err := g.validateBlueGreen(); err != nil {
		return err
	}
	if err := g.Alarms.Validate(); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return g.GitHub.validate()
}

func (g Group) validateBlueGreen() error {
	if g.Type != deploy.BlueGreen {
		if len(g.ReplacementTags) > 0 || !reflect.DeepEqual(g.BlueGreen, deploy.BlueGreenOptions{}) {
			return fmt.Errorf("%w: replacement tags and blue/green settings are for %v groups; this one is %v", ErrInvalid, deploy.BlueGreen, g.Type)
		}
		return nil
	}
	if !g.Router.Enabled() {
		return fmt.Errorf("%w: a %v group moves traffic through a traffic router; set one", ErrInvalid, deploy.BlueGreen)
	}
	if len(g.Tags) == 0 {
		return fmt.Errorf("%w: a %v group needs tags: the first tag group selects the fleet that serves now (it may have no instances yet), the others both fleets", ErrInvalid, deploy.BlueGreen)
	}
	if len(g.ReplacementTags) == 0 {
		return fmt.Errorf("%w: a %v group needs replacement tags that select its replacement fleet in place of its first tag group", ErrInvalid, deploy.BlueGreen)
	}
	if err := (deploy.TagSet{g.ReplacementTags}).Validate(); err != nil {
		return fmt.Errorf("%w: replacement tags: %w", ErrInvalid, err)
	}
	if reflect.DeepEqual(g.ReplacementTags, g.Tags[0]) {
		return fmt.Errorf("%w: the replacement tags are the group's first tag group; the two fleets need tags that tell them apart", ErrInvalid)
	}
	if err := g.BlueGreen.Validate(); err != nil {
		return fmt.Errorf("%w: blue/green: %w", ErrInvalid, err)
	}
	return nil
}

// groupRow is a group's settings in their column forms.
type groupRow struct {
	tags, rollback, github, typ, router, blueGreen, alarms, aws string
}

func encodeGroup(g Group) (groupRow, error) {
	tags, err := encodeTagSet(g.Tags)
	if err != nil {
		return groupRow{}, err
	}
	row := groupRow{tags: string(tags), typ: g.Type.String()}
	for dst, v := range map[*string]any{
		&row.rollback:  autoRollbackJSON(g.AutoRollback),
		&row.github:    g.GitHub,
		&row.router:    routerJSON(g.Router),
		&row.blueGreen: blueGreenGroupJSON{ReplacementTags: encodeTagGroup(g.ReplacementTags), Options: encodeBlueGreen(g.BlueGreen)},
		// alarm.Config is its own JSON form (the alarm_configuration users write).
		&row.alarms: g.Alarms,
		&row.aws: awsGroupJSON{Config: g.AWS.Config, ECS: g.AWS.ECS, Traffic: g.AWS.Traffic,
			HookTimeout: durationText(g.AWS.HookTimeout)},
	} {
		b, err := json.Marshal(v)
		if err != nil {
			return groupRow{}, fmt.Errorf("encode group %s: %w", g.Name, err)
		}
		*dst = string(b)
	}
	return row, nil
}

// blueGreenGroupJSON is the blue_green column: the replacement fleet's own tag group and the
// options. (Before migration 0011 the replacement tags were a whole tag set, under
// "replacement_tags".)
type blueGreenGroupJSON struct {
	ReplacementTags []tagFilterJSON `json:"replacement_tag_group,omitempty"`
	Options         blueGreenJSON   `json:"options"`
}

// CreateGroup stores a new deployment group of an existing application, with an empty queue
// and no revision. ErrNotFound when the application or the config does not exist, ErrExists
// when the group does.
func (s *SQLite) CreateGroup(ctx context.Context, g Group) (Group, error) {
	if err := g.validate(); err != nil {
		return Group{}, fmt.Errorf("create group %s/%s: %w", g.Application, g.Name, err)
	}
	g.CurrentRevision, g.LastSuccessfulDeployment, g.Queue = "", "", deploy.Queue{}
	if g.CreateTime.IsZero() {
		g.CreateTime = s.now()
	}
	g.CreateTime = fromMillis(millis(g.CreateTime))
	row, err := encodeGroup(g)
	if err != nil {
		return Group{}, err
	}
	err = s.write(ctx, func(tx *sql.Tx) error {
		if _, err := getApplication(ctx, tx, g.Application); err != nil {
			return fmt.Errorf("application: %w", err)
		}
		if _, err := getConfig(ctx, tx, g.ConfigName); err != nil {
			return fmt.Errorf("config %s: %w", g.ConfigName, err)
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO deployment_groups (application, name, tags, config_name, auto_rollback,
			ignore_application_stop_failures, refuse_when_busy, environment, github, deployment_type, traffic_router,
			blue_green, alarms, aws, direct_upload, current_revision, last_successful_deployment, queue, create_time)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, '', '', '{}', ?)`,
			g.Application, g.Name, row.tags, g.ConfigName, row.rollback,
			boolInt(g.IgnoreApplicationStopFailures), boolInt(g.RefuseWhenBusy), g.Environment, row.github,
			row.typ, row.router, row.blueGreen, row.alarms, row.aws, boolInt(g.DirectUpload), millis(g.CreateTime))
		if isUniqueViolation(err) {
			return ErrExists
		}
		return err
	})
	if err != nil {
		return Group{}, fmt.Errorf("create group %s/%s: %w", g.Application, g.Name, err)
	}
	return g, nil
}

// UpdateGroup replaces the group's settings (tags, config, rollback, stop failures, busy
// policy, environment, GitHub link, deployment type, router, blue/green settings, alarms, AWS
// side, direct upload) and returns the group as stored. The bookkeeping fields are left as
// they are: they belong to the deployments.
func (s *SQLite) UpdateGroup(ctx context.Context, g Group) (Group, error) {
	if err := g.validate(); err != nil {
		return Group{}, fmt.Errorf("update group %s/%s: %w", g.Application, g.Name, err)
	}
	row, err := encodeGroup(g)
	if err != nil {
		return Group{}, err
	}
	var out Group
	err = s.write(ctx, func(tx *sql.Tx) error {
		if _, err := getConfig(ctx, tx, g.ConfigName); err != nil {
			return fmt.Errorf("config %s: %w", g.ConfigName, err)
		}
		res, err := tx.ExecContext(ctx, `UPDATE deployment_groups SET tags = ?, config_name = ?, auto_rollback = ?,
			ignore_application_stop_failures = ?, refuse_when_busy = ?, environment = ?, github = ?,
			deployment_type = ?, traffic_router = ?, blue_green = ?, alarms = ?, aws = ?, direct_upload = ?
			WHERE application = ? AND name = ?`,
			row.tags, g.ConfigName, row.rollback, boolInt(g.IgnoreApplicationStopFailures),
			boolInt(g.RefuseWhenBusy), g.Environment, row.github, row.typ, row.router, row.blueGreen, row.alarms, row.aws,
			boolInt(g.DirectUpload), g.Application, g.Name)
		if err != nil {
			return err
		}
		if err := mustAffect(res); err != nil {
			return err
		}
		out, err = getGroup(ctx, tx, g.Application, g.Name)
		return err
	})
	if err != nil {
		return Group{}, fmt.Errorf("update group %s/%s: %w", g.Application, g.Name, err)
	}
	return out, nil
}

// GetGroup returns one group; ErrNotFound if none.
func (s *SQLite) GetGroup(ctx context.Context, application, name string) (Group, error) {
	g, err := getGroup(ctx, s.r, application, name)
	if err != nil {
		return Group{}, fmt.Errorf("get group %s/%s: %w", application, name, err)
	}
	return g, nil
}

// ListGroups returns the groups of an application by name (none when it has none or does not
// exist).
func (s *SQLite) ListGroups(ctx context.Context, application string) ([]Group, error) {
	rows, err := s.r.QueryContext(ctx, "SELECT "+groupColumns+" FROM deployment_groups WHERE application = ? ORDER BY name", application)
	if err != nil {
		return nil, fmt.Errorf("list groups of %s: %w", application, err)
	}
	defer func() { _ = rows.Close() }()
	var out []Group
	for rows.Next() {
		g, err := scanGroup(rows)
		if err != nil {
			return nil, fmt.Errorf("list groups of %s: %w", application, err)
		}
		out = append(out, g)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list groups of %s: %w", application, err)
	}
	return out, nil
}

const groupColumns = `application, name, tags, config_name, auto_rollback, ignore_application_stop_failures,
	refuse_when_busy, environment, github, deployment_type, traffic_router, blue_green, alarms, aws, direct_upload, current_revision,
	last_successful_deployment, queue, create_time`

type scanner interface{ Scan(dest ...any) error }

func scanGroup(sc scanner) (Group, error) {
	var g Group
	var tags, rollback, github, typ, router, blueGreen, alarms, awsText, queue string
	var ignore, refuse, direct int
	var created int64
	err := sc.Scan(&g.Application, &g.Name, &tags, &g.ConfigName, &rollback, &ignore, &refuse, &g.Environment, &github,
		&typ, &router, &blueGreen, &alarms, &awsText, &direct, &g.CurrentRevision, &g.LastSuccessfulDeployment, &queue, &created)
	if err != nil {
		return Group{}, err
	}
	if g.Type, err = deploy.ParseType(typ); err != nil {
		return Group{}, err
	}
	var rj routerJSON
	if err := json.Unmarshal([]byte(router), &rj); err != nil {
		return Group{}, fmt.Errorf("decode traffic router: %w", err)
	}
	g.Router = deploy.Router(rj)
	var bg blueGreenGroupJSON
	if err := json.Unmarshal([]byte(blueGreen), &bg); err != nil {
		return Group{}, fmt.Errorf("decode blue/green settings: %w", err)
	}
	if g.ReplacementTags, err = decodeTagGroup(bg.ReplacementTags); err != nil {
		return Group{}, err
	}
	if err := json.Unmarshal([]byte(alarms), &g.Alarms); err != nil {
		return Group{}, fmt.Errorf("decode alarms: %w", err)
	}
	var aj awsGroupJSON
	if err := json.Unmarshal([]byte(awsText), &aj); err != nil {
		return Group{}, fmt.Errorf("decode aws settings: %w", err)
	}
	var p parser
	g.AWS = AWSGroup{Config: aj.Config, ECS: aj.ECS, Traffic: aj.Traffic, HookTimeout: p.duration("aws.hook_timeout", aj.HookTimeout)}
	g.BlueGreen = p.blueGreen(bg.Options)
	if p.err != nil {
		return Group{}, fmt.Errorf("decode blue/green settings: %w", p.err)
	}
	if g.Tags, err = decodeTagSet([]byte(tags)); err != nil {
		return Group{}, err
	}
	var ar autoRollbackJSON
	if err := json.Unmarshal([]byte(rollback), &ar); err != nil {
		return Group{}, fmt.Errorf("decode auto rollback: %w", err)
	}
	g.AutoRollback = deploy.AutoRollback(ar)
	if err := json.Unmarshal([]byte(github), &g.GitHub); err != nil {
		return Group{}, fmt.Errorf("decode github link: %w", err)
	}
	if g.Queue, err = decodeQueue([]byte(queue)); err != nil {
		return Group{}, err
	}
	g.IgnoreApplicationStopFailures, g.RefuseWhenBusy, g.DirectUpload = ignore != 0, refuse != 0, direct != 0
	g.CreateTime = fromMillis(created)
	return g, nil
}

func getGroup(ctx context.Context, q querier, application, name string) (Group, error) {
	g, err := scanGroup(q.QueryRowContext(ctx, "SELECT "+groupColumns+" FROM deployment_groups WHERE application = ? AND name = ?", application, name))
	if errors.Is(err, sql.ErrNoRows) {
		return Group{}, ErrNotFound
	}
	return g, err
}

// setQueue writes a group's admission queue inside a transaction.
func setQueue(ctx context.Context, tx *sql.Tx, application, group string, q deploy.Queue) error {
	b, err := encodeQueue(q)
	if err != nil {
		return err
	}
	res, err := tx.ExecContext(ctx, "UPDATE deployment_groups SET queue = ? WHERE application = ? AND name = ?", string(b), application, group)
	if err != nil {
		return fmt.Errorf("set queue of %s/%s: %w", application, group, err)
	}
	return mustAffect(res)
}
