package alarm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// maxCheckBody is how much of an HTTP check's answer is searched for BodyContains and
// BodyNotContains; the rest is not read.
const maxCheckBody = 1 << 20

// httpSource runs one HTTP check per poll.
type httpSource struct {
	fetcher
	spec   HTTPCheck
	target *url.URL
}

func newHTTPSource(f fetcher, spec HTTPCheck) *httpSource {
	u, _ := url.Parse(spec.URL) // Validate has parsed it already
	return &httpSource{fetcher: f, spec: spec, target: u}
}

func (h *httpSource) state(ctx context.Context, _ time.Time) State {
	where := "GET " + redactURL(h.target)
	resp, err := h.get(ctx, h.target)
	if err != nil {
		return h.unanswered(ctx, where, err)
	}
	defer func() { _ = resp.Body.Close() }()
	if !h.statusOK(resp.StatusCode) {
		return firingState(h.name, "%s answered %s; want %s", where, resp.Status, h.wantStatus())
	}
	if h.spec.BodyContains == "" && h.spec.BodyNotContains == "" {
		return okState(h.name, "%s answered %s", where, resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxCheckBody))
	if err != nil {
		return h.unanswered(ctx, where+": reading the body", err)
	}
	if s := h.spec.BodyContains; s != "" && !bytes.Contains(body, []byte(s)) {
		return firingState(h.name, "%s answered %s without %q in the body", where, resp.Status, truncate(s, 64))
	}
	if s := h.spec.BodyNotContains; s != "" && bytes.Contains(body, []byte(s)) {
		return firingState(h.name, "%s answered %s with %q in the body", where, resp.Status, truncate(s, 64))
	}
	return okState(h.name, "%s answered %s", where, resp.Status)
}

// unanswered is the state of a check that got no full answer: firing, unless the caller cancelled
// the poll, which says nothing about the service.
func (h *httpSource) unanswered(ctx context.Context, what string, err error) State {
	if errors.Is(ctx.Err(), context.Canceled) {
		return failedState(h.name, fmt.Errorf("%s: %w", what, ctx.Err()))
	}
	return firingState(h.name, "%s: %v", what, h.readable(err))
}

func (h *httpSource) statusOK(code int) bool {
	if len(h.spec.Status) == 0 {
		return code/100 == 2
	}
	return slices.Contains(h.spec.Status, code)
}

func (h *httpSource) wantStatus() string {
	if len(h.spec.Status) == 0 {
		return "2xx"
	}
	codes := make([]string, len(h.spec.Status))
	for i, c := range h.spec.Status {
		codes[i] = strconv.Itoa(c)
	}
	return joinOr(codes)
}

// joinOr writes "a", "a or b", "a, b or c".
func joinOr(items []string) string {
	if len(items) < 2 {
		return strings.Join(items, "")
	}
	return strings.Join(items[:len(items)-1], ", ") + " or " + items[len(items)-1]
}
