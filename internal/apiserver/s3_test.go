package apiserver

import (
	"bytes"
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/slipway-deploy/slipway/internal/api"
	"github.com/slipway-deploy/slipway/internal/blob"
	"github.com/slipway-deploy/slipway/internal/blob/blobtest"
)

// s3Setup is a versitygw with a bundle bucket and a versioned bucket for users' revisions, the
// SDK pointed at it through the environment, as slipway-server would be; it returns the client
// and a bundle store on "bundles" under the prefix slipway/.
func s3Setup(t *testing.T) (*blobtest.S3Server, *blob.S3Client, *blob.S3) {
	t.Helper()
	srv := blobtest.StartS3(t)
	srv.SetEnv(t)
	srv.CreateBucket(t, "bundles", false)
	srv.CreateBucket(t, "releases", true)
	c, err := blob.NewS3Client(context.Background(), blob.S3Options{
		Region: blobtest.Region, Endpoint: srv.Endpoint, PathStyle: true, PresignTTL: time.Hour,
	})
	if err != nil {
		t.Fatal(err)
	}
	st, err := blob.NewS3(c, "bundles", "slipway/", blob.WithMaxSize(8<<20))
	if err != nil {
		t.Fatal(err)
	}
	return srv, c, st
}

// hostClient speaks for a registered agent through the real client, as slipway-agent does.
func (e *env) hostClient(a *agent) *api.Client { return api.NewClient(e.url, a.credential) }

// deployTo starts a deployment of digest to app/web and returns the host's first command.
func (e *env) deployTo(a *agent, digest string) *api.Command {
	e.t.Helper()
	e.deploy(digest)
	c := a.next(10 * time.Second)
	if c == nil {
		e.t.Fatal("the host got no command")
	}
	return c
}

// download fetches a bundle location as the agent does.
func download(t *testing.T, c *api.Client, url string) []byte {
	t.Helper()
	var buf bytes.Buffer
	if _, err := c.Download(t.Context(), url, &buf); err != nil {
		t.Fatalf("Download(%s): %v", url, err)
	}
	return buf.Bytes()
}

