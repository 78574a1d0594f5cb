ALTER TABLE workspaces DROP COLUMN IF EXISTS restart_pending;
DROP TABLE IF EXISTS secrets_key_check;
DROP TABLE IF EXISTS workspace_secrets;
DROP TABLE IF EXISTS global_secrets;
