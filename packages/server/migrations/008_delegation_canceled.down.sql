UPDATE delegations SET status = 'failed', error = COALESCE(error, 'canceled') WHERE status = 'canceled';
ALTER TABLE delegations DROP CONSTRAINT IF EXISTS delegations_status_check;
ALTER TABLE delegations ADD CONSTRAINT delegations_status_check
  CHECK (status IN ('pending', 'dispatched', 'queued', 'completed', 'failed'));
