package api

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Paths of the two APIs, shared by the server's routers and the client.
const (
	PathAPI   = "/api/v1"
	PathAgent = "/agent/v1"
)

// maxErrorBody bounds how much of an error answer is read.
const maxErrorBody = 64 << 10

// Client calls a Slipway server. Token is the admin or API token for /api/v1, or the instance's
// credential for /agent/v1.
type Client struct {
	BaseURL   string
	Token     string
	HTTP      *http.Client
	UserAgent string
	// DownloadStall is how long Download waits for an answer or its next byte before it gives up
	// with ErrStalled; DefaultDownloadStall when 0.
	DownloadStall time.Duration
}

// DefaultDownloadStall bounds the silence of a download: a bundle has no overall time limit
// (it may be large and the link slow), but a connection that stops sending would otherwise hold
// the lifecycle event until the host's lease ran out on the server.
const DefaultDownloadStall = time.Minute

// ErrStalled marks a download abandoned because nothing arrived for DownloadStall; trying again
// may succeed.
var ErrStalled = errors.New("download stalled")

// NewClient returns a client with a timeout suited to API calls; long polls pass their own.
func NewClient(baseURL, token string) *Client {
	return &Client{
		BaseURL: strings.TrimRight(baseURL, "/"),
		Token:   token,
		HTTP:    &http.Client{Timeout: 2 * time.Minute},
	}
}

func (c *Client) do(ctx context.Context, method, path string, in, out any) (int, error) {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return 0, err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.BaseURL+path, body)
	if err != nil {
		return 0, err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	return c.send(req, c.Token, out)
}

