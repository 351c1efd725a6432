// Package auth verifies GitHub Actions OIDC tokens and decides what the workflow holding one may
// do: deploy the deployment groups linked to its repository, from an allowed ref, in the group's
// GitHub environment.
//
// It knows nothing of HTTP routes or storage: the API server asks it to verify a bearer token and
// to check one group, described by a Target.
package auth
