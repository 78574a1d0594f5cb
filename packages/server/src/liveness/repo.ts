import { Status, type EventType, type WorkspaceStatus } from '@molecule/contracts';
import type { Queryable } from '../db/port.js';
import { EVENT_COLUMNS, type RecordedEventColumns } from '../registry/recorded-event.js';

/** Ids of workspaces whose liveness is tracked: those an agent keeps alive (online, degraded). */
export async function listLiveIds(q: Queryable): Promise<string[]> {
  const r = await q.query<{ id: string }>('SELECT id FROM workspaces WHERE status = ANY($1::text[]::workspace_status[])', [
    [Status.Online, Status.Degraded],
  ]);
  return r.rows.map((x) => x.id);
}

export interface ExpiryOutcome extends RecordedEventColumns {
  id: string;
  status: WorkspaceStatus;
}

/**
 * Liveness expiry (C178): one statement flips an online or degraded workspace to awaiting_agent
 * (external runtime) or offline (every other runtime) and records WORKSPACE_AWAITING_AGENT {name,
 * external, reason} or WORKSPACE_OFFLINE {reason} with it. A beat recorded within `quietSeconds`
 * means a replica heard from the agent after the deadline was claimed, so the row is left alone.
 */
export async function expireLiveness(q: Queryable, id: string, externalRuntime: string, quietSeconds: number, reason: string): Promise<ExpiryOutcome | undefined> {
  const r = await q.query<ExpiryOutcome>(
    `WITH upd AS (
       UPDATE workspaces SET
         status = CASE WHEN runtime = $2 THEN $3::workspace_status ELSE $4::workspace_status END,
         updated_at = now()
       WHERE id = $1 AND status = ANY($5::text[]::workspace_status[])
         AND (last_heartbeat_at IS NULL OR last_heartbeat_at < now() - make_interval(secs => $6))
       RETURNING id, name, status
     ), ev AS (
       INSERT INTO structure_events (event_type, workspace_id, payload)
       SELECT CASE WHEN upd.status = $3::workspace_status THEN $7 ELSE $8 END,
              upd.id,
              CASE WHEN upd.status = $3::workspace_status
                   THEN jsonb_build_object('name', upd.name, 'external', true, 'reason', $9::text)
                   ELSE jsonb_build_object('reason', $9::text) END
         FROM upd
       RETURNING id, event_type, payload, created_at
     )
     SELECT upd.id, upd.status, ${EVENT_COLUMNS} FROM upd LEFT JOIN ev ON true`,
    [
      id,
      externalRuntime,
      Status.AwaitingAgent,
      Status.Offline,
      [Status.Online, Status.Degraded],
      quietSeconds,
      'WORKSPACE_AWAITING_AGENT' satisfies EventType,
      'WORKSPACE_OFFLINE' satisfies EventType,
      reason,
    ],
  );
  return r.rows[0];
}
