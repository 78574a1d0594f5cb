import { EXTERNAL_RUNTIME, Status, type WorkspaceStatus } from '@molecule/contracts';
import type { AppDeps } from '../deps.js';
import type { Queryable } from '../db/port.js';
import { selectProvisioner, stopWorkspace } from '../provisioning/pipeline.js';
import { provisionTimeoutFor } from '../provisioning/timeout.js';
import type { WorkspaceRow } from '../workspaces/repo.js';
import { hibernateWorkspace, markOffline, restartWorkspace } from '../workspaces/lifecycle.js';

type SweepDeps = AppDeps;
const backendOf = (deps: SweepDeps) => selectProvisioner({ backend: deps.config.provisioner, provisioners: deps.provisioners });

/** Container and folder names reach SQL only if they look like workspace ids (C175). */
export function isLikelyWorkspaceId(s: string): boolean {
  return /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(s);
}

/**
 * Provision-timeout sweep (C165-C168): a workspace still `provisioning` past its deadline
 * (`provisionTimeoutFor`: env, else its template's declaration, else its runtime's default, C167)
 * becomes `failed` with a message saying the agent never registered, and the event carries the
 * runtime and the timeout. Each flip is guarded on the row not having moved since it was read.
 */
export async function provisionTimeoutSweep(deps: SweepDeps, q: Queryable): Promise<number> {
  const r = await q.query<{ id: string; runtime: string; template: string | null; age_sec: number; updated_at: Date }>(
    `SELECT id, runtime, template, EXTRACT(EPOCH FROM now() - updated_at)::float8 AS age_sec, updated_at
       FROM workspaces WHERE status = $1`,
    [Status.Provisioning],
  );
  if (r.rows.length === 0) return 0;
  const catalog = await deps.templateManifests.catalog(deps.templatesDir);
  let flipped = 0;
  for (const row of r.rows) {
    const timeout = provisionTimeoutFor(deps.config, catalog, row).seconds;
    if (row.age_sec <= timeout) continue;
    const message = `the agent started but never registered within ${timeout} s; check its log, then restart the workspace`;
    const upd = await q.query(
      `UPDATE workspaces SET status = $2, last_sample_error = $3, updated_at = now()
        WHERE id = $1 AND status = $4 AND updated_at = $5`,
      [row.id, Status.Failed, message, Status.Provisioning, row.updated_at],
    );
    if (upd.rowCount === 0) continue;
    flipped++;
    await deps.broadcaster.recordAndBroadcast('WORKSPACE_PROVISION_FAILED', row.id, {
      error: message,
      timeout_secs: timeout,
      runtime: row.runtime,
      source: 'provision_timeout_sweep',
    });
  }
  return flipped;
}

/** Auto-restart backoff per workspace: 1 min, doubling to 15 min, reset once it runs again. */
export class RestartBackoff {
  private readonly next = new Map<string, { at: number; delayMs: number }>();
  constructor(private readonly now: () => number = Date.now) {}
  allow(id: string): boolean {
    const n = this.next.get(id);
    if (n && n.at > this.now()) return false;
    const delayMs = Math.min((n?.delayMs ?? 30_000) * 2, 15 * 60_000);
    this.next.set(id, { at: this.now() + delayMs, delayMs });
    return true;
  }
  reset(id: string): void {
    this.next.delete(id);
  }
}

/**
 * Health sweep (C177): a managed workspace whose instance is definitively not running goes
 * `offline` (from online/degraded, with WORKSPACE_OFFLINE) and is restarted, with backoff so a
 * crash-looping agent is not hammered. An `unknown` answer leaves the workspace alone (C099).
 * External workspaces have no instance; liveness expiry handles them.
 */
