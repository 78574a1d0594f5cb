DROP INDEX IF EXISTS a2a_queue_dispatched_idx;
ALTER TABLE a2a_queue DROP COLUMN IF EXISTS dispatched_by;
DROP TABLE IF EXISTS platform_instances;
