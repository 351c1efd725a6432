// Package bundle builds, digests and extracts revision bundles: the zip, tar and tgz archives a
// revision travels in between the Action, the server's blob store and the agents.
//
// Build is deterministic (same tree, same bytes, same sha256) so a digest names a revision's
// content, not the moment it was packed. Extract is the one door through which untrusted archive
// bytes reach a host's disk: it confines every write to the destination directory with os.Root,
// rejects entries that would escape it or that a bundle has no business holding (absolute paths,
// `..`, links out of the tree, device files), and enforces size and entry limits on the bytes
// actually written, not on what headers claim. Inspect runs the same checks without writing
// anything and describes the tree as an fs.FS, so a server can refuse at upload what an agent
// would refuse at deploy time, and read a bundle's AppSpec without unpacking it.
//
// The package knows nothing of servers, hooks, installs or AppSpec contents: the only AppSpec fact
// it uses is the file names that decide whether a single leading directory is stripped.
package bundle
