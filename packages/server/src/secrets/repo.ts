import { Status } from '@molecule/contracts';
import type { Queryable } from '../db/port.js';

/** A stored secret: its sealed value and times. */
export interface SecretRow {
  key: string;
  value: string;
  created_at: Date;
  updated_at: Date;
}
export interface WorkspaceSecretRow extends SecretRow {
  workspace_id: string;
}

/**
 * The stored key fingerprint. With no secret stored there is nothing a new key could fail to open:
 * `mine` becomes the stored one (a first start, or a key set before any secret was).
 */
export async function keyFingerprint(q: Queryable, mine: string): Promise<string> {
  await q.query(
    `INSERT INTO secrets_key_check (id, fingerprint) VALUES (1, $1)
     ON CONFLICT (id) DO UPDATE SET fingerprint = EXCLUDED.fingerprint
     WHERE NOT EXISTS (SELECT 1 FROM global_secrets) AND NOT EXISTS (SELECT 1 FROM workspace_secrets)`,
    [mine],
  );
  const r = await q.query<{ fingerprint: string }>('SELECT fingerprint FROM secrets_key_check WHERE id = 1');
  return r.rows[0]?.fingerprint ?? '';
}

export async function listGlobalSecrets(q: Queryable): Promise<SecretRow[]> {
  return (await q.query<SecretRow>('SELECT key, value, created_at, updated_at FROM global_secrets ORDER BY key')).rows;
}

export async function upsertGlobalSecret(q: Queryable, key: string, sealed: string): Promise<void> {
  await q.query(
    `INSERT INTO global_secrets (key, value) VALUES ($1, $2)
     ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, updated_at = now()`,
    [key, sealed],
  );
}

/** Whether there was one to delete. */
export async function deleteGlobalSecret(q: Queryable, key: string): Promise<boolean> {
  return ((await q.query('DELETE FROM global_secrets WHERE key = $1', [key])).rowCount ?? 0) > 0;
}

/** The secrets of these workspaces (a workspace and its ancestors). */
export async function workspaceSecretsOf(q: Queryable, ids: readonly string[]): Promise<WorkspaceSecretRow[]> {
  if (ids.length === 0) return [];
  return (
    await q.query<WorkspaceSecretRow>('SELECT workspace_id, key, value, created_at, updated_at FROM workspace_secrets WHERE workspace_id = ANY($1::uuid[]) ORDER BY key', [
      [...ids],
    ])
  ).rows;
}

export async function upsertWorkspaceSecret(q: Queryable, workspaceId: string, key: string, sealed: string): Promise<void> {
  await q.query(
    `INSERT INTO workspace_secrets (workspace_id, key, value) VALUES ($1, $2, $3)
     ON CONFLICT (workspace_id, key) DO UPDATE SET value = EXCLUDED.value, updated_at = now()`,
    [workspaceId, key, sealed],
  );
}

export async function deleteWorkspaceSecret(q: Queryable, workspaceId: string, key: string): Promise<boolean> {
  return ((await q.query('DELETE FROM workspace_secrets WHERE workspace_id = $1 AND key = $2', [workspaceId, key])).rowCount ?? 0) > 0;
}

/** The workspaces holding `key` themselves. */
export async function holdersOf(q: Queryable, key: string): Promise<Set<string>> {
  return new Set((await q.query<{ workspace_id: string }>('SELECT workspace_id FROM workspace_secrets WHERE key = $1', [key])).rows.map((r) => r.workspace_id));
}

/** Every workspace that is not removed: id, parent, status, runtime (the fan-out of a secret change). */
export async function liveTree(q: Queryable): Promise<{ id: string; parent_id: string | null; status: string; runtime: string }[]> {
  return (await q.query<{ id: string; parent_id: string | null; status: string; runtime: string }>('SELECT id, parent_id, status, runtime FROM workspaces WHERE status <> $1', [Status.Removed])).rows;
}

/** Marks workspaces "restart to apply": their agents run with secrets that changed since they started. */
export async function markRestartPending(q: Queryable, ids: readonly string[]): Promise<void> {
  if (ids.length === 0) return;
  await q.query('UPDATE workspaces SET restart_pending = true, updated_at = now() WHERE id = ANY($1::uuid[])', [[...ids]]);
}

/** A start applies every current secret: the mark goes. */
export async function clearRestartPending(q: Queryable, id: string): Promise<void> {
  await q.query('UPDATE workspaces SET restart_pending = false WHERE id = $1 AND restart_pending', [id]);
}
