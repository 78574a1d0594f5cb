import { Status, WORKSPACE_STATUSES, type DeliveryMode, type EventType, type PeerRelation, type WorkspaceStatus } from '@molecule/contracts';
import type { Queryable } from '../db/port.js';
import type { WorkspaceRow } from '../workspaces/read.js';
import { RECOVERABLE_STATUSES } from './evaluate.js';
import { EVENT_COLUMNS, type RecordedEventColumns } from './recorded-event.js';

// Every statement below that decides from the row's current state reads it in a CTE that locks the
// row (`FOR UPDATE`) and writes it in the same statement, returning both the old and the new
// values. Under READ COMMITTED a concurrent writer waits for the lock and then sees the committed
// row, so two replicas handling beats for one workspace never decide from the same stale status.
// The event a change causes is inserted by the same statement, under the same lock, so event
// `seq` order is transition order (see recorded-event.ts).

export interface RegisterWrite {
  id: string;
  /** Empty keeps the stored URL (poll mode without a URL, C009). */
  url: string;
  agentCard: Record<string, unknown>;
  deliveryMode: DeliveryMode;
  /** Stored only when the row has no inbound secret yet (C007). */
  newInboundSecret: string;
}

export interface RegisterOutcome extends RecordedEventColumns {
  old_status: WorkspaceStatus;
  status: WorkspaceStatus;
  name: string;
  url: string;
  delivery_mode: DeliveryMode;
  platform_inbound_secret: string;
}

/**
 * The register upsert of an existing, non-removed workspace (C009, C011, C013): URL, card and
 * delivery mode; offline, provisioning and awaiting_agent become online; the inbound secret is
 * minted if missing; the heartbeat clock starts. Records, in the same statement, WORKSPACE_ONLINE
 * {url, agent_card, recovered_from?} when the workspace ends online, AGENT_CARD_UPDATED {url,
 * agent_card} otherwise. Undefined when the row is missing or removed.
 */
export async function applyRegister(q: Queryable, w: RegisterWrite): Promise<RegisterOutcome | undefined> {
  const r = await q.query<RegisterOutcome>(
    `WITH old AS (
       SELECT id, status FROM workspaces WHERE id = $1 AND status <> $2 FOR UPDATE
     ), upd AS (
       UPDATE workspaces w SET
         url = CASE WHEN $3 = '' THEN w.url ELSE $3 END,
         agent_card = $4::jsonb,
         delivery_mode = $5,
         status = CASE WHEN old.status = ANY($6::text[]::workspace_status[]) THEN $7::workspace_status ELSE old.status END,
         platform_inbound_secret = COALESCE(w.platform_inbound_secret, $8),
         last_heartbeat_at = now(),
         updated_at = now()
       FROM old WHERE w.id = old.id
       RETURNING w.id, old.status AS old_status, w.status, w.name, w.url, w.delivery_mode, w.platform_inbound_secret, w.agent_card
     ), ev AS (
       INSERT INTO structure_events (event_type, workspace_id, payload)
       SELECT CASE WHEN upd.status = $7::workspace_status THEN $9 ELSE $10 END,
              upd.id,
              jsonb_build_object('url', upd.url, 'agent_card', upd.agent_card)
                || CASE WHEN upd.status = $7::workspace_status AND upd.old_status <> upd.status
                        THEN jsonb_build_object('recovered_from', upd.old_status) ELSE '{}'::jsonb END
         FROM upd
       RETURNING id, event_type, payload, created_at
     )
     SELECT upd.old_status, upd.status, upd.name, upd.url, upd.delivery_mode, upd.platform_inbound_secret, ${EVENT_COLUMNS}
       FROM upd LEFT JOIN ev ON true`,
    [
      w.id,
      Status.Removed,
      w.url,
      JSON.stringify(w.agentCard),
      w.deliveryMode,
      RECOVERABLE_STATUSES,
      Status.Online,
      w.newInboundSecret,
      'WORKSPACE_ONLINE' satisfies EventType,
      'AGENT_CARD_UPDATED' satisfies EventType,
    ],
  );
  return r.rows[0];
}

export interface HeartbeatWrite {
  id: string;
  /** The status to move to from each status, in WORKSPACE_STATUSES order (see nextStatuses). */
  next: readonly WorkspaceStatus[];
  errorRate: number;
  activeTasks: number;
  currentTask: string;
  sampleError: string;
  /** The WORKSPACE_DEGRADED payload, should this beat degrade the workspace. */
  degradedPayload: Record<string, unknown>;
}

