package githubapp

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Limits of the GitHub client. Every call is bounded; a rate-limited call waits and is retried a
// few times when GitHub says how long to wait and that is not long, and otherwise fails so the
// caller can retry later from its own queue (deliveries and reports are durable).
const (
	// callTimeout bounds one API call, retries and their waits included.
	callTimeout = 2 * time.Minute
	// maxRetryWait is the longest single wait for a rate limit to lift inside a call.
	maxRetryWait = 60 * time.Second
	// retryAttempts is how many times one call is sent at most.
	retryAttempts = 3
	// secondaryLimitWait is what GitHub asks for when a secondary rate limit answer carries
	// neither Retry-After nor X-RateLimit-Reset: "wait at least one minute".
	secondaryLimitWait = time.Minute
	// maxPeek bounds how much of a 403 body is read to recognise a secondary rate limit.
	maxPeek = 64 << 10
)

// newBaseTransport is the HTTP transport under every GitHub call: bounded dials, TLS handshakes
// and waits for response headers, so a hung GitHub cannot hold a worker forever.
func newBaseTransport() *http.Transport {
	return &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: 30 * time.Second,
		ExpectContinueTimeout: time.Second,
		IdleConnTimeout:       90 * time.Second,
		MaxIdleConnsPerHost:   4,
		ForceAttemptHTTP2:     true,
	}
}

// retryTransport honours GitHub's rate limits: on 429, or 403 with Retry-After, an exhausted
// X-RateLimit-Remaining or a secondary rate limit message, it waits as told (when that is at
// most maxWait) and sends the request again, up to attempts times. A GET that meets a 502, 503
// or 504 is retried after a short pause too; a write is not, since it may have been applied.
type retryTransport struct {
	next     http.RoundTripper
	attempts int
	maxWait  time.Duration
	now      func() time.Time
	// sleep waits d or until ctx ends; tests replace it to see the waits without taking them.
	sleep func(ctx context.Context, d time.Duration) error
	log   *slog.Logger
}

func newRetryTransport(next http.RoundTripper, log *slog.Logger) *retryTransport {
	return &retryTransport{next: next, attempts: retryAttempts, maxWait: maxRetryWait, now: time.Now, sleep: sleepCtx, log: log}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func (t *retryTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	for attempt := 1; ; attempt++ {
		r := req
		if attempt > 1 {
			r = req.Clone(req.Context())
			if req.GetBody != nil {
				body, err := req.GetBody()
				if err != nil {
					return nil, err
				}
				r.Body = body
			}
		}
		resp, err := t.next.RoundTrip(r)
		if err != nil {
			return nil, err
		}
		wait, why := t.retryAfter(resp)
		replayable := req.Body == nil || req.Body == http.NoBody || req.GetBody != nil
		if why == "" || attempt >= t.attempts || wait > t.maxWait || !replayable {
			return resp, nil
		}
		if dl, ok := req.Context().Deadline(); ok && t.now().Add(wait).After(dl) {
			return resp, nil
		}
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxPeek))
		_ = resp.Body.Close()
		t.log.Warn("github rate limited; waiting", "reason", why, "wait", wait.String(), "method", req.Method, "path", req.URL.Path, "attempt", attempt)
		if err := t.sleep(req.Context(), wait); err != nil {
			return nil, err
		}
	}
}

// retryAfter says how long to wait before sending again, and why; why is "" when the answer is
// final. A 403 body is peeked at (and put back) to recognise a secondary rate limit.
func (t *retryTransport) retryAfter(resp *http.Response) (time.Duration, string) {
	switch resp.StatusCode {
	case http.StatusTooManyRequests, http.StatusForbidden:
	case http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		if resp.Request != nil && (resp.Request.Method == http.MethodGet || resp.Request.Method == http.MethodHead) {
			return 2 * time.Second, "server error " + strconv.Itoa(resp.StatusCode)
		}
		return 0, ""
	default:
		return 0, ""
	}
	h := resp.Header
	if ra := strings.TrimSpace(h.Get("Retry-After")); ra != "" {
		if secs, err := strconv.Atoi(ra); err == nil && secs >= 0 {
			return time.Duration(secs) * time.Second, "retry-after"
		}
		if at, err := http.ParseTime(ra); err == nil {
			return max(at.Sub(t.now()), 0), "retry-after"
		}
	}
	if h.Get("X-RateLimit-Remaining") == "0" {
		if reset, err := strconv.ParseInt(h.Get("X-RateLimit-Reset"), 10, 64); err == nil {
			// A second more: the reset time is rounded down to whole seconds.
			return max(time.Unix(reset, 0).Sub(t.now()), 0) + time.Second, "primary rate limit"
		}
	}
	if resp.StatusCode == http.StatusTooManyRequests {
		return secondaryLimitWait, "too many requests"
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxPeek))
	_ = resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(body))
	if err == nil && bytes.Contains(bytes.ToLower(body), []byte("secondary rate limit")) {
		return secondaryLimitWait, "secondary rate limit"
	}
	return 0, ""
}
