import { EXTERNAL_RUNTIME, Status, type WorkspaceStatus } from '@molecule/contracts';
import { revokeStaleWorkspaceTokens, workspacesWithStaleTokens } from '../auth/credentials.js';
import type { Queryable } from '../db/port.js';
import type { AppDeps } from '../deps.js';
import { agentState } from '../provisioning/running.js';
import { stopWorkspace } from '../provisioning/pipeline.js';
import { provisionTimeoutFor } from '../provisioning/timeout.js';
import type { LifecycleDeps } from '../workspaces/lifecycle.js';
import { hibernateWorkspace, restartWorkspace } from '../workspaces/lifecycle.js';
import { getWorkspaces, idleWorkspacesForHibernation, listManagedWithInstance, listProvisioning, type WorkspaceRow } from '../workspaces/read.js';
import { failProvisionTimeout, markOffline } from '../workspaces/transitions.js';

/** What the sweeps touch: the backend (through the lifecycle and the pipeline) and the provision-timeout sources. */
export type SweepDeps = LifecycleDeps & Pick<AppDeps, 'templateManifests'>;

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
  const rows = await listProvisioning(q);
  if (rows.length === 0) return 0;
  const catalog = await deps.templateManifests.catalog(deps.templatesDir);
  let flipped = 0;
  for (const row of rows) {
    const timeout = provisionTimeoutFor(deps.config, catalog, row).seconds;
    if (row.age_sec <= timeout) continue;
    if (await failProvisionTimeout(deps, q, row, timeout)) flipped++;
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
  const prov = deps.provisioner;
  if (!prov) return { offline: 0, restarted: 0 };
  const watched: WorkspaceStatus[] = [Status.Online, Status.Degraded, Status.Offline];
  let offline = 0;
  let restarted = 0;
  for (const ws of await listManagedWithInstance(q, watched, EXTERNAL_RUNTIME)) {
    const state = await agentState(deps, ws);
    if (state.state === 'running') {
      if (ws.status !== Status.Offline) backoff.reset(ws.id);
      continue;
    }
    // Could not tell (or no backend answers for it): leave it as it is (C099).
    if (state.state !== 'stopped') {
      if (state.state === 'unknown') deps.log.warn({ workspace_id: ws.id, err: state.error }, 'health sweep: backend could not tell whether the workspace runs; leaving it');
      continue;
    }
    if (ws.status !== Status.Offline && (await markOffline({ db: q, broadcaster: deps.broadcaster }, ws.id, 'instance_not_running'))) offline++;
    if (!backoff.allow(ws.id)) continue;
    try {
      await restartWorkspace(deps, ws.id);
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
  // The passes are independent (C173): a backend or database error in one is logged and skips only
  // that pass for this cycle.
  const pass = async (name: string, run: () => Promise<string[]>): Promise<string[]> => {
    try {
      return await run();
    } catch (err) {
      deps.log.error({ err, pass: name }, 'orphan sweeper: pass failed; the other passes still run');
      return [];
    }
  };
  const reaped = await pass('reap', () => reapOrphans(deps, q));
  const tokensRevoked = await pass('stale_tokens', () => staleTokenSweep(deps, q));
  return { reaped, tokensRevoked };
}

async function reapOrphans(deps: SweepDeps, q: Queryable): Promise<string[]> {
  const prov = deps.provisioner;
  if (!prov?.listManaged) return [];
  const ids = (await prov.listManaged()).filter(isLikelyWorkspaceId);
  if (ids.length === 0) return [];
  const rows = new Map((await getWorkspaces(q, ids)).map((w) => [w.id, w]));
  const reaped: string[] = [];
  for (const id of ids) {
    const row = rows.get(id);
    if (row && row.status !== Status.Removed) continue;
    const ws = row ?? ({ id, name: id, runtime: 'unknown' } as WorkspaceRow);
    const out = await stopWorkspace(deps, ws, AbortSignal.timeout(30_000));
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
 * their off-host agent's only credential. Each revocation records TOKEN_REVOKED ({reason: "stale"}).
 * Returns the ids of the workspaces whose tokens went.
 */
export async function staleTokenSweep(deps: SweepDeps, q: Queryable): Promise<string[]> {
  const prov = deps.provisioner;
  if (!prov) return [];
  const rule = { statuses: STALE_TOKEN_STATUSES, externalRuntime: EXTERNAL_RUNTIME, graceSeconds: STALE_TOKEN_GRACE_SECONDS };
  const revoked: string[] = [];
  for (const ws of await workspacesWithStaleTokens(q, rule)) {
    // Only a definite "stopped" revokes: could not tell keeps the tokens.
    if ((await agentState(deps, ws)).state !== 'stopped') continue;
    // Re-checked in the statement: the workspace may have been restarted or paused since it was read.
    const count = await revokeStaleWorkspaceTokens(q, ws.id, rule);
    if (count === 0) continue;
    revoked.push(ws.id);
    // Every replica drops what it knows of these tokens (the heartbeat's write-behind memory).
    await deps.broadcaster.recordAndBroadcast('TOKEN_REVOKED', ws.id, { reason: 'stale', tokens_revoked: count });
    deps.log.warn(
      { workspace_id: ws.id, tokens_revoked: count },
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
  if (!deps.provisioner) return { hibernated: [] };
  const hibernated: string[] = [];
  for (const id of await idleWorkspacesForHibernation(q, { externalRuntime: EXTERNAL_RUNTIME, activityTypes: A2A_ACTIVITY, awakeEvents: AWAKE_EVENTS })) {
    try {
      await hibernateWorkspace(deps, id, false);
      hibernated.push(id);
      deps.log.info({ workspace_id: id }, 'hibernation sweep: idle workspace hibernated');
    } catch (err) {
      deps.log.warn({ workspace_id: id, err }, 'hibernation sweep: workspace not hibernated');
    }
  }
  return { hibernated };
}