export interface HeartbeatOutcome extends RecordedEventColumns {
  id: string;
  old_status: WorkspaceStatus;
  status: WorkspaceStatus;
  old_current_task: string;
  platform_inbound_secret: string;
  max_concurrent_tasks: number;
}

/** Statuses whose last_sample_error is the agent's own report; a failed row keeps its failure message (C026). */
const AGENT_REPORTED: readonly WorkspaceStatus[] = [Status.Online, Status.Degraded, ...RECOVERABLE_STATUSES];

/**
 * Heartbeats for distinct workspaces, one statement for all of them. Per row it records the beat,
 * moves the locked row to `next[position of its current status]`, mints the inbound secret if
 * missing (C006), and on a transition records WORKSPACE_DEGRADED (`degradedPayload`) or
 * WORKSPACE_ONLINE ({} from degraded, {recovered_from} from offline, provisioning or
 * awaiting_agent). Rows are locked in id order, so two replicas' batches never deadlock. Returns
 * the outcome per workspace id; a missing or removed workspace has none (C013).
 */
export async function applyHeartbeats(
  q: Queryable,
  beats: readonly HeartbeatWrite[],
  mintSecret: () => string,
): Promise<Map<string, HeartbeatOutcome>> {
  const col = <T>(f: (b: HeartbeatWrite) => T) => beats.map(f);
  const r = await q.query<HeartbeatOutcome>(
    `WITH b AS (
       SELECT x.id::uuid AS id, x.next, x.error_rate::float8 AS error_rate, x.active_tasks::int AS active_tasks,
              x.current_task, x.sample_error, x.secret, x.degraded::jsonb AS degraded
         FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[])
           AS x(id, next, error_rate, active_tasks, current_task, sample_error, secret, degraded)
     ), old AS (
       SELECT w.id, w.status, w.current_task FROM workspaces w JOIN b ON b.id = w.id
        WHERE w.status <> $9 ORDER BY w.id FOR UPDATE OF w
     ), upd AS (
       UPDATE workspaces w SET
         -- b.next lists the status to move to from each status, in the order of $10.
         status = split_part(b.next, ',', array_position($10::text[], old.status::text))::workspace_status,
         error_rate = b.error_rate,
         active_tasks = b.active_tasks,
         current_task = b.current_task,
         last_sample_error = CASE WHEN old.status = ANY($11::text[]::workspace_status[]) THEN b.sample_error ELSE w.last_sample_error END,
         platform_inbound_secret = COALESCE(w.platform_inbound_secret, b.secret),
         last_heartbeat_at = now(),
         updated_at = now()
       FROM old JOIN b ON b.id = old.id
       WHERE w.id = old.id
       RETURNING w.id, old.status AS old_status, w.status, old.current_task AS old_current_task, w.platform_inbound_secret, w.max_concurrent_tasks, b.degraded
     ), ev AS (
       INSERT INTO structure_events (event_type, workspace_id, payload)
       SELECT CASE WHEN upd.status = $12::workspace_status THEN $13 ELSE $14 END,
              upd.id,
              CASE WHEN upd.status = $12::workspace_status THEN upd.degraded ELSE '{}'::jsonb END
                || CASE WHEN upd.old_status = ANY($15::text[]::workspace_status[])
                        THEN jsonb_build_object('recovered_from', upd.old_status) ELSE '{}'::jsonb END
         FROM upd WHERE upd.status <> upd.old_status
       RETURNING id, workspace_id, event_type, payload, created_at
     )
     SELECT upd.id, upd.old_status, upd.status, upd.old_current_task, upd.platform_inbound_secret, upd.max_concurrent_tasks, ${EVENT_COLUMNS}
       FROM upd LEFT JOIN ev ON ev.workspace_id = upd.id`,
    [
      col((b) => b.id),
      col((b) => b.next.join(',')),
      col((b) => String(b.errorRate)),
      col((b) => String(b.activeTasks)),
      col((b) => b.currentTask),
      col((b) => b.sampleError),
      col(() => mintSecret()),
      col((b) => JSON.stringify(b.degradedPayload)),
      Status.Removed,
      WORKSPACE_STATUSES,
      AGENT_REPORTED,
      Status.Degraded,
      'WORKSPACE_DEGRADED' satisfies EventType,
      'WORKSPACE_ONLINE' satisfies EventType,
      RECOVERABLE_STATUSES,
    ],
  );
  return new Map(r.rows.map((row) => [row.id, row]));
}

