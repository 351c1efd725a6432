// Package orchestrator runs deployments: it feeds inputs (agent reports, heartbeats, lease ticks,
// stop requests) to deploy.Decide, stores the new state and its effects in one transaction, and only
// then acts — waking the agents that have a new command, starting the next queued deployment,
// starting a rollback. A server killed at any instant therefore resumes from the last stored state:
// commands are derived from that state when agents poll, so nothing is repeated or forgotten.
//
// It owns the in-memory view of active deployments and the long polls of agents. It knows nothing
// of HTTP or SQL: the store is the small interface declared here.
package orchestrator
