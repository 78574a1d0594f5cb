import { EXTERNAL_RUNTIME, Status } from '@molecule/contracts';
import type { ProvisionerBackend } from '../config.js';
import type { Db } from '../db/port.js';
import type { Broadcaster } from '../events/broadcaster.js';
import type { Logger } from '../log.js';
import { setStatus, type WorkspaceRow } from '../workspaces/repo.js';
import type { Provisioner } from './port.js';

export interface ProvisioningDeps {
  db: Db;
  broadcaster: Broadcaster;
  log: Logger;
  /** The backend the operator chose (MOLECULE_PROVISIONER). */
  backend: ProvisionerBackend;
  /** The adapters this build wires; a configured backend without an adapter cannot provision. */
  provisioners: Partial<Record<ProvisionerBackend, Provisioner>>;
}

/**
 * Which backend runs workspaces: the single answer every caller uses. Undefined when the configured
 * backend is `none` or has no adapter in this build.
 */
export function selectProvisioner(deps: Pick<ProvisioningDeps, 'backend' | 'provisioners'>): Provisioner | undefined {
  if (deps.backend === 'none') return undefined;
  return deps.provisioners[deps.backend];
}

/** The canned, actionable message stored on a workspace that no backend can run. */
export function noBackendMessage(backend: ProvisionerBackend): string {
  return backend === 'none'
    ? 'No provisioner is configured (MOLECULE_PROVISIONER=none). Set MOLECULE_PROVISIONER to process, docker or controlplane and restart the workspace, or create it with runtime "external" and run the agent yourself.'
    : `The "${backend}" provisioner is not available in this build. Set MOLECULE_PROVISIONER to an available backend, or create the workspace with runtime "external" and run the agent yourself.`;
}

/**
 * Marks a workspace failed with a safe message and records WORKSPACE_PROVISION_FAILED. A removed
 * workspace stays removed (C013). The detail, if any, goes to the log only.
 */
export async function markProvisionFailed(
  deps: Pick<ProvisioningDeps, 'db' | 'broadcaster' | 'log'>,
  id: string,
  message: string,
  detail?: unknown,
): Promise<void> {
  if (detail !== undefined) deps.log.error({ workspace_id: id, err: detail }, 'provisioning failed');
  const row = await setStatus(deps.db, id, Status.Failed, message);
  if (row) await deps.broadcaster.recordAndBroadcast('WORKSPACE_PROVISION_FAILED', id, { error: message });
}

/**
 * The single provisioning entry point (C110). Picks the backend; when there is none it marks the
 * workspace failed itself (no silent `provisioning` limbo) and returns false. Otherwise it starts
 * the backend in the background and returns true; any failure there, thrown or rejected, also
 * ends in `failed` with an event.
 */
export async function provisionWorkspaceAuto(deps: ProvisioningDeps, ws: WorkspaceRow): Promise<boolean> {
  if (ws.runtime === EXTERNAL_RUNTIME) return false;
  const prov = selectProvisioner(deps);
  if (!prov) {
    await markProvisionFailed(deps, ws.id, noBackendMessage(deps.backend));
    return false;
  }
  void (async () => {
    try {
      const started = await prov.start(ws, AbortSignal.timeout(10 * 60_000));
      await deps.db.query(
        `UPDATE workspaces SET instance_id = $2, url = COALESCE($3, url), updated_at = now()
          WHERE id = $1 AND status <> $4`,
        [ws.id, started.instanceId, started.url ?? null, Status.Removed],
      );
    } catch (err) {
      await markProvisionFailed(deps, ws.id, 'workspace start failed', err).catch((e: unknown) =>
        deps.log.error({ workspace_id: ws.id, err: e }, 'could not record provisioning failure'),
      );
    }
  })();
  return true;
}

export interface StopOutcome {
  id: string;
  ok: boolean;
}

/**
 * Stops one workspace on whichever backend runs it, then removes its volumes; a failed stop skips
 * the volume removal (C156, the orphan sweeper finishes it). External workspaces and workspaces
 * with no backend have nothing to stop. Never throws: the outcome says whether the stop worked.
 */
export async function stopWorkspace(
  deps: Pick<ProvisioningDeps, 'backend' | 'provisioners' | 'log'>,
  ws: WorkspaceRow,
  signal: AbortSignal,
): Promise<StopOutcome> {
  if (ws.runtime === EXTERNAL_RUNTIME) return { id: ws.id, ok: true };
  const prov = selectProvisioner(deps);
  if (!prov) return { id: ws.id, ok: true };
  try {
    await abortable(prov.stop(ws, signal), signal);
  } catch (err) {
    deps.log.error({ workspace_id: ws.id, err }, 'stop failed');
    return { id: ws.id, ok: false };
  }
  if (prov.removeVolumes) {
    try {
      await abortable(prov.removeVolumes(ws, signal), signal);
    } catch (err) {
      // Volume removal errors are only logged (C154); the orphan sweeper retries.
      deps.log.warn({ workspace_id: ws.id, err }, 'volume removal failed');
    }
  }
  return { id: ws.id, ok: true };
}

/** Resolves with `p`, or rejects when `signal` fires first (a backend that ignores its signal). */
function abortable<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(e);
      },
    );
  });
}
