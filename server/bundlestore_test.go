package main

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/slipway-deploy/slipway/internal/apiserver"
)

func tokensEnv(kv ...string) func(string) string {
	m := map[string]string{
		"SLIPWAY_ADMIN_TOKEN":  "admin-token-0123456789",
		"SLIPWAY_ENROLL_TOKEN": "enroll-token-0123456789",
	}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) string { return m[k] }
}

func TestLoadConfig_BundleStoreFromFileEnvAndFlags(t *testing.T) {
	file := filepath.Join(t.TempDir(), "slipway.yml")
	yml := "bundle_store: s3\ns3_bucket: from-file\ns3_prefix: slipway/\ns3_region: eu-west-1\ns3_presign_ttl: 5m\n"
	if err := os.WriteFile(file, []byte(yml), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := loadConfig([]string{"--config", file, "--s3-endpoint", "http://127.0.0.1:7070", "--s3-path-style"},
		tokensEnv("SLIPWAY_S3_BUCKET", "from-env"), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.BundleStore != "s3" || cfg.S3Bucket != "from-env" || cfg.S3Prefix != "slipway/" || cfg.S3Region != "eu-west-1" ||
		cfg.S3Endpoint != "http://127.0.0.1:7070" || !cfg.S3PathStyle || cfg.S3PresignTTL != 5*time.Minute {
		t.Errorf("config %+v: want the file's values, the env's bucket and the flags' endpoint and path style", cfg)
	}
	cfg, err = loadConfig(nil, tokensEnv(), io.Discard)
	if err != nil || cfg.BundleStore != "disk" || cfg.S3PresignTTL != 10*time.Minute {
		t.Errorf("defaults: %+v %v, want the disk store and a 10m presign TTL", cfg, err)
	}
}

func TestLoadConfig_BundleStoreMistakesSayWhatToChange(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		env  []string
		want string
	}{
		{"unknown store", []string{"--bundle-store", "ftp"}, nil, `bundle_store "ftp": use disk (the default) or s3`},
		{"s3 without a bucket", []string{"--bundle-store", "s3"}, nil, "s3_bucket: the s3 bundle store needs a bucket"},
		{"bucket without the s3 store", []string{"--s3-bucket", "b"}, nil, "set bundle_store: s3"},
		{"bucket with a path", []string{"--bundle-store", "s3", "--s3-bucket", "b/slipway"}, nil, "put a key prefix in s3_prefix"},
		{"prefix with a leading slash", []string{"--bundle-store", "s3", "--s3-bucket", "b", "--s3-prefix", "/x"}, nil, "drop it"},
		{"endpoint without a scheme", []string{"--s3-endpoint", "minio:9000"}, nil, "https://"},
		{"presign TTL too long", []string{"--s3-presign-ttl", "200h"}, nil, "presign TTL"},
		{"path style not a boolean", nil, []string{"SLIPWAY_S3_PATH_STYLE", "yes please"}, "give true or false"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := loadConfig(tc.args, tokensEnv(tc.env...), io.Discard)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error saying %q", err, tc.want)
			}
		})
	}
}

// uploadCleaner records the times CleanUploads is called with.
type uploadCleaner struct {
	apiserver.Blobs
	calls chan time.Time
}

func (u uploadCleaner) CleanUploads(_ context.Context, before time.Time) (int, error) {
	u.calls <- before
	return 1, nil
}

// With an S3 store the server removes abandoned direct uploads at start, those last written two
// URL lifetimes ago, and stops with the server; a disk store has nothing to clean.
func TestCleanUploads_AtStartAndUntilTheServerStops(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	c := uploadCleaner{calls: make(chan time.Time, 1)}
	done := make(chan struct{})
	before := time.Now()
	go func() {
		defer close(done)
		cleanUploads(ctx, c, 10*time.Minute, slog.New(slog.DiscardHandler))
	}()
	got := <-c.calls
	if lo, hi := before.Add(-20*time.Minute), time.Now().Add(-20*time.Minute); got.Before(lo) || got.After(hi) {
		t.Errorf("CleanUploads(%v), want two 10m lifetimes before the start, between %v and %v", got, lo, hi)
	}
	cancel()
	<-done

	// A store without CleanUploads (bundles on disk): cleanUploads returns at once.
	cleanUploads(context.Background(), nil, time.Minute, slog.New(slog.DiscardHandler))
}
