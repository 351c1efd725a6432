// Package lifecycle runs a revision's lifecycle events on one host, the way CodeDeploy's agent
// does: the deployment-root layout, DownloadBundle, Install, the hook events (with the rule that
// ApplicationStop and the block-traffic events run the last successfully installed revision's
// scripts), the crash marker that turns an event interrupted by an agent restart into a reported
// failure, and retention of old revisions.
//
// It is shared by `slipway-agent local` and the server-driven agent. It knows nothing of HTTP, the
// server or GitHub: the caller says which event of which deployment to run and where the bundle is.
package lifecycle
