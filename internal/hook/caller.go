package hook

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"

	"github.com/slipway-deploy/slipway/internal/api"
	"github.com/slipway-deploy/slipway/internal/awsconfig"
)

// ErrInvalidTarget marks a hook target that is neither a Lambda function nor an http(s) URL.
var ErrInvalidTarget = errors.New("invalid hook target")

// LambdaAPI is what a Caller needs of the Lambda service; *lambda.Client has it.
type LambdaAPI interface {
	Invoke(ctx context.Context, in *lambda.InvokeInput, opts ...func(*lambda.Options)) (*lambda.InvokeOutput, error)
}

// Limits of an HTTP hook's exchange.
const (
	// HTTPTimeout bounds an HTTP hook's answer to the POST (not its verdict, which may come
	// later through the status endpoint).
	HTTPTimeout = 30 * time.Second
	// maxAnswer bounds the body of an HTTP hook's answer that is read.
	maxAnswer = 64 << 10
)

// Target is what a hook entry of an AppSpec names.
type Target struct {
	// Function is a Lambda function name, partial or full ARN, optionally qualified.
	Function string
	// URL is an http(s) endpoint.
	URL *url.URL
}

func (t Target) String() string {
	if t.URL != nil {
		return t.URL.Redacted()
	}
	return t.Function
}

// functionRE is the Lambda API's pattern for a FunctionName of Invoke, simplified: a name, a
// partial ARN (account:function:name) or a full ARN, with an optional version or alias.
var functionRE = regexp.MustCompile(`^(arn:aws[a-zA-Z-]*:lambda:[a-z]{2}(-[a-z]+)+-\d:)?(\d{12}:)?(function:)?[a-zA-Z0-9_-]{1,64}(:(\$LATEST|[a-zA-Z0-9_-]+))?$`)

// ParseTarget reads an AppSpec hook value: an http:// or https:// URL, else a Lambda function.
func ParseTarget(s string) (Target, error) {
	if strings.HasPrefix(s, "http://") || strings.HasPrefix(s, "https://") {
		u, err := url.Parse(s)
		if err != nil || u.Host == "" {
			return Target{}, fmt.Errorf("%w: %q is not a URL", ErrInvalidTarget, s)
		}
		if u.User != nil {
			return Target{}, fmt.Errorf("%w: %s carries a user name or password; the hook authenticates Slipway's status report with the payload's token instead", ErrInvalidTarget, u.Redacted())
		}
		return Target{URL: u}, nil
	}
	if !functionRE.MatchString(s) {
		return Target{}, fmt.Errorf("%w: %q is neither a Lambda function name or ARN nor an http(s) URL", ErrInvalidTarget, s)
	}
	return Target{Function: s}, nil
}

// ParseURLPrefix reads an allowed HTTP hook URL prefix of the server's configuration: an http(s)
// URL whose scheme and host a hook URL must have exactly (and its port, when it names one: a
// prefix without a port allows every port of the host), and whose path, if any, the hook's path
// must start with, segment by segment.
func ParseURLPrefix(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	switch {
	case err != nil:
		return nil, fmt.Errorf("hook URL prefix %q: %w", s, err)
	case u.Scheme != "http" && u.Scheme != "https", u.Host == "":
		return nil, fmt.Errorf("hook URL prefix %q: give an http:// or https:// URL with a host, e.g. https://checks.example.com/slipway/", s)
	case u.User != nil || u.RawQuery != "" || u.Fragment != "":
		return nil, fmt.Errorf("hook URL prefix %q: give a scheme, host and path only", s)
	}
	return u, nil
}

// AllowedBy reports whether t may be called under prefixes (see ParseURLPrefix). A Lambda
// function is always allowed: the server's AWS role bounds what it may invoke.
func (t Target) AllowedBy(prefixes []*url.URL) bool {
	if t.URL == nil {
		return true
	}
	// A server may resolve dot segments (or their escapes): /checks/../admin is not under /checks.
	for seg := range strings.SplitSeq(t.URL.Path, "/") {
		if seg == "." || seg == ".." {
			return false
		}
	}
	for _, p := range prefixes {
		if !strings.EqualFold(t.URL.Scheme, p.Scheme) || !strings.EqualFold(t.URL.Hostname(), p.Hostname()) ||
			(p.Port() != "" && t.URL.Port() != p.Port()) {
			continue
		}
		dir := strings.TrimSuffix(p.EscapedPath(), "/")
		if path := t.URL.EscapedPath(); dir == "" || path == dir || strings.HasPrefix(path, dir+"/") {
			return true
		}
	}
	return false
}