/** Replaces the agent card of a non-removed workspace; false when missing or removed. */
/** A beat the write-behind path answered from memory, to be written while the row keeps `expected`. */
export interface DeferredBeatWrite {
  id: string;
  /** The status the beat was evaluated against (online or degraded); it changed nothing. */
  expected: WorkspaceStatus;
  errorRate: number;
  activeTasks: number;
  currentTask: string;
  sampleError: string;
}

/**
 * The write-behind flush: one statement for every beat of a tick that changed no status. A row is
 * written only while its status is still `expected` (the beat was evaluated against it); the ids
 * written come back, and a beat whose row moved meanwhile is the caller's to apply again with
 * `applyHeartbeats`. Rows are locked in id order, as there. `tokenIds` get their `last_used_at`
 * refreshed in the same statement (the beats' tokens were checked from memory).
 */
export async function writeDeferredBeats(q: Queryable, beats: readonly DeferredBeatWrite[], tokenIds: readonly string[]): Promise<Set<string>> {
  const col = <T>(f: (b: DeferredBeatWrite) => T) => beats.map(f);
  const r = await q.query<{ id: string }>(
    `WITH b AS (
       SELECT x.id::uuid AS id, x.expected, x.error_rate::float8 AS error_rate, x.active_tasks::int AS active_tasks, x.current_task, x.sample_error
         FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[])
           AS x(id, expected, error_rate, active_tasks, current_task, sample_error)
     ), locked AS (
       SELECT w.id FROM workspaces w JOIN b ON b.id = w.id
        WHERE w.status::text = b.expected ORDER BY w.id FOR UPDATE OF w
     ), used AS (
       UPDATE workspace_auth_tokens t SET last_used_at = now()
        WHERE t.id = ANY($7::uuid[]) AND t.revoked_at IS NULL
     )
     UPDATE workspaces w SET
       error_rate = b.error_rate,
       active_tasks = b.active_tasks,
       current_task = b.current_task,
       last_sample_error = b.sample_error,
       last_heartbeat_at = now(),
       updated_at = now()
     FROM locked JOIN b ON b.id = locked.id
     WHERE w.id = locked.id AND w.status::text = b.expected
     RETURNING w.id`,
    [
      col((b) => b.id),
      col((b) => b.expected),
      col((b) => String(b.errorRate)),
      col((b) => String(b.activeTasks)),
      col((b) => b.currentTask),
      col((b) => b.sampleError),
      [...tokenIds],
    ],
  );
  return new Set(r.rows.map((row) => row.id));
}

export async function updateAgentCard(q: Queryable, id: string, card: Record<string, unknown>): Promise<boolean> {
  const r = await q.query(
    'UPDATE workspaces SET agent_card = $2::jsonb, updated_at = now() WHERE id = $1 AND status <> $3',
    [id, JSON.stringify(card), Status.Removed],
  );
  return r.rowCount > 0;
}

export type PeerRow = WorkspaceRow & { relation: PeerRelation };

/**
 * The parent, siblings (same parent; every other root when `id` is a root) and children of `id`,
 * removed workspaces excluded (C225). Each branch is an indexed lookup on parent_id or id.
 */
export async function listPeers(q: Queryable, id: string): Promise<PeerRow[]> {
  const r = await q.query<PeerRow>(
    `WITH me AS (SELECT id, parent_id FROM workspaces WHERE id = $1)
     SELECT 'parent' AS relation, 0 AS rank, w.* FROM workspaces w JOIN me ON w.id = me.parent_id
      WHERE w.status <> $2
     UNION ALL
     SELECT 'sibling' AS relation, 1 AS rank, w.* FROM workspaces w JOIN me ON w.parent_id = me.parent_id AND w.id <> me.id
      WHERE w.status <> $2
     UNION ALL
     SELECT 'sibling' AS relation, 1 AS rank, w.* FROM workspaces w JOIN me ON me.parent_id IS NULL AND w.parent_id IS NULL AND w.id <> me.id
      WHERE w.status <> $2
     UNION ALL
     SELECT 'child' AS relation, 2 AS rank, w.* FROM workspaces w JOIN me ON w.parent_id = me.id
      WHERE w.status <> $2
     ORDER BY rank, created_at, id`,
    [id, Status.Removed],
  );
  return r.rows;
}
