import { EXTERNAL_RUNTIME, Status, type PlatformEvent, type WorkspaceStatus } from '@molecule/contracts';
import type { Queryable } from '../db/port.js';
import { conflict, notFound, platformUnavailable, unprocessable } from '../errors.js';
import { pausedAncestor } from '../hierarchy/access.js';
import { agentState } from '../provisioning/running.js';
import { provisionWorkspaceAuto, stopWorkspace } from '../provisioning/pipeline.js';
import { claimForHibernation, getWorkspace, loadSubtree, transitionStatus, type WorkspaceRow } from './repo.js';
import type { RestartOptions } from './restart-coalescer.js';
import { removedError } from './errors.js';
import type { WorkspaceDeps } from './service.js';
import { markOffline } from './transitions.js';

/** Bound on a background stop during restart, pause or hibernate. */
export const LIFECYCLE_STOP_TIMEOUT_MS = 30_000;

export type LifecycleDeps = WorkspaceDeps;

/** One restart cycle: stop on the backend, then provision again through the single entry point. */
export function restartCycle(deps: WorkspaceDeps): (id: string, opts: RestartOptions) => Promise<void> {
  return async (id, opts) => {
    const ws = await getWorkspace(deps.db, id);
    if (!ws || ws.status === Status.Removed || ws.runtime === EXTERNAL_RUNTIME) return;
    // A failed stop does not block the restart: its contract is "make the workspace alive again"
    // (stopWorkspace retries and flags a possible leak, C146).
    await stopWorkspace(deps, ws, AbortSignal.timeout(LIFECYCLE_STOP_TIMEOUT_MS), { removeVolumes: false, reprovision: true });
    const fresh = await getWorkspace(deps.db, id);
    if (!fresh || fresh.status !== Status.Provisioning) return; // paused or removed meanwhile
    await provisionWorkspaceAuto(deps, fresh, { wait: true, applyTemplate: opts.applyTemplate ?? false });
  };
}

async function loadLive(deps: WorkspaceDeps, id: string): Promise<WorkspaceRow> {
  const ws = await getWorkspace(deps.db, id);
  if (!ws) throw notFound('workspace not found');
  if (ws.status === Status.Removed) throw removedError(ws);
  return ws;
}

/** A paused ancestor blocks restart and resume: its subtree is meant to stay down. */
async function requireNoPausedAncestor(q: Queryable, ws: WorkspaceRow): Promise<void> {
  const paused = await pausedAncestor(q, ws.id);
  if (paused) throw conflict(`parent workspace "${paused.name}" is paused; resume it first`);
}

/** Moves one workspace to `to` from one of `from`, clearing its URL, recording `event`. */
async function transition(
  q: Queryable,
  deps: WorkspaceDeps,
  id: string,
  from: readonly WorkspaceStatus[],
  to: WorkspaceStatus,
  event: PlatformEvent['type'],
  payload: (ws: WorkspaceRow) => Record<string, unknown>,
): Promise<{ row: WorkspaceRow; event: PlatformEvent } | undefined> {
  const row = await transitionStatus(q, id, from, to);
  if (!row) return undefined;
  return { row, event: await deps.broadcaster.record(q, event, id, payload(row)) };
}

const noProvisioner = () => platformUnavailable('no provisioner is configured: set MOLECULE_PROVISIONER');

const RESTARTABLE: readonly WorkspaceStatus[] = [Status.Online, Status.Degraded, Status.Offline, Status.Failed, Status.Provisioning];

/**
 * `POST /workspaces/:id/restart`: answers as soon as the row says `provisioning` (C144); the stop and
 * the new start run in the background, coalesced (C148). External workspaces are a 200 no-op that
 * writes nothing and keeps the token valid (C145). Without a backend: 503 (C149).
 */
export async function restartWorkspace(
  deps: LifecycleDeps,
  id: string,
  opts: RestartOptions = {},
): Promise<{ status: string; message?: string }> {
  const ws = await loadLive(deps, id);
  if (ws.runtime === EXTERNAL_RUNTIME) {
    return { status: ws.status, message: 'external workspaces run outside the platform: restart the agent yourself; its token stays valid' };
  }
  if (!deps.provisioner) throw noProvisioner();
  await requireNoPausedAncestor(deps.db, ws);
  const moved = await deps.db.tx((q) =>
    transition(q, deps, id, RESTARTABLE, Status.Provisioning, 'WORKSPACE_PROVISIONING', (w) => ({ name: w.name, tier: w.tier, runtime: w.runtime })),
  );
  if (!moved) throw conflict(`a ${ws.status} workspace cannot be restarted; use resume`);
  await deps.broadcaster.publish([moved.event]);
  void deps.restarts.request(id, opts);
  return { status: Status.Provisioning };
}

/**
 * `POST /workspaces/:id/pause`: the workspace and every live, unpaused descendant become `paused`
 * (recorded first), then their instances stop in the background.
 */
