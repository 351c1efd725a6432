package awsfake

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slipway-deploy/slipway/internal/api"
	"github.com/slipway-deploy/slipway/internal/hook"
)

// StatusEndpoint serves PUT /api/v1/lifecycle-hook-executions/{id} over board, as the
// Slipway server's endpoint is specified (see api.HookPayload): a bearer token, a HookStatus
// body, 204 on success, 404 for an unknown execution, 403 for a wrong token, 409 for a second,
// different verdict, 400 for a malformed one. It returns the server; its URL is the status base
// to give a hook.Caller.
func StatusEndpoint(t testing.TB, board *hook.Board) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, ok := strings.CutPrefix(r.URL.Path, api.HookStatusPath(""))
		if r.Method != http.MethodPut || !ok || id == "" {
			http.Error(w, "not found", http.StatusNotFound)
			return
		}
		token, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		var st api.HookStatus
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4096)).Decode(&st); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		_, err := board.Report(r.Context(), id, token, st)
		switch {
		case err == nil:
			w.WriteHeader(http.StatusNoContent)
		case errors.Is(err, hook.ErrUnknownExecution):
			http.Error(w, err.Error(), http.StatusNotFound)
		case errors.Is(err, hook.ErrBadToken):
			http.Error(w, err.Error(), http.StatusForbidden)
		case errors.Is(err, hook.ErrAlreadyReported):
			http.Error(w, err.Error(), http.StatusConflict)
		default:
			http.Error(w, err.Error(), http.StatusBadRequest)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

// Reporter returns what a hook function does in the tests: it reads the payload it was
// invoked with and reports verdict to the status URL in it, with its token. The answer to the
// report goes to answered, when not nil.
func Reporter(verdict string, answered chan<- int) func(Invocation) {
	return func(inv Invocation) {
		code := ReportFrom(inv.Payload, api.HookStatus{Status: verdict})
		if answered != nil {
			answered <- code
		}
	}
}

// ReportFrom sends st to the status URL of payload (an api.HookPayload) with its token, and
// returns the HTTP status of the answer (0 when there was none).
func ReportFrom(payload []byte, st api.HookStatus) int {
	var p api.HookPayload
	if err := json.Unmarshal(payload, &p); err != nil {
		return 0
	}
	body, _ := json.Marshal(st)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, p.StatusURL, bytes.NewReader(body))
	if err != nil {
		return 0
	}
	req.Header.Set("Authorization", "Bearer "+p.StatusToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0
	}
	_ = resp.Body.Close()
	return resp.StatusCode
}

// HookServer is an HTTP hook: it answers every POST with a fixed verdict.
type HookServer struct {
	*httptest.Server
	mu       sync.Mutex
	payloads []api.HookPayload
}

// HTTPHook starts an HTTP hook that answers st at once (an empty Status: 202 Accepted, the
// verdict to come later).
func HTTPHook(t testing.TB, st api.HookStatus) *HookServer {
	h := &HookServer{}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var p api.HookPayload
		if r.Method != http.MethodPost || json.NewDecoder(r.Body).Decode(&p) != nil {
			http.Error(w, "want a JSON POST", http.StatusBadRequest)
			return
		}
		h.mu.Lock()
		h.payloads = append(h.payloads, p)
		h.mu.Unlock()
		if st.Status == "" {
			w.WriteHeader(http.StatusAccepted)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(st)
	}))
	t.Cleanup(h.Close)
	return h
}

// Payloads returns the payloads the hook received.
func (h *HookServer) Payloads() []api.HookPayload {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]api.HookPayload(nil), h.payloads...)
}
