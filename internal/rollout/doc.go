// Package rollout walks a deployment of the lambda or ecs platform through its lifecycle: the
// Plan of each platform lists its events in CodeDeploy's order (hooks, the platform's own
// steps, the traffic shift), and a Runner carries them out, moving traffic as a traffic.Shape
// says, watching the group's alarms, waiting for hooks' verdicts and for promotions, and
// reverting everything it changed when a step fails, an alarm fires or someone stops the
// deployment.
//
// Every wait goes through a Clock, so tests drive a deployment of hours in microseconds with a
// manual clock, and every change is reported to an observer as it happens, so the caller can
// record the timeline. Runs are in memory: a server that restarts mid-deployment starts a new
// Runner, and the platform drivers (awslambda, awsecs) pick up where the AWS resources are.
//
// The package must not know stores, servers or the orchestrator. It knows the platform
// drivers, hooks and traffic shapes, and decides nothing but the order of steps.
package rollout
