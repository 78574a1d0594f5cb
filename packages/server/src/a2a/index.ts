import { recordActivities, type ActivityDeps, type ActivityInsert } from '../activity/service.js';
import type { EventBus } from '../events/bus.js';
import type { Logger } from '../log.js';
import type { AgentUrlPolicy } from '../ssrf/agent-url.js';
import { A2ADispatcher } from './dispatch.js';
import { QueueDrainer, type DeliveredHook, type DeliverFn } from './drain.js';
import { WorkspaceActivity } from './idle.js';
import { AGENT_CALL_CEILING_SECONDS } from './limits.js';
import { touchInstance } from './queue-repo.js';

/** The A2A machinery one server process shares: outbound pools, idle timers, the queue drain. */
export interface A2AServices {
  dispatcher: A2ADispatcher;
  activity: WorkspaceActivity;
  drainer: QueueDrainer;
  /** Writes activity rows off the response path; a failure is logged, never surfaced to the caller. */
  record(rows: ActivityInsert[]): void;
  /** An exchange with the workspace ended: a slot may be free for its queued messages. */
  freed(workspaceId: string): void;
  close(): Promise<void>;
}

/** How often a platform process records that it is alive, and after how long without it counts as stopped. */
export const INSTANCE_BEACON_MS = 5_000;
export const INSTANCE_DEAD_AFTER_SECONDS = 30;

/**
 * Builds the shared A2A machinery from what it uses: the activity writer's deps, the bus, the
 * agent-URL policy (read per request), and the two functions the queue drain calls back (deliver an
 * item through the proxy, complete what was delivered).
 */
export function createA2AServices(parts: ActivityDeps & {
  bus: EventBus;
  log: Logger;
  agentUrlPolicy: () => AgentUrlPolicy;
  deliver: DeliverFn;
  onDelivered: DeliveredHook;
}): A2AServices {
  const dispatcher = new A2ADispatcher(parts.agentUrlPolicy);
  const activity = new WorkspaceActivity(parts.bus);
  const instanceId = globalThis.crypto.randomUUID();
  const drainer = new QueueDrainer({
    db: parts.db,
    log: parts.log,
    deliver: parts.deliver,
    onDelivered: parts.onDelivered,
    stuckAfterSeconds: AGENT_CALL_CEILING_SECONDS + 5 * 60,
    instanceId,
    instanceDeadAfterSeconds: INSTANCE_DEAD_AFTER_SECONDS,
  });
  // The beacon that keeps this process's queue claims its own (see queueHousekeeping).
  const beacon = setInterval(() => {
    touchInstance(parts.db, instanceId).catch((err: unknown) => parts.log.warn({ err }, 'could not record that this platform process is alive'));
  }, INSTANCE_BEACON_MS);
  beacon.unref();
  // Any replica may have queued the message, or seen a timeout or a heartbeat: every replica's drain
  // learns of it.
  const unsubscribe = parts.bus.subscribe((e) => {
    if (!e.workspace_id) return;
    if (e.type === 'A2A_QUEUED') {
      if (e.payload.timed_out === true) drainer.timedOut(e.workspace_id);
      drainer.hint(e.workspace_id);
    } else if (e.type === 'WORKSPACE_HEARTBEAT' && typeof e.payload.active_tasks === 'number') {
      drainer.reported(e.workspace_id, e.payload.active_tasks);
    }
  });
  // Activity rows are coalesced: while one INSERT runs, the rows of every exchange that ends
  // meanwhile wait and go together in the next one (one statement, one commit, for many
  // exchanges under load; no added wait when idle).
  let pending: ActivityInsert[] = [];
  let flushing: Promise<void> | undefined;
  const flush = async (): Promise<void> => {
    while (pending.length > 0) {
      const batch = pending;
      pending = [];
      try {
        await recordActivities(parts, batch);
      } catch (err) {
        if (batch.length === 1) {
          parts.log.error({ err, workspace_id: batch[0]!.workspace_id }, 'could not write an A2A activity row');
          continue;
        }
        // One bad row (a workspace purged meanwhile) must not lose the others: write them one by one.
        for (const row of batch) {
          await recordActivities(parts, [row]).catch((e: unknown) =>
            parts.log.error({ err: e, workspace_id: row.workspace_id }, 'could not write an A2A activity row'),
          );
        }
      }
    }
  };
  return {
    dispatcher,
    activity,
    drainer,
    record(rows) {
      pending.push(...rows);
      flushing ??= flush().finally(() => (flushing = undefined));
    },
    freed: (id) => drainer.freeSlot(id),
    async close() {
      clearInterval(beacon);
      unsubscribe();
      await drainer.close();
      await flushing;
      activity.close();
      await dispatcher.close();
    },
  };
}
