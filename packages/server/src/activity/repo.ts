import { randomUUID } from 'node:crypto';
import { ACTIVITY_STATUS_OK, ACTIVITY_STATUS_QUEUED, type ActivitySource, type ActivityType } from '@molecule/contracts';
import type { Queryable } from '../db/port.js';

/** One activity row to write. Only `workspace_id` and `activity_type` are required. */
export interface ActivityInsert {
  /** The workspace whose log the row belongs to (the caller's for a2a_send, the target's for a2a_receive). */
  workspace_id: string;
  activity_type: ActivityType;
  /** The workspace that acted; null for the canvas / a user. */
  source_id?: string | null;
  target_id?: string | null;
  method?: string | null;
  summary?: string | null;
  /** Any JSON value; null or undefined stores NULL. */
  request_body?: unknown;
  response_body?: unknown;
  tool_trace?: unknown;
  duration_ms?: number | null;
  /** Defaults to `ok`. */
  status?: string | null;
  error_detail?: string | null;
}

/** An activity row as stored. `created_at` is RFC 3339 UTC with microseconds (the column's precision). */
export interface ActivityRow {
  id: string;
  workspace_id: string;
  activity_type: string;
  source_id: string | null;
  target_id: string | null;
  method: string | null;
  summary: string | null;
  request_body: unknown;
  response_body: unknown;
  tool_trace: unknown;
  duration_ms: number | null;
  status: string;
  error_detail: string | null;
  created_at: string;
}

/**
 * Microsecond timestamps: a millisecond-rounded created_at handed back as before_ts would skip the
 * other rows of that millisecond.
 */
const SELECT_COLUMNS = `id, workspace_id, activity_type, source_id, target_id, method, summary, request_body,
  response_body, tool_trace, duration_ms, status, error_detail,
  to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS created_at`;

const RECORD_COLUMNS = `id uuid, workspace_id uuid, activity_type text, source_id uuid, target_id uuid, method text,
  summary text, request_body jsonb, response_body jsonb, tool_trace jsonb, duration_ms integer, status text, error_detail text`;

/**
 * JSON escapes PostgreSQL refuses in text and jsonb: NUL, and the lone surrogate halves
 * JSON.stringify escapes. An escape is real only when preceded by an even number of backslashes.
 */
const UNSTORABLE_ESCAPE = /(?<!\\)((?:\\\\)*)\\u(?:0000|d[89a-f][0-9a-f]{2})/g;

/** Serialises rows for `jsonb_to_recordset`, replacing what PostgreSQL cannot store with U+FFFD. */
export function recordsetJson(rows: readonly Record<string, unknown>[]): string {
  return JSON.stringify(rows).replace(UNSTORABLE_ESCAPE, '$1\\ufffd');
}

const present = (v: unknown) => v !== undefined && v !== null;

/**
 * Writes the rows in one multi-row INSERT (one round trip, one transaction: all or none) and
 * returns them as stored, in the order given. Text and JSON the database cannot hold (NUL, lone
 * surrogates) are stored as U+FFFD rather than failing the write.
 */
export async function insertActivities(q: Queryable, rows: readonly ActivityInsert[]): Promise<ActivityRow[]> {
  if (rows.length === 0) return [];
  const records = rows.map((r) => {
    const rec: Record<string, unknown> = { id: randomUUID(), workspace_id: r.workspace_id, activity_type: r.activity_type };
    for (const k of ['source_id', 'target_id', 'method', 'summary', 'request_body', 'response_body', 'tool_trace', 'duration_ms', 'error_detail'] as const) {
      if (present(r[k])) rec[k] = r[k];
    }
    rec.status = present(r.status) && r.status !== '' ? r.status : ACTIVITY_STATUS_OK;
    return rec;
  });
  const res = await q.query<ActivityRow>(
    `INSERT INTO activity_logs (id, workspace_id, activity_type, source_id, target_id, method, summary, request_body,
                                response_body, tool_trace, duration_ms, status, error_detail)
     SELECT id, workspace_id, activity_type, source_id, target_id, method, summary, request_body,
            response_body, tool_trace, duration_ms, status, error_detail
       FROM jsonb_to_recordset($1::jsonb) AS x(${RECORD_COLUMNS})
     RETURNING ${SELECT_COLUMNS}`,
    [recordsetJson(records)],
  );
  const byId = new Map(res.rows.map((r) => [r.id, r]));
  return records.map((r) => byId.get(r.id as string)!);
}

/** The filters of `GET /workspaces/:id/activity` (C086), already validated. All compose with AND. */
export interface ActivityFilter {
  workspaceId: string;
  type?: ActivityType;
  source?: ActivitySource;
  limit: number;
  /** Rows created at most this many seconds ago (C087). */
  sinceSecs?: number;
  /** Rows strictly after this row of the same workspace, oldest first (C088). */
  sinceId?: string;
  /** Rows where this workspace is the source or the target (C090). */
  peerId?: string;
  /** Rows created strictly before this RFC 3339 instant (C091). */
  beforeTs?: string;
}

/** Whether `id` is a row of this workspace's log: the since_id cursor is scoped to the path workspace (C089). */
export async function cursorExists(q: Queryable, workspaceId: string, id: string): Promise<boolean> {
  const r = await q.query('SELECT 1 FROM activity_logs WHERE id = $1 AND workspace_id = $2', [id, workspaceId]);
  return r.rowCount > 0;
}

