// Package awsecs carries out the AWS side of an ECS blue/green deployment through task sets, as
// CodeDeploy does for a service whose deployment controller is EXTERNAL: a replacement task set
// of the new task definition registers in the target group that is not serving (green) while
// the original (blue) keeps the traffic; the test listener, if any, forwards to green; the
// production listener's forward action then weighs the two target groups as the traffic shape
// says; at the end the replacement becomes the service's primary task set and, after the
// termination wait, the original is deleted. A revert sends every listener back to blue, makes
// the original primary again, and deletes the replacement.
//
// Each step is a method that can be called again with the same result, so a deployment that
// was interrupted can be resumed: the replacement is found again by its external id (the
// deployment's id).
//
// This is a leaf package: it knows the ECS API (DescribeServices, CreateTaskSet,
// UpdateServicePrimaryTaskSet, DeleteTaskSet) and the ELBv2 API
// (DescribeListeners, ModifyListener) through small interfaces the SDK's clients satisfy. When
// to take which step is the caller's business.
package awsecs
