package auth

import "errors"

// Sentinel errors; every error the package returns wraps one of them with a message that says
// what to change.
var (
	// ErrTokenInvalid: the token is not a valid Actions OIDC token for this server.
	ErrTokenInvalid = errors.New("GitHub Actions token refused")
	// ErrForbidden: the token is valid, but its workflow may not act on the target.
	ErrForbidden = errors.New("GitHub Actions workflow not allowed")
	// ErrIssuerUnavailable: the issuer's discovery document or keys could not be fetched.
	ErrIssuerUnavailable = errors.New("GitHub Actions token issuer unavailable")
)
