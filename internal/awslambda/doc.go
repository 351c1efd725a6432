// Package awslambda moves a Lambda alias from one function version to another, as CodeDeploy's
// Lambda deployments do: the alias keeps pointing at CurrentVersion while its routing
// configuration sends a share of the invocations to TargetVersion (AdditionalVersionWeights),
// and at 100% the alias points at TargetVersion with no routing configuration left. A revert
// puts the alias back on CurrentVersion alone.
//
// Every change but a revert carries the alias's RevisionId, so a change someone else made to
// the alias during a deployment stops the deployment instead of being overwritten.
//
// This is a leaf package: it knows the Lambda API (GetAlias, UpdateAlias) through a small
// interface that *lambda.Client satisfies, and nothing of deployments' storage or servers. When
// to set which weight is the caller's business.
package awslambda
