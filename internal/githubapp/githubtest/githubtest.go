// Package githubtest is a small stand-in for GitHub's REST API, for tests: the endpoints Slipway
// calls, with the request and response shapes GitHub documents, GitHub's limits checked on what
// is written (a violation is answered 422, as GitHub does, and recorded), App authentication
// (RS256 JWTs checked against the App's public key, installation tokens issued and required), and
// every call recorded. Faults can be injected: an answer for the next matching call, or a call
// held until the test releases it. It serves both sides of Slipway's GitHub integration: the
// server (an App or a token) and the Action (the workflow's token).
package githubtest

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v4"
	"github.com/google/go-github/v60/github"
)

// Call is one request the stand-in received.
type Call struct {
	Method, Path, Query string
	// Auth is the Authorization header.
	Auth string
	Body []byte
}

func (c Call) String() string { return c.Method + " " + c.Path }

// Decode unmarshals the call's body.
func (c Call) Decode(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(c.Body, v); err != nil {
		t.Fatalf("%s: body %s: %v", c, c.Body, err)
	}
}

// Deployment is a GitHub Deployment with its statuses, oldest first.
type Deployment struct {
	github.Deployment
	Repo     string
	Statuses []github.DeploymentStatus
}

// CheckRun is a check run with every annotation it was given, in order, and how often it was
// written (create and updates).
type CheckRun struct {
	github.CheckRun
	Repo        string
	Actions     []*github.CheckRunAction
	Annotations []*github.CheckRunAnnotation
	Writes      int
}

// Comment is an issue comment the stand-in holds, with the reactions added to it.
type Comment struct {
	Repo      string
	Issue     int
	ID        int64
	Body      string
	CreatedAt time.Time
	Reactions []string
}

type fault struct {
	method, prefix string
	status         int
	header         http.Header
	body           any
	// apply acts on the request before answering with status: GitHub did the work and the
	// answer was lost on the way back.
	apply bool
}

type hold struct {
	prefix string
	// after says the call is acted on first and only its answer is held.
	after   bool
	arrived chan struct{}
	release chan struct{}
	once    sync.Once
}

// Server is the stand-in. Create it with New; its fields are guarded by its mutex and read
// through the accessor methods.
type Server struct {
	*httptest.Server
	t testing.TB

	// AppID and Key are the GitHub App's id and private key (PEM) to configure the server with.
	AppID int64
	Key   []byte
	pub   *rsa.PublicKey
	// Token is a plain token the stand-in accepts for every repository.
	Token string

	mu            sync.Mutex
	calls         []Call
	violations    []string
	repos         map[string]int64 // full name → id
	installations map[string]int64 // full name → installation id
	tokens        map[string]int64 // installation token → installation id
	perms         map[string]string
	pulls         map[string]*github.PullRequest
	tarballs      map[string][]byte
	deployments   map[int64]*Deployment
	checkRuns     map[int64]*CheckRun
	comments      map[int64]*Comment
	nextID        int64
	faults        []fault
	holds         []*hold // waiting for their call
	allHolds      []*hold // released when the test ends
}

// New starts a stand-in; it is closed when the test ends.
func New(t testing.TB) *Server {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{
		t: t, AppID: 4242, pub: &key.PublicKey, Token: "ghp_" + randomHex(t, 16),
		Key:           pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}),
		repos:         map[string]int64{},
		installations: map[string]int64{},
		tokens:        map[string]int64{},
		perms:         map[string]string{},
		pulls:         map[string]*github.PullRequest{},
		tarballs:      map[string][]byte{},
		deployments:   map[int64]*Deployment{},
		checkRuns:     map[int64]*CheckRun{},
		comments:      map[int64]*Comment{},
		nextID:        1000,
	}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(func() {
		s.mu.Lock()
		for _, h := range s.allHolds {
			h.once.Do(func() { close(h.release) })
		}
		s.mu.Unlock()
		s.Close()
	})
	return s
}

