// Package traffic moves a backend's traffic between an original and a replacement fleet: the
// Router interface the deployment runtime drives, an HAProxy driver over the runtime API, and the
// traffic shapes (all at once, canary, linear, CodeDeploy's presets, our own step lists) as pure
// functions that expand to a timeline of weights.
//
// The HAProxy driver keeps the state it was asked for and puts it back when HAProxy forgets it
// (a reload or restart starts from the configuration's weights), and it refuses a change that
// would leave a backend with no server to send requests to, unless the caller takes the backend
// down on purpose.
//
// This is a leaf package: it must not know the store, the orchestrator, the API server, agents or
// deployments. It speaks of backends, servers, weights and shapes; which servers are the
// originals and which the replacements is the caller's business.
package traffic
