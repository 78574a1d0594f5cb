import { Status, type WorkspaceStatus } from '@molecule/contracts';
import type { WorkspaceRow } from '../workspaces/read.js';
import type { Queryable } from '../db/port.js';
import { displayPrefix, generateToken, hashToken, hashTokenHex } from './tokens.js';
import { iso } from '../db/time.js';

export interface TokenRow {
  id: string;
  prefix: string;
  created_at: string;
  last_used_at: string | null;
}

export interface MintedToken extends TokenRow {
  token: string;
}

const toRow = (r: { id: string; prefix: string; created_at: Date; last_used_at: Date | null }): TokenRow => ({
  id: r.id,
  prefix: r.prefix,
  created_at: iso(r.created_at)!,
  last_used_at: iso(r.last_used_at),
});

export const MAX_LIVE_TOKENS_PER_WORKSPACE = 50;

export async function mintWorkspaceToken(q: Queryable, workspaceId: string): Promise<MintedToken> {
  const token = generateToken('workspace');
  const r = await q.query<{ id: string; prefix: string; created_at: Date; last_used_at: null }>(
    `INSERT INTO workspace_auth_tokens (workspace_id, token_hash, prefix) VALUES ($1, $2, $3)
     RETURNING id, prefix, created_at, last_used_at`,
    [workspaceId, hashToken(token), displayPrefix(token)],
  );
  return { ...toRow(r.rows[0]!), token };
}

/**
 * `last_used_at` is refreshed at most this often per token: it answers "is this token still in use",
 * and writing it on every request (every heartbeat) was nearly half the database's work.
 */
export const LAST_USED_RESOLUTION_SECONDS = 60;

/**
 * The one workspace-token predicate (C210): the hash matches, the token is not revoked and its
 * workspace is not removed. A match refreshes `last_used_at` (at most once a minute). Set-based, so
 * a hot path can check many tokens in one statement; returns the owner of each valid token.
 */

export async function validateWorkspaceTokens(
  q: Queryable,
  tokens: readonly string[],
): Promise<Map<string, { tokenId: string; workspaceId: string }>> {
  const out = new Map<string, { tokenId: string; workspaceId: string }>();
  if (tokens.length === 0) return out;
  const byHash = new Map(tokens.map((t) => [hashTokenHex(t), t]));
  const r = await q.query<{ id: string; workspace_id: string; hash: string }>(
    `WITH valid AS (
       SELECT t.id, t.workspace_id, t.token_hash, t.last_used_at
         FROM workspace_auth_tokens t JOIN workspaces w ON w.id = t.workspace_id
        WHERE t.token_hash = ANY(ARRAY(SELECT decode(h, 'hex') FROM unnest($1::text[]) AS h))
          AND t.revoked_at IS NULL AND w.status <> $2
     ), touched AS (
       UPDATE workspace_auth_tokens t SET last_used_at = now()
         FROM valid v
        WHERE t.id = v.id AND (v.last_used_at IS NULL OR v.last_used_at < now() - make_interval(secs => $3))
     )
     SELECT id, workspace_id, encode(token_hash, 'hex') AS hash FROM valid`,
    [[...byHash.keys()], Status.Removed, LAST_USED_RESOLUTION_SECONDS],
  );
  for (const row of r.rows) {
    const token = byHash.get(row.hash);
    if (token !== undefined) out.set(token, { tokenId: row.id, workspaceId: row.workspace_id });
  }
  return out;
}

/** `validateWorkspaceTokens` for one token: its owner, or null. */
export async function validateWorkspaceToken(
  q: Queryable,
  token: string,
): Promise<{ tokenId: string; workspaceId: string } | null> {
  return (await validateWorkspaceTokens(q, [token])).get(token) ?? null;
}

export async function countLiveWorkspaceTokens(q: Queryable, workspaceId: string): Promise<number> {
  const r = await q.query<{ n: number }>(
    'SELECT count(*)::int AS n FROM workspace_auth_tokens WHERE workspace_id = $1 AND revoked_at IS NULL',
    [workspaceId],
  );
  return r.rows[0]!.n;
}

