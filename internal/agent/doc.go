// Package agent is the server-driven side of slipway-agent: it enrolls with a Slipway server,
// long-polls for host commands (one per lifecycle event), runs each through lifecycle.Host,
// heartbeats while it runs, and reports the result without ever losing one.
//
// Durability rests on two files under <root>/agent: the credential the server issued at
// enrollment, and the outbox, where a result is written before the first attempt to deliver it and
// removed only once the server has answered for it. Crash markers left by lifecycle.Host are turned
// into FailedAfterRestart results at start-up.
//
// It knows the agent protocol (internal/api) and the lifecycle package; it knows nothing of how
// the server orchestrates, of flags or of the process around it: the slipway-agent binary builds a
// Config and calls Run.
package agent
