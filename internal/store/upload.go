package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Upload is a slot handed to a client to upload a bundle straight to the server's S3 bundle
// bucket: the object it PUTs is named by ID, and it announced the bundle's Digest and Size.
type Upload struct {
	ID          string
	Application string
	Group       string
	Digest      string
	Size        int64
	// Commit and Directory are where the bundle was built from, as for an upload through the
	// server ("" when unknown).
	Commit    string
	Directory string
	// ExpireTime is when the slot can no longer be registered.
	ExpireTime time.Time
	// CreateTime is set by the store when zero.
	CreateTime time.Time
}

var (
	// ErrUploadClaimed marks an upload slot that was registered (or tried) before: each is
	// taken once.
	ErrUploadClaimed = errors.New("the upload slot was used already")
	// ErrUploadExpired marks an upload slot past its ExpireTime.
	ErrUploadExpired = errors.New("the upload slot has expired")
)

// forgetUploadsAfter is how long past its expiry a slot is kept, so that a late caller hears
// "expired" rather than "not found".
const forgetUploadsAfter = 24 * time.Hour

// CreateUpload records a new upload slot, and forgets slots that expired long ago.
func (s *SQLite) CreateUpload(ctx context.Context, u Upload) (Upload, error) {
	if u.ID == "" || u.Application == "" || u.Group == "" || u.Digest == "" || u.Size <= 0 || u.ExpireTime.IsZero() {
		return Upload{}, fmt.Errorf("%w: upload slot %+v: id, application, group, digest, size and expiry are required", ErrInvalid, u)
	}
	if u.CreateTime.IsZero() {
		u.CreateTime = s.now()
	}
	u.CreateTime, u.ExpireTime = fromMillis(millis(u.CreateTime)), fromMillis(millis(u.ExpireTime))
	err := s.write(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, "DELETE FROM uploads WHERE expire_time < ?", millis(u.CreateTime.Add(-forgetUploadsAfter))); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO uploads (id, application, group_name, digest, size, commit_sha, directory,
			expire_time, create_time) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			u.ID, u.Application, u.Group, u.Digest, u.Size, u.Commit, u.Directory, millis(u.ExpireTime), millis(u.CreateTime))
		if isUniqueViolation(err) {
			return ErrExists
		}
		return err
	})
	if err != nil {
		return Upload{}, fmt.Errorf("create upload %s: %w", u.ID, err)
	}
	return u, nil
}

// ClaimUpload marks the slot id of application's group used and returns it. It is taken once:
// ErrUploadClaimed from then on. ErrUploadExpired (and the slot stays unused) when now is past
// its expiry; ErrNotFound when the group has no such slot.
func (s *SQLite) ClaimUpload(ctx context.Context, application, group, id string, now time.Time) (Upload, error) {
	var u Upload
	err := s.write(ctx, func(tx *sql.Tx) error {
		var claimed int
		var expire, created int64
		err := tx.QueryRowContext(ctx, `SELECT id, application, group_name, digest, size, commit_sha, directory, claimed,
			expire_time, create_time FROM uploads WHERE id = ? AND application = ? AND group_name = ?`, id, application, group).
			Scan(&u.ID, &u.Application, &u.Group, &u.Digest, &u.Size, &u.Commit, &u.Directory, &claimed, &expire, &created)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		u.ExpireTime, u.CreateTime = fromMillis(expire), fromMillis(created)
		switch {
		case claimed != 0:
			return ErrUploadClaimed
		case now.After(u.ExpireTime):
			return ErrUploadExpired
		}
		res, err := tx.ExecContext(ctx, "UPDATE uploads SET claimed = 1 WHERE id = ? AND claimed = 0", id)
		if err != nil {
			return err
		}
		return mustAffect(res)
	})
	if err != nil {
		return Upload{}, fmt.Errorf("claim upload %s: %w", id, err)
	}
	return u, nil
}