func randomHex(t testing.TB, n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// AddRepo makes a repository known, covered by an App installation.
func (s *Server) AddRepo(full string, id, installation int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.repos[full], s.installations[full] = id, installation
}

// SetPermission sets a user's permission on a repository (admin, write, read, none).
func (s *Server) SetPermission(repo, user, perm string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.perms[repo+"/"+user] = perm
}

// AddPull makes a pull request known, with its head commit on branch headRef of the repository
// headRepoID (0: the pull request's own repository; another id: a fork).
func (s *Server) AddPull(repo string, number int, headSHA, headRef, state string, headRepoID int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if headRepoID == 0 {
		headRepoID = s.repos[repo]
	}
	s.pulls[repo+"#"+strconv.Itoa(number)] = &github.PullRequest{
		Number: github.Int(number), State: github.String(state),
		Head: &github.PullRequestBranch{SHA: github.String(headSHA), Ref: github.String(headRef), Repo: &github.Repository{ID: github.Int64(headRepoID)}},
	}
}

// AddTarball serves data as the repository's tarball at sha.
func (s *Server) AddTarball(repo, sha string, data []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tarballs[repo+"@"+sha] = data
}

// AddComment makes a comment known (so reactions to it can be checked).
func (s *Server) AddComment(repo string, issue int, id int64, body string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.comments[id] = &Comment{Repo: repo, Issue: issue, ID: id, Body: body, CreatedAt: time.Now()}
}

// AddDeployment makes a GitHub Deployment known, as the Action or a person created it.
func (s *Server) AddDeployment(repo string, d github.Deployment) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.deployments[d.GetID()] = &Deployment{Deployment: d, Repo: repo}
}

// Fail answers the next call whose method matches and whose path starts with prefix with status,
// header and a GitHub error body, without acting on it.
func (s *Server) Fail(method, prefix string, status int, header http.Header, message string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, fault{method: method, prefix: prefix, status: status, header: header, body: errorBody(message)})
}

// FailWith answers the next call whose method matches and whose path starts with prefix with
// status and exactly body (as JSON), without acting on it: GitHub's own words, such as a 409's
// list of failed status checks.
func (s *Server) FailWith(method, prefix string, status int, body any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, fault{method: method, prefix: prefix, status: status, body: body})
}

func errorBody(message string) map[string]string {
	return map[string]string{"message": message, "documentation_url": "https://docs.github.com/rest"}
}

// LoseAnswer acts on the next call whose method matches and whose path starts with prefix, then
// answers 502 instead of the result: the write happened, the caller cannot know it.
func (s *Server) LoseAnswer(method, prefix string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, fault{method: method, prefix: prefix, status: http.StatusBadGateway, body: errorBody("Server Error"), apply: true})
}

// Hold makes the next call whose path starts with prefix wait before it is acted on. arrived is
// closed when it comes; release lets it proceed. A caller that gives up meanwhile (a crash) has
// changed nothing.
func (s *Server) Hold(prefix string) (arrived <-chan struct{}, release func()) {
	return s.hold(prefix, false)
}

// HoldAnswer acts on the next call whose path starts with prefix, then holds its answer until
// release: a caller that gives up meanwhile (a crash) cannot know that its write happened.
func (s *Server) HoldAnswer(prefix string) (arrived <-chan struct{}, release func()) {
	return s.hold(prefix, true)
}

func (s *Server) hold(prefix string, after bool) (<-chan struct{}, func()) {
	h := &hold{prefix: prefix, after: after, arrived: make(chan struct{}), release: make(chan struct{})}
	s.mu.Lock()
	s.holds = append(s.holds, h)
	s.allHolds = append(s.allHolds, h)
	s.mu.Unlock()
	return h.arrived, func() { h.once.Do(func() { close(h.release) }) }
}

// Calls returns the calls so far whose "METHOD path" contains filter ("" for all).
func (s *Server) Calls(filter string) []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Call
	for _, c := range s.calls {
		if strings.Contains(c.String(), filter) {
			out = append(out, c)
		}
	}
	return out
}

// Violations lists the requests that broke GitHub's documented limits or shapes.
func (s *Server) Violations() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.violations)
}

// Deployments returns the GitHub Deployments of a repository, by id.
func (s *Server) Deployments(repo string) []Deployment {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Deployment
	for _, d := range s.deployments {
		if d.Repo == repo {
			cp := *d
			cp.Statuses = slices.Clone(d.Statuses)
			out = append(out, cp)
		}
	}
	slices.SortFunc(out, func(a, b Deployment) int { return int(a.GetID() - b.GetID()) })
	return out
}

// StatusStates returns the states posted to a GitHub Deployment, in order.
func (s *Server) StatusStates(id int64) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	d, ok := s.deployments[id]
	if !ok {
		return nil
	}
	var out []string
	for _, st := range d.Statuses {
		out = append(out, st.GetState())
	}
	return out
}

