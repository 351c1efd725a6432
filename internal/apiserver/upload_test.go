package apiserver

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/slipway-deploy/slipway/internal/api"
	"github.com/slipway-deploy/slipway/internal/auth"
	"github.com/slipway-deploy/slipway/internal/blob"
	"github.com/slipway-deploy/slipway/internal/store"
)

// putSlot sends body to an upload slot as a client does: the slot's headers, no credential.
func putSlot(t *testing.T, slot api.Upload, body []byte) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), slot.Method, slot.URL, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range slot.Headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err.Error() // a server may drop a body it refuses
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// declaredBomb is a tgz with a valid AppSpec and an entry that claims 3 GiB, more than an agent
// extracts, of which only the first MiB follows.
func declaredBomb(t *testing.T) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	if err := tw.WriteHeader(&tar.Header{Name: "appspec.yml", Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(sampleSpec))}); err != nil {
		t.Fatal(err)
	}
	if _, err := tw.Write([]byte(sampleSpec)); err != nil {
		t.Fatal(err)
	}
	if err := tw.WriteHeader(&tar.Header{Name: "bomb", Typeflag: tar.TypeReg, Mode: 0o644, Size: 3 << 30}); err != nil {
		t.Fatal(err)
	}
	if _, err := tw.Write(make([]byte, 1<<20)); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil { // the tar stays unfinished: it is cut short on purpose
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestDirectUpload_BundlesGoStraightToS3AndAreCheckedThere(t *testing.T) {
	srv, c, st := s3Setup(t)
	e := newEnvWith(t, envSetup{blobs: st, opts: []Option{WithS3(c)}}, func(cfg *Config) {
		cfg.MaxBundleBytes = 4 << 20
		cfg.Workflows = fakeVerifier{
			tokMain:   auth.Workflow{Repository: "acme/shop", RepositoryID: 4242, Ref: "refs/heads/main", SHA: strings.Repeat("ab", 20)},
			tokBranch: auth.Workflow{Repository: "acme/shop", RepositoryID: 4242, Ref: "refs/heads/topic", SHA: topicSHA},
			tokOther:  auth.Workflow{Repository: "evil/fork", RepositoryID: 99, Ref: "refs/heads/main"},
		}
	})
	ctx := t.Context()
	if _, err := e.admin.CreateApplication(ctx, api.Application{Name: "app"}); err != nil {
		t.Fatal(err)
	}
	tags := [][]api.TagFilter{{{Key: "role", Value: "web", Type: "KEY_AND_VALUE"}}}
	g, err := e.admin.CreateGroup(ctx, api.DeploymentGroup{Application: "app", Name: "web", TagGroups: tags,
		GitHub: &api.GitHubLink{Repository: "acme/shop", RepositoryID: 4242}, Upload: api.UploadDirect})
	if err != nil || g.Upload != api.UploadDirect {
		t.Fatalf("CreateGroup(upload direct): %+v %v", g, err)
	}
	if g, err := e.admin.CreateGroup(ctx, api.DeploymentGroup{Application: "app", Name: "plain", TagGroups: tags}); err != nil || g.Upload != api.UploadServer {
		t.Fatalf("CreateGroup: %+v %v, want upload server by default", g, err)
	}
	slots := pathApps + "/app/groups/web/uploads"
	good := bundleOf(t, map[string]string{"appspec.yml": sampleSpec, "start.sh": "#!/bin/sh\necho direct\n"})

	// The linked repository's workflow uploads through the client the Action uses, reaching the
	// server through a proxy that counts what it is sent.
	var sent atomic.Int64
	target, err := url.Parse(e.url)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(target)
	counting := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		sent.Add(int64(len(b)))
		r.Body = io.NopCloser(bytes.NewReader(b))
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(counting.Close)
	commit := strings.Repeat("ab", 20)
	rev, err := api.NewClient(counting.URL, tokMain).UploadRevisionDirect(ctx, "app", "web", bytes.NewReader(good), int64(len(good)), sha(good),
		api.RevisionOrigin{Commit: commit, Directory: "deploy"})
	if err != nil || rev.Digest != sha(good) || rev.Source != "upload" || rev.Format != "tgz" || rev.Size != int64(len(good)) {
		t.Fatalf("UploadRevisionDirect: %+v %v, want revision %s", rev, err, sha(good)[:8])
	}
	if stored, err := e.store.GetRevision(ctx, "app", rev.Digest); err != nil || stored.Commit != commit || stored.Directory != "deploy" {
		t.Errorf("stored revision %+v %v, want its commit and directory", stored, err)
	}
	onlyGood := []string{"slipway/sha256/" + sha(good)}
	if keys := srv.Keys(t, "bundles"); !slices.Equal(keys, onlyGood) {
		t.Fatalf("bundle bucket holds %q, want %q (no upload or temporary object left)", keys, onlyGood)
	}
	if n := sent.Load(); n >= int64(len(good)) {
		t.Errorf("the server was sent %d bytes, want fewer than the bundle's %d: the bundle went to S3", n, len(good))
	}
	_, err = api.NewClient(e.url, tokOther).UploadRevisionDirect(ctx, "app", "web", bytes.NewReader(good), int64(len(good)), sha(good), api.RevisionOrigin{})
	wantRefused(t, "another repository's workflow asking for a slot", err, http.StatusForbidden, "")
	// A slot names its commit as an upload through the server does, under the same rule: a
	// workflow on a topic branch must not plant a bundle under main's commit, where a GitHub
	// Deployment or a /deploy of main to a stricter group would find it.
	other := bundleOf(t, map[string]string{"appspec.yml": sampleSpec, "start.sh": "#!/bin/sh\necho planted\n"})
	_, err = api.NewClient(e.url, tokBranch).UploadRevisionDirect(ctx, "app", "web", bytes.NewReader(other), int64(len(other)), sha(other),
		api.RevisionOrigin{Commit: commit})
	wantRefused(t, "topic workflow naming main's commit on a slot", err, http.StatusForbidden, `names commit "`+commit+`"`)
	if rev, err := e.store.RevisionForCommit(ctx, "app", commit); err != nil || rev.Digest != sha(good) {
		t.Errorf("main's commit has revision %+v (%v), want still %s", rev, err, sha(good)[:8])
	}

	newSlot := func(t *testing.T, digest string, size int) api.Upload {
		t.Helper()
		r := e.call(http.MethodPost, slots, adminToken, api.CreateUpload{Digest: digest, Size: int64(size)})
		want(t, r, http.StatusCreated)
		var slot api.Upload
		r.decode(t, &slot)
		if !strings.HasPrefix(slot.URL, srv.Endpoint+"/bundles/slipway/uploads/"+slot.ID+"?") || !slot.CompleteBy.After(slot.Expires) {
			t.Fatalf("slot %+v: want a presigned URL under slipway/uploads/ and time to complete after it expires", slot)
		}
		return slot
	}
	complete := func(slot api.Upload) reply {
		return e.call(http.MethodPost, slots+"/"+slot.ID+"/complete", adminToken, nil)
	}
	other = bundleOf(t, map[string]string{"appspec.yml": sampleSpec, "start.sh": "#!/bin/sh\necho other, and longer\n"})

	t.Run("used twice", func(t *testing.T) {
		slot := newSlot(t, sha(good), len(good))
		if status, msg := putSlot(t, slot, good); status != http.StatusOK {
			t.Fatalf("PUT: %d %s", status, msg)
		}
		want(t, complete(slot), http.StatusCreated) // the same bytes again: the same revision
		wantError(t, complete(slot), http.StatusConflict, "", "completed already", "ask for a new one")
	})
	t.Run("other bytes than announced", func(t *testing.T) {
		slot := newSlot(t, sha(good), len(good))
		forged := bytes.Clone(good)
		forged[len(forged)/2] ^= 1
		if status, msg := putSlot(t, slot, forged); status != http.StatusBadRequest || !strings.Contains(msg, "BadDigest") {
			t.Errorf("PUT of other bytes: %d %s, want S3's 400 BadDigest", status, msg)
		}
		wantError(t, complete(slot), http.StatusBadRequest, "", "nothing was uploaded")
	})
	t.Run("object replaced between PUT and completion", func(t *testing.T) {
		slot := newSlot(t, sha(good), len(good))
		if status, msg := putSlot(t, slot, good); status != http.StatusOK {
			t.Fatalf("PUT: %d %s", status, msg)
		}
		srv.Put(t, "bundles", "slipway/uploads/"+slot.ID, other) // someone else with write access to the bucket
		wantError(t, complete(slot), http.StatusBadRequest, "", "the object was replaced")
		same := bytes.Clone(good) // the same length, so the sha256 tells it apart
		same[len(same)-1] ^= 1
		slot = newSlot(t, sha(good), len(good))
		srv.Put(t, "bundles", "slipway/uploads/"+slot.ID, same)
		wantError(t, complete(slot), http.StatusBadRequest, "digest", "the object was replaced", sha(same))
	})
	t.Run("bundle bomb", func(t *testing.T) {
		bomb := declaredBomb(t)
		slot := newSlot(t, sha(bomb), len(bomb))
		if status, msg := putSlot(t, slot, bomb); status != http.StatusOK {
			t.Fatalf("PUT: %d %s", status, msg)
		}
		wantError(t, complete(slot), http.StatusBadRequest, "", "the bundle cannot be deployed", "past the 2147483648-byte limit")
	})
	t.Run("expired slot", func(t *testing.T) {
		id, err := blob.NewUploadID()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.store.CreateUpload(ctx, store.Upload{ID: id, Application: "app", Group: "web", Digest: sha(good),
			Size: int64(len(good)), ExpireTime: time.Now().Add(-time.Second)}); err != nil {
			t.Fatal(err)
		}
		wantError(t, complete(api.Upload{ID: id}), http.StatusGone, "", "has expired", "ask for a new one")
	})
	t.Run("refused slots", func(t *testing.T) {
		wantError(t, e.call(http.MethodPost, pathApps+"/app/groups/plain/uploads", adminToken, api.CreateUpload{Digest: sha(good), Size: 10}),
			http.StatusConflict, "", "through the server", "--upload direct")
		wantError(t, e.call(http.MethodPost, slots, adminToken, api.CreateUpload{Digest: sha(good), Size: 5 << 20}),
			http.StatusRequestEntityTooLarge, "", "max_bundle_bytes")
		wantError(t, e.call(http.MethodPost, slots, adminToken, api.CreateUpload{Digest: "sha256:" + sha(good), Size: 10}),
			http.StatusBadRequest, "digest", "64 lower-case hex")
		wantError(t, e.call(http.MethodPost, slots, adminToken, api.CreateUpload{Digest: sha(good), Size: 10, Directory: "../x"}),
			http.StatusBadRequest, "directory", "relative to the repository")
		wantError(t, e.call(http.MethodPost, pathApps+"/app/groups/plain/uploads/"+strings.Repeat("0", 32)+"/complete", adminToken, nil),
			http.StatusConflict, "", "through the server")
		wantError(t, e.call(http.MethodPost, slots+"/"+strings.Repeat("0", 32)+"/complete", adminToken, nil),
			http.StatusNotFound, "", "no upload slot")
	})
	if keys := srv.Keys(t, "bundles"); !slices.Equal(keys, onlyGood) {
		t.Errorf("bundle bucket holds %q, want %q: refused uploads leave nothing", keys, onlyGood)
	}

	// Direct uploads need the bundle store in S3.
	plain := newEnv(t)
	want(t, plain.call(http.MethodPost, pathApps, adminToken, api.Application{Name: "app"}), http.StatusCreated)
	wantError(t, plain.call(http.MethodPost, pathApps+"/app/groups", adminToken, api.DeploymentGroup{Name: "web", TagGroups: tags, Upload: api.UploadDirect}),
		http.StatusBadRequest, "upload", "bundle_store: s3")
	wantError(t, plain.call(http.MethodPost, pathApps+"/app/groups", adminToken, api.DeploymentGroup{Name: "web", TagGroups: tags, Upload: "sideways"}),
		http.StatusBadRequest, "upload", "use server", "or direct")
}
