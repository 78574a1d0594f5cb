-- Crash-safe queue deliveries (issue #9): every platform process records that it is alive, and a
-- queued delivery records the process that claimed it, so a delivery whose process died is noticed
-- within seconds and re-sent to agents that deduplicate by messageId.
CREATE TABLE IF NOT EXISTS platform_instances (
  id          uuid PRIMARY KEY,
  started_at  timestamptz NOT NULL DEFAULT now(),
  seen_at     timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE a2a_queue ADD COLUMN IF NOT EXISTS dispatched_by uuid;
CREATE INDEX IF NOT EXISTS a2a_queue_dispatched_idx ON a2a_queue (dispatched_by) WHERE status = 'dispatched';