// Statuses returns the statuses of a GitHub Deployment, oldest first.
func (s *Server) Statuses(id int64) []github.DeploymentStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	if d, ok := s.deployments[id]; ok {
		return slices.Clone(d.Statuses)
	}
	return nil
}

// CheckRuns returns the check runs of a repository, by id.
func (s *Server) CheckRuns(repo string) []CheckRun {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []CheckRun
	for _, c := range s.checkRuns {
		if c.Repo == repo {
			cp := *c
			cp.Annotations = slices.Clone(c.Annotations)
			out = append(out, cp)
		}
	}
	slices.SortFunc(out, func(a, b CheckRun) int { return int(a.GetID() - b.GetID()) })
	return out
}

// Comments returns the comments on an issue or pull request, oldest first.
func (s *Server) Comments(repo string, issue int) []Comment {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Comment
	for _, c := range s.comments {
		if c.Repo == repo && c.Issue == issue {
			out = append(out, *c)
		}
	}
	slices.SortFunc(out, func(a, b Comment) int { return int(a.ID - b.ID) })
	return out
}

// Reactions returns the reactions added to a comment, in order.
func (s *Server) Reactions(id int64) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c, ok := s.comments[id]; ok {
		return slices.Clone(c.Reactions)
	}
	return nil
}

// route is one endpoint: a method and a path pattern with the repository as owner/name.
type route struct {
	method string
	re     *regexp.Regexp
	fn     func(s *Server, w http.ResponseWriter, r *http.Request, repo string, m []string, body []byte)
	// app says the endpoint authenticates as the App (JWT), not as an installation.
	app bool
}

const repoRE = `/repos/([^/]+/[^/]+)`

var routes = []route{
	{method: "POST", re: regexp.MustCompile(`^/app/installations/(\d+)/access_tokens$`), fn: (*Server).accessToken, app: true},
	{method: "GET", re: regexp.MustCompile(`^` + repoRE + `/installation$`), fn: (*Server).repoInstallation, app: true},
	{method: "GET", re: regexp.MustCompile(`^` + repoRE + `/deployments$`), fn: (*Server).listDeployments},
	{method: "POST", re: regexp.MustCompile(`^` + repoRE + `/deployments$`), fn: (*Server).createDeployment},
	{method: "GET", re: regexp.MustCompile(`^` + repoRE + `/deployments/(\d+)/statuses$`), fn: (*Server).listStatuses},
	{method: "POST", re: regexp.MustCompile(`^` + repoRE + `/deployments/(\d+)/statuses$`), fn: (*Server).createStatus},
	{method: "POST", re: regexp.MustCompile(`^` + repoRE + `/check-runs$`), fn: (*Server).writeCheckRun},
	{method: "PATCH", re: regexp.MustCompile(`^` + repoRE + `/check-runs/(\d+)$`), fn: (*Server).writeCheckRun},
	{method: "GET", re: regexp.MustCompile(`^` + repoRE + `/check-runs/(\d+)/annotations$`), fn: (*Server).listAnnotations},
	{method: "GET", re: regexp.MustCompile(`^` + repoRE + `/commits/([^/]+)/check-runs$`), fn: (*Server).listCheckRuns},
	{method: "GET", re: regexp.MustCompile(`^` + repoRE + `/collaborators/([^/]+)/permission$`), fn: (*Server).permission},
	{method: "POST", re: regexp.MustCompile(`^` + repoRE + `/issues/comments/(\d+)/reactions$`), fn: (*Server).reaction},
	{method: "POST", re: regexp.MustCompile(`^` + repoRE + `/issues/(\d+)/comments$`), fn: (*Server).comment},
	{method: "GET", re: regexp.MustCompile(`^` + repoRE + `/issues/(\d+)/comments$`), fn: (*Server).listComments},
	{method: "GET", re: regexp.MustCompile(`^` + repoRE + `/pulls/(\d+)$`), fn: (*Server).pull},
	{method: "GET", re: regexp.MustCompile(`^` + repoRE + `/tarball/([^/]+)$`), fn: (*Server).tarballLink},
	{method: "GET", re: regexp.MustCompile(`^/_codeload/([^/]+/[^/]+)/([^/]+)$`), fn: (*Server).tarball},
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 10<<20))
	s.mu.Lock()
	s.calls = append(s.calls, Call{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, Auth: r.Header.Get("Authorization"), Body: body})
	var held *hold
	for i, h := range s.holds {
		if strings.HasPrefix(r.URL.Path, h.prefix) {
			held = h
			s.holds = slices.Delete(s.holds, i, i+1)
			break
		}
	}
	var f *fault
	for i, ft := range s.faults {
		if ft.method == r.Method && strings.HasPrefix(r.URL.Path, ft.prefix) {
			f = &ft
			s.faults = slices.Delete(s.faults, i, i+1)
			break
		}
	}
	s.mu.Unlock()
	if held != nil && !held.after && !held.wait(r) {
		return
	}
	// An answer held after the call is acted on is written to a recorder first.
	out := w
	var rec *httptest.ResponseRecorder
	if held != nil && held.after {
		rec = httptest.NewRecorder()
		out = rec
	}
	switch {
	case f != nil:
		if f.apply {
			s.route(httptest.NewRecorder(), r, body)
		}
		for k, v := range f.header {
			out.Header()[k] = v
		}
		writeJSON(out, f.status, f.body)
	default:
		s.route(out, r, body)
	}
	if rec != nil && held.wait(r) {
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		_, _ = w.Write(rec.Body.Bytes())
	}
}

