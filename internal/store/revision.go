package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"
)

// RevisionSource says where a revision's bundle comes from.
type RevisionSource string

// The revision sources.
const (
	// SourceUpload is a bundle uploaded to the server's blob store.
	SourceUpload RevisionSource = "upload"
	// SourceS3 is an object in an S3 bucket (bucket, key, version, etag in Location).
	SourceS3 RevisionSource = "s3"
	// SourceGitHub is a commit whose tarball the server fetches (repository, commit in Location).
	SourceGitHub RevisionSource = "github"
)

func (s RevisionSource) String() string { return string(s) }

// Validate accepts the three known sources.
func (s RevisionSource) Validate() error {
	switch s {
	case SourceUpload, SourceS3, SourceGitHub:
		return nil
	}
	return fmt.Errorf("%w: revision source %q; use upload, s3 or github", ErrInvalid, string(s))
}

// Revision is a registered revision of an application, keyed by (Application, Digest).
type Revision struct {
	// Digest is the bundle's sha256 in lower-case hex: what deploy.Deployment.Revision holds.
	Digest      string
	Application string
	Size        int64
	// Format is the archive format (zip, tar, tgz).
	Format string
	Source RevisionSource
	// Location holds the source's details as JSON (an S3 object, a GitHub commit); the store
	// keeps it opaque.
	Location json.RawMessage
	// Commit is the Git commit the bundle was built from, "" when unknown. Registering a known
	// digest again with a commit fills in a missing one.
	Commit string
	// Directory is the directory of the repository the bundle was built from ("." for its root),
	// "" when unknown; filled in like Commit.
	Directory string
	// CreateTime is set by the store when zero.
	CreateTime time.Time
}

// PutRevision registers a revision. Registering the same digest again for the same application
// is not an error: the stored revision is returned unchanged, so a retried upload is harmless.
// ErrNotFound when the application does not exist.
func (s *SQLite) PutRevision(ctx context.Context, r Revision) (Revision, error) {
	if !validDigest(r.Digest) {
		return Revision{}, fmt.Errorf("put revision: %w: digest %q is not 64 lower-case hex characters", ErrInvalid, r.Digest)
	}
	if err := r.Source.Validate(); err != nil {
		return Revision{}, fmt.Errorf("put revision %s: %w", r.Digest, err)
	}
	if len(r.Location) == 0 {
		r.Location = json.RawMessage("{}")
	}
	if !json.Valid(r.Location) {
		return Revision{}, fmt.Errorf("put revision %s: %w: location is not JSON", r.Digest, ErrInvalid)
	}
	if r.Commit != "" && !validCommit(r.Commit) {
		return Revision{}, fmt.Errorf("put revision %s: %w: commit %q is not a full commit id (40 lower-case hex characters)", r.Digest, ErrInvalid, r.Commit)
	}
	if r.CreateTime.IsZero() {
		r.CreateTime = s.now()
	}
	r.CreateTime = fromMillis(millis(r.CreateTime))
	var out Revision
	err := s.write(ctx, func(tx *sql.Tx) error {
		if _, err := getApplication(ctx, tx, r.Application); err != nil {
			return fmt.Errorf("application %s: %w", r.Application, err)
		}
		// ON CONFLICT ... DO UPDATE is spelled the same in PostgreSQL. Only a missing commit or
		// directory is filled in: what a digest is does not change.
		_, err := tx.ExecContext(ctx, `INSERT INTO revisions (application, digest, size, format, source, location, commit_sha, directory, create_time)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (application, digest) DO UPDATE SET
				commit_sha = CASE WHEN revisions.commit_sha = '' THEN excluded.commit_sha ELSE revisions.commit_sha END,
				directory = CASE WHEN revisions.directory = '' THEN excluded.directory ELSE revisions.directory END`,
			r.Application, r.Digest, r.Size, r.Format, string(r.Source), string(r.Location), r.Commit, r.Directory, millis(r.CreateTime))
		if err != nil {
			return err
		}
		out, err = getRevision(ctx, tx, r.Application, r.Digest)
		return err
	})
	if err != nil {
		return Revision{}, fmt.Errorf("put revision %s: %w", r.Digest, err)
	}
	s.revisions.put(out, true)
	return out, nil
}

