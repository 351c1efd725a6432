package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slipway-deploy/slipway/internal/api"
	"github.com/slipway-deploy/slipway/internal/bundle"
	"github.com/slipway-deploy/slipway/internal/lifecycle"
	"github.com/slipway-deploy/slipway/internal/script"
)

// fakeServer is a hand-written stand-in for the agent side of slipway-server: it speaks
// internal/api's types and status codes, queues commands the test hands it, and records what the
// agent sends.
type fakeServer struct {
	srv         *httptest.Server
	enrollToken string

	mu    sync.Mutex
	creds map[string]string // credential → instance
	// registers counts successful enrollments.
	registers int
	hellos    []api.Hello
	// keptTags, when set, are the instance's tags as an administrator set them: a hello that
	// asks for others is refused, as the real server refuses it.
	keptTags map[string]string
	queue    []api.Command
	// wake is closed (and replaced) when a command is queued, to answer a held poll at once.
	wake chan struct{}
	// polls counts poll requests; waiting is how many are held open now.
	polls, waiting int
	// servedBy is the poll number that handed out each command.
	servedBy map[string]int
	known    map[string]bool
	// log is what happened, in order: "poll", "command <id>", "heartbeat <id>", "result <id>".
	log        []string
	heartbeats map[string]int
	// heartbeatStatus and resultStatus, when set, answer those calls instead of handling them.
	heartbeatStatus, resultStatus int
	refused                       int
	// results keeps the first result of each command; posts counts accepted result posts.
	results map[string]api.Result
	posts   map[string]int
	order   []string
	bundles map[string][]byte
	// bundleFaults is consumed one per bundle request: "cut" sends half the bundle and drops the
	// connection, a number answers with that HTTP status. bundleGets counts bundle requests.
	bundleFaults []string
	bundleGets   int
	// fresh is what GET /commands/{id}/bundle answers (404 when absent); freshAsked counts asks.
	fresh      map[string]api.Bundle
	freshAsked int
}

func newFakeServer(t *testing.T) *fakeServer {
	t.Helper()
	f := &fakeServer{
		enrollToken: "enroll-secret-token",
		creds:       map[string]string{},
		wake:        make(chan struct{}),
		servedBy:    map[string]int{},
		known:       map[string]bool{},
		heartbeats:  map[string]int{},
		results:     map[string]api.Result{},
		posts:       map[string]int{},
		bundles:     map[string][]byte{},
		fresh:       map[string]api.Bundle{},
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+api.PathAgent+"/register", f.handleRegister)
	mux.HandleFunc("POST "+api.PathAgent+"/hello", f.auth(f.handleHello))
	mux.HandleFunc("GET "+api.PathAgent+"/commands/next", f.auth(f.handleNext))
	mux.HandleFunc("POST "+api.PathAgent+"/commands/{id}/heartbeat", f.auth(f.handleHeartbeat))
	mux.HandleFunc("POST "+api.PathAgent+"/commands/{id}/result", f.auth(f.handleResult))
	mux.HandleFunc("GET "+api.PathAgent+"/bundles/{digest}", f.auth(f.handleBundle))
	mux.HandleFunc("GET "+api.PathAgent+"/commands/{id}/bundle", f.auth(f.handleCommandBundle))
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	return f
}

func writeError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(api.Error{Message: msg})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func bearer(r *http.Request) string {
	return strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
}

func (f *fakeServer) auth(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		_, ok := f.creds[bearer(r)]
		f.mu.Unlock()
		if !ok {
			writeError(w, http.StatusUnauthorized, "unknown or revoked credential")
			return
		}
		h(w, r)
	}
}

func (f *fakeServer) handleRegister(w http.ResponseWriter, r *http.Request) {
	if bearer(r) != f.enrollToken {
		writeError(w, http.StatusUnauthorized, "invalid enrollment token")
		return
	}
	var in api.Register
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil || in.Name == "" {
		writeError(w, http.StatusBadRequest, "name is required")
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.registers++
	cred := fmt.Sprintf("instance-credential-%d", f.registers)
	f.creds[cred] = in.Name
	writeJSON(w, http.StatusCreated, api.Registered{Instance: in.Name, Credential: cred})
}

func (f *fakeServer) handleHello(w http.ResponseWriter, r *http.Request) {
	var in api.Hello
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.hellos = append(f.hellos, in)
	if f.keptTags != nil && len(in.Tags) > 0 && !maps.Equal(in.Tags, f.keptTags) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusConflict)
		json.NewEncoder(w).Encode(api.Error{Field: "tags", Message: "instance web-1 has tags role=db: run slipway instance tag web-1 --tag role=web"})
		return
	}
	// As the real server does: each interrupted command it knows is recorded as failed.
	for _, id := range in.Interrupted {
		if f.known[id] {
			f.record(id, api.Result{Status: "Failed", Diagnostics: &api.Diagnostics{ErrorCode: script.FailedAfterRestart.String()}})
		}
	}
	w.WriteHeader(http.StatusNoContent)
}

