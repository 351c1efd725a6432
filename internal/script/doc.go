// Package script runs one lifecycle hook script on a host the way CodeDeploy's agent does, and
// reports the outcome with the agent's error codes (ScriptMissing, ScriptNotExecutable,
// ScriptTimedOut, ScriptFailed, OutputsLeftOpen, UnknownError).
//
// A script runs with stdin on /dev/null, in a session and process group of its own (without the
// agent's controlling terminal) so a timeout or an agent shutdown can stop everything it started,
// optionally as another user, and with every line it prints copied to the deployment's
// scripts.log; a tail of that output is kept for the failure diagnostics. Run reports the
// script's process group (Group) as it starts, so that an agent killed while the script runs
// can, once started again, end that group with End without mistaking a later process that
// reuses its id for it.
//
// The package must not know about AppSpec parsing, installs, deployment roots or servers: the
// caller resolves the script's path, builds its environment and opens the log; this package only
// runs the file it is given and says what happened.
package script
