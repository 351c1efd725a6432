package hook_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/slipway-deploy/slipway/internal/api"
	"github.com/slipway-deploy/slipway/internal/hook"
)

func TestBoard_Report(t *testing.T) {
	ctx := context.Background()
	b := hook.NewBoard()
	var told []hook.Execution
	b.OnSettle = func(e hook.Execution) { told = append(told, e) }
	e, token, err := b.Open(ctx, "d-1", "BeforeAllowTraffic", 3)
	if err != nil {
		t.Fatal(err)
	}
	id := e.ID
	if _, err := b.Report(ctx, id, token+"x", api.HookStatus{Status: api.HookSucceeded}); !errors.Is(err, hook.ErrBadToken) {
		t.Errorf("report with a wrong token: %v; want ErrBadToken", err)
	}
	if _, err := b.Report(ctx, "nope", token, api.HookStatus{Status: api.HookSucceeded}); !errors.Is(err, hook.ErrUnknownExecution) {
		t.Errorf("report on an unknown id: %v; want ErrUnknownExecution", err)
	}
	for _, bad := range []api.HookStatus{{Status: "succeeded"}, {Status: api.HookFailed, Message: strings.Repeat("x", api.MaxHookMessage+1)}} {
		if _, err := b.Report(ctx, id, token, bad); !errors.Is(err, hook.ErrInvalidStatus) {
			t.Errorf("report %q: %v; want ErrInvalidStatus", bad.Status, err)
		}
	}
	if len(told) != 0 {
		t.Fatalf("OnSettle told %+v before any verdict", told)
	}
	if _, err := b.Report(ctx, id, token, api.HookStatus{Status: api.HookFailed, Message: "5xx rate 4%"}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Report(ctx, id, token, api.HookStatus{Status: api.HookFailed}); err != nil {
		t.Errorf("the same verdict again: %v; want it accepted", err)
	}
	if _, err := b.Report(ctx, id, token, api.HookStatus{Status: api.HookSucceeded}); !errors.Is(err, hook.ErrAlreadyReported) {
		t.Errorf("another verdict: %v; want ErrAlreadyReported", err)
	}
	if len(told) != 1 || told[0].ID != id || told[0].Status != hook.Failed || told[0].Attempt != 3 {
		t.Errorf("OnSettle told %+v; want the one verdict, once", told)
	}
	got, err := b.Get(ctx, id)
	if err != nil || got.Status != hook.Failed || got.Message != "5xx rate 4%" || got.Deployment != "d-1" || got.Event != "BeforeAllowTraffic" {
		t.Errorf("Get = %+v, %v", got, err)
	}
	found, err := b.Find(ctx, "d-1", "BeforeAllowTraffic", 3)
	if err != nil || found.ID != id {
		t.Errorf("Find = %+v, %v", found, err)
	}
	if _, err := b.Find(ctx, "d-1", "BeforeAllowTraffic", 4); !errors.Is(err, hook.ErrUnknownExecution) {
		t.Errorf("Find of another attempt: %v; want ErrUnknownExecution", err)
	}
}

func TestBoard_IDsAndTokensAreUnguessable(t *testing.T) {
	b := hook.NewBoard()
	seen := map[string]bool{}
	for range 100 {
		e, token, err := b.Open(context.Background(), "d", "e", 1)
		if err != nil {
			t.Fatal(err)
		}
		if len(e.ID) != 32 || len(token) < 43 || seen[e.ID] || seen[token] {
			t.Fatalf("id %q token %q: want 128-bit ids and 256-bit tokens, never repeated", e.ID, token)
		}
		seen[e.ID], seen[token] = true, true
	}
}