// counter reads a counter of the server's registry, the sample whose kind label is kind ("" for
// an unlabelled counter); 0 when there is no such sample yet.
func (e *env) counter(name, kind string) float64 {
	e.t.Helper()
	mfs, err := e.reg.Gather()
	if err != nil {
		e.t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			got := ""
			for _, lp := range m.GetLabel() {
				if lp.GetName() == "kind" {
					got = lp.GetValue()
				}
			}
			if got == kind {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

func TestRevisionRegister_S3LocationIsCheckedPinnedAndPresigned(t *testing.T) {
	srv, c, _ := s3Setup(t)
	// The bundle store is the disk: revisions in users' buckets need no S3 store.
	e := newEnvWith(t, envSetup{opts: []Option{WithS3(c)}})
	e.fleet()
	host := e.register("web-1", map[string]string{"role": "web"})

	good := bundleOf(t, map[string]string{"appspec.yml": sampleSpec, "start.sh": "#!/bin/sh\necho v1\n"})
	version, etag := srv.Put(t, "releases", "app/v1.tgz", good)
	rev, err := e.admin.RegisterRevision(t.Context(), "app", api.RegisterRevision{S3: &api.S3Location{Bucket: "releases", Key: "app/v1.tgz"}})
	if err != nil {
		t.Fatalf("RegisterRevision: %v", err)
	}
	wantLoc := api.S3Location{Bucket: "releases", Key: "app/v1.tgz", Version: version, ETag: strings.Trim(etag, `"`)}
	if rev.Digest != sha(good) || rev.Source != "s3" || rev.Format != "tgz" || rev.Size != int64(len(good)) || rev.S3 == nil || *rev.S3 != wantLoc {
		t.Fatalf("registered %+v (s3 %+v), want digest %s, source s3, tgz, %d bytes at %+v", rev, rev.S3, sha(good)[:8], len(good), wantLoc)
	}

	// The key is overwritten after registration: the revision stays the version checked.
	srv.Put(t, "releases", "app/v1.tgz", bundleOf(t, map[string]string{"appspec.yml": sampleSpec, "start.sh": "#!/bin/sh\necho other\n"}))
	cmd := e.deployTo(host, rev.Digest)
	b := cmd.Bundle
	if !strings.HasPrefix(b.URL, srv.Endpoint+"/releases/app/v1.tgz?") || !strings.Contains(b.URL, "versionId=") {
		t.Errorf("bundle URL %s: want a presigned URL of the object's version on %s", b.URL, srv.Endpoint)
	}
	wantEnv := map[string]string{"BUNDLE_BUCKET": "releases", "BUNDLE_KEY": "app/v1.tgz", "BUNDLE_VERSION": version, "BUNDLE_ETAG": wantLoc.ETag}
	if len(b.Env) != len(wantEnv) {
		t.Errorf("bundle env %v, want %v", b.Env, wantEnv)
	}
	for k, v := range wantEnv {
		if b.Env[k] != v {
			t.Errorf("bundle env %s=%q, want %q", k, b.Env[k], v)
		}
	}
	hc := e.hostClient(host)
	if got := download(t, hc, b.URL); !bytes.Equal(got, good) {
		t.Errorf("downloaded %d bytes (sha256 %s), want the registered version", len(got), sha(got)[:8])
	}
	// Asking again (the agent does when a URL has expired) gives a working location.
	again, err := hc.CommandBundle(t.Context(), cmd.ID)
	if err != nil || again.Digest != rev.Digest || !bytes.Equal(download(t, hc, again.URL), good) || again.Env["BUNDLE_KEY"] != "app/v1.tgz" {
		t.Errorf("CommandBundle: %+v %v, want the same revision at a working URL", again, err)
	}
	if n := e.counter("slipway_bundle_bytes_served_total", ""); n != 0 {
		t.Errorf("the server sent %v bundle bytes itself, want 0", n)
	}
	if n := e.counter("slipway_bundle_urls_total", "presigned"); n < 2 {
		t.Errorf("presigned URLs handed out: %v, want at least 2", n)
	}
	if n := e.counter("slipway_bundle_urls_total", "server"); n != 0 {
		t.Errorf("server URLs handed out: %v, want 0", n)
	}
	// A command of a deployment that does not target the host gets nothing.
	if _, err := hc.CommandBundle(t.Context(), "d-none:DownloadBundle:1"); api.StatusOf(err) != http.StatusNotFound {
		t.Errorf("CommandBundle of an unknown deployment: %v, want 404", err)
	}
	// Nor does another group's deployment of the same revision, though this host may download
	// the revision through its own: the answer would name that deployment's bundle location.
	if _, err := e.admin.CreateGroup(t.Context(), api.DeploymentGroup{Application: "app", Name: "db",
		TagGroups: [][]api.TagFilter{{{Key: "role", Value: "db", Type: "KEY_AND_VALUE"}}}}); err != nil {
		t.Fatal(err)
	}
	e.register("db-1", map[string]string{"role": "db"})
	other, err := e.admin.CreateDeployment(t.Context(), api.CreateDeployment{Application: "app", Group: "db", Revision: rev.Digest})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := hc.CommandBundle(t.Context(), other.ID+":DownloadBundle:1"); api.StatusOf(err) != http.StatusNotFound {
		t.Errorf("CommandBundle through another group's deployment of the same revision: %v, want 404", err)
	}
}

func TestRevisionRegister_RefusesWhatAgentsCouldNotDeploy(t *testing.T) {
	srv, c, _ := s3Setup(t)
	e := newEnvWith(t, envSetup{opts: []Option{WithS3(c)}}, func(c *Config) { c.MaxBundleBytes = 1 << 20 })
	want(t, e.call(http.MethodPost, pathApps, adminToken, api.Application{Name: "app"}), http.StatusCreated)
	_, etag := srv.Put(t, "releases", "ok.tgz", bundleOf(t, map[string]string{"appspec.yml": sampleSpec, "start.sh": "#!/bin/sh\n"}))
	srv.Put(t, "releases", "no-appspec.tgz", tarOf(t, file("start.sh", "#!/bin/sh\n")))
	srv.Put(t, "releases", "bad-appspec.tgz", tarOf(t, file("appspec.yml", "version: 0.0\nos: linux\nhooks:\n  AfterInstal:\n    - location: x.sh\n")))
	srv.Put(t, "releases", "slip.zip", zipOf(t, map[string]string{"appspec.yml": sampleSpec, "../../etc/cron.d/x": "* * * * * root sh"}))
	srv.Put(t, "releases", "notes.txt", []byte("just some text, no archive at all"))
	srv.Put(t, "releases", "huge.tgz", bytes.Repeat([]byte{0}, 1<<20+1))
	srv.Put(t, "releases", "ok.tgz", bundleOf(t, map[string]string{"appspec.yml": sampleSpec, "start.sh": "#!/bin/sh\necho replaced\n"}))

	for _, tc := range []struct {
		name, app, body string
		status          int
		field           string
		says            string
	}{
		{"missing object", "app", `{"s3":{"bucket":"releases","key":"none.tgz"}}`, 400, "s3", "does not exist"},
		{"missing bucket", "app", `{"s3":{"bucket":"no-such-bucket","key":"ok.tgz"}}`, 400, "s3", "does not exist"},
		{"replaced object", "app", `{"s3":{"bucket":"releases","key":"ok.tgz","etag":"` + strings.ReplaceAll(etag, `"`, `\"`) + `"}}`, 400, "s3.etag", "replaced"},
		{"no appspec", "app", `{"s3":{"bucket":"releases","key":"no-appspec.tgz"}}`, 400, "s3", "no appspec.yml or appspec.yaml"},
		{"invalid appspec", "app", `{"s3":{"bucket":"releases","key":"bad-appspec.tgz"}}`, 400, "s3", "appspec.yml:4: error: unknown lifecycle event 'AfterInstal'"},
		{"zip slip", "app", `{"s3":{"bucket":"releases","key":"slip.zip"}}`, 400, "s3", "leaves the bundle"},
		{"not an archive", "app", `{"s3":{"bucket":"releases","key":"notes.txt"}}`, 400, "s3", "not a zip, tar or tgz"},
		{"too large", "app", `{"s3":{"bucket":"releases","key":"huge.tgz"}}`, 413, "", "max_bundle_bytes"},
		{"no location", "app", `{}`, 400, "s3", `{"s3": {"bucket"`},
		{"no bucket", "app", `{"s3":{"key":"ok.tgz"}}`, 400, "s3.bucket", "bucket's name"},
		{"no key", "app", `{"s3":{"bucket":"releases"}}`, 400, "s3.key", "object's key"},
		{"misspelt field", "app", `{"s3":{"bucket":"releases","kee":"ok.tgz"}}`, 400, "", "unknown field"},
		{"unknown application", "nope", `{"s3":{"bucket":"releases","key":"ok.tgz"}}`, 404, "", "nope"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, e.url+pathApps+"/"+tc.app+"/revisions", strings.NewReader(tc.body))
			req.Header.Set("Authorization", "Bearer "+adminToken)
			req.Header.Set("Content-Type", "application/json; charset=utf-8")
			wantError(t, e.send(req), tc.status, tc.field, tc.says)
		})
	}
	if files := e.blobFiles(); len(files) != 0 {
		t.Errorf("registrations left %v in the bundle store", files)
	}

	// A server with no S3 access says what to configure.
	plain := newEnv(t)
	want(t, plain.call(http.MethodPost, pathApps, adminToken, api.Application{Name: "app"}), http.StatusCreated)
	registration := `{"s3":{"bucket":"releases","key":"ok.tgz"}}`
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, plain.url+pathApps+"/app/revisions", strings.NewReader(registration))
	req.Header.Set("Authorization", "Bearer "+adminToken)
	req.Header.Set("Content-Type", "application/json")
	wantError(t, plain.send(req), http.StatusBadRequest, "s3", "s3_region")
	// Sent as a bundle (no content type), a registration is told what it lacks.
	wantError(t, plain.call(http.MethodPost, pathApps+"/app/revisions", adminToken, registration), http.StatusBadRequest,
		"Content-Type", "send Content-Type: application/json")
}

