import { Redis } from 'ioredis';
import { asPlatformEvent, parseJson, type PlatformEvent } from '@molecule/contracts';
import { deliver, type EventBus, type EventHandler } from './bus.js';

export const EVENTS_CHANNEL = 'molecule:events';
/** Most events in one bus message (a message stays well under Redis' limits and one parse). */
const MAX_EVENTS_PER_MESSAGE = 500;

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
  // Named, so an operator (or a test) can find this replica's subscriber in CLIENT LIST.
  const sub = new Redis(opts.url, { lazyConnect: true, connectionName: `molecule-sub:${channel}` });
  pub.on('error', onError);
  sub.on('error', onError);
  await pub.connect();
  await sub.connect();
  await sub.subscribe(channel);

  const handlers = new Set<EventHandler>();
  const gapHandlers = new Set<() => void>();
  // ioredis re-subscribes on every reconnect; what was published in between is gone for this
  // replica. The gap is announced once the subscription is back (this SUBSCRIBE is answered after
  // ioredis' own), so nothing published after the announcement is missed.
  const announceGap = () => {
    for (const h of [...gapHandlers]) {
      try {
        h();
      } catch (err) {
        onError(err);
      }
    }
  };
  sub.on('ready', () => void sub.subscribe(channel).then(announceGap, onError));
  sub.on('message', (ch: string, message: string) => {
    if (ch !== channel) return;
    const parsed = parseJson(message);
    // One event, or the events one replica published in one turn of its event loop, in order.
    let dropped = 0;
    for (const item of Array.isArray(parsed) ? parsed : [parsed]) {
      const event = asPlatformEvent(item);
      if (event) deliver([...handlers], event, onError);
      else dropped++;
    }
    if (dropped > 0) onError(new Error(`malformed message on the bus channel: ${dropped} event(s) dropped`));
  });

  // Events published in one turn of the event loop (a heartbeat flush announces hundreds) go out as
  // one message: one PUBLISH, one delivery to each replica, in publish order.
  let outbox: { event: PlatformEvent; done: (err?: unknown) => void }[] = [];
  const send = () => {
    const batch = outbox;
    outbox = [];
    for (let i = 0; i < batch.length; i += MAX_EVENTS_PER_MESSAGE) {
      const part = batch.slice(i, i + MAX_EVENTS_PER_MESSAGE);
      const message = JSON.stringify(part.length === 1 ? part[0]!.event : part.map((p) => p.event));
      pub.publish(channel, message).then(
        () => part.forEach((p) => p.done()),
        (err: unknown) => part.forEach((p) => p.done(err)),
      );
    }
  };

  return {
    kind: 'redis',
    publish(event) {
      return new Promise<void>((resolve, reject) => {
        if (outbox.length === 0) setImmediate(send);
        outbox.push({ event, done: (err) => (err === undefined ? resolve() : reject(err)) });
      });
    },
    subscribe(handler) {
      handlers.add(handler);
      return () => handlers.delete(handler);
    },
    onGap(handler) {
      gapHandlers.add(handler);
      return () => gapHandlers.delete(handler);
    },
    async close() {
      handlers.clear();
      gapHandlers.clear();
      sub.disconnect();
      await pub.quit().catch(() => pub.disconnect());
    },
  };
}
