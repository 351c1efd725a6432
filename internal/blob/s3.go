package blob

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go/middleware"
)

// maxS3PutSize is the largest object one S3 PUT may create. S3 stores bundles with one PUT of
// known length (see Put), so this bounds its maximum size.
const maxS3PutSize int64 = 5 << 30

// unsignedPayload is SigV4's marker for a body whose hash is not signed.
const unsignedPayload = "UNSIGNED-PAYLOAD"

// S3 stores blobs as objects of one bucket: <prefix>sha256/<digest>. Puts whose digest is not
// known in advance go through <prefix>tmp/ (see Put). It is safe for concurrent use, also by
// several servers on one bucket: an object appears whole, by one PUT or COPY, and two Puts of
// the same content write the same bytes to the same key.
type S3 struct {
	c       *S3Client
	bucket  string
	prefix  string
	maxSize int64
}

// NewS3 returns a store of bundles in bucket under prefix ("" or a path such as "slipway/").
func NewS3(c *S3Client, bucket, prefix string, opts ...Option) (*S3, error) {
	o := applyOptions(opts)
	if bucket == "" || strings.Contains(bucket, "/") {
		return nil, fmt.Errorf("s3 bundle store: bucket %q: give a bucket name (no slashes; the key prefix is separate)", bucket)
	}
	if strings.HasPrefix(prefix, "/") {
		return nil, fmt.Errorf("s3 bundle store: prefix %q: S3 keys do not start with '/'; drop it", prefix)
	}
	if prefix != "" && !strings.HasSuffix(prefix, "/") {
		prefix += "/"
	}
	if o.maxSize <= 0 || o.maxSize > maxS3PutSize {
		return nil, fmt.Errorf("s3 bundle store: max size %d: give a positive size up to 5 GiB (one S3 PUT)", o.maxSize)
	}
	return &S3{c: c, bucket: bucket, prefix: prefix, maxSize: o.maxSize}, nil
}

// Bucket is the bucket the store keeps its bundles in.
func (s *S3) Bucket() string { return s.bucket }

func (s *S3) key(digest string) string { return s.prefix + "sha256/" + digest }

func (s *S3) tempPrefix() string { return s.prefix + "tmp/" }

func (s *S3) object(key string) S3Object { return S3Object{Bucket: s.bucket, Key: key} }

// Put stores size bytes that r yields and returns their sha256 digest. S3 takes one PUT of known
// length, so size is required (ErrSizeRequired when negative); content of another length is
// ErrSizeMismatch. Content over the limit is ErrTooLarge. When check is not nil it runs on the
// complete content before it is stored under its digest, and its error refuses it. On any error
// nothing is kept under a digest, and a blob already stored there stays as it was.
//
// Every PUT with a known digest is signed with it as the payload's sha256, so S3 itself refuses
// other bytes, and the last byte is held back until Slipway's own hash of the rest matches, so a
// mismatch leaves the PUT short. The bytes are never written to the server's disk.
//
// With the digest known and nothing to check, the content streams straight to its final key.
// Otherwise the final key cannot be written yet (its name, or the verdict, comes at the end): the
// content goes to a temporary key, check reads it there (ranged GETs), it is copied inside S3
// to its final key, and the temporary object is deleted whatever happens. A temporary PUT
// without a digest cannot be signed with one, so a server that keeps a body cut short
// (versitygw does, after the connection drops; AWS S3 does not) may leave a truncated
// temporary object behind; it is never copied into place, and CleanTemp or a lifecycle rule
// removes it.
func (s *S3) Put(ctx context.Context, r io.Reader, size int64, wantDigest string, check Check) (digest string, n int64, err error) {
	if wantDigest != "" {
		if err := checkDigest(wantDigest); err != nil {
			return "", 0, fmt.Errorf("put blob: %w", err)
		}
	}
	switch {
	case size < 0:
		return "", 0, fmt.Errorf("put blob: %w", ErrSizeRequired)
	case size > s.maxSize:
		return "", 0, fmt.Errorf("put blob: %d bytes, more than %d: %w", size, s.maxSize, ErrTooLarge)
	}
	if wantDigest != "" {
		if got, err := s.Stat(ctx, wantDigest); err == nil && got == size {
			// Already stored: check what was sent all the same, so the answer means the same
			// as for a first upload, but write nothing. The stored bytes are those sent.
			sr := newSealedReader(ctx, r, size, wantDigest)
			if _, err := io.Copy(io.Discard, sr); err != nil {
				return "", 0, fmt.Errorf("put blob: %w", err)
			}
			if err := s.check(ctx, s.key(wantDigest), size, check); err != nil {
				return "", 0, fmt.Errorf("put blob %s: %w", wantDigest, err)
			}
			return wantDigest, size, nil
		}
		if check == nil {
			if _, err := s.upload(ctx, s.key(wantDigest), r, size, wantDigest); err != nil {
				return "", 0, fmt.Errorf("put blob: %w", err)
			}
			return wantDigest, size, nil
		}
	}
	return s.putVia(ctx, r, size, wantDigest, check)
}