export async function healthSweep(deps: SweepDeps, q: Queryable, backoff: RestartBackoff): Promise<{ offline: number; restarted: number }> {
  const prov = backendOf(deps);
  if (!prov) return { offline: 0, restarted: 0 };
  const watched: WorkspaceStatus[] = [Status.Online, Status.Degraded, Status.Offline];
  const r = await q.query<WorkspaceRow>(
    `SELECT * FROM workspaces WHERE status = ANY($1::text[]::workspace_status[]) AND runtime <> $2 AND instance_id IS NOT NULL`,
    [watched, EXTERNAL_RUNTIME],
  );
  let offline = 0;
  let restarted = 0;
  for (const ws of r.rows) {
    const state = await prov.isRunning(ws, AbortSignal.timeout(10_000));
    if (state.state === 'running') {
      if (ws.status !== Status.Offline) backoff.reset(ws.id);
      continue;
    }
    if (state.state === 'unknown') {
      deps.log.warn({ workspace_id: ws.id, err: state.error }, 'health sweep: backend could not tell whether the workspace runs; leaving it');
      continue;
    }
    if (ws.status !== Status.Offline && (await markOffline({ db: q, broadcaster: deps.broadcaster }, ws.id, 'instance_not_running'))) offline++;
    if (!backoff.allow(ws.id)) continue;
    try {
      await restartWorkspace({ ...deps, backend: deps.config.provisioner }, ws.id);
      restarted++;
    } catch (err) {
      deps.log.warn({ workspace_id: ws.id, err }, 'health sweep: automatic restart refused');
    }
  }
  return { offline, restarted };
}

/**
 * Orphan sweep (C170-C174): instances or volumes the backend manages whose workspace is removed
 * (pass 1) or has no row at all (pass 2) are stopped and their volumes removed; a failed stop keeps
 * the volume for the next pass. Names that do not look like workspace ids never reach SQL. Pass 3
 * revokes stale tokens (`staleTokenSweep`, C176).
 */
export async function orphanSweep(deps: SweepDeps, q: Queryable): Promise<{ reaped: string[]; tokensRevoked: string[] }> {
  const reaped = await reapOrphans(deps, q);
  const tokensRevoked = await staleTokenSweep(deps, q);
  return { reaped, tokensRevoked };
}

async function reapOrphans(deps: SweepDeps, q: Queryable): Promise<string[]> {
  const prov = backendOf(deps);
  if (!prov?.listManaged) return [];
  const ids = (await prov.listManaged()).filter(isLikelyWorkspaceId);
  if (ids.length === 0) return [];
  const r = await q.query<WorkspaceRow>('SELECT * FROM workspaces WHERE id = ANY($1::uuid[])', [ids]);
  const rows = new Map(r.rows.map((w) => [w.id, w]));
  const reaped: string[] = [];
  for (const id of ids) {
    const row = rows.get(id);
    if (row && row.status !== Status.Removed) continue;
    const ws = row ?? ({ id, name: id, runtime: 'unknown' } as WorkspaceRow);
    const out = await stopWorkspace({ backend: deps.config.provisioner, provisioners: deps.provisioners, log: deps.log }, ws, AbortSignal.timeout(30_000));
    if (out.ok) {
      reaped.push(id);
      deps.log.info({ workspace_id: id, reason: row ? 'removed' : 'no_row' }, 'orphan sweeper: reaped');
    }
  }
  return reaped;
}

/** Tokens minted this recently are never stale: their instance may still be starting (C176). */
export const STALE_TOKEN_GRACE_SECONDS = 5 * 60;

/**
 * The statuses whose tokens the stale-token sweep may revoke: the instance is meant to run (or its
 * start failed). Not `provisioning` (its agent may still be booting; the provision-timeout sweep owns
 * it), not `paused`/`hibernating`/`hibernated` (stopped on purpose; the next start mints fresh tokens
 * anyway), not `removed` (revoked at delete), not `awaiting_agent` (external only).
 */
const STALE_TOKEN_STATUSES: readonly WorkspaceStatus[] = [Status.Online, Status.Degraded, Status.Offline, Status.Failed];

/**
 * Stale-token sweep (C176): a managed workspace whose backend says its instance is definitively not
 * running keeps no live credential: its tokens older than the 5-minute grace are revoked (the next
 * start mints a new one). `unknown` never revokes (fail-safe: a backend blip must not cut agents
 * off). External workspaces are never touched: they have no instance by design, and their token is
 * their off-host agent's only credential. Returns the ids of the workspaces whose tokens went.
 */
