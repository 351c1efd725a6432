package bundle

import "errors"

var (
	// ErrUnsupportedFormat means the bytes are not a zip, tar or gzip-compressed tar archive, or the
	// format cannot be read the way it was handed over (a zip needs random access).
	ErrUnsupportedFormat = errors.New("unsupported bundle format")
	// ErrUnsafePath means an entry or link would reach outside the destination (absolute path, `..`,
	// a symlink or hardlink that leaves the tree, a write through a symlink).
	ErrUnsafePath = errors.New("unsafe path")
	// ErrUnsupportedEntry means an entry is a device, fifo, socket or another kind a bundle cannot hold,
	// or has a name longer than file systems allow.
	ErrUnsupportedEntry = errors.New("unsupported entry type")
	// ErrConflict means an entry names a path an earlier entry already holds, or sits under a file.
	ErrConflict = errors.New("conflicting entry")
	// ErrTooLarge means the archive expands past Limits.MaxBytes.
	ErrTooLarge = errors.New("bundle too large")
	// ErrTooManyEntries means the archive holds more than Limits.MaxEntries entries.
	ErrTooManyEntries = errors.New("too many entries in bundle")
	// ErrDestNotEmpty means Extract was pointed at a directory that already has content.
	ErrDestNotEmpty = errors.New("destination not empty")
)
