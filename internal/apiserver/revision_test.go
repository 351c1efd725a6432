package apiserver

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strings"
	"testing"

	"github.com/slipway-deploy/slipway/internal/api"
	"github.com/slipway-deploy/slipway/internal/appspec"
)

// tarOf packs entries as a tgz exactly as given, hostile names and all.
func tarOf(t *testing.T, entries ...tar.Header) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for _, h := range entries {
		body := ""
		if h.Typeflag == tar.TypeReg {
			body = h.Linkname // tests put a file's content here
			h.Linkname, h.Size = "", int64(len(body))
		}
		if h.Mode == 0 {
			h.Mode = 0o644
		}
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func file(name, content string) tar.Header {
	return tar.Header{Name: name, Typeflag: tar.TypeReg, Linkname: content}
}

func zipOf(t *testing.T, files map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for name, body := range files {
		w, err := zw.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write([]byte(body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func TestRevisionUpload_Accepted(t *testing.T) {
	e := newEnv(t)
	want(t, e.call(http.MethodPost, pathApps, adminToken, api.Application{Name: "app"}), http.StatusCreated)
	lambdaSpec := "version: 0.0\nResources:\n  - fn:\n      Type: AWS::Lambda::Function\n      Properties:\n        Name: fn\n        Alias: live\n        CurrentVersion: \"1\"\n        TargetVersion: \"2\"\n"
	want(t, e.call(http.MethodPost, pathApps, adminToken, api.Application{Name: "fn", ComputePlatform: "lambda"}), http.StatusCreated)
	for _, tc := range []struct {
		name, app string
		data      []byte
		format    string
	}{
		{"tgz built by the CLI", "app", bundleOf(t, map[string]string{"appspec.yml": sampleSpec, "start.sh": "#!/bin/sh\n"}), "tgz"},
		{"GitHub tarball, leading directory", "app", tarOf(t, file("repo-0123abc/appspec.yml", sampleSpec), file("repo-0123abc/start.sh", "#!/bin/sh\n")), "tgz"},
		{"zip with appspec.yaml", "app", zipOf(t, map[string]string{"appspec.yaml": sampleSpec, "start.sh": "#!/bin/sh\n"}), "zip"},
		{"appspec through a symlink", "app", tarOf(t, file("conf/appspec.yml", sampleSpec),
			tar.Header{Name: "appspec.yml", Typeflag: tar.TypeSymlink, Linkname: "conf/appspec.yml"}), "tgz"},
		{"lambda appspec.json", "fn", zipOf(t, map[string]string{"appspec.json": `{"version": 0.0, "Resources": [{"fn": {"Type": "AWS::Lambda::Function", "Properties": {"Name": "fn", "Alias": "live", "CurrentVersion": "1", "TargetVersion": "2"}}}]}`}), "zip"},
		{"lambda appspec.yml", "fn", zipOf(t, map[string]string{"appspec.yml": lambdaSpec}), "zip"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.upload(tc.app, tc.data)
			want(t, r, http.StatusCreated)
			var rev api.Revision
			r.decode(t, &rev)
			if rev.Digest != sha(tc.data) || rev.Size != int64(len(tc.data)) || rev.Format != tc.format || rev.Source != "upload" || rev.Application != tc.app {
				t.Errorf("revision %+v, want %s %s of %d bytes", rev, tc.format, sha(tc.data), len(tc.data))
			}
		})
	}
	// The digest header, when given, must match.
	data := bundleOf(t, map[string]string{"appspec.yml": sampleSpec, "start.sh": "#!/bin/sh\necho checked\n"})
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, e.url+pathApps+"/app/revisions", bytes.NewReader(data))
	req.Header.Set("Authorization", "Bearer "+adminToken)
	req.Header.Set(digestHeader, "sha256="+sha(data))
	want(t, e.send(req), http.StatusCreated)
	wantError(t, e.upload("nope", data), http.StatusNotFound, "", "nope")
}

// TestRevisionUpload_Refused: a bundle the agent would refuse is refused at upload with a
// message that says what is wrong, and nothing of it stays on the server.
func TestRevisionUpload_Refused(t *testing.T) {
	e := newEnv(t)
	want(t, e.call(http.MethodPost, pathApps, adminToken, api.Application{Name: "app"}), http.StatusCreated)
	want(t, e.call(http.MethodPost, pathApps, adminToken, api.Application{Name: "fn", ComputePlatform: "lambda"}), http.StatusCreated)
	script := file("start.sh", "#!/bin/sh\n")
	for _, tc := range []struct {
		name, app string
		data      []byte
		says      []string
	}{
		{"no appspec", "app", tarOf(t, script), []string{"no appspec.yml or appspec.yaml", "root of the bundle"}},
		{"appspec in the wrong case", "app", tarOf(t, file("AppSpec.yml", sampleSpec), script), []string{"rename it to appspec.yml"}},
		{"appspec.json on the server platform", "app", zipOf(t, map[string]string{"appspec.json": "{}"}), []string{"no appspec.yml or appspec.yaml"}},
		{"appspec two directories down", "app", tarOf(t, file("a/b/appspec.yml", sampleSpec)), []string{"no appspec.yml"}},
		{"invalid appspec", "app", tarOf(t, file("appspec.yml", "version: 0.0\nos: linux\nhooks:\n  AfterInstal:\n    - location: a.sh\n  BeforeInstall:\n    - location: b.sh\n      timeout: forever\n"), script),
			[]string{"appspec.yml:4: error:", "AfterInstal", "appspec.yml:8: error:"}},
		{"invalid appspec under the leading directory", "app", tarOf(t, file("repo-1/appspec.yml", "version: 1.0\nos: linux\n")),
			[]string{"repo-1/appspec.yml:1: error:", "version"}},
		{"server appspec for a lambda application", "fn", zipOf(t, map[string]string{"appspec.yml": sampleSpec}), []string{"appspec.yml:", "error:"}},
		{"dangling appspec symlink", "app", tarOf(t, tar.Header{Name: "appspec.yml", Typeflag: tar.TypeSymlink, Linkname: "gone.yml"}), []string{"no appspec.yml"}},
		{"zip slip", "app", zipOf(t, map[string]string{"appspec.yml": sampleSpec, "../../etc/cron.d/x": "* * * * * root sh"}), []string{"cannot be deployed", "leaves the bundle"}},
		{"absolute path", "app", tarOf(t, file("appspec.yml", sampleSpec), file("/etc/passwd", "x")), []string{"absolute path"}},
		{"symlink out of the tree", "app", tarOf(t, file("appspec.yml", sampleSpec), tar.Header{Name: "etc", Typeflag: tar.TypeSymlink, Linkname: "../../../etc"}), []string{"leaves the bundle"}},
		{"device file", "app", tarOf(t, file("appspec.yml", sampleSpec), tar.Header{Name: "null", Typeflag: tar.TypeChar, Devmajor: 1, Devminor: 3}), []string{"character device"}},
		{"not an archive", "app", []byte("#!/bin/sh\necho I am a script, not a bundle\n"), []string{"not a zip, tar or tgz"}},
		{"truncated tgz", "app", bundleOf(t, map[string]string{"appspec.yml": sampleSpec, "big": randomText(64 << 10)})[:2000], []string{"cannot be deployed"}},
		{"appspec too large to be one", "app", tarOf(t, file("appspec.yml", "version: 0.0\nos: linux\n# "+strings.Repeat("x", appspec.MaxSize)+"\n")), []string{"at most"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.upload(tc.app, tc.data)
			wantError(t, r, http.StatusBadRequest, "", tc.says...)
			if files := e.blobFiles(); len(files) != 0 {
				t.Errorf("a refused bundle left %v", files)
			}
			if _, err := e.store.GetRevision(t.Context(), tc.app, sha(tc.data)); err == nil {
				t.Error("a refused bundle was registered as a revision")
			}
		})
	}
}

// TestRevisionUpload_RefusalKeepsSharedBlob: bundles are stored by content, so the same bytes may
// be a valid revision of one application and refused for another; refusing them must not take
// the first application's bundle away.
func TestRevisionUpload_RefusalKeepsSharedBlob(t *testing.T) {
	e := newEnv(t)
	want(t, e.call(http.MethodPost, pathApps, adminToken, api.Application{Name: "app"}), http.StatusCreated)
	want(t, e.call(http.MethodPost, pathApps, adminToken, api.Application{Name: "fn", ComputePlatform: "lambda"}), http.StatusCreated)
	data := bundleOf(t, map[string]string{"appspec.yml": sampleSpec, "start.sh": "#!/bin/sh\n"})
	want(t, e.upload("app", data), http.StatusCreated)
	before := e.blobFiles()
	wantError(t, e.upload("fn", data), http.StatusBadRequest, "", "appspec.yml")
	if after := e.blobFiles(); len(after) != 1 || len(before) != 1 || after[0] != before[0] {
		t.Errorf("bundle files: %v before, %v after the refusal; want the first upload kept", before, after)
	}
}

func TestRevisionUpload_DigestHeader(t *testing.T) {
	e := newEnv(t)
	want(t, e.call(http.MethodPost, pathApps, adminToken, api.Application{Name: "app"}), http.StatusCreated)
	data := bundleOf(t, map[string]string{"appspec.yml": sampleSpec, "start.sh": "#!/bin/sh\n"})
	for _, tc := range []struct{ header, says string }{
		{"sha256=" + sha([]byte("something else")), "differs"},
		{"sha256=ABC", "64 lower-case hex"},
	} {
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, e.url+pathApps+"/app/revisions", bytes.NewReader(data))
		req.Header.Set("Authorization", "Bearer "+adminToken)
		req.Header.Set(digestHeader, tc.header)
		wantError(t, e.send(req), http.StatusBadRequest, digestHeader, tc.says)
	}
	if files := e.blobFiles(); len(files) != 0 {
		t.Errorf("refused uploads left %v", files)
	}
}
