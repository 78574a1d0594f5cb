import { EXTERNAL_RUNTIME } from '@molecule/contracts';
import type { Config } from '../config.js';
import type { Db } from '../db/port.js';
import type { Broadcaster } from '../events/broadcaster.js';
import type { Logger } from '../log.js';
import { recordedEvent } from '../registry/recorded-event.js';
import type { LivenessStore } from './port.js';
import { expireLiveness, listLiveIds } from './repo.js';

export interface LivenessExpiryDeps {
  db: Db;
  broadcaster: Broadcaster;
  log: Logger;
  liveness: LivenessStore;
  config: Pick<Config, 'livenessTtlSeconds'>;
}

/** After a failed expiry write (database down), the id is re-armed to try again this much later. */
export const EXPIRY_RETRY_MS = 5000;

/** Why the workspace changed, in the event payload. */
export const HEARTBEAT_LOST = 'heartbeat_lost';

/**
 * Handles one passed liveness deadline (C178): one statement flips an online or degraded workspace
 * to awaiting_agent (external) or offline (everything else) and records the matching event. A
 * workspace in any other status, or heard from since the deadline was claimed, is left alone. If
 * the write fails, the id is re-armed so the expiry is retried, never silently dropped.
 */
export async function handleExpiry(deps: LivenessExpiryDeps, workspaceId: string): Promise<void> {
  let out;
  try {
    // A beat within half the TTL means an agent is alive (it reached another replica after the claim).
    out = await expireLiveness(deps.db, workspaceId, EXTERNAL_RUNTIME, deps.config.livenessTtlSeconds / 2, HEARTBEAT_LOST);
  } catch (err) {
    deps.log.error({ err, workspace_id: workspaceId }, 'liveness expiry: could not update the workspace; retrying');
    await deps.liveness.touch(workspaceId, EXPIRY_RETRY_MS).catch((e: unknown) =>
      deps.log.error({ err: e, workspace_id: workspaceId }, 'liveness expiry: could not re-arm; the health sweep will reconcile'),
    );
    return;
  }
  if (!out) return;
  deps.log.info({ workspace_id: workspaceId, status: out.status }, 'workspace went quiet: liveness expired');
  const event = recordedEvent(workspaceId, out);
  if (event) await deps.broadcaster.publish([event]);
}

/**
 * Starts acting on liveness expiries, and reconciles now and then every TTL: every online or
 * degraded workspace that the store does not track (a restarted embedded server forgets its timers;
 * a Redis that restarted empty forgets its deadlines) gets a full TTL to be heard from, so a lost
 * deadline delays noticing a dead agent by at most one TTL and never hides it. Returns the function
 * that stops it.
 */
export async function startLivenessExpiry(deps: LivenessExpiryDeps): Promise<() => void> {
  const off = deps.liveness.onExpired((id) => handleExpiry(deps, id));
  const ttlMs = deps.config.livenessTtlSeconds * 1000;
  const reconcile = async () => {
    try {
      await deps.liveness.seed(await listLiveIds(deps.db), ttlMs);
    } catch (err) {
      // Fail-open: the platform still serves; workspaces are tracked from their next beat or the next pass.
      deps.log.error({ err }, 'liveness: could not track the online workspaces; retrying in one TTL');
    }
  };
  await reconcile();
  const timer = setInterval(() => void reconcile(), ttlMs);
  timer.unref();
  return () => {
    clearInterval(timer);
    off();
  };
}
