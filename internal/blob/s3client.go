package blob

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// DefaultPresignTTL is how long a presigned download URL stays valid unless told otherwise:
// agents start their download as soon as they get the URL, and a new command brings a new one.
const DefaultPresignTTL = 10 * time.Minute

// maxPresignTTL is SigV4's limit for a presigned URL.
const maxPresignTTL = 7 * 24 * time.Hour

// defaultEndpointRegion is the region signed for when an S3-compatible endpoint is given and
// nothing names a region: such servers accept any region, and us-east-1 is what they expect.
const defaultEndpointRegion = "us-east-1"

// S3Options says how to reach S3 or an S3-compatible server. Credentials are never here: they
// come from the SDK's standard chain (environment, shared config and credentials files, web
// identity, container or instance role).
type S3Options struct {
	// Region overrides the one the SDK finds (AWS_REGION, the shared config file).
	Region string
	// Endpoint is an S3-compatible server's base URL (e.g. http://127.0.0.1:7070); "" for AWS.
	Endpoint string
	// PathStyle addresses buckets as ENDPOINT/BUCKET/KEY instead of BUCKET.ENDPOINT/KEY, which
	// most S3-compatible servers need.
	PathStyle bool
	// PresignTTL is how long presigned URLs last; DefaultPresignTTL when zero.
	PresignTTL time.Duration
}

// Validate says what to change in options that cannot work.
func (o S3Options) Validate() error {
	if o.PresignTTL < 0 || (o.PresignTTL > 0 && o.PresignTTL < time.Second) || o.PresignTTL > maxPresignTTL {
		return fmt.Errorf("presign TTL %s: give a duration from 1s to 168h (S3's limit)", o.PresignTTL)
	}
	if o.Endpoint != "" && !strings.HasPrefix(o.Endpoint, "http://") && !strings.HasPrefix(o.Endpoint, "https://") {
		return fmt.Errorf("endpoint %q: give a URL starting with https:// (or http:// for a local test server)", o.Endpoint)
	}
	return nil
}

// S3Client talks to S3 through the AWS SDK. Both the bundle store (S3) and revisions registered
// by S3 location use it.
type S3Client struct {
	api     *s3.Client
	presign *s3.PresignClient
	ttl     time.Duration
}

// NewS3Client loads the SDK's configuration (credentials, region) and applies o on top. It makes
// no request: a wrong credential shows on first use, not here.
func NewS3Client(ctx context.Context, o S3Options) (*S3Client, error) {
	if err := o.Validate(); err != nil {
		return nil, fmt.Errorf("s3: %w", err)
	}
	// No overall client timeout (bundles are large; contexts bound each call), but no endless
	// wait for an answer either.
	hc := awshttp.NewBuildableClient().WithTransportOptions(func(t *http.Transport) {
		t.ResponseHeaderTimeout = time.Minute
	})
	opts := []func(*config.LoadOptions) error{
		config.WithHTTPClient(hc),
		// The SDK's default since 2025 adds CRC checksums (aws-chunked trailers over TLS) that
		// many S3-compatible servers refuse; Slipway verifies sha256 itself, and signs the
		// payload's sha256 when it knows it (see S3.Put).
		config.WithRequestChecksumCalculation(aws.RequestChecksumCalculationWhenRequired),
		config.WithResponseChecksumValidation(aws.ResponseChecksumValidationWhenRequired),
	}
	if o.Region != "" {
		opts = append(opts, config.WithRegion(o.Region))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("s3: load AWS configuration: %w", err)
	}
	if cfg.Region == "" {
		if o.Endpoint == "" {
			return nil, errors.New("s3: no region: set s3_region (or AWS_REGION, or region in ~/.aws/config)")
		}
		cfg.Region = defaultEndpointRegion
	}
	api := s3.NewFromConfig(cfg, func(so *s3.Options) {
		if o.Endpoint != "" {
			so.BaseEndpoint = aws.String(o.Endpoint)
		}
		so.UsePathStyle = o.PathStyle
	})
	ttl := o.PresignTTL
	if ttl == 0 {
		ttl = DefaultPresignTTL
	}
	return &S3Client{api: api, presign: s3.NewPresignClient(api), ttl: ttl}, nil
}

