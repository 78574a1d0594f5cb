import type { Queryable } from '../db/port.js';

/** One activity_logs row as the A2A proxy writes it. */
export interface ActivityWrite {
  workspace_id: string;
  activity_type: string;
  source_id: string | null;
  target_id: string | null;
  method?: string;
  summary?: string;
  request_body?: unknown;
  response_body?: unknown;
  duration_ms?: number;
  status: string;
  error_detail?: string;
}

/** Inserts rows in one statement. */
export async function insertActivities(q: Queryable, rows: readonly ActivityWrite[]): Promise<void> {
  if (rows.length === 0) return;
  const cols = ['workspace_id', 'activity_type', 'source_id', 'target_id', 'method', 'summary', 'request_body', 'response_body', 'duration_ms', 'status', 'error_detail'] as const;
  const values: unknown[] = [];
  const tuples = rows.map((r, i) => {
    values.push(
      r.workspace_id,
      r.activity_type,
      r.source_id,
      r.target_id,
      r.method ?? null,
      r.summary ?? null,
      r.request_body === undefined ? null : JSON.stringify(r.request_body),
      r.response_body === undefined || r.response_body === null ? null : JSON.stringify(r.response_body),
      r.duration_ms ?? null,
      r.status,
      r.error_detail ?? null,
    );
    return `(${cols.map((_, j) => `$${i * cols.length + j + 1}`).join(', ')})`;
  });
  await q.query(`INSERT INTO activity_logs (${cols.join(', ')}) VALUES ${tuples.join(', ')}`, values);
}