// check runs check (when there is one) on the object at key.
func (s *S3) check(ctx context.Context, key string, size int64, check Check) error {
	if check == nil {
		return nil
	}
	or := &objectReader{ctx: ctx, c: s.c, o: s.object(key), size: size}
	defer func() { _ = or.Close() }()
	return check(or, size)
}

// putVia stores content through a temporary key; see Put.
func (s *S3) putVia(ctx context.Context, r io.Reader, size int64, wantDigest string, check Check) (string, int64, error) {
	tmp, err := s.tempKey()
	if err != nil {
		return "", 0, fmt.Errorf("put blob: %w", err)
	}
	defer s.deleteQuietly(ctx, tmp)
	digest, err := s.upload(ctx, tmp, r, size, wantDigest)
	if err != nil {
		return "", 0, fmt.Errorf("put blob: %w", err)
	}
	if err := s.check(ctx, tmp, size, check); err != nil {
		return "", 0, fmt.Errorf("put blob %s: %w", digest, err)
	}
	if got, err := s.Stat(ctx, digest); err == nil && got == size {
		return digest, size, nil
	}
	if err := s.copy(ctx, tmp, s.key(digest)); err != nil {
		return "", 0, fmt.Errorf("put blob %s: into place: %w", digest, err)
	}
	return digest, size, nil
}

// escapeKey URL-encodes a key for CopySource, keeping its slashes.
func escapeKey(key string) string {
	parts := strings.Split(key, "/")
	for i, p := range parts {
		parts[i] = url.PathEscape(p)
	}
	return strings.Join(parts, "/")
}

// upload PUTs size bytes of r at key and returns their digest; see Put for how wantDigest
// guards the key.
func (s *S3) upload(ctx context.Context, key string, r io.Reader, size int64, wantDigest string) (string, error) {
	sr := newSealedReader(ctx, r, size, wantDigest)
	var body io.Reader = sr
	if size == 0 {
		// Nothing to hold back: read (and so check) the empty content before sending.
		if _, err := io.Copy(io.Discard, sr); err != nil {
			return "", err
		}
		body = strings.NewReader("")
	}
	payloadHash := wantDigest
	if payloadHash == "" {
		payloadHash = unsignedPayload
	}
	_, err := s.c.api.PutObject(ctx, &s3.PutObjectInput{
		Bucket:        aws.String(s.bucket),
		Key:           aws.String(key),
		Body:          body,
		ContentLength: aws.Int64(size),
		ContentType:   aws.String("application/octet-stream"),
	}, s3.WithAPIOptions(withPayloadHash(payloadHash)), func(o *s3.Options) {
		// The body is a stream read once: a retry could not send it again, only wait first.
		o.RetryMaxAttempts = 1
	})
	if sr.err != nil {
		// The reader's own verdict (mismatch, short content, a failed client) explains the
		// failed PUT better than the transport's.
		return "", sr.err
	}
	if err != nil {
		return "", fmt.Errorf("upload %s: %w", key, s3Err(err))
	}
	if sr.digest == "" {
		return "", fmt.Errorf("upload %s: S3 answered before the whole content was sent", key)
	}
	return sr.digest, nil
}

