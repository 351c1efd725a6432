-- Groups whose bundles clients upload straight to the server's S3 bundle bucket, and the upload
-- slots handed out for that: each names the key the client PUTs to and the bundle it announced,
-- and is claimed once (claimed = 1) when the client asks the server to register what it sent.
ALTER TABLE deployment_groups ADD COLUMN direct_upload INTEGER NOT NULL DEFAULT 0;

CREATE TABLE uploads (
	id          TEXT    NOT NULL PRIMARY KEY,
	application TEXT    NOT NULL,
	group_name  TEXT    NOT NULL,
	digest      TEXT    NOT NULL,
	size        INTEGER NOT NULL,
	commit_sha  TEXT    NOT NULL DEFAULT '',
	directory   TEXT    NOT NULL DEFAULT '',
	claimed     INTEGER NOT NULL DEFAULT 0,
	expire_time INTEGER NOT NULL,
	create_time INTEGER NOT NULL
);
CREATE INDEX uploads_expire_time ON uploads (expire_time);