export async function listWorkspaceTokens(
  q: Queryable,
  workspaceId: string,
  limit: number,
  offset: number,
): Promise<TokenRow[]> {
  const r = await q.query<{ id: string; prefix: string; created_at: Date; last_used_at: Date | null }>(
    `SELECT id, prefix, created_at, last_used_at FROM workspace_auth_tokens
      WHERE workspace_id = $1 AND revoked_at IS NULL
      ORDER BY created_at DESC, id LIMIT $2 OFFSET $3`,
    [workspaceId, limit, offset],
  );
  return r.rows.map(toRow);
}

/** Revokes one live token of one workspace; false when there was none to revoke. */
export async function revokeWorkspaceToken(q: Queryable, workspaceId: string, tokenId: string): Promise<boolean> {
  const r = await q.query(
    `UPDATE workspace_auth_tokens SET revoked_at = now()
      WHERE id = $1 AND workspace_id = $2 AND revoked_at IS NULL`,
    [tokenId, workspaceId],
  );
  return r.rowCount > 0;
}

export async function revokeAllWorkspaceTokens(q: Queryable, workspaceIds: readonly string[]): Promise<number> {
  const r = await q.query(
    'UPDATE workspace_auth_tokens SET revoked_at = now() WHERE workspace_id = ANY($1::uuid[]) AND revoked_at IS NULL',
    [workspaceIds],
  );
  return r.rowCount;
}

export interface OrgTokenRow extends TokenRow {
  name: string;
  created_by: string;
}

export async function mintOrgToken(
  q: Queryable,
  name: string,
  createdBy: string,
): Promise<OrgTokenRow & { token: string }> {
  const token = generateToken('org');
  const r = await q.query<{ id: string; prefix: string; created_at: Date; last_used_at: null; name: string; created_by: string }>(
    `INSERT INTO org_api_tokens (name, token_hash, prefix, created_by) VALUES ($1, $2, $3, $4)
     RETURNING id, prefix, created_at, last_used_at, name, created_by`,
    [name, hashToken(token), displayPrefix(token), createdBy],
  );
  const row = r.rows[0]!;
  return { ...toRow(row), name: row.name, created_by: row.created_by, token };
}

/** Org-token predicate: hash matches and not revoked; a match refreshes `last_used_at`. */
export async function validateOrgToken(q: Queryable, token: string): Promise<{ tokenId: string; prefix: string } | null> {
  const r = await q.query<{ id: string; prefix: string }>(
    `UPDATE org_api_tokens SET last_used_at = now()
      WHERE token_hash = $1 AND revoked_at IS NULL RETURNING id, prefix`,
    [hashToken(token)],
  );
  const row = r.rows[0];
  return row ? { tokenId: row.id, prefix: row.prefix } : null;
}

export async function listOrgTokens(q: Queryable, limit: number): Promise<OrgTokenRow[]> {
  const r = await q.query<{ id: string; prefix: string; created_at: Date; last_used_at: Date | null; name: string; created_by: string }>(
    `SELECT id, prefix, created_at, last_used_at, name, created_by FROM org_api_tokens
      WHERE revoked_at IS NULL ORDER BY created_at DESC, id LIMIT $1`,
    [limit],
  );
  return r.rows.map((row) => ({ ...toRow(row), name: row.name, created_by: row.created_by }));
}

export async function revokeOrgToken(q: Queryable, tokenId: string): Promise<boolean> {
  const r = await q.query('UPDATE org_api_tokens SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL', [tokenId]);
  return r.rowCount > 0;
}

export async function createSession(q: Queryable, ttlSeconds: number): Promise<{ token: string; expiresAt: Date }> {
  const token = generateToken('session');
  const r = await q.query<{ expires_at: Date }>(
    `INSERT INTO canvas_sessions (session_hash, expires_at) VALUES ($1, now() + make_interval(secs => $2))
     RETURNING expires_at`,
    [hashToken(token), ttlSeconds],
  );
  return { token, expiresAt: new Date(r.rows[0]!.expires_at) };
}

