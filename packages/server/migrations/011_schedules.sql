-- Cron schedules of a workspace and their run history (issue #12; C265-C267). The status and source
-- lists mirror SCHEDULE_RUN_STATUSES and SCHEDULE_SOURCES in packages/contracts/src/schedules.ts (a
-- test compares them). A workspace purged from the database takes its schedules and runs with it; a
-- removed (soft-deleted) one keeps them, and the scheduler never selects them.
CREATE TABLE IF NOT EXISTS workspace_schedules (
  id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  workspace_id  uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
  name          text NOT NULL,
  cron_expr     text NOT NULL,
  timezone      text NOT NULL DEFAULT 'UTC',
  prompt        text NOT NULL,
  enabled       boolean NOT NULL DEFAULT true,
  source        text NOT NULL DEFAULT 'runtime' CHECK (source IN ('template', 'runtime')),
  next_run_at   timestamptz,
  last_run_at   timestamptz,
  run_count     integer NOT NULL DEFAULT 0,
  last_status   text CHECK (last_status IN ('running', 'delivered', 'queued', 'failed', 'skipped')),
  last_error    text,
  created_at    timestamptz NOT NULL DEFAULT now(),
  updated_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS workspace_schedules_workspace_idx ON workspace_schedules (workspace_id, created_at, id);
-- The scheduler's due query: enabled rows by next_run_at.
CREATE INDEX IF NOT EXISTS workspace_schedules_due_idx ON workspace_schedules (next_run_at) WHERE enabled;

-- One row per firing. (schedule_id, due_at) is unique: one cron time fires once, whichever
-- replica or pass claims it.
CREATE TABLE IF NOT EXISTS schedule_runs (
  id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  schedule_id    uuid NOT NULL REFERENCES workspace_schedules (id) ON DELETE CASCADE,
  workspace_id   uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
  trigger        text NOT NULL CHECK (trigger IN ('cron', 'manual')),
  status         text NOT NULL CHECK (status IN ('running', 'delivered', 'queued', 'failed', 'skipped')),
  due_at         timestamptz NOT NULL,
  message_id     text NOT NULL,
  queue_id       uuid,
  started_at     timestamptz NOT NULL DEFAULT now(),
  finished_at    timestamptz,
  duration_ms    integer,
  reply_summary  text,
  error          text
);
CREATE UNIQUE INDEX IF NOT EXISTS schedule_runs_due_idx ON schedule_runs (schedule_id, due_at);
CREATE INDEX IF NOT EXISTS schedule_runs_history_idx ON schedule_runs (schedule_id, started_at DESC, id);
CREATE INDEX IF NOT EXISTS schedule_runs_message_idx ON schedule_runs (workspace_id, message_id);
-- Runs a stopped process left running (the scheduler's sweep ends them).
CREATE INDEX IF NOT EXISTS schedule_runs_running_idx ON schedule_runs (started_at) WHERE status = 'running';
