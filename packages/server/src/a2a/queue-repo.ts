import { A2A_IDEMPOTENT_MESSAGES_EXTENSION, QueueStatus } from '@molecule/contracts';
import type { Queryable } from '../db/port.js';

/** Attempts (deliveries that failed, not busy refusals) before an item is given up (`failed`). */
export const MAX_QUEUE_ATTEMPTS = 5;
/** Priority of ordinary messages; higher drains first. */
export const PRIORITY_TASK = 50;

export interface QueueRow {
  id: string;
  workspace_id: string;
  caller_id: string | null;
  message_id: string;
  method: string;
  body: Record<string, unknown>;
  priority: number;
  status: QueueStatus;
  attempts: number;
  last_error: string | null;
  response_status: number | null;
  response_body: unknown;
  delegation_id: string | null;
  expires_at: Date | null;
  created_at: Date;
  updated_at: Date;
  dispatched_at: Date | null;
  /** The platform process that claimed it (its `platform_instances` id). */
  dispatched_by: string | null;
  completed_at: Date | null;
}

export interface NewQueueItem {
  workspaceId: string;
  callerId: string | null;
  messageId: string;
  method: string;
  body: Record<string, unknown>;
  delegationId: string | null;
  expiresInSeconds: number | undefined;
}

/**
 * Queues one message, idempotent on (target, messageId) (C058): a message already known returns
 * the existing row (`created: false`), whatever its status, so a retry is never a second delivery.
 * `depth` counts the target's queued items including this one.
 */
export async function enqueue(q: Queryable, item: NewQueueItem): Promise<{ row: QueueRow; created: boolean; depth: number }> {
  const ins = await q.query<QueueRow>(
    `INSERT INTO a2a_queue (workspace_id, caller_id, message_id, method, body, priority, status, delegation_id, expires_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, CASE WHEN $9::integer IS NULL THEN NULL ELSE now() + make_interval(secs => $9::integer) END)
     ON CONFLICT (workspace_id, message_id) DO NOTHING
     RETURNING *`,
    [item.workspaceId, item.callerId, item.messageId, item.method, JSON.stringify(item.body), PRIORITY_TASK, QueueStatus.Queued, item.delegationId, item.expiresInSeconds ?? null],
  );
  let row = ins.rows[0];
  const created = row !== undefined;
  if (!row) {
    row = (await q.query<QueueRow>('SELECT * FROM a2a_queue WHERE workspace_id = $1 AND message_id = $2', [item.workspaceId, item.messageId])).rows[0];
    if (!row) throw new Error('queue row vanished between insert and select');
  }
  const depth = await q.query<{ n: number }>('SELECT count(*)::int AS n FROM a2a_queue WHERE workspace_id = $1 AND status = $2', [item.workspaceId, QueueStatus.Queued]);
  return { row, created, depth: depth.rows[0]!.n };
}

/**
 * Takes the next deliverable item of one target: highest priority, then oldest, never an expired
 * one (C062), and none queued less than `minAgeSeconds` ago. `FOR UPDATE SKIP LOCKED` lets every replica drain at once without two of them
 * taking the same item.
 */
export async function claimNext(q: Queryable, workspaceId: string, instanceId: string, minAgeSeconds = 0): Promise<QueueRow | undefined> {
  // The claim names this process and marks it alive in the same statement, so no sweep can take
  // a fresh claim for an orphan before the process's first beacon.
  const r = await q.query<QueueRow>(
    `WITH me AS (
       INSERT INTO platform_instances (id) VALUES ($4) ON CONFLICT (id) DO UPDATE SET seen_at = now()
     )
     UPDATE a2a_queue SET status = $2, dispatched_at = now(), dispatched_by = $4, updated_at = now()
      WHERE id = (
        SELECT id FROM a2a_queue
         WHERE workspace_id = $1 AND status = $3 AND (expires_at IS NULL OR expires_at > now())
           AND created_at <= now() - make_interval(secs => $5)
         ORDER BY priority DESC, created_at, id
         LIMIT 1
         FOR UPDATE SKIP LOCKED)
     RETURNING *`,
    [workspaceId, QueueStatus.Dispatched, QueueStatus.Queued, instanceId, minAgeSeconds],
  );
  return r.rows[0];
}

