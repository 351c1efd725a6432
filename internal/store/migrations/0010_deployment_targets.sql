-- A deployment's targets, one row each, so that a save rewrites only the hosts whose state
-- changed: in deployments.state, a 1,000-host deployment was over a megabyte of JSON written
-- again at every commit. deployments.state keeps the rest. A deployment last saved before this
-- table existed keeps its targets in its state until its next save moves them here.
CREATE TABLE deployment_targets (
    deployment TEXT    NOT NULL REFERENCES deployments (id),
    position   INTEGER NOT NULL, -- the target's index in the deployment's targets, from 0
    state      TEXT    NOT NULL, -- JSON of one deploy.Target
    PRIMARY KEY (deployment, position)
);
