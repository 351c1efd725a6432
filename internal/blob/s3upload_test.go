package blob_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/slipway-deploy/slipway/internal/blob"
)

// putTo sends body to a presigned PUT as a client does: the signed headers, no credential.
func putTo(t *testing.T, p blob.PresignedPut, body []byte) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPut, p.URL, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range p.Header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		// A server may close the connection on a body it refuses.
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestS3_DirectUploadIsClaimedCheckedAndKept(t *testing.T) {
	ctx := context.Background()
	srv, _, s := newS3(t, 0)
	content := []byte("a bundle the client uploads itself")
	id, err := blob.NewUploadID()
	if err != nil {
		t.Fatal(err)
	}
	p, err := s.PresignUpload(ctx, id, int64(len(content)), sum(content), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(p.URL, srv.Endpoint+"/bundles/uploads/"+id+"?") {
		t.Errorf("URL %s: want a PUT of uploads/%s", p.URL, id)
	}
	if p.Header.Get("X-Amz-Checksum-Sha256") == "" {
		t.Errorf("signed headers %v: want the sha256 checksum among them", p.Header)
	}

	// S3 itself refuses other bytes of the same length, and another length.
	other := bytes.ToUpper(content)
	if status, msg := putTo(t, p, other); status != http.StatusBadRequest || !strings.Contains(msg, "BadDigest") {
		t.Errorf("PUT of other bytes: %d %s, want 400 BadDigest", status, msg)
	}
	if status, _ := putTo(t, p, append(content, '!')); status == http.StatusOK {
		t.Errorf("PUT of a longer body: %d, want a refusal", status)
	}
	if keys := srv.Keys(t, "bundles"); len(keys) != 0 {
		t.Errorf("refused PUTs left %q", keys)
	}
	if _, _, err := s.ClaimUpload(ctx, id); !errors.Is(err, blob.ErrUploadMissing) {
		t.Errorf("ClaimUpload before any upload: %v, want ErrUploadMissing", err)
	}

	if status, msg := putTo(t, p, content); status != http.StatusOK {
		t.Fatalf("PUT: %d %s", status, msg)
	}
	claimed, size, err := s.ClaimUpload(ctx, id)
	if err != nil || size != int64(len(content)) {
		t.Fatalf("ClaimUpload: %v (%d bytes), want %d bytes", err, size, len(content))
	}
	// The slot's URL still works until it expires, but what it writes now is not what the
	// server reads.
	if status, msg := putTo(t, p, content); status != http.StatusOK {
		t.Fatalf("second PUT: %d %s", status, msg)
	}
	r, err := s.Get(ctx, claimed)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(r)
	_ = r.Close()
	if err != nil || !bytes.Equal(got, content) {
		t.Fatalf("claimed copy: %q %v, want %q", got, err, content)
	}
	if err := s.KeepUpload(ctx, claimed, size, sum(content)); err != nil {
		t.Fatal(err)
	}
	want := []string{"sha256/" + sum(content), "uploads/" + id}
	if got := srv.Keys(t, "bundles"); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("bucket holds %q, want %q (the claimed copy deleted)", got, want)
	}
	// Only the store's own copies are ever kept or read.
	if err := s.KeepUpload(ctx, blob.S3Object{Bucket: "bundles", Key: "uploads/" + id}, size, sum(content)); err == nil {
		t.Error("KeepUpload of an upload's own object: want a refusal")
	}
	if _, err := s.Get(ctx, blob.S3Object{Bucket: "elsewhere", Key: "x"}); err == nil {
		t.Error("Get outside the bundle bucket: want a refusal")
	}
	for _, bad := range []string{"../sha256/x", "", strings.Repeat("a", 31)} {
		if _, err := s.PresignUpload(ctx, bad, 1, sum(content), time.Minute); err == nil {
			t.Errorf("PresignUpload(%q): want a refusal", bad)
		}
	}
}
