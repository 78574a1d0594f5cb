-- Base schema: workspaces and their credentials, persisted events, the activity log.
-- Touches the workspace_status type, so it bounds its lock wait (C017).
SET LOCAL lock_timeout = '5s';

DO $$ BEGIN
  CREATE TYPE workspace_status AS ENUM (
    'provisioning', 'online', 'offline', 'degraded', 'failed', 'removed', 'paused', 'hibernated'
  );
EXCEPTION WHEN duplicate_object THEN NULL;
END $$;

CREATE TABLE IF NOT EXISTS workspaces (
  id                      uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  name                    text NOT NULL,
  role                    text,
  parent_id               uuid REFERENCES workspaces (id),
  runtime                 text NOT NULL,
  template                text,
  model                   text,
  tier                    smallint NOT NULL CHECK (tier BETWEEN 1 AND 4),
  status                  workspace_status NOT NULL,
  url                     text NOT NULL DEFAULT '',
  delivery_mode           text NOT NULL DEFAULT 'push' CHECK (delivery_mode IN ('push', 'poll')),
  agent_card              jsonb,
  current_task            text NOT NULL DEFAULT '',
  error_rate              double precision NOT NULL DEFAULT 0,
  last_sample_error       text NOT NULL DEFAULT '',
  last_heartbeat_at       timestamptz,
  active_tasks            integer NOT NULL DEFAULT 0 CHECK (active_tasks >= 0),
  max_concurrent_tasks    integer NOT NULL DEFAULT 1 CHECK (max_concurrent_tasks >= 1),
  budget_limit            bigint CHECK (budget_limit >= 0),
  instance_id             text,
  runtime_image_digest    text,
  platform_inbound_secret text,
  created_at              timestamptz NOT NULL DEFAULT now(),
  updated_at              timestamptz NOT NULL DEFAULT now(),
  removed_at              timestamptz
);
CREATE INDEX IF NOT EXISTS workspaces_parent_idx ON workspaces (parent_id);
CREATE INDEX IF NOT EXISTS workspaces_created_idx ON workspaces (created_at, id);

CREATE TABLE IF NOT EXISTS workspace_auth_tokens (
  id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  workspace_id  uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
  token_hash    bytea NOT NULL UNIQUE,
  prefix        text NOT NULL,
  created_at    timestamptz NOT NULL DEFAULT now(),
  last_used_at  timestamptz,
  revoked_at    timestamptz
);
CREATE INDEX IF NOT EXISTS workspace_auth_tokens_live_idx
  ON workspace_auth_tokens (workspace_id, created_at) WHERE revoked_at IS NULL;

CREATE TABLE IF NOT EXISTS org_api_tokens (
  id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  name          text NOT NULL,
  token_hash    bytea NOT NULL UNIQUE,
  prefix        text NOT NULL,
  created_by    text NOT NULL,
  created_at    timestamptz NOT NULL DEFAULT now(),
  last_used_at  timestamptz,
  revoked_at    timestamptz
);

CREATE TABLE IF NOT EXISTS canvas_sessions (
  id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  session_hash  bytea NOT NULL UNIQUE,
  created_at    timestamptz NOT NULL DEFAULT now(),
  expires_at    timestamptz NOT NULL,
  revoked_at    timestamptz
);

-- Persisted events; id is the replay cursor (`seq`). No foreign key: the audit trail of a purged
-- workspace is deleted explicitly by the purge.
CREATE TABLE IF NOT EXISTS structure_events (
  id            bigserial PRIMARY KEY,
  event_type    text NOT NULL,
  workspace_id  uuid,
  payload       jsonb NOT NULL DEFAULT '{}'::jsonb,
  created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS structure_events_workspace_idx ON structure_events (workspace_id, id);

CREATE TABLE IF NOT EXISTS activity_logs (
  id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  workspace_id   uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
  activity_type  text NOT NULL,
  source_id      uuid,
  target_id      uuid,
  method         text,
  summary        text,
  request_body   jsonb,
  response_body  jsonb,
  tool_trace     jsonb,
  duration_ms    integer,
  status         text NOT NULL DEFAULT 'ok',
  error_detail   text,
  created_at     timestamptz NOT NULL DEFAULT now()
);
-- Per-peer chat history must not scan the whole workspace (C092); the third index is the cursor.
CREATE INDEX IF NOT EXISTS activity_logs_source_idx
  ON activity_logs (workspace_id, source_id) WHERE source_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS activity_logs_target_idx
  ON activity_logs (workspace_id, target_id) WHERE target_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS activity_logs_cursor_idx
  ON activity_logs (workspace_id, created_at, id);
