-- GitHub: webhook deliveries, the GitHub Deployment each Slipway deployment reports to, the App
-- installation of each repository, and the commit a revision was built from.

-- Every accepted webhook delivery, stored before the receiver answers 202 so an accepted
-- delivery survives a crash. id is X-GitHub-Delivery: GitHub sends the same id when a delivery is
-- redelivered, so the primary key is the dedupe. payload is emptied once processed; the row stays
-- (until pruned) so a late redelivery is still recognised.
CREATE TABLE github_deliveries (
    id                TEXT    NOT NULL PRIMARY KEY,
    event             TEXT    NOT NULL,
    payload           TEXT    NOT NULL,
    received_time     INTEGER NOT NULL,
    attempts          INTEGER NOT NULL,
    next_attempt_time INTEGER NOT NULL,
    processed_time    INTEGER NOT NULL, -- 0 while pending
    outcome           TEXT    NOT NULL  -- what processing did, or the last error
);

CREATE INDEX github_deliveries_pending ON github_deliveries (processed_time, next_attempt_time);

-- The GitHub Deployment a Slipway deployment reports to. The unique key on (repository_id,
-- github_deployment) is what makes the Action's create call and the deployment webhook produce
-- one Slipway deployment whichever comes first. report is the reporter's record of what it
-- posted (statuses, check run), opaque JSON to the store; done is 1 once nothing is left to post.
CREATE TABLE github_deployments (
    deployment        TEXT    NOT NULL PRIMARY KEY REFERENCES deployments (id),
    repository        TEXT    NOT NULL,
    repository_id     INTEGER NOT NULL,
    github_deployment INTEGER NOT NULL,
    sha               TEXT    NOT NULL,
    ref               TEXT    NOT NULL,
    environment       TEXT    NOT NULL,
    check_run         INTEGER NOT NULL, -- 0 until created
    report            TEXT    NOT NULL,
    done              INTEGER NOT NULL,
    create_time       INTEGER NOT NULL
);

CREATE UNIQUE INDEX github_deployments_key ON github_deployments (repository_id, github_deployment);
CREATE INDEX github_deployments_environment ON github_deployments (repository_id, environment, create_time);
CREATE INDEX github_deployments_check_run ON github_deployments (repository_id, check_run);
CREATE INDEX github_deployments_done ON github_deployments (done);

-- The GitHub App installation that covers a repository, learnt from webhooks or looked up.
CREATE TABLE github_installations (
    repository_id   INTEGER NOT NULL PRIMARY KEY,
    repository      TEXT    NOT NULL,
    installation_id INTEGER NOT NULL,
    update_time     INTEGER NOT NULL
);

-- The commit a revision was built from ('' when unknown), so a pull request's head commit can be
-- deployed from a revision already uploaded for it.
ALTER TABLE revisions ADD COLUMN commit_sha TEXT NOT NULL DEFAULT '';
CREATE INDEX revisions_commit ON revisions (application, commit_sha);
