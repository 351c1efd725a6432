package awsconfig

import (
	"context"
	"errors"
	"fmt"
	"net"

	"github.com/aws/smithy-go"
)

// CallError is an AWS API call that failed: Action is the IAM action it needs, as
// "lambda:UpdateAlias". It unwraps to the SDK's error, so errors.As still finds the service's
// exception types.
type CallError struct {
	Action string
	Err    error
}

// Call wraps err, if any, as the failure of action.
func Call(action string, err error) error {
	if err == nil {
		return nil
	}
	return &CallError{Action: action, Err: err}
}

func (e *CallError) Unwrap() error { return e.Err }

// Error says which call failed and why, and for the errors a user fixes outside Slipway, what
// to do.
func (e *CallError) Error() string {
	var apiErr smithy.APIError
	if errors.As(e.Err, &apiErr) {
		msg := fmt.Sprintf("%s: %s: %s", e.Action, apiErr.ErrorCode(), apiErr.ErrorMessage())
		switch apiErr.ErrorCode() {
		case "AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "UnrecognizedClientException":
			msg += "; allow " + e.Action + " to the server's AWS identity"
		case "InvalidClientTokenId", "SignatureDoesNotMatch", "ExpiredToken", "ExpiredTokenException":
			msg += "; check the server's AWS credentials"
		}
		return msg
	}
	// The SDK retries a refused connection; its last network error says more than the deadline
	// that cut the retries short.
	var netErr *net.OpError
	if errors.As(e.Err, &netErr) {
		return fmt.Sprintf("%s: %v", e.Action, netErr)
	}
	if errors.Is(e.Err, context.DeadlineExceeded) {
		return e.Action + ": no answer in time"
	}
	return fmt.Sprintf("%s: %v", e.Action, e.Err)
}

// Code is the AWS error code of err ("ResourceNotFoundException"), or "" when err is not an
// answer from AWS.
func Code(err error) string {
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		return apiErr.ErrorCode()
	}
	return ""
}
