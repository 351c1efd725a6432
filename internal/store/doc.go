// Package store keeps the server's durable state: applications, deployment configs, deployment
// groups with their admission queues, revisions, deployments (the whole deploy.Deployment plus
// an optimistic-concurrency version), the outbox of effects, instances with their hashed
// credentials and per-group health, and the GitHub side: accepted webhook deliveries, the GitHub
// Deployment each deployment reports to (with the reporter's opaque record of what it posted),
// the outcome of each pull-request command, the GitHub Deployments refused (so that one error
// status reports each), and the App installation of each repository.
//
// SaveDeployment is the one write the orchestrator depends on: it stores the state Decide
// returned, applies the effects that are pure bookkeeping (instance health, the group's
// revision, the group's queue, a rollback deployment) and records every effect in the outbox,
// all in one transaction, so a crash can neither lose nor double any of them.
//
// The package must not know HTTP, GitHub's API, agents or clocks beyond stamping create times, and it
// makes no orchestration decisions: those are deploy.Decide's and deploy.Admit's, which it calls
// inside its transactions so that their inputs cannot change under them. The SQL is kept
// portable (TEXT ids, INTEGER unix milliseconds, JSON in TEXT) so a PostgreSQL store can follow.
package store
