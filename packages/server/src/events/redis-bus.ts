import { Redis } from 'ioredis';
import { PlatformEvent } from '@molecule/contracts';
import { deliver, type EventBus, type EventHandler } from './bus.js';

export const EVENTS_CHANNEL = 'molecule:events';

export interface RedisBusOptions {
  url: string;
  channel?: string;
  onError?: (err: unknown) => void;
}

/**
 * Redis pub/sub bus shared by every replica. Local subscribers are fed from the Redis channel (not
 * short-circuited), so every replica, this one included, sees one copy of each event in the same
 * order.
 */
export async function createRedisBus(opts: RedisBusOptions): Promise<EventBus> {
  const channel = opts.channel ?? EVENTS_CHANNEL;
  const onError = opts.onError ?? (() => {});
  // Auto-pipelining writes the publishes of concurrent requests (a heartbeat each) in one write,
  // in order; without it every event costs a syscall of its own.
  // No offline queue: while Redis is down a publish fails at once (the caller logs it; persisted
  // events replay from PostgreSQL) instead of holding the request through reconnect attempts.
  const pub = new Redis(opts.url, { lazyConnect: true, maxRetriesPerRequest: 3, enableAutoPipelining: true, enableOfflineQueue: false });
  const sub = new Redis(opts.url, { lazyConnect: true });
  pub.on('error', onError);
  sub.on('error', onError);
  await pub.connect();
  await sub.connect();
  await sub.subscribe(channel);

  const handlers = new Set<EventHandler>();
  sub.on('message', (ch: string, message: string) => {
    if (ch !== channel) return;
    let event: PlatformEvent;
    try {
      event = PlatformEvent.parse(JSON.parse(message));
    } catch (err) {
      onError(err);
      return;
    }
    deliver([...handlers], event, onError);
  });

  return {
    kind: 'redis',
    async publish(event) {
      await pub.publish(channel, JSON.stringify(event));
    },
    subscribe(handler) {
      handlers.add(handler);
      return () => handlers.delete(handler);
    },
    async close() {
      handlers.clear();
      sub.disconnect();
      await pub.quit().catch(() => pub.disconnect());
    },
  };
}