func (c *Client) send(req *http.Request, token string, out any) (int, error) {
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if c.UserAgent != "" {
		req.Header.Set("User-Agent", c.UserAgent)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return 0, caHint(err)
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode >= 300 {
		return resp.StatusCode, readError(resp)
	}
	if out == nil || resp.StatusCode == http.StatusNoContent {
		_, _ = io.Copy(io.Discard, resp.Body)
		return resp.StatusCode, nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return resp.StatusCode, fmt.Errorf("decode %s %s answer: %w", req.Method, req.URL.Path, err)
	}
	return resp.StatusCode, nil
}

func readError(resp *http.Response) error {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	e := &Error{Status: resp.StatusCode}
	if json.Unmarshal(b, e) != nil || e.Message == "" {
		e.Message = strings.TrimSpace(string(b))
		if e.Message == "" {
			e.Message = resp.Status
		}
	}
	return e
}

// StatusOf returns the HTTP status of an error from the client, or 0 if it is not an answer.
func StatusOf(err error) int {
	var e *Error
	if errors.As(err, &e) {
		return e.Status
	}
	return 0
}

func esc(s string) string { return url.PathEscape(s) }

// Applications

// CreateApplication creates an application and returns it as the server stored it.
func (c *Client) CreateApplication(ctx context.Context, a Application) (Application, error) {
	var out Application
	_, err := c.do(ctx, http.MethodPost, PathAPI+"/applications", a, &out)
	return out, err
}

// GetApplication returns the application called name.
func (c *Client) GetApplication(ctx context.Context, name string) (Application, error) {
	var out Application
	_, err := c.do(ctx, http.MethodGet, PathAPI+"/applications/"+esc(name), nil, &out)
	return out, err
}

// ListApplications returns every application, by name.
func (c *Client) ListApplications(ctx context.Context) ([]Application, error) {
	var out []Application
	_, err := c.do(ctx, http.MethodGet, PathAPI+"/applications", nil, &out)
	return out, err
}

// Deployment groups

// CreateGroup creates a deployment group in g.Application and returns it as stored.
func (c *Client) CreateGroup(ctx context.Context, g DeploymentGroup) (DeploymentGroup, error) {
	var out DeploymentGroup
	_, err := c.do(ctx, http.MethodPost, PathAPI+"/applications/"+esc(g.Application)+"/groups", g, &out)
	return out, err
}

// UpdateGroup replaces the settings of the existing group g.Application/g.Name with g's and
// returns the group as stored.
func (c *Client) UpdateGroup(ctx context.Context, g DeploymentGroup) (DeploymentGroup, error) {
	var out DeploymentGroup
	_, err := c.do(ctx, http.MethodPut, PathAPI+"/applications/"+esc(g.Application)+"/groups/"+esc(g.Name), g, &out)
	return out, err
}

// GetGroup returns the deployment group name of application app.
func (c *Client) GetGroup(ctx context.Context, app, name string) (DeploymentGroup, error) {
	var out DeploymentGroup
	_, err := c.do(ctx, http.MethodGet, PathAPI+"/applications/"+esc(app)+"/groups/"+esc(name), nil, &out)
	return out, err
}

// ListGroups returns the deployment groups of application app, by name.
func (c *Client) ListGroups(ctx context.Context, app string) ([]DeploymentGroup, error) {
	var out []DeploymentGroup
	_, err := c.do(ctx, http.MethodGet, PathAPI+"/applications/"+esc(app)+"/groups", nil, &out)
	return out, err
}

// Deployment configs

// CreateConfig stores a custom deployment config; a preset's name, or one with the presets'
// prefix, is refused.
func (c *Client) CreateConfig(ctx context.Context, cfg DeploymentConfig) (DeploymentConfig, error) {
	var out DeploymentConfig
	_, err := c.do(ctx, http.MethodPost, PathAPI+"/deployment-configs", cfg, &out)
	return out, err
}

// ListConfigs returns the preset deployment configs, then the custom ones by name.
func (c *Client) ListConfigs(ctx context.Context) ([]DeploymentConfig, error) {
	var out []DeploymentConfig
	_, err := c.do(ctx, http.MethodGet, PathAPI+"/deployment-configs", nil, &out)
	return out, err
}

// Revisions

// UploadRevision sends a bundle (zip, tar or tgz bytes) built from commit ("" when unknown) of
// a Git repository; UploadRevisionFrom says more about where it comes from. The server stores
// it by its sha256 and refuses it if digest is given and differs.
func (c *Client) UploadRevision(ctx context.Context, app string, bundle io.Reader, size int64, digest, commit string) (Revision, error) {
	return c.UploadRevisionFrom(ctx, app, bundle, size, digest, RevisionOrigin{Commit: commit})
}

// UploadRevisionFrom sends a bundle built from origin, whose fields may be left empty when
// unknown.
func (c *Client) UploadRevisionFrom(ctx context.Context, app string, bundle io.Reader, size int64, digest string, origin RevisionOrigin) (Revision, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.BaseURL+PathAPI+"/applications/"+esc(app)+"/revisions", bundle)
	if err != nil {
		return Revision{}, err
	}
	req.ContentLength = size
	req.Header.Set("Content-Type", "application/octet-stream")
	if digest != "" {
		req.Header.Set("X-Slipway-Digest", "sha256="+digest)
	}
	if origin.Commit != "" {
		req.Header.Set("X-Slipway-Commit", origin.Commit)
	}
	if origin.Directory != "" {
		req.Header.Set("X-Slipway-Directory", origin.Directory)
	}
	// A bundle can take longer than an API call: the context bounds the upload, not the
	// client's overall timeout.
	uc := *c
	hc := *c.HTTP
	hc.Timeout = 0
	uc.HTTP = &hc
	var out Revision
	_, err = uc.send(req, c.Token, &out)
	return out, err
}