// Caller opens executions on a board and invokes hooks.
type Caller struct {
	board     *Board
	statusURL string
	lambda    LambdaAPI
	http      *http.Client
}

// NewCaller returns a Caller whose hooks report to statusBase (the server's public URL, to
// which api.HookStatusPath is appended). fn invokes Lambda hooks; nil refuses them. hc posts to
// HTTP hooks; nil uses a client with HTTPTimeout that follows no redirect.
func NewCaller(board *Board, statusBase string, fn LambdaAPI, hc *http.Client) *Caller {
	if hc == nil {
		hc = &http.Client{
			Timeout: HTTPTimeout,
			// A redirect would send the payload, token included, somewhere the AppSpec does
			// not name.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	return &Caller{board: board, statusURL: strings.TrimSuffix(statusBase, "/"), lambda: fn, http: hc}
}

// Board returns the board the caller opens executions on.
func (c *Caller) Board() *Board { return c.board }

// Start opens an execution of a deployment's event attempt and invokes target with its
// payload. It returns the execution's id once the hook has been handed its payload; the verdict
// comes through the board (OnSettle, Get). A hook that cannot be invoked is recorded Failed with
// the reason, and Start returns the id all the same: the caller waits the same way in every
// case.
func (c *Caller) Start(ctx context.Context, deployment, event string, attempt int, target Target) (string, error) {
	e, token, err := c.board.Open(ctx, deployment, event, attempt)
	if err != nil {
		return "", err
	}
	p := api.HookPayload{
		DeploymentID:   deployment,
		ExecutionID:    e.ID,
		LifecycleEvent: event,
		StatusURL:      c.statusURL + api.HookStatusPath(e.ID),
		StatusToken:    token,
	}
	body, err := json.Marshal(p)
	if err != nil {
		c.board.fail(ctx, e.ID, fmt.Sprintf("hook payload: %v", err))
		return e.ID, nil
	}
	if target.URL != nil {
		c.post(ctx, e.ID, token, target.URL, body)
	} else {
		c.invoke(ctx, e.ID, target.Function, body)
	}
	// A restart before this mark invokes the hook again (with a new execution): better twice
	// than a deployment waiting an hour for a hook that was never called.
	if err := c.board.records.MarkHookInvoked(ctx, e.ID); err != nil {
		return "", fmt.Errorf("record hook invocation: %w", err)
	}
	return e.ID, nil
}

// invoke hands the payload to a Lambda function asynchronously: Lambda answers 202 once it has
// queued the event, and the function reports its verdict itself.
func (c *Caller) invoke(ctx context.Context, id, function string, payload []byte) {
	if c.lambda == nil {
		c.board.fail(ctx, id, fmt.Sprintf("hook %s is a Lambda function but the group has no AWS access configured", function))
		return
	}
	out, err := c.lambda.Invoke(ctx, &lambda.InvokeInput{
		FunctionName:   aws.String(function),
		InvocationType: types.InvocationTypeEvent,
		Payload:        payload,
	})
	if err != nil {
		c.board.fail(ctx, id, fmt.Sprintf("invoke hook %s: %v", function, awsconfig.Call("lambda:InvokeFunction", err)))
		return
	}
	if out.StatusCode != http.StatusAccepted {
		c.board.fail(ctx, id, fmt.Sprintf("invoke hook %s: Lambda answered status %d, not 202 Accepted", function, out.StatusCode))
	}
}

// post sends the payload to an HTTP hook. A 2xx answer whose JSON body carries a status is the
// verdict at once; any other 2xx leaves the verdict to a report; anything else fails the hook.
func (c *Caller) post(ctx context.Context, id, token string, u *url.URL, payload []byte) {
	where := u.Redacted()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(payload))
	if err != nil {
		c.board.fail(ctx, id, fmt.Sprintf("hook %s: %v", where, err))
		return
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		c.board.fail(ctx, id, fmt.Sprintf("hook %s: %v", where, err))
		return
	}
	defer func() { _ = resp.Body.Close() }()
	answer, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		c.board.fail(ctx, id, fmt.Sprintf("hook %s: read answer: %v", where, err))
		return
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		c.board.fail(ctx, id, fmt.Sprintf("hook %s answered %s", where, resp.Status))
		return
	}
	var st api.HookStatus
	if len(bytes.TrimSpace(answer)) == 0 || json.Unmarshal(answer, &st) != nil || st.Status == "" {
		return // the verdict comes later, through the status endpoint
	}
	if _, err := c.board.Report(ctx, id, token, st); err != nil {
		c.board.fail(ctx, id, fmt.Sprintf("hook %s answered: %v", where, err))
	}
}
