SET LOCAL lock_timeout = '5s';
DROP TABLE IF EXISTS activity_logs;
DROP TABLE IF EXISTS structure_events;
DROP TABLE IF EXISTS canvas_sessions;
DROP TABLE IF EXISTS org_api_tokens;
DROP TABLE IF EXISTS workspace_auth_tokens;
DROP TABLE IF EXISTS workspaces;
DROP TYPE IF EXISTS workspace_status;
