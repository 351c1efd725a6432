package githubapp

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// answers is a server that gives scripted answers in order, then 200.
type answers struct {
	mu     sync.Mutex
	script []func(w http.ResponseWriter)
	bodies []string
}

func (a *answers) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	a.mu.Lock()
	a.bodies = append(a.bodies, string(b))
	var next func(http.ResponseWriter)
	if len(a.script) > 0 {
		next, a.script = a.script[0], a.script[1:]
	}
	a.mu.Unlock()
	if next != nil {
		next(w)
		return
	}
	w.WriteHeader(http.StatusOK)
	_, _ = io.WriteString(w, "ok")
}

func answer(status int, header map[string]string, body string) func(http.ResponseWriter) {
	return func(w http.ResponseWriter) {
		for k, v := range header {
			w.Header().Set(k, v)
		}
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}
}

func TestRetryTransport_HonoursGitHubsRateLimits(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name     string
		method   string
		script   []func(http.ResponseWriter)
		want     int
		waits    []time.Duration
		requests int
	}{
		{"retry-after on 429", "POST", []func(http.ResponseWriter){answer(429, map[string]string{"Retry-After": "7"}, "")}, 200, []time.Duration{7 * time.Second}, 2},
		{"secondary limit with retry-after", "POST", []func(http.ResponseWriter){
			answer(403, map[string]string{"Retry-After": "30"}, `{"message":"You have exceeded a secondary rate limit"}`),
		}, 200, []time.Duration{30 * time.Second}, 2},
		{"secondary limit without headers waits a minute", "PATCH", []func(http.ResponseWriter){
			answer(403, nil, `{"message":"You have exceeded a secondary rate limit. Please wait a few minutes before you try again."}`),
		}, 200, []time.Duration{time.Minute}, 2},
		{"primary limit until the reset", "GET", []func(http.ResponseWriter){
			answer(403, map[string]string{"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": strconv.FormatInt(now.Add(20*time.Second).Unix(), 10)}, `{"message":"API rate limit exceeded"}`),
		}, 200, []time.Duration{21 * time.Second}, 2},
		{"a wait too long is left to the caller", "POST", []func(http.ResponseWriter){
			answer(403, map[string]string{"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": strconv.FormatInt(now.Add(time.Hour).Unix(), 10)}, ""),
		}, 403, nil, 1},
		{"a plain 403 is final", "POST", []func(http.ResponseWriter){answer(403, nil, `{"message":"Resource not accessible by integration"}`)}, 403, nil, 1},
		{"bounded attempts", "POST", []func(http.ResponseWriter){
			answer(429, map[string]string{"Retry-After": "1"}, ""), answer(429, map[string]string{"Retry-After": "1"}, ""), answer(429, map[string]string{"Retry-After": "1"}, ""),
		}, 429, []time.Duration{time.Second, time.Second}, 3},
		{"a GET meeting a 502 is retried", "GET", []func(http.ResponseWriter){answer(502, nil, "")}, 200, []time.Duration{2 * time.Second}, 2},
		{"a POST meeting a 502 is not: it may have been applied", "POST", []func(http.ResponseWriter){answer(502, nil, "")}, 502, nil, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := &answers{script: tc.script}
			ts := httptest.NewServer(srv)
			defer ts.Close()
			var waits []time.Duration
			rt := newRetryTransport(http.DefaultTransport, slog.New(slog.DiscardHandler))
			rt.now = func() time.Time { return now }
			rt.sleep = func(_ context.Context, d time.Duration) error { waits = append(waits, d); return nil }
			req, err := http.NewRequest(tc.method, ts.URL+"/repos/o/r/check-runs", strings.NewReader(`{"name":"x"}`))
			if err != nil {
				t.Fatal(err)
			}
			resp, err := (&http.Client{Transport: rt}).Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Errorf("status: got %d, want %d", resp.StatusCode, tc.want)
			}
			if len(waits) != len(tc.waits) {
				t.Fatalf("waits: got %v, want %v", waits, tc.waits)
			}
			for i := range waits {
				if waits[i] != tc.waits[i] {
					t.Errorf("wait %d: got %v, want %v", i, waits[i], tc.waits[i])
				}
			}
			if len(srv.bodies) != tc.requests {
				t.Errorf("requests: got %d, want %d", len(srv.bodies), tc.requests)
			}
			for i, b := range srv.bodies {
				if tc.method != "GET" && b != `{"name":"x"}` {
					t.Errorf("request %d body %q: a retry must send the same body", i, b)
				}
			}
		})
	}
}

func TestRetryTransport_WaitEndsWithTheCall(t *testing.T) {
	ts := httptest.NewServer(&answers{script: []func(http.ResponseWriter){answer(429, map[string]string{"Retry-After": "50"}, "")}})
	defer ts.Close()
	rt := newRetryTransport(http.DefaultTransport, slog.New(slog.DiscardHandler))
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, ts.URL, nil)
	start := time.Now()
	resp, err := rt.RoundTrip(req)
	if err == nil {
		resp.Body.Close()
		// A deadline shorter than the wait returns the 429 at once rather than sleeping.
		if resp.StatusCode != http.StatusTooManyRequests {
			t.Errorf("got %d, want the 429", resp.StatusCode)
		}
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("the call outlived its deadline: %v", took)
	}
}

// A tarball link carries a token in its query: a failed download must not quote it.
func TestDownload_ErrorsDoNotQuoteTheLinksToken(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		// Hang up without an answer, as a broken connection does.
		conn, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			_ = conn.Close()
		}
	}))
	defer srv.Close()
	c, err := NewClients(Auth{APIURL: srv.URL, Token: "t"}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.Download(t.Context(), srv.URL+"/octo/repo/legacy.tar.gz/abc?token=SECRET-ARCHIVE-TOKEN")
	if err == nil {
		_ = resp.Body.Close()
		t.Fatal("a download from a server that hangs up succeeded")
	}
	if strings.Contains(err.Error(), "SECRET-ARCHIVE-TOKEN") || !strings.Contains(err.Error(), "/octo/repo/legacy.tar.gz/abc") {
		t.Errorf("error %q: want the link's path without its token", err)
	}
}
