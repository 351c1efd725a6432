package awsconfig_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/smithy-go"

	"github.com/slipway-deploy/slipway/internal/awsconfig"
	"github.com/slipway-deploy/slipway/internal/awsfake"
)

func TestConfig_Validate(t *testing.T) {
	valid := []awsconfig.Config{
		{},
		{Region: "eu-west-1", Profile: "deploy-prod"},
		{Region: "us-gov-west-1", Endpoint: "http://127.0.0.1:4566"},
		{Endpoints: map[string]string{"lambda": "https://lambda.eu-west-1.amazonaws.com", "ecs": "https://vpce-1.ecs.eu-west-1.vpce.amazonaws.com"}},
	}
	for _, c := range valid {
		if err := c.Validate(); err != nil {
			t.Errorf("Validate(%+v): %v", c, err)
		}
	}
	for _, tc := range []struct {
		c    awsconfig.Config
		want string
	}{
		{awsconfig.Config{Region: "Ireland"}, `region "Ireland" is not an AWS region name`},
		{awsconfig.Config{Profile: "a b"}, `profile "a b"`},
		{awsconfig.Config{Endpoint: "localhost:4566"}, `endpoint "localhost:4566" is not a URL`},
		{awsconfig.Config{Endpoint: "https://key:secret@example.com"}, "credentials come from the SDK's chain"},
		{awsconfig.Config{Endpoints: map[string]string{"s3": "https://s3.example.com"}}, "endpoints.s3 names no service Slipway calls; use lambda, ecs, elasticloadbalancing"},
	} {
		err := tc.c.Validate()
		if !errors.Is(err, awsconfig.ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Validate(%+v) = %v; want it to say %q", tc.c, err, tc.want)
		}
	}
}

func TestConfig_EndpointFor(t *testing.T) {
	c := awsconfig.Config{Endpoint: "http://all", Endpoints: map[string]string{"ecs": "http://ecs"}}
	if got := c.EndpointFor(awsconfig.ServiceECS); got != "http://ecs" {
		t.Errorf("ecs: %q", got)
	}
	if got := c.EndpointFor(awsconfig.ServiceLambda); got != "http://all" {
		t.Errorf("lambda: %q", got)
	}
}

// callAlias makes one call through a client built from cfg and returns how the stand-in saw it.
func callAlias(t *testing.T, cfg awsconfig.Config) awsfake.Call {
	t.Helper()
	fake := awsfake.NewLambda(t, nil)
	fake.AddFunction("fn", 1)
	fake.AddAlias("fn", "live", "1")
	if cfg.Endpoint == "" {
		cfg.Endpoint = fake.URL
	}
	awsCfg, err := cfg.Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	client := lambda.NewFromConfig(awsCfg, func(o *lambda.Options) { o.BaseEndpoint = aws.String(cfg.Endpoint) })
	if _, err := client.GetAlias(context.Background(), &lambda.GetAliasInput{FunctionName: aws.String("fn"), Name: aws.String("live")}); err != nil {
		t.Fatal(err)
	}
	calls := fake.Calls()
	return calls[len(calls)-1]
}

func TestConfig_Load_EnvironmentCredentialsAndRegion(t *testing.T) {
	awsfake.Credentials(t)
	t.Setenv("AWS_REGION", "ap-southeast-2")
	c := callAlias(t, awsconfig.Config{})
	if c.AccessKey != awsfake.AccessKey || c.Region != "ap-southeast-2" {
		t.Errorf("call signed by %s in %s; want the environment's %s in ap-southeast-2", c.AccessKey, c.Region, awsfake.AccessKey)
	}
	c = callAlias(t, awsconfig.Config{Region: "eu-central-1"})
	if c.Region != "eu-central-1" {
		t.Errorf("region override: signed for %s; want eu-central-1", c.Region)
	}
}

func TestConfig_Load_Profile(t *testing.T) {
	awsfake.Credentials(t)
	dir := t.TempDir()
	conf, creds := filepath.Join(dir, "config"), filepath.Join(dir, "credentials")
	write(t, conf, "[profile deploy]\nregion = sa-east-1\n")
	write(t, creds, "[deploy]\naws_access_key_id = AKIDPROFILE\naws_secret_access_key = s3cr3t\n")
	t.Setenv("AWS_CONFIG_FILE", conf)
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", creds)
	c := callAlias(t, awsconfig.Config{Profile: "deploy"})
	if c.AccessKey != "AKIDPROFILE" || c.Region != "sa-east-1" {
		t.Errorf("call signed by %s in %s; want the profile's AKIDPROFILE in sa-east-1", c.AccessKey, c.Region)
	}
}

func TestConfig_Load_NoRegion(t *testing.T) {
	awsfake.Credentials(t)
	_, err := awsconfig.Config{}.Load(context.Background())
	if !errors.Is(err, awsconfig.ErrInvalid) || !strings.Contains(err.Error(), "no region") {
		t.Errorf("Load without a region: %v", err)
	}
}

func write(t *testing.T, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestCallError(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{&smithy.GenericAPIError{Code: "AccessDeniedException", Message: "no"}, "ecs:CreateTaskSet: AccessDeniedException: no; allow ecs:CreateTaskSet to the server's AWS identity"},
		{&smithy.GenericAPIError{Code: "ExpiredTokenException", Message: "old"}, "ecs:CreateTaskSet: ExpiredTokenException: old; check the server's AWS credentials"},
		{&smithy.GenericAPIError{Code: "ClusterNotFoundException", Message: "Cluster not found."}, "ecs:CreateTaskSet: ClusterNotFoundException: Cluster not found."},
		{context.DeadlineExceeded, "ecs:CreateTaskSet: no answer in time"},
		{errors.New("boom"), "ecs:CreateTaskSet: op: boom"},
	} {
		err := awsconfig.Call("ecs:CreateTaskSet", fmt.Errorf("op: %w", tc.err))
		if err.Error() != tc.want {
			t.Errorf("got %q\nwant %q", err, tc.want)
		}
		if !errors.Is(err, tc.err) {
			t.Errorf("%v does not unwrap to %v", err, tc.err)
		}
	}
	if awsconfig.Call("x", nil) != nil {
		t.Error("Call(x, nil) is not nil")
	}
	if got := awsconfig.Code(awsconfig.Call("x", &smithy.GenericAPIError{Code: "Throttling"})); got != "Throttling" {
		t.Errorf("Code = %q", got)
	}
}
