// Package orchestrator runs deployments: it feeds inputs (agent reports, heartbeats, lease ticks,
// stop requests, router outcomes, promotions) to deploy.Decide, stores the new state and its
// effects in one transaction, and only then acts — waking the agents that have a new command,
// asking the traffic router for a change, running a release command, starting the next queued
// deployment, starting a rollback. A server killed at any instant therefore resumes from the last
// stored state: commands are derived from that state when agents poll, and router changes and
// release commands still waited on are carried out again at start, so nothing is repeated or
// forgotten.
//
// It owns the in-memory view of active deployments, the long polls of agents, one ordered queue
// per traffic router (whose driver keeps the state it was asked for across HAProxy reloads), and
// the watch of running deployments' alarms. It knows nothing of HTTP or SQL: the store, the
// router and the alarms are the small interfaces declared here.
package orchestrator
