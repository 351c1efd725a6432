package hook_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/slipway-deploy/slipway/internal/api"
	"github.com/slipway-deploy/slipway/internal/hook"
)

func TestBoard_Report(t *testing.T) {
	b := hook.NewBoard()
	id, token, err := b.Open("d-1", "BeforeAllowTraffic")
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-b.Done(id):
		t.Fatal("Done is closed before any report")
	default:
	}
	if err := b.Report(id, token+"x", api.HookStatus{Status: api.HookSucceeded}); !errors.Is(err, hook.ErrBadToken) {
		t.Errorf("report with a wrong token: %v; want ErrBadToken", err)
	}
	if err := b.Report("nope", token, api.HookStatus{Status: api.HookSucceeded}); !errors.Is(err, hook.ErrUnknownExecution) {
		t.Errorf("report on an unknown id: %v; want ErrUnknownExecution", err)
	}
	for _, bad := range []api.HookStatus{{Status: "succeeded"}, {Status: api.HookFailed, Message: strings.Repeat("x", api.MaxHookMessage+1)}} {
		if err := b.Report(id, token, bad); !errors.Is(err, hook.ErrInvalidStatus) {
			t.Errorf("report %q: %v; want ErrInvalidStatus", bad.Status, err)
		}
	}
	if err := b.Report(id, token, api.HookStatus{Status: api.HookFailed, Message: "5xx rate 4%"}); err != nil {
		t.Fatal(err)
	}
	<-b.Done(id)
	if err := b.Report(id, token, api.HookStatus{Status: api.HookFailed}); err != nil {
		t.Errorf("the same verdict again: %v; want it accepted", err)
	}
	if err := b.Report(id, token, api.HookStatus{Status: api.HookSucceeded}); !errors.Is(err, hook.ErrAlreadyReported) {
		t.Errorf("another verdict: %v; want ErrAlreadyReported", err)
	}
	got, ok := b.Get(id)
	if !ok || got.Status != hook.Failed || got.Message != "5xx rate 4%" || got.Deployment != "d-1" || got.Event != "BeforeAllowTraffic" {
		t.Errorf("Get = %+v, %v", got, ok)
	}
	b.Close(id)
	if err := b.Report(id, token, api.HookStatus{Status: api.HookFailed}); !errors.Is(err, hook.ErrUnknownExecution) {
		t.Errorf("report after Close: %v; want ErrUnknownExecution", err)
	}
	<-b.Done(id) // closed for an unknown id: a waiter never hangs
}

func TestBoard_IDsAndTokensAreUnguessable(t *testing.T) {
	b := hook.NewBoard()
	seen := map[string]bool{}
	for range 100 {
		id, token, err := b.Open("d", "e")
		if err != nil {
			t.Fatal(err)
		}
		if len(id) != 32 || len(token) < 43 || seen[id] || seen[token] {
			t.Fatalf("id %q token %q: want 128-bit ids and 256-bit tokens, never repeated", id, token)
		}
		seen[id], seen[token] = true, true
	}
}
