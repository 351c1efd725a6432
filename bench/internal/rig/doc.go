// Package rig is what the server benchmarks share: building the real binaries, running a real
// slipway-server on loopback and reading its CPU time and memory from /proc, writing the trivial
// revision they deploy, and the small statistics they print. It is for bench/ only.
package rig
