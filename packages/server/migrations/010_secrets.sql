-- Secrets (issue #12): org-wide (global) and per-workspace, values sealed with AES-256-GCM in a
-- versioned envelope (secrets/crypto.ts); secrets_key_check holds a fingerprint of the key they were
-- sealed with, so a wrong key is a startup error, never garbage.
CREATE TABLE IF NOT EXISTS global_secrets (
  key text PRIMARY KEY,
  value text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS workspace_secrets (
  workspace_id uuid NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
  key text NOT NULL,
  value text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (workspace_id, key)
);
CREATE TABLE IF NOT EXISTS secrets_key_check (
  id smallint PRIMARY KEY CHECK (id = 1),
  fingerprint text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
-- A workspace whose effective secrets changed since its agent started: "restart to apply".
ALTER TABLE workspaces ADD COLUMN IF NOT EXISTS restart_pending boolean NOT NULL DEFAULT false;