// UploadRevisionDirect uploads a bundle straight to the server's S3 bundle bucket, for a group
// whose Upload is UploadDirect, and registers it: it asks the server for an upload slot, PUTs
// the bundle to the slot's presigned URL (without the client's token, which is for the server
// alone), then asks the server to check and register what arrived.
func (c *Client) UploadRevisionDirect(ctx context.Context, app, group string, bundle io.Reader, size int64, digest string, origin RevisionOrigin) (Revision, error) {
	var slot Upload
	base := PathAPI + "/applications/" + esc(app) + "/groups/" + esc(group) + "/uploads"
	_, err := c.do(ctx, http.MethodPost, base, CreateUpload{Digest: digest, Size: size, Commit: origin.Commit, Directory: origin.Directory}, &slot)
	if err != nil {
		return Revision{}, err
	}
	if err := c.putObject(ctx, slot, bundle, size); err != nil {
		return Revision{}, err
	}
	var out Revision
	_, err = c.do(ctx, http.MethodPost, base+"/"+esc(slot.ID)+"/complete", struct{}{}, &out)
	return out, err
}

// putObject sends size bytes of body to an upload slot's presigned URL.
func (c *Client) putObject(ctx context.Context, slot Upload, body io.Reader, size int64) error {
	u, err := url.Parse(slot.URL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return fmt.Errorf("upload slot %s: the server answered an unusable URL", slot.ID)
	}
	if slot.Method != "" && slot.Method != http.MethodPut {
		return fmt.Errorf("upload slot %s: method %q, want PUT", slot.ID, slot.Method)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, slot.URL, body)
	if err != nil {
		return redactURL(err)
	}
	req.ContentLength = size
	for k, v := range slot.Headers {
		req.Header.Set(k, v)
	}
	// A bundle can take longer than an API call: the context bounds it. The token stays home:
	// no Authorization header here, and none added along a redirect.
	hc := *c.HTTP
	hc.Timeout = 0
	hc.CheckRedirect = c.keepCredentialHome
	resp, err := hc.Do(req)
	if err != nil {
		return redactURL(err)
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return storeError(resp)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxErrorBody))
	return nil
}

// RegisterRevision registers a revision that lives outside the server, such as an S3 object.
func (c *Client) RegisterRevision(ctx context.Context, app string, in RegisterRevision) (Revision, error) {
	var out Revision
	_, err := c.do(ctx, http.MethodPost, PathAPI+"/applications/"+esc(app)+"/revisions", in, &out)
	return out, err
}

// Deployments

// CreateDeployment starts a deployment and returns it as created.
func (c *Client) CreateDeployment(ctx context.Context, in CreateDeployment) (Deployment, error) {
	var out Deployment
	_, err := c.do(ctx, http.MethodPost, PathAPI+"/deployments", in, &out)
	return out, err
}

// GetDeployment returns the deployment id with its hosts' progress.
func (c *Client) GetDeployment(ctx context.Context, id string) (Deployment, error) {
	var out Deployment
	_, err := c.do(ctx, http.MethodGet, PathAPI+"/deployments/"+esc(id), nil, &out)
	return out, err
}

// DeploymentFilter narrows ListDeployments; zero fields match everything.
type DeploymentFilter struct {
	Application, Group string
	Statuses           []string
	Limit              int
}

// ListDeployments returns the deployments f matches, newest first.
func (c *Client) ListDeployments(ctx context.Context, f DeploymentFilter) ([]Deployment, error) {
	q := url.Values{}
	if f.Application != "" {
		q.Set("application", f.Application)
	}
	if f.Group != "" {
		q.Set("group", f.Group)
	}
	for _, s := range f.Statuses {
		q.Add("status", s)
	}
	if f.Limit > 0 {
		q.Set("limit", strconv.Itoa(f.Limit))
	}
	path := PathAPI + "/deployments"
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	var out []Deployment
	_, err := c.do(ctx, http.MethodGet, path, nil, &out)
	return out, err
}

// StopDeployment stops deployment id, rolling it back when rollback is set, and returns the
// deployment after.
func (c *Client) StopDeployment(ctx context.Context, id string, rollback bool) (Deployment, error) {
	var out Deployment
	_, err := c.do(ctx, http.MethodPost, PathAPI+"/deployments/"+esc(id)+"/stop", StopDeployment{Rollback: rollback}, &out)
	return out, err
}