// withPayloadHash sets the sha256 the request's payload is signed with, instead of letting the
// SDK read the body to compute it (the body is a stream that cannot be read twice).
func withPayloadHash(h string) func(*middleware.Stack) error {
	return func(st *middleware.Stack) error {
		return st.Finalize.Insert(middleware.FinalizeMiddlewareFunc("SlipwayPayloadHash",
			func(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (middleware.FinalizeOutput, middleware.Metadata, error) {
				return next.HandleFinalize(v4.SetPayloadHash(ctx, h), in)
			}), "ComputePayloadHash", middleware.Before)
	}
}

// sealedReader passes on exactly size bytes of r, hashing them, and holds the last one back
// until r has ended and, when want is set, the sha256 of the whole content is want. An HTTP
// request sending it therefore stays one byte short of its Content-Length, and fails, whenever
// the content is not what was announced.
type sealedReader struct {
	ctx  context.Context
	r    io.Reader
	size int64
	want string
	n    int64
	h    hash.Hash
	// err is the first failure; it is returned from then on.
	err error
	// digest is set once the whole content was read and checked.
	digest string
}

func newSealedReader(ctx context.Context, r io.Reader, size int64, want string) *sealedReader {
	return &sealedReader{ctx: ctx, r: r, size: size, want: want, h: sha256.New()}
}

func (s *sealedReader) fail(err error) error {
	if s.err == nil {
		s.err = err
	}
	return s.err
}

func (s *sealedReader) Read(p []byte) (int, error) {
	if s.err != nil {
		return 0, s.err
	}
	if err := s.ctx.Err(); err != nil {
		return 0, s.fail(err)
	}
	if s.digest != "" {
		return 0, io.EOF
	}
	if len(p) == 0 {
		return 0, nil
	}
	if rest := s.size - 1 - s.n; rest > 0 {
		k, err := s.r.Read(p[:min(int64(len(p)), rest)])
		s.h.Write(p[:k])
		s.n += int64(k)
		if errors.Is(err, io.EOF) {
			return k, s.fail(fmt.Errorf("content ended after %d bytes, want %d: %w", s.n, s.size, ErrSizeMismatch))
		}
		if err != nil {
			return k, s.fail(fmt.Errorf("read content: %w", err))
		}
		return k, nil
	}
	// The last byte (none for empty content): read it, make sure nothing follows, check.
	var last [1]byte
	k := 0
	if s.size > 0 {
		if _, err := io.ReadFull(s.r, last[:]); err != nil {
			if errors.Is(err, io.EOF) {
				return 0, s.fail(fmt.Errorf("content ended after %d bytes, want %d: %w", s.n, s.size, ErrSizeMismatch))
			}
			return 0, s.fail(fmt.Errorf("read content: %w", err))
		}
		k = 1
	}
	if err := atEOF(s.r); err != nil {
		if errors.Is(err, ErrSizeMismatch) {
			err = fmt.Errorf("content is longer than %d bytes: %w", s.size, err)
		}
		return 0, s.fail(err)
	}
	s.h.Write(last[:k])
	got := hex.EncodeToString(s.h.Sum(nil))
	if s.want != "" && got != s.want {
		return 0, s.fail(fmt.Errorf("got sha256 %s, want %s: %w", got, s.want, ErrDigestMismatch))
	}
	s.digest = got
	s.n += int64(k)
	if k == 0 {
		return 0, io.EOF
	}
	p[0] = last[0]
	return 1, nil
}

// atEOF reads r until it ends; ErrSizeMismatch if it yields anything.
func atEOF(r io.Reader) error {
	var b [1]byte
	for {
		n, err := r.Read(b[:])
		if n > 0 {
			return ErrSizeMismatch
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read content: %w", err)
		}
	}
}

// Open returns the blob's content and size; ErrNotFound when absent. The content is read with
// ranged GETs as it is read and sought, so it costs one request per Seek that moves.
func (s *S3) Open(ctx context.Context, digest string) (io.ReadSeekCloser, int64, error) {
	if err := checkDigest(digest); err != nil {
		return nil, 0, fmt.Errorf("open blob: %w", err)
	}
	size, err := s.Stat(ctx, digest)
	if err != nil {
		return nil, 0, fmt.Errorf("open blob: %w", err)
	}
	return &objectReader{ctx: ctx, c: s.c, o: s.object(s.key(digest)), size: size}, size, nil
}

// Stat returns the blob's size; ErrNotFound when absent (S3 says 403 instead of 404 to a role
// without s3:ListBucket on the bucket: grant it, see docs/s3.md).
func (s *S3) Stat(ctx context.Context, digest string) (int64, error) {
	if err := checkDigest(digest); err != nil {
		return 0, fmt.Errorf("stat blob: %w", err)
	}
	_, size, err := s.c.Head(ctx, s.object(s.key(digest)))
	if err != nil {
		return 0, fmt.Errorf("stat blob %s: %w", digest, err)
	}
	return size, nil
}

// Delete removes the blob; deleting an absent blob is not an error.
func (s *S3) Delete(ctx context.Context, digest string) error {
	if err := checkDigest(digest); err != nil {
		return fmt.Errorf("delete blob: %w", err)
	}
	_, err := s.c.api.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(s.key(digest))})
	if err != nil {
		return fmt.Errorf("delete blob %s: %w", digest, s3Err(err))
	}
	return nil
}

// PresignGet returns a URL from which the blob can be downloaded without credentials until it
// expires, so bundle bytes go from the bucket straight to agents.
func (s *S3) PresignGet(ctx context.Context, digest string) (string, time.Time, error) {
	if err := checkDigest(digest); err != nil {
		return "", time.Time{}, fmt.Errorf("presign blob: %w", err)
	}
	return s.c.Presign(ctx, s.object(s.key(digest)))
}

