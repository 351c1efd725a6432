package blob_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/slipway-deploy/slipway/internal/blob"
	"github.com/slipway-deploy/slipway/internal/blob/blobtest"
)

// newS3 starts versitygw with a bucket "bundles" and returns a client (presigning for ttl) and
// a store on that bucket.
func newS3(t *testing.T, ttl time.Duration) (*blobtest.S3Server, *blob.S3Client, *blob.S3) {
	t.Helper()
	srv := blobtest.StartS3(t)
	srv.SetEnv(t)
	srv.CreateBucket(t, "bundles", false)
	c, s := newS3Store(t, srv, ttl, "")
	return srv, c, s
}

func s3Options(srv *blobtest.S3Server) blob.S3Options {
	return blob.S3Options{Region: blobtest.Region, Endpoint: srv.Endpoint, PathStyle: true}
}

// newS3Store is a client of srv presigning for ttl, and a store on its "bundles" bucket.
func newS3Store(t *testing.T, srv *blobtest.S3Server, ttl time.Duration, prefix string, opts ...blob.Option) (*blob.S3Client, *blob.S3) {
	t.Helper()
	o := s3Options(srv)
	o.PresignTTL = ttl
	c, err := blob.NewS3Client(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	s, err := blob.NewS3(c, "bundles", prefix, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return c, s
}

// get fetches url as an agent would: no credentials of any kind.
func get(t *testing.T, url string) (int, []byte) {
	t.Helper()
	resp, err := http.Get(url) //nolint:gosec // the test's own server
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b
}

func TestS3_PresignedURLServesTheBlobThenExpires(t *testing.T) {
	ctx := context.Background()
	srv, _, s := newS3(t, time.Hour)
	content := []byte("bundle bytes for an agent")
	digest, _, err := s.Put(ctx, bytes.NewReader(content), int64(len(content)), sum(content), nil)
	if err != nil {
		t.Fatal(err)
	}
	url, expires, err := s.PresignGet(ctx, digest)
	if err != nil {
		t.Fatal(err)
	}
	if until := time.Until(expires); until < 59*time.Minute || until > time.Hour {
		t.Errorf("expires in %s, want about the TTL of 1h", until)
	}
	if !strings.HasPrefix(url, srv.Endpoint+"/bundles/sha256/"+digest+"?") {
		t.Errorf("presigned URL %s: want the object's path-style URL on %s", url, srv.Endpoint)
	}
	if code, body := get(t, url); code != http.StatusOK || !bytes.Equal(body, content) {
		t.Fatalf("GET presigned URL: %d %q, want 200 and the content", code, body)
	}
	// The signature covers the key: the URL opens nothing else, and the object needs it.
	other := strings.Replace(url, digest, sum([]byte("other")), 1)
	if code, _ := get(t, other); code != http.StatusForbidden {
		t.Errorf("GET with another key under the same signature: %d, want 403", code)
	}
	if code, _ := get(t, srv.Endpoint+"/bundles/sha256/"+digest); code != http.StatusForbidden {
		t.Errorf("GET without a signature: %d, want 403", code)
	}

	// A URL signed for one second stops working once the second has passed.
	_, short := newS3Store(t, srv, time.Second, "")
	shortURL, _, err := short.PresignGet(ctx, digest)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		code, _ := get(t, shortURL)
		if code == http.StatusForbidden {
			break
		}
		if code != http.StatusOK {
			t.Fatalf("GET short-lived URL: %d, want 200 until it expires, then 403", code)
		}
		if time.Now().After(deadline) {
			t.Fatal("a presigned URL valid for 1s still works after 30s")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestS3_PutNeedsTheSize(t *testing.T) {
	srv, _, s := newS3(t, 0)
	_, _, err := s.Put(context.Background(), strings.NewReader("content"), -1, "", nil)
	if !errors.Is(err, blob.ErrSizeRequired) {
		t.Errorf("Put(size -1): got %v, want ErrSizeRequired", err)
	}
	if keys := srv.Keys(t, "bundles"); len(keys) != 0 {
		t.Errorf("bucket holds %q, want nothing", keys)
	}
}

// Each cleaner removes only old objects under its own prefix: CleanTemp those of Puts cut short,
// CleanUploads those of direct upload slots never completed.
func TestS3_CleanersRemoveOnlyOldObjectsOfTheirOwn(t *testing.T) {
	ctx := context.Background()
	srv, _, s := newS3(t, 0)
	srv.Put(t, "bundles", "tmp/left-by-a-crash", []byte("half an upload"))
	srv.Put(t, "bundles", "uploads/abandoned", []byte("a bundle never completed"))
	srv.Put(t, "bundles", "unrelated", []byte("not ours"))
	content := []byte("kept")
	if _, _, err := s.Put(ctx, bytes.NewReader(content), int64(len(content)), "", nil); err != nil {
		t.Fatal(err)
	}
	kept := "sha256/" + sum(content)
	for _, c := range []struct {
		name  string
		clean func(context.Context, time.Time) (int, error)
		left  []string
	}{
		{"CleanTemp", s.CleanTemp, []string{kept, "unrelated", "uploads/abandoned"}},
		{"CleanUploads", s.CleanUploads, []string{kept, "unrelated"}},
	} {
		if n, err := c.clean(ctx, time.Now().Add(-time.Hour)); err != nil || n != 0 {
			t.Errorf("%s(an hour ago): removed %d %v, want 0: nothing is that old", c.name, n, err)
		}
		if n, err := c.clean(ctx, time.Now().Add(time.Minute)); err != nil || n != 1 {
			t.Errorf("%s(now): removed %d %v, want 1", c.name, n, err)
		}
		if got := srv.Keys(t, "bundles"); strings.Join(got, " ") != strings.Join(c.left, " ") {
			t.Errorf("after %s the bucket holds %q, want %q", c.name, got, c.left)
		}
	}
}

func TestS3Client_ObjectsPinnedByVersionAndETag(t *testing.T) {
	ctx := context.Background()
	srv, c, _ := newS3(t, time.Hour)
	srv.CreateBucket(t, "releases", true)
	v1, etag1 := srv.Put(t, "releases", "app/build.tgz", []byte("first build"))
	v2, etag2 := srv.Put(t, "releases", "app/build.tgz", []byte("second build"))
	if v1 == "" || v1 == v2 || etag1 == etag2 {
		t.Fatalf("versions %q %q, etags %q %q: want two distinct versions", v1, v2, etag1, etag2)
	}

	// Without a version, Head names the current one, so the revision stays what was checked.
	got, size, err := c.Head(ctx, blob.S3Object{Bucket: "releases", Key: "app/build.tgz"})
	if err != nil || got.Version != v2 || got.ETag != etag2 || size != int64(len("second build")) {
		t.Errorf("Head(current): got %+v %d %v, want version %s etag %s", got, size, err, v2, etag2)
	}
	first := blob.S3Object{Bucket: "releases", Key: "app/build.tgz", Version: v1, ETag: strings.Trim(etag1, `"`)}
	if got, _, err := c.Head(ctx, first); err != nil || got.Version != v1 {
		t.Errorf("Head(v1): got %+v %v", got, err)
	}
	body, err := c.Get(ctx, first)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(body)
	body.Close()
	if err != nil || string(b) != "first build" {
		t.Errorf("Get(v1): got %q %v, want the first build", b, err)
	}
	url, _, err := c.Presign(ctx, first)
	if err != nil {
		t.Fatal(err)
	}
	if code, b := get(t, url); code != http.StatusOK || string(b) != "first build" {
		t.Errorf("GET presigned v1: %d %q, want the first build", code, b)
	}

	stale := blob.S3Object{Bucket: "releases", Key: "app/build.tgz", ETag: etag1}
	if _, _, err := c.Head(ctx, stale); !errors.Is(err, blob.ErrETagMismatch) {
		t.Errorf("Head with a replaced object's ETag: got %v, want ErrETagMismatch", err)
	}
	if _, err := c.Get(ctx, stale); !errors.Is(err, blob.ErrETagMismatch) {
		t.Errorf("Get with a replaced object's ETag: got %v, want ErrETagMismatch", err)
	}
	for _, missing := range []blob.S3Object{
		{Bucket: "releases", Key: "app/none.tgz"},
		{Bucket: "no-such-bucket", Key: "app/build.tgz"},
	} {
		if _, _, err := c.Head(ctx, missing); !errors.Is(err, blob.ErrNotFound) {
			t.Errorf("Head(%s): got %v, want ErrNotFound", missing, err)
		}
	}
}

func TestNewS3Client_NeedsARegionForAWS(t *testing.T) {
	t.Setenv("AWS_REGION", "")
	t.Setenv("AWS_DEFAULT_REGION", "")
	t.Setenv("AWS_CONFIG_FILE", os.DevNull)
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", os.DevNull)
	if _, err := blob.NewS3Client(context.Background(), blob.S3Options{}); err == nil || !strings.Contains(err.Error(), "s3_region") {
		t.Errorf("NewS3Client without a region: got %v, want an error naming s3_region", err)
	}
	// An S3-compatible endpoint gets a default region: such servers accept any.
	if _, err := blob.NewS3Client(context.Background(), blob.S3Options{Endpoint: "http://127.0.0.1:1"}); err != nil {
		t.Errorf("NewS3Client with an endpoint and no region: %v", err)
	}
	for _, bad := range []struct{ bucket, prefix string }{{"", ""}, {"a/b", ""}, {"bundles", "/slipway"}} {
		c, err := blob.NewS3Client(context.Background(), blob.S3Options{Region: "eu-west-1"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := blob.NewS3(c, bad.bucket, bad.prefix); err == nil {
			t.Errorf("NewS3(%q, %q): got no error", bad.bucket, bad.prefix)
		}
		if _, err := blob.NewS3(c, "bundles", "", blob.WithMaxSize(6<<30)); err == nil {
			t.Errorf("NewS3 with a 6 GiB limit: got no error, want one (one PUT holds 5 GiB)")
		}
	}
}

func TestS3Options_Validate(t *testing.T) {
	for _, tc := range []struct {
		o    blob.S3Options
		want string
	}{
		{blob.S3Options{PresignTTL: time.Millisecond}, "presign TTL"},
		{blob.S3Options{PresignTTL: 8 * 24 * time.Hour}, "presign TTL"},
		{blob.S3Options{Endpoint: "minio.internal:9000"}, "https://"},
	} {
		if err := tc.o.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Validate(%+v): got %v, want an error about %s", tc.o, err, tc.want)
		}
	}
	if err := (blob.S3Options{Endpoint: "http://127.0.0.1:7070", PresignTTL: time.Minute}).Validate(); err != nil {
		t.Errorf("Validate(good options): %v", err)
	}
}