// Actions on a running deployment: Promote, Pause, Continue and Abort.
const (
	// ActionPromote ends the wait of a blue/green deployment's traffic step, or lifts a pause.
	ActionPromote = "promote"
	// ActionPause holds a blue/green deployment's traffic at its current weight.
	ActionPause = "pause"
	// ActionContinue moves a Ready deployment on to traffic, or a Baking one on to releasing
	// its original instances.
	ActionContinue = "continue"
	// ActionAbort stops a deployment; a blue/green one sends all traffic back to its originals.
	ActionAbort = "abort"
)

// ActOnDeployment sends one of the Action* constants to a deployment and returns it after.
func (c *Client) ActOnDeployment(ctx context.Context, id, action string) (Deployment, error) {
	var out Deployment
	_, err := c.do(ctx, http.MethodPost, PathAPI+"/deployments/"+esc(id)+"/"+esc(action), struct{}{}, &out)
	return out, err
}

// Rollback starts a deployment of the group's last good revision.
func (c *Client) Rollback(ctx context.Context, app, group string) (Deployment, error) {
	var out Deployment
	_, err := c.do(ctx, http.MethodPost, PathAPI+"/applications/"+esc(app)+"/groups/"+esc(group)+"/rollback", struct{}{}, &out)
	return out, err
}

// Instances

// ListInstances returns the registered instances; deregistered ones are left out.
func (c *Client) ListInstances(ctx context.Context) ([]Instance, error) {
	var out []Instance
	_, err := c.do(ctx, http.MethodGet, PathAPI+"/instances", nil, &out)
	return out, err
}

// DeregisterInstance marks the instance called name deregistered: it is left out of deployments
// from then on and its agent's credential stops working.
func (c *Client) DeregisterInstance(ctx context.Context, name string) error {
	_, err := c.do(ctx, http.MethodDelete, PathAPI+"/instances/"+esc(name), nil, nil)
	return err
}

// SetInstanceTags replaces a registered instance's tags and returns the instance as it then is.
func (c *Client) SetInstanceTags(ctx context.Context, name string, tags map[string]string) (Instance, error) {
	var out Instance
	_, err := c.do(ctx, http.MethodPut, PathAPI+"/instances/"+esc(name)+"/tags", InstanceTags{Tags: tags}, &out)
	return out, err
}

// Agent protocol

