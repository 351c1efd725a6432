-- A lambda or ecs deployment group's AWS side (JSON: the AWS settings, the ECS service and load
-- balancer, the traffic shape and the hook timeout; '{}' for a server group), and the lifecycle
-- hook executions of lambda and ecs deployments, kept so that a restarted server still takes a
-- hook's verdict. Only the hash of an execution's token is stored.
ALTER TABLE deployment_groups ADD COLUMN aws TEXT NOT NULL DEFAULT '{}';

CREATE TABLE hook_executions (
	id          TEXT    NOT NULL PRIMARY KEY,
	deployment  TEXT    NOT NULL,
	event       TEXT    NOT NULL,
	attempt     INTEGER NOT NULL,
	token_hash  BLOB    NOT NULL,
	status      TEXT    NOT NULL,
	message     TEXT    NOT NULL DEFAULT '',
	invoked     INTEGER NOT NULL DEFAULT 0,
	create_time INTEGER NOT NULL,
	update_time INTEGER NOT NULL
);
CREATE INDEX hook_executions_attempt ON hook_executions (deployment, event, attempt);
