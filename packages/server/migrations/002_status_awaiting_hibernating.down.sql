-- Postgres cannot drop enum values: map the rows first (awaiting_agent -> offline,
-- hibernating -> hibernated, C017), then swap in a type without the two values.
SET LOCAL lock_timeout = '5s';
UPDATE workspaces SET status = 'offline' WHERE status::text = 'awaiting_agent';
UPDATE workspaces SET status = 'hibernated' WHERE status::text = 'hibernating';
ALTER TYPE workspace_status RENAME TO workspace_status_old;
CREATE TYPE workspace_status AS ENUM (
  'provisioning', 'online', 'offline', 'degraded', 'failed', 'removed', 'paused', 'hibernated'
);
ALTER TABLE workspaces ALTER COLUMN status TYPE workspace_status USING status::text::workspace_status;
DROP TYPE workspace_status_old;
