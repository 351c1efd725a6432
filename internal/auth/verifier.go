package auth

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	jose "github.com/go-jose/go-jose/v4"
)

// DefaultIssuer issues the OIDC tokens of workflows on github.com. GitHub Enterprise Server
// uses https://HOST/_services/token.
const DefaultIssuer = "https://token.actions.githubusercontent.com"

const (
	// maxTokenBytes bounds what is parsed at all; Actions tokens are about 1 KiB.
	maxTokenBytes = 16 << 10
	// discoveryRetry is how long a failed discovery is remembered, so a flood of requests while
	// the issuer is unreachable does not become a flood of requests to it.
	discoveryRetry = 10 * time.Second
	fetchTimeout   = 10 * time.Second
	// keysRefetch is the least time between two fetches of the issuer's keys. go-oidc fetches
	// them again for every token whose signature the cached keys do not verify, so without it
	// anyone could make the server ask the issuer once per request with forged tokens. Issuers
	// publish a new key before they sign with it, so a minute's wait costs nothing in practice.
	keysRefetch = time.Minute
	// maxKeysBytes bounds the key set read from the issuer (GitHub's is a few KiB).
	maxKeysBytes = 1 << 20
)

// signingAlgs are the algorithms a token may be signed with. GitHub signs with RS256; "none" is
// never among them.
var signingAlgs = []string{oidc.RS256, oidc.RS384, oidc.RS512, oidc.ES256, oidc.ES384, oidc.ES512, oidc.PS256, oidc.PS384, oidc.PS512}

// VerifierConfig says which tokens a Verifier accepts.
type VerifierConfig struct {
	// Issuer is the token issuer; DefaultIssuer when empty.
	Issuer string
	// Audience is what the token's aud must be: the server's public URL (a trailing slash on
	// either side does not matter).
	Audience string
	// HTTP fetches the discovery document and keys; a client with a timeout when nil.
	HTTP *http.Client
	// Now is the clock for expiry checks; time.Now when nil.
	Now func() time.Time
}

// Verifier checks Actions OIDC tokens: signature against the issuer's published keys (JWKS),
// issuer, audience, expiry. The issuer's discovery document is fetched on first use, not at
// construction, so a server starts even when the issuer is unreachable.
type Verifier struct {
	cfg VerifierConfig

	mu       sync.Mutex
	verifier *oidc.IDTokenVerifier
	failedAt time.Time
	failure  error
}

