package api

import "time"

// The agent protocol. An agent registers once with the enrollment token and keeps the credential
// it gets back; from then on it long-polls for host commands, one per lifecycle event (as
// CodeDeploy's agent does), heartbeats while a command runs, and reports each result.

// Register is an agent's enrollment.
type Register struct {
	Name         string            `json:"name"`
	Tags         map[string]string `json:"tags"`
	AgentVersion string            `json:"agent_version,omitempty"`
}

// Registered is the answer to Register: the instance's own credential, shown this once.
type Registered struct {
	Instance   string `json:"instance"`
	Credential string `json:"credential"`
}

// Hello is sent by a registered agent when it starts. Tags are the tags the agent was started
// with; none (null or {}) claims nothing. Unless the server lets hosts set their own tags, tags
// that differ from the instance's are refused with 409 Conflict (field "tags"): only an
// administrator changes them (SetInstanceTags), and the agent then says hello claiming none.
type Hello struct {
	Tags         map[string]string `json:"tags"`
	AgentVersion string            `json:"agent_version,omitempty"`
	// Interrupted lists the commands the agent was running when it last stopped; the server
	// records each as failed (FailedAfterRestart).
	Interrupted []string `json:"interrupted,omitempty"`
}

// Command asks a host to run one lifecycle event.
type Command struct {
	// ID names this command (deployment, event and attempt); results and heartbeats quote it.
	ID            string    `json:"id"`
	DeploymentID  string    `json:"deployment_id"`
	Event         string    `json:"event"`
	Attempt       int       `json:"attempt"`
	LeaseDeadline time.Time `json:"lease_deadline"`
	// Heartbeat is how often the agent must say it is still working on the command.
	Heartbeat       Duration `json:"heartbeat"`
	ApplicationName string   `json:"application_name"`
	GroupName       string   `json:"group_name"`
	GroupID         string   `json:"group_id"`
	Bundle          Bundle   `json:"bundle"`
	// FileExistsBehavior is DISALLOW, OVERWRITE or RETAIN, or empty.
	FileExistsBehavior string `json:"file_exists_behavior,omitempty"`
}

// Bundle says where a revision's bytes are and how to check them.
type Bundle struct {
	Digest string `json:"digest"`
	Size   int64  `json:"size"`
	Format string `json:"format"`
	// URL is where to download it: a path on the server, or a presigned URL elsewhere.
	URL string `json:"url"`
	// Env holds the BUNDLE_* variables hooks see.
	Env map[string]string `json:"env,omitempty"`
}

// Result reports a command's outcome.
type Result struct {
	// Status is Succeeded, Failed or Skipped (an event with nothing to run).
	Status      string       `json:"status"`
	Diagnostics *Diagnostics `json:"diagnostics,omitempty"`
	StartTime   time.Time    `json:"start_time"`
	EndTime     time.Time    `json:"end_time"`
}

// Duration is a time.Duration that travels as a Go duration string ("30s").
type Duration time.Duration

// MarshalText implements encoding.TextMarshaler.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}