// Register enrolls an agent with the enrollment token; the returned credential replaces it.
func (c *Client) Register(ctx context.Context, enrollToken string, in Register) (Registered, error) {
	b, err := json.Marshal(in)
	if err != nil {
		return Registered{}, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.BaseURL+PathAgent+"/register", bytes.NewReader(b))
	if err != nil {
		return Registered{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	var out Registered
	_, err = c.send(req, enrollToken, &out)
	return out, err
}

// Hello tells the server, as the agent starts, the host's current tags and the commands it was
// running when it last stopped.
func (c *Client) Hello(ctx context.Context, in Hello) error {
	_, err := c.do(ctx, http.MethodPost, PathAgent+"/hello", in, nil)
	return err
}

// NextCommand long-polls for the host's next command for up to wait; nil when there is none.
func (c *Client) NextCommand(ctx context.Context, wait time.Duration) (*Command, error) {
	path := PathAgent + "/commands/next?wait=" + url.QueryEscape(wait.String())
	var out Command
	status, err := c.do(ctx, http.MethodGet, path, nil, &out)
	if err != nil || status == http.StatusNoContent {
		return nil, err
	}
	return &out, nil
}

// Heartbeat renews the lease of a command the agent is still running. An error with status 410
// (Gone) means the server no longer wants the command: the agent stops working on it.
func (c *Client) Heartbeat(ctx context.Context, commandID string) error {
	_, err := c.do(ctx, http.MethodPost, PathAgent+"/commands/"+esc(commandID)+"/heartbeat", struct{}{}, nil)
	return err
}

// Complete reports a command's result. Reporting the same command twice is harmless: the server
// keeps the first result it received.
func (c *Client) Complete(ctx context.Context, commandID string, r Result) error {
	_, err := c.do(ctx, http.MethodPost, PathAgent+"/commands/"+esc(commandID)+"/result", r, nil)
	return err
}

// CommandBundle asks again where the bundle of a command is: a presigned URL that expired
// before the download started (or broke off) is replaced by a fresh one.
func (c *Client) CommandBundle(ctx context.Context, commandID string) (Bundle, error) {
	var out Bundle
	_, err := c.do(ctx, http.MethodGet, PathAgent+"/commands/"+esc(commandID)+"/bundle", nil, &out)
	return out, err
}

// Download streams a bundle from rawURL to w: a path on the server ("/agent/v1/..."), which is
// fetched with the client's credential, or an absolute URL (presigned, usually on another host),
// which is fetched without it. The credential never leaves for another origin, redirects
// included.
func (c *Client) Download(ctx context.Context, rawURL string, w io.Writer) (int64, error) {
	target, token := rawURL, ""
	if strings.HasPrefix(rawURL, "/") && !strings.HasPrefix(rawURL, "//") {
		target, token = c.BaseURL+rawURL, c.Token
	}
	// Bundles can be large: no overall timeout, but a silence longer than the stall limit (before
	// the answer or between two reads) ends the download.
	stall := cmp.Or(c.DownloadStall, DefaultDownloadStall)
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	timer := time.AfterFunc(stall, func() { cancel(fmt.Errorf("%w: nothing received for %s", ErrStalled, stall)) })
	defer timer.Stop()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return 0, err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	hc := *c.HTTP
	hc.Timeout = 0
	hc.CheckRedirect = c.keepCredentialHome
	resp, err := hc.Do(req)
	if err != nil {
		return 0, stalledOr(ctx, redactURL(err))
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		if token == "" {
			return 0, storeError(resp)
		}
		return 0, readError(resp)
	}
	n, err := io.Copy(w, &lively{r: resp.Body, timer: timer, stall: stall})
	return n, stalledOr(ctx, redactURL(err))
}

// lively pushes a stall timer back each time a read brings bytes.
type lively struct {
	r     io.Reader
	timer *time.Timer
	stall time.Duration
}

func (l *lively) Read(p []byte) (int, error) {
	n, err := l.r.Read(p)
	if n > 0 {
		l.timer.Reset(l.stall)
	}
	return n, err
}

// stalledOr is err, or the stall that cancelled ctx and caused it.
func stalledOr(ctx context.Context, err error) error {
	if cause := context.Cause(ctx); err != nil && errors.Is(cause, ErrStalled) {
		return cause
	}
	return err
}

// redactURL drops the query from the URL an error quotes: a presigned URL's query is what lets
// anyone download the object, and errors end up in logs and deployment diagnostics.
func redactURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		if u, perr := url.Parse(ue.URL); perr == nil && u.RawQuery != "" {
			u.RawQuery = "REDACTED"
			ue.URL = u.String()
		}
	}
	return err
}

// storeError reads an object store's error answer: S3 sends XML with a Code and a Message.
func storeError(resp *http.Response) error {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	msg := "the object store answered " + resp.Status
	var x struct{ Code, Message string }
	if xml.Unmarshal(b, &x) == nil && x.Code != "" {
		msg += ": " + x.Code
		if x.Message != "" {
			msg += ": " + x.Message
		}
	}
	return &Error{Status: resp.StatusCode, Message: msg}
}

// maxRedirects is as many as net/http follows by default.
const maxRedirects = 10

// keepCredentialHome drops the credential from a redirect that leaves the server's origin.
// net/http alone keeps it for any port of the same host name, or a subdomain.
func (c *Client) keepCredentialHome(req *http.Request, via []*http.Request) error {
	if len(via) >= maxRedirects {
		return fmt.Errorf("stopped after %d redirects", maxRedirects)
	}
	base, err := url.Parse(c.BaseURL)
	if err != nil || req.URL.Scheme != base.Scheme || req.URL.Host != base.Host {
		req.Header.Del("Authorization")
	}
	return nil
}
