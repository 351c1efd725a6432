package awsfake_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"

	"github.com/slipway-deploy/slipway/internal/awsfake"
)

func TestStub_RefusesUnsignedAndMisscopedRequests(t *testing.T) {
	fake := awsfake.NewLambda(t, nil)
	fake.AddFunction("fn", 1)
	fake.AddAlias("fn", "live", "1")
	for _, tc := range []struct{ auth, code string }{
		{"", "MissingAuthenticationTokenException"},
		{"AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/ecs/aws4_request, SignedHeaders=host, Signature=" + zeros64, "InvalidSignatureException"},
	} {
		req, _ := http.NewRequest(http.MethodGet, fake.URL+"/2015-03-31/functions/fn/aliases/live", nil)
		if tc.auth != "" {
			req.Header.Set("Authorization", tc.auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden || resp.Header.Get("X-Amzn-ErrorType") != tc.code {
			t.Errorf("auth %q: answered %d %s; want 403 %s", tc.auth, resp.StatusCode, resp.Header.Get("X-Amzn-ErrorType"), tc.code)
		}
	}
}

const zeros64 = "0000000000000000000000000000000000000000000000000000000000000000"

// A server error once is retried by the SDK, as it would be against AWS: faults go through the
// SDK's own error handling.
func TestStub_ServerFaultIsRetriedBySDK(t *testing.T) {
	fake := awsfake.NewLambda(t, nil)
	fake.AddFunction("fn", 1)
	fake.AddAlias("fn", "live", "1")
	fake.Fail("GetAlias", 0, awsfake.Fault{Status: 503, Code: "ServiceException", Message: "try again"})
	client := lambda.New(lambda.Options{Region: "us-east-1", BaseEndpoint: aws.String(fake.URL),
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: awsfake.AccessKey, SecretAccessKey: awsfake.SecretKey}, nil
		})})
	out, err := client.GetAlias(context.Background(), &lambda.GetAliasInput{FunctionName: aws.String("fn"), Name: aws.String("live")})
	if err != nil || aws.ToString(out.FunctionVersion) != "1" {
		t.Fatalf("GetAlias = %+v, %v; want version 1 after one retry", out, err)
	}
	calls := fake.CallsOf("GetAlias")
	if len(calls) != 2 || calls[0].Error != "ServiceException" || calls[1].Error != "" {
		t.Errorf("calls %+v; want a refused call, then a served one", calls)
	}
}

func TestClock_FiresTimersInOrder(t *testing.T) {
	c := awsfake.NewClock()
	late, _ := c.Timer(10)
	early, _ := c.Timer(5)
	_, stop := c.Timer(7)
	if !stop() {
		t.Error("stop of a pending timer reported it was not pending")
	}
	if got := c.Next(t); got != 5 {
		t.Errorf("first Next moved %v; want 5ns", got)
	}
	select {
	case at := <-early:
		if at.Sub(awsfake.Epoch) != 5 {
			t.Errorf("early fired at %v", at)
		}
	default:
		t.Error("early did not fire")
	}
	if got := c.Next(t); got != 5 || c.Since() != 10 {
		t.Errorf("second Next moved %v to %v; want 5ns to 10ns (the stopped timer never fires)", got, c.Since())
	}
	<-late
	if c.Pending() != 0 {
		t.Errorf("%d timers pending", c.Pending())
	}
}