func TestRevisionUpload_S3StoreSendsAgentsToTheBucket(t *testing.T) {
	srv, c, st := s3Setup(t)
	e := newEnvWith(t, envSetup{blobs: st, opts: []Option{WithS3(c)}})
	digest := e.fleet() // uploads a revision, through the check, into the bucket
	host := e.register("web-1", map[string]string{"role": "web"})
	if keys := srv.Keys(t, "bundles"); !slices.Equal(keys, []string{"slipway/sha256/" + digest}) {
		t.Fatalf("bundle bucket holds %q, want the revision alone (no temporary object)", keys)
	}
	cmd := e.deployTo(host, digest)
	if !strings.HasPrefix(cmd.Bundle.URL, srv.Endpoint+"/bundles/slipway/sha256/"+digest+"?") || cmd.Bundle.Env != nil {
		t.Errorf("bundle %+v: want a presigned URL of the store's object and no BUNDLE_* variables", cmd.Bundle)
	}
	if got := download(t, e.hostClient(host), cmd.Bundle.URL); sha(got) != digest {
		t.Errorf("downloaded sha256 %s, want %s", sha(got)[:8], digest[:8])
	}
	if n := e.counter("slipway_bundle_bytes_served_total", ""); n != 0 {
		t.Errorf("the server sent %v bundle bytes itself, want 0", n)
	}

	// Uploads that cannot be stored are refused with what to change, and leave nothing.
	other := bundleOf(t, map[string]string{"appspec.yml": sampleSpec, "start.sh": "#!/bin/sh\necho other\n"})
	for _, tc := range []struct {
		name        string
		data        []byte
		digest      string
		chunked     bool
		status      int
		field, says string
	}{
		{"altered on the way", other, sha(other[1:]), false, 400, digestHeader, "differs"},
		{"size unknown", other, "", true, 411, "", "Content-Length"},
		{"invalid appspec", tarOf(t, file("appspec.yml", "version: 9\n")), "", false, 400, "", "appspec.yml:1: error:"},
		{"not a bundle", []byte("plain text"), "", false, 400, "", "not a zip, tar or tgz"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var body = bytes.NewReader(tc.data)
			req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, e.url+pathApps+"/app/revisions", body)
			if tc.chunked {
				req.ContentLength = -1 // sent chunked
				req.Body = readCloser{bytes.NewReader(tc.data)}
			}
			req.Header.Set("Authorization", "Bearer "+adminToken)
			if tc.digest != "" {
				req.Header.Set(digestHeader, "sha256="+tc.digest)
			}
			wantError(t, e.send(req), tc.status, tc.field, tc.says)
		})
	}
	if keys := srv.Keys(t, "bundles"); !slices.Equal(keys, []string{"slipway/sha256/" + digest}) {
		t.Errorf("bundle bucket holds %q, want only the good upload", keys)
	}
}

