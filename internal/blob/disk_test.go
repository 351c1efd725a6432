package blob_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slipway-deploy/slipway/internal/blob"
)

func sum(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func newDisk(t *testing.T, opts ...blob.Option) (*blob.Disk, string) {
	t.Helper()
	dir := t.TempDir()
	d, err := blob.NewDisk(dir, opts...)
	if err != nil {
		t.Fatalf("NewDisk: %v", err)
	}
	return d, dir
}

// files lists every regular file under dir, relative to it.
func files(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(path string, e os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if e.Type().IsRegular() {
			rel, _ := filepath.Rel(dir, path)
			out = append(out, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func wantOnly(t *testing.T, dir string, want ...string) {
	t.Helper()
	got := files(t, dir)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("files under the blob dir: got %q, want %q", got, want)
	}
}

func TestDisk_RoundTrip(t *testing.T) {
	ctx := context.Background()
	d, dir := newDisk(t)
	content := []byte("a bundle, in all but name")
	digest := sum(content)

	for _, want := range []string{"", digest} {
		got, size, err := d.Put(ctx, bytes.NewReader(content), want, nil)
		if err != nil {
			t.Fatalf("Put(want %q): %v", want, err)
		}
		if got != digest || size != int64(len(content)) {
			t.Errorf("Put: got %s %d, want %s %d", got, size, digest, len(content))
		}
	}
	wantOnly(t, dir, filepath.Join("sha256", digest[:2], digest))

	rc, size, err := d.Open(ctx, digest)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	if size != int64(len(content)) {
		t.Errorf("Open size: got %d, want %d", size, len(content))
	}
	if _, err := rc.Seek(2, io.SeekStart); err != nil {
		t.Fatalf("Seek: %v", err)
	}
	got, err := io.ReadAll(rc)
	if err != nil || !bytes.Equal(got, content[2:]) {
		t.Errorf("read after Seek(2): got %q %v, want %q", got, err, content[2:])
	}
	if err := rc.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if size, err := d.Stat(ctx, digest); err != nil || size != int64(len(content)) {
		t.Errorf("Stat: got %d %v, want %d", size, err, len(content))
	}

	if err := d.Delete(ctx, digest); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if err := d.Delete(ctx, digest); err != nil {
		t.Errorf("Delete of an absent blob: got %v, want nil", err)
	}
	if _, _, err := d.Open(ctx, digest); !errors.Is(err, blob.ErrNotFound) {
		t.Errorf("Open after Delete: got %v, want ErrNotFound", err)
	}
	if _, err := d.Stat(ctx, digest); !errors.Is(err, blob.ErrNotFound) {
		t.Errorf("Stat after Delete: got %v, want ErrNotFound", err)
	}

	// The empty blob is a blob like any other.
	if got, size, err := d.Put(ctx, strings.NewReader(""), "", nil); err != nil || got != sum(nil) || size != 0 {
		t.Errorf("Put(empty): got %s %d %v, want %s 0", got, size, err, sum(nil))
	}
}

func TestDisk_DigestMismatchKeepsNothing(t *testing.T) {
	ctx := context.Background()
	d, dir := newDisk(t)
	content := []byte("what was uploaded")
	other := sum([]byte("what was announced"))
	_, _, err := d.Put(ctx, bytes.NewReader(content), other, nil)
	if !errors.Is(err, blob.ErrDigestMismatch) {
		t.Fatalf("Put: got %v, want ErrDigestMismatch", err)
	}
	wantOnly(t, dir)
	for _, digest := range []string{other, sum(content)} {
		if _, err := d.Stat(ctx, digest); !errors.Is(err, blob.ErrNotFound) {
			t.Errorf("Stat(%s): got %v, want ErrNotFound", digest[:8], err)
		}
	}
}

func TestDisk_CheckRefusesBeforeStoring(t *testing.T) {
	ctx := context.Background()
	d, dir := newDisk(t)
	content := []byte("a bundle one caller accepts and another refuses")
	errRefused := errors.New("refused by the check")
	var seen []byte
	refuse := func(r io.ReaderAt, size int64) error {
		seen = make([]byte, size)
		if _, err := r.ReadAt(seen, 0); err != nil {
			return err
		}
		return errRefused
	}

	_, _, err := d.Put(ctx, bytes.NewReader(content), "", refuse)
	if !errors.Is(err, errRefused) {
		t.Fatalf("Put: got %v, want the check's error", err)
	}
	if !bytes.Equal(seen, content) {
		t.Errorf("the check saw %q, want the whole content %q", seen, content)
	}
	wantOnly(t, dir)

	// The same bytes stored by a caller whose check passes, then refused by another: the stored
	// blob stays.
	digest, _, err := d.Put(ctx, bytes.NewReader(content), "", func(io.ReaderAt, int64) error { return nil })
	if err != nil {
		t.Fatalf("Put with a passing check: %v", err)
	}
	if _, _, err := d.Put(ctx, bytes.NewReader(content), digest, refuse); !errors.Is(err, errRefused) {
		t.Fatalf("second Put: got %v, want the check's error", err)
	}
	wantOnly(t, dir, filepath.Join("sha256", digest[:2], digest))
}

func TestDisk_SizeLimit(t *testing.T) {
	ctx := context.Background()
	const limit = 1000
	d, dir := newDisk(t, blob.WithMaxSize(limit))
	for _, tc := range []struct {
		name string
		size int
		want error
	}{
		{"at the limit", limit, nil},
		{"one byte over", limit + 1, blob.ErrTooLarge},
		{"far over", 50 * limit, blob.ErrTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			content := bytes.Repeat([]byte{byte(tc.size)}, tc.size)
			_, _, err := d.Put(ctx, bytes.NewReader(content), "", nil)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Put(%d bytes): got %v, want %v", tc.size, err, tc.want)
			}
			if _, err := d.Stat(ctx, sum(content)); (err == nil) != (tc.want == nil) {
				t.Errorf("Stat after Put: got %v, want it stored only when accepted", err)
			}
		})
	}
	if got := len(files(t, dir)); got != 1 {
		t.Errorf("files: got %d, want only the accepted blob", got)
	}
	if _, err := blob.NewDisk(t.TempDir(), blob.WithMaxSize(0)); err == nil {
		t.Errorf("NewDisk(max 0): got no error, want one")
	}
}

// failingReader yields some bytes, then an error, like a dropped upload.
type failingReader struct{ n int }

func (f *failingReader) Read(p []byte) (int, error) {
	if f.n <= 0 {
		return 0, io.ErrUnexpectedEOF
	}
	n := min(len(p), f.n)
	f.n -= n
	return n, nil
}

func TestDisk_ErrorsLeaveNoTempFiles(t *testing.T) {
	d, dir := newDisk(t)
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	for _, tc := range []struct {
		name string
		ctx  context.Context
		r    io.Reader
		want error
	}{
		{"reader fails midway", context.Background(), &failingReader{n: 100_000}, io.ErrUnexpectedEOF},
		{"context cancelled", cancelled, strings.NewReader("content"), context.Canceled},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := d.Put(tc.ctx, tc.r, "", nil)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Put: got %v, want %v", err, tc.want)
			}
			wantOnly(t, dir)
		})
	}
}

