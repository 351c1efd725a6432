package store

import "errors"

var (
	// ErrNotFound marks a lookup of something that is not stored.
	ErrNotFound = errors.New("not found")
	// ErrExists marks a create of something whose name or id is taken.
	ErrExists = errors.New("already exists")
	// ErrInUse marks a delete of something others still refer to (a config used by a group).
	ErrInUse = errors.New("in use")
	// ErrVersionConflict marks a SaveDeployment whose version is not the stored one: someone
	// else saved the deployment since it was read. Read it again and redo the decision.
	ErrVersionConflict = errors.New("deployment version conflict")
	// ErrInvalid marks input the store refuses to keep (an unknown compute platform, a bad
	// config, an empty name).
	ErrInvalid = errors.New("invalid")
	// ErrSchemaTooNew marks a database written by a newer binary: opening it could corrupt
	// what that binary expects, so the store refuses.
	ErrSchemaTooNew = errors.New("database schema is newer than this binary")
)
