import { Status, type WorkspaceStatus, type WorkspaceView } from '@molecule/contracts';
import type { Queryable } from '../db/port.js';
import { iso } from '../db/time.js';

/** A workspace row as stored (secrets included); `toView` strips what clients never see. */
export interface WorkspaceRow {
  id: string;
  name: string;
  role: string | null;
  parent_id: string | null;
  runtime: string;
  template: string | null;
  model: string | null;
  tier: number;
  status: WorkspaceStatus;
  url: string;
  delivery_mode: 'push' | 'poll';
  agent_card: unknown;
  current_task: string;
  error_rate: number;
  last_sample_error: string;
  last_heartbeat_at: Date | null;
  active_tasks: number;
  max_concurrent_tasks: number;
  budget_limit: number | null;
  hibernation_idle_minutes: number | null;
  instance_id: string | null;
  runtime_image_digest: string | null;
  platform_inbound_secret: string | null;
  created_at: Date;
  updated_at: Date;
  removed_at: Date | null;
  canvas_x: number | null;
  canvas_y: number | null;
  restart_pending: boolean;
}


export function toView(r: WorkspaceRow): WorkspaceView {
  return {
    id: r.id,
    name: r.name,
    role: r.role && r.role.length > 0 ? r.role : null,
    parent_id: r.parent_id,
    runtime: r.runtime,
    template: r.template,
    model: r.model,
    tier: r.tier,
    status: r.status,
    url: r.url,
    delivery_mode: r.delivery_mode,
    agent_card: r.agent_card ?? null,
    current_task: r.current_task,
    active_tasks: r.active_tasks,
    max_concurrent_tasks: r.max_concurrent_tasks,
    last_error_rate: r.error_rate,
    last_sample_error: r.last_sample_error,
    last_heartbeat_at: iso(r.last_heartbeat_at),
    budget_limit: r.budget_limit,
    hibernation_idle_minutes: r.hibernation_idle_minutes,
    instance_id: r.instance_id,
    runtime_image_digest: r.runtime_image_digest,
    created_at: iso(r.created_at)!,
    updated_at: iso(r.updated_at)!,
    removed_at: iso(r.removed_at),
    x: r.canvas_x ?? null,
    y: r.canvas_y ?? null,
    restart_pending: r.restart_pending ?? false,
  };
}

export interface NewWorkspace {
  name: string;
  role: string | null;
  parent_id: string | null;
  runtime: string;
  template: string | null;
  model: string | null;
  tier: number;
  status: WorkspaceStatus;
  delivery_mode: 'push' | 'poll';
  budget_limit: number | null;
  max_concurrent_tasks: number;
  hibernation_idle_minutes: number | null;
}

/**
 * Inserts a workspace. One statement shape whatever the caller supplied: every column, budget_limit
 * and max_concurrent_tasks included, is written explicitly (C163).
 */
export async function insertWorkspace(q: Queryable, w: NewWorkspace): Promise<WorkspaceRow> {
  const r = await q.query<WorkspaceRow>(
    `INSERT INTO workspaces
       (name, role, parent_id, runtime, template, model, tier, status, delivery_mode, budget_limit, max_concurrent_tasks, hibernation_idle_minutes)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
     RETURNING *`,
    [w.name, w.role, w.parent_id, w.runtime, w.template, w.model, w.tier, w.status, w.delivery_mode, w.budget_limit, w.max_concurrent_tasks, w.hibernation_idle_minutes],
  );
  return r.rows[0]!;
}

export async function getWorkspace(q: Queryable, id: string): Promise<WorkspaceRow | undefined> {
  const r = await q.query<WorkspaceRow>('SELECT * FROM workspaces WHERE id = $1', [id]);
  return r.rows[0];
}

export async function listWorkspaces(q: Queryable, includeRemoved: boolean): Promise<WorkspaceRow[]> {
  const r = await q.query<WorkspaceRow>(
    `SELECT * FROM workspaces WHERE ($1 OR status <> $2) ORDER BY created_at, id`,
    [includeRemoved, Status.Removed],
  );
  return r.rows;
}

/**
 * Moves a workspace to `status` unless it is removed: a removed row is never resurrected (C013).
 * Returns the updated row, or undefined when nothing changed.
 */
export async function setStatus(
  q: Queryable,
  id: string,
  status: WorkspaceStatus,
  lastSampleError?: string,
): Promise<WorkspaceRow | undefined> {
  const r = await q.query<WorkspaceRow>(
    `UPDATE workspaces
        SET status = $2, last_sample_error = COALESCE($3, last_sample_error), updated_at = now()
      WHERE id = $1 AND status <> $4
      RETURNING *`,
    [id, status, lastSampleError ?? null, Status.Removed],
  );
  return r.rows[0];
}