// wait says the call arrived and waits for its release; false when the caller gave up first.
func (h *hold) wait(r *http.Request) bool {
	close(h.arrived)
	select {
	case <-h.release:
		return true
	case <-r.Context().Done():
		return false
	}
}

func (s *Server) route(w http.ResponseWriter, r *http.Request, body []byte) {
	for _, rt := range routes {
		m := rt.re.FindStringSubmatch(r.URL.Path)
		if m == nil || rt.method != r.Method {
			continue
		}
		repo := ""
		if len(m) > 1 && strings.HasPrefix(r.URL.Path, "/repos/") {
			repo = m[1]
		}
		if !s.authorized(w, r, repo, rt.app) {
			return
		}
		rt.fn(s, w, r, repo, m, body)
		return
	}
	writeJSON(w, http.StatusNotFound, map[string]string{"message": "Not Found"})
}

// authorized checks the Authorization header as GitHub would: an App JWT for the App endpoints;
// an installation token covering the repository, or the plain token, for the others.
func (s *Server) authorized(w http.ResponseWriter, r *http.Request, repo string, app bool) bool {
	h := r.Header.Get("Authorization")
	scheme, cred, _ := strings.Cut(h, " ")
	scheme = strings.ToLower(scheme)
	if app {
		if scheme == "bearer" && s.validJWT(cred) {
			return true
		}
		writeJSON(w, http.StatusUnauthorized, map[string]string{"message": "A JSON web token could not be decoded"})
		return false
	}
	s.mu.Lock()
	inst, isInst := s.tokens[cred]
	ok := (scheme == "token" || scheme == "bearer") && (cred == s.Token || isInst && (repo == "" || s.installations[repo] == inst))
	s.mu.Unlock()
	if strings.HasPrefix(r.URL.Path, "/_codeload/") {
		ok = r.URL.Query().Get("token") != "" && h == ""
	}
	if !ok {
		writeJSON(w, http.StatusUnauthorized, map[string]string{"message": "Bad credentials"})
	}
	return ok
}

func (s *Server) validJWT(raw string) bool {
	var claims jwt.RegisteredClaims
	tok, err := jwt.ParseWithClaims(raw, &claims, func(t *jwt.Token) (any, error) {
		if t.Method != jwt.SigningMethodRS256 {
			return nil, fmt.Errorf("alg %v", t.Header["alg"])
		}
		return s.pub, nil
	})
	return err == nil && tok.Valid && claims.Issuer == strconv.FormatInt(s.AppID, 10) &&
		claims.ExpiresAt != nil && time.Until(claims.ExpiresAt.Time) <= 10*time.Minute
}

