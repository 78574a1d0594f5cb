import { Status } from '@molecule/contracts';
import type { Queryable } from '../db/port.js';
import type { AppDeps } from '../deps.js';
import { failProvisioningIfUnchanged, recordInstance, setOfflineIfLive, setStatus } from './repo.js';

type EventDeps = Pick<AppDeps, 'broadcaster'>;

/**
 * Marks a workspace failed with a safe message and records WORKSPACE_PROVISION_FAILED with it and
 * any structured `extra` (the missing keys, C119). A removed workspace stays removed (C013). The
 * detail, if any, goes to the log only.
 */
export async function markProvisionFailed(
  deps: Pick<AppDeps, 'db' | 'broadcaster' | 'log'>,
  id: string,
  message: string,
  detail?: unknown,
  extra: Record<string, unknown> = {},
): Promise<void> {
  if (detail !== undefined) deps.log.error({ workspace_id: id, err: detail }, 'provisioning failed');
  const row = await setStatus(deps.db, id, Status.Failed, message);
  if (row) await deps.broadcaster.recordAndBroadcast('WORKSPACE_PROVISION_FAILED', id, { ...extra, error: message });
}

/**
 * A workspace still `provisioning` past its deadline becomes `failed` (C165-C168), only if its row
 * has not moved since it was read; the event carries the runtime and the timeout. False when it moved.
 */
export async function failProvisionTimeout(
  deps: EventDeps,
  q: Queryable,
  row: { id: string; runtime: string; stamp: string },
  timeoutSeconds: number,
): Promise<boolean> {
  const message = `the agent started but never registered within ${timeoutSeconds} s; check its log, then restart the workspace`;
  if (!(await failProvisioningIfUnchanged(q, row.id, row.stamp, message))) return false;
  await deps.broadcaster.recordAndBroadcast('WORKSPACE_PROVISION_FAILED', row.id, {
    error: message,
    timeout_secs: timeoutSeconds,
    runtime: row.runtime,
    source: 'provision_timeout_sweep',
  });
  return true;
}

/**
 * Records that a workspace's instance is gone: `online`/`degraded` -> `offline` with its URL
 * cleared and WORKSPACE_OFFLINE. Returns false when the row was in another status (nothing written).
 */
export async function markOffline(deps: EventDeps & { db: Queryable }, id: string, reason: string): Promise<boolean> {
  if (!(await setOfflineIfLive(deps.db, id))) return false;
  await deps.broadcaster.recordAndBroadcast('WORKSPACE_OFFLINE', id, { reason });
  return true;
}

/** What a backend started, on the workspace row (a removed workspace is left alone). */
export async function recordStartedInstance(q: Queryable, id: string, started: { instanceId: string; url: string | undefined; imageDigest: string | undefined }): Promise<void> {
  await recordInstance(q, id, started);
}
