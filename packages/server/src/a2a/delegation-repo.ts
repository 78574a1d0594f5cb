import { DelegationStatus } from '@molecule/contracts';
import type { Queryable } from '../db/port.js';

export interface DelegationRow {
  id: string;
  source_id: string;
  target_id: string;
  task: string;
  status: DelegationStatus;
  idempotency_key: string | null;
  queue_id: string | null;
  response_text: string | null;
  error: string | null;
  created_at: Date;
  updated_at: Date;
}

/**
 * Moves a delegation to `status`, keeping the fields not given. Undefined when there is no such
 * delegation, or it was canceled (final: a late answer of its canceled task does not complete it).
 */
export async function setDelegationStatus(
  q: Queryable,
  id: string,
  status: DelegationStatus,
  fields: { response_text?: string; error?: string; queue_id?: string } = {},
): Promise<DelegationRow | undefined> {
  const r = await q.query<DelegationRow>(
    `UPDATE delegations SET status = $2, response_text = COALESCE($3, response_text), error = COALESCE($4, error),
            queue_id = COALESCE($5::uuid, queue_id), updated_at = now()
      WHERE id = $1 AND status <> $6 RETURNING *`,
    [id, status, fields.response_text ?? null, fields.error ?? null, fields.queue_id ?? null, DelegationStatus.Canceled],
  );
  return r.rows[0];
}

/**
 * Cancels a delegation to `targetId` that has not ended; undefined when there is none (another
 * target's delegation included: an agent can only cancel what was sent to it), or it already ended.
 */
export async function cancelDelegationRow(q: Queryable, id: string, targetId: string): Promise<DelegationRow | undefined> {
  const r = await q.query<DelegationRow>(
    `UPDATE delegations SET status = $3, updated_at = now()
      WHERE id = $1 AND target_id = $2 AND NOT (status = ANY($4::text[])) RETURNING *`,
    [id, targetId, DelegationStatus.Canceled, [DelegationStatus.Completed, DelegationStatus.Failed, DelegationStatus.Canceled]],
  );
  return r.rows[0];
}

export async function getDelegation(q: Queryable, id: string): Promise<DelegationRow | undefined> {
  return (await q.query<DelegationRow>('SELECT * FROM delegations WHERE id = $1', [id])).rows[0];
}

export async function findByIdempotencyKey(q: Queryable, sourceId: string, key: string): Promise<DelegationRow | undefined> {
  return (await q.query<DelegationRow>('SELECT * FROM delegations WHERE source_id = $1 AND idempotency_key = $2', [sourceId, key])).rows[0];
}

export async function deleteDelegation(q: Queryable, id: string): Promise<void> {
  await q.query('DELETE FROM delegations WHERE id = $1', [id]);
}

/** Inserts a new delegation; undefined when a concurrent insert with the same idempotency key won, or the target does not exist. */
export async function insertDelegation(
  q: Queryable,
  d: { id: string; sourceId: string; targetId: string; task: string; status: DelegationStatus; idempotencyKey: string | null },
): Promise<DelegationRow | undefined> {
  const r = await q.query<DelegationRow>(
    `INSERT INTO delegations (id, source_id, target_id, task, status, idempotency_key)
     SELECT $1, $2, $3, $4, $5, $6 WHERE EXISTS (SELECT 1 FROM workspaces WHERE id = $3)
     ON CONFLICT (source_id, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING RETURNING *`,
    [d.id, d.sourceId, d.targetId, d.task, d.status, d.idempotencyKey],
  );
  return r.rows[0];
}

/** Inserts a delegation an agent reports having sent; undefined when its id is already taken or its target does not exist. */
export async function insertRecordedDelegation(
  q: Queryable,
  d: { id: string; sourceId: string; targetId: string; task: string; status: DelegationStatus },
): Promise<DelegationRow | undefined> {
  const r = await q.query<DelegationRow>(
    `INSERT INTO delegations (id, source_id, target_id, task, status)
     SELECT $1, $2, $3, $4, $5 WHERE EXISTS (SELECT 1 FROM workspaces WHERE id = $3)
     ON CONFLICT (id) DO NOTHING RETURNING *`,
    [d.id, d.sourceId, d.targetId, d.task, d.status],
  );
  return r.rows[0];
}

/** The source's delegations, newest first. */
export async function listDelegations(q: Queryable, sourceId: string, limit = 50): Promise<DelegationRow[]> {
  return (await q.query<DelegationRow>('SELECT * FROM delegations WHERE source_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2', [sourceId, limit])).rows;
}