func (s *Server) violation(w http.ResponseWriter, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	s.mu.Lock()
	s.violations = append(s.violations, msg)
	s.mu.Unlock()
	writeJSON(w, http.StatusUnprocessableEntity, map[string]any{"message": "Validation Failed", "errors": []map[string]string{{"message": msg}}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func (s *Server) id() int64 {
	s.nextID++
	return s.nextID
}

func (s *Server) accessToken(w http.ResponseWriter, _ *http.Request, _ string, m []string, _ []byte) {
	inst, _ := strconv.ParseInt(m[1], 10, 64)
	tok := "ghs_" + randomHex(s.t, 16)
	s.mu.Lock()
	s.tokens[tok] = inst
	s.mu.Unlock()
	writeJSON(w, http.StatusCreated, map[string]any{"token": tok, "expires_at": time.Now().Add(time.Hour).UTC().Format(time.RFC3339)})
}

func (s *Server) repoInstallation(w http.ResponseWriter, _ *http.Request, repo string, _ []string, _ []byte) {
	s.mu.Lock()
	inst, ok := s.installations[repo]
	s.mu.Unlock()
	if !ok {
		writeJSON(w, http.StatusNotFound, map[string]string{"message": "Not Found"})
		return
	}
	writeJSON(w, http.StatusOK, github.Installation{ID: github.Int64(inst), AppID: github.Int64(s.AppID)})
}

func (s *Server) listDeployments(w http.ResponseWriter, r *http.Request, repo string, _ []string, _ []byte) {
	q := r.URL.Query()
	out := []*github.Deployment{}
	for _, d := range s.Deployments(repo) {
		if (q.Get("sha") == "" || d.GetSHA() == q.Get("sha")) && (q.Get("environment") == "" || d.GetEnvironment() == q.Get("environment")) {
			out = append(out, &d.Deployment)
		}
	}
	slices.Reverse(out) // newest first, as GitHub lists them
	writeJSON(w, http.StatusOK, out)
}

var shaRE = regexp.MustCompile(`^[0-9a-f]{40}$`)

func (s *Server) createDeployment(w http.ResponseWriter, _ *http.Request, repo string, _ []string, body []byte) {
	var in github.DeploymentRequest
	if err := json.Unmarshal(body, &in); err != nil {
		s.violation(w, "deployment request is not JSON: %v", err)
		return
	}
	if in.GetRef() == "" {
		s.violation(w, "ref is required")
		return
	}
	if len(in.GetDescription()) > 140 {
		s.violation(w, "description is longer than 140 characters")
		return
	}
	sha := in.GetRef()
	if !shaRE.MatchString(sha) {
		writeJSON(w, http.StatusUnprocessableEntity, map[string]string{"message": "No ref found for: " + sha})
		return
	}
	env := in.GetEnvironment()
	if env == "" {
		env = "production"
	}
	task := in.GetTask()
	if task == "" {
		task = "deploy"
	}
	payload, _ := json.Marshal(in.Payload)
	now := &github.Timestamp{Time: time.Now()}
	s.mu.Lock()
	id := s.id()
	u := fmt.Sprintf("%s/repos/%s/deployments/%d", s.URL, repo, id)
	d := &Deployment{Repo: repo, Deployment: github.Deployment{
		ID: github.Int64(id), SHA: github.String(sha), Ref: github.String(in.GetRef()), Task: github.String(task),
		Environment: github.String(env), Description: in.Description, Payload: payload, CreatedAt: now, UpdatedAt: now,
		URL: github.String(u), StatusesURL: github.String(u + "/statuses"), RepositoryURL: github.String(s.URL + "/repos/" + repo),
	}}
	s.deployments[id] = d
	s.mu.Unlock()
	writeJSON(w, http.StatusCreated, d.Deployment)
}

func (s *Server) deployment(w http.ResponseWriter, repo, idText string) *Deployment {
	id, _ := strconv.ParseInt(idText, 10, 64)
	s.mu.Lock()
	d, ok := s.deployments[id]
	s.mu.Unlock()
	if !ok || d.Repo != repo {
		writeJSON(w, http.StatusNotFound, map[string]string{"message": "Not Found"})
		return nil
	}
	return d
}

func (s *Server) listStatuses(w http.ResponseWriter, _ *http.Request, repo string, m []string, _ []byte) {
	d := s.deployment(w, repo, m[2])
	if d == nil {
		return
	}
	s.mu.Lock()
	out := slices.Clone(d.Statuses)
	s.mu.Unlock()
	slices.Reverse(out) // newest first
	writeJSON(w, http.StatusOK, out)
}

var statusStates = []string{"error", "failure", "inactive", "in_progress", "queued", "pending", "success"}

func (s *Server) createStatus(w http.ResponseWriter, _ *http.Request, repo string, m []string, body []byte) {
	d := s.deployment(w, repo, m[2])
	if d == nil {
		return
	}
	var in github.DeploymentStatusRequest
	if err := json.Unmarshal(body, &in); err != nil {
		s.violation(w, "status request is not JSON: %v", err)
		return
	}
	switch {
	case !slices.Contains(statusStates, in.GetState()):
		s.violation(w, "state %q is not one of %v", in.GetState(), statusStates)
		return
	case len([]rune(in.GetDescription())) > 140:
		s.violation(w, "description is longer than 140 characters: %q", in.GetDescription())
		return
	}
	for _, u := range []string{in.GetLogURL(), in.GetEnvironmentURL()} {
		if u != "" && !strings.HasPrefix(u, "http://") && !strings.HasPrefix(u, "https://") {
			s.violation(w, "url %q is not absolute", u)
			return
		}
	}
	s.mu.Lock()
	st := github.DeploymentStatus{
		ID: github.Int64(s.id()), State: in.State, Description: in.Description, LogURL: in.LogURL,
		EnvironmentURL: in.EnvironmentURL, Environment: d.Environment, CreatedAt: &github.Timestamp{Time: time.Now()},
	}
	d.Statuses = append(d.Statuses, st)
	s.mu.Unlock()
	writeJSON(w, http.StatusCreated, st)
}

// checkRunBody is the create/update request as GitHub documents it.
type checkRunBody struct {
	Name        *string                  `json:"name"`
	HeadSHA     *string                  `json:"head_sha"`
	DetailsURL  *string                  `json:"details_url"`
	ExternalID  *string                  `json:"external_id"`
	Status      *string                  `json:"status"`
	Conclusion  *string                  `json:"conclusion"`
	StartedAt   *github.Timestamp        `json:"started_at"`
	CompletedAt *github.Timestamp        `json:"completed_at"`
	Output      *github.CheckRunOutput   `json:"output"`
	Actions     []*github.CheckRunAction `json:"actions"`
	// actionsSent tells an absent "actions" (keep the buttons) from an empty list (remove them).
	actionsSent bool
}

func (s *Server) writeCheckRun(w http.ResponseWriter, r *http.Request, repo string, m []string, body []byte) {
	var in checkRunBody
	if err := json.Unmarshal(body, &in); err != nil {
		s.violation(w, "check run request is not JSON: %v", err)
		return
	}
	var raw map[string]json.RawMessage
	_ = json.Unmarshal(body, &raw)
	_, in.actionsSent = raw["actions"]
	if msg := checkRunViolation(in, r.Method == "POST"); msg != "" {
		s.violation(w, "%s", msg)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var cr *CheckRun
	if r.Method == "POST" {
		cr = &CheckRun{Repo: repo, CheckRun: github.CheckRun{ID: github.Int64(s.id()), HeadSHA: in.HeadSHA, Status: github.String("queued")}}
		s.checkRuns[cr.GetID()] = cr
	} else {
		id, _ := strconv.ParseInt(m[2], 10, 64)
		cr = s.checkRuns[id]
		if cr == nil || cr.Repo != repo {
			writeJSON(w, http.StatusNotFound, map[string]string{"message": "Not Found"})
			return
		}
	}
	cr.Writes++
	set := func(dst **string, v *string) {
		if v != nil {
			*dst = v
		}
	}
	set(&cr.Name, in.Name)
	set(&cr.DetailsURL, in.DetailsURL)
	set(&cr.ExternalID, in.ExternalID)
	set(&cr.Status, in.Status)
	if in.Conclusion != nil {
		cr.Conclusion, cr.Status = in.Conclusion, github.String("completed")
	}
	if in.StartedAt != nil {
		cr.StartedAt = in.StartedAt
	}
	if in.CompletedAt != nil {
		cr.CompletedAt = in.CompletedAt
	}
	if in.actionsSent {
		cr.Actions = in.Actions
	}
	if in.Output != nil {
		anns := in.Output.Annotations
		out := *in.Output
		out.Annotations = nil
		cr.Output = &out
		cr.Annotations = append(cr.Annotations, anns...)
	}
	writeJSON(w, map[bool]int{true: http.StatusCreated, false: http.StatusOK}[r.Method == "POST"], cr.CheckRun)
}

// checkRunViolation checks a check run write against GitHub's documented limits.
func checkRunViolation(in checkRunBody, create bool) string {
	switch {
	case create && (in.Name == nil || *in.Name == ""):
		return "name is required"
	case create && (in.HeadSHA == nil || !shaRE.MatchString(*in.HeadSHA)):
		return "head_sha must be a commit sha"
	case in.Status != nil && !slices.Contains([]string{"queued", "in_progress", "completed"}, *in.Status):
		return "status " + *in.Status + " is not queued, in_progress or completed"
	case in.Status != nil && *in.Status == "completed" && in.Conclusion == nil:
		return "conclusion is required when status is completed"
	case in.Conclusion != nil && !slices.Contains([]string{"action_required", "cancelled", "failure", "neutral", "success", "skipped", "stale", "timed_out"}, *in.Conclusion):
		return "conclusion " + *in.Conclusion + " is not valid"
	case len(in.Actions) > 3:
		return fmt.Sprintf("%d actions: at most 3", len(in.Actions))
	}
	for _, a := range in.Actions {
		if a.Label == "" || len(a.Label) > 20 || len(a.Description) > 40 || a.Description == "" || a.Identifier == "" || len(a.Identifier) > 20 {
			return fmt.Sprintf("action %+v breaks the limits (label and identifier 1-20, description 1-40 characters)", *a)
		}
	}
	if o := in.Output; o != nil {
		switch {
		case o.Title == nil || o.Summary == nil:
			return "output needs a title and a summary"
		case len([]rune(o.GetSummary())) > 65535 || len([]rune(o.GetText())) > 65535:
			return "output summary and text are limited to 65535 characters"
		case len(o.Annotations) > 50:
			return fmt.Sprintf("%d annotations in one request: at most 50", len(o.Annotations))
		}
		for _, a := range o.Annotations {
			if a.GetPath() == "" || a.StartLine == nil || a.EndLine == nil || a.GetMessage() == "" ||
				!slices.Contains([]string{"notice", "warning", "failure"}, a.GetAnnotationLevel()) {
				return "annotation needs path, start_line, end_line, annotation_level (notice, warning, failure) and message"
			}
		}
	}
	return ""
}

func (s *Server) listAnnotations(w http.ResponseWriter, _ *http.Request, repo string, m []string, _ []byte) {
	id, _ := strconv.ParseInt(m[2], 10, 64)
	s.mu.Lock()
	cr := s.checkRuns[id]
	var out []*github.CheckRunAnnotation
	if cr != nil && cr.Repo == repo {
		out = slices.Clone(cr.Annotations)
	}
	s.mu.Unlock()
	if out == nil {
		out = []*github.CheckRunAnnotation{}
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) listCheckRuns(w http.ResponseWriter, r *http.Request, repo string, m []string, _ []byte) {
	name := r.URL.Query().Get("check_name")
	res := github.ListCheckRunsResults{CheckRuns: []*github.CheckRun{}}
	for _, c := range s.CheckRuns(repo) {
		if c.GetHeadSHA() == m[2] && (name == "" || c.GetName() == name) {
			res.CheckRuns = append(res.CheckRuns, &c.CheckRun)
		}
	}
	res.Total = github.Int(len(res.CheckRuns))
	writeJSON(w, http.StatusOK, res)
}

func (s *Server) permission(w http.ResponseWriter, _ *http.Request, repo string, m []string, _ []byte) {
	s.mu.Lock()
	perm, ok := s.perms[repo+"/"+m[2]]
	s.mu.Unlock()
	if !ok {
		writeJSON(w, http.StatusNotFound, map[string]string{"message": m[2] + " is not a user"})
		return
	}
	writeJSON(w, http.StatusOK, github.RepositoryPermissionLevel{Permission: github.String(perm), User: &github.User{Login: github.String(m[2])}})
}

var reactionContents = []string{"+1", "-1", "laugh", "confused", "heart", "hooray", "rocket", "eyes"}

func (s *Server) reaction(w http.ResponseWriter, _ *http.Request, repo string, m []string, body []byte) {
	var in struct {
		Content string `json:"content"`
	}
	_ = json.Unmarshal(body, &in)
	if !slices.Contains(reactionContents, in.Content) {
		s.violation(w, "reaction %q is not one of %v", in.Content, reactionContents)
		return
	}
	id, _ := strconv.ParseInt(m[2], 10, 64)
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.comments[id]
	if c == nil || c.Repo != repo {
		writeJSON(w, http.StatusNotFound, map[string]string{"message": "Not Found"})
		return
	}
	status := http.StatusCreated
	if slices.Contains(c.Reactions, in.Content) {
		status = http.StatusOK // GitHub answers 200 with the existing reaction
	} else {
		c.Reactions = append(c.Reactions, in.Content)
	}
	writeJSON(w, status, github.Reaction{ID: github.Int64(s.id()), Content: github.String(in.Content)})
}

func (s *Server) comment(w http.ResponseWriter, _ *http.Request, repo string, m []string, body []byte) {
	var in github.IssueComment
	if err := json.Unmarshal(body, &in); err != nil || in.GetBody() == "" {
		s.violation(w, "comment needs a body")
		return
	}
	if len([]rune(in.GetBody())) > 65536 {
		s.violation(w, "comment body is longer than 65536 characters")
		return
	}
	n, _ := strconv.Atoi(m[2])
	s.mu.Lock()
	c := &Comment{Repo: repo, Issue: n, ID: s.id(), Body: in.GetBody(), CreatedAt: time.Now()}
	s.comments[c.ID] = c
	s.mu.Unlock()
	writeJSON(w, http.StatusCreated, c.json())
}

func (c Comment) json() github.IssueComment {
	at := &github.Timestamp{Time: c.CreatedAt}
	return github.IssueComment{ID: github.Int64(c.ID), Body: github.String(c.Body), CreatedAt: at, UpdatedAt: at}
}

// listComments lists an issue's comments oldest first, those updated at or after since (ISO
// 8601) when it is given, a page at a time (per_page up to 100, default 30) with GitHub's Link
// header to the next page.
func (s *Server) listComments(w http.ResponseWriter, r *http.Request, repo string, m []string, _ []byte) {
	q := r.URL.Query()
	var since time.Time
	if v := q.Get("since"); v != "" {
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			s.violation(w, "since %q is not an ISO 8601 timestamp", v)
			return
		}
		since = t
	}
	perPage, page := 30, 1
	if n, err := strconv.Atoi(q.Get("per_page")); err == nil && n > 0 {
		perPage = min(n, 100)
	}
	if n, err := strconv.Atoi(q.Get("page")); err == nil && n > 0 {
		page = n
	}
	n, _ := strconv.Atoi(m[2])
	out := []github.IssueComment{}
	for _, c := range s.Comments(repo, n) {
		if !c.CreatedAt.Before(since) {
			out = append(out, c.json())
		}
	}
	if page*perPage < len(out) {
		next := *r.URL
		q.Set("page", strconv.Itoa(page+1))
		next.RawQuery = q.Encode()
		w.Header().Set("Link", fmt.Sprintf(`<%s%s>; rel="next"`, s.URL, next.RequestURI()))
	}
	out = out[min((page-1)*perPage, len(out)):min(page*perPage, len(out))]
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) pull(w http.ResponseWriter, _ *http.Request, repo string, m []string, _ []byte) {
	s.mu.Lock()
	pr, ok := s.pulls[repo+"#"+m[2]]
	s.mu.Unlock()
	if !ok {
		writeJSON(w, http.StatusNotFound, map[string]string{"message": "Not Found"})
		return
	}
	writeJSON(w, http.StatusOK, pr)
}

// tarballLink answers as GitHub does: 302 to a short-lived archive URL carrying its own token.
func (s *Server) tarballLink(w http.ResponseWriter, _ *http.Request, repo string, m []string, _ []byte) {
	s.mu.Lock()
	_, ok := s.tarballs[repo+"@"+m[2]]
	s.mu.Unlock()
	if !ok {
		writeJSON(w, http.StatusNotFound, map[string]string{"message": "Not Found"})
		return
	}
	w.Header().Set("Location", s.URL+"/_codeload/"+repo+"/"+m[2]+"?token="+randomHex(s.t, 8))
	w.WriteHeader(http.StatusFound)
}

func (s *Server) tarball(w http.ResponseWriter, _ *http.Request, _ string, m []string, _ []byte) {
	s.mu.Lock()
	data, ok := s.tarballs[m[1]+"@"+m[2]]
	s.mu.Unlock()
	if !ok {
		w.WriteHeader(http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", "application/x-gzip")
	_, _ = io.Copy(w, bytes.NewReader(data))
}
