-- Idle hibernation (issue #3): a workspace with hibernation_idle_minutes set is hibernated by the
-- hibernation sweep once no A2A traffic has reached it for that long. NULL: never.
ALTER TABLE workspaces ADD COLUMN IF NOT EXISTS hibernation_idle_minutes integer
  CHECK (hibernation_idle_minutes BETWEEN 1 AND 525600);
CREATE INDEX IF NOT EXISTS workspaces_hibernation_idx ON workspaces (id) WHERE hibernation_idle_minutes IS NOT NULL;
