-- External agents wait in awaiting_agent before they first register; hibernation passes through
-- hibernating while the instance stops. Additive and idempotent (C017).
SET LOCAL lock_timeout = '5s';
ALTER TYPE workspace_status ADD VALUE IF NOT EXISTS 'awaiting_agent';
ALTER TYPE workspace_status ADD VALUE IF NOT EXISTS 'hibernating';
