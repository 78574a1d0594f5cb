import type { AppDeps } from '../deps.js';
import type { EventBus } from '../events/bus.js';
import type { Logger } from '../log.js';
import { recordActivities, type ActivityInsert } from '../activity/service.js';
import { A2ADispatcher } from './dispatch.js';
import { QueueDrainer, type DeliveredHook } from './drain.js';
import { WorkspaceActivity } from './idle.js';

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

export function createA2AServices(parts: {
  deps: () => AppDeps;
  bus: EventBus;
  log: Logger;
  onDelivered: DeliveredHook;
}): A2AServices {
  const dispatcher = new A2ADispatcher(() => parts.deps().agentUrlPolicy);
  const activity = new WorkspaceActivity(parts.bus);
  const drainer = new QueueDrainer(parts.deps, parts.onDelivered);
  // Any replica may have queued the message; every replica's drain learns of it.
  const unsubscribe = parts.bus.subscribe((e) => {
    if (e.type === 'A2A_QUEUED' && e.workspace_id) drainer.hint(e.workspace_id);
  });
  const writes = new Set<Promise<void>>();
  return {
    dispatcher,
    activity,
    drainer,
    record(rows) {
      const d = parts.deps();
      const p = recordActivities(d, rows).then(() => undefined).catch((err: unknown) => parts.log.error({ err }, 'could not write A2A activity rows'));
      writes.add(p);
      void p.finally(() => writes.delete(p));
    },
    freed: (id) => drainer.freeSlot(id),
    async close() {
      unsubscribe();
      await drainer.close();
      await Promise.allSettled([...writes]);
      activity.close();
      await dispatcher.close();
    },
  };
}