// NewVerifier checks cfg; it fetches nothing.
func NewVerifier(cfg VerifierConfig) (*Verifier, error) {
	if cfg.Issuer == "" {
		cfg.Issuer = DefaultIssuer
	}
	if err := checkIssuerURL(cfg.Issuer); err != nil {
		return nil, err
	}
	if cfg.Audience == "" {
		return nil, errors.New("oidc audience: give the server's public URL")
	}
	if cfg.HTTP == nil {
		cfg.HTTP = &http.Client{Timeout: fetchTimeout}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Verifier{cfg: cfg}, nil
}

// checkIssuerURL accepts https URLs, and http only on a loopback address (a test issuer).
func checkIssuerURL(issuer string) error {
	u, err := url.Parse(issuer)
	if err != nil || u.Host == "" {
		return fmt.Errorf("oidc issuer %q: give a URL such as %s", issuer, DefaultIssuer)
	}
	if u.Scheme == "https" {
		return nil
	}
	host := u.Hostname()
	if u.Scheme == "http" && (host == "localhost" || host == "127.0.0.1" || host == "::1") {
		return nil
	}
	return fmt.Errorf("oidc issuer %q: use https (plain http only for a loopback test issuer)", issuer)
}

// Issuer is the issuer this verifier trusts.
func (v *Verifier) Issuer() string { return v.cfg.Issuer }

// LooksLikeToken reports whether a bearer credential has the shape of a JWT (three dot-separated
// parts), so callers can tell it apart from a static API token without parsing it.
func LooksLikeToken(s string) bool {
	return strings.Count(s, ".") == 2 && len(s) <= maxTokenBytes
}

// Verify checks raw and returns the workflow it identifies. Errors wrap ErrTokenInvalid, with a
// message that says what is wrong, or ErrIssuerUnavailable.
func (v *Verifier) Verify(ctx context.Context, raw string) (Workflow, error) {
	if err := v.precheck(raw); err != nil {
		return Workflow{}, err
	}
	verifier, err := v.idVerifier(ctx)
	if err != nil {
		return Workflow{}, err
	}
	tok, err := verifier.Verify(oidc.ClientContext(ctx, v.cfg.HTTP), raw)
	if err != nil {
		return Workflow{}, v.explain(err)
	}
	if !v.audienceOK(tok.Audience) {
		return Workflow{}, fmt.Errorf("%w: its audience is %s but this server is %q; request the token with audience set to the server URL (the Slipway Action does so with its server-url input)",
			ErrTokenInvalid, quoteAll(tok.Audience), v.cfg.Audience)
	}
	var claims json.RawMessage
	if err := tok.Claims(&claims); err != nil {
		return Workflow{}, fmt.Errorf("%w: %w", ErrTokenInvalid, err)
	}
	return parseClaims(claims)
}

// precheck refuses, before any signature check or key fetch, tokens that cannot be ones this
// server accepts: too long, not a JWS, unsigned, or from another issuer. The unverified header
// and claims only ever lead to a refusal, never to acceptance; checking the issuer first also
// keeps tokens from elsewhere from sending the server to fetch its issuer's keys again.
func (v *Verifier) precheck(raw string) error {
	if len(raw) > maxTokenBytes {
		return fmt.Errorf("%w: longer than %d bytes", ErrTokenInvalid, maxTokenBytes)
	}
	jws, err := jose.ParseSigned(raw, append(signatureAlgorithms(), "none"))
	if err != nil {
		return fmt.Errorf("%w: not a signed JWT (%w)", ErrTokenInvalid, err)
	}
	if len(jws.Signatures) != 1 {
		return fmt.Errorf("%w: it carries %d signatures, want exactly one", ErrTokenInvalid, len(jws.Signatures))
	}
	if jws.Signatures[0].Header.Algorithm == "none" {
		return fmt.Errorf("%w: it is unsigned (alg none)", ErrTokenInvalid)
	}
	var peek struct {
		Issuer string `json:"iss"`
	}
	if err := json.Unmarshal(jws.UnsafePayloadWithoutVerification(), &peek); err != nil {
		return fmt.Errorf("%w: its claims are not JSON: %w", ErrTokenInvalid, err)
	}
	if peek.Issuer != v.cfg.Issuer {
		return fmt.Errorf("%w: it was issued by %q and this server trusts %q only (set oidc_issuer for GitHub Enterprise Server)",
			ErrTokenInvalid, peek.Issuer, v.cfg.Issuer)
	}
	return nil
}

func (v *Verifier) audienceOK(aud []string) bool {
	want := strings.TrimRight(v.cfg.Audience, "/")
	return slices.ContainsFunc(aud, func(a string) bool { return strings.TrimRight(a, "/") == want })
}

// idVerifier returns the go-oidc verifier, running discovery first if it has not succeeded yet.
func (v *Verifier) idVerifier(ctx context.Context) (*oidc.IDTokenVerifier, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.verifier != nil {
		return v.verifier, nil
	}
	now := v.cfg.Now()
	if v.failure != nil && now.Sub(v.failedAt) < discoveryRetry {
		return nil, v.failure
	}
	dctx, cancel := context.WithTimeout(ctx, fetchTimeout)
	defer cancel()
	provider, err := oidc.NewProvider(oidc.ClientContext(dctx, v.cfg.HTTP), v.cfg.Issuer)
	if err != nil {
		v.failedAt, v.failure = now, fmt.Errorf("%w: discovery at %s failed: %w", ErrIssuerUnavailable, v.cfg.Issuer, err)
		return nil, v.failure
	}
	keysHTTP := *v.cfg.HTTP
	keysHTTP.Transport = &throttledKeys{next: keysHTTP.Transport, now: v.cfg.Now}
	keys := oidc.NewRemoteKeySet(oidc.ClientContext(context.Background(), &keysHTTP), jwksURL(provider))
	v.verifier = oidc.NewVerifier(v.cfg.Issuer, keys, &oidc.Config{
		// The audience is checked by audienceOK, which forgives a trailing slash.
		SkipClientIDCheck:    true,
		SupportedSigningAlgs: signingAlgs,
		Now:                  v.cfg.Now,
	})
	v.failure = nil
	return v.verifier, nil
}

func jwksURL(p *oidc.Provider) string {
	var d struct {
		JWKS string `json:"jwks_uri"`
	}
	_ = p.Claims(&d) // NewProvider has already decoded the same document
	return d.JWKS
}

// explain turns go-oidc's error into a message that says what to change.
func (v *Verifier) explain(err error) error {
	var expired *oidc.TokenExpiredError
	switch {
	case errors.As(err, &expired):
		return fmt.Errorf("%w: it expired at %s; Actions tokens live minutes, so request a new one for each run",
			ErrTokenInvalid, expired.Expiry.UTC().Format(time.RFC3339))
	case strings.Contains(err.Error(), "failed to verify signature"):
		return fmt.Errorf("%w: its signature does not verify against the keys %s publishes", ErrTokenInvalid, v.cfg.Issuer)
	}
	return fmt.Errorf("%w: %s", ErrTokenInvalid, strings.TrimPrefix(err.Error(), "oidc: "))
}

func signatureAlgorithms() []jose.SignatureAlgorithm {
	out := make([]jose.SignatureAlgorithm, len(signingAlgs))
	for i, a := range signingAlgs {
		out[i] = jose.SignatureAlgorithm(a)
	}
	return out
}

func quoteAll(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = fmt.Sprintf("%q", s)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

// throttledKeys is the transport of key set fetches: within keysRefetch of a successful fetch it
// answers with that fetch's response again instead of asking the issuer.
type throttledKeys struct {
	next http.RoundTripper // http.DefaultTransport when nil
	now  func() time.Time

	mu     sync.Mutex
	at     time.Time
	header http.Header
	body   []byte
}

func (t *throttledKeys) RoundTrip(req *http.Request) (*http.Response, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.body == nil || t.now().Sub(t.at) >= keysRefetch {
		next := t.next
		if next == nil {
			next = http.DefaultTransport
		}
		resp, err := next.RoundTrip(req)
		if err != nil || resp.StatusCode != http.StatusOK {
			return resp, err
		}
		body, err := io.ReadAll(io.LimitReader(resp.Body, maxKeysBytes))
		_ = resp.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("read the issuer's keys: %w", err)
		}
		t.at, t.header, t.body = t.now(), resp.Header.Clone(), body
	}
	return &http.Response{
		Status: "200 OK", StatusCode: http.StatusOK, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: t.header.Clone(), Body: io.NopCloser(bytes.NewReader(t.body)), ContentLength: int64(len(t.body)),
		Request: req,
	}, nil
}
