package api

// The lifecycle hooks of the lambda and ecs platforms are functions (or HTTP endpoints) the
// server invokes with a HookPayload; each reports its verdict once with a HookStatus:
//
//	PUT /api/v1/lifecycle-hook-executions/{LifecycleEventHookExecutionId}
//	Authorization: Bearer {SlipwayStatusToken}
//	{"status": "Succeeded"}
//
// The token is the execution's own, so a hook can report on its execution and nothing else.

// HookPayload is the JSON document a hook receives. The first two fields are CodeDeploy's, so a
// hook written for CodeDeploy finds what it expects; the Slipway fields say where and how to
// report.
type HookPayload struct {
	DeploymentID string `json:"DeploymentId"`
	ExecutionID  string `json:"LifecycleEventHookExecutionId"`
	// LifecycleEvent is the hook's event, such as BeforeAllowTraffic.
	LifecycleEvent string `json:"LifecycleEvent"`
	// StatusURL is where to PUT the HookStatus.
	StatusURL string `json:"SlipwayStatusUrl"`
	// StatusToken is the bearer token of that request; it is valid for this execution only.
	StatusToken string `json:"SlipwayStatusToken"`
}

// HookStatus is a hook's verdict: the body of the status request, or of an HTTP hook's answer
// when it decides at once.
type HookStatus struct {
	// Status is HookSucceeded or HookFailed.
	Status string `json:"status"`
	// Message is an optional reason, shown with a failed event (at most MaxHookMessage bytes).
	Message string `json:"message,omitempty"`
}

// A hook's verdicts, named as CodeDeploy's PutLifecycleEventHookExecutionStatus names them.
const (
	HookSucceeded = "Succeeded"
	HookFailed    = "Failed"
)

// MaxHookMessage bounds HookStatus.Message.
const MaxHookMessage = 1024

// HookStatusPath is the path of an execution's status resource.
func HookStatusPath(executionID string) string {
	return "/api/v1/lifecycle-hook-executions/" + executionID
}
