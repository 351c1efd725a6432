package api

import (
	"path"
	"strings"
	"time"
)

// Error is the body of every non-2xx answer.
type Error struct {
	// Message says what went wrong and, for a user's mistake, what to change.
	Message string `json:"error"`
	// Field names the request field at fault, when there is one.
	Field string `json:"field,omitempty"`
	// RefusalReported is set on the refusal of a deployment that names a GitHub Deployment when
	// the server has reported a refusal on that Deployment already (its deployment webhook
	// refused it first): the caller must not post an error status of its own.
	RefusalReported bool `json:"refusal_reported,omitempty"`
	// Status is the HTTP status; not part of the body.
	Status int `json:"-"`
}

func (e *Error) Error() string {
	if e.Field != "" {
		return e.Field + ": " + e.Message
	}
	return e.Message
}

// Application is a named thing to deploy.
type Application struct {
	Name string `json:"name"`
	// ComputePlatform is "server" (hosts with agents), "lambda" or "ecs".
	ComputePlatform string    `json:"compute_platform"`
	CreateTime      time.Time `json:"create_time,omitzero"`
}

// TagFilter selects instances by tag. Type is KEY_ONLY, VALUE_ONLY or KEY_AND_VALUE.
type TagFilter struct {
	Key   string `json:"key,omitempty"`
	Value string `json:"value,omitempty"`
	Type  string `json:"type"`
}

// MinimumHealthyHosts is a deployment config's rule: HOST_COUNT or FLEET_PERCENT.
type MinimumHealthyHosts struct {
	Type  string `json:"type"`
	Value int    `json:"value"`
}

// DeploymentConfig is a named minimum-healthy-hosts rule; the CodeDeployDefault.* presets exist
// without being created.
type DeploymentConfig struct {
	Name                string              `json:"name"`
	MinimumHealthyHosts MinimumHealthyHosts `json:"minimum_healthy_hosts"`
	Preset              bool                `json:"preset,omitempty"`
}

// AutoRollback says when a failed or stopped deployment redeploys the last good revision.
type AutoRollback struct {
	OnFailure       bool `json:"on_failure"`
	OnAlarm         bool `json:"on_alarm,omitempty"`
	OnStopRequested bool `json:"on_stop_requested,omitempty"`
}

// DeploymentGroup is the set of instances a deployment targets, and how.
type DeploymentGroup struct {
	Application string `json:"application"`
	Name        string `json:"name"`
	// TagGroups: an instance is in the group when it matches at least one filter of every tag
	// group (CodeDeploy's tag-set semantics; one group means any filter matches).
	TagGroups                     [][]TagFilter `json:"tag_groups"`
	DeploymentConfig              string        `json:"deployment_config,omitempty"`
	AutoRollback                  AutoRollback  `json:"auto_rollback"`
	IgnoreApplicationStopFailures bool          `json:"ignore_application_stop_failures,omitempty"`
	// OnBusy is what a deployment request does while another runs: "queue" (default) or "reject".
	OnBusy string `json:"on_busy,omitempty"`
	// Environment is the GitHub environment the group reports to.
	Environment string `json:"environment,omitempty"`
	// GitHub links the group to the repository allowed to deploy it.
	GitHub *GitHubLink `json:"github,omitempty"`
	// DeploymentType is IN_PLACE (the default) or BLUE_GREEN.
	DeploymentType string `json:"deployment_type,omitempty"`
	// TrafficRouter is the load balancer the group's instances serve behind. An in-place group
	// with one drains each host before its lifecycle and readies it after; a blue/green group
	// moves traffic through it.
	TrafficRouter *TrafficRouter `json:"traffic_router,omitempty"`
	// BlueGreen is how a BLUE_GREEN group deploys. After each successful deployment the group's
	// tag groups and its replacement tag groups swap.
	BlueGreen *BlueGreen `json:"blue_green,omitempty"`
	// AlarmConfiguration is what the group's deployments watch while they run: any alarm that
	// fires stops the deployment (and sends a blue/green deployment's traffic back).
	AlarmConfiguration *AlarmConfiguration `json:"alarm_configuration,omitempty"`
	// AWS is where a lambda or ecs group's resources are reached: region, profile, endpoints.
	// Credentials come from the server's environment, never from here.
	AWS *AWSSettings `json:"aws,omitempty"`
	// ECS is an ecs group's service and load balancer.
	ECS *ECSService `json:"ecs,omitempty"`
	// Traffic is how a lambda or ecs group's deployments move traffic (all at once when unset).
	Traffic *TrafficShape `json:"traffic,omitempty"`
	// HookTimeout bounds the wait for a lambda or ecs hook's verdict (1h when unset).
	HookTimeout Duration `json:"hook_timeout,omitempty"`
	// Upload is how clients send the group's bundles: UploadServer (the default) through the
	// server, UploadDirect straight to the server's S3 bundle bucket (see CreateUpload).
	Upload string `json:"upload,omitempty"`
	// CurrentRevision is the revision of the group's last successful deployment.
	CurrentRevision          string `json:"current_revision,omitempty"`
	LastSuccessfulDeployment string `json:"last_successful_deployment,omitempty"`
	// ActiveDeployment is the deployment running now; QueuedDeployments wait behind it, in the
	// order they will start. Both are the server's to say: create and update ignore them.
	ActiveDeployment  string    `json:"active_deployment,omitempty"`
	QueuedDeployments []string  `json:"queued_deployments,omitempty"`
	CreateTime        time.Time `json:"create_time,omitzero"`
}

