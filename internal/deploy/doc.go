// Package deploy holds the domain of a server-platform deployment and the decisions of its
// orchestrator: the statuses (with CodeDeploy's names), deployment configs and their minimum
// healthy hosts, tag filters, the per-host lifecycle record, group admission (one active
// deployment per group, the rest queued), and Decide, the state machine that turns
// (deployment, input, now) into (new deployment, effects).
//
// Decide knows two deployment types. In place, hosts install in batches; with a traffic router
// each host is drained before and readied after (BlockTraffic, AllowTraffic). Blue/green
// installs a replacement fleet, moves traffic from the original fleet to it in the steps of a
// traffic shape (internal/traffic), drains the originals, and sends all traffic back to them at
// once on a failure, a stop or an alarm. Router changes go out as SetTraffic effects and come
// back as inputs; everything the router was asked is in the deployment, so a restarted runtime
// can put it back (DesiredTraffic) and finish what was in flight (PendingTraffic).
//
// Everything here is a pure function of its arguments. The package must not know SQL, HTTP,
// GitHub, agents' wire formats, goroutines or clocks: time comes in as `now`, and what should
// happen in the world (send a host command, record an instance's health, start a rollback) goes
// out as Effect values. The caller persists the returned Deployment before it carries out the
// effects, so a restarted server resumes from the stored state instead of repeating or
// forgetting a step.
package deploy
