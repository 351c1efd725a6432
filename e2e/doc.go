// Package e2e runs the real slipway, slipway-server and slipway-agent binaries against each other:
// a server on a loopback port, agents in temporary deployment roots, and the CLI driving them.
package e2e
