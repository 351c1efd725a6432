package e2e

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/coreos/go-oidc/v3/oidc/oidctest"
)

// The GitHub side of a workflow run, as local stand-ins: the REST API's deployment endpoints and
// the Actions OIDC issuer with the runner's token endpoint. They follow GitHub's documented
// request and response shapes; the binaries only get their base URLs.

// githubAPI answers POST /repos/{owner}/{repo}/deployments and .../deployments/{id}/statuses
// and records what it was sent.
type githubAPI struct {
	URL   string
	token string

	mu       sync.Mutex
	requests []githubRequest
	nextID   int64
}

type githubRequest struct {
	Method, Path, Auth string
	Body               map[string]any
}

var (
	deploymentsPath = regexp.MustCompile(`^/repos/([^/]+)/([^/]+)/deployments$`)
	statusesPath    = regexp.MustCompile(`^/repos/([^/]+)/([^/]+)/deployments/([0-9]+)/statuses$`)
)

func newGitHubAPI(t *testing.T, token string) *githubAPI {
	t.Helper()
	g := &githubAPI{token: token, nextID: 1000}
	srv := httptest.NewServer(g)
	t.Cleanup(srv.Close)
	g.URL = srv.URL
	return g
}

func (g *githubAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var body map[string]any
	b, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	_ = json.Unmarshal(b, &body)
	g.mu.Lock()
	g.requests = append(g.requests, githubRequest{Method: r.Method, Path: r.URL.Path, Auth: r.Header.Get("Authorization"), Body: body})
	g.nextID++
	id := g.nextID
	g.mu.Unlock()

	if a := r.Header.Get("Authorization"); a != "Bearer "+g.token && a != "token "+g.token {
		writeGitHub(w, http.StatusUnauthorized, map[string]any{"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest"})
		return
	}
	now := time.Now().UTC().Format(time.RFC3339)
	switch m := deploymentsPath.FindStringSubmatch(r.URL.Path); {
	case m != nil && r.Method == http.MethodPost:
		ref, _ := body["ref"].(string)
		if ref == "" {
			writeGitHub(w, http.StatusUnprocessableEntity, map[string]any{"message": "Invalid request.\n\n\"ref\" wasn't supplied.", "documentation_url": "https://docs.github.com/rest/deployments/deployments#create-a-deployment"})
			return
		}
		env, _ := body["environment"].(string)
		if env == "" {
			env = "production"
		}
		repoURL := g.URL + "/repos/" + m[1] + "/" + m[2]
		writeGitHub(w, http.StatusCreated, map[string]any{
			"url": fmt.Sprintf("%s/deployments/%d", repoURL, id), "id": id, "node_id": "DE_" + strconv.FormatInt(id, 10),
			"sha": ref, "ref": ref, "task": body["task"], "payload": body["payload"], "original_environment": env,
			"environment": env, "description": body["description"], "creator": map[string]any{"login": "github-actions[bot]", "id": 41898282, "type": "Bot"},
			"created_at": now, "updated_at": now, "statuses_url": fmt.Sprintf("%s/deployments/%d/statuses", repoURL, id),
			"repository_url": repoURL, "transient_environment": false, "production_environment": env == "production",
		})
	default:
		if m := statusesPath.FindStringSubmatch(r.URL.Path); m != nil && r.Method == http.MethodPost {
			writeGitHub(w, http.StatusCreated, map[string]any{
				"id": id, "state": body["state"], "description": body["description"], "environment": body["environment"],
				"log_url": body["log_url"], "created_at": now, "updated_at": now,
				"deployment_url": fmt.Sprintf("%s/repos/%s/%s/deployments/%s", g.URL, m[1], m[2], m[3]),
			})
			return
		}
		writeGitHub(w, http.StatusNotFound, map[string]any{"message": "Not Found", "documentation_url": "https://docs.github.com/rest"})
	}
}

func writeGitHub(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func (g *githubAPI) recorded() []githubRequest {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]githubRequest(nil), g.requests...)
}

// actionsIssuer is token.actions.githubusercontent.com and the runner's token endpoint in one:
// discovery and JWKS for the server, and GET /token?audience=... for the job, which answers
// {"value": JWT} with the claims of the job it was configured with.
type actionsIssuer struct {
	URL          string
	RequestToken string // the runner's ACTIONS_ID_TOKEN_REQUEST_TOKEN
	key          *rsa.PrivateKey

	mu   sync.Mutex
	mint func(audience string) string
}

func newActionsIssuer(t *testing.T) *actionsIssuer {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	is := &actionsIssuer{key: key, RequestToken: randomToken(t)}
	discovery := &oidctest.Server{PublicKeys: []oidctest.PublicKey{{PublicKey: key.Public(), KeyID: "actions-1", Algorithm: oidc.RS256}}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/token" {
			discovery.ServeHTTP(w, r)
			return
		}
		if r.Header.Get("Authorization") != "Bearer "+is.RequestToken {
			http.Error(w, `{"message":"bad request token"}`, http.StatusUnauthorized)
			return
		}
		is.mu.Lock()
		mint := is.mint
		is.mu.Unlock()
		writeGitHub(w, http.StatusOK, map[string]string{"value": mint(r.URL.Query().Get("audience"))})
	}))
	t.Cleanup(srv.Close)
	discovery.SetIssuer(srv.URL)
	is.URL = srv.URL
	is.issue(is.signed(t, is.job(4242, "refs/heads/main", "staging")))
	return is
}

// job returns the claims of a job of acme/shop with the given repository id, ref and
// environment, as GitHub issues them.
func (is *actionsIssuer) job(repoID int64, ref, environment string) func(string) map[string]any {
	return func(audience string) map[string]any {
		now := time.Now()
		c := map[string]any{
			"iss": is.URL, "aud": audience, "sub": "repo:acme/shop:environment:" + environment,
			"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(5 * time.Minute).Unix(),
			"repository": "acme/shop", "repository_id": strconv.FormatInt(repoID, 10), "repository_owner": "acme",
			"ref": ref, "sha": strings.Repeat("ab", 20), "workflow": "deploy", "event_name": "push",
			"job_workflow_ref": "acme/shop/.github/workflows/deploy.yml@" + ref, "actor": "octocat", "run_id": "7",
		}
		if environment != "" {
			c["environment"] = environment
		}
		return c
	}
}

// issue sets how the token endpoint makes the next tokens.
func (is *actionsIssuer) issue(mint func(audience string) string) {
	is.mu.Lock()
	defer is.mu.Unlock()
	is.mint = mint
}

// signed mints tokens with the given claims, signed with the issuer's key.
func (is *actionsIssuer) signed(t *testing.T, claims func(audience string) map[string]any) func(string) string {
	return func(audience string) string {
		return signToken(t, is.key, claims(audience))
	}
}

func signToken(t *testing.T, key *rsa.PrivateKey, claims map[string]any) string {
	b, err := json.Marshal(claims)
	if err != nil {
		t.Error(err)
	}
	return oidctest.SignIDToken(key, "actions-1", oidc.RS256, string(b))
}