// AWSSettings is how the server reaches a group's AWS resources.
type AWSSettings struct {
	// Region overrides AWS_REGION and the profile's region.
	Region string `json:"region,omitempty"`
	// Profile names a profile of the server's shared AWS config files.
	Profile string `json:"profile,omitempty"`
	// Endpoint replaces the endpoint of every service; Endpoints that of one (lambda, ecs,
	// elasticloadbalancing), winning over Endpoint.
	Endpoint  string            `json:"endpoint,omitempty"`
	Endpoints map[string]string `json:"endpoints,omitempty"`
}

// ECSService is the ECS service an ecs group deploys to, and its load balancer.
type ECSService struct {
	Cluster string `json:"cluster"`
	Service string `json:"service"`
	// TargetGroups are the two target group ARNs the service's task sets alternate between.
	TargetGroups []string `json:"target_groups"`
	// ProductionListener is the listener ARN whose default action forwards production traffic;
	// TestListener, optional, one that takes test traffic first.
	ProductionListener string `json:"production_listener"`
	TestListener       string `json:"test_listener,omitempty"`
	// TerminationWait is how long the original task set is kept once the replacement is
	// primary ("1h"); 0 deletes it at once.
	TerminationWait Duration `json:"termination_wait,omitempty"`
}

// AlarmConfiguration is CodeDeploy's alarm configuration, with a source for each alarm (see
// docs/alarms.md).
type AlarmConfiguration struct {
	// Alarms are at most 10, each with a unique name and exactly one source.
	Alarms []Alarm `json:"alarms"`
	// IgnorePollAlarmFailure lets a deployment go on when an alarm cannot be read.
	IgnorePollAlarmFailure bool `json:"ignore_poll_alarm_failure,omitempty"`
	// Interval between polls (10s when empty, at least 1s); Timeout of one poll (5s when
	// empty, at most 1m).
	Interval Duration `json:"interval,omitempty"`
	Timeout  Duration `json:"timeout,omitempty"`
}

// Alarm is one alarm: a name and exactly one source.
type Alarm struct {
	Name       string           `json:"name"`
	Prometheus *PrometheusAlarm `json:"prometheus,omitempty"`
	CloudWatch *CloudWatchAlarm `json:"cloudwatch,omitempty"`
	HTTP       *HTTPAlarm       `json:"http,omitempty"`
}

// PrometheusAlarm fires when an instant query's value compared with Threshold holds.
type PrometheusAlarm struct {
	URL   string `json:"url"`
	Query string `json:"query"`
	// Op is >, >=, <, <=, == or !=.
	Op        string   `json:"op"`
	Threshold *float64 `json:"threshold"`
	// OnNoData is ok (the default), firing or poll_failure.
	OnNoData string `json:"on_no_data,omitempty"`
}

// CloudWatchAlarm mirrors a CloudWatch alarm: state ALARM fires.
type CloudWatchAlarm struct {
	AlarmName string `json:"alarm_name,omitempty"`
	Region    string `json:"region"`
	Endpoint  string `json:"endpoint,omitempty"`
	Composite bool   `json:"composite,omitempty"`
}

