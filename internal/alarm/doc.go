// Package alarm reads the alarms a deployment group watches while a deployment runs and says
// which are firing: Prometheus instant queries compared with a threshold, CloudWatch alarms
// (DescribeAlarms through aws-sdk-go-v2), and HTTP checks against a URL.
//
// A Config is what a group stores (up to ten alarms, as CodeDeploy allows, plus
// ignore_poll_alarm_failure). NewPoller turns a valid Config into a Poller whose Poll reads every
// alarm once and returns a Snapshot: for each alarm OK, Firing or PollFailed, with a reason fit
// for a deployment's error message. PollFailed is kept apart from OK on purpose: CodeDeploy stops a
// deployment when an alarm's state cannot be read unless ignore_poll_alarm_failure is set, and
// Snapshot.Trip applies that rule. A Watcher polls on an interval and hands each change to a
// callback.
//
// The package must not know deployments, stores, HTTP servers or the orchestrator: it turns
// configuration into states and nothing else. What to do about a firing alarm (stop, move traffic
// back, roll back) is the caller's decision.
package alarm
