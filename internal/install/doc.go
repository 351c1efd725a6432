// Package install performs the Install lifecycle event on one host, the way CodeDeploy's agent
// does: it removes what the group's previous Install wrote (the cleanup list), plans the copies
// the appspec's `files` section asks for, applies file_exists_behavior, copies files and
// recreates symlinks while recording every path it creates before creating it, and finally
// applies the appspec's `permissions` to what it installed.
//
// Its inputs are a validated appspec.Spec, an already extracted bundle directory and the paths of
// the group's cleanup and install-instruction files. It must not know about servers, hooks,
// deployment roots, bundles as archives or how the Spec was parsed: the lifecycle package owns
// those and calls Installer.Install for the Install event.
package install