// HTTPAlarm fires when a GET of URL does not answer in time or answers otherwise than expected.
type HTTPAlarm struct {
	URL             string `json:"url"`
	Status          []int  `json:"status,omitempty"`
	BodyContains    string `json:"body_contains,omitempty"`
	BodyNotContains string `json:"body_not_contains,omitempty"`
}

// TrafficRouter is a group's load balancer.
type TrafficRouter struct {
	// Type is "haproxy".
	Type string `json:"type"`
	// Address is HAProxy's stats socket, which must be "level admin": a unix socket path, or
	// tcp:host:port.
	Address string `json:"address"`
	// Backend is the HAProxy backend whose servers the group's instances are.
	Backend string `json:"backend"`
	// ServerName maps an instance to its server name in the backend: {name} and {id} stand for
	// the instance's name and id. "{name}" when empty.
	ServerName string `json:"server_name,omitempty"`
}

// BlueGreen is how a blue/green group deploys: to the replacement fleet, then traffic.
type BlueGreen struct {
	// ReplacementTags select the replacement fleet in place of the group's first tag group: the
	// first of TagGroups selects the fleet that serves now, the others select both fleets. After
	// a successful deployment the first tag group and these swap.
	ReplacementTags []TagFilter `json:"replacement_tags"`
	// ReplacementFleet is the whole tag set that selects the replacement fleet, as the server
	// derives it. Read only: requests leave it out (it is ignored).
	ReplacementFleet [][]TagFilter `json:"replacement_fleet,omitempty"`
	// Traffic is how traffic moves from the original fleet to the replacement fleet.
	Traffic TrafficShape `json:"traffic"`
	// ReadyWait, when set, makes a deployment wait in status Ready once the replacements are
	// installed, until "slipway deployment continue"; when it runs out the deployment stops.
	// Empty: traffic moves at once.
	ReadyWait Duration `json:"ready_wait,omitempty"`
	// ReleaseCommand names a command of the server's release_commands that runs on the original
	// instances ReleaseWait after traffic has moved (to terminate them, say). Empty keeps them.
	ReleaseCommand string   `json:"release_command,omitempty"`
	ReleaseWait    Duration `json:"release_wait,omitempty"`
}

// TrafficShape is how traffic moves; set exactly one field.
type TrafficShape struct {
	// Preset is one of CodeDeploy's traffic-shifting configs, e.g.
	// CodeDeployDefault.ECSLinear10PercentEvery1Minutes.
	Preset    string            `json:"preset,omitempty"`
	AllAtOnce bool              `json:"all_at_once,omitempty"`
	Canary    *TrafficIncrement `json:"canary,omitempty"`
	Linear    *TrafficIncrement `json:"linear,omitempty"`
	Steps     []TrafficStep     `json:"steps,omitempty"`
}

// TrafficIncrement is a canary's or a linear shift's percentage and interval ("5m").
type TrafficIncrement struct {
	Percent  int    `json:"percent"`
	Interval string `json:"interval"`
}

// TrafficStep is one step of a list; set exactly one field. A list that does not end at weight
// 100 gets a last step to 100.
type TrafficStep struct {
	// Weight is the percentage of traffic to send to the replacement fleet.
	Weight *int `json:"weight,omitempty"`
	// Pause is a duration ("5m"), or "until_promoted" to wait for "slipway deployment promote".
	Pause    string           `json:"pause,omitempty"`
	Analysis *TrafficAnalysis `json:"analysis,omitempty"`
}

// TrafficAnalysis watches the group's alarm Name for Duration (one check when empty) and stops
// the deployment if it fires.
type TrafficAnalysis struct {
	Name     string `json:"name"`
	Duration string `json:"duration,omitempty"`
}

// GitHubLink names the repository whose webhooks and Actions OIDC tokens may deploy a group.
// RepositoryID is what is matched: a renamed or re-created repository does not inherit the right.
type GitHubLink struct {
	Repository   string `json:"repository"`
	RepositoryID int64  `json:"repository_id"`
	// AllowedRefs are glob patterns (e.g. "refs/heads/main", "refs/tags/v*") a workflow's ref
	// must match; empty allows any ref.
	AllowedRefs []string `json:"allowed_refs,omitempty"`
	// EnvironmentURL is where the deployed environment can be seen; GitHub shows it on the
	// environment's deployments (environment_url).
	EnvironmentURL string `json:"environment_url,omitempty"`
}

