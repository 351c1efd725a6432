package blob

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// DefaultMaxSize is the largest bundle Disk accepts unless told otherwise: far above any
// application bundle, low enough that a runaway upload cannot fill a disk unnoticed.
const DefaultMaxSize int64 = 2 << 30

// tempPrefix names Put's temporary files, so CleanTemp removes nothing else.
const tempPrefix = "put-"

// Disk stores blobs as files under a directory. It is safe for concurrent use, also by several
// processes on one directory: every file appears by an atomic rename of complete, fsync'd
// content, and two Puts of the same content write the same bytes to the same name.
type Disk struct {
	dir     string
	maxSize int64
}

// Option configures a store (Disk or S3).
type Option func(*options)

type options struct {
	maxSize int64
}

func applyOptions(opts []Option) options {
	o := options{maxSize: DefaultMaxSize}
	for _, f := range opts {
		f(&o)
	}
	return o
}

// WithMaxSize sets the largest blob Put accepts (ErrTooLarge beyond).
func WithMaxSize(n int64) Option { return func(o *options) { o.maxSize = n } }

// NewDisk returns a Disk storing under dir, creating the directory if needed.
func NewDisk(dir string, opts ...Option) (*Disk, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("blob dir %s: %w", dir, err)
	}
	d := &Disk{dir: abs, maxSize: applyOptions(opts).maxSize}
	if d.maxSize <= 0 {
		return nil, fmt.Errorf("blob dir %s: max size %d must be positive", dir, d.maxSize)
	}
	// The temporary directory sits inside dir so that a rename into place never crosses file
	// systems (which would turn it into a non-atomic copy).
	for _, sub := range []string{d.tempDir(), filepath.Join(abs, "sha256")} {
		if err := os.MkdirAll(sub, 0o700); err != nil {
			return nil, fmt.Errorf("blob dir %s: %w", dir, err)
		}
	}
	return d, nil
}

func (d *Disk) tempDir() string { return filepath.Join(d.dir, "tmp") }

// path is where the blob with digest lives; digest must have been validated.
func (d *Disk) path(digest string) string {
	return filepath.Join(d.dir, "sha256", digest[:2], digest)
}

