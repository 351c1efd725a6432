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
