package githubapp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"

	"github.com/bradleyfalzon/ghinstallation/v2"
	"github.com/google/go-github/v60/github"
)

// DefaultAPIURL is github.com's REST API. GitHub Enterprise Server's is https://HOST/api/v3.
const DefaultAPIURL = "https://api.github.com"

// userAgent is sent with every call, as GitHub asks.
const userAgent = "slipway-server"

// Auth is how the server authenticates to GitHub: as a GitHub App (AppID and PrivateKey; each
// repository is reached through the installation that covers it) or with a plain Token.
type Auth struct {
	// APIURL is the REST API's base URL; DefaultAPIURL when empty.
	APIURL string
	AppID  int64
	// PrivateKey is the App's PEM private key.
	PrivateKey []byte
	Token      string
}

// Repo names a repository: what a call needs (owner/name) and what keys it (the id).
type Repo struct {
	Owner, Name string
	ID          int64
}

func (r Repo) String() string { return r.Owner + "/" + r.Name }

// parseRepo splits "owner/name".
func parseRepo(full string, id int64) (Repo, error) {
	owner, name, ok := strings.Cut(full, "/")
	if !ok || owner == "" || name == "" || strings.Contains(name, "/") {
		return Repo{}, fmt.Errorf("repository %q: want owner/name", full)
	}
	return Repo{Owner: owner, Name: name, ID: id}, nil
}

// installations is what the clients need of the store: the installation covering a repository.
type installations interface {
	SetGitHubInstallation(ctx context.Context, repositoryID int64, repository string, installation int64) error
	GitHubInstallation(ctx context.Context, repositoryID int64) (int64, error)
}

// Clients hands out go-github clients for repositories. With a GitHub App it keeps one client
// per installation (each renews its own installation token through ghinstallation) and finds a
// repository's installation from the store, or asks GitHub once; with a token there is one
// client. Clients are reused so go-github's knowledge of the rate limits is shared.
type Clients struct {
	base    *url.URL
	auth    Auth
	store   installations
	log     *slog.Logger
	retry   *retryTransport
	appsTr  *ghinstallation.AppsTransport
	app     *github.Client
	token   *github.Client
	mu      sync.Mutex
	clients map[int64]*github.Client
}

// NewClients checks auth and returns the clients; it calls nothing.
func NewClients(auth Auth, store installations, log *slog.Logger) (*Clients, error) {
	if auth.APIURL == "" {
		auth.APIURL = DefaultAPIURL
	}
	base, err := url.Parse(strings.TrimRight(auth.APIURL, "/") + "/")
	if err != nil || (base.Scheme != "https" && base.Scheme != "http") || base.Host == "" {
		return nil, fmt.Errorf("github api url %q: give an absolute http(s) URL such as %s", auth.APIURL, DefaultAPIURL)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c := &Clients{base: base, auth: auth, store: store, log: log, clients: map[int64]*github.Client{}}
	c.retry = newRetryTransport(newBaseTransport(), log)
	switch {
	case auth.AppID != 0 && auth.Token != "":
		return nil, errors.New("github: give a GitHub App (app id and private key) or a token, not both")
	case auth.AppID != 0:
		c.appsTr, err = ghinstallation.NewAppsTransport(c.retry, auth.AppID, auth.PrivateKey)
		if err != nil {
			return nil, fmt.Errorf("github app private key: %w (give the PEM file GitHub generated for the App)", err)
		}
		c.appsTr.BaseURL = strings.TrimRight(base.String(), "/")
		c.app = c.newClient(c.appsTr)
	case auth.Token != "":
		c.token = c.newClient(c.retry).WithAuthToken(auth.Token)
	default:
		return nil, errors.New("github: give a GitHub App (app id and private key) or a token")
	}
	return c, nil
}

func (c *Clients) newClient(tr http.RoundTripper) *github.Client {
	gh := github.NewClient(&http.Client{Transport: tr, Timeout: callTimeout})
	gh.BaseURL = c.base
	gh.UploadURL = c.base
	gh.UserAgent = userAgent
	return gh
}

// IsApp reports whether the server is a GitHub App. Only Apps may create check runs.
func (c *Clients) IsApp() bool { return c.appsTr != nil }

// For returns the client that acts on repo. installation, when not 0, is the installation a
// webhook named for it; it is remembered for later calls.
func (c *Clients) For(ctx context.Context, repo Repo, installation int64) (*github.Client, error) {
	if c.token != nil {
		return c.token, nil
	}
	if installation != 0 {
		if err := c.store.SetGitHubInstallation(ctx, repo.ID, repo.String(), installation); err != nil {
			return nil, err
		}
	} else {
		var err error
		if installation, err = c.installation(ctx, repo); err != nil {
			return nil, err
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if gh, ok := c.clients[installation]; ok {
		return gh, nil
	}
	gh := c.newClient(ghinstallation.NewFromAppsTransport(c.appsTr, installation))
	c.clients[installation] = gh
	return gh, nil
}

// installation finds the installation covering repo: recorded from a webhook, or asked of
// GitHub (GET /repos/{owner}/{repo}/installation, as the App) and recorded.
func (c *Clients) installation(ctx context.Context, repo Repo) (int64, error) {
	if id, err := c.store.GitHubInstallation(ctx, repo.ID); err == nil {
		return id, nil
	}
	inst, resp, err := c.app.Apps.FindRepositoryInstallation(ctx, repo.Owner, repo.Name)
	if err != nil {
		if resp != nil && resp.StatusCode == http.StatusNotFound {
			// Retrying will not install the App.
			return 0, permanentf("the GitHub App is not installed on %s: install it there to report deployments", repo)
		}
		return 0, fmt.Errorf("find the GitHub App installation of %s: %w", repo, err)
	}
	if inst.GetID() == 0 {
		return 0, fmt.Errorf("find the GitHub App installation of %s: GitHub answered without an id", repo)
	}
	if repo.ID != 0 {
		if err := c.store.SetGitHubInstallation(ctx, repo.ID, repo.String(), inst.GetID()); err != nil {
			c.log.Warn("record installation", "repository", repo.String(), "error", err)
		}
	}
	return inst.GetID(), nil
}

// Download fetches url (a tarball link GitHub redirected to) with the bounded transport and no
// credentials: GitHub's archive links carry their own short-lived token, and ours must not go to
// another host.
func (c *Clients) Download(ctx context.Context, rawURL string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("User-Agent", userAgent)
	resp, err := (&http.Client{Transport: c.retry}).Do(req)
	if err != nil {
		// net/http's error quotes the URL, whose query is the archive's token; the error ends up
		// in the delivery's record and the log.
		var ue *url.Error
		if errors.As(err, &ue) {
			ue.URL = sanitizeURL(ue.URL)
		}
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		_ = resp.Body.Close()
		return nil, fmt.Errorf("download %s: %s", sanitizeURL(rawURL), resp.Status)
	}
	return resp, nil
}

// sanitizeURL drops the query, which for archive links holds a token.
func sanitizeURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(bad url)"
	}
	u.RawQuery = ""
	return u.String()
}
