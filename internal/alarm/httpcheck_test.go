package alarm

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// The HTTP checks run against real HTTP servers on loopback, the kind of health endpoint a user
// points them at.
func TestHTTPCheck(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/ok", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte(`{"status":"ok"}`)) })
	mux.HandleFunc("/degraded", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte(`{"status":"degraded"}`)) })
	mux.HandleFunc("/down", func(w http.ResponseWriter, _ *http.Request) { http.Error(w, "down", http.StatusServiceUnavailable) })
	mux.HandleFunc("/empty", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) })
	mux.Handle("/moved", http.RedirectHandler("/ok", http.StatusFound))
	mux.HandleFunc("/hang", hang)
	mux.HandleFunc("/slow-body", func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("status: "))
		w.(http.Flusher).Flush()
		hang(w, r)
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	refused := refusedURL()

	tests := []struct {
		name      string
		check     HTTPCheck
		timeout   time.Duration
		status    Status
		fragments []string
	}{
		{"2xx", HTTPCheck{URL: srv.URL + "/ok"}, 0, OK, []string{"alarm health: GET " + srv.URL + "/ok answered 200 OK"}},
		{"5xx fires", HTTPCheck{URL: srv.URL + "/down"}, 0, Firing, []string{"alarm health fired: GET " + srv.URL + "/down answered 503 Service Unavailable; want 2xx"}},
		{"listed status", HTTPCheck{URL: srv.URL + "/empty", Status: []int{200, 204}}, 0, OK, []string{"answered 204 No Content"}},
		{"unlisted status", HTTPCheck{URL: srv.URL + "/ok", Status: []int{204, 205, 206}}, 0, Firing, []string{"answered 200 OK; want 204, 205 or 206"}},
		{"redirect not followed", HTTPCheck{URL: srv.URL + "/moved"}, 0, Firing, []string{"answered 302 Found; want 2xx"}},
		{"body contains", HTTPCheck{URL: srv.URL + "/ok", BodyContains: `"ok"`}, 0, OK, []string{"answered 200 OK"}},
		{"body lacks", HTTPCheck{URL: srv.URL + "/degraded", BodyContains: `"ok"`}, 0, Firing, []string{`answered 200 OK without "\"ok\"" in the body`}},
		{"body holds forbidden", HTTPCheck{URL: srv.URL + "/degraded", BodyNotContains: "degraded"}, 0, Firing, []string{`answered 200 OK with "degraded" in the body`}},
		{"no answer fires", HTTPCheck{URL: srv.URL + "/hang"}, 200 * time.Millisecond, Firing, []string{"/hang: no answer within 200ms"}},
		{"body cut short fires", HTTPCheck{URL: srv.URL + "/slow-body", BodyContains: "ok"}, 200 * time.Millisecond, Firing, []string{"reading the body", "no answer within 200ms"}},
		{"refused fires", HTTPCheck{URL: refused + "/health"}, 0, Firing, []string{"connection refused"}},
		{"secrets kept out", HTTPCheck{URL: strings.Replace(srv.URL, "http://", "http://user:s3cret@", 1) + "/down?token=s3cret"}, 0, Firing, []string{"answered 503"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			timeout := tt.timeout
			if timeout == 0 {
				timeout = 10 * time.Second
			}
			got := pollOne(t, Spec{Name: "health", HTTP: &tt.check}, timeout)
			checkState(t, got, tt.status, tt.fragments...)
			if strings.Contains(got.Reason, "s3cret") {
				t.Errorf("reason %q leaks a secret of the URL", got.Reason)
			}
		})
	}
}