/** A delivered item: the agent's answer is kept for the status lookup (C063). */
export async function completeItem(q: Queryable, id: string, responseStatus: number, responseBody: unknown): Promise<QueueRow | undefined> {
  const r = await q.query<QueueRow>(
    `UPDATE a2a_queue SET status = $2, response_status = $3, response_body = $4, completed_at = now(), updated_at = now()
      WHERE id = $1 AND status = $5 RETURNING *`,
    [id, QueueStatus.Completed, responseStatus, responseBody === undefined ? null : JSON.stringify(responseBody), QueueStatus.Dispatched],
  );
  return r.rows[0];
}

/**
 * Puts a taken item back. A busy refusal does not count as an attempt; a failed delivery does, and
 * after MAX_QUEUE_ATTEMPTS the item is `failed` with the reason. Returns the new status.
 */
export async function releaseItem(q: Queryable, id: string, opts: { countAttempt: boolean; error?: string }): Promise<QueueStatus | undefined> {
  const r = await q.query<{ status: QueueStatus }>(
    `UPDATE a2a_queue
        SET attempts = attempts + $2::integer,
            status = CASE WHEN attempts + $2::integer >= $3 THEN $4 ELSE $5 END,
            last_error = COALESCE($6, last_error),
            completed_at = CASE WHEN attempts + $2::integer >= $3 THEN now() ELSE NULL END,
            updated_at = now()
      WHERE id = $1 AND status = $7
      RETURNING status`,
    [id, opts.countAttempt ? 1 : 0, MAX_QUEUE_ATTEMPTS, QueueStatus.Failed, QueueStatus.Queued, opts.error ?? null, QueueStatus.Dispatched],
  );
  return r.rows[0]?.status;
}

/** Gives an item up at once (the target was removed, the request can never succeed). */
export async function failItem(q: Queryable, id: string, error: string): Promise<void> {
  await q.query(`UPDATE a2a_queue SET status = $2, last_error = $3, completed_at = now(), updated_at = now() WHERE id = $1 AND status = ANY($4::text[])`, [
    id,
    QueueStatus.Failed,
    error,
    [QueueStatus.Queued, QueueStatus.Dispatched],
  ]);
}

/** The queue item carrying this message for this target, if any (the idempotency lookup, C058). */
export async function findByMessage(q: Queryable, workspaceId: string, messageId: string): Promise<QueueRow | undefined> {
  return (await q.query<QueueRow>('SELECT * FROM a2a_queue WHERE workspace_id = $1 AND message_id = $2', [workspaceId, messageId])).rows[0];
}

export async function getItem(q: Queryable, id: string): Promise<QueueRow | undefined> {
  return (await q.query<QueueRow>('SELECT * FROM a2a_queue WHERE id = $1', [id])).rows[0];
}

/** Targets with deliverable items (for the periodic drain). */
export async function targetsWithQueued(q: Queryable, limit = 500): Promise<string[]> {
  const r = await q.query<{ workspace_id: string }>(
    `SELECT DISTINCT workspace_id FROM a2a_queue WHERE status = $1 AND (expires_at IS NULL OR expires_at > now()) LIMIT $2`,
    [QueueStatus.Queued, limit],
  );
  return r.rows.map((x) => x.workspace_id);
}

/** Targets with any queue item still retained (their messageIds are still deduplicated). */
export async function targetsWithItems(q: Queryable): Promise<string[]> {
  const r = await q.query<{ workspace_id: string }>('SELECT DISTINCT workspace_id FROM a2a_queue');
  return r.rows.map((x) => x.workspace_id);
}

/** This platform process is alive (its beacon, every few seconds while it runs). */
export async function touchInstance(q: Queryable, instanceId: string): Promise<void> {
  await q.query('INSERT INTO platform_instances (id) VALUES ($1) ON CONFLICT (id) DO UPDATE SET seen_at = now()', [instanceId]);
}

