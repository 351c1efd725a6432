package hook

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
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
	// Attempt is the number of the deployment's event this execution serves.
	Attempt int
	Status  Status
	// Message is the hook's reason, or why it could not be invoked.
	Message string
	// Invoked says the hook was handed its payload (or could not be, and failed).
	Invoked bool
}

// Records keeps executions: in memory (NewBoard), or in a store that outlives the process
// (store.SQLite), so a restarted server still takes the verdict of a hook it invoked before.
// Only a token's hash is ever given to it.
type Records interface {
	CreateHookExecution(ctx context.Context, e Execution, tokenHash []byte) error
	// HookExecution returns an execution and its token's hash; ErrUnknownExecution when none.
	HookExecution(ctx context.Context, id string) (Execution, []byte, error)
	// FindHookExecution returns the newest execution of a deployment's event attempt;
	// ErrUnknownExecution when none.
	FindHookExecution(ctx context.Context, deployment, event string, attempt int) (Execution, error)
	// SettleHookExecution records a verdict if the execution is still Pending; settled is
	// false when it was not (it keeps the verdict it has).
	SettleHookExecution(ctx context.Context, id string, status Status, message string) (settled bool, err error)
	MarkHookInvoked(ctx context.Context, id string) error
}

// Board holds the executions that deployments wait on. It is safe for concurrent use: the
// server's status endpoint reports while hooks are invoked.
type Board struct {
	records Records
	// OnSettle, when set, is called with each execution once it has its verdict (a report, an
	// HTTP hook's answer, a failure to invoke), after the verdict is recorded.
	OnSettle func(Execution)
}

// NewBoard returns an empty board that keeps its executions in memory.
func NewBoard() *Board { return NewStoredBoard(&memory{execs: map[string]*memRecord{}}) }

// NewStoredBoard returns a board over records.
func NewStoredBoard(records Records) *Board { return &Board{records: records} }

// Open starts an execution for a deployment's event attempt and returns it with its token. The
// token is not kept: it goes to the hook in the payload and nowhere else.
func (b *Board) Open(ctx context.Context, deployment, event string, attempt int) (Execution, string, error) {
	var idBytes [16]byte
	var tokBytes [32]byte
	if _, err := rand.Read(idBytes[:]); err != nil {
		return Execution{}, "", fmt.Errorf("hook execution id: %w", err)
	}
	if _, err := rand.Read(tokBytes[:]); err != nil {
		return Execution{}, "", fmt.Errorf("hook token: %w", err)
	}
	e := Execution{ID: hex.EncodeToString(idBytes[:]), Deployment: deployment, Event: event, Attempt: attempt, Status: Pending}
	token := base64.RawURLEncoding.EncodeToString(tokBytes[:])
	sum := sha256.Sum256([]byte(token))
	if err := b.records.CreateHookExecution(ctx, e, sum[:]); err != nil {
		return Execution{}, "", fmt.Errorf("open hook execution: %w", err)
	}
	return e, token, nil
}

// Report records a hook's verdict and returns the execution. The same verdict reported again is
// accepted (a hook may retry a request whose answer it lost); another verdict is
// ErrAlreadyReported.
func (b *Board) Report(ctx context.Context, id, token string, st api.HookStatus) (Execution, error) {
	var status Status
	switch st.Status {
	case api.HookSucceeded:
		status = Succeeded
	case api.HookFailed:
		status = Failed
	default:
		return Execution{}, fmt.Errorf("%w %q; report %q or %q", ErrInvalidStatus, st.Status, api.HookSucceeded, api.HookFailed)
	}
	if len(st.Message) > api.MaxHookMessage || !utf8.ValidString(st.Message) {
		return Execution{}, fmt.Errorf("%w: message must be UTF-8 text of at most %d bytes", ErrInvalidStatus, api.MaxHookMessage)
	}
	_, hash, err := b.records.HookExecution(ctx, id)
	if err != nil {
		return Execution{}, err
	}
	got := sha256.Sum256([]byte(token))
	if subtle.ConstantTimeCompare(got[:], hash) != 1 {
		return Execution{}, ErrBadToken
	}
	return b.settle(ctx, id, status, st.Message)
}

// fail records that the hook could not be invoked.
func (b *Board) fail(ctx context.Context, id, message string) {
	_, _ = b.settle(ctx, id, Failed, message) // a verdict that came first stands
}

// settle records the verdict once and tells OnSettle.
func (b *Board) settle(ctx context.Context, id string, status Status, message string) (Execution, error) {
	settled, err := b.records.SettleHookExecution(ctx, id, status, message)
	if err != nil {
		return Execution{}, err
	}
	e, _, err := b.records.HookExecution(ctx, id)
	if err != nil {
		return Execution{}, err
	}
	if !settled {
		if e.Status != status {
			return e, fmt.Errorf("%w: %s was reported %s", ErrAlreadyReported, id, e.Status)
		}
		return e, nil
	}
	if b.OnSettle != nil {
		b.OnSettle(e)
	}
	return e, nil
}

// Get returns the execution as it stands.
func (b *Board) Get(ctx context.Context, id string) (Execution, error) {
	e, _, err := b.records.HookExecution(ctx, id)
	return e, err
}

// Find returns the newest execution of a deployment's event attempt; ErrUnknownExecution when
// there is none.
func (b *Board) Find(ctx context.Context, deployment, event string, attempt int) (Execution, error) {
	return b.records.FindHookExecution(ctx, deployment, event, attempt)
}

// memory keeps executions in a map.
type memory struct {
	mu    sync.Mutex
	execs map[string]*memRecord
	order []string
}

type memRecord struct {
	Execution
	hash []byte
}

func (m *memory) CreateHookExecution(_ context.Context, e Execution, hash []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.execs[e.ID] = &memRecord{Execution: e, hash: slices.Clone(hash)}
	m.order = append(m.order, e.ID)
	return nil
}

func (m *memory) HookExecution(_ context.Context, id string) (Execution, []byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.execs[id]
	if !ok {
		return Execution{}, nil, fmt.Errorf("%w %q", ErrUnknownExecution, id)
	}
	return r.Execution, r.hash, nil
}

func (m *memory) FindHookExecution(_ context.Context, deployment, event string, attempt int) (Execution, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for i := len(m.order) - 1; i >= 0; i-- {
		e := m.execs[m.order[i]].Execution
		if e.Deployment == deployment && e.Event == event && e.Attempt == attempt {
			return e, nil
		}
	}
	return Execution{}, fmt.Errorf("%w of %s %s attempt %d", ErrUnknownExecution, deployment, event, attempt)
}

func (m *memory) SettleHookExecution(_ context.Context, id string, status Status, message string) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.execs[id]
	if !ok {
		return false, fmt.Errorf("%w %q", ErrUnknownExecution, id)
	}
	if r.Status != Pending {
		return false, nil
	}
	r.Status, r.Message = status, message
	return true, nil
}

func (m *memory) MarkHookInvoked(_ context.Context, id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if r, ok := m.execs[id]; ok {
		r.Invoked = true
	}
	return nil
}