// CleanTemp deletes temporary objects older than before: those of Puts cut short by a crash.
// Call it at startup with the start time; a lifecycle rule expiring <prefix>tmp/ after a day
// does the same without s3:ListBucket.
func (s *S3) CleanTemp(ctx context.Context, before time.Time) (removed int, err error) {
	removed, err = s.clean(ctx, s.tempPrefix(), before)
	if err != nil {
		return removed, fmt.Errorf("clean blob temp: %w", err)
	}
	return removed, nil
}

// CleanUploads deletes objects clients uploaded to direct upload slots, last written before
// before, that were never completed (a completed slot's object is gone). An object written
// before the slot's URL expired can be completed for one URL lifetime more, so pass a time at
// least two URL lifetimes ago.
func (s *S3) CleanUploads(ctx context.Context, before time.Time) (removed int, err error) {
	removed, err = s.clean(ctx, s.uploadPrefix(), before)
	if err != nil {
		return removed, fmt.Errorf("clean abandoned uploads: %w", err)
	}
	return removed, nil
}

// clean deletes the objects under prefix last modified before before.
func (s *S3) clean(ctx context.Context, prefix string, before time.Time) (removed int, err error) {
	p := s3.NewListObjectsV2Paginator(s.c.api, &s3.ListObjectsV2Input{Bucket: aws.String(s.bucket), Prefix: aws.String(prefix)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return removed, s3Err(err)
		}
		for _, o := range page.Contents {
			if o.LastModified == nil || !o.LastModified.Before(before) {
				continue
			}
			_, err := s.c.api.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(s.bucket), Key: o.Key})
			if err != nil {
				return removed, s3Err(err)
			}
			removed++
		}
	}
	return removed, nil
}

// objectReader reads an object of known size through ranged GETs, opening one when a Read
// needs it and dropping it when Seek moves elsewhere.
type objectReader struct {
	ctx  context.Context
	c    *S3Client
	o    S3Object
	size int64
	mu   sync.Mutex
	off  int64
	body io.ReadCloser
}

func (r *objectReader) read(p []byte) (int, error) {
	if r.off >= r.size {
		return 0, io.EOF
	}
	if r.body == nil {
		out, err := r.c.api.GetObject(r.ctx, &s3.GetObjectInput{
			Bucket: aws.String(r.o.Bucket), Key: aws.String(r.o.Key),
			Range: aws.String(fmt.Sprintf("bytes=%d-", r.off)),
		})
		if err != nil {
			return 0, fmt.Errorf("read %s: %w", r.o, s3Err(err))
		}
		r.body = out.Body
	}
	n, err := r.body.Read(p)
	r.off += int64(n)
	if errors.Is(err, io.EOF) && r.off < r.size {
		err = fmt.Errorf("read %s: ended at byte %d of %d: %w", r.o, r.off, r.size, io.ErrUnexpectedEOF)
	}
	return n, err
}

// ReadAt reads from off, reusing the open ranged GET when the reads are in order (a tar stream,
// Check's usual case) and opening a new one when they jump (a zip's directory, then its files).
func (r *objectReader) ReadAt(p []byte, off int64) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, err := r.seek(off, io.SeekStart); err != nil {
		return 0, err
	}
	n, err := io.ReadFull(readerFunc(r.read), p)
	if errors.Is(err, io.ErrUnexpectedEOF) && r.off >= r.size {
		err = io.EOF
	}
	return n, err
}

type readerFunc func([]byte) (int, error)

func (f readerFunc) Read(p []byte) (int, error) { return f(p) }

func (r *objectReader) Read(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.read(p)
}

func (r *objectReader) Seek(offset int64, whence int) (int64, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.seek(offset, whence)
}

func (r *objectReader) seek(offset int64, whence int) (int64, error) {
	var to int64
	switch whence {
	case io.SeekStart:
		to = offset
	case io.SeekCurrent:
		to = r.off + offset
	case io.SeekEnd:
		to = r.size + offset
	default:
		return r.off, fmt.Errorf("seek %s: bad whence %d", r.o, whence)
	}
	if to < 0 {
		return r.off, fmt.Errorf("seek %s: negative position %d", r.o, to)
	}
	if to != r.off {
		r.drop()
		r.off = to
	}
	return to, nil
}

func (r *objectReader) drop() {
	if r.body != nil {
		_ = r.body.Close() // a ranged read abandoned on purpose
		r.body = nil
	}
}

func (r *objectReader) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.drop()
	return nil
}
