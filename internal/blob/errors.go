package blob

import "errors"

var (
	// ErrNotFound marks a digest with no stored bundle.
	ErrNotFound = errors.New("blob not found")
	// ErrDigestMismatch marks a Put whose content does not hash to the digest the caller
	// expected; nothing is kept.
	ErrDigestMismatch = errors.New("content does not match the expected digest")
	// ErrTooLarge marks a Put whose content is larger than the store's limit; nothing is kept.
	ErrTooLarge = errors.New("content is larger than the limit")
	// ErrInvalidDigest marks a digest that is not 64 lower-case hex characters.
	ErrInvalidDigest = errors.New("invalid digest: want 64 lower-case hex characters")
)

var (
	// ErrSizeRequired marks a Put to a store that must know the content's length up front
	// (S3 takes one PUT of known length); give the size.
	ErrSizeRequired = errors.New("the content's size must be known")
	// ErrSizeMismatch marks content whose length differs from the size announced; nothing is kept.
	ErrSizeMismatch = errors.New("content length differs from the announced size")
	// ErrETagMismatch marks an S3 object whose ETag is not the one expected: it was replaced.
	ErrETagMismatch = errors.New("the object's ETag differs from the one given")
	// ErrAccessDenied marks an S3 request the credentials are not allowed to make.
	ErrAccessDenied = errors.New("access denied by S3")
)
