package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// busyTimeout is how long a connection waits for another process's lock before SQLITE_BUSY.
// Inside one process writes never wait on each other (one writer connection); this covers a
// second process such as a backup or an operator's sqlite3 shell.
const busyTimeout = 5 * time.Second

// SQLite is the store on one SQLite file in WAL mode. It is safe for concurrent use: every write
// goes through a single connection, so writers queue in database/sql instead of failing with
// SQLITE_BUSY, while reads use a separate pool that WAL lets run beside the writer.
type SQLite struct {
	w   *sql.DB
	r   *sql.DB
	now func() time.Time
	// byCredential is InstanceByCredential's query, prepared once: it runs on every agent
	// request, and SQLite parsing it anew each time was half its cost.
	byCredential *sql.Stmt
	agents       *agentCache
	revisions    revisionCache
	targets      savedTargets
}

// OpenSQLite opens (creating if needed) the database at path and brings its schema up to date.
// It refuses a database whose schema is newer than this binary (ErrSchemaTooNew).
func OpenSQLite(ctx context.Context, path string) (*SQLite, error) {
	if path == "" || strings.ContainsAny(path, "?#") {
		return nil, fmt.Errorf("open sqlite %q: %w: path must be a plain file name", path, ErrInvalid)
	}
	// synchronous=FULL fsyncs the WAL on every commit. NORMAL would survive a killed process
	// but may lose the last commits on power loss; a deployment whose "host X succeeded" or
	// "rollback started" vanished after the server acted on it is worse than a slower commit.
	common := "_pragma=busy_timeout(" + fmt.Sprint(busyTimeout.Milliseconds()) + ")" +
		"&_pragma=foreign_keys(1)&_pragma=synchronous(FULL)"
	// _txlock=immediate takes the write lock at BEGIN, so a transaction that reads then writes
	// can never fail halfway with SQLITE_BUSY when another process wrote in between.
	w, err := sql.Open("sqlite", path+"?_pragma=journal_mode(WAL)&_txlock=immediate&"+common)
	if err != nil {
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	s := &SQLite{w: w, now: time.Now}
	s.agents = newAgentCache(s.now())
	if err := s.checkWAL(ctx); err != nil {
		_ = w.Close()
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	if err := migrate(ctx, w, s.now()); err != nil {
		_ = w.Close()
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	r, err := sql.Open("sqlite", path+"?_pragma=query_only(1)&"+common)
	if err != nil {
		_ = w.Close()
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	r.SetMaxOpenConns(max(4, runtime.GOMAXPROCS(0)))
	r.SetMaxIdleConns(max(4, runtime.GOMAXPROCS(0)))
	s.r = r
	if s.byCredential, err = r.PrepareContext(ctx, instanceByCredentialQuery); err != nil {
		_ = s.Close()
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	return s, nil
}

// checkWAL fails when the file system refused WAL mode (SQLite falls back silently), since
// the store's concurrency and durability argument rests on it.
func (s *SQLite) checkWAL(ctx context.Context) error {
	var mode string
	if err := s.w.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		return fmt.Errorf("read journal mode: %w", err)
	}
	if !strings.EqualFold(mode, "wal") {
		return fmt.Errorf("journal mode is %q, want wal (is the file on a network file system?)", mode)
	}
	return nil
}

// Close writes the last_seen times still in memory and closes both pools. Calls in flight
// finish first.
func (s *SQLite) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), busyTimeout)
	defer cancel()
	errs := []error{s.flushSeen(ctx)}
	if s.byCredential != nil {
		errs = append(errs, s.byCredential.Close())
	}
	if s.r != nil {
		errs = append(errs, s.r.Close())
	}
	errs = append(errs, s.w.Close())
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("close sqlite: %w", err)
	}
	return nil
}

// Ping checks that both the writer and the reader answer, for /readyz.
func (s *SQLite) Ping(ctx context.Context) error {
	if err := s.w.PingContext(ctx); err != nil {
		return fmt.Errorf("ping sqlite writer: %w", err)
	}
	var one int
	if err := s.r.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil {
		return fmt.Errorf("ping sqlite reader: %w", err)
	}
	return nil
}

// write runs fn in a transaction on the writer connection and commits when fn returns nil.
func (s *SQLite) write(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// read runs fn in a read transaction, so that the several queries of one answer see one
// snapshot.
func (s *SQLite) read(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := s.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return fmt.Errorf("begin read: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	return fn(tx)
}

// querier is what both *sql.DB and *sql.Tx offer, so lookups can run inside or outside a
// transaction.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

func sqliteCode(err error) int {
	var e *sqlite.Error
	if errors.As(err, &e) {
		return e.Code()
	}
	return 0
}

func isUniqueViolation(err error) bool {
	c := sqliteCode(err)
	return c == sqlite3.SQLITE_CONSTRAINT_UNIQUE || c == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
}

// mustAffect turns an UPDATE or DELETE that matched no row into ErrNotFound.
func mustAffect(res sql.Result) error {
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("rows affected: %w", err)
	}
	if n == 0 {
		return ErrNotFound
	}
	return nil
}

// millis is the column form of a time: unix milliseconds, 0 for the zero time.
func millis(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

// fromMillis reads a time column back, in UTC.
func fromMillis(ms int64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms).UTC()
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// idAlphabet is base32 without padding, lower case, so ids are short, URL-safe and readable.
const idAlphabet = "abcdefghijklmnopqrstuvwxyz234567"

// newID returns prefix followed by 20 random characters (100 bits): unguessable enough that
// ids do not leak how many deployments or instances exist, and collisions are not a concern.
func newID(prefix string) string {
	var b [20]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	out := make([]byte, len(prefix)+len(b))
	copy(out, prefix)
	for i, v := range b {
		out[len(prefix)+i] = idAlphabet[v&31]
	}
	return string(out)
}

// NewDeploymentID returns a fresh deployment id ("d-" and 20 base32 characters), the form the
// store itself uses for rollback deployments.
func NewDeploymentID() string { return newID("d-") }