export async function staleTokenSweep(deps: SweepDeps, q: Queryable): Promise<string[]> {
  const prov = backendOf(deps);
  if (!prov) return [];
  const params = [STALE_TOKEN_STATUSES, EXTERNAL_RUNTIME, STALE_TOKEN_GRACE_SECONDS];
  const r = await q.query<WorkspaceRow>(
    `SELECT w.* FROM workspaces w
      WHERE w.status = ANY($1::text[]::workspace_status[]) AND w.runtime <> $2
        AND EXISTS (SELECT 1 FROM workspace_auth_tokens t
                     WHERE t.workspace_id = w.id AND t.revoked_at IS NULL AND t.created_at < now() - make_interval(secs => $3))`,
    params,
  );
  const revoked: string[] = [];
  for (const ws of r.rows) {
    const state = await prov.isRunning(ws, AbortSignal.timeout(10_000));
    if (state.state !== 'stopped') continue;
    // Re-checked in the statement: the workspace may have been restarted or paused since it was read.
    const upd = await q.query(
      `UPDATE workspace_auth_tokens t SET revoked_at = now()
        WHERE t.workspace_id = $4 AND t.revoked_at IS NULL AND t.created_at < now() - make_interval(secs => $3)
          AND EXISTS (SELECT 1 FROM workspaces w WHERE w.id = $4 AND w.status = ANY($1::text[]::workspace_status[]) AND w.runtime <> $2)`,
      [...params, ws.id],
    );
    if (upd.rowCount === 0) continue;
    revoked.push(ws.id);
    deps.log.warn(
      { workspace_id: ws.id, tokens_revoked: upd.rowCount },
      `Orphan sweeper: revoking stale tokens for workspace ${ws.id} (no live container; volume likely wiped)`,
    );
  }
  return revoked;
}

/** Activity that counts as use for hibernation: A2A traffic in either direction. */
const A2A_ACTIVITY: readonly string[] = ['a2a_receive', 'a2a_send'];
/** Events that restart the idle clock: the workspace (re)started or woke up. */
const AWAKE_EVENTS: readonly string[] = ['WORKSPACE_ONLINE', 'WORKSPACE_PROVISIONING'];

/**
 * Hibernation sweep: an online or degraded managed workspace with `hibernation_idle_minutes` set,
 * no active task, and no A2A traffic (sent or received) for that long since it last came up, is
 * hibernated. Idle is measured by A2A activity, not heartbeat age: a healthy idle agent beats
 * forever (upstream's monitor never fired for that reason). A workspace that turned busy meanwhile
 * is left alone by the hibernate claim itself.
 */
export async function hibernationSweep(deps: SweepDeps, q: Queryable): Promise<{ hibernated: string[] }> {
  if (!backendOf(deps)) return { hibernated: [] };
  const r = await q.query<{ id: string }>(
    `SELECT w.id FROM workspaces w
      WHERE w.hibernation_idle_minutes IS NOT NULL
        AND w.status = ANY($1::text[]::workspace_status[]) AND w.active_tasks = 0 AND w.runtime <> $2
        AND GREATEST(
              (SELECT max(a.created_at) FROM activity_logs a WHERE a.workspace_id = w.id AND a.activity_type = ANY($3::text[])),
              (SELECT max(e.created_at) FROM structure_events e WHERE e.workspace_id = w.id AND e.event_type = ANY($4::text[])),
              w.created_at
            ) < now() - make_interval(mins => w.hibernation_idle_minutes)`,
    [[Status.Online, Status.Degraded], EXTERNAL_RUNTIME, A2A_ACTIVITY, AWAKE_EVENTS],
  );
  const hibernated: string[] = [];
  for (const { id } of r.rows) {
    try {
      await hibernateWorkspace({ ...deps, backend: deps.config.provisioner }, id, false);
      hibernated.push(id);
      deps.log.info({ workspace_id: id }, 'hibernation sweep: idle workspace hibernated');
    } catch (err) {
      deps.log.warn({ workspace_id: id, err }, 'hibernation sweep: workspace not hibernated');
    }
  }
  return { hibernated };
}