// Revision is a bundle the server knows, identified by its sha256.
type Revision struct {
	Digest      string `json:"digest"`
	Application string `json:"application"`
	Size        int64  `json:"size"`
	// Format is zip, tar or tgz.
	Format string `json:"format"`
	// Source is "upload", "s3" or "github".
	Source string `json:"source"`
	// S3 is where a revision registered by S3 location lives (source "s3").
	S3         *S3Location `json:"s3,omitempty"`
	CreateTime time.Time   `json:"create_time,omitzero"`
}

// RevisionOrigin says where an uploaded bundle was built from, when that is a Git repository.
type RevisionOrigin struct {
	// Commit is the full commit id: hooks see it as BUNDLE_COMMIT, and a pull request's /deploy
	// of that commit reuses the upload.
	Commit string
	// Directory is the bundle's directory in the repository ("." for its root): check run
	// annotations name hook scripts by their path in the repository through it.
	Directory string
}

// RepositoryPath is the path in the repository of a file of a bundle built from directory dir
// of it, given the file's location in the bundle (a hook's location, absolute or not, is
// relative to the bundle's root); "" when dir is unknown ("").
func RepositoryPath(dir, location string) string {
	if dir == "" {
		return ""
	}
	return path.Join(dir, strings.TrimPrefix(path.Clean("/"+location), "/"))
}

// How a group's bundles reach the server's bundle store (DeploymentGroup.Upload).
const (
	UploadServer = "server"
	UploadDirect = "direct"
)

// CreateUpload asks for a slot to upload a bundle straight to the server's S3 bundle bucket,
// for a group whose Upload is UploadDirect. The bundle is announced up front: S3 refuses a PUT
// of other bytes, and the server registers only these.
type CreateUpload struct {
	// Digest is the bundle's sha256 in lower-case hex; Size its length in bytes.
	Digest string `json:"digest"`
	Size   int64  `json:"size"`
	// Commit and Directory say where the bundle was built from, as RevisionOrigin.
	Commit    string `json:"commit,omitempty"`
	Directory string `json:"directory,omitempty"`
}

// Upload is a slot: PUT the bundle to URL with exactly Headers (and no credential of Slipway's)
// before Expires, then complete the upload to register it as a revision. A slot is used once.
type Upload struct {
	ID      string            `json:"id"`
	URL     string            `json:"url"`
	Method  string            `json:"method"`
	Headers map[string]string `json:"headers"`
	Expires time.Time         `json:"expires"`
	// CompleteBy is when the server stops accepting the slot's completion.
	CompleteBy time.Time `json:"complete_by"`
}

// RegisterRevision registers a revision kept outside the server. The server reads it once to
// check it is a valid bundle and to learn its sha256; agents then download it from where it is.
type RegisterRevision struct {
	S3 *S3Location `json:"s3"`
}

// S3Location names a bundle object in an S3 bucket.
type S3Location struct {
	Bucket string `json:"bucket"`
	Key    string `json:"key"`
	// Version pins an object version; empty means the current one, which the server then
	// records (when the bucket keeps versions), so later changes to the key do not change the
	// revision.
	Version string `json:"version,omitempty"`
	// ETag, when given, must be the object's; the server records the ETag it read either way.
	ETag string `json:"etag,omitempty"`
}

// CreateDeployment asks for a deployment of a revision to a group.
type CreateDeployment struct {
	Application string `json:"application"`
	Group       string `json:"group"`
	// Revision is the digest of an uploaded revision.
	Revision string `json:"revision"`
	// DeploymentConfig overrides the group's config.
	DeploymentConfig string `json:"deployment_config,omitempty"`
	Description      string `json:"description,omitempty"`
	// FileExistsBehavior is DISALLOW, OVERWRITE or RETAIN; the appspec's own value wins.
	FileExistsBehavior            string `json:"file_exists_behavior,omitempty"`
	IgnoreApplicationStopFailures *bool  `json:"ignore_application_stop_failures,omitempty"`
	UpdateOutdatedInstancesOnly   bool   `json:"update_outdated_instances_only,omitempty"`
	// AutoRollback overrides the group's setting for this deployment.
	AutoRollback *AutoRollback `json:"auto_rollback,omitempty"`
	// GitHub, when set, ties the deployment to a GitHub Deployment: the server reports its
	// statuses there, and creating a deployment for the same GitHub Deployment again (the Action
	// and the deployment webhook both may) returns the existing one instead of a second.
	GitHub *GitHubDeployment `json:"github,omitempty"`
}

