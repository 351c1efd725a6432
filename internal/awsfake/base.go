package awsfake

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"sync"
	"testing"
	"time"
)

// Fault is an error a stand-in answers instead of carrying out a call.
type Fault struct {
	// Status is the HTTP status; 0 means 400.
	Status  int
	Code    string
	Message string
	// Times is how many calls in a row fail; 0 means one, -1 every call from then on.
	Times int
}

// Call is one request a stand-in answered.
type Call struct {
	At     time.Time
	Action string
	// Region, Service and AccessKey are read from the request's SigV4 credential scope.
	Region    string
	Service   string
	AccessKey string
	// Error is the code of the error answered, or "".
	Error string
}

type pendingFault struct {
	after int // calls of the action still to let through
	Fault
}

// stub is what every stand-in shares: its server, call log, faults and clock.
type stub struct {
	*httptest.Server
	service string // the SigV4 signing name requests must be scoped to
	now     func() time.Time

	mu     sync.Mutex // guards the stand-in's state as well as these fields
	calls  []Call
	faults map[string][]*pendingFault
}

func newStub(t testing.TB, service string, now func() time.Time, h http.Handler) *stub {
	if now == nil {
		now = time.Now
	}
	s := &stub{service: service, now: now, faults: map[string][]*pendingFault{}}
	s.Server = httptest.NewServer(http.MaxBytesHandler(h, 1<<20))
	t.Cleanup(s.Close)
	return s
}

// Fail makes a call of action fail with f, after `after` more calls of it have gone through.
// Faults of one action queue in the order they were added.
func (s *stub) Fail(action string, after int, f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if f.Status == 0 {
		f.Status = http.StatusBadRequest
	}
	s.faults[action] = append(s.faults[action], &pendingFault{after: after, Fault: f})
}

// Calls returns the calls answered so far, in order.
func (s *stub) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Call(nil), s.calls...)
}

// CallsOf returns the calls of action answered so far.
func (s *stub) CallsOf(action string) []Call {
	var out []Call
	for _, c := range s.Calls() {
		if c.Action == action {
			out = append(out, c)
		}
	}
	return out
}

var credentialRE = regexp.MustCompile(`^AWS4-HMAC-SHA256 Credential=([^/]+)/(\d{8})/([^/]+)/([^/]+)/aws4_request, ?SignedHeaders=[^,]+, ?Signature=[0-9a-f]{64}$`)

// admit checks a request's signature scope and the action's faults; it logs the call and,
// when the request must be refused, returns the fault to answer. The caller holds s.mu.
func (s *stub) admit(r *http.Request, action string) *Fault {
	c := Call{At: s.now(), Action: action}
	m := credentialRE.FindStringSubmatch(r.Header.Get("Authorization"))
	var refuse *Fault
	switch {
	case m == nil:
		refuse = &Fault{Status: http.StatusForbidden, Code: "MissingAuthenticationTokenException", Message: "Missing Authentication Token"}
	case m[4] != s.service:
		c.AccessKey, c.Region, c.Service = m[1], m[3], m[4]
		refuse = &Fault{Status: http.StatusForbidden, Code: "InvalidSignatureException",
			Message: fmt.Sprintf("Credential should be scoped to correct service: '%s'.", s.service)}
	default:
		c.AccessKey, c.Region, c.Service = m[1], m[3], m[4]
		refuse = s.takeFault(action)
	}
	if refuse != nil {
		c.Error = refuse.Code
	}
	s.calls = append(s.calls, c)
	return refuse
}

// op carries out one action on a stand-in's state; it runs with the state locked.
type op func(r *http.Request) (any, *Fault)

// handle admits the call and carries out action with ops, answering the fault to send back
// when the call is refused or fails.
func (s *stub) handle(r *http.Request, action string, ops map[string]op) (any, *Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if f := s.admit(r, action); f != nil {
		return nil, f
	}
	o, ok := ops[action]
	if !ok {
		return nil, badRequest("InvalidAction", "the stand-in does not serve %s", action)
	}
	return o(r)
}

func (s *stub) takeFault(action string) *Fault {
	q := s.faults[action]
	if len(q) == 0 {
		return nil
	}
	f := q[0]
	if f.after > 0 {
		f.after--
		return nil
	}
	switch {
	case f.Times < 0:
	case f.Times <= 1:
		s.faults[action] = q[1:]
	default:
		f.Times--
	}
	out := f.Fault
	return &out
}

// Fault answers an action that is unknown or malformed: a stand-in refuses what it does not
// understand rather than guessing.
func badRequest(code, format string, args ...any) *Fault {
	return &Fault{Status: http.StatusBadRequest, Code: code, Message: fmt.Sprintf(format, args...)}
}

func notFound(code, format string, args ...any) *Fault {
	return &Fault{Status: http.StatusNotFound, Code: code, Message: fmt.Sprintf(format, args...)}
}

func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// uuid formats a random id as AWS's request and revision ids look.
func uuid() string {
	h := newID()
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

const (
	region  = "us-east-1"
	account = "123456789012"
)
