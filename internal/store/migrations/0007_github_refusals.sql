-- GitHub Deployments that Slipway refused to run, keyed by the Deployment. The Action's API call
-- and the deployment webhook may both refuse one Deployment; the first to record its refusal
-- here reports it on GitHub (one error status) and the other leaves it be.
CREATE TABLE github_refusals (
    repository_id     INTEGER NOT NULL,
    github_deployment INTEGER NOT NULL,
    webhook           INTEGER NOT NULL, -- 1: the webhook refused first and the server reports it; 0: the API's caller does
    reason            TEXT    NOT NULL,
    create_time       INTEGER NOT NULL,
    PRIMARY KEY (repository_id, github_deployment)
);

CREATE INDEX github_refusals_time ON github_refusals (create_time);
