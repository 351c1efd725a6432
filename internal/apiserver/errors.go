package apiserver

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/slipway-deploy/slipway/internal/api"
	"github.com/slipway-deploy/slipway/internal/auth"
	"github.com/slipway-deploy/slipway/internal/deploy"
	"github.com/slipway-deploy/slipway/internal/orchestrator"
)

// Errors the handlers raise themselves.
var (
	errUnauthorized     = errors.New("missing or invalid bearer token")
	errNotFound         = errors.New("not found")
	errConflict         = errors.New("already exists")
	errTooLarge         = errors.New("request body too large")
	errMethodNotAllowed = errors.New("method not allowed")
	errForbidden        = errors.New("forbidden")
	// errGone: what the request names existed but is no longer usable (an expired upload slot).
	errGone = errors.New("gone")
	// errLengthRequired: the body's size must be known in advance.
	errLengthRequired = errors.New("length required")
	// errTimeout: the request's body did not arrive in time.
	errTimeout = errors.New("request timeout")
)

// classified gives err the status of kind (one of the errors above) and keeps err's message,
// which says more than kind's.
type classified struct{ kind, err error }

func (c classified) Error() string   { return c.err.Error() }
func (c classified) Unwrap() []error { return []error{c.kind, c.err} }

func as(kind error, format string, args ...any) error {
	return classified{kind: kind, err: fmt.Errorf(format, args...)}
}

// badRequest is a user's mistake in a request: the message says what to change.
type badRequest struct {
	field string
	msg   string
}

func (e badRequest) Error() string { return e.msg }

func invalid(field, format string, args ...any) error {
	return badRequest{field: field, msg: sprintf(format, args...)}
}

// statusOf is the one place errors become HTTP statuses.
func statusOf(err error) int {
	var br badRequest
	var mbe *http.MaxBytesError
	var ae *api.Error
	switch {
	case errors.As(err, &ae) && ae.Status != 0:
		// Already decided by a method shared with the webhooks (see publicError).
		return ae.Status
	case errors.As(err, &br):
		return http.StatusBadRequest
	case errors.Is(err, errUnauthorized), errors.Is(err, auth.ErrTokenInvalid):
		return http.StatusUnauthorized
	case errors.Is(err, auth.ErrForbidden), errors.Is(err, errForbidden):
		return http.StatusForbidden
	case errors.Is(err, auth.ErrIssuerUnavailable):
		return http.StatusServiceUnavailable
	case errors.Is(err, errNotFound), errors.Is(err, orchestrator.ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, errConflict), errors.Is(err, deploy.ErrGroupBusy):
		return http.StatusConflict
	case errors.Is(err, deploy.ErrStale), errors.Is(err, deploy.ErrFinished), errors.Is(err, errGone):
		// A command that is no longer wanted: the agent stops working on it.
		return http.StatusGone
	case errors.Is(err, deploy.ErrInvalidConfig), errors.Is(err, deploy.ErrInvalidInput), errors.Is(err, deploy.ErrWrongStatus):
		return http.StatusUnprocessableEntity
	case errors.As(err, &mbe), errors.Is(err, errTooLarge):
		return http.StatusRequestEntityTooLarge
	case errors.Is(err, errMethodNotAllowed):
		return http.StatusMethodNotAllowed
	case errors.Is(err, errLengthRequired):
		return http.StatusLengthRequired
	case errors.Is(err, errTimeout):
		return http.StatusRequestTimeout
	}
	return http.StatusInternalServerError
}

// writeError answers with err. Server faults are logged and answered without detail, so internal
// paths or SQL never reach a client.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	status := statusOf(err)
	body := errorBody(err)
	if status == http.StatusUnauthorized {
		// RFC 9110: a 401 says which scheme would work.
		w.Header().Set("WWW-Authenticate", `Bearer realm="slipway"`)
	}
	if status == http.StatusInternalServerError {
		s.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "error", err)
		body.Message = "internal error; the server log has the details"
	}
	writeJSON(w, status, body)
}

// errorBody is err as the caller sees it. A user's mistake may arrive wrapped (a blob store's
// check); its own message says what to change, without the wrapping's context.
func errorBody(err error) api.Error {
	var br badRequest
	var ae *api.Error
	switch {
	case errors.As(err, &ae):
		return api.Error{Message: ae.Message, Field: ae.Field, RefusalReported: ae.RefusalReported}
	case errors.As(err, &br):
		return api.Error{Message: br.msg, Field: br.field}
	}
	return api.Error{Message: err.Error()}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	if err := json.NewEncoder(w).Encode(v); err != nil {
		slog.Debug("write response", "error", err)
	}
}

// decode reads a JSON body of at most limit bytes, refusing unknown fields so a misspelt field is
// an error rather than silently ignored. The whole body must arrive within Config.BodyTimeout.
func (s *Server) decode(w http.ResponseWriter, r *http.Request, limit int64, v any) error {
	lift := readDeadline(w, s.bodyTimeout())
	body := http.MaxBytesReader(w, r.Body, limit)
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil {
		// To the end, within the deadline: whatever is left, net/http reads after the handler,
		// and that read must not be without a bound either.
		_, err = io.Copy(io.Discard, body)
	}
	var mbe *http.MaxBytesError
	var ne net.Error
	switch {
	case err == nil:
		lift()
		return nil
	case errors.As(err, &mbe):
		return err
	case errors.As(err, &ne) && ne.Timeout():
		return as(errTimeout, "the request body did not arrive within %v", s.bodyTimeout())
	}
	// The deadline stays: the rest of a refused body is read, if at all, within it.
	return invalid("", "request body is not valid JSON for this call: %v", err)
}

// defaultBodyTimeout is Config.BodyTimeout's default: a JSON body is at most a megabyte.
const defaultBodyTimeout = 30 * time.Second

func (s *Server) bodyTimeout() time.Duration {
	if s.cfg.BodyTimeout > 0 {
		return s.cfg.BodyTimeout
	}
	return defaultBodyTimeout
}

// readDeadline bounds the reading of a request's body to d from now, and returns the function
// that lifts the bound once the whole body is read: left in place, it would cancel a handler
// that works longer than d after reading (net/http watches the connection once the body is
// read, and cancels the request when that read fails).
func readDeadline(w http.ResponseWriter, d time.Duration) (lift func()) {
	rc := http.NewResponseController(w)
	if rc.SetReadDeadline(time.Now().Add(d)) != nil {
		return func() {} // a writer that cannot (a test recorder): nothing to lift
	}
	return func() { _ = rc.SetReadDeadline(time.Time{}) }
}
