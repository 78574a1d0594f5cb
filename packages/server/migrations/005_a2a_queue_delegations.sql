-- The durable A2A queue, delegations, and per-month spend for budgets (issue #4).

-- Messages a busy agent refused, delivered when it frees up. One row per (target, messageId): the
-- messageId is the idempotency key (C058), so a retried message never becomes a second delivery.
CREATE TABLE IF NOT EXISTS a2a_queue (
  id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  workspace_id   uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
  caller_id      uuid REFERENCES workspaces (id) ON DELETE SET NULL,
  message_id     text NOT NULL,
  method         text NOT NULL,
  body           jsonb NOT NULL,
  priority       smallint NOT NULL DEFAULT 50,
  status         text NOT NULL DEFAULT 'queued'
                 CHECK (status IN ('queued', 'dispatched', 'completed', 'failed', 'dropped', 'expired')),
  attempts       integer NOT NULL DEFAULT 0,
  last_error     text,
  response_status integer,
  response_body  jsonb,
  delegation_id  uuid,
  expires_at     timestamptz,
  created_at     timestamptz NOT NULL DEFAULT now(),
  updated_at     timestamptz NOT NULL DEFAULT now(),
  dispatched_at  timestamptz,
  completed_at   timestamptz
);
CREATE UNIQUE INDEX IF NOT EXISTS a2a_queue_message_idx ON a2a_queue (workspace_id, message_id);
CREATE INDEX IF NOT EXISTS a2a_queue_pending_idx
  ON a2a_queue (workspace_id, priority DESC, created_at, id) WHERE status = 'queued';
CREATE INDEX IF NOT EXISTS a2a_queue_created_idx ON a2a_queue (created_at);

-- A task one workspace hands another. The id is also the A2A messageId of the delegated message (C066).
CREATE TABLE IF NOT EXISTS delegations (
  id               uuid PRIMARY KEY,
  source_id        uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
  target_id        uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
  task             text NOT NULL,
  status           text NOT NULL
                   CHECK (status IN ('pending', 'dispatched', 'queued', 'completed', 'failed')),
  idempotency_key  text,
  queue_id         uuid,
  response_text    text,
  error            text,
  created_at       timestamptz NOT NULL DEFAULT now(),
  updated_at       timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX IF NOT EXISTS delegations_idempotency_idx
  ON delegations (source_id, idempotency_key) WHERE idempotency_key IS NOT NULL;
CREATE INDEX IF NOT EXISTS delegations_source_idx ON delegations (source_id, created_at, id);

-- Model usage reported in agents' answers, per workspace and calendar month (UTC), in micro-USD.
CREATE TABLE IF NOT EXISTS workspace_spend (
  workspace_id   uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
  month          date NOT NULL,
  input_tokens   bigint NOT NULL DEFAULT 0,
  output_tokens  bigint NOT NULL DEFAULT 0,
  spend_micros   bigint NOT NULL DEFAULT 0,
  PRIMARY KEY (workspace_id, month)
);
