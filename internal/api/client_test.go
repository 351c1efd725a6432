package api_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

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
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
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