// GitHubDeployment is the GitHub Deployment a Slipway deployment reports to.
type GitHubDeployment struct {
	Repository   string `json:"repository"`
	RepositoryID int64  `json:"repository_id"`
	// DeploymentID is GitHub's id of the Deployment.
	DeploymentID int64  `json:"deployment_id"`
	SHA          string `json:"sha"`
	Ref          string `json:"ref,omitempty"`
	Environment  string `json:"environment,omitempty"`
}

// GitHubDeploymentPayload is what the Action puts in a GitHub Deployment's payload under the
// key "slipway", so the deployment webhook knows what to run.
type GitHubDeploymentPayload struct {
	Application string `json:"application"`
	Group       string `json:"group"`
	// Revision is the digest of the uploaded revision; empty means the server fetches the
	// repository at the Deployment's sha.
	Revision           string `json:"revision,omitempty"`
	DeploymentConfig   string `json:"deployment_config,omitempty"`
	FileExistsBehavior string `json:"file_exists_behavior,omitempty"`
}

// Deployment is one run of a revision against a group.
type Deployment struct {
	ID               string `json:"id"`
	Application      string `json:"application"`
	Group            string `json:"group"`
	Revision         string `json:"revision"`
	DeploymentConfig string `json:"deployment_config"`
	// Creator is user, github, rollback or autoUpdate.
	Creator     string `json:"creator"`
	Description string `json:"description,omitempty"`
	// Status is Created, Queued, InProgress, Baking, Ready, Succeeded, Failed or Stopped.
	Status       string `json:"status"`
	ErrorCode    string `json:"error_code,omitempty"`
	ErrorMessage string `json:"error_message,omitempty"`
	// RollbackOf is the deployment this one rolls back; RolledBackBy the rollback started for it.
	RollbackOf   string `json:"rollback_of,omitempty"`
	RolledBackBy string `json:"rolled_back_by,omitempty"`
	// DeploymentType is IN_PLACE or BLUE_GREEN.
	DeploymentType string `json:"deployment_type,omitempty"`
	// Traffic is a blue/green deployment's progress.
	Traffic    *DeploymentTraffic   `json:"traffic,omitempty"`
	Overview   Overview             `json:"overview"`
	Instances  []DeploymentInstance `json:"instances,omitempty"`
	CreateTime time.Time            `json:"create_time"`
	StartTime  *time.Time           `json:"start_time,omitempty"`
	EndTime    *time.Time           `json:"end_time,omitempty"`
}

// DeploymentTraffic is where a blue/green deployment stands.
type DeploymentTraffic struct {
	// Phase is Install, Ready, BeforeAllowTraffic, AllowTraffic, AfterAllowTraffic,
	// BeforeBlockTraffic, BlockTraffic, AfterBlockTraffic, Bake or Release.
	Phase string `json:"phase"`
	// Shape names the traffic shape.
	Shape string `json:"shape"`
	// Percent is the replacement fleet's share of traffic, as last applied.
	Percent int `json:"percent"`
	// Step is the shape's step in progress, from 1, of Steps.
	Step  int `json:"step"`
	Steps int `json:"steps"`
	// Waiting says what the deployment waits for: router, pause, promotion, analysis, continue
	// (Ready), bake or release; empty when its hosts are running events.
	Waiting string `json:"waiting,omitempty"`
	// WaitUntil is when a timed wait ends.
	WaitUntil *time.Time `json:"wait_until,omitempty"`
	// Paused says someone paused the shift; promote resumes it.
	Paused bool `json:"paused,omitempty"`
	// Reverted says all traffic was sent back to the original fleet; RevertError why that
	// could not be done.
	Reverted    bool   `json:"reverted,omitempty"`
	RevertError string `json:"revert_error,omitempty"`
	// RevertSkipped names the router servers the revert left alone: the backend no longer had
	// them.
	RevertSkipped []string `json:"revert_skipped,omitempty"`
	// Timeline is each share of traffic the router applied, in order.
	Timeline []TrafficPoint `json:"timeline,omitempty"`
	// Release is the release command run on the original fleet.
	Release *OriginalsRelease `json:"release,omitempty"`
}

