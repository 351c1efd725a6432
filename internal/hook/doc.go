// Package hook runs the lifecycle hooks of the lambda and ecs platforms. An AppSpec of those
// platforms names, for an event such as BeforeAllowTraffic, a Lambda function — or, in Slipway,
// an http(s) URL — that validates the deployment at that point. The hook receives an
// api.HookPayload and reports Succeeded or Failed once, as CodeDeploy's hooks do through
// PutLifecycleEventHookExecutionStatus; Slipway's hooks report to the server instead, with a
// bearer token that is good for their execution only.
//
// A Board keeps the executions in Records (in memory, or a store that outlives the process, so a
// restarted server still takes a verdict), checks reported tokens in constant time, keeps only
// a token's hash, and tells OnSettle of each verdict once. A Caller opens an execution on the
// board and invokes the hook: a Lambda function asynchronously (InvocationType Event, as
// CodeDeploy invokes hooks), an HTTP endpoint with a POST that may answer the verdict at once or
// leave it for the report.
//
// The package must not know stores, servers or how a deployment moves on: it starts hooks and
// records what they say. Waiting for a verdict, with a timeout, is the caller's business.
package hook
