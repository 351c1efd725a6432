// Package awsconfig is how a deployment group reaches AWS: which region, which shared-config
// profile, and which endpoints (a LocalStack, a stand-in, a VPC endpoint) replace AWS's own. The
// credentials always come from the SDK's standard chain — environment, shared config and
// credentials files (including a profile's role_arn), web identity, the container or instance
// role — so no secret is ever part of a group's settings.
//
// It also turns the SDK's errors into sentences that name the service call and, for refusals,
// the IAM action to allow.
//
// This is a leaf package: it knows AWS's SDK and nothing of deployments, stores or servers.
package awsconfig