// TrafficPoint is the replacement fleet's share of traffic from Time on.
type TrafficPoint struct {
	Time    time.Time `json:"time"`
	Percent int       `json:"percent"`
}

// OriginalsRelease is the release command a blue/green deployment ran on its original fleet.
type OriginalsRelease struct {
	Command string `json:"command"`
	// Status is InProgress, Succeeded or Failed.
	Status    string     `json:"status"`
	Message   string     `json:"message,omitempty"`
	StartTime *time.Time `json:"start_time,omitempty"`
	EndTime   *time.Time `json:"end_time,omitempty"`
}

// Overview counts a deployment's instances by status.
type Overview struct {
	Pending    int `json:"pending"`
	InProgress int `json:"in_progress"`
	Succeeded  int `json:"succeeded"`
	Failed     int `json:"failed"`
	Skipped    int `json:"skipped"`
	Unknown    int `json:"unknown,omitempty"`
	Ready      int `json:"ready,omitempty"`
}

// DeploymentInstance is one target host of a deployment.
type DeploymentInstance struct {
	// Instance is the host's name; InstanceID its registration, which changes if it re-enrolls.
	Instance   string `json:"instance"`
	InstanceID string `json:"instance_id"`
	// Fleet is original or replacement in a blue/green deployment.
	Fleet string `json:"fleet,omitempty"`
	// Status is Pending, InProgress, Succeeded, Failed, Skipped, Unknown or Ready.
	Status    string           `json:"status"`
	Message   string           `json:"message,omitempty"`
	Events    []LifecycleEvent `json:"events"`
	StartTime *time.Time       `json:"start_time,omitempty"`
	EndTime   *time.Time       `json:"end_time,omitempty"`
}

// LifecycleEvent is one event of one host.
type LifecycleEvent struct {
	Name string `json:"name"`
	// Status is Pending, InProgress, Succeeded, Failed, Skipped or Unknown.
	Status      string       `json:"status"`
	Diagnostics *Diagnostics `json:"diagnostics,omitempty"`
	StartTime   *time.Time   `json:"start_time,omitempty"`
	EndTime     *time.Time   `json:"end_time,omitempty"`
}

// Diagnostics explain a failed event, in CodeDeploy's shape.
type Diagnostics struct {
	// ErrorCode is ScriptMissing, ScriptNotExecutable, ScriptTimedOut, ScriptFailed,
	// OutputsLeftOpen, FailedAfterRestart, UnknownError, or a server code such as HostUnresponsive.
	ErrorCode  string `json:"error_code,omitempty"`
	ScriptName string `json:"script_name,omitempty"`
	Message    string `json:"message,omitempty"`
	LogTail    string `json:"log_tail,omitempty"`
}

// StopDeployment stops a deployment, optionally rolling back.
type StopDeployment struct {
	Rollback bool `json:"rollback"`
}

// Instance is a host running an agent.
type Instance struct {
	Name         string            `json:"name"`
	Tags         map[string]string `json:"tags"`
	AgentVersion string            `json:"agent_version,omitempty"`
	RegisterTime time.Time         `json:"register_time"`
	LastSeen     *time.Time        `json:"last_seen,omitempty"`
	Deregistered bool              `json:"deregistered,omitempty"`
	Groups       []InstanceGroup   `json:"groups,omitempty"`
}

// InstanceTags replaces an instance's tags (PUT /instances/{name}/tags): an administrator's
// call, since the tags decide which deployment groups, and so which bundles, a host gets.
type InstanceTags struct {
	Tags map[string]string `json:"tags"`
}

// InstanceGroup is a host's standing in one deployment group.
type InstanceGroup struct {
	Application string `json:"application"`
	Group       string `json:"group"`
	// Health is Healthy or Unhealthy after a deployment of the group reached the host, and
	// HealthUnknown while none has: the host matches the group's tags and was never deployed to.
	Health   string `json:"health"`
	Revision string `json:"revision,omitempty"`
}

// HealthUnknown is the health of a host in a group that no deployment has reached yet.
const HealthUnknown = "Unknown"
