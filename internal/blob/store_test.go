package blob_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/slipway-deploy/slipway/internal/blob"
	"github.com/slipway-deploy/slipway/internal/blob/blobtest"
)

// store is what every bundle store offers.
type store interface {
	Put(ctx context.Context, r io.Reader, size int64, wantDigest string, check blob.Check) (string, int64, error)
	Open(ctx context.Context, digest string) (io.ReadSeekCloser, int64, error)
	Stat(ctx context.Context, digest string) (int64, error)
	Delete(ctx context.Context, digest string) error
}

var (
	_ store = (*blob.Disk)(nil)
	_ store = (*blob.S3)(nil)
)

// storeCase is one store under test, with a way to see what it really holds.
type storeCase struct {
	name string
	s    store
	// held lists what the store keeps: files under its directory, or keys in its bucket.
	held func(t *testing.T) []string
	// place is where a blob with digest is kept, in held's terms.
	place func(digest string) string
	// srv is the S3 server behind the store, nil for the disk.
	srv *blobtest.S3Server
}

// stores returns every store, each fresh: a directory, and a bucket of a real S3-compatible
// server (versitygw).
func stores(t *testing.T, opts ...blob.Option) []storeCase {
	t.Helper()
	d, dir := newDisk(t, opts...)
	srv := blobtest.StartS3(t)
	srv.SetEnv(t)
	srv.CreateBucket(t, "bundles", false)
	_, s := newS3Store(t, srv, 0, "slipway", opts...)
	return []storeCase{
		{"disk", d, func(t *testing.T) []string { return files(t, dir) },
			func(digest string) string { return filepath.Join("sha256", digest[:2], digest) }, nil},
		{"s3", s, func(t *testing.T) []string { return blobKeys(srv.Keys(t, "bundles")) },
			func(digest string) string { return "slipway/sha256/" + digest }, srv},
	}
}

// blobKeys leaves out the S3 store's temporary objects. A Put cut short while streaming to a
// temporary key (digest unknown, so the PUT cannot be signed with it) can leave a truncated
// object there: versitygw, unlike AWS S3, stores what it received when the connection drops,
// and may do so after Put has already deleted the key. Such objects are never copied into
// place; CleanTemp, or a lifecycle rule on tmp/, removes them (docs/s3.md).
func blobKeys(keys []string) []string {
	var out []string
	for _, k := range keys {
		if !strings.HasPrefix(k, "slipway/tmp/") {
			out = append(out, k)
		}
	}
	return out
}