// S3Object names an object in a bucket, as a revision registered by S3 location does.
type S3Object struct {
	Bucket string
	Key    string
	// Version pins one version of the object; "" means the current one.
	Version string
	// ETag, when set, must be the object's (with or without its quotes).
	ETag string
}

func (o S3Object) String() string {
	s := "s3://" + o.Bucket + "/" + o.Key
	if o.Version != "" {
		s += "?versionId=" + o.Version
	}
	return s
}

// Head returns o as it is now in its bucket, with its version (when the bucket keeps versions)
// and ETag filled in, and its size. An ETag in o that differs from the object's is
// ErrETagMismatch; a missing object (or version) is ErrNotFound.
func (c *S3Client) Head(ctx context.Context, o S3Object) (S3Object, int64, error) {
	out, err := c.api.HeadObject(ctx, &s3.HeadObjectInput{
		Bucket: aws.String(o.Bucket), Key: aws.String(o.Key), VersionId: optional(o.Version),
	})
	if err != nil {
		return S3Object{}, 0, fmt.Errorf("head %s: %w", o, s3Err(err))
	}
	etag := aws.ToString(out.ETag)
	if o.ETag != "" && unquote(o.ETag) != unquote(etag) {
		return S3Object{}, 0, fmt.Errorf("%s has ETag %s, not %s: %w", o, etag, o.ETag, ErrETagMismatch)
	}
	got := o
	got.ETag = etag
	if got.Version == "" {
		got.Version = aws.ToString(out.VersionId)
	}
	if got.Version == "null" { // a bucket that never had versioning enabled
		got.Version = ""
	}
	return got, aws.ToInt64(out.ContentLength), nil
}

// Get reads o. With an ETag in o, an object replaced since (a different ETag) is
// ErrETagMismatch rather than other bytes. The caller closes the body.
func (c *S3Client) Get(ctx context.Context, o S3Object) (io.ReadCloser, error) {
	in := &s3.GetObjectInput{Bucket: aws.String(o.Bucket), Key: aws.String(o.Key), VersionId: optional(o.Version)}
	if o.ETag != "" {
		in.IfMatch = aws.String(`"` + unquote(o.ETag) + `"`)
	}
	out, err := c.api.GetObject(ctx, in)
	if err != nil {
		return nil, fmt.Errorf("get %s: %w", o, s3Err(err))
	}
	return out.Body, nil
}

// Presign returns a URL that lets whoever holds it GET o, and nothing else, until it expires.
// Anyone with the URL can read the object: hand it only to the hosts that need it.
func (c *S3Client) Presign(ctx context.Context, o S3Object) (url string, expires time.Time, err error) {
	expires = time.Now().Add(c.ttl)
	req, err := c.presign.PresignGetObject(ctx, &s3.GetObjectInput{
		Bucket: aws.String(o.Bucket), Key: aws.String(o.Key), VersionId: optional(o.Version),
	}, s3.WithPresignExpires(c.ttl))
	if err != nil {
		return "", time.Time{}, fmt.Errorf("presign %s: %w", o, err)
	}
	return req.URL, expires, nil
}

func optional(s string) *string {
	if s == "" {
		return nil
	}
	return aws.String(s)
}

func unquote(etag string) string { return strings.Trim(strings.TrimPrefix(etag, "W/"), `"`) }

// s3Err maps S3's answers onto the package's sentinel errors, keeping the original.
func s3Err(err error) error {
	var re interface{ HTTPStatusCode() int }
	if errors.As(err, &re) {
		switch re.HTTPStatusCode() {
		case http.StatusNotFound:
			return fmt.Errorf("%w: %w", ErrNotFound, err)
		case http.StatusPreconditionFailed:
			return fmt.Errorf("%w: %w", ErrETagMismatch, err)
		case http.StatusForbidden:
			return fmt.Errorf("%w: %w", ErrAccessDenied, err)
		}
	}
	return err
}
