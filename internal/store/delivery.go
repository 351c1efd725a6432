package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Delivery is one accepted GitHub webhook delivery.
type Delivery struct {
	// ID is GitHub's X-GitHub-Delivery, the same on a redelivery.
	ID    string
	Event string
	// Payload is the raw body; empty once processed.
	Payload []byte
	// Attempts counts the tries to process it so far.
	Attempts        int
	ReceivedTime    time.Time
	NextAttemptTime time.Time
	// ProcessedTime is zero while the delivery is pending.
	ProcessedTime time.Time
	// Outcome says what processing did, or why the last try failed.
	Outcome string
}

// PutDelivery records an accepted delivery as pending. It returns false, and changes nothing,
// when a delivery with the same id was recorded before: a redelivery or a replay.
func (s *SQLite) PutDelivery(ctx context.Context, d Delivery) (bool, error) {
	if d.ID == "" || d.Event == "" {
		return false, fmt.Errorf("put delivery: %w: give the delivery id and event", ErrInvalid)
	}
	if d.ReceivedTime.IsZero() {
		d.ReceivedTime = s.now()
	}
	res, err := s.w.ExecContext(ctx, `INSERT INTO github_deliveries (id, event, payload, received_time, attempts,
		next_attempt_time, processed_time, outcome) VALUES (?, ?, ?, ?, 0, ?, 0, '') ON CONFLICT (id) DO NOTHING`,
		d.ID, d.Event, string(d.Payload), millis(d.ReceivedTime), millis(d.ReceivedTime))
	if err != nil {
		return false, fmt.Errorf("put delivery %s: %w", d.ID, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("put delivery %s: %w", d.ID, err)
	}
	return n == 1, nil
}

// GetDelivery returns one delivery; ErrNotFound if none.
func (s *SQLite) GetDelivery(ctx context.Context, id string) (Delivery, error) {
	d, err := scanDelivery(s.r.QueryRowContext(ctx, "SELECT "+deliveryColumns+" FROM github_deliveries WHERE id = ?", id))
	if err != nil {
		return Delivery{}, fmt.Errorf("get delivery %s: %w", id, err)
	}
	return d, nil
}

// DeliveryCursor is where a listing of pending deliveries resumes: after the delivery received
// at ReceivedTime with ID (the zero cursor: from the oldest).
type DeliveryCursor struct {
	ReceivedTime time.Time
	ID           string
}

// Cursor is the position just after d in a listing of pending deliveries.
func (d Delivery) Cursor() DeliveryCursor {
	return DeliveryCursor{ReceivedTime: d.ReceivedTime, ID: d.ID}
}

// PendingDeliveries returns up to limit unprocessed deliveries due by now, oldest first, after
// the cursor, and the time the next not-yet-due one is (zero when none).
func (s *SQLite) PendingDeliveries(ctx context.Context, now time.Time, after DeliveryCursor, limit int) ([]Delivery, time.Time, error) {
	at := millis(after.ReceivedTime)
	rows, err := s.r.QueryContext(ctx, "SELECT "+deliveryColumns+
		" FROM github_deliveries WHERE processed_time = 0 AND next_attempt_time <= ? AND (received_time > ? OR (received_time = ? AND id > ?))"+
		" ORDER BY received_time, id LIMIT ?", millis(now), at, at, after.ID, limit)
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("pending deliveries: %w", err)
	}
	defer func() { _ = rows.Close() }()
	var out []Delivery
	for rows.Next() {
		d, err := scanDelivery(rows)
		if err != nil {
			return nil, time.Time{}, fmt.Errorf("pending deliveries: %w", err)
		}
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, time.Time{}, fmt.Errorf("pending deliveries: %w", err)
	}
	var next sql.NullInt64
	if err := s.r.QueryRowContext(ctx, "SELECT MIN(next_attempt_time) FROM github_deliveries WHERE processed_time = 0 AND next_attempt_time > ?",
		millis(now)).Scan(&next); err != nil {
		return nil, time.Time{}, fmt.Errorf("pending deliveries: %w", err)
	}
	return out, fromMillis(next.Int64), nil
}

// FinishDelivery marks a delivery processed with its outcome and drops its payload.
func (s *SQLite) FinishDelivery(ctx context.Context, id, outcome string) error {
	res, err := s.w.ExecContext(ctx, "UPDATE github_deliveries SET processed_time = ?, outcome = ?, payload = '', attempts = attempts + 1 WHERE id = ?",
		millis(s.now()), outcome, id)
	if err == nil {
		err = mustAffect(res)
	}
	if err != nil {
		return fmt.Errorf("finish delivery %s: %w", id, err)
	}
	return nil
}

// DeferDelivery records a failed try and when to try again.
func (s *SQLite) DeferDelivery(ctx context.Context, id, outcome string, next time.Time) error {
	res, err := s.w.ExecContext(ctx, "UPDATE github_deliveries SET attempts = attempts + 1, outcome = ?, next_attempt_time = ? WHERE id = ? AND processed_time = 0",
		outcome, millis(next), id)
	if err == nil {
		err = mustAffect(res)
	}
	if err != nil {
		return fmt.Errorf("defer delivery %s: %w", id, err)
	}
	return nil
}

// PruneDeliveries forgets processed deliveries received before before, and returns how many.
// GitHub lets a delivery be redelivered for a few days; keep them at least that long.
func (s *SQLite) PruneDeliveries(ctx context.Context, before time.Time) (int64, error) {
	res, err := s.w.ExecContext(ctx, "DELETE FROM github_deliveries WHERE processed_time <> 0 AND received_time < ?", millis(before))
	if err != nil {
		return 0, fmt.Errorf("prune deliveries: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("prune deliveries: %w", err)
	}
	return n, nil
}

const deliveryColumns = "id, event, payload, received_time, attempts, next_attempt_time, processed_time, outcome"

func scanDelivery(sc scanner) (Delivery, error) {
	var d Delivery
	var payload string
	var received, next, processed int64
	err := sc.Scan(&d.ID, &d.Event, &payload, &received, &d.Attempts, &next, &processed, &d.Outcome)
	if errors.Is(err, sql.ErrNoRows) {
		return Delivery{}, ErrNotFound
	}
	if err != nil {
		return Delivery{}, err
	}
	d.Payload = []byte(payload)
	d.ReceivedTime, d.NextAttemptTime, d.ProcessedTime = fromMillis(received), fromMillis(next), fromMillis(processed)
	return d, nil
}
