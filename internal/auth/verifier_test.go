package auth

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/coreos/go-oidc/v3/oidc/oidctest"
)

const testAudience = "https://slipway.example.com"

// issuer is a local OIDC issuer serving discovery and JWKS, signing tokens with its own key, as
// token.actions.githubusercontent.com does.
type issuer struct {
	URL      string
	key      *rsa.PrivateKey
	requests atomic.Int64
	down     atomic.Bool
}

func newIssuer(t *testing.T) *issuer {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	is := &issuer{key: key}
	h := &oidctest.Server{PublicKeys: []oidctest.PublicKey{{PublicKey: key.Public(), KeyID: "k1", Algorithm: oidc.RS256}}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		is.requests.Add(1)
		if is.down.Load() {
			http.Error(w, "unavailable", http.StatusServiceUnavailable)
			return
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	h.SetIssuer(srv.URL)
	is.URL = srv.URL
	return is
}

// claims are those of a push to main in repository acme/shop (id 4242), job environment staging.
func (is *issuer) claims() map[string]any {
	now := time.Now()
	return map[string]any{
		"iss": is.URL, "aud": testAudience, "sub": "repo:acme/shop:environment:staging",
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(5 * time.Minute).Unix(),
		"repository": "acme/shop", "repository_id": "4242", "repository_owner": "acme",
		"ref": "refs/heads/main", "sha": "0123456789abcdef0123456789abcdef01234567",
		"environment": "staging", "workflow": "deploy", "job_workflow_ref": "acme/shop/.github/workflows/deploy.yml@refs/heads/main",
		"event_name": "push", "actor": "octocat", "run_id": "99",
	}
}

func (is *issuer) sign(t *testing.T, claims map[string]any) string {
	t.Helper()
	return signWith(t, is.key, claims)
}

func signWith(t *testing.T, key *rsa.PrivateKey, claims map[string]any) string {
	t.Helper()
	b, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	return oidctest.SignIDToken(key, "k1", oidc.RS256, string(b))
}

func newTestVerifier(t *testing.T, is *issuer) *Verifier {
	t.Helper()
	v, err := NewVerifier(VerifierConfig{Issuer: is.URL, Audience: testAudience})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestVerifier_AcceptsAValidToken(t *testing.T) {
	is := newIssuer(t)
	v := newTestVerifier(t, is)
	w, err := v.Verify(context.Background(), is.sign(t, is.claims()))
	if err != nil {
		t.Fatal(err)
	}
	want := Workflow{
		Subject: "repo:acme/shop:environment:staging", Repository: "acme/shop", RepositoryID: 4242,
		Ref: "refs/heads/main", SHA: "0123456789abcdef0123456789abcdef01234567", Environment: "staging",
		Workflow: "deploy", JobWorkflowRef: "acme/shop/.github/workflows/deploy.yml@refs/heads/main",
		EventName: "push", Actor: "octocat", RunID: "99",
	}
	if w != want {
		t.Errorf("got %+v\nwant %+v", w, want)
	}
	// The keys are cached: a second token costs no request to the issuer.
	before := is.requests.Load()
	if _, err := v.Verify(context.Background(), is.sign(t, is.claims())); err != nil {
		t.Fatal(err)
	}
	if n := is.requests.Load() - before; n != 0 {
		t.Errorf("second verification made %d requests to the issuer, want 0", n)
	}
}

func TestVerifier_AudienceIgnoresTrailingSlash(t *testing.T) {
	is := newIssuer(t)
	v := newTestVerifier(t, is)
	c := is.claims()
	c["aud"] = testAudience + "/"
	if _, err := v.Verify(context.Background(), is.sign(t, c)); err != nil {
		t.Fatal(err)
	}
}

func TestVerifier_Refuses(t *testing.T) {
	is := newIssuer(t)
	other := newIssuer(t)
	strangerKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	with := func(k string, val any) map[string]any {
		c := is.claims()
		if val == nil {
			delete(c, k)
		} else {
			c[k] = val
		}
		return c
	}
	unsigned := func(claims map[string]any) string {
		h := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`))
		b, _ := json.Marshal(claims)
		return h + "." + base64.RawURLEncoding.EncodeToString(b) + "."
	}
	tests := []struct {
		name, token, want string
	}{
		{"expired", is.sign(t, with("exp", time.Now().Add(-time.Minute).Unix())), "it expired at"},
		{"wrong audience", is.sign(t, with("aud", "https://other.example.com")), `its audience is ["https://other.example.com"] but this server is "https://slipway.example.com"`},
		{"wrong issuer", other.sign(t, func() map[string]any { c := other.claims(); return c }()), "it was issued by " + `"` + other.URL + `"`},
		{"signed by a stranger's key", signWith(t, strangerKey, is.claims()), "its signature does not verify against the keys"},
		{"unsigned, alg none", unsigned(is.claims()), "it is unsigned (alg none)"},
		{"not a JWT", "abc.def.ghi", "not a signed JWT"},
		{"no repository_id", is.sign(t, with("repository_id", nil)), "no repository_id claim"},
		{"no ref", is.sign(t, with("ref", nil)), "no ref claim"},
		{"too long", strings.Repeat("a", maxTokenBytes+1), "longer than"},
	}
	v := newTestVerifier(t, is)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := v.Verify(context.Background(), tt.token)
			if !errors.Is(err, ErrTokenInvalid) {
				t.Fatalf("err = %v, want ErrTokenInvalid", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %q, want it to say %q", err, tt.want)
			}
		})
	}
	if n := other.requests.Load(); n != 0 {
		t.Errorf("the other issuer was asked %d times; a token naming it must not make the server fetch anything", n)
	}
}

func TestVerifier_IssuerUnavailableThenBack(t *testing.T) {
	is := newIssuer(t)
	is.down.Store(true)
	now := time.Now()
	v, err := NewVerifier(VerifierConfig{Issuer: is.URL, Audience: testAudience, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	tok := is.sign(t, is.claims())
	if _, err := v.Verify(context.Background(), tok); !errors.Is(err, ErrIssuerUnavailable) {
		t.Fatalf("issuer down: err = %v, want ErrIssuerUnavailable", err)
	}
	is.down.Store(false)
	before := is.requests.Load()
	if _, err := v.Verify(context.Background(), tok); !errors.Is(err, ErrIssuerUnavailable) {
		t.Fatalf("within the retry delay: err = %v, want the remembered ErrIssuerUnavailable", err)
	}
	if n := is.requests.Load() - before; n != 0 {
		t.Errorf("within the retry delay the issuer was asked %d times, want 0", n)
	}
	now = now.Add(discoveryRetry)
	if _, err := v.Verify(context.Background(), tok); err != nil {
		t.Fatalf("issuer back after the retry delay: %v", err)
	}
}

func TestNewVerifier_ChecksConfig(t *testing.T) {
	tests := []struct {
		cfg  VerifierConfig
		want string
	}{
		{VerifierConfig{Audience: testAudience}, ""},
		{VerifierConfig{Issuer: "http://issuer.example.com", Audience: testAudience}, "use https"},
		{VerifierConfig{Issuer: "http://127.0.0.1:9", Audience: testAudience}, ""},
		{VerifierConfig{Issuer: "not a url", Audience: testAudience}, "give a URL"},
		{VerifierConfig{}, "give the server's public URL"},
	}
	for _, tt := range tests {
		v, err := NewVerifier(tt.cfg)
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%+v: %v", tt.cfg, err)
		case tt.want == "" && v.Issuer() == "":
			t.Errorf("%+v: no issuer", tt.cfg)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("%+v: err = %v, want %q", tt.cfg, err, tt.want)
		}
	}
}

func TestLooksLikeToken(t *testing.T) {
	for s, want := range map[string]bool{"a.b.c": true, "0123456789abcdef": false, "a.b": false, "": false} {
		if got := LooksLikeToken(s); got != want {
			t.Errorf("LooksLikeToken(%q) = %v, want %v", s, got, want)
		}
	}
}

// Tokens whose signature the cached keys do not verify make go-oidc fetch the keys again: at
// most once a keysRefetch, however many arrive, so forged tokens cannot make the server hammer
// the issuer.
func TestVerifier_ForgedTokensDoNotRefetchTheKeysEachTime(t *testing.T) {
	is := newIssuer(t)
	var now atomic.Int64
	now.Store(time.Now().UnixNano())
	v, err := NewVerifier(VerifierConfig{Issuer: is.URL, Audience: testAudience, Now: func() time.Time { return time.Unix(0, now.Load()) }})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(t.Context(), is.sign(t, is.claims())); err != nil {
		t.Fatal(err)
	}
	strangerKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	forged := signWith(t, strangerKey, is.claims())
	before := is.requests.Load()
	for range 20 {
		if _, err := v.Verify(t.Context(), forged); !errors.Is(err, ErrTokenInvalid) {
			t.Fatalf("forged token: %v, want ErrTokenInvalid", err)
		}
	}
	if n := is.requests.Load() - before; n != 0 {
		t.Errorf("20 forged tokens made %d requests to the issuer, want 0 within %s of the last fetch", n, keysRefetch)
	}
	now.Add(int64(keysRefetch + time.Second))
	for range 5 {
		if _, err := v.Verify(t.Context(), forged); !errors.Is(err, ErrTokenInvalid) {
			t.Fatalf("forged token: %v, want ErrTokenInvalid", err)
		}
	}
	if n := is.requests.Load() - before; n != 1 {
		t.Errorf("after %s, 5 forged tokens made %d requests to the issuer, want 1", keysRefetch, n)
	}
	// The genuine key still verifies, from the keys fetched.
	if _, err := v.Verify(t.Context(), is.sign(t, is.claims())); err != nil {
		t.Errorf("a genuine token after the refetch: %v", err)
	}
}
