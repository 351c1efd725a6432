package blob

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// Direct uploads: a client PUTs a bundle into the bucket itself, through a presigned URL for a
// key the server chose under <prefix>uploads/, and the server then takes the object over
// (ClaimUpload), checks it and keeps it under its digest (KeepUpload). The bytes never pass
// through the server on the way in.

// uploadIDRE is what names an upload's object: the server's random id, never a client's path.
var uploadIDRE = regexp.MustCompile(`^[0-9a-f]{32}$`)

// ErrUploadMissing marks an upload slot whose object is not in the bucket: nothing was PUT to
// its URL (or the upload was already taken over).
var ErrUploadMissing = fmt.Errorf("%w: nothing was uploaded to the slot", ErrNotFound)

// PresignedPut is a request that uploads one object without credentials: a PUT to URL with
// exactly Header, until Expires.
type PresignedPut struct {
	URL     string
	Header  http.Header
	Expires time.Time
}

func (s *S3) uploadKey(id string) string { return s.uploadPrefix() + id }

func (s *S3) uploadPrefix() string { return s.prefix + "uploads/" }

// PresignUpload returns a PUT that stores size bytes whose sha256 is digest as upload id, for
// ttl. The request is signed with its length and its sha256 checksum (x-amz-checksum-sha256),
// so S3 itself refuses a body of another length or other bytes, and the URL can write nothing
// else.
func (s *S3) PresignUpload(ctx context.Context, id string, size int64, digest string, ttl time.Duration) (PresignedPut, error) {
	if !uploadIDRE.MatchString(id) {
		return PresignedPut{}, fmt.Errorf("presign upload %q: not an upload id", id)
	}
	if err := checkDigest(digest); err != nil {
		return PresignedPut{}, fmt.Errorf("presign upload: %w", err)
	}
	switch {
	case size <= 0:
		return PresignedPut{}, fmt.Errorf("presign upload: %d bytes: %w", size, ErrSizeRequired)
	case size > s.maxSize:
		return PresignedPut{}, fmt.Errorf("presign upload: %d bytes, more than %d: %w", size, s.maxSize, ErrTooLarge)
	}
	raw, err := hex.DecodeString(digest)
	if err != nil {
		return PresignedPut{}, fmt.Errorf("presign upload: %w", err)
	}
	expires := time.Now().Add(ttl)
	req, err := s.c.presign.PresignPutObject(ctx, &s3.PutObjectInput{
		Bucket:         aws.String(s.bucket),
		Key:            aws.String(s.uploadKey(id)),
		ContentLength:  aws.Int64(size),
		ContentType:    aws.String("application/octet-stream"),
		ChecksumSHA256: aws.String(base64.StdEncoding.EncodeToString(raw)),
	}, s3.WithPresignExpires(ttl))
	if err != nil {
		return PresignedPut{}, fmt.Errorf("presign upload %s: %w", id, err)
	}
	h := http.Header{}
	for k, v := range req.SignedHeader {
		// Host comes from the URL; the client's HTTP library sets it (and Content-Length, from
		// the body's size).
		if http.CanonicalHeaderKey(k) == "Host" {
			continue
		}
		h[http.CanonicalHeaderKey(k)] = v
	}
	return PresignedPut{URL: req.URL, Header: h, Expires: expires}, nil
}