// readCloser hides a reader's type, so net/http cannot learn its length and sends it chunked.
type readCloser struct{ r *bytes.Reader }

func (r readCloser) Read(p []byte) (int, error) { return r.r.Read(p) }
func (r readCloser) Close() error               { return nil }

func TestAgentBundle_DiskStoreServesItselfAndCountsIt(t *testing.T) {
	e := newEnv(t)
	digest := e.fleet()
	host := e.register("web-1", map[string]string{"role": "web"})
	cmd := e.deployTo(host, digest)
	if cmd.Bundle.URL != api.PathAgent+"/bundles/"+digest {
		t.Errorf("bundle URL %s, want the server's own path", cmd.Bundle.URL)
	}
	got := download(t, e.hostClient(host), cmd.Bundle.URL)
	if sha(got) != digest {
		t.Errorf("downloaded sha256 %s, want %s", sha(got)[:8], digest[:8])
	}
	if n := e.counter("slipway_bundle_bytes_served_total", ""); n != float64(len(got)) {
		t.Errorf("bundle bytes served: %v, want %d", n, len(got))
	}
	if n := e.counter("slipway_bundle_urls_total", "server"); n != 1 {
		t.Errorf("server URLs handed out: %v, want 1", n)
	}
}

// A workflow token may register revisions where it may upload them, and nowhere else: the
// server reads S3 with its own rights, so another repository's workflow must not even learn
// whether an object exists.
func TestRevisionRegister_WorkflowOnlyWhereItMayDeploy(t *testing.T) {
	srv, c, _ := s3Setup(t)
	e := newEnvWith(t, envSetup{opts: []Option{WithS3(c)}}, func(cfg *Config) {
		cfg.Workflows = fakeVerifier{
			tokMain:  {Repository: "acme/shop", RepositoryID: 4242, Ref: "refs/heads/main"},
			tokOther: {Repository: "evil/fork", RepositoryID: 99, Ref: "refs/heads/main"},
		}
	})
	ctx := t.Context()
	if _, err := e.admin.CreateApplication(ctx, api.Application{Name: "shop"}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.admin.CreateGroup(ctx, api.DeploymentGroup{Application: "shop", Name: "staging",
		TagGroups: [][]api.TagFilter{{{Key: "role", Value: "web", Type: "KEY_AND_VALUE"}}},
		GitHub:    &api.GitHubLink{Repository: "acme/shop", RepositoryID: 4242}}); err != nil {
		t.Fatal(err)
	}
	good := bundleOf(t, map[string]string{"appspec.yml": sampleSpec, "start.sh": "#!/bin/sh\n"})
	srv.Put(t, "releases", "shop/v1.tgz", good)
	for _, key := range []string{"shop/v1.tgz", "secret/does-it-exist.tgz"} {
		_, err := api.NewClient(e.url, tokOther).RegisterRevision(ctx, "shop", api.RegisterRevision{S3: &api.S3Location{Bucket: "releases", Key: key}})
		wantRefused(t, "another repository's workflow registering "+key, err, http.StatusForbidden, "no group of application shop accepts this workflow")
	}
	rev, err := api.NewClient(e.url, tokMain).RegisterRevision(ctx, "shop", api.RegisterRevision{S3: &api.S3Location{Bucket: "releases", Key: "shop/v1.tgz"}})
	if err != nil || rev.Digest != sha(good) {
		t.Errorf("the linked workflow registering: %+v %v, want the revision", rev, err)
	}
}

// The bundle store's bucket holds every application's revisions and the server reads it with its
// own rights: registering one of its objects would give an application another's bundle.
func TestRevisionRegister_RefusesTheBundleStoresBucket(t *testing.T) {
	srv, c, st := s3Setup(t)
	e := newEnvWith(t, envSetup{blobs: st, opts: []Option{WithS3(c)}})
	digest := e.fleet() // app's revision, now in the bundle bucket
	if _, err := e.admin.CreateApplication(t.Context(), api.Application{Name: "other"}); err != nil {
		t.Fatal(err)
	}
	_, err := e.admin.RegisterRevision(t.Context(), "other", api.RegisterRevision{S3: &api.S3Location{Bucket: "bundles", Key: "slipway/sha256/" + digest}})
	wantRefused(t, "registering the store's object of another application's revision", err, http.StatusBadRequest, `"bundles" is this server's bundle store`)
	good := bundleOf(t, map[string]string{"appspec.yml": sampleSpec, "start.sh": "#!/bin/sh\necho other\n"})
	srv.Put(t, "releases", "other/v1.tgz", good)
	if rev, err := e.admin.RegisterRevision(t.Context(), "other", api.RegisterRevision{S3: &api.S3Location{Bucket: "releases", Key: "other/v1.tgz"}}); err != nil || rev.Digest != sha(good) {
		t.Errorf("registering from another bucket: %+v %v", rev, err)
	}
}
