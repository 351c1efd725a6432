package awsconfig

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
)

// The services whose endpoint a Config may replace, named as the SDK's endpoint variables name
// them (AWS_ENDPOINT_URL_LAMBDA, ...).
const (
	ServiceLambda = "lambda"
	ServiceECS    = "ecs"
	ServiceELB    = "elasticloadbalancing"
)

var services = []string{ServiceLambda, ServiceECS, ServiceELB}

// ErrInvalid marks settings that fail validation.
var ErrInvalid = errors.New("invalid AWS settings")

// DefaultCallTimeout bounds one API call, retries included, when the caller's context has no
// earlier deadline.
const DefaultCallTimeout = 30 * time.Second

// responseHeaderTimeout bounds the wait for an answer on one connection: every call Slipway
// makes is small, so a silent endpoint is a broken one.
const responseHeaderTimeout = 20 * time.Second

// Config is a group's AWS settings. Every field is optional: the zero Config uses the region and
// credentials of the server's environment, and AWS's endpoints.
type Config struct {
	// Region overrides AWS_REGION and the profile's region.
	Region string `json:"region,omitempty" yaml:"region,omitempty"`
	// Profile names a profile of the shared config files (~/.aws/config, ~/.aws/credentials);
	// a profile with role_arn makes Slipway assume that role.
	Profile string `json:"profile,omitempty" yaml:"profile,omitempty"`
	// Endpoint replaces the endpoint of every service, as a LocalStack or a stand-in needs.
	Endpoint string `json:"endpoint,omitempty" yaml:"endpoint,omitempty"`
	// Endpoints replaces the endpoint of one service (lambda, ecs, elasticloadbalancing); it
	// wins over Endpoint.
	Endpoints map[string]string `json:"endpoints,omitempty" yaml:"endpoints,omitempty"`
}

var (
	regionRE  = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-\d+$`)
	profileRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._@+=,-]{0,63}$`)
)

// Validate reports the first setting to change.
func (c Config) Validate() error {
	if c.Region != "" && !regionRE.MatchString(c.Region) {
		return fmt.Errorf("%w: region %q is not an AWS region name; write one such as eu-west-1", ErrInvalid, c.Region)
	}
	if c.Profile != "" && !profileRE.MatchString(c.Profile) {
		return fmt.Errorf("%w: profile %q is not a profile name of the shared config files", ErrInvalid, c.Profile)
	}
	if c.Endpoint != "" {
		if err := checkEndpoint("endpoint", c.Endpoint); err != nil {
			return err
		}
	}
	for _, name := range sortedKeys(c.Endpoints) {
		if !slices.Contains(services, name) {
			return fmt.Errorf("%w: endpoints.%s names no service Slipway calls; use %s", ErrInvalid, name, strings.Join(services, ", "))
		}
		if err := checkEndpoint("endpoints."+name, c.Endpoints[name]); err != nil {
			return err
		}
	}
	return nil
}

func checkEndpoint(field, raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return fmt.Errorf("%w: %s %q is not a URL; write one such as https://lambda.eu-west-1.amazonaws.com", ErrInvalid, field, raw)
	}
	if u.User != nil {
		return fmt.Errorf("%w: %s carries a user name or password; credentials come from the SDK's chain, not the URL", ErrInvalid, field)
	}
	return nil
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// EndpointFor returns the endpoint that replaces service's, or "" for AWS's own.
func (c Config) EndpointFor(service string) string {
	if e := c.Endpoints[service]; e != "" {
		return e
	}
	return c.Endpoint
}

// Load reads the SDK's configuration through its standard chain with c's overrides. It makes no
// request: wrong credentials show on the first call.
func (c Config) Load(ctx context.Context) (aws.Config, error) {
	if err := c.Validate(); err != nil {
		return aws.Config{}, err
	}
	hc := awshttp.NewBuildableClient().WithTransportOptions(func(t *http.Transport) {
		t.ResponseHeaderTimeout = responseHeaderTimeout
	})
	opts := []func(*config.LoadOptions) error{config.WithHTTPClient(hc)}
	if c.Region != "" {
		opts = append(opts, config.WithRegion(c.Region))
	}
	if c.Profile != "" {
		opts = append(opts, config.WithSharedConfigProfile(c.Profile))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return aws.Config{}, fmt.Errorf("load AWS configuration: %w", err)
	}
	if cfg.Region == "" {
		return aws.Config{}, fmt.Errorf("%w: no region; set the group's region (or AWS_REGION, or region in the profile)", ErrInvalid)
	}
	return cfg, nil
}
