import type { EventType, PlatformEvent } from '@molecule/contracts';
import type { Queryable } from '../db/port.js';

/** Persisted events with `seq > after`, oldest first: the replay cursor for reconnecting clients. */
export async function listEventsAfter(
  q: Queryable,
  opts: { after: number; limit: number; workspaceId?: string },
): Promise<PlatformEvent[]> {
  const r = await q.query<EventRow>(
    `SELECT id, event_type, workspace_id, payload, created_at FROM structure_events
      WHERE id > $1 AND ($2::uuid IS NULL OR workspace_id = $2)
      ORDER BY id LIMIT $3`,
    [opts.after, opts.workspaceId ?? null, opts.limit],
  );
  return r.rows.map(toEvent);
}

/** One workspace's persisted events, newest first, optionally only those with `seq < before` (the next page). */
export async function listWorkspaceEvents(q: Queryable, opts: { workspaceId: string; before?: number; limit: number }): Promise<PlatformEvent[]> {
  const r = await q.query<EventRow>(
    `SELECT id, event_type, workspace_id, payload, created_at FROM structure_events
      WHERE workspace_id = $1 AND ($2::bigint IS NULL OR id < $2)
      ORDER BY id DESC LIMIT $3`,
    [opts.workspaceId, opts.before ?? null, opts.limit],
  );
  return r.rows.map(toEvent);
}

interface EventRow {
  id: number;
  event_type: EventType;
  workspace_id: string | null;
  payload: Record<string, unknown>;
  created_at: Date;
}

function toEvent(row: EventRow): PlatformEvent {
  return { type: row.event_type, workspace_id: row.workspace_id, payload: row.payload, at: new Date(row.created_at).toISOString(), seq: Number(row.id) };
}

/** Persists one event; its id is the event's `seq`. */
export async function insertEvent(q: Queryable, type: string, workspaceId: string | null, payload: Record<string, unknown>): Promise<{ id: number; created_at: Date }> {
  const r = await q.query<{ id: number; created_at: Date }>(
    `INSERT INTO structure_events (event_type, workspace_id, payload) VALUES ($1, $2, $3)
     RETURNING id, created_at`,
    [type, workspaceId, JSON.stringify(payload)],
  );
  return r.rows[0]!;
}
