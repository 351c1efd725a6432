// Package blobtest runs a real S3-compatible server for tests: versitygw with its posix backend
// in a temporary directory, on a free loopback port, with throwaway credentials. It is for tests
// only; nothing else imports it.
package blobtest

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// VersitygwModule is what scripts/test-deps.sh installs; the tests were written against it.
const VersitygwModule = "github.com/versity/versitygw/cmd/versitygw@v1.8.0"

// Region is the region the server answers for.
const Region = "us-east-1"

// S3Server is a running versitygw.
type S3Server struct {
	// Endpoint is its base URL, http://127.0.0.1:PORT; buckets are addressed path-style (the
	// server answers for Region).
	Endpoint string
	// AccessKey and SecretKey are its root credentials.
	AccessKey, SecretKey string
	// API is a client with the root credentials, for setting up buckets and objects.
	API *s3.Client
	// log is the file versitygw writes its output to, shown when a test fails.
	log string
}

// Binary finds versitygw: $VERSITYGW, then PATH, then the go install directory. Under CI=true a
// missing server fails the test (scripts/test-deps.sh installs it); elsewhere the test skips.
func Binary(t testing.TB) string {
	t.Helper()
	candidates := []string{os.Getenv("VERSITYGW")}
	if p, err := exec.LookPath("versitygw"); err == nil {
		candidates = append(candidates, p)
	}
	if gobin := os.Getenv("GOBIN"); gobin != "" {
		candidates = append(candidates, filepath.Join(gobin, "versitygw"))
	}
	if out, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
		for _, dir := range filepath.SplitList(strings.TrimSpace(string(out))) {
			candidates = append(candidates, filepath.Join(dir, "bin", "versitygw"))
		}
	}
	for _, c := range candidates {
		if c == "" {
			continue
		}
		if fi, err := os.Stat(c); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 { //nolint:gosec // looks for a binary where the developer's own environment says
			return c
		}
	}
	msg := "versitygw is not installed (go install " + VersitygwModule + ", or make test-deps)"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// StartS3 starts a versitygw for the test and stops it when the test ends. Bucket versioning is
// available (CreateBucket with versioned true).
func StartS3(t testing.TB) *S3Server {
	t.Helper()
	bin := Binary(t)
	root := t.TempDir()
	s := &S3Server{AccessKey: "slipway-test-key", SecretKey: "slipway-test-secret-" + filepath.Base(root)}
	var lastErr error
	// A free port found by listening can be taken again before versitygw binds it: try anew.
	for range 3 {
		port, err := freePort()
		if err != nil {
			t.Fatal(err)
		}
		if lastErr = s.start(t, bin, root, port); lastErr == nil {
			return s
		}
	}
	t.Fatalf("start versitygw: %v", lastErr)
	return nil
}

func (s *S3Server) start(t testing.TB, bin, root string, port int) error {
	t.Helper()
	data, versions := filepath.Join(root, "data"), filepath.Join(root, "versions")
	for _, d := range []string{data, versions} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return err
		}
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	cmd := exec.Command(bin, "--access", s.AccessKey, "--secret", s.SecretKey, "--region", Region,
		"--port", addr, "--quiet", "posix", "--versioning-dir", versions, data)
	s.log = filepath.Join(root, fmt.Sprintf("versitygw-%d.log", port))
	out, err := os.Create(s.log)
	if err != nil {
		return err
	}
	defer func() { _ = out.Close() }() // the child has its own descriptor
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	stop := func() {
		_ = cmd.Process.Kill()
		<-exited
	}
	s.Endpoint = "http://" + addr
	s.API = s3.New(s3.Options{
		Region: Region, BaseEndpoint: aws.String(s.Endpoint), UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider(s.AccessKey, s.SecretKey, ""),
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case <-exited:
			return fmt.Errorf("versitygw exited: %s", s.output())
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_, err := s.API.ListBuckets(ctx, &s3.ListBucketsInput{})
		cancel()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			stop()
			return fmt.Errorf("versitygw did not answer within 30s: %w\n%s", err, s.output())
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Cleanup(func() {
		stop()
		if t.Failed() {
			t.Logf("versitygw output:\n%s", s.output())
		}
	})
	return nil
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer func() { _ = ln.Close() }()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// Env is the environment that points the AWS SDK's standard credential chain at this server's
// credentials and nothing else on the machine (no shared files, no instance metadata).
func (s *S3Server) Env() []string {
	return []string{
		"AWS_ACCESS_KEY_ID=" + s.AccessKey,
		"AWS_SECRET_ACCESS_KEY=" + s.SecretKey,
		"AWS_REGION=" + Region,
		"AWS_CONFIG_FILE=" + os.DevNull,
		"AWS_SHARED_CREDENTIALS_FILE=" + os.DevNull,
		"AWS_EC2_METADATA_DISABLED=true",
	}
}

// SetEnv sets Env in the test's own process, for code that loads the SDK's configuration.
func (s *S3Server) SetEnv(t *testing.T) {
	t.Helper()
	for _, kv := range s.Env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
}

// CreateBucket makes a bucket, keeping object versions when versioned.
func (s *S3Server) CreateBucket(t testing.TB, name string, versioned bool) {
	t.Helper()
	ctx := context.Background()
	if _, err := s.API.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		t.Fatalf("create bucket %s: %v", name, err)
	}
	if !versioned {
		return
	}
	_, err := s.API.PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{
		Bucket:                  aws.String(name),
		VersioningConfiguration: &types.VersioningConfiguration{Status: types.BucketVersioningStatusEnabled},
	})
	if err != nil {
		t.Fatalf("enable versioning on %s: %v", name, err)
	}
}

// Put stores an object and returns its version id ("" without versioning) and ETag.
func (s *S3Server) Put(t testing.TB, bucket, key string, body []byte) (version, etag string) {
	t.Helper()
	out, err := s.API.PutObject(context.Background(), &s3.PutObjectInput{
		Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader(body),
	})
	if err != nil {
		t.Fatalf("put s3://%s/%s: %v", bucket, key, err)
	}
	return aws.ToString(out.VersionId), aws.ToString(out.ETag)
}

// Keys lists every key in the bucket, in S3's order.
func (s *S3Server) Keys(t testing.TB, bucket string) []string {
	t.Helper()
	var keys []string
	p := s3.NewListObjectsV2Paginator(s.API, &s3.ListObjectsV2Input{Bucket: aws.String(bucket)})
	for p.HasMorePages() {
		page, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatalf("list s3://%s: %v", bucket, err)
		}
		for _, o := range page.Contents {
			keys = append(keys, aws.ToString(o.Key))
		}
	}
	return keys
}

// output is what versitygw printed.
func (s *S3Server) output() string {
	b, err := os.ReadFile(s.log)
	if err != nil {
		return err.Error()
	}
	return string(b)
}
