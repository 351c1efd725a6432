package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slipway-deploy/slipway/internal/api"
)

// authLog is an HTTP server that records the Authorization header of every request it gets.
type authLog struct {
	*httptest.Server
	mu   sync.Mutex
	seen []string
}

func newAuthLog(t *testing.T, h http.HandlerFunc) *authLog {
	t.Helper()
	a := &authLog{}
	a.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.mu.Lock()
		a.seen = append(a.seen, r.Header.Get("Authorization"))
		a.mu.Unlock()
		h(w, r)
	}))
	t.Cleanup(a.Close)
	return a
}

func (a *authLog) headers() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.seen...)
}

func TestClient_DownloadNeverSendsTheCredentialElsewhere(t *testing.T) {
	const token = "swi_instance-credential"
	content := []byte("bundle bytes")
	// The foreign host stands for S3: it serves the bundle to anyone with the URL.
	foreign := newAuthLog(t, func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write(content) })
	var server *authLog
	server = newAuthLog(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/agent/v1/bundles/here":
			_, _ = w.Write(content)
		case "/agent/v1/bundles/away":
			// Same host name, another port: net/http on its own would forward the header.
			http.Redirect(w, r, foreign.URL+"/bucket/key", http.StatusFound)
		case "/agent/v1/bundles/back":
			http.Redirect(w, r, server.URL+"/agent/v1/bundles/here", http.StatusFound)
		}
	})
	c := api.NewClient(server.URL, token)
	for _, tc := range []struct {
		name                 string
		url                  string
		serverSeen, awaySeen []string
	}{
		{"a server path", "/agent/v1/bundles/here", []string{"Bearer " + token}, nil},
		{"a presigned URL elsewhere", foreign.URL + "/bucket/key?X-Amz-Signature=abc", nil, []string{""}},
		{"a redirect away from the server", "/agent/v1/bundles/away", []string{"Bearer " + token}, []string{""}},
		{"a redirect within the server", "/agent/v1/bundles/back", []string{"Bearer " + token, "Bearer " + token}, nil},
		{"a scheme-relative URL", "//" + foreign.Listener.Addr().String() + "/x", nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before, beforeAway := len(server.headers()), len(foreign.headers())
			var buf bytes.Buffer
			n, err := c.Download(context.Background(), tc.url, &buf)
			if tc.serverSeen == nil && tc.awaySeen == nil {
				if err == nil {
					t.Errorf("Download(%s): got %d bytes, want an error", tc.url, n)
				}
			} else if err != nil || !bytes.Equal(buf.Bytes(), content) {
				t.Fatalf("Download(%s): got %q %v, want the content", tc.url, buf.Bytes(), err)
			}
			gotServer, gotAway := server.headers()[before:], foreign.headers()[beforeAway:]
			if !slices.Equal(gotServer, tc.serverSeen) {
				t.Errorf("the server saw Authorization %q, want %q", gotServer, tc.serverSeen)
			}
			if !slices.Equal(gotAway, tc.awaySeen) {
				t.Errorf("the other host saw Authorization %q, want %q", gotAway, tc.awaySeen)
			}
		})
	}
}

func TestClient_DownloadErrorsDoNotQuoteAPresignedQuery(t *testing.T) {
	// A listener that accepts and closes at once: the request fails after it was sent.
	srv := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, _ *http.Request) {
		panic(http.ErrAbortHandler)
	}))
	defer srv.Close()
	c := api.NewClient("http://127.0.0.1:1", "swi_token")
	_, err := c.Download(context.Background(), srv.URL+"/bucket/key?X-Amz-Credential=AKIA&X-Amz-Signature=s3cr3t", io.Discard)
	if err == nil {
		t.Fatal("Download from a server that drops the connection: got no error")
	}
	if strings.Contains(err.Error(), "s3cr3t") || strings.Contains(err.Error(), "AKIA") || !strings.Contains(err.Error(), "/bucket/key") {
		t.Errorf("error %q: want the object's path without the presigned query", err)
	}
}

