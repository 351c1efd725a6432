package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/sethvargo/go-githubactions"

	"github.com/slipway-deploy/slipway/internal/api"
)

// The Action's credential for the Slipway server. An API token is used as given. A workflow's
// OIDC token lives minutes, and a deployment can take longer than that, so the Action asks the
// runner for a new one whenever the one in hand is about to expire, for every request.

// oidcRefreshMargin is how long before its expiry a token is replaced; tokens whose expiry
// cannot be read are replaced after oidcUnknownLifetime.
const (
	oidcRefreshMargin   = time.Minute
	oidcUnknownLifetime = time.Minute
)

// oidcTokens hands out the job's OIDC token for one audience, requesting a new one when needed.
type oidcTokens struct {
	gh       *githubactions.Action
	audience string
	now      func() time.Time

	mu     sync.Mutex
	token  string
	expiry time.Time
}

func (o *oidcTokens) get(ctx context.Context) (string, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.token != "" && o.now().Add(oidcRefreshMargin).Before(o.expiry) {
		return o.token, nil
	}
	tok, err := o.gh.GetIDToken(ctx, o.audience)
	if err != nil {
		var missing *githubactions.EnvMissingError
		if errors.As(err, &missing) {
			return "", fmt.Errorf("auth %s: the job cannot request an OIDC token (%s is not set): give the job `permissions: id-token: write`, or use %s: %s",
				authOIDC, missing.Name, inAuth, authAPIToken)
		}
		return "", fmt.Errorf("auth %s: request the OIDC token: %w", authOIDC, err)
	}
	if tok == "" {
		return "", fmt.Errorf("auth %s: the runner returned an empty OIDC token", authOIDC)
	}
	o.gh.AddMask(tok)
	o.token, o.expiry = tok, o.now().Add(oidcRefreshMargin+oidcUnknownLifetime)
	if exp, ok := tokenExpiry(tok); ok {
		o.expiry = exp
	}
	return tok, nil
}

// tokenExpiry reads a JWT's exp. The token is the runner's own, about to be sent to the server
// that verifies it; the Action only needs to know when to ask for the next one.
func tokenExpiry(raw string) (time.Time, bool) {
	tok, err := jwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.RS256, jose.RS384, jose.RS512, jose.ES256, jose.ES384, jose.ES512, jose.PS256})
	if err != nil {
		return time.Time{}, false
	}
	var c jwt.Claims
	if err := tok.UnsafeClaimsWithoutVerification(&c); err != nil || c.Expiry == nil {
		return time.Time{}, false
	}
	return c.Expiry.Time(), true
}

// bearer sets the Authorization of requests to the server from a token source. Requests
// elsewhere (a bundle PUT to a presigned S3 URL, a redirect off the server) go without it: the
// job's token is for the server alone.
type bearer struct {
	base  http.RoundTripper
	token func(context.Context) (string, error)
	// server is the origin the token is for.
	server *url.URL
}

func (b bearer) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Scheme != b.server.Scheme || req.URL.Host != b.server.Host {
		return b.base.RoundTrip(req)
	}
	tok, err := b.token(req.Context())
	if err != nil {
		if req.Body != nil {
			_ = req.Body.Close() // a RoundTripper must close the body, even on error
		}
		return nil, err
	}
	r := req.Clone(req.Context())
	r.Header.Set("Authorization", "Bearer "+tok)
	return b.base.RoundTrip(r)
}

// serverClient returns the API client with the configured credential, trusting the private CA
// SLIPWAY_CA_CERT names, as the CLI does. With OIDC, a first token is fetched now, so a job
// without the permission fails before anything else.
func (a *actionRun) serverClient(ctx context.Context, cfg actionConfig) (*api.Client, error) {
	token := ""
	if cfg.Auth == authAPIToken {
		a.gh.AddMask(cfg.APIToken)
		token = cfg.APIToken
	}
	c := api.NewClient(cfg.ServerURL, token)
	c.UserAgent = "slipway-action/" + version
	if err := c.WithCA(a.getenv(envCACert)); err != nil {
		return nil, fmt.Errorf("%s: %w", envCACert, err)
	}
	if cfg.Auth == authAPIToken {
		return c, nil
	}
	tokens := &oidcTokens{gh: a.gh, audience: cfg.ServerURL, now: time.Now}
	if _, err := tokens.get(ctx); err != nil {
		return nil, err
	}
	base := c.HTTP.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	server, err := url.Parse(c.BaseURL)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", inServerURL, err)
	}
	c.HTTP.Transport = bearer{base: base, token: tokens.get, server: server}
	return c, nil
}