func TestDisk_ConcurrentPutSameContent(t *testing.T) {
	ctx := context.Background()
	d, dir := newDisk(t)
	content := bytes.Repeat([]byte("same bytes from many uploaders "), 10_000)
	digest := sum(content)
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for range 16 {
		wg.Go(func() {
			got, size, err := d.Put(ctx, bytes.NewReader(content), digest, nil)
			if err == nil && (got != digest || size != int64(len(content))) {
				err = errors.New("wrong digest or size")
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("Put: %v", err)
		}
	}
	wantOnly(t, dir, filepath.Join("sha256", digest[:2], digest))
	rc, _, err := d.Open(ctx, digest)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	got, err := io.ReadAll(rc)
	if err != nil || sum(got) != digest {
		t.Errorf("content after concurrent Puts: sha256 %s %v, want %s", sum(got), err, digest)
	}
}

func TestDisk_BadDigests(t *testing.T) {
	ctx := context.Background()
	d, dir := newDisk(t)
	good := sum([]byte("x"))
	for _, bad := range []string{
		"",
		"abc",
		strings.ToUpper(good),
		good + "0",
		good[:63],
		"../../../../../../../../etc/passwd" + strings.Repeat("a", 30),
		"ab/" + good[3:],
		strings.Repeat("g", 64),
		good[:62] + "\x00a",
	} {
		t.Run(bad, func(t *testing.T) {
			if _, _, err := d.Open(ctx, bad); !errors.Is(err, blob.ErrInvalidDigest) {
				t.Errorf("Open: got %v, want ErrInvalidDigest", err)
			}
			if _, err := d.Stat(ctx, bad); !errors.Is(err, blob.ErrInvalidDigest) {
				t.Errorf("Stat: got %v, want ErrInvalidDigest", err)
			}
			if err := d.Delete(ctx, bad); !errors.Is(err, blob.ErrInvalidDigest) {
				t.Errorf("Delete: got %v, want ErrInvalidDigest", err)
			}
			if bad == "" {
				return // an empty wantDigest means "do not verify"
			}
			if _, _, err := d.Put(ctx, strings.NewReader("x"), bad, nil); !errors.Is(err, blob.ErrInvalidDigest) {
				t.Errorf("Put: got %v, want ErrInvalidDigest", err)
			}
		})
	}
	wantOnly(t, dir)
}

func TestDisk_CleanTemp(t *testing.T) {
	ctx := context.Background()
	d, dir := newDisk(t)
	stale := filepath.Join(dir, "tmp", "put-123")
	other := filepath.Join(dir, "tmp", "not-ours")
	for _, p := range []string{stale, other} {
		if err := os.WriteFile(p, []byte("half an upload"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	old := time.Now().Add(-time.Hour)
	for _, p := range []string{stale, other} {
		if err := os.Chtimes(p, old, old); err != nil {
			t.Fatal(err)
		}
	}
	removed, err := d.CleanTemp(ctx, time.Now().Add(-time.Minute))
	if err != nil || removed != 1 {
		t.Errorf("CleanTemp: got %d %v, want 1 removed", removed, err)
	}
	wantOnly(t, dir, filepath.Join("tmp", "not-ours"))
}
