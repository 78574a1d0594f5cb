import { EXTERNAL_RUNTIME, Status, type WorkspaceStatus } from '@molecule/contracts';
import type { AppDeps } from '../deps.js';
import type { Queryable } from '../db/port.js';
import { selectProvisioner, stopWorkspace } from '../provisioning/pipeline.js';
import type { WorkspaceRow } from '../workspaces/repo.js';
import { hibernateWorkspace, markOffline, restartWorkspace } from '../workspaces/lifecycle.js';

type SweepDeps = AppDeps;
const backendOf = (deps: SweepDeps) => selectProvisioner({ backend: deps.config.provisioner, provisioners: deps.provisioners });

/** The default provisioning deadline, and runtimes that are known to take longer (C165, C166). */
export const DEFAULT_PROVISION_TIMEOUT_SECONDS = 600;
const RUNTIME_PROVISION_TIMEOUT_SECONDS: Record<string, number> = { hermes: 1800 };

/** The one answer to "how long may this runtime stay provisioning" (C165, C169). */
export function provisionTimeoutSeconds(config: Pick<AppDeps['config'], 'provisionTimeoutSeconds'>, runtime: string): number {
  return config.provisionTimeoutSeconds ?? RUNTIME_PROVISION_TIMEOUT_SECONDS[runtime] ?? DEFAULT_PROVISION_TIMEOUT_SECONDS;
}

/** Container and folder names reach SQL only if they look like workspace ids (C175). */
export function isLikelyWorkspaceId(s: string): boolean {
  return /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(s);
}

/**
 * Provision-timeout sweep (C165-C168): a workspace still `provisioning` past its runtime's deadline
 * becomes `failed` with a message saying the agent never registered, and the event carries the
 * runtime and the timeout. Each flip is guarded on the row not having moved since it was read.
 */
export async function provisionTimeoutSweep(deps: SweepDeps, q: Queryable): Promise<number> {
  const r = await q.query<{ id: string; runtime: string; age_sec: number; updated_at: Date }>(
    `SELECT id, runtime, EXTRACT(EPOCH FROM now() - updated_at)::float8 AS age_sec, updated_at
       FROM workspaces WHERE status = $1`,
    [Status.Provisioning],
  );
  let flipped = 0;
  for (const row of r.rows) {
    const timeout = provisionTimeoutSeconds(deps.config, row.runtime);
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
 * the volume for the next pass. Names that do not look like workspace ids never reach SQL.
 */
export async function orphanSweep(deps: SweepDeps, q: Queryable): Promise<{ reaped: string[] }> {
  const prov = backendOf(deps);
  if (!prov?.listManaged) return { reaped: [] };
  const ids = (await prov.listManaged()).filter(isLikelyWorkspaceId);
  if (ids.length === 0) return { reaped: [] };
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
  return { reaped };
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