// GetRevision returns a registered revision; ErrNotFound if none. Every command handed to an
// agent names its revision, and a stored revision changes only through PutRevision (which
// fills in a missing commit or directory, and updates the memory too) and is never deleted,
// so the answers are kept in memory.
func (s *SQLite) GetRevision(ctx context.Context, application, digest string) (Revision, error) {
	if r, ok := s.revisions.get(application, digest); ok {
		return r, nil
	}
	r, err := getRevision(ctx, s.r, application, digest)
	if err != nil {
		return Revision{}, fmt.Errorf("get revision %s/%s: %w", application, digest, err)
	}
	s.revisions.put(r, false)
	return r, nil
}

// RevisionForCommit returns the newest revision of an application built from commit;
// ErrNotFound if none.
func (s *SQLite) RevisionForCommit(ctx context.Context, application, commit string) (Revision, error) {
	if commit == "" {
		return Revision{}, fmt.Errorf("revision for commit: %w: empty commit", ErrInvalid)
	}
	r, err := scanRevision(s.r.QueryRowContext(ctx, "SELECT "+revisionColumns+
		" FROM revisions WHERE application = ? AND commit_sha = ? ORDER BY create_time DESC, digest LIMIT 1", application, commit))
	if err != nil {
		return Revision{}, fmt.Errorf("revision of %s for commit %s: %w", application, commit, err)
	}
	return r, nil
}

const revisionColumns = "application, digest, size, format, source, location, commit_sha, directory, create_time"

// maxCachedRevisions bounds the revisions GetRevision keeps in memory; past it, it starts
// afresh. A fleet deploys a handful of revisions at a time.
const maxCachedRevisions = 256

// revisionCache holds stored revisions by application and digest.
type revisionCache struct {
	mu sync.Mutex
	m  map[[2]string]Revision
}

func (c *revisionCache) get(application, digest string) (Revision, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	r, ok := c.m[[2]string{application, digest}]
	r.Location = slices.Clone(r.Location)
	return r, ok
}

// put keeps r. A read keeps it only when it is not there yet (replace false), so that a read
// from before a PutRevision cannot put back what PutRevision replaced.
func (c *revisionCache) put(r Revision, replace bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= maxCachedRevisions {
		c.m = map[[2]string]Revision{}
	}
	k := [2]string{r.Application, r.Digest}
	if _, ok := c.m[k]; ok && !replace {
		return
	}
	r.Location = slices.Clone(r.Location)
	c.m[k] = r
}

func getRevision(ctx context.Context, q querier, application, digest string) (Revision, error) {
	return scanRevision(q.QueryRowContext(ctx, "SELECT "+revisionColumns+" FROM revisions WHERE application = ? AND digest = ?", application, digest))
}

func scanRevision(sc scanner) (Revision, error) {
	var r Revision
	var source, location string
	var created int64
	err := sc.Scan(&r.Application, &r.Digest, &r.Size, &r.Format, &source, &location, &r.Commit, &r.Directory, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return Revision{}, ErrNotFound
	}
	if err != nil {
		return Revision{}, err
	}
	r.Source, r.Location, r.CreateTime = RevisionSource(source), json.RawMessage(location), fromMillis(created)
	return r, nil
}

// validCommit accepts a full Git object id: 40 (SHA-1) or 64 (SHA-256) lower-case hex characters.
func validCommit(s string) bool { return (len(s) == 40 || len(s) == 64) && isLowerHex(s) }

// validDigest accepts exactly 64 lower-case hex characters.
func validDigest(s string) bool { return len(s) == 64 && isLowerHex(s) }

func isLowerHex(s string) bool {
	for i := range len(s) {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}