func TestClient_UploadRevisionDirectSendsTheBundleToTheSlotWithoutTheToken(t *testing.T) {
	const token = "admin-token"
	content := []byte("bundle bytes for the bucket")
	var got []byte
	var gotHeader http.Header
	// The store stands for S3: it takes the PUT the slot presigned.
	s3 := newAuthLog(t, func(w http.ResponseWriter, r *http.Request) {
		gotHeader = r.Header.Clone()
		got, _ = io.ReadAll(r.Body)
		if r.Method != http.MethodPut || r.ContentLength != int64(len(content)) {
			http.Error(w, "want a PUT of known length", http.StatusBadRequest)
		}
	})
	var server *authLog
	server = newAuthLog(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/api/v1/applications/web/groups/prod/uploads":
			var in api.CreateUpload
			if err := json.NewDecoder(r.Body).Decode(&in); err != nil || in.Digest != "d1" || in.Size != int64(len(content)) || in.Commit != "c1" {
				http.Error(w, "bad slot request", http.StatusBadRequest)
				return
			}
			// A PUT first sent to the server's own origin must not carry the token either.
			w.WriteHeader(http.StatusCreated)
			_ = json.NewEncoder(w).Encode(api.Upload{ID: "u1", URL: server.URL + "/redirect", Method: http.MethodPut,
				Headers: map[string]string{"X-Amz-Checksum-Sha256": "c3VtCg=="}})
		case "/redirect":
			http.Redirect(w, r, s3.URL+"/bucket/uploads/u1?X-Amz-Signature=x", http.StatusTemporaryRedirect)
		case "/api/v1/applications/web/groups/prod/uploads/u1/complete":
			w.WriteHeader(http.StatusCreated)
			_ = json.NewEncoder(w).Encode(api.Revision{Digest: "d1", Source: "upload"})
		default:
			http.NotFound(w, r)
		}
	})
	c := api.NewClient(server.URL, token)
	rev, err := c.UploadRevisionDirect(t.Context(), "web", "prod", bytes.NewReader(content), int64(len(content)), "d1", api.RevisionOrigin{Commit: "c1"})
	if err != nil || rev.Digest != "d1" {
		t.Fatalf("UploadRevisionDirect: %+v %v", rev, err)
	}
	if !bytes.Equal(got, content) || gotHeader.Get("X-Amz-Checksum-Sha256") != "c3VtCg==" {
		t.Errorf("the store got %q with headers %v, want the bundle with the slot's headers", got, gotHeader)
	}
	if seen := s3.headers(); !slices.Equal(seen, []string{""}) {
		t.Errorf("Authorization sent to the store: %q, want none", seen)
	}
	want := []string{"Bearer " + token, "", "Bearer " + token}
	if seen := server.headers(); !slices.Equal(seen, want) {
		t.Errorf("Authorization sent to the server: %q, want %q (none with the bundle's PUT)", seen, want)
	}

	// A store's refusal is reported with S3's code, and the slot is not completed.
	refusing := newAuthLog(t, func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusBadRequest)
		_, _ = io.WriteString(w, "<Error><Code>BadDigest</Code><Message>The SHA256 you specified did not match.</Message></Error>")
	})
	server2 := newAuthLog(t, func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/complete") {
			t.Error("the slot was completed after the store refused the bundle")
		}
		w.WriteHeader(http.StatusCreated)
		_ = json.NewEncoder(w).Encode(api.Upload{ID: "u2", URL: refusing.URL + "/bucket/key", Method: http.MethodPut})
	})
	_, err = api.NewClient(server2.URL, token).UploadRevisionDirect(t.Context(), "web", "prod", bytes.NewReader(content), int64(len(content)), "d1", api.RevisionOrigin{})
	if err == nil || !strings.Contains(err.Error(), "BadDigest") {
		t.Errorf("upload refused by the store: %v, want S3's BadDigest", err)
	}
}

// TestClient_UnknownCertificateAuthoritySaysWhereToGiveTheCA: an https server whose certificate
// no trusted CA signed fails with Go's x509 error plus what to set; with that CA given, it works.
func TestClient_UnknownCertificateAuthoritySaysWhereToGiveTheCA(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "[]")
	}))
	t.Cleanup(srv.Close)
	c := api.NewClient(srv.URL, "token")
	_, err := c.ListInstances(context.Background())
	if err == nil || !strings.Contains(err.Error(), "certificate signed by unknown authority") ||
		!strings.Contains(err.Error(), "SLIPWAY_CA_CERT") {
		t.Fatalf("err = %v, want the x509 error and a hint naming SLIPWAY_CA_CERT", err)
	}

	ca := filepath.Join(t.TempDir(), "ca.pem")
	cert := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	if err := os.WriteFile(ca, cert, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := c.WithCA(ca); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ListInstances(context.Background()); err != nil {
		t.Fatalf("with the CA given: %v", err)
	}
}

// A download that stops receiving (before the answer, or in the middle of the body) ends with
// ErrStalled once nothing has arrived for DownloadStall, keeping what arrived; one that keeps
// receiving, however slowly, is not cut however long it takes in all.
func TestClient_DownloadStallEndsASilentDownloadOnly(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/silent-answer":
			<-r.Context().Done()
			return
		case "/silent-body":
			w.Header().Set("Content-Length", "100")
			_, _ = w.Write([]byte("0123456789"))
			w.(http.Flusher).Flush()
			<-r.Context().Done()
		case "/slow":
			// 10 bytes every 50 ms for 30 sends: longer in all than the stall limit.
			for range 30 {
				if _, err := w.Write([]byte("0123456789")); err != nil {
					return
				}
				w.(http.Flusher).Flush()
				time.Sleep(50 * time.Millisecond)
			}
		}
	}))
	t.Cleanup(srv.Close)
	c := api.NewClient(srv.URL, "")
	c.DownloadStall = time.Second
	for path, want := range map[string]int64{"/silent-answer": 0, "/silent-body": 10} {
		var buf bytes.Buffer
		n, err := c.Download(t.Context(), srv.URL+path, &buf)
		if !errors.Is(err, api.ErrStalled) || n != want || !strings.Contains(err.Error(), "nothing received for 1s") {
			t.Errorf("%s: Download = %d, %v; want %d bytes and ErrStalled", path, n, err, want)
		}
	}
	var buf bytes.Buffer
	if n, err := c.Download(t.Context(), srv.URL+"/slow", &buf); err != nil || n != 300 {
		t.Errorf("/slow: Download = %d, %v; want all 300 bytes", n, err)
	}
}
