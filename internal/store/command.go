package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// GitHubCommand is the outcome of a command written in a pull-request comment.
type GitHubCommand struct {
	RepositoryID int64
	CommentID    int64
	// Refused is set when the command did not run; Reply says what was done, or why not.
	Refused bool
	Reply   string
	// ReplyComment is GitHub's id of the reply comment, 0 until it is known to be posted.
	ReplyComment int64
	// CreateTime is set by the store when zero.
	CreateTime time.Time
}

// RecordGitHubCommand records a command's outcome, once: when one is recorded for the comment
// already, nothing changes and that one is returned. The first outcome recorded is the one
// replied, however often the comment is handled.
func (s *SQLite) RecordGitHubCommand(ctx context.Context, c GitHubCommand) (GitHubCommand, error) {
	if c.RepositoryID <= 0 || c.CommentID <= 0 {
		return GitHubCommand{}, fmt.Errorf("record command: %w: give the repository id and the comment id", ErrInvalid)
	}
	if c.CreateTime.IsZero() {
		c.CreateTime = s.now()
	}
	var out GitHubCommand
	err := s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO github_commands (repository_id, comment_id, refused, reply, reply_comment, create_time)
			VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (repository_id, comment_id) DO NOTHING`,
			c.RepositoryID, c.CommentID, boolInt(c.Refused), c.Reply, c.ReplyComment, millis(c.CreateTime))
		if err != nil {
			return err
		}
		out, err = scanGitHubCommand(tx.QueryRowContext(ctx, "SELECT "+commandColumns+
			" FROM github_commands WHERE repository_id = ? AND comment_id = ?", c.RepositoryID, c.CommentID))
		return err
	})
	if err != nil {
		return GitHubCommand{}, fmt.Errorf("record command of comment %d: %w", c.CommentID, err)
	}
	return out, nil
}

// GetGitHubCommand returns the outcome recorded for a comment; ErrNotFound if none.
func (s *SQLite) GetGitHubCommand(ctx context.Context, repositoryID, commentID int64) (GitHubCommand, error) {
	c, err := scanGitHubCommand(s.r.QueryRowContext(ctx, "SELECT "+commandColumns+
		" FROM github_commands WHERE repository_id = ? AND comment_id = ?", repositoryID, commentID))
	if err != nil {
		return GitHubCommand{}, fmt.Errorf("command of comment %d: %w", commentID, err)
	}
	return c, nil
}

// SetGitHubCommandReply records that the reply to a command is posted, as GitHub's comment reply.
func (s *SQLite) SetGitHubCommandReply(ctx context.Context, repositoryID, commentID, reply int64) error {
	if reply <= 0 {
		return fmt.Errorf("set reply of comment %d: %w: the reply's id must be positive", commentID, ErrInvalid)
	}
	res, err := s.w.ExecContext(ctx, "UPDATE github_commands SET reply_comment = ? WHERE repository_id = ? AND comment_id = ?",
		reply, repositoryID, commentID)
	if err == nil {
		err = mustAffect(res)
	}
	if err != nil {
		return fmt.Errorf("set reply of comment %d: %w", commentID, err)
	}
	return nil
}

// PruneGitHubRecords forgets the commands and refusals recorded before before, and returns how
// many. Keep them as long as the deliveries that may carry them again.
func (s *SQLite) PruneGitHubRecords(ctx context.Context, before time.Time) (int64, error) {
	var n int64
	err := s.write(ctx, func(tx *sql.Tx) error {
		for _, query := range []string{
			"DELETE FROM github_commands WHERE create_time < ?",
			"DELETE FROM github_refusals WHERE create_time < ?",
		} {
			res, err := tx.ExecContext(ctx, query, millis(before))
			if err != nil {
				return err
			}
			m, err := res.RowsAffected()
			if err != nil {
				return err
			}
			n += m
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("prune github records: %w", err)
	}
	return n, nil
}

const commandColumns = "repository_id, comment_id, refused, reply, reply_comment, create_time"

func scanGitHubCommand(sc scanner) (GitHubCommand, error) {
	var c GitHubCommand
	var refused int
	var created int64
	err := sc.Scan(&c.RepositoryID, &c.CommentID, &refused, &c.Reply, &c.ReplyComment, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return GitHubCommand{}, ErrNotFound
	}
	if err != nil {
		return GitHubCommand{}, err
	}
	c.Refused, c.CreateTime = refused != 0, fromMillis(created)
	return c, nil
}

// GitHubRefusal is a GitHub Deployment that Slipway refused to run.
type GitHubRefusal struct {
	RepositoryID int64
	GitHubID     int64
	// Webhook is set when the deployment webhook refused it first: the server reports the
	// refusal on GitHub. Otherwise the API's caller (the Action) does.
	Webhook bool
	Reason  string
	// CreateTime is set by the store when zero.
	CreateTime time.Time
}

// RecordGitHubRefusal records that a GitHub Deployment was refused, once: when a refusal is
// recorded for it already, nothing changes and that one is returned. The first to record a
// refusal is the one to report it on GitHub.
func (s *SQLite) RecordGitHubRefusal(ctx context.Context, f GitHubRefusal) (GitHubRefusal, error) {
	if f.RepositoryID <= 0 || f.GitHubID <= 0 {
		return GitHubRefusal{}, fmt.Errorf("record refusal: %w: give the repository id and the GitHub Deployment's id", ErrInvalid)
	}
	if f.CreateTime.IsZero() {
		f.CreateTime = s.now()
	}
	var out GitHubRefusal
	err := s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO github_refusals (repository_id, github_deployment, webhook, reason, create_time)
			VALUES (?, ?, ?, ?, ?) ON CONFLICT (repository_id, github_deployment) DO NOTHING`,
			f.RepositoryID, f.GitHubID, boolInt(f.Webhook), f.Reason, millis(f.CreateTime))
		if err != nil {
			return err
		}
		var webhook int
		var created int64
		err = tx.QueryRowContext(ctx, `SELECT repository_id, github_deployment, webhook, reason, create_time FROM github_refusals
			WHERE repository_id = ? AND github_deployment = ?`, f.RepositoryID, f.GitHubID).Scan(
			&out.RepositoryID, &out.GitHubID, &webhook, &out.Reason, &created)
		out.Webhook, out.CreateTime = webhook != 0, fromMillis(created)
		return err
	})
	if err != nil {
		return GitHubRefusal{}, fmt.Errorf("record refusal of GitHub deployment %d: %w", f.GitHubID, err)
	}
	return out, nil
}
