package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/slipway-deploy/slipway/internal/hook"
)

var _ hook.Records = (*SQLite)(nil)

// CreateHookExecution records a new execution with its token's hash.
func (s *SQLite) CreateHookExecution(ctx context.Context, e hook.Execution, tokenHash []byte) error {
	now := millis(s.now())
	err := s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO hook_executions (id, deployment, event, attempt, token_hash, status, message,
			invoked, create_time, update_time) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			e.ID, e.Deployment, e.Event, e.Attempt, tokenHash, e.Status.String(), e.Message, boolInt(e.Invoked), now, now)
		if isUniqueViolation(err) {
			return ErrExists
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("create hook execution: %w", err)
	}
	return nil
}

const hookColumns = "id, deployment, event, attempt, status, message, invoked, token_hash"

func scanHookExecution(sc scanner) (hook.Execution, []byte, error) {
	var e hook.Execution
	var status string
	var invoked int
	var hash []byte
	if err := sc.Scan(&e.ID, &e.Deployment, &e.Event, &e.Attempt, &status, &e.Message, &invoked, &hash); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return hook.Execution{}, nil, hook.ErrUnknownExecution
		}
		return hook.Execution{}, nil, err
	}
	e.Invoked = invoked != 0
	for st := hook.Pending; st <= hook.Failed; st++ {
		if st.String() == status {
			e.Status = st
		}
	}
	if e.Status == 0 {
		return hook.Execution{}, nil, fmt.Errorf("hook execution %s: unknown status %q", e.ID, status)
	}
	return e, hash, nil
}

// HookExecution returns an execution and its token's hash; hook.ErrUnknownExecution when none.
func (s *SQLite) HookExecution(ctx context.Context, id string) (hook.Execution, []byte, error) {
	e, hash, err := scanHookExecution(s.r.QueryRowContext(ctx, "SELECT "+hookColumns+" FROM hook_executions WHERE id = ?", id))
	if err != nil {
		return hook.Execution{}, nil, fmt.Errorf("hook execution %q: %w", id, err)
	}
	return e, hash, nil
}

// FindHookExecution returns the newest execution of a deployment's event attempt.
func (s *SQLite) FindHookExecution(ctx context.Context, deployment, event string, attempt int) (hook.Execution, error) {
	e, _, err := scanHookExecution(s.r.QueryRowContext(ctx, "SELECT "+hookColumns+` FROM hook_executions
		WHERE deployment = ? AND event = ? AND attempt = ? ORDER BY create_time DESC, rowid DESC LIMIT 1`, deployment, event, attempt))
	if err != nil {
		return hook.Execution{}, fmt.Errorf("hook execution of %s %s attempt %d: %w", deployment, event, attempt, err)
	}
	return e, nil
}

// SettleHookExecution records a verdict on a Pending execution; settled is false when it had
// one already.
func (s *SQLite) SettleHookExecution(ctx context.Context, id string, status hook.Status, message string) (settled bool, err error) {
	err = s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, "UPDATE hook_executions SET status = ?, message = ?, update_time = ? WHERE id = ? AND status = ?",
			status.String(), message, millis(s.now()), id, hook.Pending.String())
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return err
		}
		if n == 1 {
			settled = true
			return nil
		}
		var one int
		if err := tx.QueryRowContext(ctx, "SELECT 1 FROM hook_executions WHERE id = ?", id).Scan(&one); errors.Is(err, sql.ErrNoRows) {
			return hook.ErrUnknownExecution
		}
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("settle hook execution %q: %w", id, err)
	}
	return settled, nil
}

// MarkHookInvoked records that an execution's hook was handed its payload.
func (s *SQLite) MarkHookInvoked(ctx context.Context, id string) error {
	err := s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, "UPDATE hook_executions SET invoked = 1, update_time = ? WHERE id = ?", millis(s.now()), id)
		return err
	})
	if err != nil {
		return fmt.Errorf("mark hook execution %q invoked: %w", id, err)
	}
	return nil
}