func sum(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func (sc storeCase) wantHeld(t *testing.T, digests ...string) {
	t.Helper()
	want := []string{}
	for _, d := range digests {
		want = append(want, sc.place(d))
	}
	got := sc.held(t)
	if got == nil {
		got = []string{}
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("%s holds %q, want %q", sc.name, got, want)
	}
}

func TestStore_RoundTrip(t *testing.T) {
	ctx := context.Background()
	for _, sc := range stores(t) {
		t.Run(sc.name, func(t *testing.T) {
			content := []byte("a bundle, in all but name")
			digest := sum(content)
			for _, want := range []string{"", digest} {
				got, size, err := sc.s.Put(ctx, bytes.NewReader(content), int64(len(content)), want, nil)
				if err != nil {
					t.Fatalf("Put(want %q): %v", want, err)
				}
				if got != digest || size != int64(len(content)) {
					t.Errorf("Put: got %s %d, want %s %d", got, size, digest, len(content))
				}
			}
			sc.wantHeld(t, digest)
			if sc.srv != nil {
				// Without a digest the S3 store goes through a temporary key: none may remain.
				if got := sc.srv.Keys(t, "bundles"); !slices.Equal(got, []string{"slipway/sha256/" + digest}) {
					t.Errorf("bucket holds %q after two Puts, want only the blob", got)
				}
			}

			rc, size, err := sc.s.Open(ctx, digest)
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
			if end, err := rc.Seek(-4, io.SeekEnd); err != nil || end != int64(len(content)-4) {
				t.Errorf("Seek(-4, end): got %d %v", end, err)
			}
			if got, err := io.ReadAll(rc); err != nil || !bytes.Equal(got, content[len(content)-4:]) {
				t.Errorf("read after Seek(-4, end): got %q %v", got, err)
			}
			if err := rc.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
			if size, err := sc.s.Stat(ctx, digest); err != nil || size != int64(len(content)) {
				t.Errorf("Stat: got %d %v, want %d", size, err, len(content))
			}

			if err := sc.s.Delete(ctx, digest); err != nil {
				t.Fatalf("Delete: %v", err)
			}
			if err := sc.s.Delete(ctx, digest); err != nil {
				t.Errorf("Delete of an absent blob: got %v, want nil", err)
			}
			if _, _, err := sc.s.Open(ctx, digest); !errors.Is(err, blob.ErrNotFound) {
				t.Errorf("Open after Delete: got %v, want ErrNotFound", err)
			}
			if _, err := sc.s.Stat(ctx, digest); !errors.Is(err, blob.ErrNotFound) {
				t.Errorf("Stat after Delete: got %v, want ErrNotFound", err)
			}
			sc.wantHeld(t)

			// The empty blob is a blob like any other.
			for _, want := range []string{"", sum(nil)} {
				if got, size, err := sc.s.Put(ctx, strings.NewReader(""), 0, want, nil); err != nil || got != sum(nil) || size != 0 {
					t.Errorf("Put(empty, want %q): got %s %d %v, want %s 0", want, got, size, err, sum(nil))
				}
			}
			sc.wantHeld(t, sum(nil))
		})
	}
}

func TestStore_DigestMismatchKeepsNothing(t *testing.T) {
	ctx := context.Background()
	content := []byte("what was uploaded")
	announced := sum([]byte("what was announced"))
	for _, sc := range stores(t) {
		t.Run(sc.name, func(t *testing.T) {
			for _, tc := range []struct {
				name    string
				content []byte
				want    string
			}{
				{"other content", content, announced},
				{"one byte changed at the end", append(bytes.Clone(content[:len(content)-1]), '!'), sum(content)},
				{"empty content", nil, announced},
			} {
				_, _, err := sc.s.Put(ctx, bytes.NewReader(tc.content), int64(len(tc.content)), tc.want, nil)
				if !errors.Is(err, blob.ErrDigestMismatch) {
					t.Fatalf("%s: Put: got %v, want ErrDigestMismatch", tc.name, err)
				}
			}
			sc.wantHeld(t)
			for _, digest := range []string{announced, sum(content)} {
				if _, err := sc.s.Stat(ctx, digest); !errors.Is(err, blob.ErrNotFound) {
					t.Errorf("Stat(%s): got %v, want ErrNotFound", digest[:8], err)
				}
			}
			// A mismatch must not spoil the blob already stored under the announced digest.
			if _, _, err := sc.s.Put(ctx, bytes.NewReader(content), int64(len(content)), sum(content), nil); err != nil {
				t.Fatal(err)
			}
			other := []byte("a longer text whose digest is claimed for the first one")
			if _, _, err := sc.s.Put(ctx, bytes.NewReader(other), int64(len(other)), sum(content), nil); !errors.Is(err, blob.ErrDigestMismatch) {
				t.Fatalf("Put over a stored blob: got %v, want ErrDigestMismatch", err)
			}
			sc.wantHeld(t, sum(content))
			rc, _, err := sc.s.Open(ctx, sum(content))
			if err != nil {
				t.Fatal(err)
			}
			defer rc.Close()
			if got, err := io.ReadAll(rc); err != nil || !bytes.Equal(got, content) {
				t.Errorf("stored blob after a mismatching Put: got %q %v, want %q", got, err, content)
			}
		})
	}
}

func TestStore_SizeLimitAndMismatch(t *testing.T) {
	ctx := context.Background()
	const limit = 1000
	for _, sc := range stores(t, blob.WithMaxSize(limit)) {
		t.Run(sc.name, func(t *testing.T) {
			var kept []string
			for _, tc := range []struct {
				name      string
				size      int
				announced int
				want      error
			}{
				{"at the limit", limit, limit, nil},
				{"one byte over", limit + 1, limit + 1, blob.ErrTooLarge},
				{"far over, announced small", 50 * limit, 10, blob.ErrSizeMismatch},
				{"shorter than announced", 10, 20, blob.ErrSizeMismatch},
				{"longer than announced", 20, 10, blob.ErrSizeMismatch},
			} {
				content := bytes.Repeat([]byte{byte(tc.size)}, tc.size)
				for _, want := range []string{"", sum(content)} {
					_, _, err := sc.s.Put(ctx, bytes.NewReader(content), int64(tc.announced), want, nil)
					if !errors.Is(err, tc.want) {
						t.Fatalf("%s: Put(%d bytes as %d, want %q): got %v, want %v", tc.name, tc.size, tc.announced, want, err, tc.want)
					}
				}
				if tc.want == nil {
					kept = append(kept, sum(content))
				}
			}
			sc.wantHeld(t, kept...)
		})
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

func TestStore_ErrorsLeaveNothing(t *testing.T) {
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	for _, sc := range stores(t) {
		t.Run(sc.name, func(t *testing.T) {
			for _, want := range []string{"", sum([]byte("content"))} {
				for _, tc := range []struct {
					name string
					ctx  context.Context
					r    io.Reader
					size int64
					want error
				}{
					{"reader fails midway", context.Background(), &failingReader{n: 100_000}, 200_000, io.ErrUnexpectedEOF},
					{"context cancelled", cancelled, strings.NewReader("content"), 7, context.Canceled},
				} {
					_, _, err := sc.s.Put(tc.ctx, tc.r, tc.size, want, nil)
					if !errors.Is(err, tc.want) {
						t.Fatalf("%s (want %q): Put: got %v, want %v", tc.name, want, err, tc.want)
					}
				}
			}
			sc.wantHeld(t)
		})
	}
}

func TestStore_ConcurrentPutSameContent(t *testing.T) {
	ctx := context.Background()
	content := bytes.Repeat([]byte("same bytes from many uploaders "), 10_000)
	digest := sum(content)
	for _, sc := range stores(t) {
		t.Run(sc.name, func(t *testing.T) {
			var wg sync.WaitGroup
			errs := make(chan error, 8)
			for i := range 8 {
				wg.Go(func() {
					want := digest
					if i%2 == 0 {
						want = "" // the S3 store's other path: a temporary key and a copy
					}
					got, size, err := sc.s.Put(ctx, bytes.NewReader(content), int64(len(content)), want, nil)
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
			sc.wantHeld(t, digest)
			rc, _, err := sc.s.Open(ctx, digest)
			if err != nil {
				t.Fatal(err)
			}
			defer rc.Close()
			got, err := io.ReadAll(rc)
			if err != nil || sum(got) != digest {
				t.Errorf("content after concurrent Puts: sha256 %s %v, want %s", sum(got), err, digest)
			}
		})
	}
}

func TestStore_BadDigests(t *testing.T) {
	ctx := context.Background()
	good := sum([]byte("x"))
	for _, sc := range stores(t) {
		t.Run(sc.name, func(t *testing.T) {
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
				if _, _, err := sc.s.Open(ctx, bad); !errors.Is(err, blob.ErrInvalidDigest) {
					t.Errorf("Open(%q): got %v, want ErrInvalidDigest", bad, err)
				}
				if _, err := sc.s.Stat(ctx, bad); !errors.Is(err, blob.ErrInvalidDigest) {
					t.Errorf("Stat(%q): got %v, want ErrInvalidDigest", bad, err)
				}
				if err := sc.s.Delete(ctx, bad); !errors.Is(err, blob.ErrInvalidDigest) {
					t.Errorf("Delete(%q): got %v, want ErrInvalidDigest", bad, err)
				}
				if bad == "" {
					continue // an empty wantDigest means "do not verify"
				}
				if _, _, err := sc.s.Put(ctx, strings.NewReader("x"), 1, bad, nil); !errors.Is(err, blob.ErrInvalidDigest) {
					t.Errorf("Put(%q): got %v, want ErrInvalidDigest", bad, err)
				}
			}
			sc.wantHeld(t)
		})
	}
}

func TestStore_CheckRefusesBeforeStoring(t *testing.T) {
	ctx := context.Background()
	content := []byte("a bundle one caller accepts and another refuses, read here and there")
	digest := sum(content)
	errRefused := errors.New("refused by the check")
	// The check reads the end, then the start, as a zip reader does: random access.
	var seen []byte
	refuse := func(r io.ReaderAt, size int64) error {
		seen = make([]byte, size)
		if _, err := r.ReadAt(seen[size-8:], size-8); err != nil {
			return err
		}
		if _, err := r.ReadAt(seen[:size-8], 0); err != nil {
			return err
		}
		return errRefused
	}
	accept := func(io.ReaderAt, int64) error { return nil }
	for _, sc := range stores(t) {
		t.Run(sc.name, func(t *testing.T) {
			for _, want := range []string{"", digest} {
				seen = nil
				_, _, err := sc.s.Put(ctx, bytes.NewReader(content), int64(len(content)), want, refuse)
				if !errors.Is(err, errRefused) {
					t.Fatalf("Put(want %q): got %v, want the check's error", want, err)
				}
				if !bytes.Equal(seen, content) {
					t.Errorf("the check saw %q, want the whole content", seen)
				}
			}
			sc.wantHeld(t)
			if sc.srv != nil {
				if keys := sc.srv.Keys(t, "bundles"); len(keys) != 0 {
					t.Errorf("bucket holds %q after refused Puts, want nothing", keys)
				}
			}
			// Stored by a caller whose check passes, then refused by another: the blob stays,
			// and the check saw the content again.
			if _, _, err := sc.s.Put(ctx, bytes.NewReader(content), int64(len(content)), digest, accept); err != nil {
				t.Fatalf("Put with a passing check: %v", err)
			}
			seen = nil
			if _, _, err := sc.s.Put(ctx, bytes.NewReader(content), int64(len(content)), digest, refuse); !errors.Is(err, errRefused) {
				t.Fatalf("second Put: got %v, want the check's error", err)
			}
			if !bytes.Equal(seen, content) {
				t.Errorf("the second check saw %q, want the whole content", seen)
			}
			sc.wantHeld(t, digest)
		})
	}
}