// ClaimUpload takes over upload id's object: it is copied, inside S3, to a temporary key only
// the server writes, and the upload's own object is deleted, so whatever is PUT to the slot's
// URL afterwards changes nothing of what the server then reads, checks and keeps. It returns
// the copy and its size; the caller hands it to KeepUpload or DiscardUpload. ErrUploadMissing
// when nothing was uploaded.
func (s *S3) ClaimUpload(ctx context.Context, id string) (S3Object, int64, error) {
	if !uploadIDRE.MatchString(id) {
		return S3Object{}, 0, fmt.Errorf("claim upload %q: not an upload id", id)
	}
	src := s.uploadKey(id)
	defer s.deleteQuietly(ctx, src)
	tmp, err := s.tempKey()
	if err != nil {
		return S3Object{}, 0, fmt.Errorf("claim upload %s: %w", id, err)
	}
	if err := s.copy(ctx, src, tmp); err != nil {
		if errors.Is(err, ErrNotFound) {
			return S3Object{}, 0, fmt.Errorf("claim upload %s: %w", id, ErrUploadMissing)
		}
		return S3Object{}, 0, fmt.Errorf("claim upload %s: %w", id, err)
	}
	o, size, err := s.c.Head(ctx, s.object(tmp))
	if err != nil {
		s.deleteQuietly(ctx, tmp)
		return S3Object{}, 0, fmt.Errorf("claim upload %s: %w", id, err)
	}
	return o, size, nil
}

// KeepUpload stores a claimed upload, which the caller has checked hashes to digest, under
// digest (unless a blob is there already) and deletes the claimed copy.
func (s *S3) KeepUpload(ctx context.Context, claimed S3Object, size int64, digest string) error {
	defer s.DiscardUpload(ctx, claimed)
	if err := checkDigest(digest); err != nil {
		return fmt.Errorf("keep upload: %w", err)
	}
	if err := s.ownTemp(claimed); err != nil {
		return err
	}
	if got, err := s.Stat(ctx, digest); err == nil && got == size {
		return nil
	}
	if err := s.copy(ctx, claimed.Key, s.key(digest)); err != nil {
		return fmt.Errorf("keep upload as %s: %w", digest, err)
	}
	return nil
}

// DiscardUpload deletes a claimed upload's copy.
func (s *S3) DiscardUpload(ctx context.Context, claimed S3Object) {
	if s.ownTemp(claimed) == nil {
		s.deleteQuietly(ctx, claimed.Key)
	}
}

// Get reads an object of the store's bucket, such as a claimed upload.
func (s *S3) Get(ctx context.Context, o S3Object) (io.ReadCloser, error) {
	if o.Bucket != s.bucket {
		return nil, fmt.Errorf("get %s: not in the bundle bucket %s", o, s.bucket)
	}
	return s.c.Get(ctx, o)
}

// ownTemp refuses an object that is not one of the store's temporary copies.
func (s *S3) ownTemp(o S3Object) error {
	if o.Bucket != s.bucket || len(o.Key) <= len(s.tempPrefix()) || o.Key[:len(s.tempPrefix())] != s.tempPrefix() {
		return fmt.Errorf("%s is not a claimed upload of the bundle store", o)
	}
	return nil
}

// tempKey is a fresh key under <prefix>tmp/.
func (s *S3) tempKey() (string, error) {
	id, err := NewUploadID()
	if err != nil {
		return "", err
	}
	return s.tempPrefix() + id, nil
}

// NewUploadID returns a random upload id.
func NewUploadID() (string, error) {
	var rnd [16]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return "", err
	}
	return hex.EncodeToString(rnd[:]), nil
}

// copy copies an object of the bucket to another key, inside S3.
func (s *S3) copy(ctx context.Context, from, to string) error {
	_, err := s.c.api.CopyObject(ctx, &s3.CopyObjectInput{
		Bucket:     aws.String(s.bucket),
		Key:        aws.String(to),
		CopySource: aws.String(url.PathEscape(s.bucket) + "/" + escapeKey(from)),
	})
	if err != nil {
		return fmt.Errorf("copy %s to %s: %w", from, to, s3Err(err))
	}
	return nil
}

// deleteQuietly deletes key with a fresh context, so that a cancelled request still cleans up;
// deleting a key that does not exist is not an error in S3, and a failure leaves the object to
// CleanTemp or a lifecycle rule.
func (s *S3) deleteQuietly(ctx context.Context, key string) {
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	_, _ = s.c.api.DeleteObject(dctx, &s3.DeleteObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(key)})
}
