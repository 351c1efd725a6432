// Package blob stores revision bundles by their sha256 digest. Disk keeps them under a local
// directory (<dir>/sha256/ab/abcdef...), writing each through a temporary file that is hashed,
// size-limited, fsync'd, verified and, when the caller asks, checked (Check) before it is renamed
// into place, so a bundle is either whole and correct under its name or absent. S3 keeps them in
// a bucket (<prefix>sha256/abc...), streaming each upload to S3 in one PUT that cannot complete
// unless the content is the announced one, and hands out presigned URLs so agents download from
// the bucket, not the server. S3Client also reads the S3 objects users register revisions by.
//
// The package knows bytes, digests and object names only: not revisions, applications or who
// may read what (the server decides that), not HTTP handlers, and not archive formats (package
// bundle reads those). A digest is validated everywhere it is taken, so a caller's string can
// never become a path or a key. AWS credentials come from the SDK's standard chain, never from
// Slipway's configuration.
package blob
