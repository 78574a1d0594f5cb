-- A delegation whose task the target canceled (tasks/cancel, issue #10) ends `canceled`, not
-- `completed` with the canceled task's text.
ALTER TABLE delegations DROP CONSTRAINT IF EXISTS delegations_status_check;
ALTER TABLE delegations ADD CONSTRAINT delegations_status_check
  CHECK (status IN ('pending', 'dispatched', 'queued', 'completed', 'failed', 'canceled'));
