-- The outcome of each command written in a pull-request comment (/deploy, /rollback, /stop,
-- /status), keyed by the comment. It is recorded as soon as the command has run, before GitHub is
-- told anything, so that a delivery processed again after a crash neither runs the command a second
-- time nor replies twice: reply_comment is GitHub's id of the reply once it is known to be posted.
CREATE TABLE github_commands (
    repository_id INTEGER NOT NULL,
    comment_id    INTEGER NOT NULL,
    refused       INTEGER NOT NULL, -- 1 when the command did not run; reply says why
    reply         TEXT    NOT NULL, -- what was done, or why not
    reply_comment INTEGER NOT NULL, -- 0 until the reply is known to be posted
    create_time   INTEGER NOT NULL,
    PRIMARY KEY (repository_id, comment_id)
);

CREATE INDEX github_commands_time ON github_commands (create_time);
