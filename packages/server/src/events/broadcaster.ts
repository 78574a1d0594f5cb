import type { EventType, PlatformEvent } from '@molecule/contracts';
import type { Queryable } from '../db/port.js';
import type { EventBus } from './bus.js';
import { insertEvent } from './repo.js';

export type Payload = Record<string, unknown>;

/**
 * The one way state changes reach the outside (C095). `recordAndBroadcast` persists the event to
 * `structure_events` and then publishes it; when the insert fails nothing is published.
 * `broadcastOnly` publishes without a row (high-rate, ephemeral events such as heartbeats).
 * Inside a transaction, `record` the events with the transaction's handle and `publish` them after
 * the commit, so a rolled-back change never reaches subscribers.
 */
export interface Broadcaster {
  recordAndBroadcast(type: EventType, workspaceId: string | null, payload?: Payload): Promise<PlatformEvent>;
  broadcastOnly(type: EventType, workspaceId: string | null, payload?: Payload): Promise<PlatformEvent>;
  record(q: Queryable, type: EventType, workspaceId: string | null, payload?: Payload): Promise<PlatformEvent>;
  publish(events: readonly PlatformEvent[]): Promise<void>;
}

export interface BroadcasterDeps {
  db: Queryable;
  bus: EventBus;
  /** Runs synchronously before each publish (local cache invalidation: read-your-writes). */
  onPublishing?: (event: PlatformEvent) => void;
  onPublished?: (event: PlatformEvent) => void;
  onPublishError?: (err: unknown, event: PlatformEvent) => void;
}

export function createBroadcaster(deps: BroadcasterDeps): Broadcaster {
  const publishOne = async (event: PlatformEvent) => {
    deps.onPublishing?.(event);
    try {
      await deps.bus.publish(event);
      deps.onPublished?.(event);
    } catch (err) {
      // The event is already durable (or deliberately ephemeral); a bus outage must not fail the
      // state change that produced it. Subscribers catch up through GET /events?after=<seq>.
      deps.onPublishError?.(err, event);
    }
  };
  const record: Broadcaster['record'] = async (q, type, workspaceId, payload = {}) => {
    const row = await insertEvent(q, type, workspaceId, payload);
    return { type, workspace_id: workspaceId, payload, at: new Date(row.created_at).toISOString(), seq: row.id };
  };
  return {
    record,
    async publish(events) {
      for (const e of events) await publishOne(e);
    },
    async recordAndBroadcast(type, workspaceId, payload = {}) {
      const event = await record(deps.db, type, workspaceId, payload);
      await publishOne(event);
      return event;
    },
    async broadcastOnly(type, workspaceId, payload = {}) {
      const event: PlatformEvent = { type, workspace_id: workspaceId, payload, at: new Date().toISOString(), seq: null };
      await publishOne(event);
      return event;
    },
  };
}
