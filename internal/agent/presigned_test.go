package agent

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/slipway-deploy/slipway/internal/appspec"
)

// objectStore stands in for S3 serving presigned URLs: a URL is good while its signature is in
// valid (and then serves that signature's bytes, or half of them and drops the connection when
// the signature starts with "cut"); otherwise it answers as S3 does for an expired URL. It
// records the Authorization header of every request.
type objectStore struct {
	srv   *httptest.Server
	mu    sync.Mutex
	valid map[string][]byte
	auth  []string
}

func newObjectStore(t *testing.T) *objectStore {
	t.Helper()
	o := &objectStore{valid: map[string][]byte{}}
	o.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		o.mu.Lock()
		defer o.mu.Unlock()
		o.auth = append(o.auth, r.Header.Get("Authorization"))
		sig := r.URL.Query().Get("X-Amz-Signature")
		body, ok := o.valid[sig]
		if ok && strings.HasPrefix(sig, "cut") {
			// Half the object, then the connection drops.
			w.Header().Set("Content-Length", strconv.Itoa(len(body)))
			_, _ = w.Write(body[:len(body)/2])
			w.(http.Flusher).Flush()
			panic(http.ErrAbortHandler)
		}
		if !ok {
			w.Header().Set("Content-Type", "application/xml")
			w.WriteHeader(http.StatusForbidden)
			_, _ = w.Write([]byte(`<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>`))
			return
		}
		_, _ = w.Write(body)
	}))
	t.Cleanup(o.srv.Close)
	return o
}

func (o *objectStore) url(sig string) string {
	return o.srv.URL + "/bundles/key?X-Amz-Expires=600&X-Amz-Signature=" + sig
}

func TestAgent_DownloadsFromPresignedURLsAndRenewsExpiredOnes(t *testing.T) {
	for _, tc := range []struct {
		name string
		// first and renewed are the signatures of the command's URL and of the renewed one
		// ("" for no renewal); served maps the good signatures to what they serve.
		first, renewed string
		served         map[string]string
		wantStatus     string
		wantMessage    string
		wantAsked      int
	}{
		{"valid URL", "sig-1", "", map[string]string{"sig-1": "bundle"}, "Succeeded", "", 0},
		{"expired URL, renewed", "sig-old", "sig-new", map[string]string{"sig-new": "bundle"}, "Succeeded", "", 1},
		{"renewed URL serves other bytes", "sig-old", "sig-new", map[string]string{"sig-new": "tampered"}, "Failed", "bundle digest mismatch", 1},
		{"server will not renew", "sig-old", "", map[string]string{}, "Failed", "asking the server for a fresh URL failed", 1},
		{"renewed URL refused too", "sig-old", "sig-also-old", map[string]string{}, "Failed", "the object store answered 403 Forbidden: AccessDenied: Request has expired", 1},
		{"connection dropped, renewed", "cut-1", "sig-new", map[string]string{"cut-1": "bundle", "sig-new": "bundle"}, "Succeeded", "", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newTestEnv(t)
			store := newObjectStore(t)
			good := e.buildBundle(t, traceHook)
			b := e.fake.serveBundle(good)
			for sig, what := range tc.served {
				body := good
				if what == "tampered" {
					body = bytes.Repeat([]byte{'x'}, len(good))
				}
				store.valid[sig] = body
			}
			b.URL = store.url(tc.first)
			if tc.renewed != "" {
				fresh := b
				fresh.URL = store.url(tc.renewed)
				e.fake.set(func(f *fakeServer) { f.fresh["cmd-download"] = fresh })
			}
			e.start(t)
			e.fake.enqueue(command("cmd-download", appspec.EventDownloadBundle, b))
			r := e.fake.result(t, "cmd-download")
			if r.Status != tc.wantStatus {
				t.Fatalf("result %s (%+v), want %s", r.Status, r.Diagnostics, tc.wantStatus)
			}
			if tc.wantMessage != "" && (r.Diagnostics == nil || !strings.Contains(r.Diagnostics.Message, tc.wantMessage)) {
				t.Errorf("diagnostics %+v, want a message saying %q", r.Diagnostics, tc.wantMessage)
			}
			e.fake.set(func(f *fakeServer) {
				if f.freshAsked != tc.wantAsked {
					t.Errorf("asked the server for a fresh URL %d times, want %d", f.freshAsked, tc.wantAsked)
				}
			})
			store.mu.Lock()
			defer store.mu.Unlock()
			if len(store.auth) == 0 {
				t.Fatal("the object store got no request")
			}
			for _, h := range store.auth {
				if h != "" {
					t.Errorf("the object store got Authorization %q: the instance credential left the server", h)
				}
			}
		})
	}
}