// ValidDigest reports whether s is 64 lower-case hex characters, the only form of digest the
// package accepts: nothing else (upper case, separators, dots) can reach a path.
func ValidDigest(s string) bool {
	if len(s) != sha256.Size*2 {
		return false
	}
	for i := range len(s) {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

func checkDigest(digest string) error {
	if !ValidDigest(digest) {
		return fmt.Errorf("%w: %q", ErrInvalidDigest, digest)
	}
	return nil
}

// Check looks at content Put has received in full, before it is stored under its digest; an
// error refuses it. It must not keep content past its return.
type Check func(content io.ReaderAt, size int64) error

// Put stores what r yields and returns its sha256 digest and size. size is the content's
// length when known (content of another length is ErrSizeMismatch), or -1. When wantDigest is
// not empty the content must hash to it (ErrDigestMismatch otherwise). Content larger than the
// limit is ErrTooLarge. When check is not nil it runs on the complete content, and its error
// (returned wrapped) refuses the content. On any error nothing is kept, and a blob already
// stored under the digest stays as it was. Storing content that is already there is not an
// error.
func (d *Disk) Put(ctx context.Context, r io.Reader, size int64, wantDigest string, check Check) (digest string, n int64, err error) {
	if wantDigest != "" {
		if err := checkDigest(wantDigest); err != nil {
			return "", 0, fmt.Errorf("put blob: %w", err)
		}
	}
	if size > d.maxSize {
		return "", 0, fmt.Errorf("put blob: %d bytes, more than %d: %w", size, d.maxSize, ErrTooLarge)
	}
	f, err := os.CreateTemp(d.tempDir(), tempPrefix+"*")
	if err != nil {
		return "", 0, fmt.Errorf("put blob: %w", err)
	}
	tmp := f.Name()
	defer func() {
		// Closing twice is harmless; removing after the rename finds nothing, which is fine.
		_ = f.Close()
		_ = os.Remove(tmp)
	}()

	h := sha256.New()
	n, err = io.Copy(io.MultiWriter(f, h), io.LimitReader(ctxReader{ctx: ctx, r: r}, d.maxSize+1))
	if err != nil {
		return "", 0, fmt.Errorf("put blob: read content: %w", err)
	}
	switch {
	case size >= 0 && n > size:
		return "", 0, fmt.Errorf("put blob: content is longer than %d bytes: %w", size, ErrSizeMismatch)
	case size >= 0 && n < size:
		return "", 0, fmt.Errorf("put blob: content ended after %d bytes, want %d: %w", n, size, ErrSizeMismatch)
	case n > d.maxSize:
		return "", 0, fmt.Errorf("put blob: more than %d bytes: %w", d.maxSize, ErrTooLarge)
	}
	digest = hex.EncodeToString(h.Sum(nil))
	if wantDigest != "" && digest != wantDigest {
		return "", 0, fmt.Errorf("put blob: got sha256 %s, want %s: %w", digest, wantDigest, ErrDigestMismatch)
	}
	// Checked before it has a name: content that fails never becomes readable under its
	// digest, and a blob another caller stored under the same digest is never touched.
	if check != nil {
		if err := check(f, n); err != nil {
			return "", 0, fmt.Errorf("put blob %s: %w", digest, err)
		}
	}
	// Sync before the rename: otherwise a power cut could leave the final name pointing at
	// a file whose data never reached the disk.
	if err := f.Sync(); err != nil {
		return "", 0, fmt.Errorf("put blob %s: sync: %w", digest, err)
	}
	if err := f.Close(); err != nil {
		return "", 0, fmt.Errorf("put blob %s: close: %w", digest, err)
	}
	// Read-only, so nothing in this process can change a blob in place behind its digest.
	if err := os.Chmod(tmp, 0o400); err != nil {
		return "", 0, fmt.Errorf("put blob %s: %w", digest, err)
	}
	final := d.path(digest)
	if _, err := os.Stat(final); err == nil {
		return digest, n, nil
	}
	shard := filepath.Dir(final)
	if err := os.MkdirAll(shard, 0o700); err != nil {
		return "", 0, fmt.Errorf("put blob %s: %w", digest, err)
	}
	// A concurrent Put of the same content may rename first; renaming over it replaces
	// identical bytes, which readers holding the old file do not notice.
	if err := os.Rename(tmp, final); err != nil {
		return "", 0, fmt.Errorf("put blob %s: %w", digest, err)
	}
	if err := syncDir(shard); err != nil {
		return "", 0, fmt.Errorf("put blob %s: %w", digest, err)
	}
	return digest, n, nil
}

// syncDir makes a rename into dir durable.
func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer func() { _ = f.Close() }()
	if err := f.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}

// Open returns the blob's content and size; ErrNotFound when absent. The caller closes it.
func (d *Disk) Open(ctx context.Context, digest string) (io.ReadSeekCloser, int64, error) {
	if err := checkDigest(digest); err != nil {
		return nil, 0, fmt.Errorf("open blob: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return nil, 0, fmt.Errorf("open blob %s: %w", digest, err)
	}
	f, err := os.Open(d.path(digest))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, 0, fmt.Errorf("open blob %s: %w", digest, ErrNotFound)
	}
	if err != nil {
		return nil, 0, fmt.Errorf("open blob %s: %w", digest, err)
	}
	fi, err := f.Stat()
	if err != nil {
		_ = f.Close()
		return nil, 0, fmt.Errorf("open blob %s: %w", digest, err)
	}
	return f, fi.Size(), nil
}

// Stat returns the blob's size; ErrNotFound when absent.
func (d *Disk) Stat(ctx context.Context, digest string) (int64, error) {
	if err := checkDigest(digest); err != nil {
		return 0, fmt.Errorf("stat blob: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("stat blob %s: %w", digest, err)
	}
	fi, err := os.Stat(d.path(digest))
	if errors.Is(err, fs.ErrNotExist) {
		return 0, fmt.Errorf("stat blob %s: %w", digest, ErrNotFound)
	}
	if err != nil {
		return 0, fmt.Errorf("stat blob %s: %w", digest, err)
	}
	return fi.Size(), nil
}

// Delete removes the blob. Deleting an absent blob is not an error, as with S3, so that a
// retried cleanup succeeds. Readers that opened the blob before keep reading it.
func (d *Disk) Delete(ctx context.Context, digest string) error {
	if err := checkDigest(digest); err != nil {
		return fmt.Errorf("delete blob: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("delete blob %s: %w", digest, err)
	}
	if err := os.Remove(d.path(digest)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("delete blob %s: %w", digest, err)
	}
	return nil
}

// CleanTemp removes temporary files older than before: those a process killed in the middle
// of a Put left behind. Call it at startup with the start time, before any Put.
func (d *Disk) CleanTemp(ctx context.Context, before time.Time) (removed int, err error) {
	entries, err := os.ReadDir(d.tempDir())
	if err != nil {
		return 0, fmt.Errorf("clean blob temp: %w", err)
	}
	for _, e := range entries {
		if err := ctx.Err(); err != nil {
			return removed, fmt.Errorf("clean blob temp: %w", err)
		}
		if !strings.HasPrefix(e.Name(), tempPrefix) {
			continue
		}
		fi, err := e.Info()
		if err != nil || !fi.ModTime().Before(before) {
			continue // gone meanwhile, or a Put still writing
		}
		if err := os.Remove(filepath.Join(d.tempDir(), e.Name())); err == nil {
			removed++
		}
	}
	return removed, nil
}

// ctxReader stops a copy when the context ends, so a stalled or cancelled upload does not keep
// its temporary file open.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
