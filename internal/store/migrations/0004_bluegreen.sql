-- A deployment group's deployment type (IN_PLACE or BLUE_GREEN), its traffic router (JSON;
-- '{}' when it has none), its blue/green settings (JSON: the replacement fleet's tags, the
-- traffic shape, the ready wait and what becomes of the original fleet; '{}' when unset) and the
-- alarms its deployments watch (JSON: CodeDeploy's alarm configuration; '{}' when none).
ALTER TABLE deployment_groups ADD COLUMN deployment_type TEXT NOT NULL DEFAULT 'IN_PLACE';
ALTER TABLE deployment_groups ADD COLUMN traffic_router TEXT NOT NULL DEFAULT '{}';
ALTER TABLE deployment_groups ADD COLUMN blue_green TEXT NOT NULL DEFAULT '{}';
ALTER TABLE deployment_groups ADD COLUMN alarms TEXT NOT NULL DEFAULT '{}';
