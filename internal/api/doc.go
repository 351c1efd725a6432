// Package api holds Slipway's wire types — the REST API under /api/v1 and the agent protocol under
// /agent/v1 — and the one Go client for both, used by the CLI, the Action and the agent.
//
// It knows nothing of storage or orchestration: the server translates between these types and its
// own. Status names are CodeDeploy's (Succeeded, InProgress, ...), so JSON output reads the same as
// `aws deploy get-deployment` does.
package api
