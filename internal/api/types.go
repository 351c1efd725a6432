package api

import "time"

// Error is the body of every non-2xx answer.
type Error struct {
	// Message says what went wrong and, for a user's mistake, what to change.
	Message string `json:"error"`
	// Field names the request field at fault, when there is one.
	Field string `json:"field,omitempty"`
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
	// CurrentRevision is the revision of the group's last successful deployment.
	CurrentRevision          string    `json:"current_revision,omitempty"`
	LastSuccessfulDeployment string    `json:"last_successful_deployment,omitempty"`
	CreateTime               time.Time `json:"create_time,omitzero"`
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
	RollbackOf   string               `json:"rollback_of,omitempty"`
	RolledBackBy string               `json:"rolled_back_by,omitempty"`
	Overview     Overview             `json:"overview"`
	Instances    []DeploymentInstance `json:"instances,omitempty"`
	CreateTime   time.Time            `json:"create_time"`
	StartTime    *time.Time           `json:"start_time,omitempty"`
	EndTime      *time.Time           `json:"end_time,omitempty"`
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

// InstanceGroup is a host's standing in one deployment group.
type InstanceGroup struct {
	Application string `json:"application"`
	Group       string `json:"group"`
	// Health is Healthy or Unhealthy.
	Health   string `json:"health"`
	Revision string `json:"revision,omitempty"`
}
