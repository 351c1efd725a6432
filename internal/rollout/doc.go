// Package rollout carries out the AWS side of a lambda or ecs deployment, one step at a time:
// the steps deploy.Decide asks for (RunStep: check the alias or the service, create the
// replacement task set and wait until it is steady, point the test listener at it, make it
// primary, delete the original), its traffic changes (SetTraffic with a Percent, or a Revert)
// and its hooks (InvokeHook, through internal/hook).
//
// A Driver keeps nothing between calls: each call reads what it needs from the deployment's
// Spec (the group's AWS settings and the AppSpec, fixed when the deployment was created) and
// from AWS itself, and every step can be carried out again with the same result. That is what
// lets a server killed in the middle of a deployment resume it from its stored state.
//
// The package must not know stores, servers or when a step is due: deploy decides that, and
// the orchestrator calls the Driver.
package rollout
