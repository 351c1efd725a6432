-- The first schema. Conventions, kept so that a PostgreSQL store can run the same statements:
-- ids and names are TEXT; times are INTEGER milliseconds since the Unix epoch (UTC), 0 when
-- unset; booleans are INTEGER 0/1; structured values are JSON in TEXT columns; no AUTOINCREMENT
-- and no SQLite-only types.

CREATE TABLE applications (
    name             TEXT    NOT NULL PRIMARY KEY,
    compute_platform TEXT    NOT NULL,
    create_time      INTEGER NOT NULL
);

-- User-defined deployment configs only: the presets live in the binary (deploy.Presets).
CREATE TABLE deployment_configs (
    name          TEXT    NOT NULL PRIMARY KEY,
    minimum_type  TEXT    NOT NULL,
    minimum_value INTEGER NOT NULL,
    create_time   INTEGER NOT NULL
);

CREATE TABLE deployment_groups (
    application                       TEXT    NOT NULL REFERENCES applications (name),
    name                              TEXT    NOT NULL,
    tags                              TEXT    NOT NULL, -- JSON tag set
    config_name                       TEXT    NOT NULL, -- a preset or a deployment_configs row
    auto_rollback                     TEXT    NOT NULL, -- JSON
    ignore_application_stop_failures  INTEGER NOT NULL,
    refuse_when_busy                  INTEGER NOT NULL,
    environment                       TEXT    NOT NULL,
    current_revision                  TEXT    NOT NULL,
    last_successful_deployment        TEXT    NOT NULL,
    queue                             TEXT    NOT NULL, -- JSON admission queue
    create_time                       INTEGER NOT NULL,
    PRIMARY KEY (application, name)
);

CREATE INDEX deployment_groups_config ON deployment_groups (config_name);

CREATE TABLE revisions (
    application TEXT    NOT NULL REFERENCES applications (name),
    digest      TEXT    NOT NULL,
    size        INTEGER NOT NULL,
    format      TEXT    NOT NULL,
    source      TEXT    NOT NULL,
    location    TEXT    NOT NULL, -- JSON, meaning depends on source
    create_time INTEGER NOT NULL,
    PRIMARY KEY (application, digest)
);

CREATE TABLE deployments (
    id          TEXT    NOT NULL PRIMARY KEY,
    application TEXT    NOT NULL,
    group_name  TEXT    NOT NULL,
    status      TEXT    NOT NULL,
    creator     TEXT    NOT NULL,
    create_time INTEGER NOT NULL,
    end_time    INTEGER NOT NULL,
    version     INTEGER NOT NULL,
    state       TEXT    NOT NULL, -- JSON of the whole deploy.Deployment
    FOREIGN KEY (application, group_name) REFERENCES deployment_groups (application, name)
);

CREATE INDEX deployments_group ON deployments (application, group_name, create_time);
CREATE INDEX deployments_status ON deployments (status);

-- Every effect Decide returned, in order. id is a store-assigned position, increasing across all
-- deployments (the order PendingEffects hands them out); seq is the order within one deployment.
-- done is 1 for effects the store carried out in the same transaction and for those the runtime
-- has since marked done.
CREATE TABLE effects (
    id          INTEGER NOT NULL PRIMARY KEY,
    deployment  TEXT    NOT NULL REFERENCES deployments (id),
    seq         INTEGER NOT NULL,
    kind        TEXT    NOT NULL,
    payload     TEXT    NOT NULL, -- JSON
    done        INTEGER NOT NULL,
    create_time INTEGER NOT NULL,
    UNIQUE (deployment, seq)
);

CREATE INDEX effects_pending ON effects (done, id);

CREATE TABLE instances (
    id              TEXT    NOT NULL PRIMARY KEY,
    name            TEXT    NOT NULL,
    tags            TEXT    NOT NULL, -- JSON object
    credential_hash TEXT,             -- NULL once revoked
    register_time   INTEGER NOT NULL,
    last_seen       INTEGER NOT NULL,
    deregistered    INTEGER NOT NULL,
    deregister_time INTEGER NOT NULL
);

-- A name belongs to one registered instance at a time; deregistered ones keep their history.
CREATE UNIQUE INDEX instances_registered_name ON instances (name) WHERE deregistered = 0;
CREATE UNIQUE INDEX instances_credential ON instances (credential_hash);

-- The group's record of each host it deployed to: CodeDeploy's instance health and the revision
-- the host's last successful deployment installed.
CREATE TABLE instance_groups (
    instance    TEXT    NOT NULL REFERENCES instances (id),
    application TEXT    NOT NULL,
    group_name  TEXT    NOT NULL,
    health      TEXT    NOT NULL,
    revision    TEXT    NOT NULL,
    update_time INTEGER NOT NULL,
    PRIMARY KEY (instance, application, group_name),
    FOREIGN KEY (application, group_name) REFERENCES deployment_groups (application, name)
);

CREATE INDEX instance_groups_group ON instance_groups (application, group_name);
