// Package blob stores revision bundles by their sha256 digest. Disk keeps them under a local
// directory (<dir>/sha256/ab/abcdef...), writing each through a temporary file that is hashed,
// size-limited, fsync'd, verified and, when the caller asks, checked (Check) before it is renamed
// into place, so a bundle is either whole and correct under its name or absent.
//
// The package knows bytes and digests only: not revisions, applications or who may read what
// (the server decides that), not HTTP, and not archive formats (package bundle reads those).
// A digest is validated everywhere it is taken, so a caller's string can never become a path.
package blob
