package e2e

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/coreos/go-oidc/v3/oidc/oidctest"
)

// The Actions OIDC side of a workflow run, as a local stand-in; GitHub's REST API is
// githubtest's, shared with the server's tests. Both follow GitHub's documented request and
// response shapes; the binaries only get their base URLs.

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
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		_ = json.NewEncoder(w).Encode(map[string]string{"value": mint(r.URL.Query().Get("audience"))})
	}))
	t.Cleanup(srv.Close)
	discovery.SetIssuer(srv.URL)
	is.URL = srv.URL
	is.issue(is.signed(t, is.job(4242, "refs/heads/main", "staging")))
	return is
}

// job returns the claims of a job of acme/shop with the given repository id, ref and
// environment, as GitHub issues them, on the commit the tests' GITHUB_SHA names.
func (is *actionsIssuer) job(repoID int64, ref, environment string) func(string) map[string]any {
	return is.jobAt(repoID, ref, environment, strings.Repeat("ab", 20))
}

// jobAt is job on commit sha: a token's sha claim is the run's GITHUB_SHA.
func (is *actionsIssuer) jobAt(repoID int64, ref, environment, sha string) func(string) map[string]any {
	return func(audience string) map[string]any {
		now := time.Now()
		c := map[string]any{
			"iss": is.URL, "aud": audience, "sub": "repo:acme/shop:environment:" + environment,
			"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(5 * time.Minute).Unix(),
			"repository": "acme/shop", "repository_id": strconv.FormatInt(repoID, 10), "repository_owner": "acme",
			"ref": ref, "sha": sha, "workflow": "deploy", "event_name": "push",
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
