DROP INDEX IF EXISTS workspaces_hibernation_idx;
ALTER TABLE workspaces DROP COLUMN IF EXISTS hibernation_idle_minutes;