export async function validateSession(q: Queryable, token: string): Promise<boolean> {
  const r = await q.query(
    'SELECT 1 FROM canvas_sessions WHERE session_hash = $1 AND revoked_at IS NULL AND expires_at > now()',
    [hashToken(token)],
  );
  return r.rowCount > 0;
}

export async function revokeSession(q: Queryable, token: string): Promise<void> {
  await q.query('UPDATE canvas_sessions SET revoked_at = now() WHERE session_hash = $1 AND revoked_at IS NULL', [
    hashToken(token),
  ]);
}

/** A workspace's inbound secret, or null when it has none (or no such workspace). */
export async function readInboundSecret(q: Queryable, workspaceId: string): Promise<string | null> {
  const r = await q.query<{ platform_inbound_secret: string | null }>('SELECT platform_inbound_secret FROM workspaces WHERE id = $1', [workspaceId]);
  return r.rows[0]?.platform_inbound_secret ?? null;
}

/** Stores `secret` only while the workspace has none; answers the one it has afterwards (a concurrent heal keeps the first). */
export async function healInboundSecret(q: Queryable, workspaceId: string, secret: string): Promise<string | null> {
  const r = await q.query<{ platform_inbound_secret: string | null }>(
    'UPDATE workspaces SET platform_inbound_secret = COALESCE(platform_inbound_secret, $2) WHERE id = $1 RETURNING platform_inbound_secret',
    [workspaceId, secret],
  );
  return r.rows[0]?.platform_inbound_secret ?? null;
}

/** The secret the platform sends to the workspace's agent on inbound calls (C113). */
export async function storeInboundSecret(q: Queryable, workspaceId: string, secret: string): Promise<void> {
  await q.query('UPDATE workspaces SET platform_inbound_secret = $2 WHERE id = $1', [workspaceId, secret]);
}

export interface StaleTokenRule {
  /** Workspace statuses whose tokens may go stale (the instance is meant to run). */
  statuses: readonly WorkspaceStatus[];
  /** The external runtime: its workspaces are never touched. */
  externalRuntime: string;
  /** Tokens minted this recently are never stale. */
  graceSeconds: number;
}

/** Managed workspaces in the rule's statuses holding a live token older than the grace (C176). */
export async function workspacesWithAgedTokens(q: Queryable, rule: StaleTokenRule): Promise<WorkspaceRow[]> {
  const r = await q.query<WorkspaceRow>(
    `SELECT w.* FROM workspaces w
      WHERE w.status = ANY($1::text[]::workspace_status[]) AND w.runtime <> $2
        AND EXISTS (SELECT 1 FROM workspace_auth_tokens t
                     WHERE t.workspace_id = w.id AND t.revoked_at IS NULL AND t.created_at < now() - make_interval(secs => $3))`,
    [rule.statuses, rule.externalRuntime, rule.graceSeconds],
  );
  return r.rows;
}

/**
 * Revokes one workspace's live tokens older than the grace, re-checking the rule in the statement
 * (the workspace may have been restarted or paused since it was read). Returns how many went.
 */
export async function revokeAgedTokens(q: Queryable, workspaceId: string, rule: StaleTokenRule): Promise<number> {
  const r = await q.query(
    `UPDATE workspace_auth_tokens t SET revoked_at = now()
      WHERE t.workspace_id = $4 AND t.revoked_at IS NULL AND t.created_at < now() - make_interval(secs => $3)
        AND EXISTS (SELECT 1 FROM workspaces w WHERE w.id = $4 AND w.status = ANY($1::text[]::workspace_status[]) AND w.runtime <> $2)`,
    [rule.statuses, rule.externalRuntime, rule.graceSeconds, workspaceId],
  );
  return r.rowCount;
}
