package install

import "errors"

// Each sentinel is the first words of the message that wraps it, so the text a user reads starts
// with what went wrong and goes on to name the path and what to change.
var (
	// ErrFileExists: a target exists and file_exists_behavior is DISALLOW.
	ErrFileExists = errors.New("file already exists")
	// ErrTypeConflict: a directory stands where a file must go, or the other way round.
	ErrTypeConflict = errors.New("type conflict")
	// ErrSourceMissing: a files entry names a source the bundle does not hold.
	ErrSourceMissing = errors.New("source not in bundle")
	// ErrCollision: two files entries install the same path, or a file where a directory goes.
	ErrCollision = errors.New("install collision")
	// ErrUnsafeSymlink: a bundle symlink is absolute or leads out of the bundle, or a source path
	// passes through a symlink.
	ErrUnsafeSymlink = errors.New("unsafe symlink")
	// ErrUnsupportedFile: the bundle holds something that cannot be installed (device, pipe,
	// socket) or recorded in the cleanup list (a newline in a name).
	ErrUnsupportedFile = errors.New("unsupported file")
	// ErrBadDestination: a files destination or permissions object is not an absolute path.
	ErrBadDestination = errors.New("bad destination")
	// ErrPermissionConflict: two permissions entries select the same installed path.
	ErrPermissionConflict = errors.New("permission conflict")
	// ErrDefaultACLOnFile: a default ACL entry selects a file.
	ErrDefaultACLOnFile = errors.New("default ACLs are supported for directories only")
	// ErrToolMissing: setfacl, semanage or restorecon is needed and not installed.
	ErrToolMissing = errors.New("tool missing")
	// ErrUnknownOwner: a permissions owner or group does not exist on this host.
	ErrUnknownOwner = errors.New("unknown owner")
	// ErrWrongOS: the appspec targets another operating system.
	ErrWrongOS = errors.New("wrong operating system")
)
