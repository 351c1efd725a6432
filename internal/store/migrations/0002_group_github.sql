-- The GitHub repository a deployment group belongs to: which repository's webhooks and Actions
-- OIDC tokens may deploy it, and from which refs. JSON object; '{}' when the group is not linked.
ALTER TABLE deployment_groups ADD COLUMN github TEXT NOT NULL DEFAULT '{}';
