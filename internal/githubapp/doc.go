// Package githubapp is Slipway's GitHub integration, for a GitHub App or a plain token:
//
//   - Receiver, the webhook endpoint: it verifies X-Hub-Signature-256 on the raw body, records
//     each delivery once (X-GitHub-Delivery is the key, so a redelivery does nothing twice) and
//     answers 202 only once the record is durable.
//   - Dispatcher, which processes the recorded deliveries in the background, a few at once but
//     one at a time per repository, resuming after a restart, with one small handler per event: deployment (run a GitHub Deployment whose
//     repository and environment map to a group), issue_comment (/deploy, /rollback, /stop,
//     /status on pull requests), check_run requested_action (the Stop and Roll back buttons) and
//     ping.
//   - Reporter, which posts deployment statuses and check runs as deployments progress, records
//     what it posted so nothing is posted twice across restarts, and reports rollbacks and
//     auto-updates with GitHub Deployments of their own.
//   - Clients, the go-github clients: installation tokens through ghinstallation, GitHub's rate
//     limits honoured (Retry-After, X-RateLimit-*, secondary limits) with bounded waits, and a
//     timeout on every call.
//
// Handlers act through Server, the very calls the REST API makes, so a webhook deploys exactly as
// a user does; in particular a GitHub Deployment is run at most once whether the Action's REST
// call or the webhook arrives first. The package knows the store and the API's wire types, never
// the orchestrator or HTTP routing; the server wires it in.
package githubapp