func (f *fakeServer) handleNext(w http.ResponseWriter, r *http.Request) {
	wait, err := time.ParseDuration(r.URL.Query().Get("wait"))
	if err != nil {
		writeError(w, http.StatusBadRequest, "wait: "+err.Error())
		return
	}
	timer := time.NewTimer(wait)
	defer timer.Stop()
	f.mu.Lock()
	f.polls++
	seq := f.polls
	f.log = append(f.log, "poll")
	for len(f.queue) == 0 {
		wake := f.wake
		f.waiting++
		f.mu.Unlock()
		expired := false
		select {
		case <-wake:
		case <-timer.C:
			expired = true
		case <-r.Context().Done():
		}
		f.mu.Lock()
		f.waiting--
		if r.Context().Err() != nil || expired && len(f.queue) == 0 {
			f.mu.Unlock()
			w.WriteHeader(http.StatusNoContent)
			return
		}
	}
	cmd := f.queue[0]
	f.queue = f.queue[1:]
	f.known[cmd.ID] = true
	f.servedBy[cmd.ID] = seq
	f.log = append(f.log, "command "+cmd.ID)
	f.mu.Unlock()
	writeJSON(w, http.StatusOK, cmd)
}

func (f *fakeServer) handleHeartbeat(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.known[id] {
		writeError(w, http.StatusNotFound, "unknown command")
		return
	}
	f.heartbeats[id]++
	f.log = append(f.log, "heartbeat "+id)
	if f.heartbeatStatus != 0 {
		writeError(w, f.heartbeatStatus, "command no longer wanted")
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (f *fakeServer) handleResult(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	var in api.Result
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.resultStatus != 0 {
		f.refused++
		writeError(w, f.resultStatus, "server restarting")
		return
	}
	if !f.known[id] {
		writeError(w, http.StatusNotFound, "unknown command")
		return
	}
	f.posts[id]++
	f.log = append(f.log, "result "+id)
	if _, dup := f.results[id]; dup {
		writeError(w, http.StatusConflict, "result already recorded")
		return
	}
	f.record(id, in)
	w.WriteHeader(http.StatusNoContent)
}

// record keeps the first result of a command. f.mu is held.
func (f *fakeServer) record(id string, r api.Result) {
	if _, dup := f.results[id]; dup {
		return
	}
	f.results[id] = r
	f.order = append(f.order, id)
}

func (f *fakeServer) handleBundle(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	b, ok := f.bundles[r.PathValue("digest")]
	f.bundleGets++
	fault := ""
	if ok && len(f.bundleFaults) > 0 {
		fault, f.bundleFaults = f.bundleFaults[0], f.bundleFaults[1:]
	}
	f.mu.Unlock()
	switch fault {
	case "":
	case "cut":
		w.Header().Set("Content-Length", strconv.Itoa(len(b)))
		w.Write(b[:len(b)/2])
		w.(http.Flusher).Flush()
		panic(http.ErrAbortHandler) // drops the connection, as a killed server would
	default:
		status, _ := strconv.Atoi(fault)
		writeError(w, status, "bundle store unavailable")
		return
	}
	if !ok {
		writeError(w, http.StatusNotFound, "no such bundle")
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Write(b)
}

func (f *fakeServer) handleCommandBundle(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.freshAsked++
	b, ok := f.fresh[r.PathValue("id")]
	if !ok {
		writeError(w, http.StatusNotFound, "no active deployment of this command targets this instance")
		return
	}
	writeJSON(w, http.StatusOK, b)
}

// enqueue hands the agent a command.
func (f *fakeServer) enqueue(cmd api.Command) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.queue = append(f.queue, cmd)
	close(f.wake)
	f.wake = make(chan struct{})
}

// serveBundle makes data downloadable and returns the Bundle a command names it by.
func (f *fakeServer) serveBundle(data []byte) api.Bundle {
	digest, _ := bundle.Digest(bytes.NewReader(data))
	f.mu.Lock()
	f.bundles[digest] = data
	f.mu.Unlock()
	return api.Bundle{Digest: digest, Size: int64(len(data)), Format: "tgz", URL: api.PathAgent + "/bundles/" + digest,
		Env: map[string]string{"BUNDLE_COMMIT": "abc123"}}
}

func (f *fakeServer) set(fn func(f *fakeServer)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}

// eventually polls the fake's state (under its lock) until cond holds, failing after a deadline
// that only a hung agent reaches.
func (f *fakeServer) eventually(t *testing.T, what string, cond func(f *fakeServer) bool) {
	t.Helper()
	eventually(t, what, func() bool {
		f.mu.Lock()
		defer f.mu.Unlock()
		return cond(f)
	})
}

// result waits for the first result of a command.
func (f *fakeServer) result(t *testing.T, id string) api.Result {
	t.Helper()
	var r api.Result
	f.eventually(t, "result of "+id, func(f *fakeServer) bool {
		var ok bool
		r, ok = f.results[id]
		return ok
	})
	return r
}

// logSinceLocked returns the fake's log from the first entry equal to from (inclusive). f.mu is
// held.
func (f *fakeServer) logSinceLocked(from string) []string {
	for i, e := range f.log {
		if e == from {
			return append([]string(nil), f.log[i:]...)
		}
	}
	return nil
}

const testDeadline = 20 * time.Second

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(testDeadline)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// lockedBuffer collects log output written by the agent's goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// testAgent is an Agent running in a goroutine that the test owns.
type testAgent struct {
	cancel context.CancelFunc
	done   chan error
	once   sync.Once
	err    error
}

func startAgent(t *testing.T, cfg Config) *testAgent {
	t.Helper()
	a, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ta := &testAgent{cancel: cancel, done: make(chan error, 1)}
	go func() { ta.done <- a.Run(ctx) }()
	t.Cleanup(func() { ta.stop(t) })
	return ta
}

// wait returns Run's error once it has returned on its own.
func (ta *testAgent) wait(t *testing.T) error {
	t.Helper()
	ta.once.Do(func() {
		select {
		case ta.err = <-ta.done:
		case <-time.After(testDeadline):
			t.Fatalf("agent did not stop")
		}
	})
	return ta.err
}

// stop cancels the agent and returns Run's error.
func (ta *testAgent) stop(t *testing.T) error {
	t.Helper()
	ta.cancel()
	return ta.wait(t)
}

type testEnv struct {
	fake *fakeServer
	root lifecycle.Root
	// trace is the file hook scripts append to; gate the file the slow hook waits for.
	trace, gate, dest string
	logs              *lockedBuffer
}

func newTestEnv(t *testing.T) *testEnv {
	t.Helper()
	dir := t.TempDir()
	return &testEnv{
		fake:  newFakeServer(t),
		root:  lifecycle.Root(filepath.Join(dir, "root")),
		trace: filepath.Join(dir, "trace"),
		gate:  filepath.Join(dir, "gate"),
		dest:  filepath.Join(dir, "www"),
		logs:  &lockedBuffer{},
	}
}

func (e *testEnv) config() Config {
	return Config{
		Server:      e.fake.srv.URL,
		EnrollToken: e.fake.enrollToken,
		Name:        "web-1",
		Tags:        map[string]string{"role": "web"},
		Version:     "test",
		Host: &lifecycle.Host{
			Root:      e.root,
			Env:       []string{"PATH=" + os.Getenv("PATH"), "TRACE=" + e.trace, "GATE=" + e.gate},
			KillGrace: time.Second,
			PipeGrace: 100 * time.Millisecond,
		},
		PollWait:       5 * time.Second,
		MinBackoff:     2 * time.Millisecond,
		MaxBackoff:     20 * time.Millisecond,
		ShutdownGrace:  5 * time.Second,
		RequestTimeout: 5 * time.Second,
		Logger:         slog.New(slog.NewJSONHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
}

func (e *testEnv) start(t *testing.T) *testAgent {
	t.Helper()
	return startAgent(t, e.config())
}

func (e *testEnv) traceLines(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile(e.trace)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return strings.Fields(strings.ReplaceAll(string(b), "\n", " "))
}