export async function updateFields(
  q: Queryable,
  id: string,
  fields: { name?: string; role?: string | null; parent_id?: string | null; hibernation_idle_minutes?: number | null; x?: number | null; y?: number | null },
): Promise<WorkspaceRow | undefined> {
  const r = await q.query<WorkspaceRow>(
    `UPDATE workspaces SET
        name = CASE WHEN $2 THEN $3 ELSE name END,
        role = CASE WHEN $4 THEN $5 ELSE role END,
        parent_id = CASE WHEN $6 THEN $7::uuid ELSE parent_id END,
        hibernation_idle_minutes = CASE WHEN $9 THEN $10::integer ELSE hibernation_idle_minutes END,
        canvas_x = CASE WHEN $11 THEN $12::double precision ELSE canvas_x END,
        canvas_y = CASE WHEN $11 THEN $13::double precision ELSE canvas_y END,
        updated_at = now()
      WHERE id = $1 AND status <> $8
      RETURNING *`,
    [
      id,
      fields.name !== undefined,
      fields.name ?? null,
      fields.role !== undefined,
      fields.role ?? null,
      fields.parent_id !== undefined,
      fields.parent_id ?? null,
      Status.Removed,
      fields.hibernation_idle_minutes !== undefined,
      fields.hibernation_idle_minutes ?? null,
      fields.x !== undefined,
      fields.x ?? null,
      fields.y ?? null,
    ],
  );
  return r.rows[0];
}

/** The workspace and every descendant, whatever their status, root first. */
export async function loadSubtree(q: Queryable, id: string): Promise<WorkspaceRow[]> {
  const r = await q.query<WorkspaceRow & { depth: number }>(
    `WITH RECURSIVE sub AS (
       SELECT w.*, 0 AS depth FROM workspaces w WHERE w.id = $1
       UNION ALL
       SELECT w.*, s.depth + 1 FROM workspaces w JOIN sub s ON w.parent_id = s.id
     )
     SELECT * FROM sub ORDER BY depth, created_at`,
    [id],
  );
  return r.rows;
}

/** Marks the given workspaces removed (those not already removed); returns the ids it changed. */
export async function markRemoved(q: Queryable, ids: readonly string[]): Promise<string[]> {
  const r = await q.query<{ id: string }>(
    `UPDATE workspaces SET status = $2, removed_at = now(), updated_at = now()
      WHERE id = ANY($1::uuid[]) AND status <> $2 RETURNING id`,
    [ids, Status.Removed],
  );
  return r.rows.map((x) => x.id);
}

/** Hard-deletes a whole subtree and everything that hangs off it (tokens and logs cascade). */
export async function purgeWorkspaces(q: Queryable, ids: readonly string[]): Promise<void> {
  await q.query('DELETE FROM structure_events WHERE workspace_id = ANY($1::uuid[])', [ids]);
  await q.query('DELETE FROM workspaces WHERE id = ANY($1::uuid[])', [ids]);
}

/** Live (non-removed) direct children, for the delete confirmation. */
export async function liveChildren(q: Queryable, id: string): Promise<{ id: string; name: string }[]> {
  const r = await q.query<{ id: string; name: string }>(
    'SELECT id, name FROM workspaces WHERE parent_id = $1 AND status <> $2 ORDER BY created_at, id',
    [id, Status.Removed],
  );
  return r.rows;
}

/** Records what a backend started: its instance id, its URL if it reported one, the image digest it runs (C135). A removed row is left alone. */
export async function recordInstance(q: Queryable, id: string, started: { instanceId: string; url: string | undefined; imageDigest: string | undefined }): Promise<void> {
  await q.query(
    `UPDATE workspaces SET instance_id = $2, url = COALESCE($3, url), runtime_image_digest = COALESCE($5, runtime_image_digest), updated_at = now()
      WHERE id = $1 AND status <> $4`,
    [id, started.instanceId, started.url ?? null, Status.Removed, started.imageDigest ?? null],
  );
}

/** Moves one workspace to `to` from one of `from`, clearing its URL. Undefined when it was in another status. */
export async function transitionStatus(q: Queryable, id: string, from: readonly WorkspaceStatus[], to: WorkspaceStatus): Promise<WorkspaceRow | undefined> {
  const r = await q.query<WorkspaceRow>(
    `UPDATE workspaces SET status = $2, url = '', updated_at = now()
      WHERE id = $1 AND status = ANY($3::text[]::workspace_status[]) RETURNING *`,
    [id, to, from],
  );
  return r.rows[0];
}