/** What re-sending an interrupted delivery is recorded as. */
export const RESENT_AFTER_CRASH = 'delivery was interrupted (its platform process stopped); re-sent, the agent deduplicates by messageId';
export const FAILED_AFTER_CRASH = 'delivery was interrupted (its platform process stopped); not re-sent: the agent may have received it and does not declare idempotent messageIds';

/**
 * Housekeeping, one pass: queued items past their expiry become `expired`; deliveries interrupted
 * by their process's end (no sign of it for `deadAfterSeconds`, or dispatched longer than
 * `stuckSeconds`) are re-sent (`queued` again) when the target's card declares idempotent
 * messageIds, and `failed` otherwise, since such an agent may already have the message; finished
 * items older than `retentionSeconds` are deleted, which also ends their messageId's idempotency
 * window, as are processes not seen for as long.
 */
export async function queueHousekeeping(
  q: Queryable,
  opts: { stuckSeconds: number; deadAfterSeconds: number; retentionSeconds: number },
): Promise<{ expired: number; resent: number; stuck: number; purged: number }> {
  const expired = await q.query(
    `UPDATE a2a_queue SET status = $1, completed_at = now(), updated_at = now() WHERE status = $2 AND expires_at <= now()`,
    [QueueStatus.Expired, QueueStatus.Queued],
  );
  const interrupted = `a.status = $1 AND (a.dispatched_at < now() - make_interval(secs => $2::integer)
      OR NOT EXISTS (SELECT 1 FROM platform_instances i WHERE i.id = a.dispatched_by AND i.seen_at > now() - make_interval(secs => $3::integer)))`;
  const idempotent = `COALESCE(w.agent_card -> 'capabilities' -> 'extensions', '[]'::jsonb) @> jsonb_build_array(jsonb_build_object('uri', $4::text))`;
  const resent = await q.query(
    `UPDATE a2a_queue a SET status = $5, dispatched_at = NULL, dispatched_by = NULL, last_error = $6, updated_at = now()
       FROM workspaces w WHERE w.id = a.workspace_id AND ${interrupted} AND ${idempotent}`,
    [QueueStatus.Dispatched, opts.stuckSeconds, opts.deadAfterSeconds, A2A_IDEMPOTENT_MESSAGES_EXTENSION, QueueStatus.Queued, RESENT_AFTER_CRASH],
  );
  const stuck = await q.query(
    `UPDATE a2a_queue a SET status = $5, last_error = $6, completed_at = now(), updated_at = now()
       FROM workspaces w WHERE w.id = a.workspace_id AND ${interrupted} AND NOT (${idempotent})`,
    [QueueStatus.Dispatched, opts.stuckSeconds, opts.deadAfterSeconds, A2A_IDEMPOTENT_MESSAGES_EXTENSION, QueueStatus.Failed, FAILED_AFTER_CRASH],
  );
  const purged = await q.query(
    `DELETE FROM a2a_queue WHERE status <> ALL($1::text[]) AND updated_at < now() - make_interval(secs => $2::integer)`,
    [[QueueStatus.Queued, QueueStatus.Dispatched], opts.retentionSeconds],
  );
  await q.query('DELETE FROM platform_instances WHERE seen_at < now() - make_interval(secs => $1::integer)', [opts.retentionSeconds]);
  return { expired: expired.rowCount, resent: resent.rowCount, stuck: stuck.rowCount, purged: purged.rowCount };
}

/** Admin: queued items older than `olderThanSeconds` become `dropped`. Returns how many. */
export async function dropStale(q: Queryable, olderThanSeconds: number, workspaceId?: string): Promise<number> {
  const r = await q.query(
    `UPDATE a2a_queue SET status = $1, last_error = $2, completed_at = now(), updated_at = now()
      WHERE status = $3 AND created_at < now() - make_interval(secs => $4::integer) AND ($5::uuid IS NULL OR workspace_id = $5::uuid)`,
    [QueueStatus.Dropped, 'dropped by an administrator', QueueStatus.Queued, olderThanSeconds, workspaceId ?? null],
  );
  return r.rowCount;
}