/**
 * The statement behind `listActivity`. Without a cursor: the most recent rows, newest first; with
 * one: the rows after it, oldest first, so paging forward never skips. Ties on created_at are
 * broken by id both ways (C094). Every value is a bound parameter.
 */
export function listActivityQuery(f: ActivityFilter): { sql: string; params: unknown[] } {
  const params: unknown[] = [f.workspaceId];
  const where = ['workspace_id = $1'];
  const bind = (v: unknown) => {
    params.push(v);
    return `$${params.length}`;
  };
  if (f.type !== undefined) where.push(`activity_type = ${bind(f.type)}`);
  if (f.source === 'canvas') where.push('source_id IS NULL');
  if (f.source === 'agent') where.push('source_id IS NOT NULL');
  if (f.sinceSecs !== undefined) where.push(`created_at >= now() - make_interval(secs => ${bind(f.sinceSecs)})`);
  if (f.peerId !== undefined) {
    // Two equality arms, so the planner can BitmapOr the two partial indexes (C092).
    const p = bind(f.peerId);
    where.push(`(source_id = ${p} OR target_id = ${p})`);
  }
  if (f.beforeTs !== undefined) where.push(`created_at < ${bind(f.beforeTs)}::timestamptz`);
  if (f.sinceId !== undefined) {
    where.push(`(created_at, id) > (SELECT c.created_at, c.id FROM activity_logs c WHERE c.id = ${bind(f.sinceId)} AND c.workspace_id = $1)`);
  }
  const dir = f.sinceId !== undefined ? 'ASC' : 'DESC';
  return {
    sql: `SELECT ${SELECT_COLUMNS} FROM activity_logs WHERE ${where.join(' AND ')}
           ORDER BY activity_logs.created_at ${dir}, id ${dir} LIMIT ${bind(f.limit)}`,
    params,
  };
}

/** Lists a workspace's activity (see `listActivityQuery`). */
export async function listActivity(q: Queryable, f: ActivityFilter): Promise<ActivityRow[]> {
  const { sql, params } = listActivityQuery(f);
  return (await q.query<ActivityRow>(sql, params)).rows;
}

/**
 * Deletes one batch of rows older than the retention window, walking workspace by workspace so
 * each probe uses the (workspace_id, created_at, id) index instead of scanning the table.
 * Returns how many rows went.
 */
export async function purgeActivityBatch(q: Queryable, retentionDays: number, batchSize: number): Promise<number> {
  const r = await q.query(
    `DELETE FROM activity_logs WHERE id IN (
       SELECT old.id FROM workspaces w
        CROSS JOIN LATERAL (
          SELECT a.id FROM activity_logs a
           WHERE a.workspace_id = w.id AND a.created_at < now() - make_interval(days => $1)
           LIMIT $2
        ) old
        LIMIT $2)`,
    [retentionDays, batchSize],
  );
  return r.rowCount;
}

/** The activity type of a message the proxy recorded for a workspace (the poll inbox's rows). */
const RECEIVED: ActivityType = 'a2a_receive';

/**
 * The poll inbox (C274): a workspace's `a2a_receive` rows still `queued` (nobody answered them),
 * oldest first, after the `sinceId` row of the same workspace when given.
 */
export async function listQueuedReceived(q: Queryable, workspaceId: string, opts: { sinceId?: string; limit: number }): Promise<ActivityRow[]> {
  const params: unknown[] = [workspaceId, opts.limit, RECEIVED, ACTIVITY_STATUS_QUEUED];
  let after = '';
  if (opts.sinceId !== undefined) {
    params.push(opts.sinceId);
    after = `AND (created_at, id) > (SELECT c.created_at, c.id FROM activity_logs c WHERE c.id = $5 AND c.workspace_id = $1)`;
  }
  const r = await q.query<ActivityRow>(
    `SELECT ${SELECT_COLUMNS} FROM activity_logs
      WHERE workspace_id = $1 AND activity_type = $3 AND status = $4 ${after}
      ORDER BY activity_logs.created_at ASC, id ASC LIMIT $2`,
    params,
  );
  return r.rows;
}

/** One `a2a_receive` row of this workspace, whatever its status; undefined when it is not one. */
export async function getReceived(q: Queryable, workspaceId: string, id: string): Promise<ActivityRow | undefined> {
  const r = await q.query<ActivityRow>(`SELECT ${SELECT_COLUMNS} FROM activity_logs WHERE id = $1 AND workspace_id = $2 AND activity_type = $3`, [id, workspaceId, RECEIVED]);
  return r.rows[0];
}

/**
 * Answers a queued `a2a_receive` row once: status `ok`, the answer stored as its response body,
 * the time since it was recorded as its duration. Undefined when the row is not this workspace's
 * queued row (already answered, or never one), and nothing changes then.
 */
export async function answerReceived(q: Queryable, workspaceId: string, id: string, responseBody: unknown): Promise<ActivityRow | undefined> {
  const r = await q.query<ActivityRow>(
    `UPDATE activity_logs
        SET status = $4, response_body = $3::jsonb,
            duration_ms = LEAST(2147483647, GREATEST(0, (extract(epoch FROM (clock_timestamp() - created_at)) * 1000)::bigint))::integer
      WHERE id = $1 AND workspace_id = $2 AND activity_type = $5 AND status = $6
      RETURNING ${SELECT_COLUMNS}`,
    [id, workspaceId, JSON.stringify(responseBody ?? null).replace(UNSTORABLE_ESCAPE, '$1\\ufffd'), ACTIVITY_STATUS_OK, RECEIVED, ACTIVITY_STATUS_QUEUED],
  );
  return r.rows[0];
}