/**
 * Claims an online or degraded workspace as `hibernating` in one statement (two callers cannot both
 * claim it): only with no active task, unless `force`. Undefined when the claim did not apply.
 */
export async function claimForHibernation(q: Queryable, id: string, force: boolean): Promise<WorkspaceRow | undefined> {
  const r = await q.query<WorkspaceRow>(
    `UPDATE workspaces SET status = $2, updated_at = now()
      WHERE id = $1 AND status = ANY($3::text[]::workspace_status[]) AND (active_tasks = 0 OR $4) RETURNING *`,
    [id, Status.Hibernating, [Status.Online, Status.Degraded], force],
  );
  return r.rows[0];
}

/** `online`/`degraded` -> `offline` with the URL cleared; false when the row was in another status. */
export async function setOfflineIfLive(q: Queryable, id: string): Promise<boolean> {
  const r = await q.query(
    `UPDATE workspaces SET status = $2, url = '', updated_at = now() WHERE id = $1 AND status = ANY($3::text[]::workspace_status[])`,
    [id, Status.Offline, [Status.Online, Status.Degraded]],
  );
  return r.rowCount > 0;
}

/**
 * Every workspace still `provisioning`, with how long since its row last changed. `stamp` is
 * `updated_at` at full (microsecond) precision, as text: a JS Date keeps milliseconds only, so it
 * could never match the column again in `failProvisioningIfUnchanged`.
 */
export async function listProvisioning(q: Queryable): Promise<{ id: string; runtime: string; template: string | null; age_sec: number; stamp: string }[]> {
  const r = await q.query<{ id: string; runtime: string; template: string | null; age_sec: number; stamp: string }>(
    `SELECT id, runtime, template, EXTRACT(EPOCH FROM now() - updated_at)::float8 AS age_sec, updated_at::text AS stamp
       FROM workspaces WHERE status = $1`,
    [Status.Provisioning],
  );
  return r.rows;
}

/** `provisioning` -> `failed` with `message`, only if the row has not changed since `stamp` (from `listProvisioning`) was read. */
export async function failProvisioningIfUnchanged(q: Queryable, id: string, stamp: string, message: string): Promise<boolean> {
  const r = await q.query(
    `UPDATE workspaces SET status = $2, last_sample_error = $3, updated_at = now()
      WHERE id = $1 AND status = $4 AND updated_at = $5::timestamptz`,
    [id, Status.Failed, message, Status.Provisioning, stamp],
  );
  return r.rowCount > 0;
}

/** Workspaces in `statuses` that the platform runs (not external) and that have an instance. */
export async function listManagedWithInstance(q: Queryable, statuses: readonly WorkspaceStatus[], externalRuntime: string): Promise<WorkspaceRow[]> {
  const r = await q.query<WorkspaceRow>(
    `SELECT * FROM workspaces WHERE status = ANY($1::text[]::workspace_status[]) AND runtime <> $2 AND instance_id IS NOT NULL`,
    [statuses, externalRuntime],
  );
  return r.rows;
}

export async function getWorkspaces(q: Queryable, ids: readonly string[]): Promise<WorkspaceRow[]> {
  return (await q.query<WorkspaceRow>('SELECT * FROM workspaces WHERE id = ANY($1::uuid[])', [ids])).rows;
}

/**
 * Online or degraded managed workspaces with `hibernation_idle_minutes` set, no active task, and
 * none of `activityTypes` activity nor `awakeEvents` event for that long (nor since creation).
 */
export async function idleForHibernation(
  q: Queryable,
  opts: { externalRuntime: string; activityTypes: readonly string[]; awakeEvents: readonly string[] },
): Promise<string[]> {
  const r = await q.query<{ id: string }>(
    `SELECT w.id FROM workspaces w
      WHERE w.hibernation_idle_minutes IS NOT NULL
        AND w.status = ANY($1::text[]::workspace_status[]) AND w.active_tasks = 0 AND w.runtime <> $2
        AND GREATEST(
              (SELECT max(a.created_at) FROM activity_logs a WHERE a.workspace_id = w.id AND a.activity_type = ANY($3::text[])),
              (SELECT max(e.created_at) FROM structure_events e WHERE e.workspace_id = w.id AND e.event_type = ANY($4::text[])),
              w.created_at
            ) < now() - make_interval(mins => w.hibernation_idle_minutes)`,
    [[Status.Online, Status.Degraded], opts.externalRuntime, opts.activityTypes, opts.awakeEvents],
  );
  return r.rows.map((x) => x.id);
}

export async function setModel(q: Queryable, id: string, model: string | null): Promise<void> {
  await q.query('UPDATE workspaces SET model = $2, updated_at = now() WHERE id = $1', [id, model]);
}
