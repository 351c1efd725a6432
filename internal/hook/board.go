package hook

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"unicode/utf8"

	"github.com/slipway-deploy/slipway/internal/api"
)

// Status is where an execution stands.
type Status int

const (
	// Pending executions wait for the hook's verdict.
	Pending Status = iota + 1
	// Succeeded executions were reported Succeeded.
	Succeeded
	// Failed executions were reported Failed, or the hook could not be invoked.
	Failed
)

var statusNames = [...]string{"", "Pending", "Succeeded", "Failed"}

func (s Status) String() string {
	if s <= 0 || int(s) >= len(statusNames) {
		return fmt.Sprintf("unknown(%d)", int(s))
	}
	return statusNames[s]
}

var (
	// ErrUnknownExecution marks an execution id the board does not hold (never opened, or
	// closed since).
	ErrUnknownExecution = errors.New("no such hook execution")
	// ErrBadToken marks a report whose token is not the execution's.
	ErrBadToken = errors.New("hook status token does not match the execution")
	// ErrAlreadyReported marks a second report with another verdict; the first one stands.
	ErrAlreadyReported = errors.New("hook execution already reported")
	// ErrInvalidStatus marks a report that is neither Succeeded nor Failed.
	ErrInvalidStatus = errors.New("invalid hook status")
)

// Execution is one invocation of one hook, as the board keeps it.
type Execution struct {
	ID         string
	Deployment string
	Event      string
	Status     Status
	// Message is the hook's reason, or why it could not be invoked.
	Message string
}

type record struct {
	Execution
	tokenHash [sha256.Size]byte
	done      chan struct{}
}

// Board holds the executions that a deployment waits on. It is safe for concurrent use: the
// server's status endpoint reports while a deployment waits.
type Board struct {
	mu    sync.Mutex
	execs map[string]*record
}

// NewBoard returns an empty board.
func NewBoard() *Board {
	return &Board{execs: map[string]*record{}}
}

// Open starts an execution for deployment's event and returns its id and its token. The token
// is not kept: it goes to the hook in the payload and nowhere else.
func (b *Board) Open(deployment, event string) (id, token string, err error) {
	var idBytes [16]byte
	var tokBytes [32]byte
	if _, err := rand.Read(idBytes[:]); err != nil {
		return "", "", fmt.Errorf("hook execution id: %w", err)
	}
	if _, err := rand.Read(tokBytes[:]); err != nil {
		return "", "", fmt.Errorf("hook token: %w", err)
	}
	id = hex.EncodeToString(idBytes[:])
	token = base64.RawURLEncoding.EncodeToString(tokBytes[:])
	b.mu.Lock()
	defer b.mu.Unlock()
	b.execs[id] = &record{
		Execution: Execution{ID: id, Deployment: deployment, Event: event, Status: Pending},
		tokenHash: sha256.Sum256([]byte(token)),
		done:      make(chan struct{}),
	}
	return id, token, nil
}

// Report records a hook's verdict. The same verdict reported again is accepted (a hook may
// retry a request whose answer it lost); another verdict is ErrAlreadyReported.
func (b *Board) Report(id, token string, st api.HookStatus) error {
	var status Status
	switch st.Status {
	case api.HookSucceeded:
		status = Succeeded
	case api.HookFailed:
		status = Failed
	default:
		return fmt.Errorf("%w %q; report %q or %q", ErrInvalidStatus, st.Status, api.HookSucceeded, api.HookFailed)
	}
	if len(st.Message) > api.MaxHookMessage || !utf8.ValidString(st.Message) {
		return fmt.Errorf("%w: message must be UTF-8 text of at most %d bytes", ErrInvalidStatus, api.MaxHookMessage)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	r, ok := b.execs[id]
	if !ok {
		return fmt.Errorf("%w %q", ErrUnknownExecution, id)
	}
	got := sha256.Sum256([]byte(token))
	if subtle.ConstantTimeCompare(got[:], r.tokenHash[:]) != 1 {
		return ErrBadToken
	}
	return r.settle(status, st.Message)
}

// fail records that the hook could not be invoked.
func (b *Board) fail(id, message string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if r, ok := b.execs[id]; ok {
		_ = r.settle(Failed, message)
	}
}

// settle records the verdict once; the caller holds the board's lock.
func (r *record) settle(status Status, message string) error {
	if r.Status != Pending {
		if r.Status == status {
			return nil
		}
		return fmt.Errorf("%w: %s was reported %s", ErrAlreadyReported, r.ID, r.Status)
	}
	r.Status, r.Message = status, message
	close(r.done)
	return nil
}

// Done is closed once the execution has its verdict. An unknown id gets a closed channel, so a
// waiter never hangs on a closed execution.
func (b *Board) Done(id string) <-chan struct{} {
	b.mu.Lock()
	defer b.mu.Unlock()
	if r, ok := b.execs[id]; ok {
		return r.done
	}
	closed := make(chan struct{})
	close(closed)
	return closed
}

// Get returns the execution as it stands.
func (b *Board) Get(id string) (Execution, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	r, ok := b.execs[id]
	if !ok {
		return Execution{}, false
	}
	return r.Execution, true
}

// Close forgets an execution: a late report gets ErrUnknownExecution.
func (b *Board) Close(id string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.execs, id)
}
