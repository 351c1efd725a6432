package blob

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/slipway-deploy/slipway/internal/blob/blobtest"
)

func hexSum(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// The last byte is what keeps a mismatching upload from completing: it must never be released
// unless the whole content checked out.
func TestSealedReader_HoldsTheLastByteUntilChecked(t *testing.T) {
	content := []byte("0123456789")
	for _, tc := range []struct {
		name     string
		content  []byte
		size     int64
		want     string
		passed   int
		wantErr  error
		wantDone bool
	}{
		{"matching", content, 10, hexSum(content), 10, nil, true},
		{"unchecked", content, 10, "", 10, nil, true},
		{"other digest", content, 10, hexSum([]byte("x")), 9, ErrDigestMismatch, false},
		{"longer than announced", content, 9, "", 8, ErrSizeMismatch, false},
		{"shorter than announced", content, 11, "", 10, ErrSizeMismatch, false},
		{"empty and matching", nil, 0, hexSum(nil), 0, nil, true},
		{"empty but another digest", nil, 0, hexSum(content), 0, ErrDigestMismatch, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sr := newSealedReader(context.Background(), iotestOneByte(tc.content), tc.size, tc.want)
			got, err := io.ReadAll(sr)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("read: got %v, want %v", err, tc.wantErr)
			}
			if len(got) != tc.passed || !bytes.Equal(got, tc.content[:len(got)]) {
				t.Errorf("passed on %q, want the first %d bytes", got, tc.passed)
			}
			if done := sr.digest != ""; done != tc.wantDone {
				t.Errorf("digest %q: done %v, want %v", sr.digest, done, tc.wantDone)
			}
		})
	}
}

// iotestOneByte yields one byte per Read, the hardest case for holding the last one back.
func iotestOneByte(b []byte) io.Reader { return &oneByte{b: b} }

type oneByte struct{ b []byte }

func (o *oneByte) Read(p []byte) (int, error) {
	if len(o.b) == 0 {
		return 0, io.EOF
	}
	if len(p) == 0 {
		return 0, nil
	}
	p[0], o.b = o.b[0], o.b[1:]
	return 1, nil
}

// The second guard of Put: a PUT signed with the announced sha256 as its payload hash is
// refused by the S3 server itself when the bytes differ, so even a complete body cannot land.
func TestS3_ServerRefusesABodyThatIsNotTheSignedHash(t *testing.T) {
	srv := blobtest.StartS3(t)
	srv.SetEnv(t)
	srv.CreateBucket(t, "bundles", false)
	c, err := NewS3Client(context.Background(), S3Options{Region: blobtest.Region, Endpoint: srv.Endpoint, PathStyle: true})
	if err != nil {
		t.Fatal(err)
	}
	body := []byte("what is sent")
	for _, tc := range []struct {
		hash string
		ok   bool
	}{{hexSum([]byte("what was announced")), false}, {hexSum(body), true}} {
		_, err := c.api.PutObject(context.Background(), &s3.PutObjectInput{
			Bucket: aws.String("bundles"), Key: aws.String("k-" + tc.hash[:8]),
			Body: bytes.NewReader(body), ContentLength: aws.Int64(int64(len(body))),
		}, s3.WithAPIOptions(withPayloadHash(tc.hash)))
		if (err == nil) != tc.ok {
			t.Errorf("PUT signed with payload hash %s…: got %v, want success %v", tc.hash[:8], err, tc.ok)
		}
	}
	if keys := srv.Keys(t, "bundles"); strings.Join(keys, " ") != "k-"+hexSum(body)[:8] {
		t.Errorf("bucket holds %q, want only the object whose hash was right", keys)
	}
}