export async function pauseWorkspace(deps: LifecycleDeps, id: string): Promise<{ status: 'paused'; paused_count: number }> {
  const ws = await loadLive(deps, id);
  if (ws.status === Status.Paused) throw conflict('workspace is already paused');
  const subtree = (await loadSubtree(deps.db, id)).filter((w) => w.status !== Status.Removed && w.status !== Status.Paused);
  const pausable = ALL_BUT([Status.Removed, Status.Paused]);
  const moved = await deps.db.tx(async (q) => {
    const out: { row: WorkspaceRow; event: PlatformEvent }[] = [];
    for (const w of subtree) {
      const m = await transition(q, deps, w.id, pausable, Status.Paused, 'WORKSPACE_PAUSED', (x) => ({ name: x.name }));
      if (m) out.push(m);
    }
    return out;
  });
  await deps.broadcaster.publish(moved.map((m) => m.event));
  void Promise.all(moved.map((m) => stopWorkspace(deps, m.row, AbortSignal.timeout(LIFECYCLE_STOP_TIMEOUT_MS), { removeVolumes: false })));
  return { status: 'paused', paused_count: moved.length };
}

/**
 * `POST /workspaces/:id/resume`: a paused or hibernated workspace, and its paused descendants, start
 * again; external ones wait for their agent (`awaiting_agent`).
 */
export async function resumeWorkspace(deps: LifecycleDeps, id: string): Promise<{ status: string; resumed_count: number }> {
  const ws = await loadLive(deps, id);
  if (ws.status !== Status.Paused && ws.status !== Status.Hibernated) throw conflict(`a ${ws.status} workspace cannot be resumed`);
  await requireNoPausedAncestor(deps.db, ws);
  const targets = (await loadSubtree(deps.db, id)).filter((w) => w.id === id || w.status === Status.Paused);
  if (targets.some((w) => w.runtime !== EXTERNAL_RUNTIME) && !deps.provisioner) {
    throw noProvisioner();
  }
  const moved = await deps.db.tx(async (q) => {
    const out: { row: WorkspaceRow; event: PlatformEvent }[] = [];
    for (const w of targets) {
      const external = w.runtime === EXTERNAL_RUNTIME;
      const m = await transition(
        q,
        deps,
        w.id,
        [Status.Paused, Status.Hibernated],
        external ? Status.AwaitingAgent : Status.Provisioning,
        external ? 'WORKSPACE_AWAITING_AGENT' : 'WORKSPACE_PROVISIONING',
        (x) => ({ name: x.name, tier: x.tier, runtime: x.runtime }),
      );
      if (m) out.push(m);
    }
    return out;
  });
  await deps.broadcaster.publish(moved.map((m) => m.event));
  for (const m of moved) if (m.row.runtime !== EXTERNAL_RUNTIME) void provisionWorkspaceAuto(deps, m.row);
  return { status: moved[0]?.row.status ?? ws.status, resumed_count: moved.length };
}

/**
 * `POST /workspaces/:id/hibernate` (C018): claims the row (`online`/`degraded` with no active task,
 * or any active count with `force`) as `hibernating`, stops the instance, then records `hibernated`.
 * The claim is one statement, so two callers cannot both hibernate.
 */
export async function hibernateWorkspace(deps: LifecycleDeps, id: string, force: boolean): Promise<{ status: 'hibernated' }> {
  const ws = await loadLive(deps, id);
  if (ws.runtime === EXTERNAL_RUNTIME) {
    throw unprocessable('external workspaces run outside the platform and cannot be hibernated; pause it instead');
  }
  const row = await claimForHibernation(deps.db, id, force);
  if (!row) {
    if ((ws.status === Status.Online || ws.status === Status.Degraded) && ws.active_tasks > 0) {
      throw conflict('workspace has active tasks; use ?force=true to hibernate anyway', { active_tasks: ws.active_tasks });
    }
    throw conflict(`a ${ws.status} workspace cannot be hibernated (it must be online or degraded)`);
  }
  await stopWorkspace(deps, row, AbortSignal.timeout(LIFECYCLE_STOP_TIMEOUT_MS), { removeVolumes: false });
  const done = await deps.db.tx((q) =>
    transition(q, deps, id, [Status.Hibernating], Status.Hibernated, 'WORKSPACE_HIBERNATED', (x) => ({ name: x.name, tier: x.tier })),
  );
  if (done) await deps.broadcaster.publish([done.event]);
  return { status: 'hibernated' };
}

/**
 * "Is this agent dead?" after a dead-looking answer (C047, C048): asks the backend. Definitively
 * not running -> offline, a restart in the background, and true. Running, unknown (C099), external,
 * removed, or no backend -> false, nothing changed.
 */
export async function markInstanceDead(deps: LifecycleDeps, id: string, reason: string): Promise<boolean> {
  const ws = await getWorkspace(deps.db, id);
  if (!ws || ws.status === Status.Removed) return false;
  // Only a definite "stopped" is dead: running, could not tell, external or no backend change nothing.
  if ((await agentState(deps, ws)).state !== 'stopped') return false;
  await markOffline(deps, id, reason);
  void restartWorkspace(deps, id).catch((err: unknown) => deps.log.warn({ err, workspace_id: id }, 'automatic restart refused'));
  return true;
}

function ALL_BUT(excluded: readonly WorkspaceStatus[]): WorkspaceStatus[] {
  return (Object.values(Status) as WorkspaceStatus[]).filter((s) => !excluded.includes(s));
}
