import { recordActivities, type ActivityDeps, type ActivityInsert } from '../activity/service.js';
import type { EventBus } from '../events/bus.js';
import type { Logger } from '../log.js';
import type { AgentUrlPolicy } from '../ssrf/agent-url.js';
import { AgentSocketMesh } from '../agent-socket/mesh.js';
import { AgentSockets } from '../agent-socket/registry.js';
import type { SocketRelay } from '../agent-socket/relay.js';
import { A2ADispatcher } from './dispatch.js';
import { QueueDrainer, type DeliveredHook, type DeliverFn } from './drain.js';
import { WorkspaceActivity } from './idle.js';
import { AGENT_CALL_CEILING_SECONDS } from './limits.js';
import { touchInstance } from './queue-repo.js';

/** The A2A machinery one server process shares: outbound pools, idle timers, the queue drain. */
export interface A2AServices {
  dispatcher: A2ADispatcher;
  /** The agents' outbound sockets this process holds (#15): preferred over their URLs. */
  sockets: AgentSockets;
  /** Every replica's agent sockets (this process's, and the others' through Redis): what the proxy sends over. */
  mesh: AgentSocketMesh;
  activity: WorkspaceActivity;
  drainer: QueueDrainer;
  /** Writes activity rows off the response path; a failure is logged, never surfaced to the caller. */
  record(rows: ActivityInsert[]): void;
  /** Broadcasts an A2A event with the next activity write (one bus message for the whole tick). */
  announce(type: 'A2A_RESPONSE', workspaceId: string, payload: Record<string, unknown>): void;
  /** An exchange with the workspace ended: a slot may be free for its queued messages. */
  freed(workspaceId: string): void;
  close(): Promise<void>;
}

/** How long shutdown waits for queue deliveries in flight (the server's whole shutdown has 10 s). */
export const A2A_CLOSE_GRACE_MS = 3_000;

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
  /** How long activity rows and A2A events wait to be written together (0: at once). */
  flushMs?: number;
  /** The replicas' shared view of agent sockets (REDIS_URL); without it only this process's sockets are used. */
  relay?: SocketRelay;
  /** How long a queued message for a poll agent without a socket waits for it before going to the agent's inbox. */
  socketGraceSeconds?: number;
  /** How long close() waits for queue deliveries in flight before it leaves them to the queue housekeeping. */
  closeGraceMs?: number;
}): A2AServices {
  const dispatcher = new A2ADispatcher(parts.agentUrlPolicy);
  const activity = new WorkspaceActivity(parts.bus);
  const instanceId = globalThis.crypto.randomUUID();
  const relay = parts.relay;
  const relayError = (err: unknown, workspaceId: string) => parts.log.warn({ err, workspace_id: workspaceId }, 'agent socket relay: Redis did not answer');
  const sockets = new AgentSockets({
    attached: (id, socketId) => {
      // Other replicas learn that this one holds the socket now (and close theirs: newest wins).
      relay?.claim(id, socketId).catch((err: unknown) => relayError(err, id));
      // A (re)connected agent takes what was queued for it, including requests its last socket dropped.
      drainer.freeSlot(id);
    },
    detached: (id, socketId) => void relay?.release(id, socketId).catch((err: unknown) => relayError(err, id)),
    warn: (detail, msg) => parts.log.warn(detail, msg),
  });
  relay?.bind(sockets);
  const mesh = new AgentSocketMesh(sockets, relay);
  const drainer = new QueueDrainer({
    // A workspace with no URL is reachable while its agent holds a socket on any replica.
    reachable: async (row) => (await mesh.locate(row)) !== undefined,
    socketHere: (id) => sockets.socketId(id),
    db: parts.db,
    log: parts.log,
    deliver: parts.deliver,
    onDelivered: parts.onDelivered,
    socketGraceSeconds: parts.socketGraceSeconds ?? 60,
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
      drainer.hint(e.workspace_id);
      if (e.payload.timed_out === true) drainer.timedOut(e.workspace_id, typeof e.payload.lost_socket === 'string' ? { lostSocket: e.payload.lost_socket } : {});
    } else if (e.type === 'WORKSPACE_HEARTBEAT' && typeof e.payload.active_tasks === 'number') {
      drainer.reported(e.workspace_id, e.payload.active_tasks);
    }
  });
  // Activity rows and A2A events are written behind, per tick: the rows of every exchange that ends
  // within `flushMs` (and while an INSERT runs) go in one statement and one commit, and their events
  // in one bus message, so one-at-a-time traffic costs the database and the bus a fraction of a
  // round trip per exchange. The rows are the log, not the answer: a crash loses at most one tick.
  const flushMs = parts.flushMs ?? 0;
  let pending: ActivityInsert[] = [];
  let events: { type: 'A2A_RESPONSE'; workspaceId: string; payload: Record<string, unknown> }[] = [];
  let flushing: Promise<void> | undefined;
  let timer: NodeJS.Timeout | undefined;
  const writeRows = async (batch: ActivityInsert[]): Promise<void> => {
    try {
      await recordActivities(parts, batch);
    } catch (err) {
      if (batch.length === 1) {
        parts.log.error({ err, workspace_id: batch[0]!.workspace_id }, 'could not write an A2A activity row');
        return;
      }
      // One bad row (a workspace purged meanwhile) must not lose the others: write them one by one.
      for (const row of batch) {
        await recordActivities(parts, [row]).catch((e: unknown) => parts.log.error({ err: e, workspace_id: row.workspace_id }, 'could not write an A2A activity row'));
      }
    }
  };
  const flush = async (): Promise<void> => {
    while (pending.length > 0 || events.length > 0) {
      const [batch, announced] = [pending, events];
      [pending, events] = [[], []];
      for (const e of announced) {
        void parts.broadcaster.broadcastOnly(e.type, e.workspaceId, e.payload).catch((err: unknown) => parts.log.error({ err, event_type: e.type }, 'A2A event broadcast failed'));
      }
      if (batch.length > 0) await writeRows(batch);
    }
  };
  const startFlush = () => {
    timer = undefined;
    flushing ??= flush().finally(() => (flushing = undefined));
  };
  const schedule = () => {
    if (timer || flushing) return;
    if (flushMs === 0) startFlush();
    else timer = setTimeout(startFlush, flushMs);
  };
  return {
    dispatcher,
    sockets,
    mesh,
    activity,
    drainer,
    record(rows) {
      pending.push(...rows);
      schedule();
    },
    announce(type, workspaceId, payload) {
      events.push({ type, workspaceId, payload });
      schedule();
    },
    freed: (id) => drainer.freeSlot(id),
    async close() {
      clearInterval(beacon);
      unsubscribe();
      sockets.close();
      await relay?.close();
      // A queued message an agent is still working on must not hold the shutdown (and the stop of
      // the agents after it) until it answers.
      const left = await drainer.close(parts.closeGraceMs ?? A2A_CLOSE_GRACE_MS);
      if (left > 0) parts.log.info({ running: left }, 'queue deliveries still in flight at shutdown are left to the queue housekeeping (re-sent or failed as after a crash)');
      if (timer) {
        clearTimeout(timer);
        startFlush();
      }
      await flushing;
      activity.close();
      await (left > 0 ? dispatcher.destroy() : dispatcher.close());
    },
  };
}
